"""End to end: ``ability serve`` as a real process, driven over HTTP.

One user story from an empty database to reports, checked against what the
story did, plus the demo that a first ``ability serve`` sets up by itself.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._live import running_server, server_environment
from tests.backends import flushed_redis, fresh_postgres_database
from tests.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.slow

ADMIN_EMAIL = "root@platform.example"
ADMIN_PASSWORD = "platform-admin-password"
PASSWORD = "story-password-1"
JOB_TIMEOUT = 20.0
SECONDS = 0.01  # SQLite date functions keep milliseconds; sums add a little


@dataclass
class Story:
    """The client, who is logged in, and what the story has done so far."""

    http: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    apps: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[int, str] = field(default_factory=dict)

    def call(
        self, who: str, method: str, url: str, status: int = 200, **kw: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        response = self.http.request(method, url, headers=headers, **kw)
        assert response.status_code == status, (method, url, response.text)
        return None if status == 204 else response.json()

    def login(self, who: str, email: str, password: str = PASSWORD) -> None:
        response = self.http.post(
            "/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        self.tokens[who] = response.json()["access_token"]

    def app(self, kind: str, n: int) -> int:
        """The id of the n-th application of the ``P`` or ``E`` workflow."""
        own = [a for a in self.apps if a["workflow_id"] == self.ids[kind]]
        app_id: int = own[n]["id"]
        return app_id

    def act(self, who: str, app_id: int, action: str, **body: Any) -> None:
        url = f"/applications/{app_id}/progress"
        self.call(who, "POST", url, json={"action": action, **body})

    def collect(self, who: str, url: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a keyset-paginated list, following next_cursor."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(100):
            query = {**params, "cursor": cursor} if cursor else params
            page = self.call(who, "GET", url, params=query)
            items.extend(page["items"])
            if not page["has_more"]:
                return items
            cursor = page["next_cursor"]
            assert cursor
        pytest.fail("pagination did not end within 100 pages")


# Applications that mention "zeppelin", keyed by (workflow, n-th of it).
SEARCHABLE = {
    ("P", 5): ("Zeppelin hangar lease", "Zeppelin zeppelin storage for the fleet."),
    ("P", 25): (
        "Hangar doors repair",
        "The left door sticks in winter; the old zeppelin mooring mast "
        "next to it needs paint, new bolts, a survey and a safety check.",
    ),
    ("E", 3): ("Zeppelin model kit", "A hobby kit for the office shelf."),
    ("P", 39): ("Zeppelin spare parts", "Ordered twice by mistake."),
}
ITEMS = ("Laptop", "Monitor", "Desk chair", "Printer", "Headset")


def _name(email: str) -> str:
    return email.split("@")[0]


def _setup_tenants(story: Story, suffix: str) -> None:
    story.login("root", ADMIN_EMAIL, ADMIN_PASSWORD)
    for key, name in (("acme", "Acme"), ("other", "Other")):
        company = story.call(
            "root", "POST", "/companies", 201, json={"name": f"{name} {suffix}"}
        )
        story.ids[key] = company["id"]
    people = {
        f"admin@acme-{suffix}.example": ("acme", ["admin"]),
        f"reviewer@acme-{suffix}.example": ("acme", ["reviewer"]),
        f"approver@acme-{suffix}.example": ("acme", ["approver"]),
        f"reporter@acme-{suffix}.example": ("acme", ["reporter"]),
        f"member@acme-{suffix}.example": ("acme", ["member"]),
        f"outsider@other-{suffix}.example": ("other", ["admin"]),
    }
    for email, (company, roles) in people.items():
        body = {
            "email": email,
            "password": PASSWORD,
            "roles": roles,
            "company_id": story.ids[company],
        }
        user = story.call("root", "POST", "/users", 201, json=body)
        assert user["company_id"] == story.ids[company]
        assert not user["is_platform_admin"]
        story.ids[_name(email)] = user["id"]
        story.login(_name(email), email)

    me = story.call("admin", "GET", "/users/me")
    assert me["company_id"] == story.ids["acme"]
    assert me["roles"] == ["admin"]


def _create_workflows(story: Story) -> None:
    two_step = {
        "name": "Purchase",
        "workflow_type": "purchase",
        "steps": [
            {"name": "Review", "order": 1, "required_role": "reviewer"},
            {"name": "Approve", "order": 2, "required_role": "approver"},
        ],
    }
    one_step = {
        "name": "Expense",
        "workflow_type": "expense",
        "steps": [{"name": "Approve", "order": 1, "required_role": "approver"}],
    }
    for kind, body in (("P", two_step), ("E", one_step)):
        workflow = story.call("admin", "POST", "/workflows", 201, json=body)
        assert workflow["company_id"] == story.ids["acme"]
        assert workflow["version"] == 1
        assert [s["order"] for s in workflow["steps"]] == list(
            range(1, len(body["steps"]) + 1)
        )
        story.ids[kind] = workflow["id"]


def _create_applications(story: Story) -> None:
    """50 applications; every fifth goes to the one-step workflow."""
    seen: Counter[str] = Counter()
    for i in range(50):
        kind = "E" if i % 5 == 4 else "P"
        n = seen[kind]
        seen[kind] += 1
        title, description = SEARCHABLE.get(
            (kind, n), (f"{ITEMS[i % 5]} number {i:02d}", f"Routine request {i}.")
        )
        body = {
            "title": title,
            "description": description,
            "workflow_id": story.ids[kind],
            "metadata": {"n": i},
        }
        app = story.call("member", "POST", "/applications", 201, json=body)
        assert app["status"] == "pending"
        assert app["current_step"] == 1
        assert app["created_by"] == story.ids["member"]
        story.apps.append(app)
        story.expected[app["id"]] = "pending"
    assert seen == {"P": 40, "E": 10}


def _newest_first(apps: list[dict[str, Any]]) -> list[int]:
    key = [(datetime.fromisoformat(a["created_at"]), a["id"]) for a in apps]
    return [ident for _, ident in sorted(key, reverse=True)]


def _check_page_numbers(story: Story) -> None:
    expected = _newest_first(story.apps)
    seen: list[int] = []
    for number in (1, 2, 3):
        page = story.call(
            "admin",
            "GET",
            "/applications",
            params={"page": number, "page_size": 20, "with_total": "true"},
        )
        assert page["total"] == 50
        assert page["page"] == number
        assert page["has_more"] is (number < 3)
        seen.extend(a["id"] for a in page["items"])
    assert seen == expected

    without = story.call("admin", "GET", "/applications")
    assert without.get("total") is None
    assert len(without["items"]) == 20


def _check_cursors(story: Story) -> None:
    expected = _newest_first(story.apps)
    newest = story.collect("admin", "/applications", page_size=7)
    oldest = story.collect("admin", "/applications", page_size=7, sort="created_at")
    assert [a["id"] for a in newest] == expected
    assert [a["id"] for a in oldest] == expected[::-1]


def _check_filters(story: Story) -> None:
    for kind, count in (("P", 40), ("E", 10)):
        items = story.collect(
            "admin", "/applications", page_size=100, workflow_id=story.ids[kind]
        )
        assert len(items) == count
        assert {a["workflow_id"] for a in items} == {story.ids[kind]}

    low, high = story.apps[10]["created_at"], story.apps[30]["created_at"]
    low_at, high_at = datetime.fromisoformat(low), datetime.fromisoformat(high)
    inside = [
        a
        for a in story.apps
        if low_at <= datetime.fromisoformat(a["created_at"]) <= high_at
    ]
    # The query string may name the bounds in either order.
    for bounds in (
        {"created_after": low, "created_before": high},
        {"created_before": high, "created_after": low},
    ):
        found = story.collect("admin", "/applications", page_size=100, **bounds)
        assert [a["id"] for a in found] == _newest_first(inside)
    story.call(
        "admin",
        "GET",
        "/applications",
        422,
        params={"created_after": high, "created_before": low},
    )


def _check_gzip(story: Story) -> None:
    auth = {"Authorization": f"Bearer {story.tokens['admin']}"}
    large = story.http.get(
        "/applications",
        params={"page_size": 50},
        headers={**auth, "Accept-Encoding": "gzip"},
    )
    assert large.status_code == 200
    assert large.headers.get("content-encoding") == "gzip"
    assert len(large.json()["items"]) == 50  # httpx has decompressed it

    plain = story.http.get(
        "/applications",
        params={"page_size": 50},
        headers={**auth, "Accept-Encoding": "identity"},
    )
    assert "content-encoding" not in plain.headers

    outsider = {"Authorization": f"Bearer {story.tokens['outsider']}"}
    tiny = story.http.get(
        "/applications", headers={**outsider, "Accept-Encoding": "gzip"}
    )
    assert tiny.status_code == 200
    assert len(tiny.content) < 1000
    assert "content-encoding" not in tiny.headers


def _search(story: Story, query: str, **params: Any) -> list[int]:
    page = story.call(
        "admin",
        "GET",
        "/applications/search",
        params={"query": query, "page_size": 100, **params},
    )
    return [a["id"] for a in page["items"]]


def _check_search(story: Story) -> None:
    best, doors, kit, spare = (story.app(k, n) for k, n in SEARCHABLE)

    found = _search(story, "Zeppelin")
    assert found[0] == best
    assert set(found) == {best, doors, kit, spare}
    assert set(_search(story, "zeppelin HANGAR")) == {best, doors}
    assert _search(story, "zeppelin nothing-like-this") == []
    assert set(_search(story, "laptop")) == {
        a["id"] for a in story.apps if a["title"].startswith("Laptop")
    }


def _progress(story: Story) -> None:
    """Move applications along; the expected final status of each is noted."""
    for n in range(25):
        app_id = story.app("P", n)
        if n < 15 or 20 <= n < 23:
            if n == 10:  # a comment is history, not a decision
                story.act("reviewer", app_id, "comment", comment="Checking")
            story.act("reviewer", app_id, "approve")
            story.expected[app_id] = "in_progress"
        elif n < 20:
            story.act("reviewer", app_id, "reject", comment="Not needed")
            story.expected[app_id] = "rejected"
        else:
            story.act("admin", app_id, "cancel")
            story.expected[app_id] = "cancelled"
    for n in (*range(10), 20, 21, 22):
        app_id = story.app("P", n)
        story.act("approver", app_id, "approve" if n < 10 else "reject")
        story.expected[app_id] = "completed" if n < 10 else "rejected"
    for n in range(5):
        app_id = story.app("E", n)
        story.act("approver", app_id, "approve" if n < 4 else "reject")
        story.expected[app_id] = "completed" if n < 4 else "rejected"


def _check_refusals(story: Story) -> None:
    pending, done = story.app("P", 30), story.app("P", 0)
    body = {"action": "approve"}
    # The first step needs a reviewer: the approver may not take it.
    story.call("approver", "POST", f"/applications/{pending}/progress", 403, json=body)
    story.call("reviewer", "POST", f"/applications/{done}/progress", 409, json=body)
    story.call("member", "DELETE", f"/applications/{pending}", 403)
    story.call("reviewer", "GET", "/reports/workflows/analytics", 403)


def _run_batch(story: Story) -> None:
    ids = [story.app("E", 5), story.app("E", 6)]
    accepted = story.call(
        "admin",
        "POST",
        "/applications/batch/process",
        202,
        json={"application_ids": ids, "action": "approve"},
    )
    assert accepted["total"] == 2
    job = _wait_for_job(story, "admin", accepted["job_id"])
    assert (job["status"], job["processed"], job["succeeded"]) == ("succeeded", 2, 2)
    assert job["errors"] == []
    story.ids["job"] = job["id"]
    for app_id in ids:
        story.expected[app_id] = "completed"


def _wait_for_job(story: Story, who: str, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        job: dict[str, Any] = story.call(who, "GET", f"/jobs/{job_id}")
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} did not finish in {JOB_TIMEOUT} s")


def _delete_one(story: Story) -> None:
    gone = story.app("P", 39)
    story.call("admin", "DELETE", f"/applications/{gone}", 204)
    story.call("admin", "GET", f"/applications/{gone}", 404)
    story.call("admin", "GET", f"/applications/{gone}/history", 404)
    del story.expected[gone]


def _check_statuses(story: Story) -> None:
    by_status: dict[str, set[int]] = defaultdict(set)
    for app_id, status in story.expected.items():
        by_status[status].add(app_id)
    counts = {status: len(ids) for status, ids in by_status.items()}
    assert counts == {
        "completed": 16,
        "in_progress": 5,
        "rejected": 9,
        "cancelled": 2,
        "pending": 17,
    }

    for status, ids in by_status.items():
        found = story.collect("admin", "/applications", status=status, page_size=100)
        assert {a["id"] for a in found} == ids
    active = story.collect("admin", "/applications", status="active", page_size=100)
    assert {a["id"] for a in active} == by_status["pending"] | by_status["in_progress"]
    both = story.call(
        "admin",
        "GET",
        "/applications",
        params={"status": ["rejected", "cancelled"], "with_total": "true"},
    )
    assert both["total"] == 11
    everything = story.collect("admin", "/applications", page_size=100)
    assert {a["id"]: a["status"] for a in everything} == story.expected


def _check_search_after_changes(story: Story) -> None:
    best, doors, kit, _deleted = (story.app(k, n) for k, n in SEARCHABLE)

    found = _search(story, "zeppelin")
    assert found[0] == best
    assert set(found) == {best, doors, kit}
    assert _search(story, "zeppelin", status="pending") == [doors]
    assert set(_search(story, "zeppelin", status="completed")) == {best, kit}


def _check_history(story: Story) -> None:
    reviewer, approver = story.ids["reviewer"], story.ids["approver"]
    # A reporter reads reports only, not the applications behind them.
    story.call("reporter", "GET", f"/applications/{story.app('P', 0)}/history", 403)
    cases = {
        story.app("P", 0): [
            (1, "Review", "approve", reviewer),
            (2, "Approve", "approve", approver),
        ],
        story.app("P", 10): [
            (1, "Review", "comment", reviewer),
            (1, "Review", "approve", reviewer),
        ],
        story.app("P", 20): [
            (1, "Review", "approve", reviewer),
            (2, "Approve", "reject", approver),
        ],
        story.app("P", 23): [(1, "Review", "cancel", story.ids["admin"])],
        story.app("E", 5): [(1, "Approve", "approve", story.ids["admin"])],
        story.app("P", 30): [],
    }
    for app_id, expected in cases.items():
        history = story.call("member", "GET", f"/applications/{app_id}/history")
        got = [
            (h["step_order"], h["step_name"], h["action"], h["actor_id"])
            for h in history
        ]
        assert got == expected, app_id
        times = [datetime.fromisoformat(h["at"]) for h in history]
        assert times == sorted(times)


def _seconds(later: str, earlier: str) -> float:
    delta = datetime.fromisoformat(later) - datetime.fromisoformat(earlier)
    return delta.total_seconds()


def _check_stats(story: Story, final: dict[int, dict[str, Any]]) -> None:
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=1), today + timedelta(days=1)
    stats = story.call(
        "reporter",
        "GET",
        "/reports/applications/stats",
        params={"start_date": start.isoformat(), "end_date": end.isoformat()},
    )

    assert stats["total"] == 49
    assert stats["by_status"] == dict(Counter(story.expected.values()))
    per_day = Counter(
        datetime.fromisoformat(a["created_at"]).astimezone(UTC).date().isoformat()
        for a in final.values()
    )
    assert stats["created_per_day"] == [
        {"date": day.isoformat(), "count": per_day.get(day.isoformat(), 0)}
        for day in (start, today, end)
    ]
    durations = [
        _seconds(a["updated_at"], a["created_at"])
        for a in final.values()
        if a["status"] == "completed"
    ]
    assert stats["median_seconds_to_complete"] == pytest.approx(
        statistics.median(durations), abs=SECONDS
    )


def _step_times(
    story: Story, final: dict[int, dict[str, Any]], kind: str
) -> dict[int, list[float]]:
    """Per step, the seconds each decision took since the previous one."""
    times: dict[int, list[float]] = defaultdict(list)
    for app_id, app in final.items():
        if app["workflow_id"] != story.ids[kind]:
            continue
        previous = app["created_at"]
        for entry in story.call("admin", "GET", f"/applications/{app_id}/history"):
            if entry["action"] in ("approve", "reject"):
                times[entry["step_order"]].append(_seconds(entry["at"], previous))
                previous = entry["at"]
    return times


# Per workflow: applications, completed, rejected, open, decisions per step.
OUTCOMES = {"P": (39, 10, 8, 19, [23, 13]), "E": (10, 6, 1, 3, [7])}


def _check_analytics(story: Story, final: dict[int, dict[str, Any]]) -> None:
    report = story.call("reporter", "GET", "/reports/workflows/analytics")

    items = {item["workflow_id"]: item for item in report["items"]}
    assert set(items) == {story.ids["P"], story.ids["E"]}
    for kind, (total, completed, rejected, open_, decisions) in OUTCOMES.items():
        item = items[story.ids[kind]]
        assert item["name"] == {"P": "Purchase", "E": "Expense"}[kind]
        assert (item["applications"], item["completed"]) == (total, completed)
        assert (item["rejected"], item["open"]) == (rejected, open_)
        assert item["completion_rate"] == pytest.approx(completed / total)
        steps = item["mean_seconds_per_step"]
        assert [s["decisions"] for s in steps] == decisions
        _check_step_times(item, _step_times(story, final, kind))


def _check_step_times(item: dict[str, Any], times: dict[int, list[float]]) -> None:
    steps = item["mean_seconds_per_step"]
    assert [s["step_order"] for s in steps] == sorted(times)
    for step in steps:
        spent = times[step["step_order"]]
        assert step["decisions"] == len(spent)
        assert step["mean_seconds"] == pytest.approx(
            statistics.fmean(spent), abs=SECONDS
        )

    means = {order: statistics.fmean(spent) for order, spent in times.items()}
    ranked = sorted(means.values(), reverse=True)
    if len(ranked) == 1 or ranked[0] - ranked[1] > 10 * SECONDS:  # else a tie
        assert item["bottleneck_step"] == max(means, key=means.__getitem__)


def _check_isolation(story: Story) -> None:
    """The other company's admin sees none of it: 404s and empty lists."""
    app_id, pending = story.app("P", 0), story.app("P", 30)
    for url in (
        f"/applications/{app_id}",
        f"/applications/{app_id}/history",
        f"/workflows/{story.ids['P']}",
        f"/jobs/{story.ids['job']}",
        f"/companies/{story.ids['acme']}",
    ):
        story.call("outsider", "GET", url, 404)
    story.call(
        "outsider", "PATCH", f"/applications/{pending}", 404, json={"title": "Mine"}
    )
    story.call(
        "outsider",
        "POST",
        f"/applications/{pending}/progress",
        404,
        json={"action": "approve"},
    )
    story.call("outsider", "DELETE", f"/applications/{pending}", 404)
    story.call(
        "outsider",
        "POST",
        "/applications",
        404,
        json={"title": "Sneaky", "workflow_id": story.ids["P"]},
    )

    _check_isolated_lists(story)
    _check_isolated_batch(story, pending)


