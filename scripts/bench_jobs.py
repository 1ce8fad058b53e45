"""Issue 4's benchmark: batch approvals on Celery workers, end to end.

    .venv/bin/python scripts/bench_jobs.py [--applications 20000] [--workers 1 2]

Starts throwaway PostgreSQL and Redis servers on loopback and one
``ability serve`` whose jobs go to Celery. For each worker count it loads
``--applications`` pending applications through ``POST /applications/bulk``,
starts that many ``ability worker`` processes (and waits until they are
ready), then submits the approvals as 1,000-item batches through
``POST /applications/batch/process`` and polls ``GET /jobs/{id}`` until every
job has finished. The clock runs from the first submission to the moment the
last job is seen finished; the workers' CPU time is shown beside it, since on
a machine with few cores a second worker mostly competes for the same CPU.
Nothing here is a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.factories import Tenant, create_tenant, create_workflow  # noqa: E402
from tests.servers import (  # noqa: E402
    free_port,
    postgres_server,
    redis_server,
    stop_process,
)

from ability.config import Settings  # noqa: E402
from ability.db import Database  # noqa: E402
from ability.migrations import upgrade  # noqa: E402

console = Console(width=120)
ABILITY = Path(sys.executable).parent / "ability"
BATCH = 1000
FINISHED = ("succeeded", "partial", "failed")
SECRET = "bench-jobs-secret-key-long-enough-for-hs256"


@dataclass
class Round:
    workers: int
    items: int
    jobs: int
    seconds: float
    worker_cpu: float  # CPU seconds the workers used, all together
    outcomes: Counter[str]

    @property
    def rate(self) -> float:
        return self.items / self.seconds


def wait_for(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not done within {timeout} s")


@contextmanager
def api_server(env: dict[str, str], work: Path) -> Iterator[str]:
    port = free_port()
    command = [str(ABILITY), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (work / "server.log").open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/health/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, 60, "ability serve")
        yield base
    finally:
        stop_process(process, grace=30)


def _says_ready(log: Path) -> bool:
    return b" ready." in log.read_bytes()


@contextmanager
def workers(
    env: dict[str, str], work: Path, count: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``ability worker`` processes, ready to take tasks."""
    processes: list[subprocess.Popen[bytes]] = []
    logs = [work / f"worker-{count}-{n}.log" for n in range(count)]
    try:
        for log in logs:
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [str(ABILITY), "worker"],
                        env={**env, "ABILITY_LOG_LEVEL": "INFO"},
                        cwd=work,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        for log in logs:
            wait_for(partial(_says_ready, log), 60, "ability worker")
        yield processes
    finally:
        for process in processes:
            stop_process(process, grace=30)


def seed(settings: Settings) -> tuple[Tenant, int]:
    """A company with one user per role, and a two-step workflow."""

    async def create() -> tuple[Tenant, int]:
        db = Database.from_settings(settings)
        try:
            tenant = await create_tenant(db, settings, "Bench")
            return tenant, await create_workflow(db, tenant)
        finally:
            await db.dispose()

    return asyncio.run(create())


def load(http: httpx.Client, tenant: Tenant, workflow_id: int, count: int) -> list[int]:
    ids: list[int] = []
    for start in range(0, count, BATCH):
        body = {
            "applications": [
                {"title": f"Bench application {n}", "workflow_id": workflow_id}
                for n in range(start, min(count, start + BATCH))
            ]
        }
        response = http.post(
            "/applications/bulk", json=body, headers=tenant.headers("member")
        )
        response.raise_for_status()
        ids += response.json()["ids"]
    return ids


def approve_all(
    http: httpx.Client, tenant: Tenant, ids: list[int], timeout: float
) -> tuple[float, Counter[str], int]:
    """Submit the batches, wait for every job; (seconds, outcomes, jobs)."""
    headers = tenant.headers("admin")
    started = time.perf_counter()
    pending: list[int] = []
    for start in range(0, len(ids), BATCH):
        body = {"application_ids": ids[start : start + BATCH], "action": "approve"}
        response = http.post("/applications/batch/process", json=body, headers=headers)
        response.raise_for_status()
        pending.append(response.json()["job_id"])
    jobs = len(pending)
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} jobs unfinished after {timeout} s")
        time.sleep(0.25)
        for job_id in list(pending):
            job = http.get(f"/jobs/{job_id}", headers=headers).json()
            if job["status"] in FINISHED:
                outcomes[job["status"]] += 1
                pending.remove(job_id)
    return time.perf_counter() - started, outcomes, jobs


def cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    times = [psutil.Process(p.pid).cpu_times() for p in processes]
    return sum(t.user + t.system for t in times)


def report(rounds: list[Round], chunk: int) -> None:
    table = Table(
        title=f"Batch approvals on Celery (PostgreSQL + Redis, chunk {chunk})"
    )
    columns = ("workers", "items", "jobs", "seconds", "items/s", "items/CPU s")
    for column in (*columns, "outcomes"):
        table.add_column(column, justify="right")
    for r in rounds:
        table.add_row(
            str(r.workers),
            f"{r.items:,}",
            str(r.jobs),
            f"{r.seconds:.1f}",
            f"{r.rate:,.0f}",
            f"{r.items / r.worker_cpu:,.0f}",
            ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items())),
        )
    console.print(table)
    if len(rounds) > 1:
        console.print(
            f"speed-up, {rounds[-1].workers} vs {rounds[0].workers} workers: "
            f"{rounds[-1].rate / rounds[0].rate:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    rounds: list[Round] = []
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="ability-bench-jobs-"))
        stack.callback(shutil.rmtree, work, True)
        pg = stack.enter_context(postgres_server(work))
        broker = stack.enter_context(redis_server(work))
        url = pg.url()
        upgrade(url)
        settings = Settings(DATABASE_URL=url, SECRET_KEY=SECRET, LOG_LEVEL="WARNING")
        tenant, workflow_id = seed(settings)
        env = {
            **os.environ,
            "ABILITY_DATABASE_URL": url,
            "ABILITY_REDIS_URL": broker.url,
            "ABILITY_SECRET_KEY": SECRET,
            "ABILITY_ENV": "production",
            "ABILITY_LOG_LEVEL": "WARNING",
            "ABILITY_SEED_DEMO": "false",
            "ABILITY_JOB_RUNNER": "celery",
            "ABILITY_JOB_CHUNK_SIZE": str(args.chunk),
        }
        base = stack.enter_context(api_server(env, work))
        http = stack.enter_context(
            httpx.Client(base_url=base, timeout=60, trust_env=False)
        )
        for count in args.workers:
            started = time.perf_counter()
            ids = load(http, tenant, workflow_id, args.applications)
            took = time.perf_counter() - started
            console.print(f"loaded {len(ids):,} applications in {took:.1f} s")
            with workers(env, work, count) as processes:
                before = cpu_seconds(processes)
                seconds, outcomes, jobs = approve_all(http, tenant, ids, args.timeout)
                cpu = cpu_seconds(processes) - before
            rounds.append(Round(count, len(ids), jobs, seconds, cpu, outcomes))
            console.print(f"{count} worker(s): {len(ids) / seconds:,.0f} items/s")
    report(rounds, args.chunk)


if __name__ == "__main__":
    main()
