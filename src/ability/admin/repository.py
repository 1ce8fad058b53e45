from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

TABLES = ("applications", "application_events", "workflows", "users", "jobs")


async def row_estimates(session: AsyncSession) -> dict[str, int]:
    """The planner's row counts per table: cheap, never a full count."""
    if session.get_bind().dialect.name == "postgresql":
        statement = sa.text(
            "SELECT relname, reltuples::bigint FROM pg_class "
            "WHERE relkind = 'r' AND relname = ANY(:tables)"
        ).bindparams(tables=list(TABLES))
    else:
        has_stats = await session.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        )
        if has_stats.first() is None:
            return {}
        statement = sa.text(
            "SELECT tbl, max(CAST(stat AS INTEGER)) FROM sqlite_stat1 GROUP BY tbl"
        )
    rows = (await session.execute(statement)).all()
    return {name: max(0, int(n)) for name, n in rows if name in TABLES}
