"""Full-text search, one implementation per database behind one call.

SQLite uses the FTS5 table ``applications_fts`` (BM25 ranking, the company as
an indexed token); PostgreSQL the table ``application_search`` (one tsvector
per application with the company as a term of its own, a GIN index,
``ts_rank``). Both are kept by triggers as applications are written
(migrations 0001, 0005) and both searches return application rows, best
match first.

On PostgreSQL a bulk load may defer its documents (``indexing_deferred``):
the load records its range of ids in ``search_backlog`` and
``index_backlog`` turns them into documents after it commits — the importer
right away, workers every few seconds for whatever is left.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application.repository import applications, status_clause
from ability.db import Database
from ability.kit.bulk import prepare_bulk_load
from ability.models.application import NOT_DELETED_SQL, Status

# A word is a run of letters and digits; anything else separates words, in
# documents (FTS5's unicode61 tokenizer; migration 0005 on PostgreSQL) as in
# queries. Each database folds case its own way, the same for both sides.
_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 16


def terms_of(query: str) -> list[str]:
    """The words of a query, without operators or punctuation."""
    return _WORD.findall(query)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    company_id: int
    terms: list[str]
    statuses: frozenset[Status]
    limit: int
    offset: int


def _fts5_match(company_id: int, terms: list[str]) -> str:
    # Every term is quoted, so user text can never be read as FTS5 syntax.
    words = " AND ".join(f'"{term}"' for term in terms)
    return f'company : "c{company_id}" AND {{title description}} : ({words})'


def _fts5_matches(request: SearchRequest) -> tuple[sa.FromClause, list[Any]]:
    fts = sa.table("applications_fts", sa.column("rowid"))
    match = sa.text("applications_fts MATCH :match").bindparams(
        match=_fts5_match(request.company_id, request.terms)
    )
    return fts.join(applications, applications.c.id == fts.c.rowid), [match]


_documents = sa.table(
    "application_search",
    sa.column("application_id"),
    sa.column("company_id"),
    sa.column("document"),
)


def _words(request: SearchRequest) -> sa.ColumnElement[Any]:
    # Terms are letters and digits only, so they cannot be tsquery syntax.
    query = " & ".join(request.terms)
    return sa.func.to_tsquery(sa.literal_column("'simple'"), query)


def _document_conditions(request: SearchRequest) -> list[Any]:
    words = _words(request)
    # The company's own term (migration 0005); the id is an int, never text.
    company = sa.cast(
        sa.literal(f"'company {int(request.company_id)}'"), postgresql.TSQUERY
    )
    return [
        # Words the parser drops (a lone "½") leave an empty query, which
        # would match every document of the company.
        sa.func.numnode(words) > 0,
        _documents.c.document.op("@@")(words.op("&&")(company)),
        _documents.c.company_id == request.company_id,
    ]


def _postgres_matches(request: SearchRequest) -> tuple[sa.FromClause, list[Any]]:
    join = _documents.join(
        applications, applications.c.id == _documents.c.application_id
    )
    return join, _document_conditions(request)


def _conditions(request: SearchRequest, own: list[Any]) -> list[Any]:
    """Every condition of a search: the database's match, company, status."""
    conditions = [
        *own,
        applications.c.company_id == request.company_id,
        sa.text(NOT_DELETED_SQL),
    ]
    clause = status_clause(request.statuses)
    return conditions if clause is None else [*conditions, clause]


def _sqlite_statement(request: SearchRequest) -> sa.Select[tuple[RowMapping]]:
    source, own = _fts5_matches(request)
    rank: sa.ColumnElement[Any] = sa.literal_column("applications_fts.rank")
    return (
        sa.select(applications)
        .select_from(source)
        .where(*_conditions(request, own))
        .order_by(rank, applications.c.id)
        .limit(request.limit)
        .offset(request.offset)
    )


def _postgres_statement(request: SearchRequest) -> sa.Select[tuple[RowMapping]]:
    rank: sa.ColumnElement[Any] = sa.func.ts_rank(
        _documents.c.document, _words(request)
    )
    if status_clause(request.statuses) is not None:
        # The status lives in applications: filter, then rank what is left.
        source, own = _postgres_matches(request)
        return (
            sa.select(applications)
            .select_from(source)
            .where(*_conditions(request, own))
            .order_by(rank.desc(), applications.c.id)
            .limit(request.limit)
            .offset(request.offset)
        )
    # Rank and cut in the narrow table; fetch only the page's rows. Limit
    # and offset are written into the SQL so that no plan made for unknown
    # ones (a generic plan) expects many rows and joins by reading a table.
    ranked = (
        sa.select(_documents.c.application_id, rank.label("rank"))
        .where(*_document_conditions(request))
        .order_by(rank.desc(), _documents.c.application_id)
        .limit(sa.literal(request.limit, literal_execute=True))
        .offset(sa.literal(request.offset, literal_execute=True))
        .subquery("ranked")
    )
    return (
        sa.select(applications)
        .join(ranked, applications.c.id == ranked.c.application_id)
        .where(*_conditions(request, []))
        .order_by(ranked.c.rank.desc(), applications.c.id)
    )


