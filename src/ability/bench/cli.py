"""``ability bench``: the open-loop benchmark, and ``ability bench compare``.

Imported by ``ability.cli`` at start-up, so the heavy modules (the database
layer loads the metrics, which ``ability serve`` must set up first) are
imported inside the commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from ability.bench import html, report, results
from ability.bench.mix import DEFAULT_MIX, mix_text, parse_mix
from ability.logging import configure_logging

if TYPE_CHECKING:
    from ability.bench.results import BenchReport, RunResult
    from ability.bench.runner import Schedule
    from ability.bench.server import Embedded

bench_app = typer.Typer(
    help="Open-loop benchmark with SLAs; see also `ability bench compare`."
)
console = Console()
if not console.is_terminal:
    console.width = 160  # files and pipes get the whole table
err = Console(stderr=True)
DEFAULT_MIX_TEXT = ",".join(
    f"{name}={weight:g}" for name, weight in DEFAULT_MIX.items()
)


@contextmanager
def _embedded_server(
    companies: int, applications: int, workers: int
) -> Iterator[Embedded]:
    """The own server, with a progress bar while the dataset is seeded."""
    from ability.bench.server import embedded

    bar = Progress(
        "[bold]seeding",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("seed", total=applications)
    bar.start()
    try:
        with embedded(
            companies,
            applications,
            workers,
            lambda n: bar.advance(task, n),
            bar.stop,
        ) as server:
            yield server
    finally:
        bar.stop()


@bench_app.callback(invoke_without_command=True)
def bench(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(help="A running server on loopback, seeded by `ability seed`."),
    ] = None,
    applications: Annotated[
        int, typer.Option(min=0, max=100_000_000, help="Dataset size (own server).")
    ] = 10_000,
    companies: Annotated[
        int, typer.Option(min=1, max=10_000, help="Companies in the dataset.")
    ] = 20,
    tenants: Annotated[
        int, typer.Option(min=1, max=1_000, help="Companies whose users take part.")
    ] = 10,
    rate: Annotated[
        float, typer.Option(min=0.1, max=20_000, help="Operations per second.")
    ] = 50.0,
    duration: Annotated[
        float, typer.Option(min=1, max=3_600, help="Seconds measured per rate.")
    ] = 30.0,
    warmup: Annotated[
        float, typer.Option(min=0, max=600, help="Unmeasured seconds first.")
    ] = 3.0,
    out: Annotated[Path, typer.Option(help="Directory for JSON and HTML.")] = Path(
        "bench-results"
    ),
    check_sla: Annotated[
        bool, typer.Option("--check-sla", help="Exit 1 when an SLA is missed.")
    ] = False,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Step the rate up to find the limit.")
    ] = False,
    sweep_steps: Annotated[int, typer.Option(min=2, max=20)] = 6,
    sweep_factor: Annotated[float, typer.Option(min=1.05, max=4.0)] = 1.5,
    mix: Annotated[str, typer.Option(help="Operation weights.")] = DEFAULT_MIX_TEXT,
    max_in_flight: Annotated[
        int, typer.Option(min=1, max=10_000, help="Beyond this, overflow errors.")
    ] = 256,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Own server.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed of the workload.")] = 1,
    tag: Annotated[
        str | None, typer.Option(help="E-mail tag of the seeded users (--url).")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Password of the seeded users (--url; default: seed's)."),
    ] = None,
) -> None:
    """Drive a server at a fixed arrival rate and report latency per endpoint.

    Without --url it seeds a dataset (SQLite in a temporary directory, or
    ABILITY_DATABASE_URL / ABILITY_REDIS_URL) and starts its own server.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ability.bench.runner import Schedule, require_loopback

    configure_logging("WARNING", "console")
    try:
        weights = parse_mix(mix)
        target = require_loopback(url) if url else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    schedule = Schedule(
        rate=rate,
        duration=duration,
        warmup=warmup,
        mix=weights,
        max_in_flight=max_in_flight,
        seed=seed,
        sweep_steps=sweep_steps if sweep else 0,
        sweep_factor=sweep_factor,
    )
    config = {
        "target": target or "own server",
        "applications": f"{applications:,}" if target is None else "the server's",
        "companies": str(companies),
        "tenants": str(min(companies, tenants)),
        "rate": f"{rate:g}",
        "duration": f"{duration:g}",
        "warmup": f"{warmup:g}",
        "mix": mix_text(weights),
        "max_in_flight": str(max_in_flight),
        "bare": "interleaved in the mix",
        "sweep": "yes" if sweep else "no",
    }
    started = datetime.now(UTC)
    if target is not None:
        runs = _against(target, schedule, min(companies, tenants), tag, password)
    else:
        config["workers"] = str(workers)
        dataset = (companies, applications, min(companies, tenants))
        runs = _against_own_server(schedule, dataset, workers, config)
    bench_report = _write(runs, config, started, out)
    if check_sla and not bench_report.main.passed:
        raise typer.Exit(1)


def _notifier() -> Callable[[str], None]:
    clock = time.monotonic()

    def notify(text: str) -> None:
        err.print(f"[dim]{time.monotonic() - clock:6.1f} s  {text}[/dim]")

    return notify


def _against(
    target: str,
    schedule: Schedule,
    tenants: int,
    tag: str | None,
    password: str | None,
) -> list[RunResult]:
    """Benchmark a running server seeded by ``ability seed``."""
    from ability.bench.runner import measure, run_loop
    from ability.bench.workload import Logins, SetupError
    from ability.seed.logins import SEED_PASSWORD, seed_tag

    logins = Logins(tag or seed_tag(), password or SEED_PASSWORD)
    try:
        return run_loop(measure(target, logins, tenants, schedule, _notifier()))
    except SetupError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _against_own_server(
    schedule: Schedule,
    dataset: tuple[int, int, int],
    workers: int,
    config: dict[str, str],
) -> list[RunResult]:
    """Seed ``(companies, applications)``, serve, benchmark ``tenants``."""
    from ability.bench.runner import measure, run_loop
    from ability.bench.server import ServerError
    from ability.bench.workload import SetupError

    companies, applications, tenants = dataset
    notify = _notifier()
    try:
        with _embedded_server(companies, applications, workers) as server:
            config["database"] = server.database
            notify(f"serving on {server.base_url}")
            work = measure(server.base_url, server.logins, tenants, schedule, notify)
            return run_loop(work)
    except (SetupError, ServerError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _write(
    runs: list[RunResult], config: dict[str, str], started: datetime, out: Path
) -> BenchReport:
    """Save the JSON and HTML reports and print the tables."""
    from ability.bench.runner import report as build_report

    bench_report = build_report(runs, config, started)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bench-{started:%Y%m%d-%H%M%S}"
    results.save(bench_report, stem.with_suffix(".json"))
    stem.with_suffix(".html").write_text(html.render(bench_report), encoding="utf-8")
    report.print_report(console, bench_report)
    console.print(f"wrote {stem}.json and {stem}.html")
    return bench_report


@bench_app.command()
def compare(
    before: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    after: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
) -> None:
    """Two benchmark JSON files side by side, with B's change from A."""
    a, b = results.load(before), results.load(after)
    console.print(report.compare_table(a, b, (before.name, after.name)))
