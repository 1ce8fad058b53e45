from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from ability.models import Base

config = context.config
target_metadata = Base.metadata


def _exclude_fts(
    _obj: object,
    name: str | None,
    type_: str,
    _reflected: bool,
    _compare_to: object,
) -> bool:
    # The SQLite full-text table and its shadow tables live outside metadata.
    return not (type_ == "table" and name is not None and "_fts" in name)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=_exclude_fts,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
        if connection.dialect.name == "sqlite":
            # WAL is kept in the file. Set once here, it spares the first
            # connections of the app the switch, which needs an exclusive lock
            # and fails with "database is locked" when two of them race.
            await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    await engine.dispose()


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
run_migrations_online()
