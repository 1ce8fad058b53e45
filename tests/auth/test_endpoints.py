from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

from ability.config import Settings
from ability.main import create_app
from tests._live import running_server, server_environment
from tests.conftest import Api
from tests.factories import PASSWORD


class TestLogin:
    def test_valid_credentials_give_a_token_that_works(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/auth/login",
            json={"email": tenant.emails["admin"], "password": PASSWORD},
        )

        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 3600
        me = api.client.get(
            "/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["company_id"] == tenant.company_id

    def test_wrong_password_and_unknown_email_answer_alike(self, api: Api) -> None:
        tenant = api.tenant()

        wrong = api.client.post(
            "/auth/login",
            json={"email": tenant.emails["admin"], "password": "not-it-at-all"},
        )
        unknown = api.client.post(
            "/auth/login", json={"email": "nobody@x.test", "password": "whatever1"}
        )

        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["detail"] == unknown.json()["detail"]

    def test_requests_without_token_are_401(self, api: Api) -> None:
        assert api.client.get("/users/me").status_code == 401
        bad = {"Authorization": "Bearer not-a-token"}
        assert api.client.get("/users/me", headers=bad).status_code == 401


@pytest.fixture
def guarded(settings: Settings) -> Iterator[Api]:
    """An app allowing 3 failed sign-ins per email and 8 per client IP."""
    limits = {"LOGIN_FAILURES_PER_EMAIL": 3, "LOGIN_FAILURES_PER_IP": 8}
    guarded_settings = settings.model_copy(update=limits)
    with TestClient(create_app(guarded_settings)) as client:
        yield Api(client, guarded_settings)


def _login(api: Api, email: str, password: str = PASSWORD) -> httpx2.Response:
    return api.client.post("/auth/login", json={"email": email, "password": password})


def _fail(api: Api, email: str, times: int) -> list[int]:
    return [_login(api, email, "wrong-password").status_code for _ in range(times)]


class TestLoginLimit:
    @pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
    def test_failures_past_the_email_limit_get_429_with_retry_after(
        self, guarded: Api, known: bool
    ) -> None:
        tenant = guarded.tenant()
        email = tenant.emails["admin"] if known else "nobody@nowhere.test"

        failures = _fail(guarded, email, 3)
        refused = _login(guarded, email, "wrong-password")

        assert failures == [401] * 3
        assert refused.status_code == 429
        assert refused.json()["error"] == "LoginRateLimitedError"
        assert 1 <= int(refused.headers["Retry-After"]) <= 900

    def test_the_right_password_is_refused_while_the_email_is_locked(
        self, guarded: Api
    ) -> None:
        tenant = guarded.tenant()
        _fail(guarded, tenant.emails["admin"], 3)

        response = _login(guarded, tenant.emails["admin"])

        assert response.status_code == 429
        assert "access_token" not in response.json()

    def test_other_emails_still_sign_in(self, guarded: Api) -> None:
        tenant = guarded.tenant()
        _fail(guarded, tenant.emails["admin"], 4)

        response = _login(guarded, tenant.emails["reviewer"])

        assert response.status_code == 200

    def test_successful_sign_ins_use_up_no_budget(self, guarded: Api) -> None:
        tenant = guarded.tenant()
        email = tenant.emails["member"]

        signed_in = [_login(guarded, email).status_code for _ in range(12)]
        failures = _fail(guarded, email, 2)
        last = _login(guarded, email)

        assert signed_in == [200] * 12
        assert failures == [401, 401]
        assert last.status_code == 200

    def test_one_ip_guessing_many_emails_gets_429(self, guarded: Api) -> None:
        tenant = guarded.tenant()

        sprayed = [_fail(guarded, f"user{n}@x.test", 1)[0] for n in range(8)]
        fresh = _login(guarded, "user99@x.test", "wrong-password")
        valid = _login(guarded, tenant.emails["admin"])

        assert sprayed == [401] * 8
        assert fresh.status_code == valid.status_code == 429

    def test_defaults_limit_each_email_to_ten_failures(self, api: Api) -> None:
        tenant = api.tenant()

        failures = _fail(api, tenant.emails["admin"], 10)
        refused = _login(api, tenant.emails["admin"])

        assert failures == [401] * 10
        assert refused.status_code == 429

    def test_zero_turns_the_limits_off(self, settings: Settings) -> None:
        off = {"LOGIN_FAILURES_PER_EMAIL": 0, "LOGIN_FAILURES_PER_IP": 0}
        with TestClient(create_app(settings.model_copy(update=off))) as client:
            api = Api(client, settings)
            tenant = api.tenant()

            failures = _fail(api, tenant.emails["admin"], 15)
            valid = _login(api, tenant.emails["admin"])

        assert failures == [401] * 15
        assert valid.status_code == 200

    def test_a_lock_holds_on_every_replica_sharing_redis(
        self, guarded: Api, backend: str
    ) -> None:
        tenant = guarded.tenant()
        _fail(guarded, tenant.emails["admin"], 3)

        replica = create_app(guarded.settings)
        with TestClient(replica, client=("127.0.0.2", 50000)) as other:
            response = other.post(
                "/auth/login",
                json={"email": tenant.emails["admin"], "password": PASSWORD},
            )

        # With Redis the replicas share one count; without it (the embedded
        # default, one process) each counts on its own.
        assert response.status_code == (429 if backend == "postgres" else 200)


@pytest.mark.slow
class TestLoginLimitBehindAProxy:
    @pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
    def test_the_ip_budget_follows_x_forwarded_for_from_trusted_proxies(
        self, tmp_path: Path, trusted: bool
    ) -> None:
        proxies = {"ABILITY_FORWARDED_ALLOW_IPS": "127.0.0.1"} if trusted else {}
        env = server_environment(
            ABILITY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'proxy.db'}",
            ABILITY_SEED_DEMO="false",
            ABILITY_LOGIN_FAILURES_PER_IP="2",
            **proxies,
        )
        with running_server(tmp_path, env) as server, server.client() as http:

            def fail(n: int, client_ip: str) -> int:
                body = {"email": f"user{n}@x.test", "password": "wrong-password"}
                headers = {"X-Forwarded-For": client_ip}
                response = http.post("/auth/login", json=body, headers=headers)
                return response.status_code

            first = [fail(n, "198.51.100.1") for n in range(3)]
            second = fail(3, "198.51.100.2")

        assert first == [401, 401, 429]
        assert second == (401 if trusted else 429)
