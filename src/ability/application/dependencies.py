"""Query parameters of the list and search endpoints, validated together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Query

from ability.application.repository import ListFilters
from ability.errors import UnprocessableError
from ability.kit.schemas import IdQuery
from ability.models.application import OPEN_STATUSES, Status

MAX_STATUSES = 10
MAX_RANGE = timedelta(days=90)
StatusName = Literal[
    "pending", "in_progress", "completed", "rejected", "cancelled", "active"
]


def parse_statuses(values: list[StatusName] | None) -> frozenset[Status]:
    """``status`` values, ``active`` meaning pending or in progress."""
    values = values or []
    if len(values) > MAX_STATUSES:
        raise UnprocessableError(f"at most {MAX_STATUSES} status values")
    statuses: set[Status] = set()
    for value in values:
        statuses.update(OPEN_STATUSES if value == "active" else {Status(value)})
    return frozenset(statuses)


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. year 1 at +05:00 is before year 1 in UTC
        raise UnprocessableError(f"{name} is out of range") from None


async def list_filters(
    status: Annotated[list[StatusName] | None, Query()] = None,
    workflow_id: IdQuery = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: Literal["-created_at", "created_at"] = "-created_at",
) -> ListFilters:
    """Filters for ``GET /applications``; naive datetimes are read as UTC."""
    after = _utc(created_after, "created_after")
    before = _utc(created_before, "created_before")
    if after is not None and before is not None:
        if after > before:
            raise UnprocessableError("created_after must not be after created_before")
        if before - after > MAX_RANGE:
            raise UnprocessableError("created_after..created_before spans > 90 days")
    return ListFilters(
        statuses=parse_statuses(status),
        workflow_id=workflow_id,
        created_after=after,
        created_before=before,
        newest_first=sort == "-created_at",
    )
