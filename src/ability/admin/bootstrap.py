"""The platform admin named by settings or by ``ability admin create``."""

from __future__ import annotations

import structlog

from ability.auth.passwords import hash_password
from ability.auth.roles import Role
from ability.company.service import company_service
from ability.db import Database
from ability.user.repository import UserRepository
from ability.user.service import user_service

log = structlog.get_logger()


async def ensure_platform_admin(
    db: Database, email: str, password: str, company_name: str
) -> bool:
    """Create the platform admin, or reset its password and flag if it exists.

    Returns True when the user was created, False when an existing one was
    promoted or reset.
    """
    async with db.session(write=True) as session:
        existing = await UserRepository(session).get_by_email(email)
        if existing is not None:
            existing.password_hash = await hash_password(password)
            existing.is_platform_admin = True
            existing.is_active = True
            log.info("admin.bootstrap.updated", user_id=existing.id)
            return False
        company = await company_service.ensure(session, company_name)
        user = await user_service.create(
            session,
            email=email,
            password=password,
            roles=[Role.ADMIN],
            company_id=company.id,
            is_platform_admin=True,
        )
        log.info("admin.bootstrap.created", user_id=user.id)
        return True
