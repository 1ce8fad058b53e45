from __future__ import annotations
import asyncio
import pytest
from ability.cache import service
from tests.cache.test_service import TestStop, settings  # noqa: F401

pytestmark = pytest.mark.anyio

async def _old_cancel(task, tries=50):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("old cancel: CancelledError", task.done(), flush=True)
        raise

@pytest.fixture(autouse=True)
def old(monkeypatch):
    monkeypatch.setattr(service, "_cancel", _old_cancel)
