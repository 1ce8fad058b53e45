"""``ability serve`` on the command line: what it prints, and when."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._live import ABILITY, running_server, server_environment

pytestmark = pytest.mark.slow

BANNER = "Demo logins"
TIMEOUT = 60.0


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port: int = sock.getsockname()[1]
        yield port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class TestServe:
    def test_a_busy_port_is_one_line_and_exit_1_without_the_banner(
        self, tmp_path: Path, busy_port: int
    ) -> None:
        command = [str(ABILITY), "serve", "--port", str(busy_port)]

        done = subprocess.run(
            command,
            cwd=tmp_path,
            env=server_environment(),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )

        output = (done.stdout + done.stderr).decode()
        assert done.returncode == 1
        assert output.strip().splitlines() == [
            f"Cannot listen on 127.0.0.1:{busy_port}: Address already in use"
        ]
        assert not (tmp_path / "ability.db").exists()  # refused before migrating

    @pytest.mark.parametrize("workers", [1, 2])
    def test_the_banner_comes_once_the_port_listens(
        self, tmp_path: Path, workers: int
    ) -> None:
        env = server_environment()
        with running_server(tmp_path, env, workers, wait_ready=False) as server:
            port = int(server.base_url.rsplit(":", 1)[1])
            deadline = time.monotonic() + TIMEOUT
            while BANNER not in server.output() and time.monotonic() < deadline:
                assert server.process.poll() is None, server.output()
                time.sleep(0.002)
            listening_at_banner = _accepts(port)
            with server.client() as http:
                ready = http.get("/health/ready", timeout=TIMEOUT)
            output = server.output()

        assert listening_at_banner
        assert ready.status_code == 200
        assert output.count(BANNER) == 1

    def test_the_demo_comes_only_to_an_empty_database(self, tmp_path: Path) -> None:
        env = server_environment()
        seeded = subprocess.run(
            [str(ABILITY), "seed", "--companies", "1", "--applications", "5"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert seeded.returncode == 0, seeded.stderr.decode()

        with running_server(tmp_path, env) as server, server.client() as http:
            demo = http.post(
                "/auth/login",
                json={"email": "admin@demo.example", "password": "demo-password"},
            )
            output = server.output()

        assert demo.status_code == 401
        assert BANNER not in output
