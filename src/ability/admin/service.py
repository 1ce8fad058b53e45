"""Process and request figures for ``/admin/metrics``, measured in-process."""

from __future__ import annotations

import gc
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psutil


@dataclass
class RouteStats:
    count: int = 0
    errors: int = 0
    total_seconds: float = 0.0


@dataclass
class RequestStats:
    """Counts per route template, kept by the request middleware."""

    started: float = field(default_factory=time.time)
    routes: dict[tuple[str, str], RouteStats] = field(
        default_factory=lambda: defaultdict(RouteStats)
    )
    in_flight: int = 0

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        stats = self.routes[(method, route)]
        stats.count += 1
        stats.total_seconds += seconds
        if status >= 500:
            stats.errors += 1

    def summary(self) -> dict[str, Any]:
        process = psutil.Process(os.getpid())
        memory = process.memory_info()
        return {
            "pid": os.getpid(),
            "uptime_seconds": round(time.time() - self.started, 3),
            "rss_bytes": memory.rss,
            "open_fds": process.num_fds(),
            "gc_collections": [g["collections"] for g in gc.get_stats()],
            "in_flight": self.in_flight,
            "requests": [
                {
                    "method": method,
                    "route": route,
                    "count": s.count,
                    "server_errors": s.errors,
                    "mean_ms": round(1000 * s.total_seconds / s.count, 3),
                }
                for (method, route), s in sorted(self.routes.items())
            ],
        }
