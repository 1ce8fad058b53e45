"""Query plans of the hot queries, on a realistic volume.

Each case runs the repository code that serves an endpoint against a seeded,
ANALYZEd database while a ``before_cursor_execute`` listener records the SQL
it sends. Every recorded statement is then EXPLAINed with its own parameters
and the plan is read by the plan checker of the database's dialect: no table
may be scanned, every statement must use an index, and list pages must come
in index order (no sort step), so that their cost stays flat as data grows.

SQLite reads 20,000 applications. PostgreSQL reads 100,000 (10,000 in the
company under test, as in a 1,000,000-row database of 100 companies), once
as planned for the parameters and once as the generic plan that a prepared
statement may switch to; there, counts and reports must also be answered
from their covering indexes alone.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application.repository import (
    ApplicationRepository,
    ListFilters,
    applications,
)
from ability.application.search import SearchRequest, search
from ability.auth.roles import Role
from ability.config import Settings
from ability.db import Database, analyze
from ability.job.repository import JobRepository
from ability.job.schemas import JobKind, JobStatus
from ability.kit.bulk import copy_rows
from ability.kit.pagination import Keyset, PageRequest
from ability.models import Base, Job
from ability.models.application import OPEN_STATUSES, Status
from ability.report.repository import ReportRepository
from ability.seed.generator import Tenant, generate
from ability.workflow.repository import WorkflowRepository
from tests.backends import base_settings, fresh_postgres_database
from tests.plan_checkers import (
    PlanChecker,
    PostgresPlans,
    SqlitePlans,
    captured_statements,
)
from tests.servers import PostgresServer

COMPANIES = 10
SQLITE_APPLICATIONS = 20_000
POSTGRES_APPLICATIONS = 100_000
JOB_SIZE = 1000  # items per batch job, the most the API accepts
VACUUM_PASSES = 20
# Tables that grow with use; the PostgreSQL database must be all-visible.
_GROWING = ("applications", "application_events", "jobs", "job_items")


def _tables() -> set[str]:
    return {*Base.metadata.tables, "applications_fts"}


# --- the cases --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dataset:
    """One company of the seeded data, and ids within it."""

    company_id: int
    workflow_id: int
    application_id: int
    job_id: int
    now: datetime


Run = Callable[[AsyncSession, Dataset], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Case:
    run: Run
    index: str | Mapping[str, str] | None = None
    """The index the planner should pick, where one clearly fits (per
    dialect, where their names differ)."""
    keyset: bool = False
    """Rows are read in index order: a page costs the same at any depth."""
    covered: bool = False
    """PostgreSQL answers it from covering indexes alone (index-only scans);
    SQLite's partial indexes do not cover it and are not held to this."""
    configuration: bool = False
    """Reads only a company's configuration, a few rows per tenant, which
    PostgreSQL reads whole (one page) rather than through an index."""

    def index_on(self, dialect: str) -> str | None:
        if self.index is None or isinstance(self.index, str):
            return self.index
        return self.index.get(dialect)


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


def _deep_page(filters: ListFilters) -> Run:
    """Page 50 by number: 980 rows skipped before the page."""
    page = PageRequest(page=50, page_size=20, after=None, with_total=False)

    async def run(session: AsyncSession, data: Dataset) -> object:
        return await ApplicationRepository(session, data.company_id).list(filters, page)

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


def _report(query: ReportQuery, days: int = 366) -> Run:
    """A report query over the last ``days``: by default the longest range
    the endpoint allows, which here spans the whole data set."""

    async def run(session: AsyncSession, data: Dataset) -> object:
        repository = ReportRepository(session, data.company_id)
        return await query(repository, data.now - timedelta(days=days), data.now)

    return run


def _by_status(
    report: ReportRepository, start: datetime, end: datetime
) -> Awaitable[dict[str, int]]:
    return report.count_by_status(start, end)


def _by_day(
    report: ReportRepository, start: datetime, end: datetime
) -> Awaitable[dict[str, int]]:
    return report.count_by_day(start, end)


async def _job_counts(session: AsyncSession, data: Dataset) -> object:
    return await JobRepository(session, data.company_id).outcome_counts(data.job_id)


async def _job_errors(session: AsyncSession, data: Dataset) -> object:
    return await JobRepository(session, data.company_id).errors(data.job_id)


