"""Every migration can be reverted and applied again, keeping the data."""

from __future__ import annotations

from alembic import command

from ability.migrations import alembic_config
from tests.conftest import Api


def test_every_migration_reverts_and_applies_again(api: Api) -> None:
    config = alembic_config(api.settings.DATABASE_URL)

    command.downgrade(config, "base")
    command.upgrade(config, "head")

    tenant = api.tenant()
    workflow_id = api.workflow(tenant)
    created = api.submit(tenant, workflow_id, title="Standing desk")
    found = api.client.get(
        "/applications/search", headers=tenant.headers(), params={"query": "desk"}
    ).json()["items"]
    assert [a["id"] for a in found] == [created["id"]]


def test_later_migrations_carry_existing_rows(api: Api) -> None:
    tenant = api.tenant()
    workflow_id = api.workflow(tenant)
    config = alembic_config(api.settings.DATABASE_URL)
    command.downgrade(config, "0003")
    created = api.submit(tenant, workflow_id, title="Standing desk for the office")

    command.upgrade(config, "head")

    found = api.client.get(
        "/applications/search",
        headers=tenant.headers(),
        params={"query": "standing desk"},
    ).json()["items"]
    assert [a["id"] for a in found] == [created["id"]]
    fetched = api.client.get(f"/applications/{created['id']}", headers=tenant.headers())
    assert fetched.json()["title"] == "Standing desk for the office"
