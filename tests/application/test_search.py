"""``GET /applications/search``: what counts as a word, totals, and the
search index kept right while bulk loads are indexed after commit."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from ability.application.importer import import_applications
from ability.application.search import INDEX_RANGE, MAX_TERMS
from tests.conftest import Api
from tests.factories import Tenant


def _search(api: Api, tenant: Tenant, query: str, **params: Any) -> Any:
    return api.client.get(
        "/applications/search",
        headers=tenant.headers(),
        params={"query": query, **params},
    )


def _found(api: Api, tenant: Tenant, query: str) -> list[str]:
    response = _search(api, tenant, query)
    assert response.status_code == 200, response.text
    return sorted(item["title"] for item in response.json()["items"])


class TestWords:
    def test_words_are_runs_of_letters_and_digits_on_both_sides(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        for title in (
            "Invoice from john@acme.com",
            "Upgrade to v2.4.1",
            "Order PO-2024-0042",
            "İstanbul office chairs",
        ):
            api.submit(tenant, workflow_id, title=title)

        assert _found(api, tenant, "acme") == ["Invoice from john@acme.com"]
        assert _found(api, tenant, "john@acme.com") == ["Invoice from john@acme.com"]
        assert _found(api, tenant, "v2.4.1") == ["Upgrade to v2.4.1"]
        assert _found(api, tenant, "0042") == ["Order PO-2024-0042"]
        assert _found(api, tenant, "po-2024") == ["Order PO-2024-0042"]
        assert _found(api, tenant, "İstanbul") == ["İstanbul office chairs"]
        assert _found(api, tenant, "ORDER") == ["Order PO-2024-0042"]

    @pytest.mark.parametrize("query", ["_", "__", "½", "-", "'&|!"])
    def test_a_query_without_a_word_finds_nothing(self, api: Api, query: str) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        api.submit(tenant, workflow_id, title="Office chairs")

        assert _found(api, tenant, query) == []

    def test_more_words_than_the_limit_are_refused(self, api: Api) -> None:
        tenant = api.tenant()

        response = _search(api, tenant, " ".join(["chair"] * (MAX_TERMS + 1)))

        assert response.status_code == 422
        assert f"at most {MAX_TERMS}" in response.json()["detail"]
        assert _search(api, tenant, " ".join(["x"] * MAX_TERMS)).status_code == 200


class TestTotal:
    def test_with_total_counts_every_page(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        workflow_id = api.workflow(tenant)
        ids = [
            api.submit(tenant, workflow_id, title=f"Chair {n}")["id"] for n in range(7)
        ]
        api.submit(other, api.workflow(other), title="Chair elsewhere")
        api.client.delete(f"/applications/{ids[0]}", headers=tenant.headers())
        assert api.act(tenant, "reviewer", ids[1], "reject").status_code == 200

        every = _search(api, tenant, "chair", page_size=2, with_total="true").json()
        pending = _search(
            api, tenant, "chair", status="pending", with_total="true"
        ).json()
        plain = _search(api, tenant, "chair").json()

        assert (every["total"], len(every["items"]), every["has_more"]) == (
            6,
            2,
            True,
        )
        assert pending["total"] == 5
        assert "total" not in plain


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_delete_during_indexing_leaves_no_document(api: Api) -> None:
    """Indexing a range and deleting one of its applications, at once."""
    tenant = api.tenant()
    workflow_id = api.workflow(tenant)
    lines = [
        orjson.dumps({"title": f"Lamp {n}", "workflow_id": workflow_id})
        for n in range(3)
    ]
    api.run(lambda: import_applications(api.db, lines, tenant.emails["member"]))
    listed = api.client.get("/applications", headers=tenant.headers()).json()
    victim = listed["items"][0]["id"]
    dsn = api.settings.DATABASE_URL.replace("+asyncpg", "")

    async def race() -> int:
        engine = create_async_engine(api.settings.DATABASE_URL)
        deleter = await asyncpg.connect(dsn)
        try:
            async with engine.connect() as indexer:
                backlog = (
                    await indexer.execute(sa.text("SELECT * FROM search_backlog"))
                ).one()
                await indexer.execute(
                    INDEX_RANGE,
                    {
                        "company_id": backlog.company_id,
                        "first": backlog.first_id,
                        "last": backlog.last_id,
                    },
                )
                delete = asyncio.ensure_future(
                    deleter.execute(
                        "UPDATE applications SET is_deleted = true WHERE id = $1",
                        victim,
                    )
                )
                await asyncio.sleep(0.3)
                waited = not delete.done()  # held by the indexer's row locks
                await indexer.commit()
                await delete
                assert waited
            left: int = await deleter.fetchval(
                "SELECT count(*) FROM application_search WHERE application_id = $1",
                victim,
            )
            return left
        finally:
            await deleter.close()
            await engine.dispose()

    assert asyncio.run(race()) == 0
