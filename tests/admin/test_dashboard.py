"""``GET /admin/dashboard`` in a real headless Chromium against a real
``ability serve``: sign in, live charts filled by traffic, no console errors.

The server and the browser are shared by the module; each test opens its own
tab, so its session storage (where the page keeps the token) starts empty.
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ability.config import Settings
from ability.main import create_app
from tests._chromium import Browser, Page, chromium
from tests._live import Server, running_server, server_environment
from tests._traffic import Traffic, sign_in

pytestmark = pytest.mark.slow

ADMIN_EMAIL = "ops@dashboard.test"
ADMIN_PASSWORD = "dashboard-password"
LINE_CHARTS = ("throughput", "errors", "cache", "pool", "memory")
FILL_TIMEOUT = 60.0
MAX_ROUNDS = 300
# Per chart: latency bars, plus line paths with at least two points.
CHART_MARKS = """
Object.fromEntries([...document.querySelectorAll("svg[data-chart]")].map(
  (svg) => [svg.dataset.chart,
            svg.querySelectorAll("rect.bar").length +
            [...svg.querySelectorAll("path.series")]
              .filter((p) => p.getAttribute("d").includes("L")).length]))
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("dashboard")
    env = server_environment(
        ABILITY_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'ability.db'}",
        ABILITY_SECRET_KEY="dashboard-test-secret-key-long-enough-for-hs256",
        ABILITY_ENV="test",
        ABILITY_SEED_DEMO="false",
        ABILITY_CACHE_WARM_COMPANIES="0",
        ABILITY_ADMIN_EMAIL=ADMIN_EMAIL,
        ABILITY_ADMIN_PASSWORD=ADMIN_PASSWORD,
        PROMETHEUS_MULTIPROC_DIR=str(work / "metrics"),
    )
    with running_server(work, env) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with chromium(tmp_path_factory.mktemp("chromium")) as started:
        yield started


@pytest.fixture
def traffic(live: Server) -> Iterator[Traffic]:
    with live.client() as http:
        load = Traffic(http, sign_in(http, ADMIN_EMAIL, ADMIN_PASSWORD))
        load.prepare()
        yield load


def open_dashboard(page: Page, server: Server) -> None:
    page.open(f"{server.base_url}/admin/dashboard?interval=1")
    page.wait_for("!document.getElementById('login').hidden", 10, "the form")


def submit(page: Page, email: str = "", password: str = "", token: str = "") -> None:
    fields = {"email": email, "password": password, "token": token}
    page.evaluate(
        f"for (const [id, value] of Object.entries({json.dumps(fields)}))"
        " document.getElementById(id).value = value;"
        " document.getElementById('sign-in').click();"
    )


def fill_charts(page: Page, traffic: Traffic) -> dict[str, int]:
    """Send traffic until every chart draws something (bounded)."""
    deadline = time.monotonic() + FILL_TIMEOUT
    marks: dict[str, int] = {}
    for _ in range(MAX_ROUNDS):
        traffic.round()
        marks = page.evaluate(CHART_MARKS)
        if all(marks.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return marks


def signed_in_with_charts(page: Page, server: Server, traffic: Traffic) -> None:
    open_dashboard(page, server)
    submit(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.wait_for("!document.getElementById('board').hidden", 15, "the charts")
    marks = fill_charts(page, traffic)
    assert set(marks) == {"latency", *LINE_CHARTS}
    assert all(marks.values()), marks


def draw_longer_lines(page: Page, traffic: Traffic, points: int) -> None:
    """Keep the traffic going until the throughput line has ``points``."""
    count = (
        "document.querySelector('svg[data-chart=throughput] path.series')"
        ".getAttribute('d').split('L').length"
    )
    deadline = time.monotonic() + FILL_TIMEOUT
    for _ in range(MAX_ROUNDS):
        if page.evaluate(count) >= points or time.monotonic() > deadline:
            return
        traffic.round()
        time.sleep(0.05)


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


class TestPage:
    def test_is_served_without_a_token_and_loads_nothing_from_elsewhere(
        self, sqlite_settings: Settings
    ) -> None:
        with TestClient(create_app(sqlite_settings)) as client:
            response = client.get("/admin/dashboard")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "connect-src 'self'" in policy
        assert "unsafe-inline" not in policy
        references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", response.text)
        assert references == ["data:,"]  # the empty favicon


class TestInChromium:
    def test_signed_in_admin_sees_live_charts_without_console_errors(
        self, live: Server, browser: Browser, traffic: Traffic
    ) -> None:
        with browser.page() as page:
            signed_in_with_charts(page, live, traffic)

            status = page.evaluate("document.getElementById('status').textContent")
            stored = page.evaluate(
                "sessionStorage.getItem('ability.dashboard.token') !== null"
            )
            routes = page.evaluate(
                "[...document.querySelectorAll('svg[data-chart=latency] text.label')]"
                ".map((t) => t.textContent)"
            )
            problems = page.problems()

        assert status.startswith("Updated")
        assert stored is True
        assert any("/applications/{application_id}" in route for route in routes)
        assert problems == []

    def test_screenshot_is_a_valid_png(
        self, live: Server, browser: Browser, traffic: Traffic, tmp_path: Path
    ) -> None:
        path = tmp_path / "dashboard.png"

        with browser.page() as page:
            signed_in_with_charts(page, live, traffic)
            draw_longer_lines(page, traffic, points=8)
            png = page.screenshot(path)

        width, height = png_size(path.read_bytes())
        assert width >= 1000
        assert height >= 600
        assert len(png) > 20_000  # charts and text, not a blank page

    def test_wrong_password_keeps_the_form_with_a_message(
        self, live: Server, browser: Browser
    ) -> None:
        with browser.page() as page:
            open_dashboard(page, live)

            submit(page, ADMIN_EMAIL, "not-the-password")
            message = page.wait_for(
                "document.getElementById('login-error').textContent", 10, "a message"
            )
            board_hidden = page.evaluate("document.getElementById('board').hidden")
            problems = page.problems()

        assert message == "Wrong email or password."
        assert board_hidden is True
        # The browser logs the refused sign-in itself; the page logs nothing.
        assert all("401" in p and p.startswith("log:") for p in problems), problems

    def test_a_refused_token_returns_to_the_form(
        self, live: Server, browser: Browser
    ) -> None:
        with browser.page() as page:
            open_dashboard(page, live)

            submit(page, token="not-a-token")
            message = page.wait_for(
                "document.getElementById('login-error').textContent", 10, "a message"
            )
            stored = page.evaluate("sessionStorage.getItem('ability.dashboard.token')")
            problems = page.problems()

        assert message == "The token was refused or has expired."
        assert stored is None
        assert all("401" in p and p.startswith("log:") for p in problems), problems
