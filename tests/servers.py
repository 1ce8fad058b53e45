"""Throwaway PostgreSQL and Redis servers on loopback for the test suite.

Each is started once per test session in a temporary directory and stopped
at the end. With ``CI=true`` a missing server binary fails the run instead
of skipping the suites that need it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("ABILITY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # PostgreSQL refuses to run as root


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: suites needing a server must run there."""
    if in_ci():
        pytest.fail(f"required test server unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.2),
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout} s")


def _as_postgres_user() -> list[str]:
    return ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Terminate a process we started, by its pid; kill it if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class PostgresServer:
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        stop_process(self.process, grace=20)


@contextlib.contextmanager
def postgres_server(
    base: Path, settings: Sequence[str] = ()
) -> Iterator[PostgresServer]:
    """A throwaway server; ``settings`` are extra ``name=value`` options."""
    if not (PG_BIN / "postgres").exists():
        unavailable(f"no PostgreSQL server binaries in {PG_BIN}")
    data_dir = base / "pgdata"
    data_dir.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(base, PG_USER)
        shutil.chown(data_dir, PG_USER)
    subprocess.run(
        [
            *_as_postgres_user(),
            str(PG_BIN / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            PG_USER,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log_file = (base / "postgres.log").open("wb")
    # Durability settings off: a test server loses nothing worth keeping.
    process = subprocess.Popen(
        [
            *_as_postgres_user(),
            str(PG_BIN / "postgres"),
            "-D",
            str(data_dir),
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
            *(arg for setting in settings for arg in ("-c", setting)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    server = PostgresServer(port=port, data_dir=data_dir, process=process)
    try:
        _wait_for_port(port, 30, process)
        yield server
    finally:
        server.stop()
        log_file.close()


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    args: list[str]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """Stop it abruptly, as a crash would."""
        self.process.kill()
        self.process.wait()

    def start(self) -> None:
        """(Re)start on the same port."""
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for_port(self.port, 10, self.process)


@contextlib.contextmanager
def redis_server(base: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
        raise AssertionError  # unreachable: unavailable() raises
    port = free_port()
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(base),
    ]
    server = RedisServer(port=port, process=subprocess.Popen(["true"]), args=args)
    server.process.wait()
    server.start()
    try:
        yield server
    finally:
        server.stop()
