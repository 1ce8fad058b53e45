"""``ability import FILE.jsonl``: many applications, fast, all or nothing.

Each line is one ``ApplicationCreate`` object. Lines are parsed and
validated as they stream in and written in chunks through the database's
fastest path (``COPY`` on PostgreSQL), all in one transaction: a bad line
stops the import with its line number, and nothing is kept. On PostgreSQL
the imported applications are indexed for search once the import has
committed (``search.index_backlog``).
"""

from __future__ import annotations

import codecs
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ability.application.repository import applications
from ability.application.schemas import ApplicationCreate
from ability.application.search import indexing_deferred
from ability.auth.dependencies import PARTICIPANT_ROLES
from ability.auth.service import principal_of
from ability.cache import scopes
from ability.db import Database, changed
from ability.errors import UnprocessableError
from ability.kit.bulk import BulkWriter, prepare_bulk_load, read_ahead
from ability.models.application import Status
from ability.models.base import utcnow
from ability.user.repository import UserRepository
from ability.workflow.repository import WorkflowRepository


class ImportLineError(UnprocessableError):
    pass


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    company_id: int


def _parse(number: int, line: bytes) -> ApplicationCreate:
    try:
        return ApplicationCreate.model_validate_json(line)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        detail = f"{where}: {error['msg']}" if where else error["msg"]
        raise ImportLineError(f"line {number}: {detail}") from exc


# Every column an imported row sets; ``id`` comes from the table's default.
_COLUMNS = (
    "company_id",
    "workflow_id",
    "workflow_version",
    "title",
    "description",
    "status",
    "current_step",
    "metadata",
    "created_by",
    "created_at",
    "updated_at",
    "version",
    "is_deleted",
)


async def import_applications(
    db: Database,
    lines: Iterable[bytes],
    submitter_email: str,
    chunk_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import every line as an application submitted by ``submitter_email``."""
    async with db.session(write=True) as session:
        user = await UserRepository(session).get_by_email(submitter_email)
        if user is None or not user.is_active:
            raise UnprocessableError(f"no active user {submitter_email}")
        if not principal_of(user).has_any(*PARTICIPANT_ROLES):
            raise UnprocessableError(
                f"{submitter_email} may not submit applications (roles: "
                f"{', '.join(user.roles)})"
            )
        company_id = user.company_id
        versions = await WorkflowRepository(session, company_id).versions()
        writer = await BulkWriter.open(session, applications, _COLUMNS)
        await prepare_bulk_load(session)
        records = _Records(writer, company_id, user.id, versions)
        imported = 0
        # Lines are parsed in a thread while the database writes a chunk.
        chunks = read_ahead(records.chunks(lines, chunk_size))
        async with (
            contextlib.aclosing(chunks),
            indexing_deferred(session, company_id),
        ):
            async for chunk in chunks:
                await writer.write(session, chunk)
                imported += len(chunk)
                if progress is not None:
                    progress(len(chunk))
        changed(session, scopes.applications(company_id))
    return ImportResult(imported=imported, company_id=company_id)


class _Records:
    """Turns lines into records ready for the writer, validating each."""

    def __init__(
        self,
        writer: BulkWriter,
        company_id: int,
        user_id: int,
        versions: dict[int, int],
    ) -> None:
        self._writer = writer
        self._company_id = company_id
        self._user_id = user_id
        self._versions = versions
        self._now = writer.stored("created_at", utcnow())
        self._not_deleted = writer.stored("is_deleted", False)

    def record(self, number: int, line: bytes) -> tuple[Any, ...]:
        body = _parse(number, line)
        if body.company_id not in (None, self._company_id):
            raise ImportLineError(f"line {number}: company_id is not the user's")
        version = self._versions.get(body.workflow_id)
        if version is None:
            raise ImportLineError(f"line {number}: workflow not found")
        return (
            self._company_id,
            body.workflow_id,
            version,
            body.title,
            body.description,
            Status.PENDING.value,
            1,
            self._writer.stored("metadata", body.metadata),
            self._user_id,
            self._now,
            self._now,
            1,
            self._not_deleted,
        )

    def chunks(
        self, lines: Iterable[bytes], size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        chunk: list[tuple[Any, ...]] = []
        for number, line in enumerate(lines, start=1):
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
            if not line.strip():
                continue
            chunk.append(self.record(number, line))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
