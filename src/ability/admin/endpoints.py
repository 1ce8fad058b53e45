"""Operator views: Prometheus ``/metrics`` and the ``/admin`` JSON figures.

All figures come from the metrics, so they add up over every API and worker
process of the host. Company admins see service-wide figures and their own
company's errors; platform admins also see every company's errors and the
database's row estimates.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ability import metrics
from ability.admin import service
from ability.admin.repository import row_estimates
from ability.application import search as fulltext
from ability.auth.dependencies import AdminUser
from ability.dependencies import AppSettings, ReadSession
from ability.errors import ForbiddenError, NotAuthenticatedError, error_responses
from ability.logging import recent_problems

router = APIRouter(prefix="/admin", tags=["admin"])
metrics_router = APIRouter(tags=["operations"])


@metrics_router.get("/metrics", response_class=Response)
async def prometheus_metrics(request: Request, settings: AppSettings) -> Response:
    """Prometheus text format (a bearer token if ABILITY_METRICS_TOKEN is set)."""
    if settings.METRICS_TOKEN is not None:
        expected = f"Bearer {settings.METRICS_TOKEN.get_secret_value()}"
        if request.headers.get("authorization") != expected:
            raise NotAuthenticatedError()
    metrics.sample_process("api")
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/metrics", responses=error_responses(ForbiddenError))
async def admin_metrics(principal: AdminUser) -> dict[str, Any]:
    """Processes (memory, descriptors, GC) and requests per route."""
    metrics.sample_process("api")
    found = service.samples()
    return {
        "processes": service.processes(found),
        "in_flight": int(
            sum(s.value for s in found.get("ability_http_requests_in_flight", []))
        ),
        "requests": [f.model_dump() for f in service.route_figures(found)],
    }


@router.get("/cache/stats", responses=error_responses(ForbiddenError))
async def cache_stats(principal: AdminUser, request: Request) -> dict[str, Any]:
    """Per level: hits, misses, hit ratio, size, evictions; invalidations."""
    return {
        "status": request.app.state.cache.status,
        **service.cache_figures(service.samples()),
    }


@router.get("/database/stats", responses=error_responses(ForbiddenError))
async def database_stats(
    principal: AdminUser,
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Pool use, the slowest statements, the tables' row estimates and the
    search backlog (bulk-loaded applications not yet searchable)."""
    found = service.samples()
    everyone = principal.is_platform_admin
    return {
        "dialect": session.get_bind().dialect.name,
        "pool": service.pool_figures(found),
        "slow_statements": service.slow_statements(found, limit),
        "row_estimates": await row_estimates(session) if everyone else None,
        "search_backlog": await fulltext.backlog(
            session, None if everyone else principal.company_id
        ),
    }


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
