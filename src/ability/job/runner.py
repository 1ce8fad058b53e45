"""Where jobs run: the seam between the request path and the workers.

``InProcessRunner`` is the embedded default: asyncio workers in the API
process run the task functions of ``job.tasks``. It claims jobs through the
database, re-runs jobs left unfinished by a crash on start and every
``RECOVERY_INTERVAL``, and retries transient failures with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Protocol

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ability.config import Settings
from ability.db import Database
from ability.job import tasks
from ability.job.repository import JobRepository
from ability.models.base import utcnow

log = structlog.get_logger()

RECOVERY_INTERVAL = 30.0
MAX_ATTEMPTS = 5
TRANSIENT = (DBAPIError, PoolTimeoutError, OSError)


class JobQueue(Protocol):
    async def enqueue(self, job_id: int) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def backoff(attempt: int, base: float = 0.2, cap: float = 10.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))


class InProcessRunner:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def enqueue(self, job_id: int) -> None:
        self._queue.put_nowait(job_id)

    async def start(self) -> None:
        for _ in range(self.settings.JOB_CONCURRENCY):
            self._tasks.append(asyncio.create_task(self._work()))
        self._tasks.append(asyncio.create_task(self._recover_forever()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def idle(self) -> None:
        """Wait until every enqueued job has been handled (tests, shutdown)."""
        await self._queue.join()

    async def _recover_forever(self) -> None:
        while True:
            try:
                async with self.db.session(write=False) as session:
                    stale = utcnow() - tasks.HEARTBEAT_STALE
                    for job_id in await JobRepository(session, None).unfinished(stale):
                        await self.enqueue(job_id)
            except TRANSIENT:
                log.warning("job.recovery.failed", exc_info=True)
            await asyncio.sleep(RECOVERY_INTERVAL)

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                await self._run(job_id)
            finally:
                self._queue.task_done()

    async def _run(self, job_id: int) -> None:
        for attempt in range(MAX_ATTEMPTS):
            try:
                await tasks.run_batch(
                    self.db,
                    job_id,
                    self.settings.JOB_CHUNK_SIZE,
                    retry=attempt > 0,
                )
                return
            except TRANSIENT:
                delay = backoff(attempt)
                log.warning(
                    "job.run.retrying", job_id=job_id, attempt=attempt, delay=delay
                )
                await asyncio.sleep(delay)
            except Exception:
                log.exception("job.run.crashed", job_id=job_id)
                return
        log.error("job.run.gave_up", job_id=job_id, attempts=MAX_ATTEMPTS)
