"""Bad input of every kind gets its exact 4xx, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ability.config import Settings
from ability.main import create_app
from tests.conftest import Api
from tests.factories import Tenant

HUGE = 2**70
MIB = 1024 * 1024


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _list(api: Api, tenant: Tenant, params: Any) -> int:
    response = api.client.get("/applications", headers=tenant.headers(), params=params)
    return response.status_code


def _create(api: Api, tenant: Tenant, body: Any) -> int:
    response = api.client.post("/applications", headers=tenant.headers(), json=body)
    return response.status_code


def _raw_create(api: Api, tenant: Tenant, content: bytes, **headers: str) -> int:
    response = api.client.post(
        "/applications",
        headers={
            **tenant.headers(),
            "Content-Type": "application/json",
            **headers,
        },
        content=content,
    )
    return response.status_code


class SingleBackend:
    """For input refused before any query runs: SQLite alone is enough."""

    @pytest.fixture
    def api(self, sqlite_settings: Settings) -> Iterator[Api]:
        with TestClient(create_app(sqlite_settings)) as client:
            yield Api(client, sqlite_settings)


class TestListParameters(SingleBackend):
    def test_eleven_status_values_are_422_ten_are_fine(self, api: Api) -> None:
        tenant = api.tenant()

        eleven = _list(api, tenant, {"status": ["pending"] * 11})
        ten = _list(api, tenant, {"status": ["pending"] * 10})

        assert eleven == 422
        assert ten == 200

    def test_unknown_status_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        assert _list(api, tenant, {"status": "approved"}) == 422

    @pytest.mark.parametrize(
        "query",
        [
            "created_after=2025-01-01T00:00:00Z&created_before=2025-04-02T00:00:00Z",
            "created_before=2025-04-02T00:00:00Z&created_after=2025-01-01T00:00:00Z",
        ],
        ids=["after-first", "before-first"],
    )
    def test_range_over_90_days_is_422_in_either_order(
        self, api: Api, query: str
    ) -> None:
        tenant = api.tenant()

        response = api.client.get(f"/applications?{query}", headers=tenant.headers())

        assert response.status_code == 422

    def test_range_of_exactly_90_days_is_accepted(self, api: Api) -> None:
        tenant = api.tenant()

        status = _list(
            api,
            tenant,
            {
                "created_after": "2025-01-01T00:00:00Z",
                "created_before": "2025-04-01T00:00:00Z",
            },
        )

        assert status == 200

    @pytest.mark.parametrize(
        "query",
        [
            "created_after=2025-02-01T00:00:00Z&created_before=2025-01-01T00:00:00Z",
            "created_before=2025-01-01T00:00:00Z&created_after=2025-02-01T00:00:00Z",
        ],
        ids=["after-first", "before-first"],
    )
    def test_after_later_than_before_is_422_in_either_order(
        self, api: Api, query: str
    ) -> None:
        tenant = api.tenant()

        response = api.client.get(f"/applications?{query}", headers=tenant.headers())

        assert response.status_code == 422

    @pytest.mark.parametrize(
        "params",
        [
            {"created_after": "2025-01-01T00:00:00Z", "created_before": "yesterday"},
            {"created_after": "2025-13-01", "created_before": "2025-01-02T00:00:00Z"},
            {"created_after": "2025-01-01T25:00:00Z"},
        ],
        ids=["before-malformed", "after-malformed", "alone-malformed"],
    )
    def test_one_malformed_bound_is_422(self, api: Api, params: dict[str, str]) -> None:
        tenant = api.tenant()

        assert _list(api, tenant, params) == 422

    @pytest.mark.parametrize(
        "params",
        [
            {"created_after": "0001-01-01T00:00:00+05:00"},
            {"created_before": "9999-12-31T23:59:59-05:00"},
        ],
        ids=["before-year-1", "after-year-9999"],
    )
    def test_bounds_outside_the_utc_calendar_are_422(
        self, api: Api, params: dict[str, str]
    ) -> None:
        tenant = api.tenant()

        assert _list(api, tenant, params) == 422

    @pytest.mark.parametrize(
        "params",
        [
            {"page_size": 0},
            {"page_size": 101},
            {"page": 0},
            {"page": 1001},
            {"page": "two"},
            {"with_total": "perhaps"},
            {"sort": "title"},
            {"workflow_id": 0},
            {"workflow_id": HUGE},
            {"company_id": HUGE},
        ],
        ids=lambda params: "-".join(f"{k}={v}" for k, v in params.items()),
    )
    def test_out_of_range_parameters_are_422(
        self, api: Api, params: dict[str, Any]
    ) -> None:
        tenant = api.tenant()

        assert _list(api, tenant, params) == 422

    def test_largest_page_and_page_size_are_accepted(self, api: Api) -> None:
        tenant = api.tenant()

        assert _list(api, tenant, {"page": 1000, "page_size": 100}) == 200


class TestCursor(SingleBackend):
    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor",
            "%%%",
            base64.urlsafe_b64encode(b"plain text").decode(),
            _cursor({"created_at": "2025-01-01T00:00:00+00:00"}),
            _cursor(["2025-01-01T00:00:00+00:00"]),
            _cursor(["2025-01-01T00:00:00", 5]),
            _cursor(["not a time", 5]),
            _cursor(["2025-01-01T00:00:00+00:00", "five"]),
            _cursor(["2025-01-01T00:00:00+00:00", HUGE]),
            _cursor(["2025-01-01T00:00:00+00:00", 0]),
            _cursor(["0001-01-01T00:00:00+05:00", 5]),
            "x" * 201,
        ],
        ids=[
            "garbage",
            "percent",
            "not-json",
            "object",
            "one-item",
            "naive-time",
            "bad-time",
            "bad-id",
            "huge-id",
            "zero-id",
            "before-year-1",
            "too-long",
        ],
    )
    def test_invalid_cursor_is_422(self, api: Api, cursor: str) -> None:
        tenant = api.tenant()

        assert _list(api, tenant, {"cursor": cursor}) == 422

    def test_cursor_and_page_together_are_422(self, api: Api) -> None:
        tenant = api.tenant()
        cursor = _cursor(["2025-01-01T00:00:00+00:00", 5])

        assert _list(api, tenant, {"cursor": cursor, "page": 2}) == 422

    def test_search_refuses_a_cursor(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/applications/search",
            headers=tenant.headers(),
            params={"query": "desk", "cursor": _cursor(["2025-01-01T00:00Z", 5])},
        )

        assert response.status_code == 422


class TestSearchParameters(SingleBackend):
    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"query": ""},
            {"query": "q" * 201},
            {"query": "desk", "status": ["active"] * 11},
            {"query": "desk", "page_size": 101},
        ],
        ids=["missing", "empty", "201-chars", "11-statuses", "page-size"],
    )
    def test_bad_parameters_are_422(self, api: Api, params: dict[str, Any]) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/applications/search", headers=tenant.headers(), params=params
        )

        assert response.status_code == 422


class TestBodySize(SingleBackend):
    def test_body_over_1_mib_with_content_length_is_413(self, api: Api) -> None:
        tenant = api.tenant()
        body = b'{"title": "' + b"x" * MIB + b'"}'

        status = _raw_create(api, tenant, body)

        assert status == 413

    def test_streamed_body_over_1_mib_without_content_length_is_413(
        self, api: Api
    ) -> None:
        tenant = api.tenant()

        def chunks() -> Iterator[bytes]:
            yield b'{"title": "'
            for _ in range(17):
                yield b"x" * 65536
            yield b'"}'

        response = api.client.post(
            "/applications",
            headers={**tenant.headers(), "Content-Type": "application/json"},
            content=chunks(),
        )

        assert response.request.headers.get("content-length") is None
        assert response.status_code == 413

    def test_oversized_body_is_refused_before_parsing(self, api: Api) -> None:
        tenant = api.tenant()

        status = _raw_create(api, tenant, b"{" * (MIB + 1))

        assert status == 413

    def test_body_just_under_the_limit_is_parsed(self, api: Api) -> None:
        tenant = api.tenant()
        body = b'{"title": "' + b"x" * (MIB - 100) + b'"}'

        status = _raw_create(api, tenant, body)

        assert status == 422  # parsed, then the title is too long


class TestBodyEncoding(SingleBackend):
    def test_malformed_json_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        assert _raw_create(api, tenant, b'{"title": "x",') == 422

    def test_invalid_utf8_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        assert _raw_create(api, tenant, b'{"title": "caf\xe9"}') == 422

    def test_invalid_utf8_under_another_content_type_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        status = _raw_create(api, tenant, b"\xff\xfe", **{"Content-Type": "text/plain"})

        assert status == 422

    def test_raw_nul_byte_in_the_body_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        assert _raw_create(api, tenant, b'{"title": "a\x00b"}') == 422

    def test_json_that_is_not_an_object_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        assert _raw_create(api, tenant, b"[1, 2, 3]") == 422

    def test_empty_body_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        assert _raw_create(api, tenant, b"") == 422

    def test_json_nested_past_the_parser_limit_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        body = b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

        assert _raw_create(api, tenant, body) == 422

    @pytest.mark.parametrize(
        "number", [b"NaN", b"Infinity", b"1e400"], ids=["nan", "inf", "overflow"]
    )
    def test_non_finite_number_for_an_id_is_422(self, api: Api, number: bytes) -> None:
        tenant = api.tenant()

        status = _raw_create(api, tenant, b'{"title": "x", "workflow_id": %s}' % number)

        assert status == 422

    @pytest.mark.parametrize(
        "body",
        [
            b'{"title": "\\ud800", "workflow_id": 1}',
            b'{"title": "x", "workflow_id": 1, "\\udfff": 1}',
            b'{"title": "x", "workflow_id": "\\ud800"}',
        ],
        ids=["in-title", "in-unknown-key", "in-bad-value"],
    )
    def test_lone_surrogates_are_422(self, api: Api, body: bytes) -> None:
        tenant = api.tenant()

        assert _raw_create(api, tenant, body) == 422


class TestTextFields:
    @pytest.mark.parametrize(
        "overrides",
        [
            {"title": "a\u0000b"},
            {"description": "line\u0000"},
            {"metadata": {"note": "a\u0000b"}},
            {"metadata": {"a\u0000": 1}},
        ],
        ids=["title", "description", "metadata-value", "metadata-key"],
    )
    def test_nul_characters_are_422(self, api: Api, overrides: dict[str, Any]) -> None:
        tenant = api.tenant()
        body = {"title": "x", "workflow_id": api.workflow(tenant), **overrides}

        assert _create(api, tenant, body) == 422

    @pytest.mark.parametrize(
        "params",
        [
            {"query": "desk\x00"},
            {"query": "desk", "status": "active\x00"},
        ],
        ids=["query", "status"],
    )
    def test_nul_in_query_parameters_is_422(
        self, api: Api, params: dict[str, str]
    ) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/applications/search", headers=tenant.headers(), params=params
        )

        assert response.status_code == 422

    def test_invalid_utf8_in_the_query_string_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.get(
            "/applications/search?query=caf%E9", headers=tenant.headers()
        )

        assert response.status_code == 422

    def test_nul_in_a_progress_comment_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.act(tenant, "member", app_id, "comment", comment="a\u0000")

        assert response.status_code == 422

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("title", "t" * 201),
            ("title", ""),
            ("description", "d" * 10_001),
            ("metadata", ["not", "an", "object"]),
        ],
        ids=["title-201", "title-empty", "description-10001", "metadata-list"],
    )
    def test_limits_are_422(self, api: Api, field: str, value: Any) -> None:
        tenant = api.tenant()
        body = {"title": "x", "workflow_id": api.workflow(tenant), field: value}

        assert _create(api, tenant, body) == 422

    def test_description_of_10000_characters_is_accepted(self, api: Api) -> None:
        tenant = api.tenant()
        body = {
            "title": "x",
            "workflow_id": api.workflow(tenant),
            "description": "d" * 10_000,
        }

        assert _create(api, tenant, body) == 201


class TestMetadata:
    def test_over_16_kib_is_422_and_just_under_is_accepted(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        # {"k":"..."} is 8 bytes of JSON around the value.
        under = {"k": "v" * (16 * 1024 - 8)}
        over = {"k": "v" * (16 * 1024 - 7)}

        accepted = _create(
            api, tenant, {"title": "x", "workflow_id": workflow_id, "metadata": under}
        )
        refused = _create(
            api, tenant, {"title": "x", "workflow_id": workflow_id, "metadata": over}
        )

        assert accepted == 201
        assert refused == 422

    def test_over_16_kib_in_a_patch_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.client.patch(
            f"/applications/{app_id}",
            headers=tenant.headers("member"),
            json={"metadata": {"k": "v" * 17_000}},
        )

        assert response.status_code == 422

    @pytest.mark.parametrize(
        "value", [b"NaN", b"-Infinity", b"1e400", b"1180591620717411303424"]
    )
    def test_numbers_json_cannot_carry_are_422(self, api: Api, value: bytes) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        body = b'{"title": "x", "workflow_id": %d, "metadata": {"n": %s}}' % (
            workflow_id,
            value,
        )

        assert _raw_create(api, tenant, body) == 422

    def test_lone_surrogate_key_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        body = b'{"title": "x", "workflow_id": %d, "metadata": {"\\ud800": 1}}' % (
            workflow_id
        )

        assert _raw_create(api, tenant, body) == 422

    def test_nesting_deeper_than_storable_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        deep: dict[str, Any] = {}
        for _ in range(300):
            deep = {"a": deep}

        status = _create(
            api, tenant, {"title": "x", "workflow_id": workflow_id, "metadata": deep}
        )

        assert status == 422


class TestUnknownFields(SingleBackend):
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/applications", {"title": "x", "workflow_id": 1, "owner": 2}),
            ("PATCH", "/applications/1", {"status": "completed"}),
            ("POST", "/applications/1/progress", {"action": "approve", "step": 2}),
            ("POST", "/auth/login", {"email": "a@b.c", "password": "p", "otp": 1}),
            ("POST", "/companies", {"name": "Acme", "plan": "gold"}),
            (
                "POST",
                "/applications/batch/process",
                {"application_ids": [1], "action": "approve", "force": True},
            ),
            ("POST", "/applications/bulk", {"applications": [], "atomic": False}),
        ],
        ids=["create", "patch", "progress", "login", "company", "batch", "bulk"],
    )
    def test_unknown_fields_are_422(
        self, api: Api, method: str, path: str, body: dict[str, Any]
    ) -> None:
        tenant = api.tenant()
        api.submit(tenant, api.workflow(tenant))

        response = api.client.request(method, path, headers=tenant.headers(), json=body)

        assert response.status_code == 422


class TestIds(SingleBackend):
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/applications/{id}"),
            ("PATCH", "/applications/{id}"),
            ("DELETE", "/applications/{id}"),
            ("GET", "/applications/{id}/history"),
            ("POST", "/applications/{id}/progress"),
            ("GET", "/workflows/{id}"),
            ("PUT", "/workflows/{id}"),
            ("GET", "/companies/{id}"),
            ("GET", "/jobs/{id}"),
        ],
    )
    @pytest.mark.parametrize("ident", [HUGE, 0, "abc"])
    def test_ids_out_of_range_in_the_path_are_422(
        self, api: Api, method: str, path: str, ident: int | str
    ) -> None:
        tenant = api.tenant()
        bodies: dict[str, Any] = {
            "PATCH": {"title": "x"},
            "POST": {"action": "comment"},
            "PUT": {
                "name": "w",
                "workflow_type": "t",
                "steps": [{"name": "s", "order": 1, "required_role": "admin"}],
            },
        }

        response = api.client.request(
            method,
            path.format(id=ident),
            headers=tenant.headers(),
            json=bodies.get(method),
        )

        assert response.status_code == 422

    @pytest.mark.parametrize(
        "body",
        [
            {"title": "x", "workflow_id": HUGE},
            {"title": "x", "workflow_id": 1, "company_id": HUGE},
            {"title": "x", "workflow_id": -5},
            {"title": "x", "workflow_id": "1; DROP TABLE"},
        ],
        ids=["workflow", "company", "negative", "text"],
    )
    def test_ids_out_of_range_in_the_body_are_422(
        self, api: Api, body: dict[str, Any]
    ) -> None:
        tenant = api.tenant()

        assert _create(api, tenant, body) == 422

    def test_huge_expected_version_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.act(tenant, "reviewer", app_id, "approve", expected_version=HUGE)

        assert response.status_code == 422

    def test_huge_id_in_a_batch_is_422(self, api: Api) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/applications/batch/process",
            headers=tenant.headers(),
            json={"application_ids": [1, HUGE], "action": "approve"},
        )

        assert response.status_code == 422


class TestBatchBody(SingleBackend):
    @pytest.mark.parametrize(
        "body",
        [
            {"application_ids": [3, 1, 3], "action": "approve"},
            {"application_ids": [1], "action": "escalate"},
            {"application_ids": [1]},
        ],
        ids=["duplicate-ids", "unknown-action", "no-action"],
    )
    def test_bad_batches_are_422(self, api: Api, body: dict[str, Any]) -> None:
        tenant = api.tenant()

        response = api.client.post(
            "/applications/batch/process", headers=tenant.headers(), json=body
        )

        assert response.status_code == 422


class TestHeaders(SingleBackend):
    @pytest.mark.parametrize(
        "headers",
        [
            {"Idempotency-Key": "k" * 201},
            {"Idempotency-Key": "has space"},
        ],
        ids=["long-key", "key-with-space"],
    )
    def test_bad_idempotency_key_is_422(
        self, api: Api, headers: dict[str, str]
    ) -> None:
        tenant = api.tenant()
        body = {"title": "x", "workflow_id": api.workflow(tenant)}

        response = api.client.post(
            "/applications", headers={**tenant.headers(), **headers}, json=body
        )

        assert response.status_code == 422

    @pytest.mark.parametrize("if_match", ["abc", '"1x"', "12345678901"])
    def test_bad_if_match_is_422(self, api: Api, if_match: str) -> None:
        tenant = api.tenant()
        app_id = api.submit(tenant, api.workflow(tenant))["id"]

        response = api.client.patch(
            f"/applications/{app_id}",
            headers={**tenant.headers("member"), "If-Match": if_match},
            json={"title": "y"},
        )

        assert response.status_code == 422


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


class TestNever500:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        body=st.dictionaries(
            st.sampled_from(
                ["title", "workflow_id", "description", "metadata", "company_id", "x"]
            ),
            json_values,
        )
    )
    def test_arbitrary_create_bodies_get_a_client_error_or_201(
        self, api: Api, body: dict[str, Any]
    ) -> None:
        tenant = api.tenant()

        status = _create(api, tenant, body)

        assert status in (201, 403, 404, 422)


class TestLooseValues(SingleBackend):
    @pytest.mark.parametrize(
        "title", [" ", "\t\n", "\u200b\u200b"], ids=["space", "tabs", "zero-width"]
    )
    def test_a_title_with_nothing_visible_is_422(self, api: Api, title: str) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)

        assert _create(api, tenant, {"title": title, "workflow_id": workflow_id}) == 422

    def test_true_is_not_an_id(self, api: Api) -> None:
        tenant = api.tenant()

        assert _create(api, tenant, {"title": "Laptop", "workflow_id": True}) == 422

    def test_a_number_too_long_to_read_is_422(self, api: Api) -> None:
        tenant = api.tenant()
        digits = "1" * 5000
        body = f'{{"title": "Laptop", "workflow_id": {digits}}}'.encode()

        assert _raw_create(api, tenant, body) == 422
