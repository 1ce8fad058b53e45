from __future__ import annotations

from fastapi import Response


def json_bytes(body: bytes, status_code: int = 200) -> Response:
    """A response from JSON that is already serialised (e.g. cached)."""
    return Response(body, status_code=status_code, media_type="application/json")
