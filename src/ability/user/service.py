from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ability.auth.passwords import hash_password
from ability.auth.roles import Role
from ability.auth.tokens import Principal
from ability.company.repository import CompanyRepository
from ability.errors import ConflictError, NotFoundError
from ability.models import User
from ability.user.repository import UserRepository

log = structlog.get_logger()


class UserExistsError(ConflictError):
    pass


class UserNotFoundError(NotFoundError):
    pass


class UserService:
    async def create(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        roles: list[Role],
        company_id: int,
        is_platform_admin: bool = False,
    ) -> User:
        """Create a user in ``company_id``; emails are unique platform-wide."""
        repository = UserRepository(session)
        if await CompanyRepository(session).get_by_id(company_id) is None:
            raise NotFoundError("Company not found")
        if await repository.get_by_email(email) is not None:
            raise UserExistsError("A user with this email exists")
        user = User(
            email=email.lower(),
            password_hash=await hash_password(password),
            roles=[str(role) for role in roles],
            company_id=company_id,
            is_platform_admin=is_platform_admin,
            is_active=True,
        )
        await repository.create(user)
        log.info("user.create.done", new_user_id=user.id, target_company=company_id)
        return user

    async def get_me(self, session: AsyncSession, principal: Principal) -> User:
        """The caller's own user record."""
        user = await UserRepository(session).get_by_id(principal.user_id)
        if user is None or not user.is_active:
            raise UserNotFoundError("User not found")
        return user


user_service = UserService()
