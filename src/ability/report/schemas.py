from __future__ import annotations

from datetime import date

from ability.kit.schemas import ResponseModel


class DayCount(ResponseModel):
    date: date
    count: int


class ApplicationStats(ResponseModel):
    start_date: date
    end_date: date
    total: int
    by_status: dict[str, int]
    created_per_day: list[DayCount]
    median_seconds_to_complete: float | None


class StepTime(ResponseModel):
    step_order: int
    mean_seconds: float
    decisions: int


class WorkflowAnalytics(ResponseModel):
    workflow_id: int
    name: str
    applications: int
    completed: int
    rejected: int
    open: int
    completion_rate: float
    mean_seconds_per_step: list[StepTime]
    bottleneck_step: int | None


class WorkflowAnalyticsList(ResponseModel):
    items: list[WorkflowAnalytics]


class RoutePerformance(ResponseModel):
    route: str
    method: str
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    error_rate: float
