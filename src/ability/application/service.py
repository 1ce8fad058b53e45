from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application import search as fulltext
from ability.application.repository import ApplicationRepository, ListFilters
from ability.application.schemas import (
    Action,
    Application,
    ApplicationCreate,
    ApplicationUpdate,
    BulkCreated,
    HistoryEntry,
    Progress,
)
from ability.application.transitions import ApplicationStateError, decide
from ability.auth.dependencies import target_company
from ability.auth.tokens import Principal
from ability.cache import scopes
from ability.cache.service import Cache
from ability.db import changed
from ability.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from ability.kit.pagination import Keyset, Page, PageRequest, build_page
from ability.models import IdempotencyKey
from ability.models.application import Status
from ability.models.base import utcnow
from ability.workflow.repository import WorkflowRepository
from ability.workflow.service import WorkflowNotFoundError, steps_of_version

log = structlog.get_logger()


class ApplicationNotFoundError(NotFoundError):
    pass


class StaleVersionError(ConflictError):
    pass


class IdempotencyKeyReusedError(UnprocessableError):
    pass


def _changed(session: AsyncSession, company_id: int, ids: list[int]) -> None:
    changed(
        session,
        scopes.applications(company_id),
        *(scopes.application(company_id, app_id) for app_id in ids),
    )


def to_schema(row: RowMapping) -> Application:
    return Application.model_validate(row)


def _position(app: Application) -> Keyset:
    return Keyset(app.created_at, app.id)


def _request_hash(request: Any) -> str:
    """A fingerprint of a request's JSON, to tell a retry from a new request."""
    canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _bulk_request(bodies: list[ApplicationCreate]) -> dict[str, Any]:
    # The shape of the bulk body: never equal to a single create's request.
    return {"applications": [body.model_dump(mode="json") for body in bodies]}


