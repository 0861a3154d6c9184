"""Summaries of repeated runs: median, minimum and maximum of each metric.

A study groups its runs by strategy and mode (``baseline`` or ``faults``). Each
group's metrics are summarised over the runs that completed, because the time and
work of a run that gave up or crashed measure something else. A group in which no
run completed is summarised over all of its runs, so that its numbers still show.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from recovery_lab.results import RunResult, StudyResults


@dataclass(frozen=True)
class Metric:
    """A metric that a summary reports.

    Attributes:
        key: Name of the metric, as in ``RunMetrics`` where it exists there.
        title: Column title, with its unit.
        value: Reads the metric from a run; None when the run did not measure it.
        decimals: Decimal places to show; 0 for counts.

    """

    key: str
    title: str
    value: Callable[[RunResult], float | None]
    decimals: int


METRICS: tuple[Metric, ...] = (
    Metric("total_time", "time s", lambda r: r.metrics.total_time, 2),
    Metric("incarnations", "incarnations", lambda r: r.metrics.incarnations, 0),
    Metric("kills", "kills", lambda r: r.metrics.kills, 0),
    Metric("recomputed", "recomputed", lambda r: r.metrics.recomputed, 0),
    Metric("lost_in_flight", "lost", lambda r: r.metrics.lost_in_flight, 0),
    Metric("wasted_cpu", "wasted CPU s", lambda r: r.metrics.wasted_cpu, 2),
    Metric(
        "mean_recovery_time",
        "recovery s",
        lambda r: r.metrics.mean_recovery_time,
        2,
    ),
    Metric("idle_time", "idle s", lambda r: r.metrics.idle_time, 2),
    Metric("cores_used", "cores used", lambda r: r.metrics.cores_used, 2),
    Metric("distinct_pids", "PIDs", lambda r: r.metrics.distinct_pids, 0),
)

METRICS_BY_KEY = {metric.key: metric for metric in METRICS}


@dataclass(frozen=True)
class Summary:
    """Median, minimum and maximum of one metric over a group of runs.

    Attributes:
        values: The measured values, in run order; runs that did not measure the
            metric are left out.

    """

    values: tuple[float, ...]

    @property
    def count(self) -> int:
        """Number of values summarised."""
        return len(self.values)

    @property
    def median(self) -> float | None:
        """Median of the values, or None when there are none."""
        return statistics.median(self.values) if self.values else None

    @property
    def minimum(self) -> float | None:
        """Smallest value, or None when there are none."""
        return min(self.values) if self.values else None

    @property
    def maximum(self) -> float | None:
        """Largest value, or None when there are none."""
        return max(self.values) if self.values else None

    def format(self, decimals: int, unit: str = "") -> str:
        """Format as ``median (min-max)``, or one value when all values are equal.

        Args:
            decimals: Decimal places of each number.
            unit: Text appended to the median, such as ``x``.

        Returns:
            ``-`` when there are no values. Values that are equal once rounded
            show as one value.

        """
        if not self.values:
            return "-"
        low, high, middle = self.minimum, self.maximum, self.median
        assert low is not None
        assert high is not None
        assert middle is not None
        # The median of an even number of counts can end in .5: keep that digit.
        places = 1 if decimals == 0 and middle != int(middle) else decimals
        text = f"{middle:.{places}f}{unit}"
        low_text, high_text = f"{low:.{decimals}f}", f"{high:.{decimals}f}"
        if low_text == high_text:
            return text
        return f"{text} ({low_text}-{high_text})"


@dataclass(frozen=True)
class GroupSummary:
    """The runs of one strategy in one mode, and the summary of each metric.

    Attributes:
        strategy: Strategy name.
        mode: ``baseline`` or ``faults``.
        runs: Every run of the group, in run order.
        summarised: The runs whose metrics are summarised (see the module
            docstring).
        metrics: Summary per metric key of ``METRICS``.

    """

    strategy: str
    mode: str
    runs: tuple[RunResult, ...]
    summarised: tuple[RunResult, ...]
    metrics: dict[str, Summary]

    @property
    def completed(self) -> int:
        """Number of runs that completed."""
        return sum(1 for run in self.runs if run.status == "completed")

    @property
    def correct(self) -> int:
        """Number of runs that completed with a correct result."""
        return sum(
            1 for run in self.runs if run.status == "completed" and run.metrics.correct
        )

    @property
    def leaked(self) -> int:
        """Processes that outlived an incarnation, over every run of the group."""
        return sum(len(entry["processes"]) for run in self.runs for entry in run.leaked)


def summarize_runs(runs: list[RunResult]) -> dict[str, Summary]:
    """Summarise each metric of ``METRICS`` over the given runs."""
    summaries = {}
    for metric in METRICS:
        values = [metric.value(run) for run in runs]
        summaries[metric.key] = Summary(
            tuple(float(v) for v in values if v is not None)
        )
    return summaries


def group_runs(study: StudyResults) -> list[GroupSummary]:
    """Group a study's runs by strategy and mode and summarise each group.

    Returns:
        One group per strategy and mode, in the order the runs were made.

    """
    order: list[tuple[str, str]] = []
    for run in study.runs:
        key = (run.strategy, run.mode)
        if key not in order:
            order.append(key)
    groups = []
    for strategy, mode in order:
        runs = study.find(strategy, mode)
        completed = [run for run in runs if run.status == "completed"]
        summarised = completed or runs
        groups.append(
            GroupSummary(
                strategy=strategy,
                mode=mode,
                runs=tuple(runs),
                summarised=tuple(summarised),
                metrics=summarize_runs(summarised),
            )
        )
    return groups


def slowdown(groups: list[GroupSummary], group: GroupSummary) -> Summary:
    """Divide a faulted group's times by the median time of its no-fault group.

    Returns:
        An empty summary for a baseline group or when no baseline completed.

    """
    if group.mode != "faults":
        return Summary(())
    baseline = next(
        (g for g in groups if g.strategy == group.strategy and g.mode == "baseline"),
        None,
    )
    if baseline is None or not baseline.completed:
        return Summary(())
    reference = baseline.metrics["total_time"].median
    if not reference:
        return Summary(())
    times = group.metrics["total_time"].values
    return Summary(tuple(value / reference for value in times))
