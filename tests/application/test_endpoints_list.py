"""``GET /applications`` and ``GET /applications/search``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from ability.models import Status
from tests.conftest import Api
from tests.factories import Tenant, create_application

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def _seed(
    api: Api,
    tenant: Tenant,
    workflow_id: int,
    created_at: datetime,
    status: Status = Status.PENDING,
) -> int:
    seed = partial(
        create_application,
        api.db,
        tenant,
        workflow_id,
        created_at=created_at,
        status=status,
    )
    app_id: int = api.run(seed)
    return app_id


def _list(api: Api, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = api.client.get(
        "/applications", headers=tenant.headers("member"), params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def _bulk(api: Api, tenant: Tenant, workflow_id: int, count: int) -> list[int]:
    items = [{"title": f"Bulk {n}", "workflow_id": workflow_id} for n in range(count)]
    response = api.client.post(
        "/applications/bulk",
        headers=tenant.headers("member"),
        json={"applications": items},
    )
    assert response.status_code == 201
    ids: list[int] = response.json()["ids"]
    return ids


def _walk(api: Api, tenant: Tenant, **params: Any) -> list[int]:
    """Every id, following ``next_cursor`` until the last page."""
    seen: list[int] = []
    page = _list(api, tenant, **params)
    for _ in range(100):
        seen += _ids(page)
        if not page["has_more"]:
            return seen
        assert page["next_cursor"]
        page = _list(api, tenant, cursor=page["next_cursor"], **params)
    raise AssertionError("the cursor never reached the last page")


class TestList:
    def test_newest_first_with_the_page_fields_and_no_total(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        old = _seed(api, tenant, workflow_id, T0)
        new = _seed(api, tenant, workflow_id, T0 + timedelta(hours=1))

        body = _list(api, tenant)

        assert set(body) == {"items", "page", "page_size", "has_more", "next_cursor"}
        assert _ids(body) == [new, old]
        assert (body["page"], body["page_size"], body["has_more"]) == (1, 20, False)
        assert body["next_cursor"] is None

    def test_with_total_counts_every_match(self, api: Api) -> None:
        tenant = api.tenant()
        _bulk(api, tenant, api.workflow(tenant), 7)

        body = _list(api, tenant, with_total=True, page_size=3)

        assert body["total"] == 7
        assert len(body["items"]) == 3

    def test_sort_created_at_is_oldest_first(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        old = _seed(api, tenant, workflow_id, T0)
        new = _seed(api, tenant, workflow_id, T0 + timedelta(hours=1))

        body = _list(api, tenant, sort="created_at")

        assert _ids(body) == [old, new]

    def test_status_filter_takes_one_value(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        _seed(api, tenant, workflow_id, T0)
        rejected = _seed(api, tenant, workflow_id, T0, Status.REJECTED)

        body = _list(api, tenant, status="rejected")

        assert _ids(body) == [rejected]

    def test_status_is_repeatable(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        _seed(api, tenant, workflow_id, T0)
        rejected = _seed(api, tenant, workflow_id, T0, Status.REJECTED)
        cancelled = _seed(api, tenant, workflow_id, T0, Status.CANCELLED)

        body = _list(api, tenant, status=["rejected", "cancelled"])

        assert sorted(_ids(body)) == [rejected, cancelled]

    def test_active_means_pending_or_in_progress(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        pending = _seed(api, tenant, workflow_id, T0)
        moving = _seed(api, tenant, workflow_id, T0, Status.IN_PROGRESS)
        _seed(api, tenant, workflow_id, T0, Status.COMPLETED)
        _seed(api, tenant, workflow_id, T0, Status.REJECTED)

        active = _list(api, tenant, status="active")
        mixed = _list(api, tenant, status=["active", "completed"], with_total=True)

        assert sorted(_ids(active)) == [pending, moving]
        assert mixed["total"] == 3

    def test_workflow_filter(self, api: Api) -> None:
        tenant = api.tenant()
        first, second = api.workflow(tenant), api.workflow(tenant)
        mine = _seed(api, tenant, first, T0)
        _seed(api, tenant, second, T0)

        body = _list(api, tenant, workflow_id=first)

        assert _ids(body) == [mine]

    def test_created_window_includes_both_bounds(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        ids = [
            _seed(api, tenant, workflow_id, T0 + timedelta(days=n)) for n in range(4)
        ]

        body = _list(
            api,
            tenant,
            created_after=(T0 + timedelta(days=1)).isoformat(),
            created_before=(T0 + timedelta(days=2)).isoformat(),
        )

        assert _ids(body) == [ids[2], ids[1]]

    def test_one_bound_alone_filters(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        ids = [
            _seed(api, tenant, workflow_id, T0 + timedelta(days=n)) for n in range(3)
        ]

        after = _list(api, tenant, created_after=(T0 + timedelta(days=1)).isoformat())
        before = _list(api, tenant, created_before=T0.isoformat())

        assert _ids(after) == [ids[2], ids[1]]
        assert _ids(before) == [ids[0]]

    def test_naive_bounds_are_read_as_utc(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        _seed(api, tenant, workflow_id, T0)

        inside = _list(api, tenant, created_after="2025-03-10T12:00:00")
        outside = _list(api, tenant, created_after="2025-03-10T12:00:01")

        assert len(inside["items"]) == 1
        assert outside["items"] == []

    def test_page_numbers_split_the_list(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        ids = [
            _seed(api, tenant, workflow_id, T0 + timedelta(hours=n)) for n in range(5)
        ]
        newest_first = ids[::-1]

        pages = [_list(api, tenant, page=n, page_size=2) for n in (1, 2, 3, 4)]

        assert [_ids(p) for p in pages] == [
            newest_first[0:2],
            newest_first[2:4],
            newest_first[4:],
            [],
        ]
        assert [p["has_more"] for p in pages] == [True, True, False, False]
        assert [p["page"] for p in pages] == [1, 2, 3, 4]

    @pytest.mark.parametrize("sort", ["-created_at", "created_at"])
    def test_cursor_walks_every_page_without_duplicates_or_gaps(
        self, api: Api, sort: str
    ) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        seeded = [
            _seed(api, tenant, workflow_id, T0 + timedelta(minutes=n)) for n in range(6)
        ]
        # A bulk create gives many rows the very same created_at.
        ids = seeded + _bulk(api, tenant, workflow_id, 17)
        by_pages = [
            i
            for n in (1, 2, 3)
            for i in _ids(_list(api, tenant, page=n, page_size=10, sort=sort))
        ]

        walked = _walk(api, tenant, page_size=4, sort=sort)

        assert len(walked) == len(set(walked)) == len(ids)
        assert set(walked) == set(ids)
        assert walked == by_pages

    def test_cursor_keeps_the_filters(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        rejected = [
            _seed(api, tenant, workflow_id, T0 + timedelta(minutes=n), Status.REJECTED)
            for n in range(5)
        ]
        for n in range(5):
            _seed(api, tenant, workflow_id, T0 + timedelta(minutes=n))

        walked = _walk(api, tenant, page_size=2, status="rejected")

        assert walked == rejected[::-1]

    def test_cursor_page_has_no_page_number(self, api: Api) -> None:
        tenant = api.tenant()
        _bulk(api, tenant, api.workflow(tenant), 3)
        first = _list(api, tenant, page_size=1)

        body = _list(api, tenant, page_size=1, cursor=first["next_cursor"])

        assert body["page"] is None
        assert body["has_more"] is True

    def test_other_companies_never_appear(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        mine = api.submit(tenant, api.workflow(tenant))["id"]
        api.submit(other, api.workflow(other))

        body = _list(api, tenant, with_total=True)

        assert _ids(body) == [mine]
        assert body["total"] == 1

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.get(
            "/applications",
            headers=tenant.headers("admin"),
            params={"company_id": other.company_id},
        )

        assert response.status_code == 403

    def test_platform_admin_lists_another_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)
        theirs = api.submit(other, api.workflow(other))["id"]

        response = api.client.get(
            "/applications", headers=headers, params={"company_id": other.company_id}
        )

        assert response.status_code == 200
        assert _ids(response.json()) == [theirs]

    def test_large_pages_are_gzip_compressed(self, api: Api) -> None:
        tenant = api.tenant()
        _bulk(api, tenant, api.workflow(tenant), 10)

        large = api.client.get(
            "/applications",
            headers={**tenant.headers(), "Accept-Encoding": "gzip"},
        )
        small = api.client.get(
            "/applications",
            headers={**tenant.headers(), "Accept-Encoding": "gzip"},
            params={"status": "completed"},
        )

        assert large.headers["content-encoding"] == "gzip"
        assert len(large.json()["items"]) == 10
        assert "content-encoding" not in small.headers


def _search(api: Api, tenant: Tenant, query: str, **params: Any) -> list[int]:
    response = api.client.get(
        "/applications/search",
        headers=tenant.headers("member"),
        params={"query": query, **params},
    )
    assert response.status_code == 200, response.text
    return _ids(response.json())


class TestSearch:
    def test_best_matches_come_first(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        weak = api.submit(
            tenant,
            workflow_id,
            title="Office furniture",
            description="Chairs, desks, lamps, shelves, a whiteboard, cables "
            "and, for the reception, one laptop stand.",
        )["id"]
        strong = api.submit(
            tenant,
            workflow_id,
            title="Laptop",
            description="Laptop and laptop bag",
        )["id"]
        api.submit(tenant, workflow_id, title="Parking permit")

        found = _search(api, tenant, "laptop")

        assert found == [strong, weak]

    def test_every_term_must_match_in_title_or_description(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        both = api.submit(
            tenant, workflow_id, title="Laptop", description="for the Berlin office"
        )["id"]
        api.submit(tenant, workflow_id, title="Laptop", description="for Paris")

        found = _search(api, tenant, "berlin LAPTOP")

        assert found == [both]

    def test_status_filter(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        open_ = api.submit(tenant, workflow_id, title="Monitor arm")["id"]
        closed = api.submit(tenant, workflow_id, title="Monitor stand")["id"]
        api.act(tenant, "reviewer", closed, "reject")

        rejected = _search(api, tenant, "monitor", status="rejected")
        active = _search(api, tenant, "monitor", status="active")

        assert rejected == [closed]
        assert active == [open_]

    def test_other_companies_never_appear(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        mine = api.submit(tenant, api.workflow(tenant), title="Standing desk")["id"]
        api.submit(other, api.workflow(other), title="Standing desk")

        found = _search(api, tenant, "standing desk")

        assert found == [mine]

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.get(
            "/applications/search",
            headers=tenant.headers("admin"),
            params={"query": "desk", "company_id": other.company_id},
        )

        assert response.status_code == 403

    def test_platform_admin_searches_another_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)
        theirs = api.submit(other, api.workflow(other), title="Standing desk")["id"]

        response = api.client.get(
            "/applications/search",
            headers=headers,
            params={"query": "desk", "company_id": other.company_id},
        )

        assert response.status_code == 200
        assert _ids(response.json()) == [theirs]

    def test_deleted_applications_are_not_found(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        kept = api.submit(tenant, workflow_id, title="Projector")["id"]
        gone = api.submit(tenant, workflow_id, title="Projector")["id"]

        api.client.delete(f"/applications/{gone}", headers=tenant.headers("admin"))

        assert _search(api, tenant, "projector") == [kept]

    def test_edited_text_is_found_by_its_new_words_only(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant), title="Old keyboard")["id"]

        api.client.patch(
            f"/applications/{app_id}",
            headers=tenant.headers("member"),
            json={"title": "Ergonomic mouse"},
        )

        assert _search(api, tenant, "ergonomic") == [app_id]
        assert _search(api, tenant, "keyboard") == []

    def test_pages_by_page_number(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        ids = {api.submit(tenant, workflow_id, title="Desk lamp")["id"] for _ in "abc"}

        first = api.client.get(
            "/applications/search",
            headers=tenant.headers(),
            params={"query": "lamp", "page_size": 2},
        ).json()
        second = api.client.get(
            "/applications/search",
            headers=tenant.headers(),
            params={"query": "lamp", "page_size": 2, "page": 2},
        ).json()

        assert first["has_more"] is True
        assert second["has_more"] is False
        assert set(_ids(first)) | set(_ids(second)) == ids
        assert len(_ids(first) + _ids(second)) == 3

    def test_punctuation_only_finds_nothing(self, api: Api) -> None:
        tenant = api.tenant()
        api.submit(tenant, api.workflow(tenant), title="Desk")

        assert _search(api, tenant, '"*:()') == []
