"""Issue 3's benchmark: the production stack (PostgreSQL + Redis) at scale.

    .venv/bin/python scripts/bench_postgres.py [--applications 1000000]

Starts throwaway PostgreSQL and Redis servers on loopback (or uses
--database-url/--redis-url), loads the dataset, imports a JSON Lines file,
then drives each endpoint with wrk (Debian's ``wrk``) against two API
servers on the same database — one with the cache, one without — and prints
requests/s, p50 and p99 for each, with ratios to the bare ``/health/live``
route measured in the same run. Nothing here is a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import (  # noqa: E402
    free_port,
    postgres_server,
    redis_server,
    stop_process,
)

from ability.application.importer import import_applications  # noqa: E402
from ability.application.search import index_backlog  # noqa: E402
from ability.config import Settings  # noqa: E402
from ability.db import Database  # noqa: E402
from ability.migrations import upgrade  # noqa: E402
from ability.models import User  # noqa: E402
from ability.seed.generator import SEED_PASSWORD, generate  # noqa: E402

console = Console(width=120)
# A server sized for the data, as production would be (the defaults are for
# a laptop): buffers hold the working set, checkpoints do not interrupt a load.
# Durability is back on: the test servers switch it off.
SERVER_SETTINGS = (
    "fsync=on",
    "synchronous_commit=on",
    "full_page_writes=on",
    "shared_buffers=4GB",
    "max_wal_size=8GB",
    "checkpoint_timeout=30min",
    "wal_buffers=64MB",
)
WORDS = ("laptop", "monitor", "finance", "travel", "licence", "printer", "audit")


@dataclass
class Figures:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m|h)", text).groups()  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}
    return float(value) * scale[unit]


def wrk(name: str, base: str, paths: list[str], token: str, seconds: int) -> Figures:
    """Run wrk over ``paths`` (picked at random per request)."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    quoted = ",".join(f'"{p}"' for p in paths)
    script.write_text(
        f"local paths = {{{quoted}}}\n"
        "request = function()\n"
        "  return wrk.format('GET', paths[math.random(#paths)],\n"
        f"    {{['Authorization'] = 'Bearer {token}'}})\n"
        "end\n"
    )
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                "-c32",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                script,
                base,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        script.unlink()

    def field(pattern: str) -> str:
        return re.search(pattern, out, re.M).group(1)  # type: ignore[union-attr]

    try:
        rps = float(field(r"Requests/sec:\s+([\d.]+)"))
        p50 = _ms(field(r"^\s+50%\s+(\S+)"))
        p99 = _ms(field(r"^\s+99%\s+(\S+)"))
    except AttributeError:
        console.print(f"[red]could not read wrk's output for {name}:[/red]\n{out}")
        return Figures(name, float("nan"), float("nan"), float("nan"), -1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    return Figures(name, rps, p50, p99, errors)


@contextmanager
def api_server(env: dict[str, str], workers: int) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ability"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the API server did not become ready")
        yield base
    finally:
        stop_process(process, grace=30)


