"""Statements slower than ``SLOW_QUERY_MS`` are logged once and counted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ability.config import Settings
from ability.db import Database
from ability.main import create_app
from tests.conftest import Api

# About a quarter of a second on either database.
SLOW = {
    "postgresql": "SELECT pg_sleep(0.25)",
    "sqlite": (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
        "WHERE x < 2000000) SELECT count(*) FROM n"
    ),
}
FINGERPRINT = {
    "postgresql": "SELECT pg_sleep(?)",
    "sqlite": SLOW["sqlite"]
    .replace("1 UNION", "? UNION")
    .replace("x + 1", "x + ?")
    .replace("2000000", "?"),
}


@pytest.fixture(params=[100.0])
def strict_api(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Api]:
    strict = settings.model_copy(update={"SLOW_QUERY_MS": request.param})
    with TestClient(create_app(strict)) as client:
        yield Api(client, strict)


async def _run_slow(db: Database) -> None:
    async with db.session(write=False) as session:
        await session.execute(sa.text(SLOW[db.dialect]))


def _slow_count(api: Api, headers: dict[str, str], statement: str) -> int:
    body = api.client.get("/admin/database/stats", headers=headers).json()
    counts: dict[str, int] = {
        s["statement"]: s["count"] for s in body["slow_statements"]
    }
    return counts.get(statement, 0)


class TestSlowStatements:
    def test_a_slow_statement_is_listed_by_fingerprint_with_count_and_mean(
        self, strict_api: Api
    ) -> None:
        api = strict_api
        tenant = api.tenant()
        statement = FINGERPRINT[api.db.dialect]
        before = _slow_count(api, tenant.headers(), statement)

        api.run(_run_slow, api.db)
        api.run(_run_slow, api.db)

        body = api.client.get("/admin/database/stats", headers=tenant.headers())
        rows = {s["statement"]: s for s in body.json()["slow_statements"]}
        assert rows[statement]["count"] - before == 2
        assert rows[statement]["mean_ms"] >= 100

    # A generous threshold: the point is that fast work is not listed even on
    # a machine busy with other tests.
    @pytest.mark.parametrize("strict_api", [1000.0], indirect=True)
    def test_fast_statements_are_not_listed(self, strict_api: Api) -> None:
        api = strict_api
        tenant = api.tenant()

        api.client.get("/workflows", headers=tenant.headers())

        body = api.client.get("/admin/database/stats", headers=tenant.headers())
        assert not any(
            "FROM workflows" in s["statement"] for s in body.json()["slow_statements"]
        )
