"""Short real runs: ``ability bench`` on its own server, and Locust headless.

Both only check that the runs complete without errors and write their
reports; nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from pathlib import Path

import pytest

from ability.bench import results
from ability.bench.results import BARE
from ability.config import Settings
from ability.db import Database
from ability.migrations import upgrade
from ability.seed.generator import generate
from tests._live import running_server, server_environment

ROOT = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).parent / "locust"
RUN_TIMEOUT = 180

pytestmark = pytest.mark.slow


def test_ability_bench_reports_a_short_run_without_errors(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ability.cli", "bench"]
    command += ["--applications", "300", "--companies", "2", "--rate", "15"]
    command += ["--duration", "3", "--warmup", "1", "--out", str(tmp_path / "out")]

    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=server_environment(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "p99.9" in done.stdout
    report = results.load(next((tmp_path / "out").glob("bench-*.json")))
    run = report.main
    assert run.errors == 0, [(e.label, e.error_kinds) for e in run.endpoints]
    assert run.sent == 45
    labels = {e.label for e in run.endpoints}
    assert {BARE, "GET /applications"} <= labels
    page = next((tmp_path / "out").glob("bench-*.html")).read_text()
    assert page.count("<svg") == 3


async def _seed(url: str, companies: int, applications: int) -> None:
    db = Database.from_settings(Settings(DATABASE_URL=url, LOG_LEVEL="WARNING"))
    try:
        await generate(db, companies, applications)
    finally:
        await db.dispose()


def test_locust_runs_the_user_story_without_failures(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ability.db'}"
    upgrade(url)
    asyncio.run(_seed(url, companies=2, applications=300))
    env = server_environment(ABILITY_DATABASE_URL=url, ABILITY_SEED_DEMO="false")

    command = [str(LOCUST), "-f", str(ROOT / "load_tests" / "locustfile.py")]
    command += ["--headless", "-u", "4", "-r", "4", "-t", "6s", "--only-summary"]
    command += ["--csv", str(tmp_path / "locust")]

    with running_server(tmp_path, env) as server:
        done = subprocess.run(
            [*command, "--host", server.base_url],
            cwd=tmp_path,
            env={**env, "ABILITY_LOAD_COMPANIES": "2"},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )

    assert done.returncode == 0, done.stdout + done.stderr
    with (tmp_path / "locust_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert rows["Aggregated"]["Failure Count"] == "0"
    assert int(rows["/auth/login"]["Request Count"]) >= 5
    assert len(set(rows) - {"Aggregated", "/auth/login"}) >= 3
