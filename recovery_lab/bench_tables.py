"""Summaries and Markdown tables of benchmark measurements."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from recovery_lab.bench_runs import Measurement


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Format rows as a Markdown table, numbers right-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [
        max(len(str(header[i])), *(len(row[i]) for row in cells))
        for i in range(len(header))
    ]
    lines = [
        "| "
        + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))
        + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in cells:
        lines.append(
            "| "
            + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
            + " |"
        )
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def median_time(runs: Sequence[Measurement]) -> float | None:
    """Return the median total time of the completed runs, or None."""
    times = [run.metrics.total_time for run in runs if run.status == "completed"]
    return statistics.median(times) if times else None


def median_ratio(runs: Sequence[Measurement], bases: Sequence[Measurement]) -> float:
    """Return the median of time ratios of runs paired by repetition.

    Pairing each run with the base run of the same repetition, which ran right
    before or after it, cancels most of the drift in machine load.
    """
    ratios = [
        run.metrics.total_time / base.metrics.total_time
        for run, base in zip(runs, bases, strict=True)
        if run.status == "completed" and base.status == "completed"
    ]
    return statistics.median(ratios) if ratios else float("nan")


def median_recovery(runs: Sequence[Measurement]) -> float | None:
    """Return the median of the runs' first recovery times, or None."""
    times = [
        run.metrics.recovery_times[0]
        for run in runs
        if run.metrics.recovery_times and run.metrics.recovery_times[0] is not None
    ]
    return statistics.median(times) if times else None


def all_correct(runs: Sequence[Measurement]) -> bool:
    """Return whether every run completed with correct results."""
    return all(run.status == "completed" and run.metrics.correct for run in runs)


def mebibytes(size: int) -> float:
    """Convert bytes to MiB."""
    return size / 2**20
