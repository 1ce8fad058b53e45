"""What the metrics middleware costs on the cheapest endpoint.

    .venv/bin/python scripts/bench_metrics_overhead.py [--rounds 5 --seconds 5]

Starts two API servers on one SQLite file — metrics on and off
(ABILITY_METRICS_ENABLED) — and drives ``/health/live`` on each with wrk,
alternating rounds so drift hits both alike. Prints requests/s per round and
the median throughput ratio (off ÷ on): the middleware's cost. Not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_postgres import api_server, console  # noqa: E402


def requests_per_second(base: str, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", f"{base}/health/live"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="ability-overhead-"))
        stack.callback(shutil.rmtree, work, True)
        env = {
            **os.environ,
            "ABILITY_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'ability.db'}",
            "ABILITY_SEED_DEMO": "false",
            "ABILITY_LOG_LEVEL": "WARNING",
        }
        on = stack.enter_context(api_server(env, 1))
        off = stack.enter_context(
            api_server({**env, "ABILITY_METRICS_ENABLED": "false"}, 1)
        )
        ratios = []
        for n in range(args.rounds):
            with_metrics = requests_per_second(on, args.seconds)
            without = requests_per_second(off, args.seconds)
            ratios.append(without / with_metrics)
            console.print(
                f"round {n + 1}: metrics on {with_metrics:,.0f} req/s, "
                f"off {without:,.0f} req/s, off/on {ratios[-1]:.3f}"
            )
        cost = statistics.median(ratios) - 1
        console.print(
            f"median cost of the metrics middleware: {cost:+.1%} of throughput"
        )


if __name__ == "__main__":
    main()
