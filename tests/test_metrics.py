"""``GET /metrics``: Prometheus text labelled by route template."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from ability import metrics_dir
from ability.config import Settings
from ability.db import Database
from tests.conftest import Api

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: Api) -> Series:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    series: Series = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


class TestMetrics:
    def test_prometheus_text_uses_route_templates(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        api.client.get(f"/applications/{app_id}", headers=tenant.headers())

        response = api.client.get("/metrics")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert "ability_http_requests_total" in text
        assert 'route="/applications/{application_id}"' in text
        assert f"/applications/{app_id}" not in text

    def test_a_known_sequence_moves_each_series_exactly(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]
        get_one = {"method": "GET", "route": "/applications/{application_id}"}
        before = scrape(api)

        for _ in range(3):
            api.client.get(f"/applications/{app_id}", headers=tenant.headers())
        api.client.get("/applications/999999", headers=tenant.headers())
        api.client.get("/applications/not-a-number", headers=tenant.headers())
        after = scrape(api)

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        requests = "ability_http_requests_total"
        assert moved(requests, **get_one, status="2xx") == 3
        assert moved(requests, **get_one, status="4xx") == 2
        duration = "ability_http_request_duration_seconds_count"
        assert moved(duration, **get_one) == 5
        assert moved("ability_cache_lookups_total", level="l1", result="hit") == 2
        assert value(after, "ability_http_requests_in_flight") >= 0
        assert value(after, "ability_db_pool_connections", state="size") >= 1

    def test_distinct_ids_add_no_label_values(self, api: Api) -> None:
        tenant = api.tenant()
        api.client.get("/applications/1", headers=tenant.headers())
        labels_before = {labels for _, labels in scrape(api)}

        for app_id in range(1000, 2000):
            api.client.get(f"/applications/{app_id}", headers=tenant.headers())
        labels_after = {labels for _, labels in scrape(api)}

        assert labels_after == labels_before

    def test_process_figures_are_present(self, api: Api) -> None:
        series = scrape(api)

        names = {name for name, _ in series}

        assert "ability_process_resident_memory_bytes" in names
        assert "ability_process_open_fds" in names
        assert "ability_process_gc_collections" in names


def pool_size() -> float:
    found = REGISTRY.get_sample_value("ability_db_pool_connections", {"state": "size"})
    return found or 0.0


class TestMultiprocessSetup:
    def test_the_cli_loads_no_metrics_before_it_chooses_their_directory(
        self,
    ) -> None:
        # prometheus_client picks file-backed values only if the directory is
        # known when it is first imported: ``serve`` and ``worker`` set it.
        code = "import sys, ability.cli; print('prometheus_client' in sys.modules)"

        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )

        assert result.stdout.strip() == "False"

    def test_choosing_the_directory_after_loading_the_metrics_is_refused(
        self,
    ) -> None:
        with pytest.raises(RuntimeError, match="before its directory"):
            metrics_dir.prepare("api")

    def test_a_disposed_database_takes_its_pool_back_out(
        self, sqlite_settings: Settings
    ) -> None:
        before = pool_size()

        db = Database.from_settings(sqlite_settings)
        during = pool_size()
        asyncio.run(db.dispose())

        assert during > before
        assert pool_size() == before
