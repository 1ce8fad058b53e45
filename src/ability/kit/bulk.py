"""The fastest correct multi-row write per database, for large loads.

SQLite gets one ``executemany`` on the driver with values already in the
form SQLAlchemy would store; PostgreSQL gets binary ``COPY``. Both run inside
the session's transaction, so a failed chunk leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ability.models.base import UtcDateTime

Convert = Callable[[Any], Any]


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


async def copy_rows(
    session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect.name
    names = list(rows[0])
    converters = [_converter(table.c[name], dialect) for name in names]
    records = [
        tuple(
            convert(row[name]) for name, convert in zip(names, converters, strict=True)
        )
        for row in rows
    ]
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    if dialect == "postgresql":
        await raw.copy_records_to_table(table.name, records=records, columns=names)
        return
    marks = ", ".join("?" for _ in names)
    await raw.executemany(
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", records
    )


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