class ApplicationService:
    async def _new_rows(
        self,
        session: AsyncSession,
        principal: Principal,
        bodies: list[ApplicationCreate],
    ) -> tuple[int, list[dict[str, Any]]]:
        """Check creates against their company and workflows; build rows."""
        companies = {target_company(principal, body.company_id) for body in bodies}
        if len(companies) != 1:
            raise ForbiddenError("All applications must belong to one company")
        company_id = companies.pop()
        wanted = sorted({body.workflow_id for body in bodies})
        workflows = await WorkflowRepository(session, company_id).get_by_ids(wanted)
        if len(workflows) != len(wanted):
            raise WorkflowNotFoundError("Workflow not found")
        now = utcnow()
        rows = [
            {
                "company_id": company_id,
                "workflow_id": body.workflow_id,
                "workflow_version": workflows[body.workflow_id].version,
                "title": body.title,
                "description": body.description,
                "status": Status.PENDING.value,
                "current_step": 1,
                "metadata": body.metadata,
                "created_by": principal.user_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "is_deleted": False,
            }
            for body in bodies
        ]
        return company_id, rows

    async def create(
        self,
        session: AsyncSession,
        principal: Principal,
        body: ApplicationCreate,
        idempotency_key: str | None = None,
    ) -> tuple[Application, bool]:
        """Submit one application; returns it and whether it is a replay."""
        response, replayed = await self._insert_once(
            session,
            principal,
            [body],
            body.model_dump(mode="json"),
            idempotency_key,
            lambda rows: to_schema(rows[0]).model_dump(mode="json"),
        )
        application = Application.model_validate(response)
        log.info(
            "application.create.done", application_id=application.id, replayed=replayed
        )
        return application, replayed

    async def _insert_once(
        self,
        session: AsyncSession,
        principal: Principal,
        bodies: list[ApplicationCreate],
        request: Any,
        idempotency_key: str | None,
        respond: Callable[[list[RowMapping]], dict[str, Any]],
    ) -> tuple[dict[str, Any], bool]:
        """Insert ``bodies`` and answer ``respond(rows)``; with a key, only
        the first time: a retry of the same ``request`` gets the first answer.
        Returns the answer and whether it is a replay."""
        company_id, rows = await self._new_rows(session, principal, bodies)
        repository = ApplicationRepository(session, company_id)
        if idempotency_key is None:
            inserted = await repository.insert_many(rows)
            response = respond(inserted)
        else:
            request_hash = _request_hash(request)
            replay = await self._replay(
                session, principal, company_id, idempotency_key, request_hash
            )
            if replay is not None:
                return replay, True
            try:
                # The rows and the key are kept together or not at all: when
                # a retry with the same key commits first, its answer is ours.
                async with session.begin_nested():
                    inserted = await repository.insert_many(rows)
                    response = respond(inserted)
                    session.add(
                        IdempotencyKey(
                            company_id=company_id,
                            user_id=principal.user_id,
                            key=idempotency_key,
                            request_hash=request_hash,
                            status_code=201,
                            response=response,
                            created_at=utcnow(),
                        )
                    )
            except IntegrityError:
                replay = await self._replay(
                    session, principal, company_id, idempotency_key, request_hash
                )
                if replay is None:
                    raise
                return replay, True
        _changed(session, company_id, [row["id"] for row in inserted])
        return response, False

    async def _replay(
        self,
        session: AsyncSession,
        principal: Principal,
        company_id: int,
        key: str,
        request_hash: str,
    ) -> dict[str, Any] | None:
        """The response first given for ``key``, if this request was made."""
        stored = await session.get(IdempotencyKey, (company_id, principal.user_id, key))
        if stored is None:
            return None
        if stored.request_hash != request_hash:
            raise IdempotencyKeyReusedError(
                "Idempotency-Key was already used with a different request"
            )
        log.info("application.create.replayed", idempotency_key=key)
        return stored.response

    async def bulk_create(
        self,
        session: AsyncSession,
        principal: Principal,
        bodies: list[ApplicationCreate],
        idempotency_key: str | None = None,
    ) -> tuple[list[int], bool]:
        """Submit many applications in one transaction: all or none.

        Returns the new ids and whether they replay an earlier request.
        """
        response, replayed = await self._insert_once(
            session,
            principal,
            bodies,
            _bulk_request(bodies),
            idempotency_key,
            lambda rows: BulkCreated(ids=[row["id"] for row in rows]).model_dump(
                mode="json"
            ),
        )
        ids = BulkCreated.model_validate(response).ids
        log.info("application.bulk_create.done", count=len(ids), replayed=replayed)
        return ids, replayed

    async def _load(self, repository: ApplicationRepository, app_id: int) -> RowMapping:
        row = await repository.get_by_id(app_id)
        if row is None:
            raise ApplicationNotFoundError("Application not found")
        return row

    async def get(
        self, session: AsyncSession, company_id: int, app_id: int
    ) -> Application:
        """One application of the company."""
        repository = ApplicationRepository(session, company_id)
        return to_schema(await self._load(repository, app_id))

    async def get_json(
        self, session: AsyncSession, cache: Cache, company_id: int, app_id: int
    ) -> bytes:
        """One application as JSON, through the cache."""

        async def load() -> Application | None:
            row = await ApplicationRepository(session, company_id).get_by_id(app_id)
            return None if row is None else to_schema(row)

        scope = scopes.application(company_id, app_id)
        body = await cache.get_or_load_json(scope, "", load)
        if body is None:
            raise ApplicationNotFoundError("Application not found")
        return body

    async def list_json(
        self,
        session: AsyncSession,
        cache: Cache,
        company_id: int,
        filters: ListFilters,
        page: PageRequest,
    ) -> bytes:
        """A page of applications as JSON; first pages come through the cache."""

        async def load() -> Page[Application]:
            return await self.list(session, company_id, filters, page)

        if page.page != 1:
            return (await load()).model_dump_json().encode()
        variant = f"list:{filters.key()}:{page.page_size}:{page.with_total}"
        scope = scopes.applications(company_id)
        body = await cache.get_or_load_json(scope, variant, load)
        assert body is not None  # a list always has a body
        return body

    async def update(
        self,
        session: AsyncSession,
        principal: Principal,
        app_id: int,
        body: ApplicationUpdate,
        if_match: int | None,
    ) -> Application:
        """Edit a pending application (its submitter or an admin)."""
        repository = ApplicationRepository(session, principal.company_id)
        current = await self._load(repository, app_id)
        if current["created_by"] != principal.user_id and not principal.has_any():
            raise ForbiddenError("Only the submitter or an admin may edit")
        if if_match is not None and if_match != current["version"]:
            raise StaleVersionError("The application has changed (version)")
        if current["status"] != Status.PENDING:
            raise ApplicationStateError("Only pending applications can be edited")
        values = body.model_dump(exclude_unset=True)
        for name in ("title", "metadata"):
            if name in values and values[name] is None:
                raise UnprocessableError(f"{name} cannot be null")
        if not values:  # nothing to change: no new version either
            return to_schema(current)
        values["updated_at"] = utcnow()
        row = await repository.update(app_id, current["version"], values)
        if row is None:
            raise StaleVersionError("The application changed meanwhile; retry")
        _changed(session, principal.company_id, [app_id])
        return to_schema(row)

    async def delete(
        self, session: AsyncSession, principal: Principal, app_id: int
    ) -> None:
        """Soft-delete an application (admins)."""
        repository = ApplicationRepository(session, principal.company_id)
        current = await self._load(repository, app_id)
        values = {"is_deleted": True, "updated_at": utcnow()}
        if await repository.update(app_id, current["version"], values) is None:
            raise StaleVersionError("The application changed meanwhile; retry")
        _changed(session, principal.company_id, [app_id])
        log.info("application.delete.done", application_id=app_id)

    async def search(
        self,
        session: AsyncSession,
        company_id: int,
        query: str,
        statuses: frozenset[Status],
        page: PageRequest,
    ) -> Page[Application]:
        """Full-text search over title and description, best first."""
        terms = fulltext.terms_of(query)
        if len(terms) > fulltext.MAX_TERMS:
            raise UnprocessableError(
                f"query has {len(terms)} words; at most {fulltext.MAX_TERMS}"
            )
        request = fulltext.SearchRequest(
            company_id=company_id,
            terms=terms,
            statuses=statuses,
            limit=page.page_size + 1,
            offset=page.offset,
        )
        rows = await fulltext.search(session, request)
        total = await fulltext.count(session, request) if page.with_total else None
        return build_page([to_schema(r) for r in rows], page, None, total)

    async def history(
        self, session: AsyncSession, company_id: int, app_id: int
    ) -> list[HistoryEntry]:
        """Every action on the application, oldest first."""
        repository = ApplicationRepository(session, company_id)
        await self._load(repository, app_id)
        return [
            HistoryEntry.model_validate(r) for r in await repository.history(app_id)
        ]

    async def progress(
        self,
        session: AsyncSession,
        principal: Principal,
        app_id: int,
        body: Progress,
        seen: RowMapping | None = None,
        job_id: int | None = None,
    ) -> Application:
        """Approve, reject, comment or cancel, guarded by the version read.

        ``seen`` is the application as the caller read it (in an earlier
        transaction); the write lands only if nobody changed it since.
        """
        repository = ApplicationRepository(session, principal.company_id)
        app = seen if seen is not None else await self._load(repository, app_id)
        if (
            body.expected_version is not None
            and body.expected_version != app["version"]
        ):
            raise StaleVersionError("The application has changed (version)")
        steps = await steps_of_version(
            session, principal.company_id, app["workflow_id"], app["workflow_version"]
        )
        approvers: set[int] = set()
        if body.action is Action.APPROVE and app["current_step"] is not None:
            approvers = await repository.approvers_of_step(
                app_id, app["workflow_version"], app["current_step"]
            )
        transition = decide(
            app, steps, principal, body.action, body.comment, approvers, utcnow()
        )
        row = await repository.update(app_id, app["version"], transition.changes)
        if row is None:
            raise StaleVersionError("Someone else acted first; reload and retry")
        await repository.add_event({**transition.event, "job_id": job_id})
        _changed(session, principal.company_id, [app_id])
        log.info(
            "application.progress.done",
            application_id=app_id,
            action=body.action.value,
            status=row["status"],
        )
        return to_schema(row)

    async def read_for_progress(
        self, session: AsyncSession, principal: Principal, app_id: int
    ) -> RowMapping:
        """The application as the caller sees it before acting."""
        repository = ApplicationRepository(session, principal.company_id)
        return await self._load(repository, app_id)

    async def list(
        self,
        session: AsyncSession,
        company_id: int,
        filters: ListFilters,
        page: PageRequest,
    ) -> Page[Application]:
        """Applications matching the filters, in keyset order."""
        repository = ApplicationRepository(session, company_id)
        rows = await repository.list(filters, page)
        total = await repository.count(filters) if page.with_total else None
        return build_page([to_schema(r) for r in rows], page, _position, total)


application_service = ApplicationService()
