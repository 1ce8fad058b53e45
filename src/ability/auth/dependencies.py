"""Who is calling, and which company a request may touch."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ability.auth.ratelimit import LoginLimiter
from ability.auth.roles import Role
from ability.auth.tokens import Principal, read_token
from ability.dependencies import AppSettings
from ability.errors import ForbiddenError, NotAuthenticatedError

_bearer = HTTPBearer(auto_error=False)


async def get_principal(
    request: Request,
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticatedError()
    principal = read_token(credentials.credentials, settings.secret_key)
    structlog.contextvars.bind_contextvars(
        company_id=principal.company_id, user_id=principal.user_id
    )
    await request.app.state.rate_limiter.check(principal.user_id)
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


def get_login_limiter(request: Request) -> LoginLimiter:
    limiter: LoginLimiter = request.app.state.login_limiter
    return limiter


def client_ip(request: Request) -> str | None:
    """The caller's address (uvicorn takes it from trusted proxy headers)."""
    return request.client.host if request.client else None


LoginThrottle = Annotated[LoginLimiter, Depends(get_login_limiter)]
ClientIp = Annotated[str | None, Depends(client_ip)]


def require(*roles: Role) -> object:
    """A dependency that admits admins and holders of any of ``roles``."""

    async def check(principal: CurrentUser) -> Principal:
        if not principal.has_any(*roles):
            raise ForbiddenError("Your roles do not allow this")
        return principal

    return Depends(check)


def target_company(principal: Principal, company_id: int | None) -> int:
    """The company a request acts on: the caller's, or any for platform admins."""
    if company_id is None or company_id == principal.company_id:
        return principal.company_id
    if principal.is_platform_admin:
        return company_id
    raise ForbiddenError("company_id must be your own company")


AdminUser = Annotated[Principal, require(Role.ADMIN)]
ReporterUser = Annotated[Principal, require(Role.REPORTER)]
# Applications, workflows, jobs and the company itself: every role but
# reporter, which reads reports only (roles add up, so reporter+member passes).
PARTICIPANT_ROLES = (Role.MEMBER, Role.REVIEWER, Role.APPROVER)
ParticipantUser = Annotated[Principal, require(*PARTICIPANT_ROLES)]
