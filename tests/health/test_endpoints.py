from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ability.config import Settings
from ability.main import create_app
from tests.conftest import Api


class TestLive:
    def test_answers_200_without_a_token(self, api: Api) -> None:
        response = api.client.get("/health/live")

        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


class TestReady:
    def test_ok_while_the_database_answers(self, api: Api) -> None:
        response = api.client.get("/health/ready")

        assert response.status_code == 200
        expected = {"database": "ok", "cache": "ok"}
        if api.settings.REDIS_URL is not None:
            expected["redis"] = "ok"
        assert response.json() == {"status": "ok", "checks": expected}

    def test_503_with_retry_after_when_the_database_cannot_be_reached(
        self, tmp_path: Path, settings: Settings
    ) -> None:
        unreachable = tmp_path / "no-such-directory" / "ability.db"
        # ERROR: the job runner's warning about the database would be
        # rendered with its traceback, which is slow and tells nothing here.
        broken = settings.model_copy(
            update={
                "DATABASE_URL": f"sqlite+aiosqlite:///{unreachable}",
                "LOG_LEVEL": "ERROR",
            }
        )

        with TestClient(create_app(broken)) as client:
            response = client.get("/health/ready")

        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        body = response.json()
        assert body["status"] != "ok"
        assert body["checks"]["database"] != "ok"
