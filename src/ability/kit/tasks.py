"""Stopping background tasks for certain."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger()


async def cancel_and_wait(task: asyncio.Task[Any], tries: int = 50) -> bool:
    """Cancel ``task`` and wait until it ends, cancelling again meanwhile.

    On Python 3.11 ``asyncio.wait_for`` — which redis-py sends commands with
    and SQLAlchemy's pool checks connections out with — can swallow a
    cancellation that lands just as what it waits for completes
    (https://github.com/python/cpython/issues/86296): one cancel may not do,
    and a loop that survives it would never end. Returns whether it ended.
    """
    for _ in range(tries):
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=0.1)
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.warning("task.failed_while_stopping", task=task.get_name())
            return True
    log.warning("task.stop.timed_out", task=task.get_name())
    return False
