"""What an operator reads: one JSON event per line, with request and company.

The log stream (stderr) holds nothing else: the first-run banner, which is
for people, goes to stdout."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ability.seed.demo import DEMO_PASSWORD
from tests._live import running_server, server_environment

pytestmark = pytest.mark.slow


def test_each_request_is_one_json_line_with_its_request_and_company(
    tmp_path: Path,
) -> None:
    env = server_environment(ABILITY_LOG_FORMAT="json", ABILITY_LOG_LEVEL="INFO")
    with running_server(tmp_path, env) as server, server.client() as client:
        token = client.post(
            "/auth/login",
            json={"email": "admin@demo.example", "password": DEMO_PASSWORD},
        ).json()["access_token"]
        me = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        listed = client.get(
            "/applications",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-42"},
        )
        client.get("/no/such/route", headers={"X-Request-ID": "trace-43"})
        server.process.terminate()
        server.process.wait(timeout=30)
        stderr = (server.log_dir / "server.stderr").read_text()
        events = [orjson.loads(line) for line in stderr.splitlines() if line]

    assert listed.status_code == 200
    assert listed.headers["x-request-id"] == "trace-42"
    requests = {e["request_id"]: e for e in events if e["event"] == "http.request"}
    line = requests["trace-42"]
    assert line["route"] == "/applications"
    assert line["status"] == 200
    assert line["company_id"] == me.json()["company_id"]
    assert line["level"] == "info"
    assert line["duration_ms"] > 0
    assert line["timestamp"].endswith("Z")
    # Unmatched paths keep their raw path out of the route label.
    assert requests["trace-43"]["route"] == "<unmatched>"
    assert requests["trace-43"]["status"] == 404
    assert {e["event"] for e in events} >= {"app.started", "http.request"}
