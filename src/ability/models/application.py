"""Applications and their append-only history."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ability.models.base import Base, BigId, UtcDateTime, utcnow


class Status(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


OPEN_STATUSES = (Status.PENDING, Status.IN_PROGRESS)
FINAL_STATUSES = (Status.COMPLETED, Status.REJECTED, Status.CANCELLED)

# Partial-index predicates. Queries must repeat them literally (see
# ``application.repository``) so that SQLite's planner can match them.
NOT_DELETED_SQL = "is_deleted = false"
OPEN_SQL = "status IN ('pending', 'in_progress')"
_NOT_DELETED = sa.text(NOT_DELETED_SQL)
_OPEN_NOT_DELETED = sa.text(f"{OPEN_SQL} AND {NOT_DELETED_SQL}")


def _partial(where: sa.TextClause) -> dict[str, Any]:
    return {"sqlite_where": where, "postgresql_where": where}


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        # Default list: newest first within a company. On PostgreSQL it also
        # covers the counts by status or by day over a creation range.
        sa.Index(
            "ix_applications_company_created",
            "company_id",
            sa.desc("created_at"),
            sa.desc("id"),
            postgresql_include=["status"],
            **_partial(_NOT_DELETED),
        ),
        # Filter by status, same order; also serves per-status report counts,
        # and on PostgreSQL covers per-workflow counts and times to complete.
        sa.Index(
            "ix_applications_company_status_created",
            "company_id",
            "status",
            sa.desc("created_at"),
            sa.desc("id"),
            postgresql_include=["workflow_id", "completed_at"],
            **_partial(_NOT_DELETED),
        ),
        # Open work (status=active): small and hot.
        sa.Index(
            "ix_applications_open",
            "company_id",
            sa.desc("created_at"),
            sa.desc("id"),
            **_partial(_OPEN_NOT_DELETED),
        ),
        # Filter by workflow, same order; also per-workflow analytics.
        sa.Index(
            "ix_applications_company_workflow_created",
            "company_id",
            "workflow_id",
            sa.desc("created_at"),
            sa.desc("id"),
            **_partial(_NOT_DELETED),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    workflow_id: Mapped[int] = mapped_column(sa.ForeignKey("workflows.id"))
    workflow_version: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default=Status.PENDING)
    # Order of the step awaiting action; None once the application is final.
    current_step: Mapped[int | None] = mapped_column(sa.Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON)
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    is_deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class ApplicationEvent(Base):
    """One action on an application: append-only, never updated."""

    __tablename__ = "application_events"
    __table_args__ = (
        # History in order; on PostgreSQL it also covers the time per step.
        sa.Index(
            "ix_application_events_company_app",
            "company_id",
            "application_id",
            "id",
            postgresql_include=["workflow_id", "step_order", "action", "created_at"],
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    workflow_id: Mapped[int] = mapped_column(sa.ForeignKey("workflows.id"))
    workflow_version: Mapped[int] = mapped_column(sa.Integer)
    step_order: Mapped[int | None] = mapped_column(sa.Integer)
    step_name: Mapped[str | None] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(16))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    actor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # The user the actor stood in for, under a delegation; None otherwise.
    on_behalf_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The role the actor acted in (``admin`` when an admin stood in).
    actor_role: Mapped[str | None] = mapped_column(sa.String(32))
    job_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
