"""Real faults for the job suites, injected from outside the runner.

A step that reaches the ``applications`` table while another session holds
``LOCK TABLE applications`` waits for it; terminating the waiting backend
(``pg_terminate_backend``) then fails that step the way a dropped connection
or a database restart would. Nothing in the product is patched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from tests.job._batches import wait_until


class Postgres:
    """One asyncpg connection, driven from synchronous test code."""

    def __init__(self, url: str) -> None:
        self.database = url.rsplit("/", 1)[1]
        self._loop = asyncio.Runner()
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self._connection: Any = self._loop.run(asyncpg.connect(dsn))

    def values(self, statement: str, *args: object) -> list[Any]:
        rows = self._loop.run(self._connection.fetch(statement, *args))
        return [row[0] for row in rows]

    def execute(self, statement: str) -> None:
        self._loop.run(self._connection.execute(statement))

    def close(self) -> None:
        try:
            self._loop.run(self._connection.close())
        finally:
            self._loop.close()


@contextmanager
def applications_locked(url: str) -> Iterator[Postgres]:
    """Hold ``applications`` exclusively until the block ends."""
    pg = Postgres(url)
    try:
        pg.execute("BEGIN")
        pg.execute("LOCK TABLE applications IN ACCESS EXCLUSIVE MODE")
        yield pg
        pg.execute("ROLLBACK")
    finally:
        pg.close()


def lock_waiters(pg: Postgres) -> set[int]:
    """Backends of ``pg``'s database that wait for a lock."""
    # Inside a transaction the activity view is a snapshot taken once.
    pg.values("SELECT pg_stat_clear_snapshot()")
    pids = pg.values(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        pg.database,
    )
    return set(pids)


def fail_waiting_step(pg: Postgres, timeout: float) -> set[int]:
    """Terminate the backend of the step waiting for the lock ``pg`` holds,
    then wait until a retried step waits on another connection.

    Returns the terminated backends.
    """
    waiting = wait_until(
        lambda: lock_waiters(pg) or None, timeout, "a step to wait for the lock"
    )
    terminated = pg.values(
        "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
        sorted(waiting),
    )
    assert all(terminated), terminated
    wait_until(
        lambda: (lock_waiters(pg) - waiting) or None,
        timeout,
        "the step to be retried on a new connection",
    )
    return waiting
