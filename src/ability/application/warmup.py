"""Cache warming: the first pages the busiest companies will ask for first."""

from __future__ import annotations

import time

import structlog

from ability.application.repository import ListFilters, busiest_companies
from ability.application.service import application_service
from ability.cache.service import Cache
from ability.db import Database
from ability.kit.pagination import PageRequest
from ability.models.application import OPEN_STATUSES

log = structlog.get_logger()

_FIRST_PAGES = (ListFilters(), ListFilters(statuses=frozenset(OPEN_STATUSES)))


async def warm(db: Database, cache: Cache, companies: int) -> None:
    """Load the default and ``status=active`` first pages of the busiest
    ``companies`` into the cache."""
    if companies == 0 or not cache.enabled:
        return
    started = time.perf_counter()
    page = PageRequest(page=1, page_size=20, after=None, with_total=False)
    try:
        async with db.session(write=False) as session:
            top = await busiest_companies(session, companies)
            for company_id in top:
                for filters in _FIRST_PAGES:
                    await application_service.list_json(
                        session, cache, company_id, filters, page
                    )
    except Exception:  # warming is an optimisation; serving goes on without
        log.warning("cache.warm.failed", exc_info=True)
        return
    log.info(
        "cache.warm.done",
        companies=len(top),
        seconds=round(time.perf_counter() - started, 3),
    )
