"""``POST /applications/batch/process`` and ``GET /jobs/{id}``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.conftest import Api
from tests.factories import Tenant


def _submit_batch(
    api: Api, tenant: Tenant, ids: list[int], action: str, who: str = "admin"
) -> int:
    response = api.client.post(
        "/applications/batch/process",
        headers=tenant.headers(who),
        json={"application_ids": ids, "action": action, "comment": "batch"},
    )
    assert response.status_code == 202, response.text
    job_id: int = response.json()["job_id"]
    return job_id


def _job(api: Api, tenant: Tenant, job_id: int) -> dict[str, Any]:
    response = api.client.get(f"/jobs/{job_id}", headers=tenant.headers("admin"))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


class TestBatchProcess:
    def test_accepts_with_202_and_the_job_total(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        ids = [api.submit(tenant, workflow_id)["id"] for _ in range(3)]

        response = api.client.post(
            "/applications/batch/process",
            headers=tenant.headers("reviewer"),
            json={"application_ids": ids, "action": "approve"},
        )

        assert response.status_code == 202
        body = response.json()
        assert set(body) == {"job_id", "status", "total"}
        assert body["status"] == "queued"
        assert body["total"] == 3
        api.wait_for_jobs()

    def test_job_succeeds_and_each_application_gets_one_history_row(
        self, api: Api
    ) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        ids = [api.submit(tenant, workflow_id)["id"] for _ in range(4)]

        job_id = _submit_batch(api, tenant, ids, "approve", who="reviewer")
        api.wait_for_jobs()

        job = _job(api, tenant, job_id)
        assert job["status"] == "succeeded"
        assert (job["total"], job["processed"], job["succeeded"], job["failed"]) == (
            4,
            4,
            4,
            0,
        )
        assert job["errors"] == []
        assert job["kind"] == "batch_process"
        started, finished = job["started_at"], job["finished_at"]
        assert started is not None
        assert finished is not None
        assert datetime.fromisoformat(started) <= datetime.fromisoformat(finished)
        for app_id in ids:
            rows = api.history(tenant, app_id)
            assert len(rows) == 1
            assert rows[0]["action"] == "approve"
            assert rows[0]["comment"] == "batch"
            assert rows[0]["actor_id"] == tenant.users["reviewer"].user_id
            current = api.client.get(
                f"/applications/{app_id}", headers=tenant.headers()
            ).json()
            assert current["status"] == "in_progress"

    def test_partial_job_lists_each_failed_item(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        workflow_id = api.workflow(tenant)
        good = [api.submit(tenant, workflow_id)["id"] for _ in range(2)]
        finished = api.submit(tenant, workflow_id)["id"]
        api.act(tenant, "member", finished, "cancel")
        deleted = api.submit(tenant, workflow_id)["id"]
        api.client.delete(f"/applications/{deleted}", headers=tenant.headers())
        foreign = api.submit(other, api.workflow(other))["id"]
        ids = [*good, finished, deleted, foreign, 999_999]

        job_id = _submit_batch(api, tenant, ids, "reject")
        api.wait_for_jobs()

        job = _job(api, tenant, job_id)
        assert job["status"] == "partial"
        assert (job["total"], job["processed"], job["succeeded"], job["failed"]) == (
            6,
            6,
            2,
            4,
        )
        errors = {e["application_id"]: e["detail"] for e in job["errors"]}
        assert set(errors) == {finished, deleted, foreign, 999_999}
        assert all(detail for detail in errors.values())
        assert errors[foreign] == errors[999_999]
        for app_id in good:
            assert [r["action"] for r in api.history(tenant, app_id)] == ["reject"]
        assert len(api.history(tenant, finished)) == 1
        untouched = api.client.get(
            f"/applications/{foreign}", headers=other.headers()
        ).json()
        assert untouched["status"] == "pending"

    def test_job_fails_when_no_item_succeeds(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        ids = [api.submit(tenant, workflow_id)["id"] for _ in range(2)]

        job_id = _submit_batch(api, tenant, ids, "approve", who="member")
        api.wait_for_jobs()

        job = _job(api, tenant, job_id)
        assert job["status"] == "failed"
        assert (job["succeeded"], job["failed"]) == (0, 2)
        assert {e["application_id"] for e in job["errors"]} == set(ids)
        for app_id in ids:
            assert api.history(tenant, app_id) == []

    def test_comment_action_applies_to_every_application(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        ids = [api.submit(tenant, workflow_id)["id"] for _ in range(3)]

        job_id = _submit_batch(api, tenant, ids, "comment", who="member")
        api.wait_for_jobs()

        assert _job(api, tenant, job_id)["status"] == "succeeded"
        for app_id in ids:
            assert [r["action"] for r in api.history(tenant, app_id)] == ["comment"]

    def test_duplicate_ids_are_422_and_start_no_job(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.client.post(
            "/applications/batch/process",
            headers=tenant.headers(),
            json={"application_ids": [app_id, app_id], "action": "approve"},
        )
        api.wait_for_jobs()

        assert response.status_code == 422
        assert api.history(tenant, app_id) == []

    def test_empty_and_oversized_id_lists_are_422(self, api: Api) -> None:
        tenant = api.tenant()

        empty = api.client.post(
            "/applications/batch/process",
            headers=tenant.headers(),
            json={"application_ids": [], "action": "approve"},
        )
        oversized = api.client.post(
            "/applications/batch/process",
            headers=tenant.headers(),
            json={"application_ids": list(range(1, 1002)), "action": "approve"},
        )

        assert empty.status_code == 422
        assert oversized.status_code == 422


class TestGetJob:
    def test_missing_job_is_404(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get("/jobs/4242", headers=tenant.headers())

        assert response.status_code == 404

    def test_job_of_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        app_id = api.submit(other, api.workflow(other))["id"]
        job_id = _submit_batch(api, other, [app_id], "comment")
        api.wait_for_jobs()

        response = api.client.get(f"/jobs/{job_id}", headers=tenant.headers("admin"))

        assert response.status_code == 404

    def test_any_user_of_the_company_may_read_it(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        job_id = _submit_batch(api, tenant, [app_id], "comment")
        api.wait_for_jobs()

        response = api.client.get(f"/jobs/{job_id}", headers=tenant.headers("member"))

        assert response.status_code == 200
        assert set(response.json()) == {
            "id",
            "kind",
            "status",
            "total",
            "processed",
            "succeeded",
            "failed",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
        }
