from __future__ import annotations

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
