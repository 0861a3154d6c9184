"""Compare two saved studies, such as the results before and after a change.

For each strategy and mode present in either study, each metric is summarised as
median, minimum and maximum over the runs that completed (see stats.py). A
difference is marked ``*``, larger than the noise between repetitions, when:

- both sides have several runs and each side's median lies outside the other
  side's minimum-maximum range;
- one side has a single run and its value lies outside the other side's range.

When both sides have a single run, the noise is unknown, so a difference is
marked ``?`` instead. The no-fault baseline always runs once, so its rows get
``?`` at most; repeat the faulted runs (``run --repeat 3``) to judge those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from recovery_lab.results import StudyResults
from recovery_lab.stats import METRICS_BY_KEY, GroupSummary, Summary, group_runs

# Metrics compared, by key of ``stats.METRICS``.
COMPARED_METRICS = (
    "total_time",
    "recomputed",
    "lost_in_flight",
    "wasted_cpu",
    "mean_recovery_time",
    "kills",
    "distinct_pids",
)

# Scenario keys that must match for the comparison to be like with like.
SCENARIO_KEYS = ("workload", "strategies", "faults", "restart")

COMPARE_COLUMNS = ("strategy", "mode", "metric", "A", "B", "change", "")


@dataclass(frozen=True)
class MetricDifference:
    """One metric of one strategy and mode in both studies.

    Attributes:
        strategy: Strategy name.
        mode: ``baseline`` or ``faults``.
        metric: Key of the metric in ``stats.METRICS``.
        a: Its summary in the first study.
        b: Its summary in the second study.

    """

    strategy: str
    mode: str
    metric: str
    a: Summary
    b: Summary

    @property
    def mark(self) -> str:
        """Return ``*``, ``?`` or nothing, by the rule in the module docstring."""
        a_median, b_median = self.a.median, self.b.median
        if a_median is None or b_median is None or a_median == b_median:
            return ""
        if self.a.count < 2 and self.b.count < 2:
            return "?"
        outside_a = self.a.count < 2 or not _within(b_median, self.a)
        outside_b = self.b.count < 2 or not _within(a_median, self.b)
        return "*" if outside_a and outside_b else ""

    @property
    def marked(self) -> bool:
        """Whether the difference is larger than the noise (marked ``*``)."""
        return self.mark == "*"

    def change(self) -> str:
        """Format the change of the median, absolute and relative to A."""
        a_median, b_median = self.a.median, self.b.median
        if a_median is None or b_median is None:
            return "-"
        if a_median == b_median:
            return "0"
        difference = b_median - a_median
        decimals = METRICS_BY_KEY[self.metric].decimals
        if decimals == 0 and difference != int(difference):
            decimals = 1
        text = f"{difference:+.{decimals}f}"
        if a_median:
            text += f" ({difference / a_median:+.0%})"
        return text


def _within(value: float, summary: Summary) -> bool:
    assert summary.minimum is not None
    assert summary.maximum is not None
    return summary.minimum <= value <= summary.maximum


@dataclass
class StudyComparison:
    """The differences between two studies, and notes on how comparable they are.

    Attributes:
        differences: One entry per strategy, mode and metric measured on either
            side.
        notes: Warnings, such as scenarios that differ or single runs.

    """

    differences: list[MetricDifference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def marked(self) -> list[MetricDifference]:
        """The differences larger than the noise."""
        return [d for d in self.differences if d.marked]


def _groups_by_key(study: StudyResults) -> dict[tuple[str, str], GroupSummary]:
    return {(group.strategy, group.mode): group for group in group_runs(study)}


def _scenario_notes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    notes = []
    for key in SCENARIO_KEYS:
        if a.get(key) != b.get(key):
            notes.append(
                f"the scenarios differ in {key!r}: A has {a.get(key)!r}, "
                f"B has {b.get(key)!r}"
            )
    return notes


def compare_studies(a: StudyResults, b: StudyResults) -> StudyComparison:
    """Compare every metric of two studies, strategy by strategy.

    Args:
        a: The reference study, such as the one before a change.
        b: The study to compare with it.

    Returns:
        The differences and notes.

    """
    comparison = StudyComparison(notes=_scenario_notes(a.scenario, b.scenario))
    groups_a, groups_b = _groups_by_key(a), _groups_by_key(b)
    keys = list(groups_a) + [key for key in groups_b if key not in groups_a]
    empty = Summary(())
    for strategy, mode in keys:
        group_a, group_b = (
            groups_a.get((strategy, mode)),
            groups_b.get((strategy, mode)),
        )
        if group_a is None or group_b is None:
            side = "B" if group_a is None else "A"
            comparison.notes.append(f"{strategy} {mode}: only in {side}")
        for metric in COMPARED_METRICS:
            summary_a = group_a.metrics[metric] if group_a else empty
            summary_b = group_b.metrics[metric] if group_b else empty
            if summary_a.count or summary_b.count:
                comparison.differences.append(
                    MetricDifference(strategy, mode, metric, summary_a, summary_b)
                )
    if any(d.mark == "?" for d in comparison.differences):
        comparison.notes.append(
            "? marks a difference between two single runs: the noise between "
            "repetitions is unknown there (baselines always run once; use run "
            "--repeat 3 or more for the runs with faults)"
        )
    return comparison


def comparison_rows(comparison: StudyComparison) -> list[list[str]]:
    """Return one row per difference, in ``COMPARE_COLUMNS`` order."""
    rows = []
    for difference in comparison.differences:
        metric = METRICS_BY_KEY[difference.metric]
        rows.append(
            [
                difference.strategy,
                difference.mode,
                metric.title,
                difference.a.format(metric.decimals),
                difference.b.format(metric.decimals),
                difference.change(),
                difference.mark,
            ]
        )
    return rows


def comparison_rich_table(comparison: StudyComparison) -> Table:
    """Build the terminal table of a comparison, marks in the last column."""
    table = Table()
    for column in COMPARE_COLUMNS:
        numeric = column in ("A", "B", "change")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    for row, difference in zip(
        comparison_rows(comparison), comparison.differences, strict=True
    ):
        table.add_row(*row, style="bold" if difference.marked else None)
    return table


def comparison_markdown(comparison: StudyComparison, title: str) -> str:
    """Render a comparison as Markdown: a title, the table and the notes."""
    lines = [
        "# Comparison",
        "",
        *(f"{line}  " for line in title.splitlines()),
        "",
        "`*` marks a difference larger than the noise between repetitions: each "
        "side's median lies outside the other side's min-max range, or a single "
        "run's value outside the other side's range. `?` marks a difference "
        "between two single runs, whose noise is unknown.",
        "",
        "| " + " | ".join(COMPARE_COLUMNS) + " |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in comparison_rows(comparison)]
    if comparison.notes:
        lines += ["", *(f"- {note}" for note in comparison.notes)]
    return "\n".join(lines) + "\n"
