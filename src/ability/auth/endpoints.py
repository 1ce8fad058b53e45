from __future__ import annotations

from fastapi import APIRouter

from ability.auth.dependencies import ClientIp, LoginThrottle
from ability.auth.ratelimit import LoginRateLimitedError
from ability.auth.schemas import LoginRequest, Token
from ability.auth.service import auth_service
from ability.dependencies import AppSettings, ReadSession
from ability.errors import NotAuthenticatedError, error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=Token,
    responses=error_responses(NotAuthenticatedError, LoginRateLimitedError),
)
async def login(
    body: LoginRequest,
    session: ReadSession,
    settings: AppSettings,
    limiter: LoginThrottle,
    ip: ClientIp,
) -> Token:
    """Exchange email and password for a bearer token.

    Repeated failures for one email, or from one address, are answered 429
    (with ``Retry-After``) until their window ends.
    """
    return await auth_service.login(session, settings, limiter, body, ip)
