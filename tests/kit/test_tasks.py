"""Background tasks stop even when a cancellation gets lost on the way."""

from __future__ import annotations

import asyncio
import contextlib

from ability.kit.tasks import cancel_and_wait


async def _swallows(cancels: int) -> None:
    """Ignores its first ``cancels`` cancellations, as a racing
    ``asyncio.wait_for`` may on Python 3.11; then waits to be stopped."""
    for _ in range(cancels):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
    await asyncio.sleep(10)


def test_a_task_that_swallows_cancellations_is_still_stopped() -> None:
    async def run() -> tuple[bool, bool]:
        task = asyncio.create_task(_swallows(3))
        await asyncio.sleep(0)
        return await cancel_and_wait(task), task.cancelled()

    assert asyncio.run(run()) == (True, True)


def test_a_task_that_outlasts_the_tries_is_reported() -> None:
    async def run() -> tuple[bool, bool, bool]:
        task = asyncio.create_task(_swallows(5))
        await asyncio.sleep(0)
        first = await cancel_and_wait(task, tries=3)
        done = task.done()
        return first, done, await cancel_and_wait(task)

    assert asyncio.run(run()) == (False, False, True)


def test_a_finished_task_is_stopped_at_once() -> None:
    async def run() -> bool:
        task = asyncio.create_task(asyncio.sleep(0))
        await task
        return await cancel_and_wait(task)

    assert asyncio.run(run()) is True
