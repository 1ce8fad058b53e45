from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.factories import Tenant, one_step_workflow, two_step_workflow


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Hiring",
        "workflow_type": "hr",
        "description": "New positions",
        "steps": [
            {"name": "Manager", "order": 1, "required_role": "reviewer"},
            {"name": "Finance", "order": 2, "required_role": "approver"},
            {"name": "Board", "order": 3, "required_role": "admin"},
        ],
    }
    return {**body, **overrides}


def _create(api: Api, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = api.client.post(
        "/workflows", headers=tenant.headers("admin"), json=_body(**overrides)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class TestCreate:
    def test_admin_creates_a_workflow_at_version_one(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/workflows", headers=tenant.headers("admin"), json=_body()
        )

        assert response.status_code == 201
        body = response.json()
        assert {
            "id",
            "company_id",
            "name",
            "workflow_type",
            "version",
            "steps",
            "created_at",
        } <= set(body)
        assert body["company_id"] == tenant.company_id
        assert (body["name"], body["workflow_type"]) == ("Hiring", "hr")
        assert body["description"] == "New positions"
        assert body["version"] == 1
        assert [(s["order"], s["name"], s["required_role"]) for s in body["steps"]] == [
            (1, "Manager", "reviewer"),
            (2, "Finance", "approver"),
            (3, "Board", "admin"),
        ]

    def test_steps_given_out_of_order_come_back_sorted(self, api: Api) -> None:
        tenant = api.tenant()
        steps = [
            {"name": "Second", "order": 2, "required_role": "approver"},
            {"name": "First", "order": 1, "required_role": "reviewer"},
        ]

        body = _create(api, tenant, steps=steps)

        assert [s["name"] for s in body["steps"]] == ["First", "Second"]

    @pytest.mark.parametrize("who", ["reviewer", "approver", "reporter", "member"])
    def test_non_admin_is_403(self, api: Api, who: str) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/workflows", headers=tenant.headers(who), json=_body()
        )

        assert response.status_code == 403

    @pytest.mark.parametrize(
        "steps",
        [
            [],
            [{"name": "A", "order": 1, "required_role": "reviewer"}] * 2,
            [{"name": "A", "order": 2, "required_role": "reviewer"}],
            [
                {"name": "A", "order": 1, "required_role": "reviewer"},
                {"name": "B", "order": 3, "required_role": "reviewer"},
            ],
            [{"name": "A", "order": 1, "required_role": "boss"}],
            [
                {"name": f"S{n}", "order": n, "required_role": "reviewer"}
                for n in range(1, 22)
            ],
        ],
        ids=["none", "duplicate", "not-from-1", "gap", "unknown-role", "21-steps"],
    )
    def test_invalid_steps_are_422(self, api: Api, steps: list[dict[str, Any]]) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/workflows", headers=tenant.headers("admin"), json=_body(steps=steps)
        )

        assert response.status_code == 422

    def test_twenty_steps_are_accepted(self, api: Api) -> None:
        tenant = api.tenant()
        steps = [
            {"name": f"S{n}", "order": n, "required_role": "reviewer"}
            for n in range(1, 21)
        ]

        body = _create(api, tenant, steps=steps)

        assert len(body["steps"]) == 20

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.post(
            "/workflows",
            headers=tenant.headers("admin"),
            json=_body(company_id=other.company_id),
        )

        assert response.status_code == 403

    def test_platform_admin_creates_for_another_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)

        response = api.client.post(
            "/workflows", headers=headers, json=_body(company_id=other.company_id)
        )

        assert response.status_code == 201
        assert response.json()["company_id"] == other.company_id
        listed = api.client.get("/workflows", headers=other.headers("member")).json()
        assert [w["id"] for w in listed["items"]] == [response.json()["id"]]


