"""Terminal output: the results table, SLA lines, sweep and comparison."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ability.bench.results import BARE, BenchReport, EndpointResult, RunResult
from ability.bench.sla import READS, WRITES

_LATENCIES = (
    ("p50", "p50_ms"),
    ("p95", "p95_ms"),
    ("p99", "p99_ms"),
    ("p99.9", "p999_ms"),
    ("max", "max_ms"),
)


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}×"


def run_table(run: RunResult, title: str) -> Table:
    """Per endpoint: throughput, percentiles, errors and ratios to bare."""
    table = Table(title=title, title_justify="left")
    table.add_column("endpoint")
    for heading in ("ok/s", *(name for name, _ in _LATENCIES), "errors"):
        table.add_column(heading, justify="right")
    table.add_column("p50 ÷ bare", justify="right")
    table.add_column("p99 ÷ bare", justify="right")
    for endpoint in run.endpoints:
        style = "dim" if endpoint.label == BARE else None
        table.add_row(
            endpoint.label,
            f"{endpoint.throughput:,.1f}",
            *(_ms(endpoint.metric(key)) for _, key in _LATENCIES),
            _errors(endpoint),
            _times(run.ratio(endpoint, "p50_ms")),
            _times(run.ratio(endpoint, "p99_ms")),
            style=style,
        )
    return table


def _errors(endpoint: EndpointResult) -> str:
    if not endpoint.errors:
        return "0"
    kinds = ", ".join(f"{k}×{n}" for k, n in sorted(endpoint.error_kinds.items()))
    return f"[red]{endpoint.errors}[/red] ({kinds})"


def sla_lines(run: RunResult) -> list[str]:
    lines = []
    for result in run.sla:
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        lines.append(f"{mark}  {result.name}: {result.worst}")
    return lines


def print_report(console: Console, bench: BenchReport) -> None:
    """The main run, its SLA verdicts and, after a sweep, the rate curve."""
    run = bench.main
    config = bench.config
    title = (
        f"Open-loop at {run.rate:g} operations/s for {run.duration:g} s — "
        f"{config.get('applications', '?')} applications, users of "
        f"{config.get('tenants', '?')} companies; ms from each request's due time"
    )
    console.print(run_table(run, title))
    console.print(
        f"sent {run.sent:,} operations; overflow {run.overflow}, unfinished "
        f"{run.unfinished}; schedule lag p99 {_ms(run.lag_p99_ms)} ms, "
        f"max {_ms(run.lag_max_ms)} ms; bare route interleaved in the mix"
    )
    if run.generator_fell_behind:
        console.print(
            "[yellow]The load generator fell behind its schedule: the figures "
            "still count from the due times but include its own delay.[/yellow]"
        )
    for line in sla_lines(run):
        console.print(line)
    if len(bench.runs) > 1:
        console.print(sweep_table(bench))


def sweep_table(bench: BenchReport) -> Table:
    best = bench.best_rate
    heading = f"best rate meeting the SLAs: {best:g}/s" if best else "no rate met"
    table = Table(title=f"Sweep — {heading}", title_justify="left")
    for column in ("rate/s", "requests/s", "reads p99", "writes p99", "errors", "SLAs"):
        table.add_column(column, justify="right")
    for run in bench.runs:
        table.add_row(
            f"{run.rate:g}",
            f"{run.requests_per_second:,.1f}",
            _ms(_worst(run, READS)),
            _ms(_worst(run, WRITES)),
            str(run.errors),
            "[green]pass[/green]" if run.passed else "[red]fail[/red]",
        )
    return table


def _worst(run: RunResult, labels: tuple[str, ...]) -> float | None:
    """The highest p99 among ``labels`` in ``run``."""
    values = [e.p99_ms for e in run.endpoints if e.label in labels]
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _delta(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "–"
    if before == 0:
        return "–" if after == 0 else "new"
    change = 100 * (after - before) / before
    colour = "red" if change > 5 else "green" if change < -5 else "white"
    return f"[{colour}]{change:+.0f} %[/{colour}]"


def compare_table(a: BenchReport, b: BenchReport, names: tuple[str, str]) -> Table:
    """Main runs side by side: latency and throughput, B relative to A."""
    run_a, run_b = a.main, b.main
    table = Table(
        title=f"A = {names[0]} ({run_a.rate:g}/s)   B = {names[1]} ({run_b.rate:g}/s)",
        title_justify="left",
    )
    table.add_column("endpoint")
    for metric in ("p50", "p99", "ok/s"):
        for column in (f"{metric} A", f"{metric} B", "Δ"):
            table.add_column(column, justify="right")
    table.add_column("p99÷bare A→B", justify="right")
    table.add_column("errors A→B", justify="right")
    labels = [e.label for e in run_a.endpoints]
    labels += [e.label for e in run_b.endpoints if e.label not in labels]
    for label in labels:
        ea, eb = run_a.endpoint(label), run_b.endpoint(label)
        cells: list[str] = [label]
        for key in ("p50_ms", "p99_ms", "throughput"):
            va = ea.metric(key) if ea else None
            vb = eb.metric(key) if eb else None
            delta = _delta(va, vb)
            if key == "throughput":  # more is better: flip the colour
                delta = delta.replace("red", "tmp").replace("green", "red")
                delta = delta.replace("tmp", "green")
            cells += [_ms(va), _ms(vb), delta]
        ratio_a = run_a.ratio(ea, "p99_ms") if ea else None
        ratio_b = run_b.ratio(eb, "p99_ms") if eb else None
        cells.append(f"{_times(ratio_a)} → {_times(ratio_b)}")
        cells.append(f"{ea.errors if ea else '–'} → {eb.errors if eb else '–'}")
        table.add_row(*cells)
    return table
