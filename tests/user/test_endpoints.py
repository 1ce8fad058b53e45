from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.factories import Tenant


def _body(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"new.hire@{tenant.company_id}.test",
        "password": "long-enough-password",
        "roles": ["reviewer", "approver"],
    }
    return {**body, **overrides}


class TestMe:
    def test_returns_the_caller(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get("/users/me", headers=tenant.headers("reviewer"))

        assert response.status_code == 200
        assert response.json() == {
            "id": tenant.users["reviewer"].user_id,
            "email": tenant.emails["reviewer"],
            "company_id": tenant.company_id,
            "roles": ["reviewer"],
            "is_platform_admin": False,
        }

    def test_platform_admin_flag_is_shown(self, api: Api) -> None:
        tenant = api.tenant()
        headers = api.platform_admin(tenant)

        response = api.client.get("/users/me", headers=headers)

        assert response.json()["is_platform_admin"] is True


class TestCreate:
    def test_admin_adds_a_user_to_its_company_who_can_log_in(self, api: Api) -> None:
        tenant = api.tenant()
        body = _body(tenant)

        response = api.client.post("/users", headers=tenant.headers("admin"), json=body)

        assert response.status_code == 201
        created = response.json()
        assert set(created) == {
            "id",
            "email",
            "company_id",
            "roles",
            "is_platform_admin",
        }
        assert created["email"] == body["email"]
        assert created["company_id"] == tenant.company_id
        assert sorted(created["roles"]) == ["approver", "reviewer"]
        assert created["is_platform_admin"] is False
        login = api.client.post(
            "/auth/login",
            json={"email": body["email"], "password": body["password"]},
        )
        assert login.status_code == 200

    def test_duplicate_email_is_409_whatever_its_case(self, api: Api) -> None:
        tenant = api.tenant()
        api.client.post("/users", headers=tenant.headers("admin"), json=_body(tenant))
        shouted = _body(tenant)["email"].upper()

        response = api.client.post(
            "/users", headers=tenant.headers("admin"), json=_body(tenant, email=shouted)
        )

        assert response.status_code == 409

    def test_email_taken_in_another_company_is_409(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.post(
            "/users",
            headers=tenant.headers("admin"),
            json=_body(tenant, email=other.emails["member"]),
        )

        assert response.status_code == 409

    @pytest.mark.parametrize("who", ["reviewer", "approver", "reporter", "member"])
    def test_non_admin_is_403(self, api: Api, who: str) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/users", headers=tenant.headers(who), json=_body(tenant)
        )

        assert response.status_code == 403

    def test_company_id_of_another_company_is_403(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.post(
            "/users",
            headers=tenant.headers("admin"),
            json=_body(tenant, company_id=other.company_id),
        )

        assert response.status_code == 403

    def test_platform_admin_adds_a_user_to_another_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)

        response = api.client.post(
            "/users", headers=headers, json=_body(other, company_id=other.company_id)
        )

        assert response.status_code == 201
        assert response.json()["company_id"] == other.company_id
        assert response.json()["is_platform_admin"] is False

    def test_platform_admin_naming_a_missing_company_is_404(self, api: Api) -> None:
        home = api.tenant()
        headers = api.platform_admin(home)

        response = api.client.post(
            "/users", headers=headers, json=_body(home, company_id=9999)
        )

        assert response.status_code == 404

    @pytest.mark.parametrize(
        "overrides",
        [
            {"email": "not-an-email"},
            {"password": "short"},
            {"roles": []},
            {"roles": ["overlord"]},
            {"is_platform_admin": True},
        ],
        ids=["email", "password", "no-roles", "unknown-role", "unknown-field"],
    )
    def test_invalid_bodies_are_422(self, api: Api, overrides: dict[str, Any]) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/users", headers=tenant.headers("admin"), json=_body(tenant, **overrides)
        )

        assert response.status_code == 422
