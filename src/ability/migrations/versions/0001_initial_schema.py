"""initial schema

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ability.models.base import BigId, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("name", name=op.f("uq_companies_name")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("company_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "company_id", "user_id", "key", name=op.f("pk_idempotency_keys")
        ),
    )
    op.create_index(
        "ix_idempotency_keys_created", "idempotency_keys", ["created_at"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("company_id", BigId, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("is_platform_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_users_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_company_id"), "users", ["company_id"], unique=False)
    op.create_table(
        "workflows",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("company_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("workflow_type", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_workflows_company_id_companies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
    )
    op.create_index(
        "ix_workflows_company_type",
        "workflows",
        ["company_id", "workflow_type", "id"],
        unique=False,
    )
    op.create_table(
        "applications",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("company_id", BigId, nullable=False),
        sa.Column("workflow_id", BigId, nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_by", BigId, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_applications_company_id_companies"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_applications_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_applications_workflow_id_workflows"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("company_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_by", BigId, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_jobs_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_jobs_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "ix_jobs_company_created", "jobs", ["company_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_jobs_status_created", "jobs", ["status", "created_at"], unique=False
    )
    op.create_table(
        "workflow_steps",
        sa.Column("workflow_id", BigId, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step_order", sa.Integer(), nullable=False),
        sa.Column("company_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("required_role", sa.String(length=32), nullable=False),
        sa.Column("approvals_required", sa.Integer(), nullable=False),
        sa.Column("allow_self_approval", sa.Boolean(), nullable=False),
        sa.Column("due_seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_workflow_steps_company_id_companies"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_steps_workflow_id_workflows"),
        ),
        sa.PrimaryKeyConstraint(
            "workflow_id", "version", "step_order", name=op.f("pk_workflow_steps")
        ),
    )
    op.create_table(
        "application_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("company_id", BigId, nullable=False),
        sa.Column("application_id", BigId, nullable=False),
        sa.Column("workflow_id", BigId, nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("step_order", sa.Integer(), nullable=True),
        sa.Column("step_name", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("actor_id", BigId, nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_application_events_actor_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_events_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_application_events_company_id_companies"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_application_events_workflow_id_workflows"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_events")),
    )
    op.create_index(
        "ix_application_events_company_app",
        "application_events",
        ["company_id", "application_id", "id"],
        unique=False,
    )
    op.create_table(
        "job_items",
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_items_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("job_id", "item_id", name=op.f("pk_job_items")),
    )
    _create_application_indexes()
    _create_search(op.get_bind().dialect.name)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_SEARCH_DOWN:
            op.execute(statement)
    for table in (
        "job_items",
        "application_events",
        "workflow_steps",
        "jobs",
        "applications",
        "workflows",
        "users",
        "idempotency_keys",
        "companies",
    ):
        op.drop_table(table)


_NOT_DELETED = sa.text("is_deleted = false")
_OPEN_NOT_DELETED = sa.text(
    "status IN ('pending', 'in_progress') AND is_deleted = false"
)
_NEWEST = (sa.text("created_at DESC"), sa.text("id DESC"))


def _create_application_indexes() -> None:
    def partial(name: str, lead: list[str], where: sa.TextClause) -> None:
        op.create_index(
            name,
            "applications",
            [*lead, *_NEWEST],
            sqlite_where=where,
            postgresql_where=where,
        )

    partial("ix_applications_company_created", ["company_id"], _NOT_DELETED)
    partial(
        "ix_applications_company_status_created",
        ["company_id", "status"],
        _NOT_DELETED,
    )
    partial("ix_applications_open", ["company_id"], _OPEN_NOT_DELETED)
    partial(
        "ix_applications_company_workflow_created",
        ["company_id", "workflow_id"],
        _NOT_DELETED,
    )


# SQLite: an FTS5 index that carries the company as a token, so a search
# intersects the query's posting lists with one company's and never sees
# another tenant's rows. Deleted applications leave the index.
_SQLITE_SEARCH_UP = [
    """
    CREATE VIRTUAL TABLE applications_fts USING fts5(
        company, title, description,
        content='', tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER applications_fts_insert AFTER INSERT ON applications
    WHEN NOT new.is_deleted BEGIN
        INSERT INTO applications_fts(rowid, company, title, description)
        VALUES (new.id, 'c' || new.company_id, new.title,
                coalesce(new.description, ''));
    END
    """,
    """
    CREATE TRIGGER applications_fts_update
    AFTER UPDATE OF title, description, is_deleted ON applications BEGIN
        INSERT INTO applications_fts(applications_fts, rowid, company, title,
                                     description)
        SELECT 'delete', old.id, 'c' || old.company_id, old.title,
               coalesce(old.description, '')
        WHERE NOT old.is_deleted;
        INSERT INTO applications_fts(rowid, company, title, description)
        SELECT new.id, 'c' || new.company_id, new.title,
               coalesce(new.description, '')
        WHERE NOT new.is_deleted;
    END
    """,
]
_SQLITE_SEARCH_DOWN = [
    "DROP TRIGGER IF EXISTS applications_fts_update",
    "DROP TRIGGER IF EXISTS applications_fts_insert",
    "DROP TABLE IF EXISTS applications_fts",
]

# PostgreSQL: a generated tsvector column with a GIN index.
_POSTGRES_SEARCH_UP = [
    """
    ALTER TABLE applications ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A')
        || setweight(to_tsvector('simple', coalesce(description, '')), 'B')
    ) STORED
    """,
    "CREATE INDEX ix_applications_search ON applications USING gin (search_vector)",
]


def _create_search(dialect: str) -> None:
    statements = {
        "sqlite": _SQLITE_SEARCH_UP,
        "postgresql": _POSTGRES_SEARCH_UP,
    }[dialect]
    for statement in statements:
        op.execute(statement)
