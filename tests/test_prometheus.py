"""The Grafana dashboard's queries against a real Prometheus.

Prometheus scrapes, every second, an ``ability serve --workers 2`` (whose
``/metrics`` adds up both worker processes) and an ``ability worker`` (on its
own metrics port), sharing PostgreSQL and Redis. After some traffic and a
batch job run by the Celery worker, every PromQL expression of
``dashboards/ability.json`` must return data.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests._live import ABILITY, Server, running_server, server_environment
from tests._traffic import Traffic, sign_in
from tests.backends import fresh_postgres_database
from tests.servers import (
    PostgresServer,
    free_port,
    redis_server,
    stop_process,
    unavailable,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

DASHBOARD = Path(__file__).parent.parent / "dashboards" / "ability.json"
ADMIN_EMAIL = "ops@prometheus.test"
ADMIN_PASSWORD = "prometheus-password"
# What Grafana puts in place of its variables (longest names first).
VARIABLES = {
    "$__rate_interval": "30s",
    "$__interval": "30s",
    "$__range": "5m",
    "$job": ".+",
}
API_JOB, WORKER_JOB = "ability-api", "ability-worker"
BATCH = 30
TIMEOUT = 60.0
MAX_ROUNDS = 100
T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], what: str, timeout: float = TIMEOUT) -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables replaced), every target."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            queries.append((panel["title"], expr))
    return queries


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    http: httpx.Client

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = self.http.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert response.status_code == 200, (expr, body)
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of ``expr``, or None while it has none."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def all_targets_up(self) -> bool | None:
        targets = self.http.get("/api/v1/targets").json()["data"]["activeTargets"]
        return True if targets and all(t["health"] == "up" for t in targets) else None


@contextlib.contextmanager
def prometheus(directory: Path, targets: dict[str, str]) -> Iterator[Prometheus]:
    """A Prometheus of our own on loopback scraping ``targets`` every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        unavailable("prometheus is not installed")
        raise AssertionError  # unreachable: unavailable() raises
    config = {  # JSON is YAML
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ],
    }
    (directory / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    command = [
        binary,
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
    ]
    with (directory / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=10.0, trust_env=False
        ) as http:
            wait_until(lambda: _answers(http, "/-/ready", process), "Prometheus")
            yield Prometheus(process, http)
    finally:
        stop_process(process, grace=20)


def _answers(
    http: httpx.Client, path: str, process: subprocess.Popen[bytes]
) -> bool | None:
    assert process.poll() is None, f"{process.args!r} exited early"
    try:
        return True if http.get(path, timeout=1.0).status_code == 200 else None
    except httpx.TransportError:
        return None


@contextlib.contextmanager
def celery_worker(directory: Path, env: dict[str, str]) -> Iterator[str]:
    """``ability worker --metrics-port``; yields its metrics address."""
    port = free_port()
    command = [str(ABILITY), "worker", "--metrics-port", str(port)]
    with (directory / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=directory, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
            wait_until(lambda: _answers(http, "/metrics", process), "the worker")
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(process, grace=20)


@dataclass
class Stack:
    api: Server
    prometheus: Prometheus


@pytest.fixture(scope="module")
def stack(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("prometheus")
    with redis_server(work) as broker:
        env = server_environment(
            ABILITY_DATABASE_URL=fresh_postgres_database(postgres),
            ABILITY_REDIS_URL=broker.url,
            ABILITY_SECRET_KEY="prometheus-test-secret-key-long-enough-for-hs256",
            ABILITY_ENV="test",
            ABILITY_SEED_DEMO="false",
            ABILITY_CACHE_WARM_COMPANIES="0",
            ABILITY_ADMIN_EMAIL=ADMIN_EMAIL,
            ABILITY_ADMIN_PASSWORD=ADMIN_PASSWORD,
            ABILITY_JOB_RUNNER="celery",
            ABILITY_JOB_CHUNK_SIZE="10",
            ABILITY_DB_CONNECTION_BUDGET="20",
            # Every statement counts as slow, and a tiny L1 evicts: so that
            # those series exist too.
            ABILITY_SLOW_QUERY_MS="0",
            ABILITY_CACHE_L1_SIZE="3",
        )
        api_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(work / "api-metrics")}
        worker_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(work / "worker-metrics")}
        with (
            celery_worker(work, worker_env) as worker,
            running_server(work, api_env, workers=2) as api,
        ):
            targets = {
                API_JOB: api.base_url.removeprefix("http://"),
                WORKER_JOB: worker,
            }
            with prometheus(work, targets) as scraper:
                wait_until(scraper.all_targets_up, "both targets to be up")
                yield Stack(api, scraper)


@dataclass
class Busy:
    """The stack after traffic and a batch job run by the worker; more
    traffic at hand."""

    stack: Stack
    traffic: Traffic

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.stack.prometheus.query(expr)

    def value(self, expr: str) -> float | None:
        return self.stack.prometheus.value(expr)


def run_batch(traffic: Traffic) -> dict[str, Any]:
    """Comment on every application in one job; the job once it ends."""
    job_id = traffic.post(
        "/applications/batch/process",
        {"application_ids": traffic.applications, "action": "comment"},
    )["job_id"]

    def finished() -> dict[str, Any] | None:
        response = traffic.http.get(f"/jobs/{job_id}", headers=traffic.headers)
        job: dict[str, Any] = response.json()
        return job if job["status"] in ("succeeded", "partial", "failed") else None

    return wait_until(finished, f"job {job_id} to end")


@pytest.fixture(scope="module")
def busy(stack: Stack) -> Iterator[Busy]:
    with stack.api.client() as http:
        traffic = Traffic(http, sign_in(http, ADMIN_EMAIL, ADMIN_PASSWORD))
        traffic.prepare(applications=BATCH)
        for _ in range(5):
            traffic.round()
        job = run_batch(traffic)
        assert job["status"] == "succeeded", job
        for _ in range(5):
            traffic.round()
        yield Busy(stack, traffic)


class TestScrapes:
    def test_api_metrics_add_up_both_worker_processes(self, stack: Stack) -> None:
        expr = (
            "count(count by (pid) "
            f'(ability_process_resident_memory_bytes{{job="{API_JOB}"}}))'
        )

        processes = wait_until(
            lambda: stack.prometheus.value(expr) == 2 or None, "two API processes"
        )

        assert processes is True

    def test_the_worker_reports_the_batch_it_ran(self, busy: Busy) -> None:
        expr = f'sum(ability_job_items_total{{job="{WORKER_JOB}"}})'

        items = wait_until(
            lambda: (busy.value(expr) or 0) >= BATCH or None, "the worker's items"
        )
        rss = busy.query(f'ability_process_resident_memory_bytes{{job="{WORKER_JOB}"}}')

        assert items is True
        assert [series["metric"]["kind"] for series in rss] == ["worker"]


class TestDashboard:
    def test_uses_a_prometheus_datasource_variable(self) -> None:
        dashboard = json.loads(DASHBOARD.read_text())

        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        sources = {
            json.dumps(p["datasource"])
            for p in dashboard["panels"]
            if p["type"] != "row"
        }

        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert sources == {json.dumps({"type": "prometheus", "uid": "${datasource}"})}

    def test_every_query_returns_data(self, busy: Busy) -> None:
        queries = dashboard_queries()
        empty: list[tuple[str, str]] = []

        # Until the last scrapes land; the traffic keeps the rates defined.
        deadline = time.monotonic() + TIMEOUT
        for _ in range(MAX_ROUNDS):
            empty = [(title, expr) for title, expr in queries if not busy.query(expr)]
            if not empty or time.monotonic() > deadline:
                break
            busy.traffic.round()
            time.sleep(1)

        assert len(queries) >= 30
        assert all("$" not in expr for _, expr in queries)
        assert empty == []
