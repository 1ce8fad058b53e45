"""Query plans of the hot queries, on a realistic volume.

Each case runs the repository code that serves an endpoint against a seeded,
ANALYZEd database while a ``before_cursor_execute`` listener records the SQL
it sends. Every recorded statement is then EXPLAINed with its own parameters
and the plan is read by the plan checker of the database's dialect: no table
may be scanned, every statement must use an index, and list pages must come
in index order (no sort step), so that their cost stays flat as data grows.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ability.application.repository import (
    ApplicationRepository,
    ListFilters,
    applications,
)
from ability.application.search import SearchRequest, search
from ability.config import Settings
from ability.db import Database
from ability.kit.pagination import Keyset, PageRequest
from ability.models import Base
from ability.models.application import OPEN_STATUSES, Status
from ability.report.repository import ReportRepository
from ability.seed.generator import generate
from ability.workflow.repository import WorkflowRepository

COMPANIES = 10
APPLICATIONS = 20_000
_QUERY = re.compile(r"^\s*(SELECT|WITH|UPDATE|DELETE|INSERT)\b", re.IGNORECASE)


# --- capture ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Captured:
    statement: str
    parameters: Any


@contextmanager
def captured_statements(engine: AsyncEngine) -> Iterator[list[Captured]]:
    """Record every query ``engine`` sends to the driver while inside."""
    captured: list[Captured] = []

    def record(
        _conn: Any,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        _many: bool,
    ) -> None:
        if _QUERY.match(statement):
            captured.append(Captured(statement, parameters))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield captured
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


# --- plan checkers, one per dialect -----------------------------------------


class PlanChecker(Protocol):
    """Reads one dialect's plans; a plan is a list of text lines."""

    def explain(self, statement: str) -> str:
        """The statement that returns the plan of ``statement``."""
        ...

    def lines(self, rows: Sequence[Sequence[Any]]) -> list[str]: ...

    def full_scans(self, plan: list[str]) -> list[str]:
        """Steps that read a whole table (or a whole index of one)."""
        ...

    def index_uses(self, plan: list[str]) -> list[str]:
        """Steps that look rows up through an index or primary key."""
        ...

    def indexes(self, plan: list[str]) -> set[str]: ...

    def sorts(self, plan: list[str]) -> list[str]:
        """Steps that sort rows for ORDER BY instead of reading them in order."""
        ...


class SqlitePlans:
    """``EXPLAIN QUERY PLAN``: one ``detail`` line per step."""

    _SCAN = re.compile(r"^SCAN (\w+)")
    # A virtual table's plan names its idxNum:idxStr; FTS5 leaves the idxStr
    # empty only when it reads the whole index (``M`` is a MATCH).
    _VIRTUAL = re.compile(r"VIRTUAL TABLE INDEX \d+:(\S*)")
    _INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)")
    _LOOKUP = ("USING INDEX", "USING COVERING INDEX", "PRIMARY KEY")

    def __init__(self, tables: set[str]) -> None:
        self.tables = tables

    def explain(self, statement: str) -> str:
        return f"EXPLAIN QUERY PLAN {statement}"

    def lines(self, rows: Sequence[Sequence[Any]]) -> list[str]:
        return [str(row[3]) for row in rows]

    def full_scans(self, plan: list[str]) -> list[str]:
        scans = []
        for line in plan:
            scan = self._SCAN.match(line)
            if scan is None or scan.group(1) not in self.tables:
                continue  # a search, or a scan of a subquery's own rows
            virtual = self._VIRTUAL.search(line)
            if virtual is None or not virtual.group(1):
                scans.append(line)
        return scans

    def index_uses(self, plan: list[str]) -> list[str]:
        return [line for line in plan if self._looks_up(line)]

    def _looks_up(self, line: str) -> bool:
        if line.startswith("SEARCH "):
            return any(way in line for way in self._LOOKUP)
        virtual = self._VIRTUAL.search(line)
        return virtual is not None and bool(virtual.group(1))

    def indexes(self, plan: list[str]) -> set[str]:
        return {m.group(1) for line in plan for m in self._INDEX.finditer(line)}

    def sorts(self, plan: list[str]) -> list[str]:
        return [line for line in plan if line.startswith("USE TEMP B-TREE FOR ORDER")]


def _tables() -> set[str]:
    return {*Base.metadata.tables, "applications_fts"}


# A PostgreSQL checker would EXPLAIN (FORMAT JSON), flatten the nodes into
# lines such as "Seq Scan on applications" and judge those the same way.
PLAN_CHECKERS: dict[str, Callable[[], PlanChecker]] = {
    "sqlite": lambda: SqlitePlans(_tables()),
}


