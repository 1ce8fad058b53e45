from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from ability.application.dependencies import StatusName, list_filters, parse_statuses
from ability.application.repository import ListFilters
from ability.application.schemas import (
    Application,
    ApplicationCreate,
    ApplicationUpdate,
    BulkCreate,
    BulkCreated,
    HistoryEntry,
    Progress,
    SearchQuery,
)
from ability.application.service import application_service
from ability.auth.dependencies import AdminUser, ParticipantUser, target_company
from ability.dependencies import AppCache, ReadSession, WriteSession
from ability.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
    error_responses,
)
from ability.kit.pagination import Page, PageRequest, page_request
from ability.kit.responses import json_bytes
from ability.kit.schemas import IdPath, IdQuery

router = APIRouter(prefix="/applications", tags=["applications"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[!-~]+$"),
]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", max_length=20, pattern=r'^W?/?"?\d+"?$')
]
Pagination = Annotated[PageRequest, Depends(page_request)]


def _version_of(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    digits = "".join(ch for ch in if_match if ch.isdigit())
    if not digits or len(digits) > 9:
        raise UnprocessableError("If-Match must be an application version")
    return int(digits)


@router.post(
    "",
    status_code=201,
    response_model=Application,
    responses=error_responses(ForbiddenError, NotFoundError, ConflictError),
)
async def create_application(
    body: ApplicationCreate,
    principal: ParticipantUser,
    session: WriteSession,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Application:
    """Submit an application; an Idempotency-Key makes retries safe."""
    application, replayed = await application_service.create(
        session, principal, body, idempotency_key
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["ETag"] = f'"{application.version}"'
    return application


@router.get(
    "", response_model=Page[Application], responses=error_responses(ForbiddenError)
)
async def list_applications(
    principal: ParticipantUser,
    session: ReadSession,
    cache: AppCache,
    filters: Annotated[ListFilters, Depends(list_filters)],
    page: Pagination,
    company_id: IdQuery = None,
) -> Response:
    """Applications of a company, filtered and paginated (page or cursor)."""
    company = target_company(principal, company_id)
    body = await application_service.list_json(session, cache, company, filters, page)
    return json_bytes(body)


@router.get(
    "/search",
    response_model=Page[Application],
    responses=error_responses(ForbiddenError),
)
async def search_applications(
    principal: ParticipantUser,
    session: ReadSession,
    query: Annotated[SearchQuery, Query()],
    page: Pagination,
    status: Annotated[list[StatusName] | None, Query()] = None,
    company_id: IdQuery = None,
) -> Page[Application]:
    """Full-text search over title and description, best matches first.

    Search results page by ``page`` only: a ``cursor`` is refused.
    """
    if page.after is not None:
        raise UnprocessableError("search pages by page number, not cursor")
    company = target_company(principal, company_id)
    statuses = parse_statuses(status)
    return await application_service.search(session, company, query, statuses, page)


@router.post(
    "/bulk",
    status_code=201,
    response_model=BulkCreated,
    responses=error_responses(ForbiddenError, NotFoundError, ConflictError),
)
async def bulk_create_applications(
    body: BulkCreate,
    principal: ParticipantUser,
    session: WriteSession,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> BulkCreated:
    """Submit up to 1,000 applications at once: all or none.

    An Idempotency-Key makes retries safe, as for a single create.
    """
    ids, replayed = await application_service.bulk_create(
        session, principal, body.applications, idempotency_key
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return BulkCreated(ids=ids)


@router.get(
    "/{application_id}",
    response_model=Application,
    responses=error_responses(ForbiddenError, NotFoundError),
)
async def get_application(
    application_id: IdPath,
    principal: ParticipantUser,
    session: ReadSession,
    cache: AppCache,
) -> Response:
    """One application."""
    body = await application_service.get_json(
        session, cache, principal.company_id, application_id
    )
    return json_bytes(body)


@router.patch(
    "/{application_id}",
    response_model=Application,
    responses=error_responses(ForbiddenError, NotFoundError, ConflictError),
)
async def update_application(
    application_id: IdPath,
    body: ApplicationUpdate,
    principal: ParticipantUser,
    session: WriteSession,
    response: Response,
    if_match: IfMatch = None,
) -> Application:
    """Edit a pending application; If-Match guards against lost updates."""
    application = await application_service.update(
        session, principal, application_id, body, _version_of(if_match)
    )
    response.headers["ETag"] = f'"{application.version}"'
    return application


@router.delete(
    "/{application_id}",
    status_code=204,
    responses=error_responses(ForbiddenError, NotFoundError),
)
async def delete_application(
    application_id: IdPath, principal: AdminUser, session: WriteSession
) -> None:
    """Soft-delete an application (admins)."""
    await application_service.delete(session, principal, application_id)


@router.post(
    "/{application_id}/progress",
    response_model=Application,
    responses=error_responses(ForbiddenError, NotFoundError, ConflictError),
)
async def progress_application(
    application_id: IdPath,
    body: Progress,
    principal: ParticipantUser,
    read: ReadSession,
    write: WriteSession,
) -> Application:
    """Approve, reject, comment on or cancel the application's current step.

    The application is read first and written only if unchanged since, so of
    two people acting on one step at once exactly one wins; the other gets 409.
    """
    seen = await application_service.read_for_progress(read, principal, application_id)
    await read.close()
    return await application_service.progress(
        write, principal, application_id, body, seen=seen
    )


@router.get(
    "/{application_id}/history",
    response_model=list[HistoryEntry],
    responses=error_responses(ForbiddenError, NotFoundError),
)
async def application_history(
    application_id: IdPath, principal: ParticipantUser, session: ReadSession
) -> list[HistoryEntry]:
    """Every action taken on the application, oldest first."""
    return await application_service.history(
        session, principal.company_id, application_id
    )
