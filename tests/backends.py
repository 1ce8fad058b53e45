"""Databases and caches for tests: SQLite alone (the embedded default), or
PostgreSQL with Redis (production). Each test gets a fresh database."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from ability.config import Settings
from ability.migrations import upgrade
from tests.servers import PostgresServer, RedisServer, postgres_server, redis_server

TEMPLATE = "ability_template"
_databases = itertools.count(1)


def base_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
        "ENV": "test",
        "SEED_DEMO": False,
        "LOG_LEVEL": "WARNING",
        "CACHE_WARM_COMPANIES": 0,
        # The API suites run jobs in-process on every backend; the Celery
        # workers have suites of their own.
        "JOB_RUNNER": "inprocess",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session, with a migrated template database."""
    # Not under pytest's tmp_path: the server runs as another user, who must
    # be able to reach its directory.
    base = Path(tempfile.mkdtemp(prefix="ability-pg-"))
    try:
        with postgres_server(base) as server:
            asyncio.run(_execute(server, f"CREATE DATABASE {TEMPLATE}"))
            upgrade(server.url(TEMPLATE))
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server_(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


async def _connect(server: PostgresServer) -> asyncpg.Connection:
    # The port opens while PostgreSQL is still starting up: retry a while.
    for _ in range(100):
        try:
            return await asyncpg.connect(
                host="127.0.0.1", port=server.port, user="postgres", database="postgres"
            )
        except asyncpg.CannotConnectNowError:
            await asyncio.sleep(0.1)
    raise RuntimeError("PostgreSQL did not accept connections within 10 s")


async def _execute(server: PostgresServer, statement: str) -> None:
    connection = await _connect(server)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def fresh_postgres_database(server: PostgresServer) -> str:
    """A new database cloned from the migrated template; returns its URL."""
    name = f"test_{next(_databases)}"
    asyncio.run(_execute(server, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    return server.url(name)


def fresh_sqlite_database(template: Path, directory: Path) -> str:
    path = directory / "ability.db"
    path.write_bytes(template.read_bytes())
    return f"sqlite+aiosqlite:///{path}"


def flushed_redis(server: RedisServer) -> str:
    client = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        client.flushall()
    finally:
        client.close()
    return server.url
