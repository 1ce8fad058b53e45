"""The server ``ability bench`` runs when it is given no ``--url``.

The dataset goes into a SQLite file in a temporary directory, or into the
database named by ``ABILITY_DATABASE_URL`` (with ``ABILITY_REDIS_URL`` for
the cache and jobs when set); then ``ability serve`` runs on a free loopback
port until the benchmark ends, and is stopped by its pid.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from ability.bench.workload import Logins
from ability.config import Settings
from ability.db import Database
from ability.migrations import upgrade
from ability.seed.generator import generate
from ability.seed.logins import seed_tag

READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
SEED = 42

Progress = Callable[[int], None]


class ServerError(Exception):
    """The embedded server did not start."""


@dataclass(frozen=True)
class Embedded:
    """A running server with a freshly seeded dataset."""

    base_url: str
    logins: Logins
    database: str  # for the report, without any password


def describe_database(url: str) -> str:
    """A database URL fit for a report: the password is hidden."""
    return make_url(url).render_as_string(hide_password=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _seed(
    settings: Settings, companies: int, total: int, seed: int, progress: Progress
) -> None:
    db = Database.from_settings(settings)
    try:
        await generate(db, companies, total, progress, seed=seed)
    finally:
        await db.dispose()


def seed_dataset(
    url: str, companies: int, total: int, progress: Progress, fresh: bool
) -> Logins:
    """Migrate and seed; a database that may hold an earlier run gets a new
    random seed, so that its e-mail addresses do not collide."""
    upgrade(url)
    seed = SEED if fresh else random.SystemRandom().randrange(1, 2**31)
    settings = Settings(
        DATABASE_URL=url,
        LOG_LEVEL="WARNING",
        SEED_DEMO=False,
    )
    asyncio.run(_seed(settings, companies, total, seed, progress))
    return Logins(tag=seed_tag(seed))


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(base_url=base_url, trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise ServerError(f"ability serve exited early:\n{tail}")
            try:
                if client.get("/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise ServerError(f"ability serve was not ready within {READY_TIMEOUT:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def serve(url: str, workers: int, work: Path) -> Iterator[str]:
    """``ability serve`` on a free loopback port; yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "ABILITY_DATABASE_URL": url,
        "ABILITY_SEED_DEMO": "false",
        "ABILITY_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "ability.cli", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    log = work / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=work, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_ready(process, base_url, log)
            yield base_url
        finally:
            _stop(process)


@contextmanager
def embedded(
    companies: int,
    applications: int,
    workers: int,
    progress: Progress,
    seeded: Callable[[], None],
) -> Iterator[Embedded]:
    """Seed a dataset and serve it for the length of the ``with`` block."""
    with tempfile.TemporaryDirectory(prefix="ability-bench-") as directory:
        work = Path(directory)
        given = os.environ.get("ABILITY_DATABASE_URL")
        url = given or f"sqlite+aiosqlite:///{work / 'bench.db'}"
        logins = seed_dataset(url, companies, applications, progress, not given)
        seeded()
        with serve(url, workers, work) as base_url:
            yield Embedded(base_url, logins, describe_database(url))
