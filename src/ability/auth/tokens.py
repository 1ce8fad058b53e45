"""Signed, expiring access tokens (JWT, HS256).

The token carries the user's company, roles and platform-admin flag, so an
authenticated request needs no database read to know who is asking. Changes
to roles take effect when the token expires (``ABILITY_TOKEN_TTL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from ability.auth.roles import Role
from ability.errors import NotAuthenticatedError

_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the facts every authorisation check needs."""

    user_id: int
    company_id: int
    roles: frozenset[Role]
    is_platform_admin: bool

    def has_any(self, *roles: Role) -> bool:
        """Admins (company or platform) pass every role check."""
        if self.is_platform_admin or Role.ADMIN in self.roles:
            return True
        return any(role in self.roles for role in roles)


def issue_token(principal: Principal, secret: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(principal.user_id),
        "cid": principal.company_id,
        "roles": sorted(principal.roles),
        "pa": principal.is_platform_admin,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_token(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "sub", "cid"]},
        )
        return Principal(
            user_id=int(claims["sub"]),
            company_id=int(claims["cid"]),
            roles=frozenset(Role(r) for r in claims.get("roles", [])),
            is_platform_admin=bool(claims.get("pa", False)),
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticatedError("Token expired") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise NotAuthenticatedError("Invalid token") from exc
