"""Where jobs run: the seam between the request path and the workers.

``JobQueue`` is what the API needs: ``enqueue(job_id)`` after the job's row
is committed. Two implementations run the same steps (``job.steps``):

- ``InProcessRunner`` — the embedded default: asyncio workers in the API
  process;
- ``CeleryQueue`` (``job.tasks``) — production: Celery workers over Redis.

Fairness is the same on both: a job runs one chunk per turn and then goes
to the back of the queue, so a 10-item batch waits behind at most one chunk
of each job already running, never behind a whole 10,000-item batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ability.application.search import index_backlog
from ability.config import Settings
from ability.db import Database
from ability.job import housekeeping
from ability.job.repository import JobRepository
from ability.job.steps import give_up, run_step
from ability.kit.tasks import cancel_and_wait
from ability.metrics import JOB_STEP_DURATION, JOBS_QUEUE_DEPTH
from ability.models.base import utcnow

log = structlog.get_logger()

TRANSIENT = (DBAPIError, PoolTimeoutError, OSError)
RECOVERY_INTERVAL = 30.0
HOUSEKEEPING_INTERVAL = 3600.0
SEARCH_BACKLOG_INTERVAL = 10.0


class JobQueue(Protocol):
    async def enqueue(self, job_id: int) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def backoff(attempt: int, base: float, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))


async def stale_jobs(
    db: Database, stale_after: timedelta, *, all_queued: bool = False
) -> list[int]:
    """Jobs that should be running but are not: queued for a while (or at
    all, with ``all_queued``), or running under a runner gone silent."""
    async with db.session(write=False) as session:
        now = utcnow()
        queued_before = now if all_queued else now - stale_after
        return await JobRepository(session, None).unfinished(
            now - stale_after, queued_before
        )


class InProcessRunner:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._attempts: dict[int, int] = {}
        self._retrying: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def enqueue(self, job_id: int) -> None:
        if job_id not in self._queued:
            self._queued.add(job_id)
            self._queue.put_nowait(job_id)

    async def start(self) -> None:
        for _ in range(self.settings.JOB_CONCURRENCY):
            self._tasks.append(asyncio.create_task(self._work()))
        self._tasks.append(asyncio.create_task(self._recover_forever()))
        for name, interval, work in (
            ("housekeeping", HOUSEKEEPING_INTERVAL, housekeeping.run_all),
            ("search_backlog", SEARCH_BACKLOG_INTERVAL, index_backlog),
        ):
            periodic = self._periodically(name, interval, work)
            self._tasks.append(asyncio.create_task(periodic))

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()

    async def idle(self) -> None:
        """Wait until no job is queued, running or waiting to retry."""
        await self._queue.join()
        while self._retrying:
            await asyncio.sleep(0.05)
            await self._queue.join()

    async def _recover_forever(self) -> None:
        stale_after = self.settings.JOB_HEARTBEAT_STALE
        # At start every queued job is ours to run: this process (or the one
        # it replaces) was the only runner that had them.
        all_queued = True
        while True:
            try:
                jobs = await stale_jobs(self.db, stale_after, all_queued=all_queued)
                for job_id in jobs:
                    await self.enqueue(job_id)
                all_queued = False
            except TRANSIENT:
                log.warning("job.recovery.failed", exc_info=True)
            await asyncio.sleep(RECOVERY_INTERVAL)

    async def _periodically(
        self, name: str, interval: float, work: Callable[[Database], Awaitable[Any]]
    ) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await work(self.db)
            except TRANSIENT:
                log.warning(f"job.{name}.failed", exc_info=True)

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            self._queued.discard(job_id)
            try:
                await self._turn(job_id)
            finally:
                self._queue.task_done()

    async def _turn(self, job_id: int) -> None:
        """One chunk of one job; then the job queues again if not done."""
        structlog.contextvars.clear_contextvars()  # no context from the last job
        JOBS_QUEUE_DEPTH.set(self._queue.qsize())
        try:
            with JOB_STEP_DURATION.labels("inprocess").time():
                step = await run_step(self.db, job_id, self.settings.JOB_CHUNK_SIZE)
        except TRANSIENT as exc:
            await self._retry_later(job_id, exc)
            return
        except Exception:
            log.exception("job.step.crashed", job_id=job_id)
            await give_up(self.db, job_id, "internal error")
            return
        self._attempts.pop(job_id, None)
        if step.more:
            await self.enqueue(job_id)

    async def _retry_later(self, job_id: int, exc: Exception) -> None:
        attempt = self._attempts.get(job_id, 0)
        if attempt >= self.settings.JOB_MAX_RETRIES:
            self._attempts.pop(job_id, None)
            with contextlib.suppress(*TRANSIENT):
                await give_up(self.db, job_id, f"gave up after retries: {exc}")
            return
        self._attempts[job_id] = attempt + 1
        delay = backoff(attempt, self.settings.JOB_RETRY_BACKOFF.total_seconds())
        log.warning("job.step.retrying", job_id=job_id, attempt=attempt, delay=delay)
        self._retrying.add(job_id)

        async def later() -> None:
            await asyncio.sleep(delay)
            self._retrying.discard(job_id)
            await self.enqueue(job_id)

        self._tasks.append(asyncio.create_task(later()))
