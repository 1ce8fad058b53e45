"""Process memory: an optional hard limit, and less GC work after start-up.

``ABILITY_MEMORY_LIMIT_MB`` caps each process's *address space*
(``RLIMIT_AS``), not its resident memory: a process that would grow past it
gets ``MemoryError`` instead of pushing the host into swap or the OOM killer.
Address space counts more than RSS — thread stacks, memory-mapped files and
allocator arenas — so leave generous headroom over the RSS seen in
``/admin/metrics`` (the limit is inherited by worker processes, each on its
own). Linux only.
"""

from __future__ import annotations

import gc
import resource

import structlog

log = structlog.get_logger()


def apply_limit(megabytes: int | None) -> None:
    if megabytes is None:
        return
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    log.info("memory.limit.set", megabytes=megabytes)


def freeze_startup_objects() -> None:
    """Move everything allocated so far (modules, app, settings) out of the
    collector's sight: later collections scan fewer objects, and forked
    workers keep sharing those pages instead of copying them."""
    gc.collect()
    gc.freeze()
