from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Response

from ability.admin.service import route_figures
from ability.auth.dependencies import ReporterUser, target_company
from ability.cache import scopes
from ability.dependencies import AppCache, ReadSession
from ability.errors import ForbiddenError, UnprocessableError, error_responses
from ability.kit.responses import json_bytes
from ability.kit.schemas import IdQuery
from ability.report.schemas import (
    ApplicationStats,
    RoutePerformance,
    WorkflowAnalyticsList,
)
from ability.report.service import report_service

router = APIRouter(prefix="/reports", tags=["reports"])

MAX_REPORT_DAYS = 366
DEFAULT_DAYS = 30
MIN_YEAR, MAX_YEAR = 1970, 9000


@router.get(
    "/applications/stats",
    response_model=ApplicationStats,
    responses=error_responses(ForbiddenError),
)
async def application_stats(
    principal: ReporterUser,
    session: ReadSession,
    cache: AppCache,
    start_date: date | None = None,
    end_date: date | None = None,
    company_id: IdQuery = None,
) -> Response:
    """Application counts by status and day, and the median time to complete.

    Dates are inclusive; the range is at most 366 days and defaults to the
    last 30 days.
    """
    for given in (start_date, end_date):
        if given is not None and not MIN_YEAR <= given.year <= MAX_YEAR:
            raise UnprocessableError(f"dates must fall in {MIN_YEAR}..{MAX_YEAR}")
    end = end_date or (
        start_date + timedelta(days=DEFAULT_DAYS - 1)
        if start_date
        else datetime.now(UTC).date()
    )
    start = start_date or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise UnprocessableError("start_date must not be after end_date")
    if (end - start).days + 1 > MAX_REPORT_DAYS:
        raise UnprocessableError(f"the range is at most {MAX_REPORT_DAYS} days")
    company = target_company(principal, company_id)

    async def load() -> ApplicationStats:
        return await report_service.application_stats(session, company, start, end)

    scope = scopes.applications(company)
    body = await cache.get_or_load_json(scope, f"stats:{start}:{end}", load)
    assert body is not None  # a report always has a body
    return json_bytes(body)


@router.get(
    "/workflows/analytics",
    response_model=WorkflowAnalyticsList,
    responses=error_responses(ForbiddenError),
)
async def workflow_analytics(
    principal: ReporterUser,
    session: ReadSession,
    cache: AppCache,
    company_id: IdQuery = None,
) -> Response:
    """Per-workflow volumes, completion rate and mean time per step."""
    company = target_company(principal, company_id)

    async def load() -> WorkflowAnalyticsList:
        return await report_service.workflow_analytics(session, company)

    scope = scopes.analytics(company)
    body = await cache.get_or_load_json(scope, "analytics", load)
    assert body is not None  # a report always has a body
    return json_bytes(body)


@router.get(
    "/performance",
    response_model=list[RoutePerformance],
    responses=error_responses(ForbiddenError),
)
async def performance(principal: ReporterUser) -> list[RoutePerformance]:
    """Latency percentiles and error rate per route template, all processes."""
    return route_figures()
