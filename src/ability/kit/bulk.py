"""The fastest correct multi-row write per database, for large loads.

SQLite gets one ``executemany`` on the driver with values already in the
form SQLAlchemy would store; PostgreSQL gets binary ``COPY``. Both run inside
the session's transaction, so a failed chunk leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ability.models.base import UtcDateTime

Convert = Callable[[Any], Any]
T = TypeVar("T")

# A large load's own transaction may use more memory than a request's: GIN
# indexes merge their pending entries in batches of work_mem. (Their pending
# list keeps its size: a longer one would only leave the work to searches.)
_BULK_LOAD_SETTINGS = {"work_mem": "256MB"}


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _same(value: Any) -> Any:
    return value


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _converter(column: sa.Column[Any], dialect: str) -> Convert:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return _json_text
    if dialect == "sqlite" and isinstance(kind, UtcDateTime):
        return _sqlite_datetime
    if dialect == "sqlite" and isinstance(kind, sa.Boolean):
        return _sqlite_bool
    return _same


@dataclass(frozen=True, slots=True)
class BulkWriter:
    """Writes records — tuples of ``columns`` in stored form — into ``table``."""

    table: sa.Table
    columns: tuple[str, ...]
    dialect: str

    @classmethod
    async def open(
        cls, session: AsyncSession, table: sa.Table, columns: Sequence[str]
    ) -> BulkWriter:
        connection = await session.connection()
        return cls(table, tuple(columns), connection.dialect.name)

    def stored(self, column: str, value: Any) -> Any:
        """``value`` in the form the driver is given for ``column``."""
        return _converter(self.table.c[column], self.dialect)(value)

    def record(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(self.stored(name, row[name]) for name in self.columns)

    async def write(
        self, session: AsyncSession, records: Sequence[tuple[Any, ...]]
    ) -> None:
        if not records:
            return
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        if self.dialect == "postgresql":
            await raw.copy_records_to_table(
                self.table.name, records=records, columns=self.columns
            )
            return
        marks = ", ".join("?" for _ in self.columns)
        await raw.executemany(
            f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) "
            f"VALUES ({marks})",
            records,
        )


async def copy_rows(
    session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    writer = await BulkWriter.open(session, table, list(rows[0]))
    await writer.write(session, [writer.record(row) for row in rows])


async def prepare_bulk_load(session: AsyncSession) -> None:
    """Give the session's transaction the memory a large load merges with."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return
    for name, value in _BULK_LOAD_SETTINGS.items():
        await session.execute(
            sa.text("SELECT set_config(:name, :value, true)"),
            {"name": name, "value": value},
        )


async def read_ahead(items: Iterator[T]) -> AsyncGenerator[T, None]:
    """Yield from ``items`` while a thread already computes the next one.

    Lets CPU-bound production of chunks (parsing, validating) overlap with
    the database writing the previous chunk. ``items`` is only ever advanced
    by one thread at a time, and never after this generator is closed.
    """
    loop = asyncio.get_running_loop()
    done = object()
    pending = loop.run_in_executor(None, next, items, done)
    try:
        while (item := await pending) is not done:
            pending = loop.run_in_executor(None, next, items, done)
            yield item  # type: ignore[misc]
    finally:
        # A thread cannot be interrupted: let the one in flight finish, and
        # drop what it produced (or raised), since nobody is reading anymore.
        if not pending.done():
            await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()


async def reserve_ids(session: AsyncSession, table: sa.Table, count: int) -> list[int]:
    """``count`` fresh primary keys for rows about to be copied into ``table``.

    PostgreSQL draws them from the table's sequence; SQLite continues after
    the largest id, which is safe because writes hold the database's write
    lock for the whole transaction.
    """
    if count == 0:
        return []
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        statement = sa.text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
            "FROM generate_series(1, :count)"
        )
        result = await session.execute(statement, {"table": table.name, "count": count})
        return [int(value) for value in result.scalars()]
    largest = await session.execute(sa.select(sa.func.max(table.c.id)))
    start = int(largest.scalar() or 0) + 1
    return list(range(start, start + count))
