"""The embedded runner (``InProcessRunner``) in the scenarios the Celery
workers face: a big batch, a runner that stops mid-job, a transient database
failure, and a small company's batch behind a big one's. Like the API suites,
every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ability.config import Settings
from ability.db import Database
from ability.job.schemas import Job
from ability.job.service import job_service
from ability.main import create_app
from tests.conftest import Api
from tests.job._batches import (
    assert_applied_once,
    check_small_batch_overtakes_big_ones,
    create_applications,
    get_job,
    ledger,
    submit_batch,
    wait_for_job,
    wait_for_progress,
    wait_until,
)
from tests.job._faults import applications_locked, fail_waiting_step

CHUNK = 10
STALE = timedelta(seconds=1)
TIMEOUT = 60.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Small chunks, a heartbeat that goes stale in a second, quick retries."""
    return settings.model_copy(
        update={
            "JOB_CHUNK_SIZE": CHUNK,
            "JOB_HEARTBEAT_STALE": STALE,
            "JOB_RETRY_BACKOFF": timedelta(milliseconds=100),
        }
    )


@contextmanager
def running_app(settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


class Events(logging.Handler):
    """The structlog events that reach the root logger."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            self.events.append(record.msg)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]


@contextmanager
def captured_events() -> Iterator[Events]:
    """Collect log events; enter it after the app has set logging up."""
    handler = Events()
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


def read_job(settings: Settings, job_id: int) -> Job:
    """The job as the database has it, with no runner around."""

    async def read() -> Job:
        db = Database.from_settings(settings)
        try:
            async with db.session(write=False) as session:
                return await job_service.get(session, None, job_id)
        finally:
            await db.dispose()

    return asyncio.run(read())


@contextmanager
def sqlite_write_locked(settings: Settings) -> Iterator[Callable[[], None]]:
    """Hold SQLite's write lock from another connection; yields its release."""
    assert settings.sqlite_path is not None
    connection = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield connection.close  # closing rolls back
    finally:
        connection.close()


class TestBatch:
    def test_500_items_succeed_each_applied_once_by_the_job(self, api: Api) -> None:
        tenant = api.tenant()
        ids = create_applications(api.client, tenant, api.workflow(tenant), 500)

        job_id = submit_batch(api.client, tenant, ids)
        api.wait_for_jobs()

        job = get_job(api.client, tenant, job_id)
        assert_applied_once(job, api.run(ledger, api.db, job_id, ids), ids)


class TestRecovery:
    def test_a_new_runner_finishes_what_a_stopped_one_left(
        self, settings: Settings
    ) -> None:
        with running_app(settings) as first:
            tenant = first.tenant()
            ids = create_applications(first.client, tenant, first.workflow(tenant), 500)
            job_id = submit_batch(first.client, tenant, ids)
            wait_for_progress(first.client, tenant, job_id, TIMEOUT)
        left = read_job(settings, job_id)
        time.sleep(STALE.total_seconds())  # the heartbeat goes stale

        with running_app(settings) as second:
            job = wait_for_job(second.client, tenant, job_id, TIMEOUT)
            book = second.run(ledger, second.db, job_id, ids)

        assert left.status == "running"
        assert 0 < left.processed < len(ids)
        assert_applied_once(job, book, ids)


class TestTransientFailure:
    @pytest.mark.parametrize("backend", ["postgres"])
    def test_a_step_whose_connection_drops_is_retried(self, api: Api) -> None:
        tenant = api.tenant()
        ids = create_applications(api.client, tenant, api.workflow(tenant), 500)
        job_id = submit_batch(api.client, tenant, ids)
        wait_for_progress(api.client, tenant, job_id, TIMEOUT)

        with captured_events() as events:
            with applications_locked(api.settings.DATABASE_URL) as pg:
                fail_waiting_step(pg, TIMEOUT)
            job = wait_for_job(api.client, tenant, job_id, TIMEOUT)

        assert_applied_once(job, api.run(ledger, api.db, job_id, ids), ids)
        retries = events.named("job.step.retrying")
        assert retries
        assert {r["job_id"] for r in retries} == {job_id}

    @pytest.mark.parametrize("backend", ["sqlite"])
    def test_a_step_that_finds_the_database_locked_is_retried(
        self, settings: Settings
    ) -> None:
        settings = settings.model_copy(update={"SQLITE_BUSY_TIMEOUT_MS": 200})
        with running_app(settings) as first:
            tenant = first.tenant()
            ids = create_applications(first.client, tenant, first.workflow(tenant), 500)
            job_id = submit_batch(first.client, tenant, ids)
        assert read_job(settings, job_id).status in ("queued", "running")
        time.sleep(STALE.total_seconds())  # left to the next runner's recovery

        # The next runner starts while another connection holds the write lock.
        with sqlite_write_locked(settings) as release:
            app = create_app(settings)
            with captured_events() as events, TestClient(app) as client:
                wait_until(
                    lambda: events.named("job.step.retrying") or None,
                    TIMEOUT,
                    "a retry",
                )
                release()
                job = wait_for_job(client, tenant, job_id, TIMEOUT)
                book = Api(client, settings).run(ledger, app.state.db, job_id, ids)

        assert_applied_once(job, book, ids)
        assert {r["job_id"] for r in events.named("job.step.retrying")} == {job_id}


class TestFairness:
    def test_a_small_batch_is_not_stuck_behind_a_big_one(self, api: Api) -> None:
        big, small = api.tenant(), api.tenant()
        check_small_batch_overtakes_big_ones(
            api.client,
            (big, api.workflow(big)),
            (small, api.workflow(small)),
            TIMEOUT,
        )
