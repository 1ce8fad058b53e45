"""Full-text search, one implementation per database behind one call.

SQLite uses the FTS5 table ``applications_fts`` (BM25 ranking, the company as
an indexed token); PostgreSQL uses the generated ``search_vector`` column and a
GIN index over (company_id, search_vector) (``ts_rank``). Both return
application rows, best match first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application.repository import applications, status_clause
from ability.models.application import NOT_DELETED_SQL, Status

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 16


def terms_of(query: str) -> list[str]:
    """The words of a query, lower-cased, without operators or punctuation."""
    return [word.lower() for word in _WORD.findall(query)][:MAX_TERMS]


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


def _sqlite_statement(request: SearchRequest) -> sa.Select[tuple[RowMapping]]:
    fts = sa.table("applications_fts", sa.column("rowid"), sa.column("rank"))
    statement = (
        sa.select(applications)
        .select_from(fts.join(applications, applications.c.id == fts.c.rowid))
        .where(
            sa.text("applications_fts MATCH :match").bindparams(
                match=_fts5_match(request.company_id, request.terms)
            ),
            applications.c.company_id == request.company_id,
            sa.text(NOT_DELETED_SQL),
        )
        .order_by(fts.c.rank, applications.c.id)
    )
    return statement


def _postgres_statement(request: SearchRequest) -> sa.Select[tuple[RowMapping]]:
    query = sa.func.to_tsquery(
        sa.literal_column("'simple'"),
        " & ".join(term.replace("'", "") for term in request.terms),
    )
    vector: sa.ColumnClause[Any] = sa.column("search_vector")
    return (
        sa.select(applications)
        .where(
            applications.c.company_id == request.company_id,
            sa.text(NOT_DELETED_SQL),
            vector.op("@@")(query),
        )
        .order_by(sa.func.ts_rank(vector, query).desc(), applications.c.id)
    )


_STATEMENTS = {"sqlite": _sqlite_statement, "postgresql": _postgres_statement}


async def search(session: AsyncSession, request: SearchRequest) -> list[RowMapping]:
    """Applications matching every term, best first; [] when no terms."""
    if not request.terms:
        return []
    statement = _STATEMENTS[session.get_bind().dialect.name](request)
    clause = status_clause(request.statuses)
    if clause is not None:
        statement = statement.where(clause)
    statement = statement.limit(request.limit).offset(request.offset)
    return list((await session.execute(statement)).mappings())
