"""Terminal tables, the HTML report, the mix option and the CLI's SLA exit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from ability.bench import html, report, results
from ability.bench.mix import DEFAULT_MIX, mix_text, parse_mix
from ability.bench.results import RunResult
from ability.bench.svg import Scale, Series, line_chart
from ability.cli import app
from tests.bench._runs import bench, run

EXTERNAL = re.compile(r"https?://|<script|<link|<img|url\(|src=|href=", re.I)


def rendered(renderable: object) -> str:
    console = Console(record=True, width=220)
    console.print(renderable)
    return console.export_text()


class TestHtml:
    def test_is_self_contained_with_charts(self) -> None:
        page = html.render(bench(run()))

        assert page.startswith("<!doctype html>")
        assert page.count("<svg") == 3  # percentiles, latency, throughput
        assert EXTERNAL.search(page) is None
        assert "GET /applications/search" in page
        assert "PASS" in page

    def test_a_sweep_adds_latency_against_rate(self) -> None:
        page = html.render(bench(run(10), run(20), run(40, scale=10), best=20))

        assert "Latency against offered rate" in page
        assert "Highest rate meeting every SLA: <b>20/s</b>" in page
        assert "FAIL" in page

    def test_text_is_escaped(self) -> None:
        figures = run()
        figures.endpoints[1].label = "<b>odd</b>"

        page = html.render(bench(figures))

        assert "<b>odd</b>" not in page
        assert "&lt;b&gt;odd&lt;/b&gt;" in page


class TestSvg:
    def test_log_scale_spans_whole_decades(self) -> None:
        scale = Scale(3.0, 420.0, 0.0, 300.0, log=True)

        assert (scale.low, scale.high) == (1.0, 1000.0)
        assert scale(1.0) == 0.0
        assert scale(1000.0) == pytest.approx(300.0)
        assert scale(10.0) == pytest.approx(100.0)

    def test_linear_ticks_are_round(self) -> None:
        assert Scale(0.0, 97.0, 0.0, 1.0, log=False).ticks() == [
            0.0,
            20.0,
            40.0,
            60.0,
            80.0,
            100.0,
        ]

    def test_an_empty_chart_still_renders(self) -> None:
        svg = line_chart("empty", [Series("none", [])], "x", "y", log_y=True)

        assert svg.startswith("<svg")
        assert svg.endswith("</svg>")


class TestTerminal:
    def test_table_has_percentiles_errors_and_ratios(self) -> None:
        text = rendered(report.run_table(run(scale=2.0), "title"))

        assert "p99.9" in text
        assert "GET /applications/search" in text
        assert "20.0×" in text  # list p99 80 ms over bare 4 ms

    def test_sla_lines_say_pass_or_fail(self) -> None:
        lines = report.sla_lines(run(scale=5.0))

        assert any(line.startswith("[red]FAIL") for line in lines)
        assert any(line.startswith("[green]PASS") for line in lines)

    def test_compare_shows_changes(self) -> None:
        before, after = bench(run()), bench(run(scale=2.0))

        text = rendered(report.compare_table(before, after, ("a.json", "b.json")))

        assert "+100 %" in text  # latency doubled
        assert "10.0× → 20.0×" in text


class TestMix:
    def test_default_round_trips(self) -> None:
        assert parse_mix(mix_text(DEFAULT_MIX)) == dict(DEFAULT_MIX)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("list=x", "not a number"),
            ("lists=1", "unknown operation"),
            ("list=-1", "out of range"),
            ("list=0", "positive"),
        ],
    )
    def test_refuses_bad_weights(self, text: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            parse_mix(text)


class TestCli:
    def test_compare(self, tmp_path: Path) -> None:
        results.save(bench(run()), tmp_path / "a.json")
        results.save(bench(run(scale=2.0)), tmp_path / "b.json")

        outcome = CliRunner().invoke(
            app,
            ["bench", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")],
        )

        assert outcome.exit_code == 0, outcome.output
        assert "+100 %" in outcome.output

    @pytest.mark.parametrize(("scale", "code"), [(1.0, 0), (10.0, 1)])
    def test_check_sla_exits_non_zero_on_a_missed_objective(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scale: float, code: int
    ) -> None:
        async def measured(*_: object) -> list[RunResult]:
            return [run(scale=scale)]

        monkeypatch.setattr("ability.bench.runner.measure", measured)

        outcome = CliRunner().invoke(
            app,
            [
                "bench",
                "--url",
                "http://127.0.0.1:9",
                "--check-sla",
                "--out",
                str(tmp_path),
            ],
        )

        assert outcome.exit_code == code, outcome.output
        assert len(list(tmp_path.glob("bench-*.json"))) == 1
        assert len(list(tmp_path.glob("bench-*.html"))) == 1

    def test_refuses_a_remote_url(self) -> None:
        outcome = CliRunner().invoke(app, ["bench", "--url", "http://192.0.2.1:80"])

        assert outcome.exit_code == 2
        assert "loopback" in outcome.output
