"""Latency of the hot read endpoints against a running server.

Usage: python scripts/bench_endpoints.py --url http://127.0.0.1:8000 \
    --email admin@c0001....example --password seed-password [--rate 200]

Runs each endpoint open-loop at the same arrival rate, side by side with the
bare ``/health/live`` route of the same server, and prints p50/p95/p99/max
in milliseconds plus each endpoint's p50 as a multiple of the bare one.
"""

from __future__ import annotations

import argparse
import asyncio
import random

import httpx
from rich.console import Console
from rich.table import Table

from ability.bench import loadgen

WORDS = ("laptop", "monitor", "finance", "travel", "licence", "printer")


async def main(args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=args.url, limits=limits) as client:
        login = await client.post(
            "/auth/login", json={"email": args.email, "password": args.password}
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        first = (await client.get("/applications?page_size=100")).json()["items"]
        ids = [item["id"] for item in first]
        page2 = (await client.get("/applications?page_size=20")).json()
        cursor = page2["next_cursor"]
        rng = random.Random(1)

        targets: dict[str, loadgen.Request] = {
            "bare /health/live": lambda c, i: c.get("/health/live"),
            "get /applications/{id}": lambda c, i: c.get(
                f"/applications/{rng.choice(ids)}"
            ),
            "list first page": lambda c, i: c.get("/applications"),
            "list status=active": lambda c, i: c.get("/applications?status=active"),
            "list page 50 (offset)": lambda c, i: c.get("/applications?page=50"),
            "list by cursor": lambda c, i: c.get(f"/applications?cursor={cursor}"),
            "search": lambda c, i: c.get(
                f"/applications/search?query={rng.choice(WORDS)}"
            ),
        }
        results = []
        for name, request in targets.items():
            await loadgen.run(client, name, request, args.rate, 1.0)  # warm-up
            results.append(
                await loadgen.run(client, name, request, args.rate, args.duration)
            )
    _report(results)


def _report(results: list[loadgen.Result]) -> None:
    bare = results[0].percentile(50)
    table = Table(title="Open-loop latency (ms, from intended send time)")
    for column in ("endpoint", "rate/s", "done/s", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="right")
    table.add_column("p50 / bare", justify="right")
    table.add_column("errors", justify="right")
    for r in results:
        table.add_row(
            r.name,
            f"{r.rate:.0f}",
            f"{r.throughput:.0f}",
            *(f"{1000 * r.percentile(p):.2f}" for p in (50, 95, 99, 100)),
            f"{r.percentile(50) / bare:.1f}x",
            str(r.errors),
        )
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=5.0)
    asyncio.run(main(parser.parse_args()))
