"""``POST /applications/import``: applications created by a background job."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def _import(api: Api, headers: dict[str, str], items: list[dict[str, Any]]) -> Any:
    response = api.client.post(
        "/applications/import", headers=headers, json={"applications": items}
    )
    return response


class TestImport:
    def test_each_item_is_created_once_and_failures_are_listed(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        workflow_id = api.workflow(tenant)
        foreign_workflow = api.workflow(other)
        items = [
            {"title": "Laptop", "workflow_id": workflow_id},
            {"title": "Monitor", "workflow_id": foreign_workflow},
            {"title": "Chair", "workflow_id": workflow_id, "metadata": {"n": 3}},
        ]

        accepted = _import(api, tenant.headers("member"), items)
        api.wait_for_jobs()
        job = api.client.get(
            f"/jobs/{accepted.json()['job_id']}", headers=tenant.headers("member")
        ).json()

        assert accepted.status_code == 202
        assert accepted.json()["total"] == 3
        assert job["kind"] == "import"
        assert job["status"] == "partial"
        assert (job["succeeded"], job["failed"]) == (2, 1)
        assert job["errors"] == [{"application_id": 2, "detail": "Workflow not found"}]
        listed = api.client.get(
            "/applications", headers=tenant.headers(), params={"page_size": 100}
        ).json()["items"]
        assert sorted(a["title"] for a in listed) == ["Chair", "Laptop"]
        other_list = api.client.get("/applications", headers=other.headers()).json()
        assert other_list["items"] == []

    def test_a_malformed_item_refuses_the_whole_request(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)

        response = _import(
            api, tenant.headers(), [{"title": "", "workflow_id": workflow_id}]
        )

        assert response.status_code == 422

    def test_naming_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        workflow_id = api.workflow(tenant)
        item = {
            "title": "Laptop",
            "workflow_id": workflow_id,
            "company_id": other.company_id,
        }

        assert _import(api, tenant.headers(), [item]).status_code == 403
