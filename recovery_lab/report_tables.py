"""Rows of the report's tables: per run, per strategy and mode, per process, per kill.

Column titles are shared by the terminal table, report.md and report.html.
README.md defines each metric.
"""

from __future__ import annotations

import statistics

from recovery_lab.results import RunResult, StudyResults
from recovery_lab.stats import METRICS_BY_KEY, GroupSummary, slowdown
from recovery_lab.timeline import Timeline

# Metrics of the summary table, by key of ``stats.METRICS``, after the columns
# strategy, mode, correct and vs no-fault.
SUMMARY_METRICS = (
    "total_time",
    "kills",
    "recomputed",
    "lost_in_flight",
    "wasted_cpu",
    "mean_recovery_time",
    "idle_time",
    "cores_used",
    "distinct_pids",
)
SUMMARY_COLUMNS = (
    "strategy",
    "mode",
    "correct",
    "time s",
    "vs no-fault",
    *(METRICS_BY_KEY[key].title for key in SUMMARY_METRICS[1:]),
    "leaked",
)

# Columns of the table with one row per run.
COLUMNS = (
    "strategy",
    "run",
    "status",
    "time s",
    "vs no-fault",
    "incarnations",
    "kills",
    "finished",
    "recomputed",
    "lost",
    "wasted CPU s",
    "recovery s",
    "idle s",
    "cores used",
    "PIDs",
    "correct",
    "leaked",
)


def _baseline_time(study: StudyResults, strategy: str) -> float | None:
    baselines = [
        r.metrics.total_time
        for r in study.find(strategy, "baseline")
        if r.status == "completed"
    ]
    return statistics.median(baselines) if baselines else None


def run_row(study: StudyResults, run: RunResult) -> list[str]:
    """Return the cells of one run's row, in ``COLUMNS`` order."""
    metrics = run.metrics
    baseline = _baseline_time(study, run.strategy)
    ratio = "-"
    if run.mode == "faults" and baseline and run.status == "completed":
        ratio = f"{metrics.total_time / baseline:.2f}x"
    recovery = ", ".join(
        "-" if t is None else f"{t:.2f}" for t in metrics.recovery_times
    )
    leaked = sum(len(entry["processes"]) for entry in run.leaked)
    return [
        run.strategy,
        f"{run.mode}-{run.repetition}",
        run.status,
        f"{metrics.total_time:.2f}",
        ratio,
        str(metrics.incarnations),
        str(metrics.kills),
        f"{metrics.finished_executions}/{metrics.tasks}",
        str(metrics.recomputed),
        str(metrics.lost_in_flight),
        f"{metrics.wasted_cpu:.2f}",
        recovery or "-",
        f"{metrics.idle_time:.2f}",
        f"{metrics.cores_used:.2f}",
        str(metrics.distinct_pids),
        "yes" if metrics.correct else "NO",
        str(leaked),
    ]


def summary_row(groups: list[GroupSummary], group: GroupSummary) -> list[str]:
    """Return the cells of one strategy and mode, in ``SUMMARY_COLUMNS`` order.

    A metric measured in several runs shows as ``median (min-max)``.
    """
    ratio = slowdown(groups, group)
    ratio_cell = ratio.format(2, "x") if ratio.count else "-"
    cells = [
        group.strategy,
        group.mode,
        f"{group.correct}/{len(group.runs)}",
        group.metrics["total_time"].format(2),
        ratio_cell,
    ]
    for key in SUMMARY_METRICS[1:]:
        cells.append(group.metrics[key].format(METRICS_BY_KEY[key].decimals))
    cells.append(str(group.leaked))
    return cells


def describe_faults(scenario: dict[str, object]) -> list[str]:
    """Describe each fault of a saved scenario in one sentence."""
    faults = scenario.get("faults") or []
    if not isinstance(faults, list):
        return []
    lines = []
    for fault in faults:
        if not isinstance(fault, dict):
            continue
        if fault.get("after_tasks") is not None:
            point = f"after {fault['after_tasks']} tasks finished in it"
        else:
            point = f"{fault.get('after_seconds')} s after it started"
        lines.append(
            f"{fault.get('signal', 'SIGKILL')} to the {fault.get('target', 'group')}"
            f" of incarnation {fault.get('incarnation')}, {point}."
        )
    return lines


PROCESS_COLUMNS = ("PID", "PPID", "role", "incarnation", "attempts", "finished")


def process_rows(run: RunResult, timeline: Timeline) -> list[list[str]]:
    """Return one row per process that ran attempts, in ``PROCESS_COLUMNS`` order.

    The role shows whether the tasks ran in the launched strategy process itself
    (single-process execution) or in processes it started.
    """
    roles = {lane.pid: lane.role for lane in timeline.lanes}
    return [
        [
            str(row.pid),
            str(row.ppid),
            roles.get(row.pid, "-"),
            str(row.incarnation),
            str(row.attempts),
            str(row.finished),
        ]
        for row in run.metrics.processes
    ]


EXECUTION_COLUMNS = (
    "strategy",
    "run",
    "incarnation",
    "strategy PID",
    "processes with tasks",
    "parents (PPID)",
    "execution",
)


def execution_rows(run: RunResult, timeline: Timeline) -> list[list[str]]:
    """Return one row per incarnation: which processes ran its tasks.

    Returns:
        Rows in ``EXECUTION_COLUMNS`` order. ``execution`` is ``single process``
        when only the launched strategy process ran tasks, otherwise
        ``multi-process``.

    """
    rows = []
    for incarnation in timeline.incarnations:
        lanes = [
            lane for lane in timeline.lanes if lane.incarnation == incarnation.number
        ]
        if not lanes:
            execution = "no task ran"
        elif all(lane.pid == incarnation.pid for lane in lanes):
            execution = "single process"
        else:
            execution = "multi-process"
        parents = sorted({lane.ppid for lane in lanes})
        rows.append(
            [
                run.strategy,
                f"{run.mode}-{run.repetition}",
                str(incarnation.number),
                str(incarnation.pid),
                str(len(lanes)),
                ", ".join(str(pid) for pid in parents) or "-",
                execution,
            ]
        )
    return rows


KILL_COLUMNS = (
    "strategy",
    "run",
    "kill",
    "incarnation",
    "at s",
    "finished before",
    "results lost",
    "lost in flight",
)


def kill_rows(run: RunResult, timeline: Timeline) -> list[list[str]]:
    """Return one row per kill of a run, in ``KILL_COLUMNS`` order.

    ``results lost`` counts the tasks that had finished in the killed incarnation
    and were computed again later; ``lost in flight`` the attempts cut short.
    """
    return [
        [
            run.strategy,
            f"{run.mode}-{run.repetition}",
            str(kill.number),
            str(kill.incarnation),
            f"{kill.time:.2f}",
            str(kill.finished_before),
            str(kill.redone),
            str(kill.lost_in_flight),
        ]
        for kill in timeline.kills
    ]
