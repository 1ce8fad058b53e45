from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from ability.models import Status
from tests.conftest import Api
from tests.factories import Tenant, create_application, record_action

DAY = datetime(2025, 5, 1, tzinfo=UTC)
STATUSES = {"pending", "in_progress", "completed", "rejected", "cancelled"}


def _seed(
    api: Api,
    tenant: Tenant,
    workflow_id: int,
    created_at: datetime,
    status: Status = Status.PENDING,
    seconds_to_complete: float | None = None,
) -> int:
    completed_at = None
    if seconds_to_complete is not None:
        completed_at = created_at + timedelta(seconds=seconds_to_complete)
    seed = partial(
        create_application,
        api.db,
        tenant,
        workflow_id,
        created_at=created_at,
        status=status,
        completed_at=completed_at,
    )
    app_id: int = api.run(seed)
    return app_id


def _decide(
    api: Api,
    tenant: Tenant,
    app_id: int,
    workflow_id: int,
    step: int,
    at: datetime,
    action: str = "approve",
) -> None:
    record = partial(
        record_action,
        api.db,
        tenant,
        app_id,
        workflow_id,
        step_order=step,
        action=action,
        at=at,
    )
    api.run(record)


def _stats(api: Api, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = api.client.get(
        "/reports/applications/stats",
        headers=tenant.headers("reporter"),
        params=params,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _analytics(api: Api, tenant: Tenant) -> dict[int, dict[str, Any]]:
    response = api.client.get(
        "/reports/workflows/analytics", headers=tenant.headers("reporter")
    )
    assert response.status_code == 200, response.text
    return {item["workflow_id"]: item for item in response.json()["items"]}


class TestApplicationStats:
    def test_counts_by_status_and_day_within_the_range(self, api: Api) -> None:
        tenant = api.tenant()
        wf = api.workflow(tenant)
        _seed(api, tenant, wf, DAY - timedelta(seconds=1))  # the day before
        _seed(api, tenant, wf, DAY)
        _seed(api, tenant, wf, DAY + timedelta(hours=5), Status.IN_PROGRESS)
        _seed(api, tenant, wf, DAY + timedelta(days=2), Status.REJECTED)
        _seed(api, tenant, wf, DAY + timedelta(days=2, hours=23, minutes=59))
        _seed(api, tenant, wf, DAY + timedelta(days=3))  # the day after

        body = _stats(api, tenant, start_date="2025-05-01", end_date="2025-05-03")

        assert body["start_date"] == "2025-05-01"
        assert body["end_date"] == "2025-05-03"
        assert body["total"] == 4
        assert body["by_status"] == {
            "pending": 2,
            "in_progress": 1,
            "completed": 0,
            "rejected": 1,
            "cancelled": 0,
        }
        assert body["created_per_day"] == [
            {"date": "2025-05-01", "count": 2},
            {"date": "2025-05-02", "count": 0},
            {"date": "2025-05-03", "count": 2},
        ]
        assert body["median_seconds_to_complete"] is None

    def test_median_of_an_odd_count_is_the_middle_one(self, api: Api) -> None:
        tenant = api.tenant()
        wf = api.workflow(tenant)
        for seconds in (600, 60, 120):
            _seed(api, tenant, wf, DAY, Status.COMPLETED, seconds_to_complete=seconds)

        body = _stats(api, tenant, start_date="2025-05-01", end_date="2025-05-01")

        assert body["by_status"]["completed"] == 3
        assert body["median_seconds_to_complete"] == pytest.approx(120, abs=0.01)

    def test_median_of_an_even_count_averages_the_middle_two(self, api: Api) -> None:
        tenant = api.tenant()
        wf = api.workflow(tenant)
        for seconds in (10, 100, 300, 5000):
            _seed(api, tenant, wf, DAY, Status.COMPLETED, seconds_to_complete=seconds)
        _seed(api, tenant, wf, DAY, Status.REJECTED)

        body = _stats(api, tenant, start_date="2025-05-01", end_date="2025-05-01")

        assert body["median_seconds_to_complete"] == pytest.approx(200, abs=0.01)

    def test_applications_completed_over_http_are_counted(self, api: Api) -> None:
        tenant = api.tenant()
        wf = api.workflow(tenant)
        first_day = datetime.now(UTC).date()
        app_id = api.submit(tenant, wf)["id"]
        api.act(tenant, "reviewer", app_id, "approve")
        api.act(tenant, "approver", app_id, "approve")
        api.submit(tenant, wf)
        last_day = datetime.now(UTC).date()

        body = _stats(api, tenant, start_date=first_day, end_date=last_day)

        assert body["total"] == 2
        assert body["by_status"]["completed"] == 1
        assert body["by_status"]["pending"] == 1
        assert sum(day["count"] for day in body["created_per_day"]) == 2
        assert body["median_seconds_to_complete"] >= 0

    def test_defaults_to_the_last_30_days(self, api: Api) -> None:
        tenant = api.tenant()
        api.submit(tenant, api.workflow(tenant))
        today = datetime.now(UTC).date()

        body = _stats(api, tenant)

        end = date.fromisoformat(body["end_date"])
        assert end in (today, today + timedelta(days=1))  # midnight may pass
        assert date.fromisoformat(body["start_date"]) == end - timedelta(days=29)
        assert len(body["created_per_day"]) == 30
        assert set(body["by_status"]) == STATUSES
        assert body["total"] == 1

    def test_deleted_applications_are_left_out(self, api: Api) -> None:
        tenant = api.tenant()
        wf = api.workflow(tenant)
        _seed(api, tenant, wf, DAY)
        gone = _seed(api, tenant, wf, DAY, Status.COMPLETED, seconds_to_complete=5)

        api.client.delete(f"/applications/{gone}", headers=tenant.headers("admin"))

        body = _stats(api, tenant, start_date="2025-05-01", end_date="2025-05-01")
        assert body["total"] == 1
        assert body["by_status"]["completed"] == 0
        assert body["created_per_day"] == [{"date": "2025-05-01", "count": 1}]
        assert body["median_seconds_to_complete"] is None

    def test_other_companies_are_not_counted(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        _seed(api, other, api.workflow(other), DAY)

        body = _stats(api, tenant, start_date="2025-05-01", end_date="2025-05-01")

        assert body["total"] == 0

    def test_a_range_of_366_days_is_accepted(self, api: Api) -> None:
        tenant = api.tenant()

        body = _stats(api, tenant, start_date="2024-01-01", end_date="2024-12-31")

        assert len(body["created_per_day"]) == 366

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            ("2024-01-01", "2025-01-01"),
            ("2025-05-02", "2025-05-01"),
            ("2025-02-30", "2025-03-01"),
            ("2025-05-01", "soon"),
        ],
        ids=["367-days", "reversed", "no-such-day", "not-a-date"],
    )
    def test_bad_ranges_are_422(self, api: Api, start: str, end: str) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/reports/applications/stats",
            headers=tenant.headers("reporter"),
            params={"start_date": start, "end_date": end},
        )

        assert response.status_code == 422

    @pytest.mark.parametrize("who", ["member", "reviewer", "approver"])
    def test_users_without_reporter_role_are_403(self, api: Api, who: str) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/reports/applications/stats", headers=tenant.headers(who)
        )

        assert response.status_code == 403

    def test_admin_may_read_it(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/reports/applications/stats", headers=tenant.headers("admin")
        )

        assert response.status_code == 200

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.get(
            "/reports/applications/stats",
            headers=tenant.headers("reporter"),
            params={"company_id": other.company_id},
        )

        assert response.status_code == 403

    def test_platform_admin_reads_another_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)
        _seed(api, other, api.workflow(other), DAY)

        response = api.client.get(
            "/reports/applications/stats",
            headers=headers,
            params={
                "company_id": other.company_id,
                "start_date": "2025-05-01",
                "end_date": "2025-05-01",
            },
        )

        assert response.status_code == 200
        assert response.json()["total"] == 1


