from __future__ import annotations

from fastapi import APIRouter

from ability.auth.dependencies import AdminUser, CurrentUser, target_company
from ability.dependencies import ReadSession, WriteSession
from ability.errors import ConflictError, ForbiddenError, NotFoundError, error_responses
from ability.models import User as UserRow
from ability.user.schemas import User, UserCreate
from ability.user.service import user_service

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=User, responses=error_responses(NotFoundError))
async def get_me(principal: CurrentUser, session: ReadSession) -> UserRow:
    """The calling user."""
    return await user_service.get_me(session, principal)


@router.post(
    "",
    status_code=201,
    response_model=User,
    responses=error_responses(ForbiddenError, ConflictError, NotFoundError),
)
async def create_user(
    body: UserCreate, principal: AdminUser, session: WriteSession
) -> UserRow:
    """Add a user to your company (platform admins may name another)."""
    return await user_service.create(
        session,
        email=body.email,
        password=body.password,
        roles=body.roles,
        company_id=target_company(principal, body.company_id),
    )
