"""The HTML report: one self-contained file with inline SVG charts."""

from __future__ import annotations

from html import escape

from ability.bench.results import BARE, BenchReport, RunResult
from ability.bench.sla import READS, WRITES
from ability.bench.svg import Series, bar_chart, line_chart

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 960px;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #107010; font-weight: bold; } .fail { color: #b00; font-weight: bold; }
.note { color: #555; font-size: 0.85rem; }
"""
_PERCENTILES = (
    ("p50", "p50_ms"),
    ("p95", "p95_ms"),
    ("p99", "p99_ms"),
    ("p99.9", "p999_ms"),
    ("max", "max_ms"),
)


def _num(value: float | None, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.2f}{suffix}"


def _endpoint_table(run: RunResult) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("endpoint", "ok/s", *(n for n, _ in _PERCENTILES), "errors")
    )
    head += "<th>p50 ÷ bare</th><th>p99 ÷ bare</th>"
    rows = []
    for e in run.endpoints:
        kinds = ", ".join(f"{k}×{n}" for k, n in sorted(e.error_kinds.items()))
        cells = [
            f"<td>{escape(e.label)}</td>",
            f'<td class="n">{e.throughput:,.1f}</td>',
        ]
        cells += [f'<td class="n">{_num(e.metric(k))}</td>' for _, k in _PERCENTILES]
        cells.append(f'<td class="n">{e.errors} {escape(kinds)}</td>')
        for metric in ("p50_ms", "p99_ms"):
            cells.append(f'<td class="n">{_num(run.ratio(e, metric), "×")}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _sla_list(run: RunResult) -> str:
    items = []
    for r in run.sla:
        verdict = (
            '<span class="pass">PASS</span>'
            if r.passed
            else ('<span class="fail">FAIL</span>')
        )
        items.append(f"<li>{verdict} {escape(r.name)}: {escape(r.worst)}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _percentile_chart(run: RunResult) -> str:
    endpoints = [e for e in run.endpoints if e.ok]
    return bar_chart(
        "Latency percentiles per endpoint (from due time)",
        [e.label for e in endpoints],
        [name for name, _ in _PERCENTILES],
        [[e.metric(k) for _, k in _PERCENTILES] for e in endpoints],
        "ms",
    )


def _over_time_charts(run: RunResult) -> str:
    latency, throughput = [], []
    totals: dict[int, list[int]] = {}
    wholes = {e.label for e in run.endpoints if e.whole}
    for label, points in run.series.items():
        line = [(p.t, p.p99_ms) for p in points if p.p99_ms is not None]
        if line:
            latency.append(Series(label, [(t, v) for t, v in line]))
        if label in wholes:
            continue  # its requests are counted under their endpoints
        for p in points:
            ok_errors = totals.setdefault(p.t, [0, 0])
            ok_errors[0] += p.ok
            ok_errors[1] += p.errors
    seconds = sorted(totals)
    throughput.append(Series("ok/s", [(t, totals[t][0]) for t in seconds]))
    throughput.append(Series("errors/s", [(t, totals[t][1]) for t in seconds]))
    return line_chart(
        "p99 latency per second of the run, by due time",
        latency,
        "seconds into the run",
        "ms (log)",
        log_y=True,
    ) + line_chart(
        "Responses per second of the run (all endpoints)",
        throughput,
        "seconds into the run",
        "responses per second",
    )


def _sweep_chart(bench: BenchReport) -> str:
    runs = sorted(bench.runs, key=lambda r: r.rate)
    labels = [label for label in (*READS, *WRITES, BARE) if bench.main.endpoint(label)]
    lines = []
    for colour, label in enumerate(labels):
        for key, name in (("p99_ms", "p99"), ("p50_ms", "p50")):
            points = []
            for run in runs:
                endpoint = run.endpoint(label)
                value = endpoint.metric(key) if endpoint else None
                if value is not None:
                    points.append((run.rate, value))
            series = Series(f"{label} {name}", points, colour, dashed=name == "p50")
            lines.append(series)
    done = Series("requests/s", [(r.rate, r.requests_per_second) for r in runs])
    return line_chart(
        "Latency against offered rate",
        lines,
        "operations/s offered",
        "ms (log)",
        log_y=True,
        height=460,
    ) + line_chart(
        "Requests completed against offered rate",
        [done],
        "operations/s offered",
        "per second",
    )


def _lag_warning(run: RunResult) -> str:
    if not run.generator_fell_behind:
        return ""
    return (
        " <b>The load generator fell behind its schedule</b>: the figures still"
        " count from the due times but include its own delay."
    )


def render(bench: BenchReport) -> str:
    """The whole report as one HTML document."""
    run = bench.main
    config = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
        for k, v in {**bench.config, **bench.machine}.items()
    )
    sweep = ""
    if len(bench.runs) > 1:
        best = f"{bench.best_rate:g}/s" if bench.best_rate else "none"
        sweep = (
            f"<h2>Sweep</h2><p>Highest rate meeting every SLA: <b>{best}</b>.</p>"
            + _sweep_chart(bench)
            + "".join(
                f"<h3>{r.rate:g}/s</h3>{_endpoint_table(r)}{_sla_list(r)}"
                for r in bench.runs[1:]
            )
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>ability bench {escape(bench.started_at)}</title>
<style>{_STYLE}</style></head><body>
<h1>ability bench</h1>
<p>{escape(bench.started_at)} — {run.rate:g} operations/s for {run.duration:g} s,
open loop: every request is timed from the moment it was due, so queueing
delay counts. The bare route <code>{BARE}</code> is interleaved in the same
mix; ratios compare each endpoint with it in this run.</p>
<p class="note">Sent {run.sent:,} operations; overflow {run.overflow}, unfinished
{run.unfinished}; schedule lag p99 {run.lag_p99_ms:,.2f} ms,
max {run.lag_max_ms:,.2f} ms.{_lag_warning(run)}</p>
<h2>SLAs</h2>{_sla_list(run)}
<h2>Endpoints (latency in ms)</h2>{_endpoint_table(run)}
{_percentile_chart(run)}
{_over_time_charts(run)}
{sweep}
<h2>Configuration and machine</h2><table>{config}</table>
</body></html>
"""
