"""Engines, sessions and the per-database details beneath them.

SQLite gets two engines: reads begin deferred transactions, writes begin
``IMMEDIATE`` on a single pooled connection, so concurrent writers queue in the
pool instead of failing to upgrade a read lock. PostgreSQL uses one engine.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, QueuePool

from ability.config import Settings
from ability.metrics import (
    DB_POOL,
    DB_POOL_WAIT,
    DB_SLOW_QUERIES,
    DB_SLOW_QUERY_SECONDS,
)

log = structlog.get_logger()

AFTER_COMMIT = "ability.after_commit"
CHANGED = "ability.changed"


class Invalidator(Protocol):
    async def invalidate(self, scopes: list[str]) -> None: ...


def changed(session: AsyncSession, *scopes: str) -> None:
    """Note cache scopes this transaction changes; dropped after commit."""
    session.info.setdefault(CHANGED, set()).update(scopes)


def after_commit(
    session: AsyncSession, callback: Callable[[], Awaitable[None]]
) -> None:
    """Run ``callback`` once the session commits (dropped on rollback).

    Jobs are enqueued this way, so a worker never sees a job whose row is not
    committed yet.
    """
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def _sqlite_pragmas(busy_timeout_ms: int) -> list[str]:
    return [
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={busy_timeout_ms}",
        "PRAGMA temp_store=MEMORY",
        "PRAGMA cache_size=-65536",
        "PRAGMA mmap_size=268435456",
    ]


def _install_sqlite_hooks(engine: AsyncEngine, begin: str | None, busy_ms: int) -> None:
    pragmas = _sqlite_pragmas(busy_ms)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take BEGIN away from the driver so that we choose its kind.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    if begin is None:
        return

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)


class MeasuredPool(AsyncAdaptedQueuePool):
    """The default async pool, timing each wait for a connection."""

    def _do_get(self) -> ConnectionPoolEntry:
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            DB_POOL_WAIT.observe(time.perf_counter() - started)


def _watch_pool(engine: AsyncEngine) -> Callable[[], None]:
    """Publish the engine's pool state; returns what takes it back out."""
    pool = engine.pool
    last = {"size": 0, "checked_out": 0, "overflow": 0}

    def forget() -> None:
        # A disposed engine holds nothing; in multiprocess mode its process
        # (the serve supervisor, say) may outlive it and still be counted.
        for state, value in last.items():
            DB_POOL.labels(state).dec(value)
        last.update(dict.fromkeys(last, 0))

    if not isinstance(pool, QueuePool):
        return forget

    def publish(*_: Any) -> None:
        # Gauges are shared by this process's engines: move them by deltas.
        now = {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "overflow": max(0, pool.overflow()),
        }
        for state, value in now.items():
            DB_POOL.labels(state).inc(value - last[state])
        last.update(now)

    publish()
    for name in ("checkout", "checkin", "connect", "close"):
        sa.event.listen(engine.sync_engine.pool, name, publish)
    return forget


def _log_slow_statements(engine: AsyncEngine, threshold_ms: float) -> None:
    threshold = threshold_ms / 1000

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start(conn: sa.Connection, *_: Any) -> None:
        conn.info.setdefault("ability.started", []).append(time.perf_counter())

    @sa.event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _end(conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
        seconds = time.perf_counter() - conn.info["ability.started"].pop()
        if seconds >= threshold:
            record_slow_statement(statement, seconds)


def fingerprint(statement: str) -> str:
    """A statement without its values: placeholders, lists and literals
    collapsed, whitespace normalised, at most 300 characters."""
    text = _PLACEHOLDERS.sub("?", statement)
    text = _LITERALS.sub("?", text)
    text = _LISTS.sub("(?)", text)
    return " ".join(text.split())[:300]


_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_PLACEHOLDERS = re.compile(r"\$\d+|%\(\w+\)s|(?<!:):(?!:)\w+|\?")
_LISTS = re.compile(r"\((?:\s*\?\s*,)+\s*\?\s*\)")
_seen_slow: set[str] = set()


def record_slow_statement(statement: str, seconds: float) -> None:
    key = fingerprint(statement)
    DB_SLOW_QUERIES.labels(key).inc()
    DB_SLOW_QUERY_SECONDS.labels(key).inc(seconds)
    if key not in _seen_slow:  # logged once per fingerprint and process
        _seen_slow.add(key)
        log.warning("db.query.slow", statement=key, ms=round(seconds * 1000, 1))


def _create_engines(settings: Settings) -> tuple[AsyncEngine, AsyncEngine]:
    url = settings.DATABASE_URL
    if settings.is_sqlite:
        timeout = settings.SQLITE_BUSY_TIMEOUT_MS / 1000
        # Reads run in autocommit: each SELECT sees the latest committed
        # state (WAL snapshot) and costs no BEGIN/COMMIT round trips to the
        # driver's thread.
        reader = create_async_engine(
            url,
            poolclass=MeasuredPool,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.DB_POOL_TIMEOUT,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
        writer = create_async_engine(
            url,
            poolclass=MeasuredPool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=timeout,
        )
        _install_sqlite_hooks(reader, None, settings.SQLITE_BUSY_TIMEOUT_MS)
        _install_sqlite_hooks(
            writer, "BEGIN IMMEDIATE", settings.SQLITE_BUSY_TIMEOUT_MS
        )
        return reader, writer
    engine = create_async_engine(
        url,
        poolclass=MeasuredPool,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.DB_POOL_TIMEOUT,
        pool_recycle=settings.DB_POOL_RECYCLE,
        pool_pre_ping=True,
    )
    return engine, engine


@dataclass
class Database:
    """The engines and session factories of one process."""

    reader: AsyncEngine
    writer: AsyncEngine
    cache: Invalidator | None = None
    _unwatch: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        reader, writer = _create_engines(settings)
        unwatch = []
        for engine in {reader, writer}:
            unwatch.append(_watch_pool(engine))
            _log_slow_statements(engine, settings.SLOW_QUERY_MS)
        return cls(reader=reader, writer=writer, _unwatch=unwatch)

    def __post_init__(self) -> None:
        self._read = async_sessionmaker(self.reader, expire_on_commit=False)
        self._write = async_sessionmaker(self.writer, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @asynccontextmanager
    async def session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """A session that commits on success and rolls back on any error."""
        factory = self._write if write else self._read
        async with factory() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
            scopes = session.info.pop(CHANGED, None)
            if scopes and self.cache is not None:
                await self.cache.invalidate(sorted(scopes))
            for callback in session.info.pop(AFTER_COMMIT, []):
                await callback()

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()
        for unwatch in self._unwatch:
            unwatch()


async def analyze(db: Database) -> None:
    """Refresh the planner's statistics (after bulk loads)."""
    async with db.session(write=True) as session:
        await session.execute(sa.text("ANALYZE"))
