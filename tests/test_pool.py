"""A pool with no free connection answers 503 quickly instead of hanging."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ability.config import Settings
from ability.main import create_app
from tests.conftest import Api


@pytest.fixture
def tiny_pool_api(settings: Settings) -> Iterator[Api]:
    small = settings.model_copy(
        update={"DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0, "DB_POOL_TIMEOUT": 0.2}
    )
    with TestClient(create_app(small)) as client:
        yield Api(client, small)


class TestPoolExhausted:
    def test_answers_503_with_retry_after_within_the_pool_timeout(
        self, tiny_pool_api: Api
    ) -> None:
        api = tiny_pool_api
        tenant = api.tenant()
        held = api.run(api.db.reader.connect)

        try:
            started = time.monotonic()
            response = api.client.get("/workflows", headers=tenant.headers())
            waited = time.monotonic() - started
        finally:
            api.run(held.close)

        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"] == "OverloadedError"
        assert waited < 5  # bounded by the pool timeout, not a 30 s default
        assert api.client.get("/workflows", headers=tenant.headers()).status_code == 200
