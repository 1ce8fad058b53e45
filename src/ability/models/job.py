"""Background jobs and their per-item ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ability.models.base import Base, BigId, UtcDateTime, utcnow


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_status_created", "status", "created_at"),
        sa.Index("ix_jobs_company_created", "company_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    total: Mapped[int] = mapped_column(sa.Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Refreshed by the runner while it works; a stale one marks a lost runner.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class JobItem(Base):
    """Outcome of one item of a job.

    Written in the same transaction as the item's effect; the primary key makes
    a redelivered item a no-op, so each item takes effect exactly once.
    """

    __tablename__ = "job_items"
    __table_args__ = (
        # On PostgreSQL the key also covers the counts of a job's outcomes.
        sa.PrimaryKeyConstraint("job_id", "item_id", postgresql_include=["succeeded"]),
    )

    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"))
    item_id: Mapped[int] = mapped_column(sa.BigInteger)
    succeeded: Mapped[bool] = mapped_column(sa.Boolean)
    detail: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