class TestWorkflowAnalytics:
    def test_counts_outcomes_per_workflow(self, api: Api) -> None:
        tenant = api.tenant()
        wf = api.workflow(tenant)
        idle = api.workflow(tenant)
        apps = [api.submit(tenant, wf)["id"] for _ in range(5)]
        for app_id in apps[:2]:
            api.act(tenant, "reviewer", app_id, "approve")
            api.act(tenant, "approver", app_id, "approve")
        api.act(tenant, "reviewer", apps[2], "reject")
        api.act(tenant, "reviewer", apps[3], "approve")
        api.client.delete(f"/applications/{apps[4]}", headers=tenant.headers())

        items = _analytics(api, tenant)

        assert set(items) == {wf, idle}
        row = items[wf]
        assert row["name"] == "Purchase"
        assert (row["applications"], row["completed"], row["rejected"]) == (4, 2, 1)
        assert row["open"] == 1
        assert row["completion_rate"] == pytest.approx(0.5)
        assert [s["step_order"] for s in row["mean_seconds_per_step"]] == [1, 2]
        assert [s["decisions"] for s in row["mean_seconds_per_step"]] == [4, 2]
        assert items[idle]["applications"] == 0
        assert items[idle]["completion_rate"] == 0
        assert items[idle]["mean_seconds_per_step"] == []
        assert items[idle]["bottleneck_step"] is None

    def test_mean_time_per_step_and_bottleneck(self, api: Api) -> None:
        tenant = api.tenant()
        wf = api.workflow(tenant)
        fast = _seed(api, tenant, wf, DAY, Status.COMPLETED, seconds_to_complete=400)
        _decide(api, tenant, fast, wf, 1, DAY + timedelta(seconds=100))
        _decide(api, tenant, fast, wf, 2, DAY + timedelta(seconds=400))
        slow = _seed(api, tenant, wf, DAY, Status.IN_PROGRESS)
        _decide(api, tenant, slow, wf, 1, DAY + timedelta(seconds=300))
        _decide(
            api, tenant, slow, wf, 1, DAY + timedelta(seconds=350), action="comment"
        )

        row = _analytics(api, tenant)[wf]

        steps = {s["step_order"]: s for s in row["mean_seconds_per_step"]}
        assert steps[1]["mean_seconds"] == pytest.approx(200, abs=0.01)
        assert steps[1]["decisions"] == 2
        assert steps[2]["mean_seconds"] == pytest.approx(300, abs=0.01)
        assert steps[2]["decisions"] == 1
        assert row["bottleneck_step"] == 2
        assert (row["applications"], row["completed"], row["open"]) == (2, 1, 1)

    def test_other_companies_are_not_included(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        mine = api.workflow(tenant)
        api.submit(other, api.workflow(other))

        items = _analytics(api, tenant)

        assert set(items) == {mine}
        assert items[mine]["applications"] == 0

    def test_member_is_403(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/reports/workflows/analytics", headers=tenant.headers("member")
        )

        assert response.status_code == 403

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.get(
            "/reports/workflows/analytics",
            headers=tenant.headers("reporter"),
            params={"company_id": other.company_id},
        )

        assert response.status_code == 403

    def test_platform_admin_reads_another_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)
        theirs = api.workflow(other)

        response = api.client.get(
            "/reports/workflows/analytics",
            headers=headers,
            params={"company_id": other.company_id},
        )

        assert response.status_code == 200
        assert [i["workflow_id"] for i in response.json()["items"]] == [theirs]


class TestPerformance:
    def test_reports_latency_per_route_template(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        api.client.get(f"/applications/{app_id}", headers=tenant.headers())

        response = api.client.get(
            "/reports/performance", headers=tenant.headers("reporter")
        )

        assert response.status_code == 200
        by_route = {(row["method"], row["route"]): row for row in response.json()}
        row = by_route[("GET", "/applications/{application_id}")]
        assert row["count"] >= 1
        assert 0 <= row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert 0 <= row["error_rate"] <= 1
        assert not any(str(app_id) in route for _, route in by_route)

    def test_member_is_403(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/reports/performance", headers=tenant.headers("member")
        )

        assert response.status_code == 403
