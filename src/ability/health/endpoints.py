from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response

from ability.kit.schemas import ResponseModel

router = APIRouter(prefix="/health", tags=["health"])


class Readiness(ResponseModel):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, Any]


@router.get("/live")
async def live() -> dict[str, str]:
    """200 while the process runs."""
    return {"status": "ok"}


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(request: Request, response: Response) -> Readiness:
    """200 while the database answers (``degraded`` if a configured Redis
    does not); 503 when the database does not."""
    checks: dict[str, Any] = {}
    try:
        await request.app.state.db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
        response.status_code = 503
        response.headers["Retry-After"] = "1"
        return Readiness(status="unavailable", checks=checks)
    cache = request.app.state.cache
    checks["cache"] = cache.status
    if cache.client is not None:
        checks["redis"] = "ok" if cache.redis_ok else "unavailable"
    status = "degraded" if cache.status == "degraded" else "ok"
    return Readiness(status=status, checks=checks)