PG = "postgresql"
JOB_ITEMS_KEY = {"sqlite": "sqlite_autoindex_job_items_1", PG: "pk_job_items"}

CASES: dict[str, Case] = {
    "list": Case(_list(ListFilters()), "ix_applications_company_created", keyset=True),
    "list oldest first": Case(
        _list(ListFilters(newest_first=False)),
        "ix_applications_company_created",
        keyset=True,
    ),
    "list by status": Case(
        _list(ListFilters(statuses=frozenset({Status.COMPLETED}))),
        "ix_applications_company_status_created",
        keyset=True,
    ),
    "list by two statuses": Case(
        _list(ListFilters(statuses=frozenset({Status.REJECTED, Status.CANCELLED}))),
        "ix_applications_company_created",
        keyset=True,
    ),
    "list active": Case(
        _list(ListFilters(statuses=OPEN)), "ix_applications_open", keyset=True
    ),
    "list by workflow": Case(
        _in_workflow, "ix_applications_company_workflow_created", keyset=True
    ),
    "list by creation time": Case(
        _last_month, "ix_applications_company_created", keyset=True
    ),
    "list next page by cursor": Case(
        _next_page(ListFilters()), "ix_applications_company_created", keyset=True
    ),
    "list active next page by cursor": Case(
        _next_page(ListFilters(statuses=OPEN)), "ix_applications_open", keyset=True
    ),
    "list page 50 by number": Case(
        _deep_page(ListFilters()), "ix_applications_company_created"
    ),
    "list active page 50 by number": Case(
        _deep_page(ListFilters(statuses=OPEN)), "ix_applications_open"
    ),
    # Counting a whole company, any of its covering indexes serves; the
    # planner rightly takes the smallest.
    "list total": Case(_count(ListFilters()), covered=True),
    "list active total": Case(
        _count(ListFilters(statuses=OPEN)), {PG: "ix_applications_open"}, covered=True
    ),
    "get by id": Case(_get, {PG: "pk_applications"}),
    "history": Case(_history, "ix_application_events_company_app"),
    "progress: steps of the version": Case(_steps, configuration=True),
    "progress: approvals of the step": Case(
        _approvals, "ix_application_events_company_app"
    ),
    "search": Case(_search(["laptop"]), {PG: "ix_application_search_document"}),
    "search two terms by status": Case(
        _search(["laptop", "finance"], frozenset({Status.PENDING})),
        {PG: "ix_application_search_document"},
    ),
    "report count by status": Case(_report(_by_status), covered=True),
    "report count by status over a month": Case(
        _report(_by_status, days=30), "ix_applications_company_created", covered=True
    ),
    "report count by day": Case(_report(_by_day), covered=True),
    "report count by day over a month": Case(
        _report(_by_day, days=30), "ix_applications_company_created", covered=True
    ),
    "report median time to complete": Case(
        _report(
            lambda report, start, end: report.median_seconds_to_complete(
                start, end, completed=101
            )
        ),
        "ix_applications_company_status_created",
        covered=True,
    ),
    "report workflows": Case(
        _report(lambda report, _s, _e: report.workflows()), configuration=True
    ),
    "report count by workflow and status": Case(
        _report(lambda report, _s, _e: report.count_by_workflow_status()),
        {
            "sqlite": "ix_applications_company_workflow_created",
            PG: "ix_applications_company_status_created",
        },
        covered=True,
    ),
    "report step times": Case(
        _report(lambda report, _s, _e: report.step_times()),
        "ix_application_events_company_app",
        covered=True,
    ),
    "job item counts": Case(_job_counts, JOB_ITEMS_KEY, covered=True),
    "job errors": Case(_job_errors, JOB_ITEMS_KEY),
}


# --- loading and reading the plans -------------------------------------------


@dataclass(frozen=True, slots=True)
class Explained:
    statement: str
    plan: list[str]

    def __str__(self) -> str:
        return "\n".join([" ".join(self.statement.split()), *self.plan])


@dataclass(frozen=True, slots=True)
class Plans:
    dialect: str
    checker: PlanChecker
    by_case: dict[str, list[Explained]]


