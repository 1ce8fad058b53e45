from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from ability.config import Settings
from ability.db import Database
from ability.main import create_app
from ability.migrations import upgrade
from ability.workflow.schemas import WorkflowWrite
from tests.factories import Tenant, create_tenant, create_workflow

T = TypeVar("T")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path) -> Settings:
    database = tmp_path / "ability.db"
    shutil.copy(migrated_template, database)
    return Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        SECRET_KEY="test-secret-key-that-is-long-enough-for-hs256",
        ENV="test",
        SEED_DEMO=False,
        LOG_LEVEL="WARNING",
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


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


@pytest.fixture
def client(api: Api) -> TestClient:
    return api.client
