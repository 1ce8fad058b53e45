from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from ability.auth.dependencies import AdminUser
from ability.errors import ForbiddenError, error_responses
from ability.logging import recent_problems

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/metrics", responses=error_responses(ForbiddenError))
async def admin_metrics(principal: AdminUser, request: Request) -> dict[str, Any]:
    """This process: memory, descriptors, GC and requests per route."""
    summary: dict[str, Any] = request.app.state.request_stats.summary()
    return summary


@router.get("/errors", responses=error_responses(ForbiddenError))
async def admin_errors(
    principal: AdminUser,
    severity: Literal["warning", "error", "critical"] = "warning",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Recent warnings and errors, newest first (your company's, or all for
    platform admins)."""
    items = recent_problems.list(min_level=severity, limit=1000)
    if not principal.is_platform_admin:
        items = [i for i in items if i.get("company_id") == principal.company_id]
    return {"items": items[:limit]}
