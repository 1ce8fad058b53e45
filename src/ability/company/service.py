from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ability.auth.tokens import Principal
from ability.company.repository import CompanyRepository
from ability.errors import ConflictError, NotFoundError
from ability.models import Company


class CompanyNotFoundError(NotFoundError):
    pass


class CompanyExistsError(ConflictError):
    pass


class CompanyService:
    async def create(self, session: AsyncSession, name: str) -> Company:
        """Create a company; names are unique."""
        repository = CompanyRepository(session)
        if await repository.get_by_name(name) is not None:
            raise CompanyExistsError("A company with this name exists")
        return await repository.create(name)

    async def get(
        self, session: AsyncSession, principal: Principal, company_id: int
    ) -> Company:
        """The caller's own company, or any company for platform admins."""
        if company_id != principal.company_id and not principal.is_platform_admin:
            raise CompanyNotFoundError("Company not found")
        company = await CompanyRepository(session).get_by_id(company_id)
        if company is None:
            raise CompanyNotFoundError("Company not found")
        return company

    async def ensure(self, session: AsyncSession, name: str) -> Company:
        """The company with this name, created if missing."""
        repository = CompanyRepository(session)
        return await repository.get_by_name(name) or await repository.create(name)


company_service = CompanyService()