# --- the cases --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dataset:
    """One company of the seeded data, and ids within it."""

    company_id: int
    workflow_id: int
    application_id: int
    now: datetime


Run = Callable[[AsyncSession, Dataset], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Case:
    run: Run
    index: str | None = None
    """The index the planner should pick, where one clearly fits."""
    keyset: bool = False
    """Rows are read in index order: a page costs the same at any depth."""


FIRST_PAGE = PageRequest(page=1, page_size=20, after=None, with_total=False)
OPEN = frozenset(OPEN_STATUSES)


def _list(filters: ListFilters) -> Run:
    async def run(session: AsyncSession, data: Dataset) -> object:
        repository = ApplicationRepository(session, data.company_id)
        return await repository.list(filters, FIRST_PAGE)

    return run


def _next_page(filters: ListFilters) -> Run:
    """A first page, then the page after it by cursor."""

    async def run(session: AsyncSession, data: Dataset) -> object:
        repository = ApplicationRepository(session, data.company_id)
        rows = await repository.list(filters, FIRST_PAGE)
        last = rows[FIRST_PAGE.page_size - 1]
        after = Keyset(last["created_at"], last["id"])
        cursor = PageRequest(None, FIRST_PAGE.page_size, after, with_total=False)
        return await repository.list(filters, cursor)

    return run


def _count(filters: ListFilters) -> Run:
    async def run(session: AsyncSession, data: Dataset) -> object:
        return await ApplicationRepository(session, data.company_id).count(filters)

    return run


def _in_workflow(session: AsyncSession, data: Dataset) -> Awaitable[object]:
    filters = ListFilters(workflow_id=data.workflow_id)
    return _list(filters)(session, data)


def _last_month(session: AsyncSession, data: Dataset) -> Awaitable[object]:
    filters = ListFilters(
        created_after=data.now - timedelta(days=60),
        created_before=data.now - timedelta(days=30),
    )
    return _list(filters)(session, data)


async def _get(session: AsyncSession, data: Dataset) -> object:
    repository = ApplicationRepository(session, data.company_id)
    return await repository.get_by_id(data.application_id)


async def _history(session: AsyncSession, data: Dataset) -> object:
    repository = ApplicationRepository(session, data.company_id)
    return await repository.history(data.application_id)


async def _approvals(session: AsyncSession, data: Dataset) -> object:
    repository = ApplicationRepository(session, data.company_id)
    return await repository.approvers_of_step(data.application_id, 1, 1)


async def _steps(session: AsyncSession, data: Dataset) -> object:
    repository = WorkflowRepository(session, data.company_id)
    return await repository.steps(data.workflow_id, 1)


def _search(terms: list[str], statuses: frozenset[Status] = frozenset()) -> Run:
    async def run(session: AsyncSession, data: Dataset) -> object:
        request = SearchRequest(
            company_id=data.company_id,
            terms=terms,
            statuses=statuses,
            limit=FIRST_PAGE.page_size + 1,
            offset=0,
        )
        return await search(session, request)

    return run


ReportQuery = Callable[[ReportRepository, datetime, datetime], Awaitable[object]]


def _report(query: ReportQuery) -> Run:
    """A report query over the longest range the endpoint allows."""

    async def run(session: AsyncSession, data: Dataset) -> object:
        repository = ReportRepository(session, data.company_id)
        return await query(repository, data.now - timedelta(days=366), data.now)

    return run


CASES: dict[str, Case] = {
    "list": Case(_list(ListFilters()), "ix_applications_company_created", keyset=True),
    "list oldest first": Case(_list(ListFilters(newest_first=False)), keyset=True),
    "list by status": Case(
        _list(ListFilters(statuses=frozenset({Status.COMPLETED}))),
        "ix_applications_company_status_created",
        keyset=True,
    ),
    "list by two statuses": Case(
        _list(ListFilters(statuses=frozenset({Status.REJECTED, Status.CANCELLED}))),
        keyset=True,
    ),
    "list active": Case(
        _list(ListFilters(statuses=OPEN)), "ix_applications_open", keyset=True
    ),
    "list by workflow": Case(
        _in_workflow, "ix_applications_company_workflow_created", keyset=True
    ),
    "list by creation time": Case(_last_month, keyset=True),
    "list next page by cursor": Case(
        _next_page(ListFilters()), "ix_applications_company_created", keyset=True
    ),
    "list active next page by cursor": Case(
        _next_page(ListFilters(statuses=OPEN)), "ix_applications_open", keyset=True
    ),
    "list total": Case(_count(ListFilters())),
    "list active total": Case(_count(ListFilters(statuses=OPEN))),
    "get by id": Case(_get),
    "history": Case(_history, "ix_application_events_company_app"),
    "progress: steps of the version": Case(_steps),
    "progress: approvals of the step": Case(_approvals),
    "search": Case(_search(["laptop"])),
    "search two terms by status": Case(
        _search(["laptop", "finance"], frozenset({Status.PENDING}))
    ),
    "report count by status": Case(
        _report(lambda report, start, end: report.count_by_status(start, end))
    ),
    "report count by day": Case(
        _report(lambda report, start, end: report.count_by_day(start, end))
    ),
    "report median time to complete": Case(
        _report(
            lambda report, start, end: report.median_seconds_to_complete(
                start, end, completed=101
            )
        )
    ),
    "report workflows": Case(_report(lambda report, _s, _e: report.workflows())),
    "report count by workflow and status": Case(
        _report(lambda report, _s, _e: report.count_by_workflow_status())
    ),
    "report step times": Case(_report(lambda report, _s, _e: report.step_times())),
}


# --- running them -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explained:
    statement: str
    plan: list[str]

    def __str__(self) -> str:
        return "\n".join([" ".join(self.statement.split()), *self.plan])


@dataclass(frozen=True, slots=True)
class Plans:
    checker: PlanChecker
    by_case: dict[str, list[Explained]]


async def _dataset(db: Database, company_id: int, workflow_id: int) -> Dataset:
    async with db.session(write=False) as session:
        newest = await session.scalar(
            sa.select(sa.func.max(applications.c.id)).where(
                applications.c.company_id == company_id
            )
        )
    assert newest is not None
    return Dataset(company_id, workflow_id, int(newest), datetime.now(UTC))


async def _explain_case(
    db: Database, checker: PlanChecker, case: Case, data: Dataset
) -> list[Explained]:
    async with db.session(write=False) as session:
        with captured_statements(db.reader) as captured:
            await case.run(session, data)
        connection = await session.connection()
        explained = []
        for query in captured:
            result = await connection.exec_driver_sql(
                checker.explain(query.statement), query.parameters
            )
            explained.append(Explained(query.statement, checker.lines(result.all())))
    return explained


async def _explain_all(settings: Settings) -> Plans:
    db = Database.from_settings(settings)
    try:
        tenants = await generate(db, COMPANIES, APPLICATIONS)
        tenant = tenants[COMPANIES // 2]
        data = await _dataset(db, tenant.company_id, tenant.workflows[0][0])
        if db.dialect not in PLAN_CHECKERS:
            pytest.fail(f"no plan checker for {db.dialect} yet")
        checker = PLAN_CHECKERS[db.dialect]()
        by_case = {
            name: await _explain_case(db, checker, case, data)
            for name, case in CASES.items()
        }
    finally:
        await db.dispose()
    return Plans(checker, by_case)


@pytest.fixture(scope="module")
def plan_database(
    migrated_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The migrated database the plans are read on (SQLite: a template copy)."""
    path = tmp_path_factory.mktemp("plans") / "plans.db"
    shutil.copy(migrated_template, path)
    return Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{path}",
        SECRET_KEY="test-secret-key-that-is-long-enough-for-hs256",
        ENV="test",
        SEED_DEMO=False,
        LOG_LEVEL="WARNING",
    )


@pytest.fixture(scope="module")
def plans(plan_database: Settings) -> Plans:
    return asyncio.run(_explain_all(plan_database))


def _report_of(explained: list[Explained]) -> str:
    return "\n\n".join(str(e) for e in explained)


@pytest.mark.parametrize("name", list(CASES))
def test_case_sends_queries(plans: Plans, name: str) -> None:
    assert plans.by_case[name], "the case sent no query"


@pytest.mark.parametrize("name", list(CASES))
def test_no_table_is_scanned(plans: Plans, name: str) -> None:
    explained = plans.by_case[name]

    scans = [s for e in explained for s in plans.checker.full_scans(e.plan)]

    assert scans == [], _report_of(explained)


@pytest.mark.parametrize("name", list(CASES))
def test_every_statement_uses_an_index(plans: Plans, name: str) -> None:
    for explained in plans.by_case[name]:
        assert plans.checker.index_uses(explained.plan), str(explained)


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if case.index])
def test_filter_uses_the_index_made_for_it(plans: Plans, name: str) -> None:
    expected = CASES[name].index

    for explained in plans.by_case[name]:
        assert expected in plans.checker.indexes(explained.plan), str(explained)


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if case.keyset])
def test_list_pages_come_in_index_order(plans: Plans, name: str) -> None:
    for explained in plans.by_case[name]:
        assert plans.checker.sorts(explained.plan) == [], str(explained)