async def load(
    settings: Settings, applications: int, imports: int, work: Path
) -> tuple[str, str]:
    """Seed, then import into the second company; returns the logins of the
    first company's admin (a typical tenant) and the second's (a large one)."""
    db = Database.from_settings(settings)
    started = time.perf_counter()
    tenants = await generate(db, 100, applications)
    seeded = time.perf_counter() - started
    console.print(
        f"seed: {applications:,} applications in {seeded:.1f} s "
        f"({applications / seeded:,.0f}/s)"
    )
    async with db.session(write=False) as session:
        result = await session.execute(
            sa.select(User.email).where(
                User.company_id.in_([t.company_id for t in tenants[:2]])
            )
        )
        emails = sorted(result.scalars())
    admin, large_admin = (e for e in emails if e.startswith("admin@"))
    member = next(e for e in emails if e.startswith("member@c0002"))
    workflow_id = tenants[1].workflows[0][0]
    path = work / "import.jsonl"
    rng = random.Random(3)
    with path.open("wb") as out:
        for n in range(imports):
            out.write(
                orjson.dumps(
                    {
                        "title": f"Imported {rng.choice(WORDS)} request {n}",
                        "workflow_id": workflow_id,
                        "description": "Brought over from the previous system.",
                        "metadata": {"source": "legacy", "n": n},
                    }
                )
                + b"\n"
            )
    with path.open("rb") as lines:
        started = time.perf_counter()
        result = await import_applications(db, lines, member)
        took = time.perf_counter() - started
    started = time.perf_counter()
    indexed = await index_backlog(db)
    indexing = time.perf_counter() - started
    console.print(
        f"import: {result.imported:,} rows in {took:.1f} s "
        f"({result.imported / took:,.0f} rows/s); then indexed for search: "
        f"{indexed:,} in {indexing:.1f} s ({indexed / indexing:,.0f}/s); "
        f"committed to searchable: {result.imported / (took + indexing):,.0f} rows/s"
    )
    await db.dispose()
    return admin, large_admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=1_000_000)
    parser.add_argument("--imports", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="ability-bench-"))
        stack.callback(shutil.rmtree, work, True)
        pg = stack.enter_context(postgres_server(work, SERVER_SETTINGS))
        redis = stack.enter_context(redis_server(work))
        url = pg.url()
        upgrade(url)
        settings = Settings(DATABASE_URL=url, SECRET_KEY="b" * 48, LOG_LEVEL="WARNING")
        logins = asyncio.run(load(settings, args.applications, args.imports, work))
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(pg.port),
                "-U",
                "postgres",
                "-c",
                "VACUUM ANALYZE",
            ],
            check=True,
            capture_output=True,
        )
        env = {
            **os.environ,
            "ABILITY_DATABASE_URL": url,
            "ABILITY_REDIS_URL": redis.url,
            "ABILITY_SECRET_KEY": "b" * 48,
            "ABILITY_LOG_LEVEL": "WARNING",
            "ABILITY_ENV": "production",
        }
        cached = stack.enter_context(api_server(env, args.workers))
        uncached = stack.enter_context(
            api_server({**env, "ABILITY_CACHE_ENABLED": "false"}, args.workers)
        )
        run(cached, uncached, logins, args.seconds)


def _token(base: str, email: str) -> str:
    response = httpx.post(
        base + "/auth/login", json={"email": email, "password": SEED_PASSWORD}
    )
    token: str = response.json()["access_token"]
    return token


def run(cached: str, uncached: str, logins: tuple[str, str], seconds: int) -> None:
    # Reads go to the large company (10k seeded + the import), search also
    # to a typical one.
    typical, token = (_token(cached, email) for email in logins)
    auth = {"Authorization": f"Bearer {token}"}
    ids: list[int] = []
    cursor = None
    for _ in range(500):
        query = f"?page_size=20&cursor={cursor}" if cursor else "?page_size=20"
        page = httpx.get(cached + "/applications" + query, headers=auth).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    hot = [f"/applications/{i}" for i in ids[:100]]
    searches = [f"/applications/search?query={w}" for w in WORDS]
    cold = [f"/applications/{i}" for i in ids]
    scenarios = [
        ("bare /health/live (cached server)", cached, ["/health/live"]),
        ("get by id, cached (100 hot ids)", cached, hot),
        ("bare /health/live (uncached server)", uncached, ["/health/live"]),
        ("get by id, uncached", uncached, cold),
        ("list first page (cached)", cached, ["/applications"]),
        ("list first page (uncached)", uncached, ["/applications"]),
        ("list page 500 by offset", uncached, ["/applications?page=500"]),
        ("list page 500 by cursor", uncached, [f"/applications?cursor={cursor}"]),
        ("search, typical company (10k)", uncached, searches),
        ("search, company with the import", uncached, searches),
    ]
    tokens = [token] * len(scenarios)
    tokens[-2] = typical
    figures = [
        wrk(name, base, paths, who, seconds)
        for (name, base, paths), who in zip(scenarios, tokens, strict=True)
    ]
    bare = {cached: figures[0], uncached: figures[2]}
    table = Table(title=f"PostgreSQL + Redis, wrk -t2 -c32 -d{seconds}s")
    for column in ("endpoint", "req/s", "p50 ms", "p99 ms", "req/s ÷ bare", "errors"):
        table.add_column(column, justify="right")
    for (name, base, _), f in zip(scenarios, figures, strict=True):
        table.add_row(
            name,
            f"{f.rps:,.0f}",
            f"{f.p50_ms:.2f}",
            f"{f.p99_ms:.2f}",
            f"{f.rps / bare[base].rps:.2f}",
            str(f.errors),
        )
    console.print(table)


if __name__ == "__main__":
    main()
