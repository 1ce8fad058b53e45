from __future__ import annotations

from datetime import datetime

from tests.conftest import Api


class TestCreate:
    def test_platform_admin_creates_a_company(self, api: Api) -> None:
        home = api.tenant()
        headers = api.platform_admin(home)

        response = api.client.post("/companies", headers=headers, json={"name": "Acme"})

        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"id", "name", "created_at"}
        assert body["name"] == "Acme"
        assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
        fetched = api.client.get(f"/companies/{body['id']}", headers=headers)
        assert fetched.json() == body

    def test_company_admin_is_403(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/companies", headers=tenant.headers("admin"), json={"name": "Acme"}
        )

        assert response.status_code == 403

    def test_duplicate_name_is_409(self, api: Api) -> None:
        home = api.tenant()
        headers = api.platform_admin(home)
        api.client.post("/companies", headers=headers, json={"name": "Acme"})

        response = api.client.post("/companies", headers=headers, json={"name": "Acme"})

        assert response.status_code == 409

    def test_name_of_201_characters_is_422(self, api: Api) -> None:
        headers = api.platform_admin(api.tenant())

        response = api.client.post(
            "/companies", headers=headers, json={"name": "n" * 201}
        )

        assert response.status_code == 422


class TestGet:
    def test_user_reads_its_own_company(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            f"/companies/{tenant.company_id}", headers=tenant.headers("member")
        )

        assert response.status_code == 200
        assert response.json()["id"] == tenant.company_id
        assert response.json()["name"] == tenant.name

    def test_another_company_is_404(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        response = api.client.get(
            f"/companies/{other.company_id}", headers=tenant.headers("admin")
        )

        assert response.status_code == 404

    def test_another_company_answers_like_a_missing_one(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()

        existing = api.client.get(
            f"/companies/{other.company_id}", headers=tenant.headers()
        )
        missing = api.client.get("/companies/9999", headers=tenant.headers())

        assert existing.status_code == missing.status_code == 404
        assert existing.json() == missing.json()

    def test_platform_admin_reads_any_company(self, api: Api) -> None:
        home, other = api.tenant(), api.tenant()
        headers = api.platform_admin(home)

        response = api.client.get(f"/companies/{other.company_id}", headers=headers)

        assert response.status_code == 200
        assert response.json()["name"] == other.name

    def test_platform_admin_gets_404_for_a_missing_company(self, api: Api) -> None:
        headers = api.platform_admin(api.tenant())

        response = api.client.get("/companies/9999", headers=headers)

        assert response.status_code == 404
