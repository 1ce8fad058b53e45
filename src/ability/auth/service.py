from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ability.auth.passwords import verify_password
from ability.auth.ratelimit import LoginLimiter
from ability.auth.roles import Role
from ability.auth.schemas import LoginRequest, Token
from ability.auth.tokens import Principal, issue_token
from ability.config import Settings
from ability.errors import NotAuthenticatedError
from ability.models import User
from ability.user.repository import UserRepository

log = structlog.get_logger()


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        company_id=user.company_id,
        roles=frozenset(Role(role) for role in user.roles),
        is_platform_admin=user.is_platform_admin,
    )


class AuthService:
    async def login(
        self,
        session: AsyncSession,
        settings: Settings,
        limiter: LoginLimiter,
        credentials: LoginRequest,
        ip: str | None,
    ) -> Token:
        """A token for valid credentials; one message for every failure.

        Attempts are counted per email and per ``ip`` first, so a guesser
        past the limit gets 429 without a password being checked.
        """
        attempt = await limiter.begin(credentials.email, ip)
        user = await UserRepository(session).get_by_email(credentials.email)
        password_hash = user.password_hash if user else None
        ok = await verify_password(password_hash, credentials.password)
        if user is None or not ok or not user.is_active:
            log.info("auth.login.refused")
            raise NotAuthenticatedError("Incorrect email or password")

        await limiter.succeeded(attempt)
        token = issue_token(principal_of(user), settings.secret_key, settings.TOKEN_TTL)
        log.info("auth.login.done", user_id=user.id, company_id=user.company_id)
        return Token(
            access_token=token, expires_in=int(settings.TOKEN_TTL.total_seconds())
        )


auth_service = AuthService()