async def _add_jobs(db: Database, tenant: Tenant, count: int) -> int:
    """``count`` finished batch jobs, one item in 20 failed; the middle one."""
    async with db.session(write=True) as session:
        jobs = [
            Job(
                company_id=tenant.company_id,
                kind=JobKind.BATCH_PROCESS,
                status=JobStatus.PARTIAL,
                total=JOB_SIZE,
                payload={},
                created_by=tenant.users[Role.ADMIN],
            )
            for _ in range(count)
        ]
        session.add_all(jobs)
        await session.flush()
        items = [
            {
                "job_id": job.id,
                "item_id": item,
                "succeeded": item % 20 != 0,
                "detail": None if item % 20 else "Application is not pending",
                "created_at": job.created_at,
            }
            for job in jobs
            for item in range(1, JOB_SIZE + 1)
        ]
        await copy_rows(session, Base.metadata.tables["job_items"], items)
    return jobs[count // 2].id


async def _load(db: Database, total: int) -> Dataset:
    """Seed ``total`` applications and as many job items; pick a company."""
    tenants = await generate(db, COMPANIES, total)
    tenant = tenants[COMPANIES // 2]
    job_id = await _add_jobs(db, tenant, total // JOB_SIZE)
    async with db.session(write=False) as session:
        newest = await session.scalar(
            sa.select(sa.func.max(applications.c.id)).where(
                applications.c.company_id == tenant.company_id
            )
        )
    assert newest is not None
    return Dataset(
        tenant.company_id,
        tenant.workflows[0][0],
        int(newest),
        job_id,
        datetime.now(UTC),
    )


async def _explain_case(
    db: Database, checker: PlanChecker, case: Case, data: Dataset
) -> list[Explained]:
    async with db.session(write=False) as session:
        with captured_statements(db.reader) as captured:
            await case.run(session, data)
        connection = await session.connection()
        return [
            Explained(query.statement, await checker.plan(connection, query))
            for query in captured
        ]


async def _explain_all(
    settings: Settings, checker: PlanChecker, data: Dataset
) -> Plans:
    db = Database.from_settings(settings)
    try:
        by_case = {
            name: await _explain_case(db, checker, case, data)
            for name, case in CASES.items()
        }
    finally:
        await db.dispose()
    return Plans(db.dialect, checker, by_case)


async def _load_sqlite(settings: Settings) -> Dataset:
    db = Database.from_settings(settings)
    try:
        data = await _load(db, SQLITE_APPLICATIONS)
        await analyze(db)
    finally:
        await db.dispose()
    return data


async def _load_postgres(settings: Settings, server: PostgresServer) -> Dataset:
    db = Database.from_settings(settings)
    try:
        data = await _load(db, POSTGRES_APPLICATIONS)
    finally:
        await db.dispose()
    database = sa.make_url(str(settings.DATABASE_URL)).database
    # VACUUM cannot run in a transaction: a bare asyncpg connection autocommits.
    connection = await asyncpg.connect(
        host="127.0.0.1", port=server.port, user="postgres", database=database
    )
    try:
        await connection.execute("VACUUM ANALYZE")
        behind = await _until_all_visible(connection)
    finally:
        await connection.close()
    assert not behind, f"pages of {behind} are still not all-visible"
    return data


async def _until_all_visible(connection: asyncpg.Connection) -> list[str]:
    """VACUUM the growing tables again until every page is all-visible.

    Index-only scans are planned (and run) on that share. One pass may fall
    short: another backend's snapshot (an autovacuum worker's) or one of this
    test server's asynchronous commits not yet flushed keeps VACUUM from
    marking a page. Returns the tables still behind after a few seconds.
    """
    behind: list[str] = []
    for _ in range(VACUUM_PASSES):
        rows = await connection.fetch(
            "SELECT relname FROM pg_class"
            " WHERE relname = any($1::text[]) AND relallvisible < relpages",
            list(_GROWING),
        )
        behind = [row["relname"] for row in rows]
        if not behind:
            break
        await asyncio.sleep(0.2)
        await connection.execute(f"VACUUM ANALYZE {', '.join(behind)}")
    return behind


@pytest.fixture(scope="module")
def plan_database(
    migrated_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The migrated SQLite database the plans are read on (a template copy)."""
    path = tmp_path_factory.mktemp("plans") / "plans.db"
    shutil.copy(migrated_template, path)
    return base_settings(DATABASE_URL=f"sqlite+aiosqlite:///{path}")


@pytest.fixture(scope="module")
def sqlite_plans(plan_database: Settings) -> Plans:
    data = asyncio.run(_load_sqlite(plan_database))
    return asyncio.run(_explain_all(plan_database, SqlitePlans(_tables()), data))


@pytest.fixture(scope="session")
def loaded_postgres(postgres: PostgresServer) -> tuple[Settings, Dataset]:
    """A vacuumed PostgreSQL database of 100,000 applications, loaded once."""
    settings = base_settings(DATABASE_URL=fresh_postgres_database(postgres))
    return settings, asyncio.run(_load_postgres(settings, postgres))


@pytest.fixture(scope="module")
def postgres_plans(loaded_postgres: tuple[Settings, Dataset]) -> Plans:
    settings, data = loaded_postgres
    return asyncio.run(_explain_all(settings, PostgresPlans(), data))


@pytest.fixture(scope="module")
def postgres_generic_plans(loaded_postgres: tuple[Settings, Dataset]) -> Plans:
    settings, data = loaded_postgres
    return asyncio.run(_explain_all(settings, PostgresPlans(generic=True), data))


# Each variant of the plans: the fixture that reads them, and its dialect.
VARIANTS = {
    "sqlite": ("sqlite_plans", "sqlite"),
    PG: ("postgres_plans", PG),
    f"{PG} generic": ("postgres_generic_plans", PG),
}


@pytest.fixture
def plans(request: pytest.FixtureRequest) -> Plans:
    """The plans of the variant named by the (indirect) parameter."""
    fixture, _dialect = VARIANTS[request.param]
    found: Plans = request.getfixturevalue(fixture)
    return found


def _variants(keep: Callable[[str, Case], bool] = lambda _d, _c: True) -> list[Any]:
    """(variant, case name) parameters for the cases ``keep(dialect, case)``."""
    return [
        pytest.param(variant, name, id=f"{variant}-{name}")
        for variant, (_fixture, dialect) in VARIANTS.items()
        for name, case in CASES.items()
        if keep(dialect, case)
    ]


def _indexed(dialect: str, case: Case) -> bool:
    return dialect != PG or not case.configuration


def _report_of(explained: list[Explained]) -> str:
    return "\n\n".join(str(e) for e in explained)


@pytest.mark.parametrize(("plans", "name"), _variants(), indirect=["plans"])
def test_case_sends_queries(plans: Plans, name: str) -> None:
    assert plans.by_case[name], "the case sent no query"


@pytest.mark.parametrize(("plans", "name"), _variants(_indexed), indirect=["plans"])
def test_no_table_is_scanned(plans: Plans, name: str) -> None:
    explained = plans.by_case[name]

    scans = [s for e in explained for s in plans.checker.full_scans(e.plan)]

    assert scans == [], _report_of(explained)


@pytest.mark.parametrize(("plans", "name"), _variants(_indexed), indirect=["plans"])
def test_every_statement_uses_an_index(plans: Plans, name: str) -> None:
    for explained in plans.by_case[name]:
        assert plans.checker.index_uses(explained.plan), str(explained)


@pytest.mark.parametrize(
    ("plans", "name"),
    _variants(lambda dialect, case: case.index_on(dialect) is not None),
    indirect=["plans"],
)
def test_filter_uses_the_index_made_for_it(plans: Plans, name: str) -> None:
    expected = CASES[name].index_on(plans.dialect)

    for explained in plans.by_case[name]:
        assert expected in plans.checker.indexes(explained.plan), str(explained)


@pytest.mark.parametrize(
    ("plans", "name"), _variants(lambda _d, case: case.keyset), indirect=["plans"]
)
def test_list_pages_come_in_index_order(plans: Plans, name: str) -> None:
    for explained in plans.by_case[name]:
        assert plans.checker.sorts(explained.plan) == [], str(explained)


@pytest.mark.parametrize(
    ("plans", "name"),
    _variants(lambda dialect, case: dialect == PG and case.covered),
    indirect=["plans"],
)
def test_covered_query_reads_only_indexes(plans: Plans, name: str) -> None:
    for explained in plans.by_case[name]:
        assert plans.checker.row_reads(explained.plan) == [], str(explained)