class TestList:
    def test_lists_the_company_workflows_newest_first(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        first = _create(api, tenant, name="First")
        second = _create(api, tenant, name="Second")
        _create(api, other, name="Theirs")

        response = api.client.get("/workflows", headers=tenant.headers("member"))

        assert response.status_code == 200
        body = response.json()
        assert [w["id"] for w in body["items"]] == [second["id"], first["id"]]
        assert body["items"][0] == second
        assert (body["page"], body["page_size"], body["has_more"]) == (1, 20, False)

    def test_filters_by_workflow_type(self, api: Api) -> None:
        tenant = api.tenant()
        hiring = _create(api, tenant, workflow_type="hr")
        _create(api, tenant, workflow_type="purchase")

        response = api.client.get(
            "/workflows", headers=tenant.headers(), params={"workflow_type": "hr"}
        )

        assert [w["id"] for w in response.json()["items"]] == [hiring["id"]]

    def test_pages_and_total(self, api: Api) -> None:
        tenant = api.tenant()
        ids = [_create(api, tenant, name=f"W{n}")["id"] for n in range(5)]

        first = api.client.get(
            "/workflows",
            headers=tenant.headers(),
            params={"page_size": 2, "with_total": True},
        ).json()
        third = api.client.get(
            "/workflows", headers=tenant.headers(), params={"page_size": 2, "page": 3}
        ).json()

        assert first["total"] == 5
        assert [w["id"] for w in first["items"]] == ids[::-1][:2]
        assert first["has_more"] is True
        assert [w["id"] for w in third["items"]] == [ids[0]]
        assert third["has_more"] is False
        assert "total" not in third

    def test_cursor_walks_every_workflow_once(self, api: Api) -> None:
        tenant = api.tenant()
        ids = {api.workflow(tenant) for _ in range(5)}
        seen: list[int] = []
        params: dict[str, Any] = {"page_size": 2}

        for _ in range(10):
            page = api.client.get(
                "/workflows", headers=tenant.headers(), params=params
            ).json()
            seen += [w["id"] for w in page["items"]]
            if not page["has_more"]:
                break
            params = {"page_size": 2, "cursor": page["next_cursor"]}

        assert len(seen) == len(set(seen)) == 5
        assert set(seen) == ids

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.get(
            "/workflows",
            headers=tenant.headers("admin"),
            params={"company_id": other.company_id},
        )

        assert response.status_code == 403

    def test_platform_admin_lists_another_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)
        theirs = api.workflow(other)

        response = api.client.get(
            "/workflows", headers=headers, params={"company_id": other.company_id}
        )

        assert response.status_code == 200
        assert [w["id"] for w in response.json()["items"]] == [theirs]


class TestGet:
    def test_returns_the_workflow(self, api: Api) -> None:
        tenant = api.tenant()
        created = _create(api, tenant)

        response = api.client.get(
            f"/workflows/{created['id']}", headers=tenant.headers("member")
        )

        assert response.status_code == 200
        assert response.json() == created

    def test_workflow_of_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        foreign = api.workflow(other)

        response = api.client.get(f"/workflows/{foreign}", headers=tenant.headers())

        assert response.status_code == 404

    def test_missing_workflow_is_404(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get("/workflows/777", headers=tenant.headers())

        assert response.status_code == 404


class TestReplace:
    def test_saves_a_new_version_with_the_new_steps(self, api: Api) -> None:
        tenant = api.tenant()
        created = _create(api, tenant)
        body = one_step_workflow("Hiring v2").model_dump(mode="json")

        response = api.client.put(
            f"/workflows/{created['id']}", headers=tenant.headers("admin"), json=body
        )

        assert response.status_code == 200
        replaced = response.json()
        assert replaced["id"] == created["id"]
        assert replaced["version"] == 2
        assert replaced["name"] == "Hiring v2"
        assert [s["name"] for s in replaced["steps"]] == ["Approve"]
        fetched = api.client.get(
            f"/workflows/{created['id']}", headers=tenant.headers()
        ).json()
        assert fetched == replaced

    def test_applications_in_flight_keep_their_version(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        app_id = api.submit(tenant, workflow_id)["id"]
        api.act(tenant, "reviewer", app_id, "approve")
        body = one_step_workflow().model_dump(mode="json")

        api.client.put(
            f"/workflows/{workflow_id}", headers=tenant.headers("admin"), json=body
        )
        last_step = api.act(tenant, "approver", app_id, "approve")

        assert last_step.status_code == 200
        assert last_step.json()["workflow_version"] == 1
        history = api.client.get(
            f"/applications/{app_id}/history", headers=tenant.headers()
        ).json()
        assert [row["step_name"] for row in history] == ["Review", "Approve"]

    def test_non_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)

        response = api.client.put(
            f"/workflows/{workflow_id}",
            headers=tenant.headers("reviewer"),
            json=two_step_workflow().model_dump(mode="json"),
        )

        assert response.status_code == 403

    def test_workflow_of_another_company_is_404_and_unchanged(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        foreign = api.workflow(other)

        response = api.client.put(
            f"/workflows/{foreign}",
            headers=tenant.headers("admin"),
            json=one_step_workflow().model_dump(mode="json"),
        )

        assert response.status_code == 404
        fetched = api.client.get(f"/workflows/{foreign}", headers=other.headers())
        assert fetched.json()["version"] == 1

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        workflow_id = api.workflow(tenant)
        body = {
            **one_step_workflow().model_dump(mode="json"),
            "company_id": other.company_id,
        }

        response = api.client.put(
            f"/workflows/{workflow_id}", headers=tenant.headers("admin"), json=body
        )

        assert response.status_code == 403