def _check_isolated_lists(story: Story) -> None:
    listed = story.call(
        "outsider", "GET", "/applications", params={"with_total": "true"}
    )
    assert (listed["items"], listed["total"]) == ([], 0)
    by_workflow = story.call(
        "outsider", "GET", "/applications", params={"workflow_id": story.ids["P"]}
    )
    assert by_workflow["items"] == []
    found = story.call(
        "outsider", "GET", "/applications/search", params={"query": "zeppelin"}
    )
    assert found["items"] == []
    assert story.call("outsider", "GET", "/workflows")["items"] == []
    stats = story.call("outsider", "GET", "/reports/applications/stats")
    assert stats["total"] == 0
    analytics = story.call("outsider", "GET", "/reports/workflows/analytics")
    assert analytics["items"] == []
    story.call(
        "outsider",
        "GET",
        "/applications",
        403,
        params={"company_id": story.ids["acme"]},
    )


def _check_isolated_batch(story: Story, pending: int) -> None:
    accepted = story.call(
        "outsider",
        "POST",
        "/applications/batch/process",
        202,
        json={"application_ids": [pending], "action": "reject"},
    )
    job = _wait_for_job(story, "outsider", accepted["job_id"])
    assert (job["status"], job["failed"]) == ("failed", 1)
    assert [e["application_id"] for e in job["errors"]] == [pending]
    story.call("admin", "GET", f"/jobs/{job['id']}", 404)
    assert story.call("admin", "GET", f"/applications/{pending}")["status"] == (
        "pending"
    )


