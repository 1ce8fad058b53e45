from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ability.auth.ratelimit import WINDOW
from ability.config import Settings
from ability.main import create_app
from tests.conftest import Api


@pytest.fixture
def limited_api(settings: Settings) -> Iterator[Api]:
    limited = settings.model_copy(update={"RATE_LIMIT_PER_MINUTE": 5})
    with TestClient(create_app(limited)) as client:
        # Start well inside a one-minute window, so a test's few requests
        # are all counted in the same one.
        if time.time() % WINDOW > WINDOW - 5:
            time.sleep(WINDOW - time.time() % WINDOW + 0.1)
        yield Api(client, limited)


class TestRateLimit:
    def test_requests_past_the_limit_get_429_with_retry_after(
        self, limited_api: Api
    ) -> None:
        tenant = limited_api.tenant()

        codes = [
            limited_api.client.get("/users/me", headers=tenant.headers()).status_code
            for _ in range(7)
        ]
        refused = limited_api.client.get("/users/me", headers=tenant.headers())

        assert codes[:5] == [200] * 5
        assert codes[5:] == [429, 429]
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        assert refused.json()["error"] == "RateLimitedError"

    def test_each_user_has_a_budget_of_their_own(self, limited_api: Api) -> None:
        tenant = limited_api.tenant()
        for _ in range(6):
            limited_api.client.get("/users/me", headers=tenant.headers())

        other = limited_api.client.get("/users/me", headers=tenant.headers("member"))

        assert other.status_code == 200

    def test_off_by_default(self, api: Api) -> None:
        tenant = api.tenant()

        codes = {
            api.client.get("/users/me", headers=tenant.headers()).status_code
            for _ in range(20)
        }

        assert codes == {200}
