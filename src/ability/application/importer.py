"""``ability import FILE.jsonl``: many applications, fast, all or nothing.

Each line is one ``ApplicationCreate`` object. Lines are parsed and
validated as they stream in and written in chunks through the database's
fastest path (``COPY`` on PostgreSQL), all in one transaction: a bad line
stops the import with its line number, and nothing is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from ability.application.repository import applications
from ability.application.schemas import ApplicationCreate
from ability.cache import scopes
from ability.db import Database, changed
from ability.errors import UnprocessableError
from ability.kit.bulk import copy_rows, reserve_ids
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
        return ApplicationCreate.model_validate(orjson.loads(line))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImportLineError(f"line {number}: {detail}") from exc


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
        if user is None:
            raise UnprocessableError(f"no user {submitter_email}")
        company_id = user.company_id
        versions = await WorkflowRepository(session, company_id).versions()

        async def write(chunk: list[dict[str, Any]]) -> None:
            ids = await reserve_ids(session, applications, len(chunk))
            for row, app_id in zip(chunk, ids, strict=True):
                row["id"] = app_id
            await copy_rows(session, applications, chunk)
            if progress is not None:
                progress(len(chunk))

        # The next chunk is parsed while the database writes the previous one.
        pending: asyncio.Task[None] | None = None
        imported = 0
        try:
            for chunk in _chunks(lines, chunk_size, company_id, user.id, versions):
                if pending is not None:
                    await pending
                pending = asyncio.create_task(write(chunk))
                imported += len(chunk)
            if pending is not None:
                await pending
        except BaseException:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            raise
        changed(session, scopes.applications(company_id))
    return ImportResult(imported=imported, company_id=company_id)


def _chunks(
    lines: Iterable[bytes],
    size: int,
    company_id: int,
    user_id: int,
    versions: dict[int, int],
) -> Iterator[list[dict[str, Any]]]:
    now = utcnow()
    chunk: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        body = _parse(number, line)
        if body.company_id not in (None, company_id):
            raise ImportLineError(f"line {number}: company_id is not the user's")
        if body.workflow_id not in versions:
            raise ImportLineError(f"line {number}: workflow not found")
        chunk.append(
            {
                "company_id": company_id,
                "workflow_id": body.workflow_id,
                "workflow_version": versions[body.workflow_id],
                "title": body.title,
                "description": body.description,
                "status": Status.PENDING.value,
                "current_step": 1,
                "metadata": body.metadata,
                "created_by": user_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "is_deleted": False,
            }
        )
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