def _storage(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> dict[str, str]:
    """The story's database (and cache) for ``backend``."""
    if backend == "sqlite":
        return {"ABILITY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'story.db'}"}
    postgres: PostgresServer = request.getfixturevalue("postgres")
    redis: RedisServer = request.getfixturevalue("redis_server_")
    return {
        "ABILITY_DATABASE_URL": fresh_postgres_database(postgres),
        "ABILITY_REDIS_URL": flushed_redis(redis),
        "ABILITY_JOB_RUNNER": "inprocess",
    }


def test_a_company_runs_its_approvals_end_to_end(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    env = server_environment(
        **_storage(request, backend, tmp_path),
        ABILITY_ADMIN_EMAIL=ADMIN_EMAIL,
        ABILITY_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    with running_server(tmp_path, env) as server, server.client() as http:
        story = Story(http)
        _setup_tenants(story, "e2e")
        _create_workflows(story)
        _create_applications(story)

        _check_gzip(story)
        _check_page_numbers(story)
        _check_cursors(story)
        _check_filters(story)
        _check_search(story)

        _progress(story)
        _check_refusals(story)
        _run_batch(story)
        _delete_one(story)
        final = {
            a["id"]: a for a in story.collect("admin", "/applications", page_size=100)
        }

        _check_statuses(story)
        _check_search_after_changes(story)
        _check_history(story)
        _check_stats(story, final)
        _check_analytics(story, final)
        _check_isolation(story)

    output = server.output()
    assert "Traceback" not in output
    assert "http.unhandled" not in output  # no 500 on the way


def test_a_first_start_without_settings_serves_the_demo(tmp_path: Path) -> None:
    with (
        running_server(tmp_path, server_environment()) as server,
        server.client() as http,
    ):
        output = server.output()
        login = http.post(
            "/auth/login",
            json={"email": "admin@demo.example", "password": "demo-password"},
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        listed = http.get(
            "/applications",
            params={"with_total": "true"},
            headers={"Authorization": f"Bearer {token}"},
        )

    assert "Demo logins" in output
    for email in ("admin@demo.example", "reviewer@demo.example"):
        assert email in output
    assert "demo-password" in output
    hint = f"curl -s {server.base_url}/auth/login -H 'content-type: application/json'"
    assert any(hint in line for line in output.splitlines()), output
    assert (tmp_path / "ability.db").exists()
    assert listed.status_code == 200
    assert listed.json()["total"] > 0
    assert listed.json()["items"]
