from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from fastapi.testclient import TestClient

from ability.auth.roles import Role
from ability.config import Settings
from ability.db import Database
from ability.kit.lru import LRU
from ability.main import create_app
from ability.migrations import upgrade
from ability.workflow import service as workflow_service_module
from ability.workflow.schemas import WorkflowWrite
from tests.backends import (
    base_settings,
    flushed_redis,
    fresh_postgres_database,
    fresh_sqlite_database,
    postgres,
    redis_server_,
)
from tests.factories import Tenant, create_tenant, create_user, create_workflow
from tests.servers import PostgresServer, RedisServer

__all__ = ["postgres", "redis_server_"]  # session fixtures, re-exported

T = TypeVar("T")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every API test runs on the embedded default and on PostgreSQL+Redis."""
    name: str = request.param
    return name


@pytest.fixture
def sqlite_settings(tmp_path: Path, migrated_template: Path) -> Settings:
    return base_settings(
        DATABASE_URL=fresh_sqlite_database(migrated_template, tmp_path)
    )


@pytest.fixture
def settings(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Settings:
    if backend == "sqlite":
        template = request.getfixturevalue("migrated_template")
        return base_settings(DATABASE_URL=fresh_sqlite_database(template, tmp_path))
    postgres: PostgresServer = request.getfixturevalue("postgres")
    redis: RedisServer = request.getfixturevalue("redis_server_")
    return base_settings(
        DATABASE_URL=fresh_postgres_database(postgres),
        REDIS_URL=flushed_redis(redis),
    )


class Api:
    """A test client bound to one app, with helpers to seed it directly."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @property
    def db(self) -> Database:
        db: Database = self.client.app.state.db  # type: ignore[attr-defined]
        return db

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a coroutine function on the app's own event loop."""
        portal = self.client.portal
        assert portal is not None
        return portal.call(fn, *args)

    def tenant(self, name: str = "") -> Tenant:
        result: Tenant = self.run(create_tenant, self.db, self.settings, name)
        return result

    def workflow(self, tenant: Tenant, body: WorkflowWrite | None = None) -> int:
        result: int = self.run(create_workflow, self.db, tenant, body)
        return result

    def wait_for_jobs(self) -> None:
        self.run(self.client.app.state.jobs.idle)  # type: ignore[attr-defined]

    def user(self, tenant: Tenant, who: str, roles: list[Role]) -> dict[str, str]:
        """Add a user named ``who`` to ``tenant``; returns its auth headers."""
        self.run(partial(create_user, self.db, self.settings, tenant, who, roles))
        return tenant.headers(who)

    def platform_admin(self, tenant: Tenant) -> dict[str, str]:
        """Add a platform admin (``"platform"``) to ``tenant``; its headers."""
        create = partial(
            create_user,
            self.db,
            self.settings,
            tenant,
            "platform",
            [Role.ADMIN],
            platform_admin=True,
        )
        self.run(create)
        return tenant.headers("platform")

    def submit(
        self, tenant: Tenant, workflow_id: int, who: str = "member", **fields: Any
    ) -> dict[str, Any]:
        """Create an application over HTTP; returns its JSON."""
        body = {"title": "Laptop for a new hire", "workflow_id": workflow_id}
        response = self.client.post(
            "/applications", headers=tenant.headers(who), json={**body, **fields}
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def history(self, tenant: Tenant, application_id: int) -> list[dict[str, Any]]:
        """``GET /applications/{id}/history`` as the company admin."""
        response = self.client.get(
            f"/applications/{application_id}/history", headers=tenant.headers()
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows

    def act(
        self, tenant: Tenant, who: str, application_id: int, action: str, **extra: Any
    ) -> httpx2.Response:
        """``POST /applications/{id}/progress`` as ``who``."""
        return self.client.post(
            f"/applications/{application_id}/progress",
            headers=tenant.headers(who),
            json={"action": action, **extra},
        )


@pytest.fixture(autouse=True)
def fresh_step_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's database numbers rows from 1 again, so steps cached by
    (company, workflow, version) in an earlier test must not be reused."""
    monkeypatch.setattr(workflow_service_module, "_version_steps", LRU(4096))


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


@pytest.fixture
def client(api: Api) -> TestClient:
    return api.client
