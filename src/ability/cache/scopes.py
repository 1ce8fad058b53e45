"""Cache scopes: what one invalidation covers. Each holds the company id."""

from __future__ import annotations


def application(company_id: int, application_id: int) -> str:
    return f"c{company_id}:app:{application_id}"


def applications(company_id: int) -> str:
    """Everything derived from many applications: first pages and reports."""
    return f"c{company_id}:apps"


def analytics(company_id: int) -> str:
    """Workflow analytics: a scan of the company's whole history, so it is
    not recomputed on every write. Application changes reach it within
    ``CACHE_TTL``; workflow changes at once."""
    return f"c{company_id}:analytics"


def workflow(company_id: int, workflow_id: int) -> str:
    return f"c{company_id}:wf:{workflow_id}"
