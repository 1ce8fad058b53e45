"""Which role reaches what: reporters read reports only, members submit and
read, and a user holding several roles gets what each of them allows."""

from __future__ import annotations

from typing import Any

import pytest

from ability.auth.roles import Role
from tests.conftest import Api
from tests.factories import Tenant

STATS = "/reports/applications/stats"
STATS_RANGE = {"start_date": "2025-01-01", "end_date": "2025-01-31"}


def _new_application(workflow_id: int) -> dict[str, Any]:
    return {"title": "Desk lamp", "workflow_id": workflow_id}


def _outside_reports(
    tenant: Tenant, workflow_id: int, app_id: int, job_id: int
) -> list[tuple[str, str, dict[str, Any]]]:
    """One request per route a reporter must not reach: method, path, kwargs."""
    act = {"action": "comment", "comment": "looks fine"}
    batch = {"application_ids": [app_id], "action": "comment"}
    return [
        ("GET", "/applications", {}),
        ("GET", "/applications/search", {"params": {"query": "laptop"}}),
        ("GET", f"/applications/{app_id}", {}),
        ("GET", f"/applications/{app_id}/history", {}),
        ("POST", "/applications", {"json": _new_application(workflow_id)}),
        (
            "POST",
            "/applications/bulk",
            {"json": {"applications": [_new_application(workflow_id)]}},
        ),
        ("PATCH", f"/applications/{app_id}", {"json": {"title": "Renamed"}}),
        ("POST", f"/applications/{app_id}/progress", {"json": act}),
        ("POST", f"/applications/{app_id}/progress", {"json": {"action": "reject"}}),
        ("POST", "/applications/batch/process", {"json": batch}),
        (
            "POST",
            "/applications/import",
            {"json": {"applications": [_new_application(workflow_id)]}},
        ),
        ("GET", f"/jobs/{job_id}", {}),
        ("GET", "/workflows", {}),
        ("GET", f"/workflows/{workflow_id}", {}),
        ("GET", f"/companies/{tenant.company_id}", {}),
    ]


def _batch_job(api: Api, tenant: Tenant, app_id: int) -> int:
    response = api.client.post(
        "/applications/batch/process",
        headers=tenant.headers("member"),
        json={"application_ids": [app_id], "action": "comment"},
    )
    assert response.status_code == 202, response.text
    api.wait_for_jobs()
    job_id: int = response.json()["job_id"]
    return job_id


class TestReporter:
    def test_every_route_outside_reports_is_403(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        app = api.submit(tenant, workflow_id)
        job_id = _batch_job(api, tenant, app["id"])
        requests = _outside_reports(tenant, workflow_id, app["id"], job_id)
        headers = tenant.headers("reporter")

        answers = [
            (method, path, api.client.request(method, path, headers=headers, **kw))
            for method, path, kw in requests
        ]

        assert [(m, p, r.status_code) for m, p, r in answers] == [
            (m, p, 403) for m, p, _ in requests
        ]
        assert {r.json()["error"] for _, _, r in answers} == {"ForbiddenError"}

    def test_refused_actions_change_nothing(self, api: Api) -> None:
        tenant = api.tenant()
        app = api.submit(tenant, api.workflow(tenant))

        comment = api.act(tenant, "reporter", app["id"], "comment", comment="hi")
        reject = api.act(tenant, "reporter", app["id"], "reject")

        assert comment.status_code == reject.status_code == 403
        assert api.history(tenant, app["id"]) == []
        current = api.client.get(
            f"/applications/{app['id']}", headers=tenant.headers()
        ).json()
        assert (current["status"], current["version"]) == ("pending", 1)

    def test_reports_and_own_profile_stay_open(self, api: Api) -> None:
        tenant = api.tenant()

        stats = api.client.get(
            STATS, headers=tenant.headers("reporter"), params=STATS_RANGE
        )
        me = api.client.get("/users/me", headers=tenant.headers("reporter"))

        assert stats.status_code == 200
        assert me.status_code == 200
        assert me.json()["roles"] == ["reporter"]


class TestMember:
    def test_submits_and_reads_but_gets_no_reports(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)

        created = api.submit(tenant, workflow_id, who="member")
        listed = api.client.get("/applications", headers=tenant.headers("member"))
        stats = api.client.get(
            STATS, headers=tenant.headers("member"), params=STATS_RANGE
        )

        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
        assert stats.status_code == 403


class TestSeveralRoles:
    @pytest.mark.parametrize(
        "roles",
        [[Role.REPORTER, Role.MEMBER], [Role.REPORTER, Role.REVIEWER]],
        ids=["reporter+member", "reporter+reviewer"],
    )
    def test_roles_add_up(self, api: Api, roles: list[Role]) -> None:
        tenant = api.tenant()
        headers = api.user(tenant, "both", roles)
        app = api.submit(tenant, api.workflow(tenant))

        read = api.client.get(f"/applications/{app['id']}", headers=headers)
        commented = api.client.post(
            f"/applications/{app['id']}/progress",
            headers=headers,
            json={"action": "comment", "comment": "seen"},
        )
        stats = api.client.get(STATS, headers=headers, params=STATS_RANGE)

        assert read.status_code == 200
        assert commented.status_code == 200
        assert stats.status_code == 200

    def test_reporter_and_member_still_cannot_approve_a_reviewer_step(
        self, api: Api
    ) -> None:
        tenant = api.tenant()
        headers = api.user(tenant, "both", [Role.REPORTER, Role.MEMBER])
        app = api.submit(tenant, api.workflow(tenant))

        response = api.client.post(
            f"/applications/{app['id']}/progress",
            headers=headers,
            json={"action": "approve"},
        )

        assert response.status_code == 403
