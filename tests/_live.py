"""``ability serve`` as a real process on a free loopback port, for tests.

The server runs with the environment it is given (``ABILITY_*`` taken from
the caller's are dropped), writes its output to files in its working
directory, and is always stopped by its pid.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import stop_process

ABILITY = Path(sys.executable).parent / "ability"
READY_TIMEOUT = 30.0


@dataclass
class Server:
    """A running ``ability serve``: its process, address and output files."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_dir: Path

    def output(self) -> str:
        paths = (self.log_dir / "server.stdout", self.log_dir / "server.stderr")
        return "\n".join(p.read_text(errors="replace") for p in paths)

    def client(self) -> httpx.Client:
        # trust_env=False: no proxy from the environment, only this server.
        return httpx.Client(base_url=self.base_url, timeout=10.0, trust_env=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment(**settings: str) -> dict[str, str]:
    """This process's environment without ``ABILITY_*``, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABILITY_")}
    env.update({"PYTHONUNBUFFERED": "1", "ABILITY_LOG_LEVEL": "WARNING", **settings})
    return env


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    with server.client() as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"ability serve exited early:\n{server.output()}")
            try:
                if client.get("/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"ability serve not ready in {READY_TIMEOUT} s:\n{server.output()}")


@contextmanager
def running_server(
    cwd: Path, env: dict[str, str], workers: int = 1, wait_ready: bool = True
) -> Iterator[Server]:
    """``ability serve`` on a free loopback port, stopped by its pid at exit
    (uvicorn then stops its worker processes). Yields once it is ready, or
    at once without ``wait_ready``."""
    port = _free_port()
    command = [str(ABILITY), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    with (
        (cwd / "server.stdout").open("wb") as stdout,
        (cwd / "server.stderr").open("wb") as stderr,
    ):
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=stdout, stderr=stderr
        )
        try:
            server = Server(process, f"http://127.0.0.1:{port}", cwd)
            if wait_ready:
                _wait_ready(server)
            yield server
        finally:
            stop_process(process)
