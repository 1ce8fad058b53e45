"""Jobs on the production stack: ``ability serve`` hands batches to real
``ability worker`` processes over a real Redis, on PostgreSQL.

The server, database, broker and workers are shared by the module, each test
using a company of its own; a test that kills the worker starts the one the
next tests use. Every process is stopped by its pid when the module ends.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from ability.config import Settings
from ability.db import Database
from tests._live import ABILITY, running_server, server_environment
from tests.backends import base_settings, fresh_postgres_database
from tests.factories import Tenant, create_tenant, create_workflow
from tests.job._batches import (
    Ledger,
    assert_applied_once,
    check_small_batch_overtakes_big_ones,
    create_applications,
    ledger,
    submit_batch,
    wait_for_job,
    wait_for_progress,
    wait_until,
)
from tests.job._faults import applications_locked, fail_waiting_step
from tests.servers import PostgresServer, RedisServer, redis_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

CHUNK = 20
TIMEOUT = 60.0


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Workers:
    """``ability worker`` processes; the latest one serves the tests."""

    env: dict[str, str]
    directory: Path
    started: list[Worker] = field(default_factory=list)

    @property
    def current(self) -> Worker:
        return self.started[-1]

    def start(self) -> Worker:
        log = self.directory / f"worker-{len(self.started) + 1}.log"
        env = {**self.env, "ABILITY_LOG_LEVEL": "INFO"}  # INFO shows retries
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(ABILITY), "worker"],
                env=env,
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(Worker(process, log))
        return self.current

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.started:
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(timeout=5)


@dataclass
class Stack:
    """The shared server and workers, their settings and their database."""

    settings: Settings
    http: httpx.Client
    workers: Workers
    broker: RedisServer

    def tenant(self) -> tuple[Tenant, int]:
        """A new company with one user per role, and a two-step workflow."""

        async def create() -> tuple[Tenant, int]:
            db = Database.from_settings(self.settings)
            try:
                tenant = await create_tenant(db, self.settings)
                return tenant, await create_workflow(db, tenant)
            finally:
                await db.dispose()

        return asyncio.run(create())

    def unacknowledged(self) -> int:
        """Tasks delivered to workers and not acknowledged yet (kombu keeps
        them in its ``unacked`` hash until they return to the queue)."""
        client = redis.Redis(host="127.0.0.1", port=self.broker.port)
        try:
            return int(client.hlen("unacked"))
        finally:
            client.close()

    def ledger(self, job_id: int, ids: list[int]) -> Ledger:
        async def read() -> Ledger:
            db = Database.from_settings(self.settings)
            try:
                return await ledger(db, job_id, ids)
            finally:
                await db.dispose()

        return asyncio.run(read())


@pytest.fixture(scope="module")
def stack(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("celery")
    settings = base_settings(DATABASE_URL=fresh_postgres_database(postgres))
    with redis_server(work) as broker:
        env = server_environment(
            ABILITY_DATABASE_URL=settings.DATABASE_URL,
            ABILITY_REDIS_URL=broker.url,
            ABILITY_SECRET_KEY=settings.secret_key,
            ABILITY_ENV="test",
            ABILITY_SEED_DEMO="false",
            ABILITY_CACHE_WARM_COMPANIES="0",
            ABILITY_JOB_RUNNER="celery",
            ABILITY_JOB_CHUNK_SIZE=str(CHUNK),
            # A task of a killed worker returns to the queue this soon.
            ABILITY_JOB_VISIBILITY_TIMEOUT="PT5S",
            ABILITY_DB_CONNECTION_BUDGET="10",
        )
        workers = Workers(env, work)
        try:
            workers.start()  # boots while the server does
            with running_server(work, env) as server, server.client() as http:
                yield Stack(settings, http, workers, broker)
        finally:
            workers.stop_all()


class TestBatchOnWorkers:
    def test_500_items_succeed_each_applied_once_by_the_job(self, stack: Stack) -> None:
        tenant, workflow_id = stack.tenant()
        ids = create_applications(stack.http, tenant, workflow_id, 500)

        job_id = submit_batch(stack.http, tenant, ids)
        job = wait_for_job(stack.http, tenant, job_id, TIMEOUT)

        assert_applied_once(job, stack.ledger(job_id, ids), ids)

    def test_a_killed_worker_loses_and_repeats_nothing(self, stack: Stack) -> None:
        tenant, workflow_id = stack.tenant()
        ids = create_applications(stack.http, tenant, workflow_id, 500)
        killed = stack.workers.current
        job_id = submit_batch(stack.http, tenant, ids)
        midway = wait_for_progress(stack.http, tenant, job_id, TIMEOUT, at_least=200)
        wait_until(lambda: stack.unacknowledged() or None, TIMEOUT, "a task in hand")

        os.kill(killed.process.pid, signal.SIGKILL)
        killed.process.wait(timeout=10)
        orphaned = stack.unacknowledged()
        stack.workers.start()
        job = wait_for_job(stack.http, tenant, job_id, TIMEOUT)

        assert 0 < midway["processed"] < len(ids)
        assert orphaned == 1  # the step it was running, to be delivered again
        assert_applied_once(job, stack.ledger(job_id, ids), ids)

    def test_a_step_whose_connection_drops_is_retried(self, stack: Stack) -> None:
        tenant, workflow_id = stack.tenant()
        ids = create_applications(stack.http, tenant, workflow_id, 100)
        seen = len(stack.workers.current.output())

        with applications_locked(stack.settings.DATABASE_URL) as pg:
            job_id = submit_batch(stack.http, tenant, ids)
            fail_waiting_step(pg, TIMEOUT)
        job = wait_for_job(stack.http, tenant, job_id, TIMEOUT)

        assert_applied_once(job, stack.ledger(job_id, ids), ids)
        log = stack.workers.current.output()[seen:]
        assert re.search(r"job\.step\[[-\w]+\] retry: .*terminating connection", log)


class TestFairness:
    def test_a_small_batch_is_not_stuck_behind_a_big_one(self, stack: Stack) -> None:
        check_small_batch_overtakes_big_ones(
            stack.http, stack.tenant(), stack.tenant(), TIMEOUT
        )
