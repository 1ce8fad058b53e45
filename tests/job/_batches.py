"""Helpers shared by the job suites: batches over HTTP and the job's ledger.

They take any client with ``get``/``post`` (a ``TestClient`` or an
``httpx.Client`` on a live server), so the in-process and the Celery suites
check the same things the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from ability.db import Database
from ability.models import ApplicationEvent, JobItem
from tests.factories import Tenant

FINISHED = ("succeeded", "partial", "failed")
BULK_LIMIT = 1000
T = TypeVar("T")


class _Response(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self, **kwargs: Any) -> Any: ...


class Client(Protocol):
    def get(self, url: str, *, headers: dict[str, str]) -> _Response: ...

    def post(
        self, url: str, *, headers: dict[str, str], json: dict[str, Any]
    ) -> _Response: ...


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02
) -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def create_applications(
    client: Client, tenant: Tenant, workflow_id: int, count: int
) -> list[int]:
    """``count`` pending applications, made with ``POST /applications/bulk``."""
    ids: list[int] = []
    for start in range(0, count, BULK_LIMIT):
        items = [
            {"title": f"Batch item {n}", "workflow_id": workflow_id}
            for n in range(start, min(count, start + BULK_LIMIT))
        ]
        response = client.post(
            "/applications/bulk",
            headers=tenant.headers("member"),
            json={"applications": items},
        )
        assert response.status_code == 201, response.text
        ids += response.json()["ids"]
    return ids


def submit_batch(
    client: Client, tenant: Tenant, ids: list[int], action: str = "approve"
) -> int:
    response = client.post(
        "/applications/batch/process",
        headers=tenant.headers("admin"),
        json={"application_ids": ids, "action": action, "comment": "batch"},
    )
    assert response.status_code == 202, response.text
    job_id: int = response.json()["job_id"]
    return job_id


def get_job(client: Client, tenant: Tenant, job_id: int) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}", headers=tenant.headers("admin"))
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def wait_for_job(
    client: Client, tenant: Tenant, job_id: int, timeout: float
) -> dict[str, Any]:
    """The job once it has finished, whatever its outcome."""

    def finished() -> dict[str, Any] | None:
        job = get_job(client, tenant, job_id)
        return job if job["status"] in FINISHED else None

    return wait_until(finished, timeout, f"job {job_id} to finish", interval=0.1)


def wait_for_progress(
    client: Client, tenant: Tenant, job_id: int, timeout: float, at_least: int = 1
) -> dict[str, Any]:
    """The job once ``at_least`` of its items, but not all, are done."""

    def midway() -> dict[str, Any] | None:
        job = get_job(client, tenant, job_id)
        assert job["status"] not in FINISHED, "the job ended before it was watched"
        return job if job["processed"] >= at_least else None

    return wait_until(midway, timeout, f"job {job_id} to make progress")


@dataclass(frozen=True)
class Ledger:
    """What a job left in the database."""

    job_items: int
    events_by_job: dict[int, int]  # application id -> history rows of the job
    events: dict[int, int]  # application id -> history rows of any origin


async def ledger(db: Database, job_id: int, ids: list[int]) -> Ledger:
    event = ApplicationEvent
    async with db.session(write=False) as session:
        items = await session.scalar(
            sa.select(sa.func.count()).where(JobItem.job_id == job_id)
        )
        by_job = await session.execute(
            sa.select(event.application_id, sa.func.count())
            .where(event.job_id == job_id)
            .group_by(event.application_id)
        )
        events = await session.execute(
            sa.select(event.application_id, sa.func.count())
            .where(event.application_id.in_(ids))
            .group_by(event.application_id)
        )
        return Ledger(
            int(items or 0),
            dict(by_job.all()),
            dict(events.all()),
        )


def assert_applied_once(job: dict[str, Any], book: Ledger, ids: list[int]) -> None:
    """The job succeeded and every application took its action exactly once."""
    total = len(ids)
    assert job["status"] == "succeeded", job
    assert (job["total"], job["processed"], job["succeeded"]) == (total,) * 3
    assert job["errors"] == []
    assert book.job_items == total
    assert book.events_by_job == dict.fromkeys(ids, 1)
    assert book.events == dict.fromkeys(ids, 1)


def check_small_batch_overtakes_big_ones(
    client: Client,
    big: tuple[Tenant, int],
    small: tuple[Tenant, int],
    timeout: float,
) -> None:
    """Ten 1,000-item batches of one company, then a 10-item batch of
    another: the small one finishes before any of the big ones.

    ``big`` and ``small`` are (tenant, workflow id)."""
    big_ids = create_applications(client, *big, 10_000)
    small_ids = create_applications(client, *small, 10)
    big_jobs = [
        submit_batch(client, big[0], big_ids[n : n + 1000])
        for n in range(0, len(big_ids), 1000)
    ]
    wait_for_progress(client, big[0], big_jobs[0], timeout)
    small_job = submit_batch(client, small[0], small_ids)
    done = wait_for_job(client, small[0], small_job, timeout)

    assert done["status"] == "succeeded"
    small_finished = datetime.fromisoformat(done["finished_at"])
    for job_id in big_jobs:
        finished = get_job(client, big[0], job_id)["finished_at"]
        assert finished is None or datetime.fromisoformat(finished) > small_finished
