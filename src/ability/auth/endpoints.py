from __future__ import annotations

from fastapi import APIRouter

from ability.auth.schemas import LoginRequest, Token
from ability.auth.service import auth_service
from ability.dependencies import AppSettings, ReadSession
from ability.errors import NotAuthenticatedError, error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login", response_model=Token, responses=error_responses(NotAuthenticatedError)
)
async def login(
    body: LoginRequest, session: ReadSession, settings: AppSettings
) -> Token:
    """Exchange email and password for a bearer token."""
    return await auth_service.login(session, settings, body.email, body.password)
