"""``GET /admin/dashboard``: a live operator dashboard in one HTML page.

The page holds no data, so it needs no token: it asks for one (or for an
email and password, exchanged at ``/auth/login``), keeps it in the tab's
``sessionStorage`` and polls the ``/admin`` JSON views, drawing its charts
as SVG. Script and styles are inline and pinned by hash in the page's
Content-Security-Policy, which also forbids loading anything from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(prefix="/admin", tags=["admin"])

PAGE = (Path(__file__).parent / "dashboard.html").read_text(encoding="utf-8")


def _hashes(tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", PAGE, flags=re.DOTALL)
    digests = (hashlib.sha256(block.encode()).digest() for block in blocks)
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests)


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src {_hashes('script')}",
        f"style-src {_hashes('style')}",
        "connect-src 'self'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """Live charts of latency, throughput, errors, cache, pool and memory."""
    return HTMLResponse(PAGE, headers=HEADERS)
