"""Compare the studies of several scenarios run in one go.

A suite writes one results directory per scenario and a comparison beside them::

    SUITE_DIR/
      SCENARIO/             one results directory per scenario (see study.py)
      suite.md, suite.html  the comparison of every scenario
      plots/suite.svg       total time per strategy, one panel per scenario
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recovery_lab.plots import figure_svg, strategy_bars_figure
from recovery_lab.report import REPORT_FILE, ReportFiles, render_markdown
from recovery_lab.report_document import (
    Block,
    Heading,
    Image,
    Links,
    Paragraph,
    Table,
)
from recovery_lab.report_html import REPORT_HTML_FILE, render_html
from recovery_lab.report_plots import PLOTS_DIR, Plot
from recovery_lab.results import StudyResults
from recovery_lab.stats import group_runs, slowdown

SUITE_MARKDOWN = "suite.md"
SUITE_HTML = "suite.html"

SUITE_COLUMNS = (
    "scenario",
    "strategy",
    "no-fault s",
    "with faults s",
    "vs no-fault",
    "recomputed",
    "lost",
    "wasted CPU s",
    "correct",
)


@dataclass(frozen=True)
class SuiteEntry:
    """One scenario of a suite.

    Attributes:
        name: Directory name of its results, relative to the suite directory.
        study: Its results.

    """

    name: str
    study: StudyResults


def suite_rows(entries: list[SuiteEntry]) -> list[list[str]]:
    """Return one row per scenario and strategy, in ``SUITE_COLUMNS`` order."""
    rows = []
    for entry in entries:
        groups = group_runs(entry.study)
        for strategy in dict.fromkeys(group.strategy for group in groups):
            by_mode = {g.mode: g for g in groups if g.strategy == strategy}
            base, faults = by_mode.get("baseline"), by_mode.get("faults")
            measured = faults or base
            assert measured is not None
            ratio = slowdown(groups, faults) if faults else None
            rows.append(
                [
                    entry.name,
                    strategy,
                    base.metrics["total_time"].format(2) if base else "-",
                    faults.metrics["total_time"].format(2) if faults else "-",
                    ratio.format(2, "x") if ratio and ratio.count else "-",
                    measured.metrics["recomputed"].format(0),
                    measured.metrics["lost_in_flight"].format(0),
                    measured.metrics["wasted_cpu"].format(2),
                    f"{sum(g.correct for g in by_mode.values())}/"
                    f"{sum(len(g.runs) for g in by_mode.values())}",
                ]
            )
    return rows


def _time_plot(entries: list[SuiteEntry]) -> Plot:
    strategies = list(
        dict.fromkeys(run.strategy for entry in entries for run in entry.study.runs)
    )
    panels = []
    for entry in entries:
        groups = {(g.strategy, g.mode): g for g in group_runs(entry.study)}
        baseline: list[float | None] = []
        faults: list[tuple[float, float, float] | None] = []
        for strategy in strategies:
            base = groups.get((strategy, "baseline"))
            baseline.append(base.metrics["total_time"].median if base else None)
            faulted = groups.get((strategy, "faults"))
            summary = faulted.metrics["total_time"] if faulted else None
            if summary is None or summary.median is None:
                faults.append(None)
            else:
                assert summary.minimum is not None and summary.maximum is not None
                faults.append((summary.median, summary.minimum, summary.maximum))
        panels.append((f"{entry.name}: total time (s)", baseline, faults))
    figure = strategy_bars_figure(strategies, panels, share_y=True)
    return Plot(f"{PLOTS_DIR}/suite.svg", figure_svg(figure, "suite"))


def suite_document(entries: list[SuiteEntry]) -> list[Block]:
    """Lay out the comparison of a suite's scenarios."""
    blocks: list[Block] = [
        Heading(1, "Crash-recovery suite: " + ", ".join(e.name for e in entries)),
        Paragraph(
            "One row per scenario and strategy. A metric that varied between "
            "repetitions shows as median (minimum-maximum) over the runs that "
            "completed; recomputed, lost and wasted CPU are those of the runs with "
            "faults."
        ),
        Table(
            SUITE_COLUMNS,
            tuple(tuple(row) for row in suite_rows(entries)),
            frozenset(range(2, len(SUITE_COLUMNS))),
        ),
    ]
    if any(entry.study.runs for entry in entries):
        blocks.append(
            Image(
                _time_plot(entries),
                "Total time per strategy. Grey: without faults. Blue: with faults, "
                "median with a whisker from minimum to maximum.",
            )
        )
    blocks += [
        Heading(2, "Reports"),
        Links(
            tuple(
                (f"{entry.name}: HTML", f"{entry.name}/{REPORT_HTML_FILE}")
                for entry in entries
            )
            + tuple(
                (f"{entry.name}: Markdown", f"{entry.name}/{REPORT_FILE}")
                for entry in entries
            )
        ),
    ]
    return blocks


def write_suite_report(suite_dir: Path, entries: list[SuiteEntry]) -> ReportFiles:
    """Write suite.md, suite.html and the suite's plot into the suite directory.

    Returns:
        The paths of both files.

    """
    blocks = suite_document(entries)
    for block in blocks:
        if isinstance(block, Image):
            path = suite_dir / block.plot.path
            path.parent.mkdir(exist_ok=True)
            path.write_text(block.plot.svg)
    markdown = suite_dir / SUITE_MARKDOWN
    markdown.write_text(render_markdown(blocks))
    page = suite_dir / SUITE_HTML
    page.write_text(render_html(blocks))
    return ReportFiles(markdown=markdown, html=page)
