from __future__ import annotations

import pytest
import structlog

from tests.conftest import Api


class TestMetrics:
    def test_admin_sees_process_and_per_route_figures(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        api.client.get(f"/applications/{app_id}", headers=tenant.headers())

        response = api.client.get("/admin/metrics", headers=tenant.headers("admin"))

        assert response.status_code == 200
        body = response.json()
        assert body["rss_bytes"] > 0
        assert body["uptime_seconds"] >= 0
        routes = {(r["method"], r["route"]): r for r in body["requests"]}
        assert routes[("GET", "/applications/{application_id}")]["count"] == 1
        assert routes[("POST", "/applications")]["count"] == 1
        assert not any(str(app_id) in route for _, route in routes)

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


@pytest.mark.xfail(strict=True, reason="GET /admin/cache/stats is not built yet")
class TestCacheStats:
    def test_admin_sees_figures_per_cache_level(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get("/admin/cache/stats", headers=tenant.headers())

        assert response.status_code == 200
        assert response.json()

    def test_non_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/admin/cache/stats", headers=tenant.headers("member")
        )

        assert response.status_code == 403


@pytest.mark.xfail(strict=True, reason="GET /admin/database/stats is not built yet")
class TestDatabaseStats:
    def test_admin_sees_pool_statements_and_row_estimates(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get("/admin/database/stats", headers=tenant.headers())

        assert response.status_code == 200
        assert response.json()

    def test_non_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/admin/database/stats", headers=tenant.headers("member")
        )

        assert response.status_code == 403
