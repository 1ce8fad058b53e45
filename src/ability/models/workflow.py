"""Workflows and their immutable versions.

A workflow row is the named, company-owned handle; each change makes a new
``WorkflowStep`` set under a higher ``version``. Applications pin the version
they started on, so a step list, once used, never changes.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ability.models.base import Base, BigId, UtcDateTime, utcnow


class Workflow(Base):
    __tablename__ = "workflows"
    __table_args__ = (
        sa.Index("ix_workflows_company_type", "company_id", "workflow_type", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    workflow_type: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WorkflowStep(Base):
    """One step of one workflow version.

    ``approvals_required`` (quorum: 1 is "any approver", N is "N of M"),
    ``allow_self_approval`` and ``due_seconds`` are the hooks for richer rules.
    """

    __tablename__ = "workflow_steps"

    workflow_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workflows.id"), primary_key=True
    )
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    step_order: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    required_role: Mapped[str] = mapped_column(sa.String(32))
    approvals_required: Mapped[int] = mapped_column(sa.Integer, default=1)
    allow_self_approval: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    due_seconds: Mapped[int | None] = mapped_column(sa.Integer)
