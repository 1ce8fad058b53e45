"""The Celery application (production jobs; broker: ``ABILITY_REDIS_URL``).

Configured for work that must not be lost or done twice: late acks, tasks
re-queued when a worker dies, one prefetched message per process, JSON only,
UTC, and worker children recycled after ``WORKER_MAX_TASKS_PER_CHILD`` tasks.
Results are not stored: job progress lives in the database.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging

from ability.config import Settings
from ability.logging import configure_logging

QUEUE = "ability"
celery = Celery("ability")


def configure(settings: Settings) -> Celery:
    """Point the app at ``settings`` (the API to send, workers to run)."""
    visibility = int(settings.JOB_VISIBILITY_TIMEOUT.total_seconds())
    celery.conf.update(
        broker_url=settings.REDIS_URL,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility,
            # kombu looks for unacknowledged tasks to return only every
            # interval x throttle seconds (100 s by default): look often
            # enough that a dead worker's task is back within the timeout.
            "unacked_restore_interval": max(1, visibility // 5),
            "unacked_restore_throttle": 1,
        },
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=settings.WORKER_MAX_TASKS_PER_CHILD,
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "recover-stale-jobs": {"task": "job.recover", "schedule": 30.0},
            "housekeeping": {"task": "job.housekeeping", "schedule": 3600.0},
            "index-search-backlog": {"task": "job.index_search", "schedule": 10.0},
            "refresh-report-caches": {"task": "job.warm_cache", "schedule": 300.0},
        },
    )
    celery.autodiscover_tasks(["ability.job"], related_name="tasks", force=True)
    return celery


@setup_logging.connect
def _logging(**_: Any) -> None:
    settings = Settings()
    configure_logging(settings.LOG_LEVEL, settings.log_format)
