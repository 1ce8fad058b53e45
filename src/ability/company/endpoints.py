from __future__ import annotations

from fastapi import APIRouter

from ability.auth.dependencies import CurrentUser, ParticipantUser
from ability.company.schemas import Company, CompanyCreate
from ability.company.service import company_service
from ability.dependencies import ReadSession, WriteSession
from ability.errors import ConflictError, ForbiddenError, NotFoundError, error_responses
from ability.kit.schemas import IdPath
from ability.models import Company as CompanyRow

router = APIRouter(prefix="/companies", tags=["companies"])


@router.post(
    "",
    status_code=201,
    response_model=Company,
    responses=error_responses(ForbiddenError, ConflictError),
)
async def create_company(
    body: CompanyCreate, principal: CurrentUser, session: WriteSession
) -> CompanyRow:
    """Create a company (platform admins only)."""
    if not principal.is_platform_admin:
        raise ForbiddenError("Only platform admins create companies")
    return await company_service.create(session, body.name)


@router.get(
    "/{company_id}",
    response_model=Company,
    responses=error_responses(ForbiddenError, NotFoundError),
)
async def get_company(
    company_id: IdPath, principal: ParticipantUser, session: ReadSession
) -> CompanyRow:
    """One company: your own, or any for platform admins."""
    return await company_service.get(session, principal, company_id)
