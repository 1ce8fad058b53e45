from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ability.models import Company


class CompanyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_id(self, company_id: int) -> Company | None:
        return await self.session.get(Company, company_id)

    async def get_by_name(self, name: str) -> Company | None:
        result = await self.session.execute(
            sa.select(Company).where(Company.name == name)
        )
        return result.scalar_one_or_none()

    async def create(self, name: str) -> Company:
        company = Company(name=name)
        self.session.add(company)
        await self.session.flush()
        return company
