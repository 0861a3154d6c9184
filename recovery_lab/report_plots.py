"""Build the plots of a study's report from its results and run histories.

The plots are saved as SVG files in ``RESULTS_DIR/plots/``, which report.md links
to and report.html inlines::

    plots/strategies.svg        time, recomputed tasks and wasted CPU per strategy
    plots/kills.svg             work lost at each kill, per strategy
    plots/timeline-RUN.svg      one timeline per run, RUN as in runs/STRATEGY/RUN
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from recovery_lab.plots import (
    figure_svg,
    kill_losses_figure,
    slug,
    strategy_bars_figure,
    timeline_figure,
)
from recovery_lab.results import RunResult, StudyResults
from recovery_lab.stats import GroupSummary, group_runs
from recovery_lab.supervisor import HISTORY_FILE
from recovery_lab.timeline import Timeline, load_timeline

logger = logging.getLogger(__name__)

PLOTS_DIR = "plots"


def run_name(run: RunResult) -> str:
    """Return a run's name as shown in reports: ``STRATEGY MODE-REP``."""
    return f"{run.strategy} {run.mode}-{run.repetition}"


@dataclass
class Plot:
    """One plot of the report.

    Attributes:
        path: SVG file, relative to the results directory.
        svg: The SVG text.

    """

    path: str
    svg: str


@dataclass
class StudyPlots:
    """Every plot of a study and the timelines they were drawn from.

    Attributes:
        strategies: Time, recomputed tasks and wasted CPU per strategy, or None
            when the study has no run.
        kills: Work lost at each kill per strategy, or None without kills.
        timelines: Each run's timeline plot, by run name.
        run_timelines: Each run's timeline data, by run name.

    """

    strategies: Plot | None = None
    kills: Plot | None = None
    timelines: dict[str, Plot] = field(default_factory=dict)
    run_timelines: dict[str, Timeline] = field(default_factory=dict)


def _range(values: tuple[float, ...]) -> tuple[float, float, float] | None:
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def _strategy_panels(
    groups: list[GroupSummary],
) -> tuple[
    list[str],
    list[tuple[str, list[float | None], list[tuple[float, float, float] | None]]],
]:
    strategies = list(dict.fromkeys(group.strategy for group in groups))
    panels = []
    for key, label in (
        ("total_time", "total time (s)"),
        ("recomputed", "recomputed tasks"),
        ("wasted_cpu", "wasted CPU (CPU-s)"),
    ):
        baseline: list[float | None] = []
        faults: list[tuple[float, float, float] | None] = []
        for strategy in strategies:
            by_mode = {g.mode: g for g in groups if g.strategy == strategy}
            base = by_mode.get("baseline")
            baseline.append(base.metrics[key].median if base else None)
            faulted = by_mode.get("faults")
            faults.append(_range(faulted.metrics[key].values) if faulted else None)
        panels.append((label, baseline, faults))
    return strategies, panels


def _kill_losses(
    study: StudyResults, timelines: dict[str, Timeline]
) -> tuple[list[str], list[list[tuple[float, float]]]]:
    strategies: list[str] = []
    losses: list[list[tuple[float, float]]] = []
    for strategy in dict.fromkeys(run.strategy for run in study.runs):
        runs = [timelines[run_name(r)] for r in study.find(strategy, "faults")]
        count = max((len(t.kills) for t in runs), default=0)
        if not count:
            continue
        per_kill = []
        for index in range(count):
            kills = [t.kills[index] for t in runs if len(t.kills) > index]
            per_kill.append(
                (
                    statistics.median(k.redone for k in kills),
                    statistics.median(k.lost_in_flight for k in kills),
                )
            )
        strategies.append(strategy)
        losses.append(per_kill)
    return strategies, losses


def timeline_title(run: RunResult) -> str:
    """Summarise a run in one line, as the title of its timeline."""
    metrics = run.metrics
    return (
        f"{run_name(run)}: {run.status} in {metrics.total_time:.2f} s; "
        f"kills {metrics.kills}, recomputed {metrics.recomputed}, "
        f"lost in flight {metrics.lost_in_flight}, PIDs {metrics.distinct_pids}"
    )


def build_plots(results_dir: Path, study: StudyResults) -> StudyPlots:
    """Draw every plot of a study and save each as an SVG file.

    Args:
        results_dir: The results directory; the run histories are read from it
            and the plots are written to its ``plots`` directory.
        study: The study's results.

    Returns:
        The plots, with their SVG text.

    """
    directory = results_dir / PLOTS_DIR
    directory.mkdir(exist_ok=True)
    plots = StudyPlots()

    def save(name: str, svg: str) -> Plot:
        path = directory / f"{name}.svg"
        path.write_text(svg)
        return Plot(path=f"{PLOTS_DIR}/{path.name}", svg=svg)

    for run in study.runs:
        name = run_name(run)
        history = results_dir / run.run_dir / HISTORY_FILE
        if not history.exists():
            logger.warning("%s: no history file, so no timeline", history)
        timeline = load_timeline(history)
        plots.run_timelines[name] = timeline
        figure = timeline_figure(timeline, timeline_title(run), name)
        plots.timelines[name] = save(
            f"timeline-{slug(name)}", figure_svg(figure, slug(name))
        )

    groups = group_runs(study)
    if groups:
        strategies, panels = _strategy_panels(groups)
        figure = strategy_bars_figure(strategies, panels)
        plots.strategies = save("strategies", figure_svg(figure, "strategies"))
    strategies, losses = _kill_losses(study, plots.run_timelines)
    if strategies:
        figure = kill_losses_figure(strategies, losses)
        plots.kills = save("kills", figure_svg(figure, "kills"))
    return plots
