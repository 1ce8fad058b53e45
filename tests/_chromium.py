"""Headless Chromium driven over the DevTools protocol, for page tests.

The browser runs with a new empty profile, talks to nothing but loopback
servers the test starts, and is stopped by its pid. Each ``Page`` is a tab
with its own websocket; it keeps the console messages, uncaught exceptions
and browser log entries it sees, so a test can assert there were none.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.servers import stop_process, unavailable

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
]
START_TIMEOUT = 30.0
CALL_TIMEOUT = 15.0


class DevToolsError(Exception):
    def __init__(self, method: str, error: Any) -> None:
        super().__init__(f"{method}: {error}")


@dataclass
class Page:
    """One browser tab: protocol calls, page script and what it logged."""

    target_id: str
    connection: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait (bounded) for its answer."""
        message_id = next(self._ids)
        self.connection.send(
            json.dumps({"id": message_id, "method": method, "params": params})
        )
        deadline = time.monotonic() + CALL_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            message = json.loads(self.connection.recv(timeout=remaining))
            if message.get("id") == message_id:
                if "error" in message:
                    raise DevToolsError(method, message["error"])
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)
        raise TimeoutError(f"no answer to {method} in {CALL_TIMEOUT} s")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` (awaited if it is a promise)."""
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        """Evaluate ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        seen = len(self.events)
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + CALL_TIMEOUT
        while time.monotonic() < deadline:
            if any(
                e.get("method") == "Page.loadEventFired" for e in self.events[seen:]
            ):
                return
            self._read_events(0.2)
        raise AssertionError(f"{url} did not load in {CALL_TIMEOUT} s")

    def screenshot(self, path: Path) -> bytes:
        """Capture the whole page as PNG into ``path``; its bytes."""
        result = self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True
        )
        png = base64.b64decode(result["data"])
        path.write_bytes(png)
        return png

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors so far."""
        self._read_events(0.3)
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in (
                "error",
                "assert",
            ):
                found.append(f"console.{params['type']}: {params['args']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']}")
        return found

    def _read_events(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.connection.recv(timeout=remaining)))
            except TimeoutError:
                return


@dataclass
class Browser:
    process: subprocess.Popen[bytes]
    port: int

    def _http(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=10.0, trust_env=False
        )

    @contextlib.contextmanager
    def page(self) -> Iterator[Page]:
        """A new tab (its own session storage), closed at exit."""
        with self._http() as http:
            target = http.put("/json/new?about:blank").raise_for_status().json()
            try:
                with connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
                    page = Page(target["id"], ws)
                    for domain in ("Page", "Runtime", "Log"):
                        page.call(f"{domain}.enable")
                    yield page
            finally:
                http.get(f"/json/close/{target['id']}")


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """Chromium writes the port it chose to its profile directory."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        time.sleep(0.1)
    raise RuntimeError(f"chromium opened no DevTools port in {START_TIMEOUT} s")


@contextlib.contextmanager
def chromium(directory: Path) -> Iterator[Browser]:
    """Headless Chromium with a new profile in ``directory``."""
    binary = shutil.which("chromium")
    if binary is None:
        unavailable("chromium is not installed")
        raise AssertionError  # unreachable: unavailable() raises
    profile = directory / "profile"
    profile.mkdir()
    command = [
        binary,
        *FLAGS,
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    with (directory / "chromium.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield Browser(process, _devtools_port(profile, process))
    finally:
        stop_process(process)
