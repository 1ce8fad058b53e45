from __future__ import annotations

from typing import Any

import pytest
import structlog

from tests.conftest import Api
from tests.factories import Tenant


def _route_counts(api: Api, tenant: Tenant) -> dict[tuple[str, str], int]:
    body = api.client.get("/admin/metrics", headers=tenant.headers("admin")).json()
    return {(r["method"], r["route"]): r["count"] for r in body["requests"]}


class TestMetrics:
    def test_admin_sees_process_and_per_route_figures(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        before = _route_counts(api, tenant)

        app_id = api.submit(tenant, workflow_id)["id"]
        api.client.get(f"/applications/{app_id}", headers=tenant.headers())
        response = api.client.get("/admin/metrics", headers=tenant.headers("admin"))

        assert response.status_code == 200
        body = response.json()
        assert body["processes"]
        assert all(p["rss_bytes"] > 0 for p in body["processes"])
        after = _route_counts(api, tenant)
        get_one = ("GET", "/applications/{application_id}")
        assert after[get_one] - before.get(get_one, 0) == 1
        create = ("POST", "/applications")
        assert after[create] - before.get(create, 0) == 1
        assert not any(str(app_id) in route for _, route in after)

    @pytest.mark.parametrize("who", ["reviewer", "reporter", "member"])
    def test_non_admin_is_403(self, api: Api, who: str) -> None:
        tenant = api.tenant()

        response = api.client.get("/admin/metrics", headers=tenant.headers(who))

        assert response.status_code == 403

    def test_without_token_is_401(self, api: Api) -> None:
        assert api.client.get("/admin/metrics").status_code == 401


class TestErrors:
    def test_company_admin_sees_only_its_company_platform_admin_all(
        self, api: Api
    ) -> None:
        tenant, other = api.tenant(), api.tenant()
        platform = api.platform_admin(api.tenant())
        log = structlog.get_logger()
        log.warning("test.mine.warned", company_id=tenant.company_id)
        log.error("test.theirs.failed", company_id=other.company_id)

        mine = api.client.get("/admin/errors", headers=tenant.headers("admin"))
        everything = api.client.get("/admin/errors", headers=platform)

        assert mine.status_code == everything.status_code == 200
        events = [item["event"] for item in mine.json()["items"]]
        assert "test.mine.warned" in events
        assert "test.theirs.failed" not in events
        assert {i["company_id"] for i in mine.json()["items"]} == {tenant.company_id}
        all_events = [item["event"] for item in everything.json()["items"]]
        assert {"test.mine.warned", "test.theirs.failed"} <= set(all_events)

    def test_severity_error_leaves_out_warnings(self, api: Api) -> None:
        tenant = api.tenant()
        headers = api.platform_admin(tenant)
        log = structlog.get_logger()
        log.warning("test.only.warned", company_id=tenant.company_id)
        log.error("test.really.failed", company_id=tenant.company_id)

        response = api.client.get(
            "/admin/errors", headers=headers, params={"severity": "error", "limit": 1}
        )

        assert response.status_code == 200
        items = response.json()["items"]
        assert [item["event"] for item in items] == ["test.really.failed"]

    @pytest.mark.parametrize(
        "params",
        [{"severity": "info"}, {"limit": 0}, {"limit": 1001}],
        ids=["severity", "limit-0", "limit-1001"],
    )
    def test_bad_parameters_are_422(
        self, api: Api, params: dict[str, str | int]
    ) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/admin/errors", headers=tenant.headers("admin"), params=params
        )

        assert response.status_code == 422

    def test_non_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get("/admin/errors", headers=tenant.headers("member"))

        assert response.status_code == 403


def _cache_level(api: Api, tenant: Tenant, level: str) -> dict[str, Any]:
    response = api.client.get("/admin/cache/stats", headers=tenant.headers())
    assert response.status_code == 200
    figures: dict[str, Any] = response.json()[level]
    return figures


class TestCacheStats:
    def test_a_miss_then_a_hit_are_counted_on_l1(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        before = _cache_level(api, tenant, "l1")

        for _ in range(2):
            api.client.get(f"/applications/{app_id}", headers=tenant.headers())
        after = _cache_level(api, tenant, "l1")

        assert after["misses"] - before["misses"] == 1
        assert after["hits"] - before["hits"] == 1
        assert 0 < after["hit_ratio"] <= 1
        assert after["size"] >= 1
        assert {"hits", "misses", "hit_ratio", "size", "evictions"} <= set(after)

    def test_non_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/admin/cache/stats", headers=tenant.headers("member")
        )

        assert response.status_code == 403


class TestDatabaseStats:
    def test_admin_sees_pool_and_statements_platform_admin_row_estimates(
        self, api: Api
    ) -> None:
        tenant = api.tenant()
        platform = api.platform_admin(tenant)

        mine = api.client.get("/admin/database/stats", headers=tenant.headers())
        everything = api.client.get("/admin/database/stats", headers=platform)

        assert mine.status_code == everything.status_code == 200
        body = mine.json()
        assert body["pool"]["size"] >= 1
        assert {"checked_out", "overflow", "waits", "mean_wait_ms"} <= set(body["pool"])
        assert isinstance(body["slow_statements"], list)
        assert body["row_estimates"] is None
        assert isinstance(everything.json()["row_estimates"], dict)

    def test_non_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/admin/database/stats", headers=tenant.headers("member")
        )

        assert response.status_code == 403
