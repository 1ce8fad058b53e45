"""The outer request layer: content codings in both directions."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ability.config import Settings
from ability.main import create_app
from ability.middleware import accepts_gzip


class TestAcceptsGzip:
    @pytest.mark.parametrize(
        "header",
        [
            "gzip",
            "GZip",
            "x-gzip",
            "*",
            "gzip, deflate, br",
            "deflate, gzip;q=0.5",
            "gzip; q=0.001",
            "gzip;q=1.000",
            "br;q=1, *;q=0.1",
            "gzip;level=9",
            "gzip;q=0.8, identity;q=0.8",
            "gzip;q=0, x-gzip",
            "identity, gzip",
        ],
    )
    def test_accepts(self, header: str) -> None:
        assert accepts_gzip(header.encode())

    @pytest.mark.parametrize(
        "header",
        [
            "",
            "identity",
            "gzip;q=0",
            "gzip;q=0.000",
            "GZIP; Q=0",
            "*;q=0",
            "br, *;q=0",
            "gzip;q=0, *",
            "deflate, br",
            "gzip;q=0.5, identity",
            "gzip;q=1.5",
            "gzip;q=abc",
            "gzip;q=",
            "gzip;q=0.5e1",
            "gzipped",
            ",,;",
        ],
    )
    def test_refuses(self, header: str) -> None:
        assert not accepts_gzip(header.encode())

    def test_no_header_means_no_gzip(self) -> None:
        assert not accepts_gzip(None)


@pytest.fixture
def client(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_settings)) as client:
        yield client


LARGE = "/openapi.json"  # well over GZIP_MIN_BYTES, and needs no token


class TestResponseCompression:
    @pytest.mark.parametrize("header", ["gzip", "gzip;q=0.5, br", "*"])
    def test_large_responses_are_gzipped_when_gzip_is_accepted(
        self, client: TestClient, header: str
    ) -> None:
        response = client.get(LARGE, headers={"Accept-Encoding": header})

        assert response.headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["vary"]
        assert response.json()["info"]["title"] == "Ability"

    @pytest.mark.parametrize(
        "header", ["gzip;q=0", "identity", "*;q=0", "br, gzip;q=0", ""]
    )
    def test_no_gzip_when_the_client_refuses_it(
        self, client: TestClient, header: str
    ) -> None:
        response = client.get(LARGE, headers={"Accept-Encoding": header})

        assert "content-encoding" not in response.headers
        assert len(response.content) >= 1000
        assert response.json()["info"]["title"] == "Ability"

    def test_several_accept_encoding_headers_are_read_together(
        self, client: TestClient
    ) -> None:
        headers = [("Accept-Encoding", "br"), ("Accept-Encoding", "gzip")]

        response = client.get(LARGE, headers=headers)

        assert response.headers["content-encoding"] == "gzip"

    def test_small_responses_are_sent_as_they_are(self, client: TestClient) -> None:
        response = client.get("/health/live", headers={"Accept-Encoding": "gzip"})

        assert response.status_code == 200
        assert "content-encoding" not in response.headers


class TestRequestContentEncoding:
    @pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "GZIP", "gzip, br"])
    def test_encoded_bodies_are_415(self, client: TestClient, coding: str) -> None:
        body = gzip.compress(b'{"email": "a@b.test", "password": "secret-1"}')

        response = client.post(
            "/auth/login",
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": coding},
        )

        assert response.status_code == 415
        assert response.headers["accept-encoding"] == "identity"
        assert response.json()["error"] == "RequestRejected"

    @pytest.mark.parametrize("coding", ["identity", "Identity", ""])
    def test_identity_is_read_as_usual(self, client: TestClient, coding: str) -> None:
        response = client.post(
            "/auth/login",
            content=b'{"email": "a@b.test", "password": "secret-1"}',
            headers={"Content-Type": "application/json", "Content-Encoding": coding},
        )

        assert response.status_code == 401  # read, then the login failed
