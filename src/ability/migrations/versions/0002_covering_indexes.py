"""covering indexes and per-company search on PostgreSQL

Revision ID: 0002
Revises: 0001

PostgreSQL only. The report counts, the analytics and a job's item counts
become index-only scans: each index below gains the columns those queries read
as INCLUDE columns, keeping its key and its name. Search gets one GIN index
over (company, words): one index scan matches both, where two bitmaps (all
companies' matches, and every row of the company) were ANDed before.

Every index is built CONCURRENTLY under a temporary name and then swapped in,
so writes go on while a large table is indexed; each step may be run again
after a failure. SQLite has no INCLUDE and keeps its indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_DELETED = sa.text("is_deleted = false")
_NEWEST = [sa.text("created_at DESC"), sa.text("id DESC")]

# name: (table, key, partial-index predicate, INCLUDE columns added here)
_COVERING: dict[
    str, tuple[str, list[str | sa.TextClause], sa.TextClause | None, list[str]]
] = {
    # Counts by status or by day over a creation range; the list total.
    "ix_applications_company_created": (
        "applications",
        ["company_id", *_NEWEST],
        _NOT_DELETED,
        ["status"],
    ),
    # Counts by workflow and status; the median time to complete.
    "ix_applications_company_status_created": (
        "applications",
        ["company_id", "status", *_NEWEST],
        _NOT_DELETED,
        ["workflow_id", "completed_at"],
    ),
    # Time per step: the decisions of a company in (application, id) order.
    "ix_application_events_company_app": (
        "application_events",
        ["company_id", "application_id", "id"],
        None,
        ["workflow_id", "step_order", "action", "created_at"],
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # btree_gin lets a GIN index hold the company beside the words; it ships
    # with PostgreSQL (contrib) and is trusted, so a database owner may add it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    with op.get_context().autocommit_block():
        for name, (table, key, where, include) in _COVERING.items():
            _rebuild(name, table, key, where=where, include=include)
        _rebuild_job_items_key(include=["succeeded"])
        _swap_search(
            new="ix_applications_company_search",
            old="ix_applications_search",
            columns=["company_id", "search_vector"],
            where=_NOT_DELETED,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # btree_gin stays: it may have been there before, or serve others now.
    with op.get_context().autocommit_block():
        _swap_search(
            new="ix_applications_search",
            old="ix_applications_company_search",
            columns=["search_vector"],
            where=None,
        )
        _rebuild_job_items_key(include=[])
        for name, (table, key, where, _include) in _COVERING.items():
            _rebuild(name, table, key, where=where, include=[])


def _rebuild(
    name: str,
    table: str,
    key: list[str | sa.TextClause],
    *,
    where: sa.TextClause | None,
    include: list[str],
) -> None:
    """Build ``name`` anew beside the old index, then put it in its place."""
    building = f"{name}_new"
    op.drop_index(building, table, if_exists=True, postgresql_concurrently=True)
    op.create_index(
        building,
        table,
        key,
        postgresql_where=where,
        postgresql_include=include,
        postgresql_concurrently=True,
    )
    op.drop_index(name, table, if_exists=True, postgresql_concurrently=True)
    op.execute(f"ALTER INDEX {building} RENAME TO {name}")


def _rebuild_job_items_key(include: list[str]) -> None:
    """The primary key of ``job_items``, built first and then adopted."""
    building = "pk_job_items_new"
    op.drop_index(building, "job_items", if_exists=True, postgresql_concurrently=True)
    op.create_index(
        building,
        "job_items",
        ["job_id", "item_id"],
        unique=True,
        postgresql_include=include,
        postgresql_concurrently=True,
    )
    op.execute(
        "ALTER TABLE job_items DROP CONSTRAINT IF EXISTS pk_job_items, "
        f"ADD CONSTRAINT pk_job_items PRIMARY KEY USING INDEX {building}"
    )


def _swap_search(
    new: str, old: str, columns: list[str], where: sa.TextClause | None
) -> None:
    op.drop_index(new, "applications", if_exists=True, postgresql_concurrently=True)
    op.create_index(
        new,
        "applications",
        columns,
        postgresql_using="gin",
        postgresql_where=where,
        postgresql_concurrently=True,
    )
    op.drop_index(old, "applications", if_exists=True, postgresql_concurrently=True)
