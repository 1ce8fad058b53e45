"""Celery tasks: thin wrappers that run ``job.steps`` in a worker process.

Each worker process keeps one event loop, one database engine and one cache
client (made at its first task) and runs the async step on them. A step that
leaves work re-queues the job at the back of the queue (see ``job.runner``
on fairness); transient failures retry with exponential backoff and jitter,
and a job whose retries run out has its remaining items recorded as failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from celery import Task
from celery.signals import worker_process_shutdown

from ability.application.search import index_backlog
from ability.application.warmup import warm
from ability.cache.service import Cache
from ability.celery_app import celery
from ability.config import Settings
from ability.db import Database
from ability.job import housekeeping
from ability.job.runner import TRANSIENT, stale_jobs
from ability.job.steps import give_up, run_step
from ability.metrics import JOB_STEP_DURATION, process_exited, sample_process
from ability.redis import command_client

log = structlog.get_logger()
T = TypeVar("T")
STEP = "job.step"


@dataclass
class _Runtime:
    settings: Settings
    loop: asyncio.AbstractEventLoop
    db: Database

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)


_runtime: _Runtime | None = None


def runtime() -> _Runtime:
    """This process's loop, engine and cache, made on first use."""
    global _runtime
    if _runtime is None:
        settings = Settings()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        db = Database.from_settings(settings)
        # Workers only announce changes; they keep no local copies.
        db.cache = Cache(
            settings.model_copy(update={"CACHE_L1_SIZE": 0}), command_client(settings)
        )
        _runtime = _Runtime(settings, loop, db)
    return _runtime


class JobTask(Task):  # type: ignore[misc]  # Celery is untyped
    autoretry_for = TRANSIENT
    retry_backoff = True
    retry_backoff_max = 60
    retry_jitter = True
    acks_late = True

    @property
    def max_retries(self) -> int:
        return runtime().settings.JOB_MAX_RETRIES

    def on_failure(
        self,
        exc: Exception,
        task_id: str,  # noqa: ARG002 - the signature is Celery's
        args: Any,
        kwargs: Any,  # noqa: ARG002
        einfo: Any,  # noqa: ARG002
    ) -> None:
        """Retries are exhausted (or a bug): settle the job, losing nothing."""
        job_id = int(args[0])
        log.error("job.step.failed", job_id=job_id, error=type(exc).__name__)
        try:
            runtime().run(give_up(runtime().db, job_id, f"failed: {exc}"))
        except TRANSIENT:
            log.exception("job.give_up.failed", job_id=job_id)


@celery.task(name=STEP, base=JobTask, bind=True)
def step(self: JobTask, job_id: int) -> None:
    """Run one chunk of a job; queue the job again if more is left."""
    rt = runtime()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_name=STEP, task_id=self.request.id)
    with JOB_STEP_DURATION.labels("celery").time():
        result = rt.run(run_step(rt.db, job_id, rt.settings.JOB_CHUNK_SIZE))
    sample_process("worker")
    if result.more:
        step.apply_async((job_id,))


@celery.task(name="job.recover")
def recover() -> int:
    """Queue jobs that are queued or whose runner fell silent."""
    rt = runtime()
    jobs = rt.run(stale_jobs(rt.db, rt.settings.JOB_HEARTBEAT_STALE))
    for job_id in jobs:
        step.apply_async((job_id,))
    return len(jobs)


@celery.task(name="job.housekeeping")
def housekeep() -> None:
    rt = runtime()
    rt.run(housekeeping.run_all(rt.db))


@celery.task(name="job.index_search")
def index_search() -> int:
    """Index for search what bulk loads left in the backlog."""
    rt = runtime()
    return rt.run(index_backlog(rt.db))


@celery.task(name="job.warm_cache")
def warm_cache() -> None:
    """Refresh the shared cache's first pages of the busiest companies."""
    rt = runtime()
    assert isinstance(rt.db.cache, Cache)
    rt.run(warm(rt.db, rt.db.cache, rt.settings.CACHE_WARM_COMPANIES))


@worker_process_shutdown.connect
def _process_shutdown(**_: Any) -> None:
    process_exited()


class CeleryQueue:
    """The API's side: hand committed jobs to the Celery workers."""

    async def enqueue(self, job_id: int) -> None:
        await asyncio.to_thread(celery.send_task, STEP, (job_id,))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
