from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx2

from tests.conftest import Api
from tests.factories import Tenant


def _at(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None
    return moment


def _count(api: Api, tenant: Tenant) -> int:
    response = api.client.get(
        "/applications", headers=tenant.headers("admin"), params={"with_total": True}
    )
    assert response.status_code == 200
    total: int = response.json()["total"]
    return total


class TestCreate:
    def test_member_submits_a_pending_application_at_step_one(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        body = {
            "title": "Laptop for Ana",
            "workflow_id": workflow_id,
            "description": "A 14-inch laptop",
            "metadata": {"cost": 1200, "tags": ["it"]},
        }

        response = api.client.post(
            "/applications", headers=tenant.headers("member"), json=body
        )

        assert response.status_code == 201
        created = response.json()
        assert set(created) == {
            "id",
            "company_id",
            "workflow_id",
            "workflow_version",
            "title",
            "description",
            "status",
            "current_step",
            "metadata",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        }
        assert created["company_id"] == tenant.company_id
        assert created["workflow_id"] == workflow_id
        assert created["workflow_version"] == 1
        assert created["title"] == "Laptop for Ana"
        assert created["description"] == "A 14-inch laptop"
        assert created["status"] == "pending"
        assert created["current_step"] == 1
        assert created["metadata"] == {"cost": 1200, "tags": ["it"]}
        assert created["created_by"] == tenant.users["member"].user_id
        assert created["version"] == 1
        assert _at(created["created_at"]) == _at(created["updated_at"])

    def test_optional_fields_default_to_null_and_empty_metadata(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)

        created = api.submit(tenant, workflow_id, title="Chair")

        assert created["description"] is None
        assert created["metadata"] == {}

    def test_creating_adds_no_history(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.client.get(
            f"/applications/{created['id']}/history", headers=tenant.headers("member")
        )

        assert response.status_code == 200
        assert response.json() == []

    def test_title_of_200_characters_is_accepted(self, api: Api) -> None:
        tenant = api.tenant()

        created = api.submit(tenant, api.workflow(tenant), title="t" * 200)

        assert len(created["title"]) == 200

    def test_unknown_workflow_is_404(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/applications",
            headers=tenant.headers("member"),
            json={"title": "Chair", "workflow_id": 999},
        )

        assert response.status_code == 404

    def test_workflow_of_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        foreign_workflow = api.workflow(other)

        response = api.client.post(
            "/applications",
            headers=tenant.headers("member"),
            json={"title": "Chair", "workflow_id": foreign_workflow},
        )

        assert response.status_code == 404
        assert _count(api, other) == 0

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        workflow_id = api.workflow(tenant)

        response = api.client.post(
            "/applications",
            headers=tenant.headers("member"),
            json={
                "title": "Chair",
                "workflow_id": workflow_id,
                "company_id": other.company_id,
            },
        )

        assert response.status_code == 403

    def test_own_company_id_is_accepted(self, api: Api) -> None:
        tenant = api.tenant()

        created = api.submit(tenant, api.workflow(tenant), company_id=tenant.company_id)

        assert created["company_id"] == tenant.company_id

    def test_platform_admin_may_submit_for_another_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)
        workflow_id = api.workflow(other)

        response = api.client.post(
            "/applications",
            headers=headers,
            json={
                "title": "Chair",
                "workflow_id": workflow_id,
                "company_id": other.company_id,
            },
        )

        assert response.status_code == 201
        assert response.json()["company_id"] == other.company_id
        assert _count(api, other) == 1

    def test_without_token_is_401(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/applications", json={"title": "x", "workflow_id": api.workflow(tenant)}
        )

        assert response.status_code == 401


class TestCreateIdempotency:
    def test_retry_with_the_same_key_returns_the_first_result(self, api: Api) -> None:
        tenant = api.tenant()
        body = {"title": "Chair", "workflow_id": api.workflow(tenant)}
        headers = {**tenant.headers("member"), "Idempotency-Key": "order-42"}

        first = api.client.post("/applications", headers=headers, json=body)
        retry = api.client.post("/applications", headers=headers, json=body)

        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert _count(api, tenant) == 1

    def test_same_key_with_a_different_body_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        headers = {**tenant.headers("member"), "Idempotency-Key": "order-42"}
        api.client.post(
            "/applications",
            headers=headers,
            json={"title": "Chair", "workflow_id": workflow_id},
        )

        response = api.client.post(
            "/applications",
            headers=headers,
            json={"title": "Desk", "workflow_id": workflow_id},
        )

        assert response.status_code == 422
        assert _count(api, tenant) == 1

    def test_different_keys_create_different_applications(self, api: Api) -> None:
        tenant = api.tenant()
        body = {"title": "Chair", "workflow_id": api.workflow(tenant)}

        first = api.client.post(
            "/applications",
            headers={**tenant.headers("member"), "Idempotency-Key": "a"},
            json=body,
        )
        second = api.client.post(
            "/applications",
            headers={**tenant.headers("member"), "Idempotency-Key": "b"},
            json=body,
        )

        assert first.json()["id"] != second.json()["id"]
        assert _count(api, tenant) == 2

    def test_the_same_key_of_another_user_is_independent(self, api: Api) -> None:
        tenant = api.tenant()
        body = {"title": "Chair", "workflow_id": api.workflow(tenant)}

        mine = api.client.post(
            "/applications",
            headers={**tenant.headers("member"), "Idempotency-Key": "k"},
            json=body,
        )
        theirs = api.client.post(
            "/applications",
            headers={**tenant.headers("reviewer"), "Idempotency-Key": "k"},
            json=body,
        )

        assert mine.status_code == theirs.status_code == 201
        assert theirs.json()["created_by"] == tenant.users["reviewer"].user_id
        assert _count(api, tenant) == 2


class TestBulkCreate:
    def test_creates_every_application_and_returns_ids_in_order(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        items = [{"title": f"Item {n}", "workflow_id": workflow_id} for n in range(5)]

        response = api.client.post(
            "/applications/bulk",
            headers=tenant.headers("member"),
            json={"applications": items},
        )

        assert response.status_code == 201
        ids = response.json()["ids"]
        assert len(ids) == len(set(ids)) == 5
        titles = [
            api.client.get(f"/applications/{i}", headers=tenant.headers()).json()[
                "title"
            ]
            for i in ids
        ]
        assert titles == [f"Item {n}" for n in range(5)]

    def test_one_unknown_workflow_creates_nothing(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        items = [
            {"title": "Good", "workflow_id": workflow_id},
            {"title": "Bad", "workflow_id": 999},
        ]

        response = api.client.post(
            "/applications/bulk",
            headers=tenant.headers("member"),
            json={"applications": items},
        )

        assert response.status_code == 404
        assert _count(api, tenant) == 0

    def test_one_invalid_item_creates_nothing(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        items = [
            {"title": "Good", "workflow_id": workflow_id},
            {"title": "", "workflow_id": workflow_id},
        ]

        response = api.client.post(
            "/applications/bulk",
            headers=tenant.headers("member"),
            json={"applications": items},
        )

        assert response.status_code == 422
        assert _count(api, tenant) == 0

    def test_a_workflow_of_another_company_creates_nothing(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        items = [
            {"title": "Mine", "workflow_id": api.workflow(tenant)},
            {"title": "Theirs", "workflow_id": api.workflow(other)},
        ]

        response = api.client.post(
            "/applications/bulk",
            headers=tenant.headers("member"),
            json={"applications": items},
        )

        assert response.status_code == 404
        assert _count(api, tenant) == 0
        assert _count(api, other) == 0

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        item = {
            "title": "Chair",
            "workflow_id": api.workflow(tenant),
            "company_id": other.company_id,
        }

        response = api.client.post(
            "/applications/bulk",
            headers=tenant.headers("member"),
            json={"applications": [item]},
        )

        assert response.status_code == 403
        assert _count(api, tenant) == 0

    def test_empty_and_oversized_lists_are_422(self, api: Api) -> None:
        tenant = api.tenant()
        item = {"title": "x", "workflow_id": api.workflow(tenant)}

        empty = api.client.post(
            "/applications/bulk",
            headers=tenant.headers("member"),
            json={"applications": []},
        )
        oversized = api.client.post(
            "/applications/bulk",
            headers=tenant.headers("member"),
            json={"applications": [item] * 1001},
        )

        assert empty.status_code == 422
        assert oversized.status_code == 422
        assert _count(api, tenant) == 0


def _bulk(
    api: Api, tenant: Tenant, items: list[dict[str, Any]], key: str, who: str = "member"
) -> httpx2.Response:
    return api.client.post(
        "/applications/bulk",
        headers={**tenant.headers(who), "Idempotency-Key": key},
        json={"applications": items},
    )


def _items(workflow_id: int, *titles: str) -> list[dict[str, Any]]:
    return [{"title": title, "workflow_id": workflow_id} for title in titles]


class TestBulkCreateIdempotency:
    def test_retry_with_the_same_key_returns_the_first_ids(self, api: Api) -> None:
        tenant = api.tenant()
        items = _items(api.workflow(tenant), "Chair", "Desk", "Lamp")
        first = _bulk(api, tenant, items, "bulk-7")

        retry = _bulk(api, tenant, items, "bulk-7")

        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert len(first.json()["ids"]) == 3
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert _count(api, tenant) == 3

    def test_same_key_with_different_items_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        _bulk(api, tenant, _items(workflow_id, "Chair", "Desk"), "bulk-7")

        response = _bulk(api, tenant, _items(workflow_id, "Chair", "Sofa"), "bulk-7")

        assert response.status_code == 422
        assert response.json()["error"] == "IdempotencyKeyReusedError"
        assert _count(api, tenant) == 2

    def test_a_key_used_by_a_single_create_is_not_replayed_as_bulk(
        self, api: Api
    ) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        api.client.post(
            "/applications",
            headers={**tenant.headers("member"), "Idempotency-Key": "shared"},
            json={"title": "Chair", "workflow_id": workflow_id},
        )

        response = _bulk(api, tenant, _items(workflow_id, "Chair"), "shared")

        assert response.status_code == 422
        assert _count(api, tenant) == 1

    def test_the_same_key_of_another_user_is_independent(self, api: Api) -> None:
        tenant = api.tenant()
        items = _items(api.workflow(tenant), "Chair")

        mine = _bulk(api, tenant, items, "k", who="member")
        theirs = _bulk(api, tenant, items, "k", who="reviewer")

        assert mine.status_code == theirs.status_code == 201
        assert mine.json()["ids"] != theirs.json()["ids"]
        assert _count(api, tenant) == 2

    def test_a_failed_bulk_leaves_the_key_unused(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        bad = [*_items(workflow_id, "Chair"), {"title": "Desk", "workflow_id": 999}]

        failed = _bulk(api, tenant, bad, "bulk-9")
        fixed = _bulk(api, tenant, _items(workflow_id, "Chair", "Desk"), "bulk-9")

        assert failed.status_code == 404
        assert fixed.status_code == 201
        assert _count(api, tenant) == 2

    def test_concurrent_retries_create_the_items_once(self, api: Api) -> None:
        tenant = api.tenant()
        items = _items(api.workflow(tenant), *(f"Item {n}" for n in range(20)))
        barrier = threading.Barrier(4)

        def send(_: int) -> httpx2.Response:
            barrier.wait(timeout=10)
            return _bulk(api, tenant, items, "race")

        with ThreadPoolExecutor(max_workers=4) as pool:
            responses = list(pool.map(send, range(4)))

        # Every retry gets the one answer, however they interleave.
        assert [r.status_code for r in responses] == [201] * 4
        assert len({tuple(r.json()["ids"]) for r in responses}) == 1
        replayed = [r.headers.get("idempotent-replayed") for r in responses]
        assert replayed.count("true") == 3
        assert _count(api, tenant) == 20


class TestGet:
    def test_returns_the_application(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.client.get(
            f"/applications/{created['id']}", headers=tenant.headers("reviewer")
        )

        assert response.status_code == 200
        assert response.json() == created

    def test_missing_application_is_404(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get("/applications/12345", headers=tenant.headers())

        assert response.status_code == 404

    def test_application_of_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        foreign = api.submit(other, api.workflow(other))

        response = api.client.get(
            f"/applications/{foreign['id']}", headers=tenant.headers("admin")
        )

        assert response.status_code == 404


class TestUpdate:
    def test_submitter_edits_a_pending_application(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant), description="Old")

        response = api.client.patch(
            f"/applications/{created['id']}",
            headers=tenant.headers("member"),
            json={"title": "New title", "metadata": {"cost": 5}},
        )

        assert response.status_code == 200
        updated = response.json()
        assert updated["title"] == "New title"
        assert updated["description"] == "Old"
        assert updated["metadata"] == {"cost": 5}
        assert updated["version"] == created["version"] + 1
        assert _at(updated["updated_at"]) >= _at(created["updated_at"])

    def test_admin_edits_someone_elses_application(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.client.patch(
            f"/applications/{created['id']}",
            headers=tenant.headers("admin"),
            json={"description": None},
        )

        assert response.status_code == 200
        assert response.json()["description"] is None

    def test_another_non_admin_user_is_403(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.client.patch(
            f"/applications/{created['id']}",
            headers=tenant.headers("reviewer"),
            json={"title": "Mine now"},
        )

        assert response.status_code == 403

    def test_after_the_first_approval_it_is_409(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))
        assert api.act(tenant, "reviewer", created["id"], "approve").status_code == 200

        response = api.client.patch(
            f"/applications/{created['id']}",
            headers=tenant.headers("member"),
            json={"title": "Too late"},
        )

        assert response.status_code == 409

    def test_matching_if_match_is_accepted(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.client.patch(
            f"/applications/{created['id']}",
            headers={**tenant.headers("member"), "If-Match": '"1"'},
            json={"title": "Checked"},
        )

        assert response.status_code == 200
        assert response.json()["version"] == 2

    def test_stale_if_match_is_409_and_changes_nothing(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))
        api.client.patch(
            f"/applications/{created['id']}",
            headers=tenant.headers("member"),
            json={"title": "First edit"},
        )

        response = api.client.patch(
            f"/applications/{created['id']}",
            headers={**tenant.headers("member"), "If-Match": "1"},
            json={"title": "Lost update"},
        )

        assert response.status_code == 409
        current = api.client.get(
            f"/applications/{created['id']}", headers=tenant.headers()
        ).json()
        assert current["title"] == "First edit"
        assert current["version"] == 2

    def test_null_title_or_metadata_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))
        url = f"/applications/{created['id']}"

        title = api.client.patch(
            url, headers=tenant.headers("member"), json={"title": None}
        )
        metadata = api.client.patch(
            url, headers=tenant.headers("member"), json={"metadata": None}
        )

        assert title.status_code == 422
        assert metadata.status_code == 422

    def test_application_of_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        foreign = api.submit(other, api.workflow(other))

        response = api.client.patch(
            f"/applications/{foreign['id']}",
            headers=tenant.headers("admin"),
            json={"title": "Hijacked"},
        )

        assert response.status_code == 404
        assert (
            api.client.get(
                f"/applications/{foreign['id']}", headers=other.headers()
            ).json()["title"]
            != "Hijacked"
        )


class TestDelete:
    def test_admin_soft_deletes_and_it_answers_404_everywhere(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))
        url = f"/applications/{created['id']}"

        response = api.client.delete(url, headers=tenant.headers("admin"))

        assert response.status_code == 204
        assert response.content == b""
        headers = tenant.headers("admin")
        assert api.client.get(url, headers=headers).status_code == 404
        assert api.client.get(f"{url}/history", headers=headers).status_code == 404
        patch = api.client.patch(url, headers=headers, json={"title": "x"})
        assert patch.status_code == 404
        act = api.act(tenant, "admin", created["id"], "approve")
        assert act.status_code == 404
        assert api.client.delete(url, headers=headers).status_code == 404

    def test_deleted_applications_leave_the_list(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        kept = api.submit(tenant, workflow_id)
        gone = api.submit(tenant, workflow_id)

        api.client.delete(f"/applications/{gone['id']}", headers=tenant.headers())

        listed = api.client.get(
            "/applications", headers=tenant.headers(), params={"with_total": True}
        ).json()
        assert [item["id"] for item in listed["items"]] == [kept["id"]]
        assert listed["total"] == 1

    def test_submitter_who_is_not_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.client.delete(
            f"/applications/{created['id']}", headers=tenant.headers("member")
        )

        assert response.status_code == 403
        assert _count(api, tenant) == 1

    def test_application_of_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        foreign = api.submit(other, api.workflow(other))

        response = api.client.delete(
            f"/applications/{foreign['id']}", headers=tenant.headers("admin")
        )

        assert response.status_code == 404
        assert _count(api, other) == 1


class TestHistory:
    def test_rows_are_oldest_first_with_step_action_actor_and_time(
        self, api: Api
    ) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))
        app_id = created["id"]
        api.act(tenant, "member", app_id, "comment", comment="Urgent, please")
        api.act(tenant, "reviewer", app_id, "approve", comment="Looks fine")
        api.act(tenant, "approver", app_id, "approve")

        response = api.client.get(
            f"/applications/{app_id}/history", headers=tenant.headers("member")
        )

        assert response.status_code == 200
        rows = response.json()
        expected: list[dict[str, Any]] = [
            {
                "step_order": 1,
                "step_name": "Review",
                "action": "comment",
                "comment": "Urgent, please",
                "actor_id": tenant.users["member"].user_id,
            },
            {
                "step_order": 1,
                "step_name": "Review",
                "action": "approve",
                "comment": "Looks fine",
                "actor_id": tenant.users["reviewer"].user_id,
            },
            {
                "step_order": 2,
                "step_name": "Approve",
                "action": "approve",
                "comment": None,
                "actor_id": tenant.users["approver"].user_id,
            },
        ]
        assert [{k: row[k] for k in expected[0]} for row in rows] == expected
        times = [_at(row["at"]) for row in rows]
        assert times == sorted(times)
        assert times[0] >= _at(created["created_at"])

    def test_application_of_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        foreign = api.submit(other, api.workflow(other))

        response = api.client.get(
            f"/applications/{foreign['id']}/history", headers=tenant.headers()
        )

        assert response.status_code == 404


class TestEmptyPatch:
    def test_an_empty_patch_changes_nothing_not_even_the_version(
        self, api: Api
    ) -> None:
        tenant = api.tenant()
        created = api.submit(tenant, api.workflow(tenant))

        response = api.client.patch(
            f"/applications/{created['id']}", headers=tenant.headers("member"), json={}
        )

        assert response.status_code == 200
        assert response.json()["version"] == created["version"]
        assert response.json()["updated_at"] == created["updated_at"]
