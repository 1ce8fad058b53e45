"""The outermost request layer: ids, limits, byte-level checks and the log.

Pure ASGI (no ``BaseHTTPMiddleware``), so it adds little to each request:

- takes ``X-Request-ID`` (if sane) or makes one, returns it, and binds it
  to every log line of the request;
- refuses bodies over the limit with 413 before anything parses them;
- refuses request bodies sent with a content coding (gzip, ...) with 415:
  bodies are taken as they are;
- refuses request bodies and query strings that are not valid UTF-8 or
  carry NUL bytes with 422;
- logs one ``http.request`` line and records per-route figures.

``GZipMiddleware`` compresses large responses for clients whose
``Accept-Encoding`` accepts gzip, q-values included (``accepts_gzip``).
"""

from __future__ import annotations

import re
import time
import uuid
import zlib
from urllib.parse import unquote_to_bytes

import orjson
import structlog
from starlette.middleware import gzip as starlette_gzip
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ability.metrics import http_recorder

log = structlog.get_logger("ability.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_UNMATCHED = "<unmatched>"
_IDENTITY = (b"", b"identity")
# RFC 9110 qvalue: "0" or "1" with at most three decimals, never above 1.
_QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")
_GZIP_NAMES = ("gzip", "x-gzip")


class _RejectError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.headers = headers or []


def _check_text(raw: bytes, what: str) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _RejectError(422, f"{what} is not valid UTF-8") from None
    if "\x00" in text:
        raise _RejectError(422, f"{what} contains NUL bytes")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _joined(scope: Scope, name: bytes) -> bytes | None:
    """Every value of a list-valued header, as one comma-separated value."""
    values = [bytes(value) for key, value in scope["headers"] if key == name]
    return b",".join(values) if values else None


def _quality(params: list[str]) -> float | None:
    """The ``q`` of one Accept-Encoding entry: 1 if absent, None if invalid."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() != "q":
            continue
        value = value.strip()
        return float(value) if _QVALUE.fullmatch(value) else None
    return 1.0


def accepts_gzip(header: bytes | None) -> bool:
    """Whether an ``Accept-Encoding`` value lets the response be gzipped.

    gzip (or ``x-gzip``) must have a q above 0, named or through ``*``, and
    not rank below an ``identity`` the client names. No header: no gzip.
    """
    if header is None:
        return False
    qualities: dict[str, float] = {}
    for entry in header.decode("latin-1").split(","):
        coding, *params = entry.split(";")
        coding = coding.strip().lower()
        quality = _quality(params)
        if coding and quality is not None:
            qualities.setdefault(coding, quality)
    named = [qualities[name] for name in _GZIP_NAMES if name in qualities]
    gzip_q = max(named) if named else qualities.get("*", 0.0)
    return gzip_q > 0 and gzip_q >= qualities.get("identity", 0.0)


class _GZipResponder(starlette_gzip.GZipResponder):
    """Starlette's, with a 4 KiB window: setting up the default 32 KiB one
    was half the cost of gzipping a page of 20 applications (35 us instead
    of 66), and JSON repeats itself within 4 KiB (same size to 1 %)."""

    @property
    def compressor(self) -> zlib._Compress:
        if self._compressor is None:
            self._compressor = zlib.compressobj(
                self.compresslevel, zlib.DEFLATED, 16 + 12, 5
            )
        return self._compressor


class GZipMiddleware(starlette_gzip.GZipMiddleware):
    """Starlette's gzip, chosen by ``accepts_gzip`` rather than by finding
    "gzip" anywhere in the header (which gzips for ``gzip;q=0``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder: ASGIApp
        if accepts_gzip(_joined(scope, b"accept-encoding")):
            responder = _GZipResponder(
                self.app,
                self.minimum_size,
                compresslevel=self.compresslevel,
                thread_minimum_size=self.thread_minimum_size,
                exclude_content_types=self.exclude_content_types,
            )
        else:
            responder = starlette_gzip.IdentityResponder(
                self.app,
                self.minimum_size,
                exclude_content_types=self.exclude_content_types,
            )
        await responder(scope, receive, send)


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", _UNMATCHED)


class RequestMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, record_metrics: bool) -> None:
        self.app = app
        self.max_body = max_body
        self.record_metrics = record_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        given_text = given.decode("latin-1") if given else ""
        request_id = given_text if _REQUEST_ID.match(given_text) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        if self.record_metrics:
            http_recorder.in_flight += 1
        try:
            replay = await self._guard(scope, receive)
            await self.app(scope, replay, send_with_id)
        except _RejectError as reject:
            await self._reject(send_with_id, reject)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            if self.record_metrics:
                http_recorder.in_flight -= 1
                http_recorder.finished(scope["method"], route, status, seconds)
            log.info(
                "http.request",
                method=scope["method"],
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 3),
            )

    async def _guard(self, scope: Scope, receive: Receive) -> Receive:
        """Check the query and body; return a receive that replays the body."""
        query = scope.get("query_string", b"")
        if query:
            _check_text(unquote_to_bytes(query.replace(b"+", b" ")), "query string")
        coding = _joined(scope, b"content-encoding")
        if coding is not None and coding.strip().lower() not in _IDENTITY:
            raise _RejectError(
                415,
                "Content-Encoding is not supported; send the body uncompressed",
                [(b"accept-encoding", b"identity")],
            )
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                raise _RejectError(422, "Content-Length is not a number")
            if int(length) > self.max_body:
                raise _RejectError(413, f"body exceeds {self.max_body} bytes")
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return receive
        body = await self._read_body(receive)
        content_type = (_header(scope, b"content-type") or b"").lower()
        if not content_type or b"json" in content_type:
            _check_text(body, "request body")
        return _replayer(body, receive)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _RejectError(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _RejectError(413, f"body exceeds {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _reject(self, send: Send, reject: _RejectError) -> None:
        body = orjson.dumps({"detail": reject.detail, "error": "RequestRejected"})
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        headers.extend(reject.headers)
        if reject.status == 413:
            headers.append((b"connection", b"close"))
        await send(
            {"type": "http.response.start", "status": reject.status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})


def _replayer(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
