"""``POST /applications/{id}/progress``: the state machine, roles, versions
and two people acting at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ability.auth.roles import Role
from ability.workflow.schemas import Step, WorkflowWrite
from tests.conftest import Api
from tests.factories import Tenant, one_step_workflow


def _get(api: Api, tenant: Tenant, app_id: int) -> dict[str, Any]:
    response = api.client.get(f"/applications/{app_id}", headers=tenant.headers())
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _race(
    api: Api, tenant: Tenant, app_id: int, actors: list[str], body: dict[str, Any]
) -> list[int]:
    """Status codes of ``actors`` posting ``body`` at the same moment."""
    barrier = threading.Barrier(len(actors))

    def act(who: str) -> int:
        barrier.wait(timeout=10)
        response = api.client.post(
            f"/applications/{app_id}/progress", headers=tenant.headers(who), json=body
        )
        return response.status_code

    with ThreadPoolExecutor(len(actors)) as pool:
        return sorted(pool.map(act, actors))


def _final(api: Api, tenant: Tenant, how: str) -> int:
    """An application made final by ``how``: completed, rejected or cancelled."""
    app_id: int = api.submit(tenant, api.workflow(tenant))["id"]
    steps = {
        "completed": [("reviewer", "approve"), ("approver", "approve")],
        "rejected": [("reviewer", "reject")],
        "cancelled": [("member", "cancel")],
    }[how]
    for who, action in steps:
        assert api.act(tenant, who, app_id, action).status_code == 200
    return app_id


class TestProgress:
    def test_approving_the_first_step_moves_to_the_second(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.act(tenant, "reviewer", created["id"], "approve")

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "in_progress"
        assert body["current_step"] == 2
        assert body["version"] == created["version"] + 1
        assert body["id"] == created["id"]

    def test_approving_both_steps_completes(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        api.act(tenant, "reviewer", app_id, "approve")

        response = api.act(tenant, "approver", app_id, "approve")

        assert response.status_code == 200
        assert response.json()["status"] == "completed"
        assert response.json()["current_step"] is None
        assert _get(api, tenant, app_id)["status"] == "completed"

    def test_rejecting_the_first_step_rejects(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.act(tenant, "reviewer", app_id, "reject", comment="No budget")

        assert response.status_code == 200
        assert response.json()["status"] == "rejected"
        assert response.json()["current_step"] is None
        assert api.history(tenant, app_id)[0]["comment"] == "No budget"

    def test_rejecting_the_last_step_rejects(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        api.act(tenant, "reviewer", app_id, "approve")

        response = api.act(tenant, "approver", app_id, "reject")

        assert response.status_code == 200
        assert response.json()["status"] == "rejected"

    def test_comment_keeps_status_and_step(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.act(tenant, "approver", created["id"], "comment", comment="?")

        assert response.status_code == 200
        assert response.json()["status"] == "pending"
        assert response.json()["current_step"] == 1
        assert [row["action"] for row in api.history(tenant, created["id"])] == [
            "comment"
        ]

    def test_submitter_cancels(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.act(tenant, "member", app_id, "cancel")

        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        assert response.json()["current_step"] is None

    def test_admin_cancels_someone_elses_application(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        api.act(tenant, "reviewer", app_id, "approve")

        response = api.act(tenant, "admin", app_id, "cancel")

        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"

    def test_cancel_by_another_non_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.act(tenant, "reviewer", app_id, "cancel")

        assert response.status_code == 403
        assert _get(api, tenant, app_id)["status"] == "pending"

    def test_admin_may_approve_every_step(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        first = api.act(tenant, "admin", app_id, "approve")
        second = api.act(tenant, "admin", app_id, "approve")

        assert first.status_code == second.status_code == 200
        assert second.json()["status"] == "completed"

    @pytest.mark.parametrize(
        ("who", "action"),
        [
            ("approver", "approve"),
            ("member", "approve"),
            ("member", "reject"),
            ("approver", "reject"),
        ],
    )
    def test_wrong_role_for_the_first_step_is_403(
        self, api: Api, who: str, action: str
    ) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.act(tenant, who, app_id, action)

        assert response.status_code == 403
        assert _get(api, tenant, app_id)["version"] == 1
        assert api.history(tenant, app_id) == []

    def test_reviewer_cannot_approve_the_approver_step(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        api.act(tenant, "reviewer", app_id, "approve")

        response = api.act(tenant, "reviewer", app_id, "approve")

        assert response.status_code == 403
        assert _get(api, tenant, app_id)["current_step"] == 2

    @pytest.mark.parametrize("how", ["completed", "rejected", "cancelled"])
    @pytest.mark.parametrize("action", ["approve", "reject", "comment", "cancel"])
    def test_acting_on_a_final_application_is_409(
        self, api: Api, how: str, action: str
    ) -> None:
        tenant = api.tenant()
        app_id = _final(api, tenant, how)
        before = _get(api, tenant, app_id)
        rows = len(api.history(tenant, app_id))

        response = api.act(tenant, "admin", app_id, action)

        assert response.status_code == 409
        assert _get(api, tenant, app_id) == before
        assert len(api.history(tenant, app_id)) == rows

    def test_matching_expected_version_is_accepted(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.act(
            tenant, "reviewer", created["id"], "approve", expected_version=1
        )

        assert response.status_code == 200
        assert response.json()["version"] == 2

    def test_stale_expected_version_is_409_and_records_nothing(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        api.act(tenant, "member", app_id, "comment", comment="bump")

        response = api.act(tenant, "reviewer", app_id, "approve", expected_version=1)

        assert response.status_code == 409
        assert _get(api, tenant, app_id)["status"] == "pending"
        assert [row["action"] for row in api.history(tenant, app_id)] == ["comment"]

    def test_application_of_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        app_id = api.submit(other, api.workflow(other))["id"]

        response = api.act(tenant, "admin", app_id, "approve")

        assert response.status_code == 404
        assert _get(api, other, app_id)["status"] == "pending"

    def test_application_keeps_the_workflow_version_it_started_on(
        self, api: Api
    ) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        app_id = api.submit(tenant, workflow_id)["id"]
        replaced = api.client.put(
            f"/workflows/{workflow_id}",
            headers=tenant.headers("admin"),
            json=one_step_workflow().model_dump(mode="json"),
        )
        assert replaced.status_code == 200

        response = api.act(tenant, "reviewer", app_id, "approve")

        assert response.status_code == 200
        assert response.json()["workflow_version"] == 1
        assert response.json()["status"] == "in_progress"
        assert api.submit(tenant, workflow_id)["workflow_version"] == 2


class TestProgressRules:
    def test_quorum_step_needs_two_different_approvers(self, api: Api) -> None:
        tenant = api.tenant()
        api.user(tenant, "approver2", [Role.APPROVER])
        workflow = WorkflowWrite(
            name="Big spend",
            workflow_type="purchase",
            steps=[
                Step(
                    name="Board",
                    order=1,
                    required_role=Role.APPROVER,
                    approvals_required=2,
                )
            ],
        )
        app_id = api.submit(tenant, api.workflow(tenant, workflow))["id"]

        first = api.act(tenant, "approver", app_id, "approve")
        again = api.act(tenant, "approver", app_id, "approve")
        second = api.act(tenant, "approver2", app_id, "approve")

        assert first.status_code == 200
        assert first.json()["status"] == "pending"
        assert again.status_code == 409
        assert second.status_code == 200
        assert second.json()["status"] == "completed"

    def test_submitter_may_not_approve_a_no_self_approval_step(self, api: Api) -> None:
        tenant = api.tenant()
        workflow = WorkflowWrite(
            name="Four eyes",
            workflow_type="purchase",
            steps=[
                Step(
                    name="Check",
                    order=1,
                    required_role=Role.REVIEWER,
                    allow_self_approval=False,
                )
            ],
        )
        app_id = api.submit(tenant, api.workflow(tenant, workflow), who="reviewer")[
            "id"
        ]

        response = api.act(tenant, "reviewer", app_id, "approve")

        assert response.status_code == 403
        assert _get(api, tenant, app_id)["status"] == "pending"


class TestProgressConcurrency:
    """Two users act on the same step at once (two threads, one app)."""

    ROUNDS = 5

    def test_with_expected_version_exactly_one_wins(self, api: Api) -> None:
        tenant = api.tenant()
        api.user(tenant, "reviewer2", [Role.REVIEWER])
        workflow_id = api.workflow(tenant)

        for _ in range(self.ROUNDS):
            created = api.submit(tenant, workflow_id)
            body = {"action": "approve", "expected_version": created["version"]}

            codes = _race(api, tenant, created["id"], ["reviewer", "reviewer2"], body)

            assert codes == [200, 409]
            assert len(api.history(tenant, created["id"])) == 1
            current = _get(api, tenant, created["id"])
            assert (current["version"], current["current_step"]) == (2, 2)

    def test_without_expected_version_the_last_step_is_won_once(self, api: Api) -> None:
        tenant = api.tenant()
        api.user(tenant, "approver2", [Role.APPROVER])
        workflow_id = api.workflow(tenant, one_step_workflow())

        for _ in range(self.ROUNDS):
            app_id = api.submit(tenant, workflow_id)["id"]

            codes = _race(
                api, tenant, app_id, ["approver", "approver2"], {"action": "approve"}
            )

            assert codes == [200, 409]
            assert [row["action"] for row in api.history(tenant, app_id)] == ["approve"]
            assert _get(api, tenant, app_id)["status"] == "completed"

    def test_without_expected_version_a_middle_step_is_won_once(self, api: Api) -> None:
        # A loser that read before the winner wrote gets 409; one that read
        # after finds the application at step 2, which is not its step: 403.
        tenant = api.tenant()
        api.user(tenant, "reviewer2", [Role.REVIEWER])
        workflow_id = api.workflow(tenant)

        for _ in range(self.ROUNDS):
            app_id = api.submit(tenant, workflow_id)["id"]

            codes = _race(
                api, tenant, app_id, ["reviewer", "reviewer2"], {"action": "approve"}
            )

            assert codes in ([200, 409], [200, 403])
            assert len(api.history(tenant, app_id)) == 1
            assert _get(api, tenant, app_id)["current_step"] == 2