_STATEMENTS = {"sqlite": _sqlite_statement, "postgresql": _postgres_statement}
_MATCHES = {"sqlite": _fts5_matches, "postgresql": _postgres_matches}


async def search(session: AsyncSession, request: SearchRequest) -> list[RowMapping]:
    """Applications matching every term, best first; [] when no terms."""
    if not request.terms:
        return []
    statement = _STATEMENTS[session.get_bind().dialect.name](request)
    return list((await session.execute(statement)).mappings())


async def count(session: AsyncSession, request: SearchRequest) -> int:
    """How many applications match, on every page together."""
    if not request.terms:
        return 0
    source, own = _MATCHES[session.get_bind().dialect.name](request)
    statement = (
        sa.select(sa.func.count()).select_from(source).where(*_conditions(request, own))
    )
    return int((await session.execute(statement)).scalar_one())


_NEXT_ID = sa.text("SELECT nextval(pg_get_serial_sequence('applications', 'id'))")
_DEFERRED = sa.text("SELECT set_config('ability.search_deferred', :on, true)")


@contextlib.asynccontextmanager
async def indexing_deferred(
    session: AsyncSession, company_id: int
) -> AsyncIterator[None]:
    """Applications this block inserts are indexed once it has committed.

    PostgreSQL only, for bulk loads: the block's id range goes to the
    backlog in the same transaction, so a committed load is always indexed
    eventually, and a rolled-back one leaves nothing to do. Elsewhere rows
    are indexed as they are written and this changes nothing.
    """
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    first = (await session.execute(_NEXT_ID)).scalar_one()
    await session.execute(_DEFERRED, {"on": "on"})
    yield
    await session.execute(_DEFERRED, {"on": "off"})
    last = (await session.execute(_NEXT_ID)).scalar_one()
    await session.execute(
        sa.text(
            "INSERT INTO search_backlog (company_id, first_id, last_id) "
            "VALUES (:company_id, :first, :last)"
        ),
        {"company_id": company_id, "first": first, "last": last},
    )


async def backlog(session: AsyncSession, company_id: int | None) -> dict[str, int]:
    """What bulk loads left to index: ranges, and the ids they span (an upper
    bound on the applications: other companies' ids may fall in between)."""
    if session.get_bind().dialect.name != "postgresql":
        return {"ranges": 0, "ids": 0}
    statement = sa.text(
        "SELECT count(*), coalesce(sum(last_id - first_id + 1), 0) "
        "FROM search_backlog "
        "WHERE CAST(:company_id AS bigint) IS NULL OR company_id = :company_id"
    )
    ranges, ids = (await session.execute(statement, {"company_id": company_id})).one()
    return {"ranges": int(ranges), "ids": int(ids)}


_NEXT_RANGE = sa.text(
    "SELECT id, company_id, first_id, last_id FROM search_backlog "
    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
INDEX_RANGE = sa.text(
    "INSERT INTO application_search (application_id, company_id, document) "
    "SELECT id, company_id, application_document(company_id, title, description) "
    "FROM applications "
    "WHERE company_id = :company_id AND id BETWEEN :first AND :last "
    "AND NOT is_deleted "
    # A delete committed meanwhile is seen (the row is re-read); one still
    # to come waits, and its trigger then removes the document added here.
    "FOR SHARE "
    "ON CONFLICT (application_id) DO NOTHING"
)


async def index_backlog(
    db: Database,
    chunk_size: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Index every deferred range, a chunk of ids per transaction.

    Several workers may run this at once: each takes a different range
    (``SKIP LOCKED``). Indexing is idempotent, so a chunk redone after a
    crash changes nothing. Returns how many documents were added.
    """
    if db.dialect != "postgresql":
        return 0
    added = 0
    while True:
        async with db.session(write=True) as session:
            pending = (await session.execute(_NEXT_RANGE)).first()
            if pending is None:
                return added
            await prepare_bulk_load(session)
            backlog_id, company_id, first, last = pending
            upto = min(last, first + chunk_size - 1)
            result = await session.execute(
                INDEX_RANGE, {"company_id": company_id, "first": first, "last": upto}
            )
            if upto == last:
                done = "DELETE FROM search_backlog WHERE id = :id"
            else:
                done = "UPDATE search_backlog SET first_id = :next WHERE id = :id"
            await session.execute(sa.text(done), {"id": backlog_id, "next": upto + 1})
        count = int(result.rowcount)  # type: ignore[attr-defined]
        added += count
        if progress is not None:
            progress(count)
