"""Capturing the statements an engine sends, and reading their query plans.

One plan checker per database: each gets the plan of a captured statement with
its own parameters and flattens it to text lines, then judges those lines.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_QUERY = re.compile(r"^\s*(SELECT|WITH|UPDATE|DELETE|INSERT)\b", re.IGNORECASE)


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


class PlanChecker(Protocol):
    """Reads one dialect's plans; a plan is a list of text lines."""

    async def plan(self, connection: AsyncConnection, query: Captured) -> list[str]:
        """The plan of ``query`` run with its own parameters."""
        ...

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

    def row_reads(self, plan: list[str]) -> list[str]:
        """Steps that read table rows: none when indexes cover the query."""
        ...


class SqlitePlans:
    """``EXPLAIN QUERY PLAN``: one ``detail`` line per step."""

    _SCAN = re.compile(r"^SCAN (\w+)")
    _READ = re.compile(r"^(?:SCAN|SEARCH) (\w+)")
    # A virtual table's plan names its idxNum:idxStr; FTS5 leaves the idxStr
    # empty only when it reads the whole index (``M`` is a MATCH).
    _VIRTUAL = re.compile(r"VIRTUAL TABLE INDEX \d+:(\S*)")
    _INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)")
    _LOOKUP = ("USING INDEX", "USING COVERING INDEX", "PRIMARY KEY")

    def __init__(self, tables: set[str]) -> None:
        self.tables = tables

    async def plan(self, connection: AsyncConnection, query: Captured) -> list[str]:
        result = await connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {query.statement}", query.parameters
        )
        # Rows are (id, parent, notused, detail).
        rows: Sequence[Sequence[Any]] = result.all()
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

    def row_reads(self, plan: list[str]) -> list[str]:
        return [
            line
            for line in plan
            if (read := self._READ.match(line)) is not None
            and read.group(1) in self.tables
            and "COVERING INDEX" not in line
        ]


_statement_names = itertools.count(1)


def _literal(value: Any) -> str:
    """An untyped SQL literal: EXECUTE casts it to its parameter's type."""
    if value is None:
        return "NULL"
    text = value.isoformat() if isinstance(value, date) else str(value)
    return "'" + text.replace("'", "''") + "'"


class PostgresPlans:
    """``EXPLAIN (FORMAT JSON)``, the tree flattened to one line per node.

    A line reads ``<node type>[ using <index>][ on <table>]``, indented by
    depth; a bitmap index scan names the table of the heap scan above it, and
    an index read without an index condition is marked ``(whole index)``.

    ``generic`` reads the plan that a prepared statement (asyncpg prepares
    every one) may switch to after five runs: one made without looking at
    the parameters, which must be just as sound.
    """

    _LINE = re.compile(
        r"^\s*(?P<node>[A-Za-z ]+?)(?: using (?P<index>\S+))?"
        r"(?: on (?P<table>\S+))?(?P<whole> \(whole index\))?$"
    )
    _INDEX_READS = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
    _ROW_READS = ("Seq Scan", "Index Scan", "Bitmap Heap Scan", "Tid Scan")
    _SORTS = ("Sort", "Incremental Sort")

    def __init__(self, *, generic: bool = False) -> None:
        self.generic = generic

    async def plan(self, connection: AsyncConnection, query: Captured) -> list[str]:
        if self.generic:
            document = await self._explain_generic(connection, query)
        else:
            result = await connection.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) {query.statement}", query.parameters
            )
            document = result.scalar_one()
        # SQLAlchemy's asyncpg dialect decodes json results; asyncpg would not.
        tree = json.loads(document) if isinstance(document, str) else document
        return list(self._flatten(tree[0]["Plan"], 0, None))

    async def _explain_generic(
        self, connection: AsyncConnection, query: Captured
    ) -> Any:
        name = f"plan_check_{next(_statement_names)}"
        await connection.exec_driver_sql(f"PREPARE {name} AS {query.statement}")
        await connection.exec_driver_sql(
            "SET LOCAL plan_cache_mode = force_generic_plan"
        )
        arguments = ", ".join(_literal(value) for value in query.parameters)
        execute = f"EXECUTE {name}({arguments})" if arguments else f"EXECUTE {name}"
        result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {execute}")
        document = result.scalar_one()
        await connection.exec_driver_sql(f"DEALLOCATE {name}")
        return document

    def _flatten(
        self, node: dict[str, Any], depth: int, heap: str | None
    ) -> Iterator[str]:
        kind: str = node["Node Type"]
        line = kind
        if "Index Name" in node:
            line += f" using {node['Index Name']}"
        table = node.get("Relation Name", heap if kind == "Bitmap Index Scan" else None)
        if table is not None:
            line += f" on {table}"
        if kind in self._INDEX_READS and "Index Cond" not in node:
            line += " (whole index)"
        yield "  " * depth + line
        # Bitmap index scans sit below a heap scan, maybe under BitmapAnd/Or.
        below = node.get("Relation Name", heap) if kind.startswith("Bitmap") else None
        for child in node.get("Plans", []):
            yield from self._flatten(child, depth + 1, below)

    def _steps(self, plan: list[str]) -> Iterator[tuple[str, re.Match[str]]]:
        for line in plan:
            step = self._LINE.match(line)
            assert step is not None, f"unreadable plan line: {line!r}"
            yield line.strip(), step

    def full_scans(self, plan: list[str]) -> list[str]:
        return [
            line
            for line, step in self._steps(plan)
            if step["node"] == "Seq Scan" or step["whole"]
        ]

    def index_uses(self, plan: list[str]) -> list[str]:
        return [
            line
            for line, step in self._steps(plan)
            if step["node"] in self._INDEX_READS and not step["whole"]
        ]

    def indexes(self, plan: list[str]) -> set[str]:
        return {step["index"] for _, step in self._steps(plan) if step["index"]}

    def sorts(self, plan: list[str]) -> list[str]:
        return [line for line, step in self._steps(plan) if step["node"] in self._SORTS]

    def row_reads(self, plan: list[str]) -> list[str]:
        return [
            line for line, step in self._steps(plan) if step["node"] in self._ROW_READS
        ]
