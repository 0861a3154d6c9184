"""Render saved study results as a Markdown report and as a terminal table."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from recovery_lab import analysis
from recovery_lab.results import RunResult, StudyResults

REPORT_FILE = "report.md"

# Column titles, shared by the terminal table and the Markdown report. README.md
# defines each metric.
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
    return min(baselines) if baselines else None


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
        str(metrics.distinct_pids),
        "yes" if metrics.correct else "NO",
        str(leaked),
    ]


def comparison_table(study: StudyResults) -> Table:
    """Build the comparison table printed at the end of ``run``."""
    table = Table(title=f"Scenario {study.scenario.get('name', '?')}")
    for column in COLUMNS:
        numeric = column not in ("strategy", "run", "status", "correct")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    for run in study.runs:
        table.add_row(*run_row(study, run))
    return table


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _describe_faults(scenario: dict[str, object]) -> list[str]:
    faults = scenario.get("faults") or []
    if not isinstance(faults, list) or not faults:
        return ["No faults."]
    lines = []
    for fault in faults:
        if not isinstance(fault, dict):
            continue
        if fault.get("after_tasks") is not None:
            point = f"after {fault['after_tasks']} tasks finished in it"
        else:
            point = f"{fault.get('after_seconds')} s after it started"
        lines.append(
            f"- {fault.get('signal', 'SIGKILL')} to the {fault.get('target', 'group')}"
            f" of incarnation {fault.get('incarnation')}, {point}."
        )
    return lines


def render_markdown(study: StudyResults) -> str:
    """Render the whole report as Markdown."""
    scenario = study.scenario
    workload = scenario.get("workload", {})
    machine = study.machine
    lines = [
        f"# Crash-recovery study: {scenario.get('name', '?')}",
        "",
        str(scenario.get("description", "")).strip(),
        "",
        f"Workload: {workload.get('tasks')} tasks of naive recursive "
        f"fib({workload.get('n')}). System database: {study.system_database}. "
        f"Machine: {machine.get('cpus')} CPUs, {machine.get('platform')}, "
        f"Python {machine.get('python')}, DBOS {machine.get('dbos')}. "
        f"Started {study.created}.",
        "",
        "## Faults",
        "",
        # Results since schema version 2 list every fault, the schedule expanded.
        *([f"- {f['fault']}." for f in study.faults] or _describe_faults(scenario)),
        "",
        "## Comparison",
        "",
        *_markdown_table(list(COLUMNS), [run_row(study, r) for r in study.runs]),
        "",
        "`finished` counts every attempt that ran to its end, so it exceeds the "
        "number of tasks by the recomputed ones. `vs no-fault` divides the run's "
        "total time by the same strategy's run without faults.",
        "",
        "## Processes",
        "",
        "Which processes ran the attempts of each run: one process for a strategy "
        "bound to one interpreter, many for a process pool.",
        "",
    ]
    for run in study.runs:
        rows = [
            [
                str(p.pid),
                str(p.ppid),
                str(p.incarnation),
                str(p.attempts),
                str(p.finished),
            ]
            for p in run.metrics.processes
        ]
        lines += [
            f"### {run.strategy} {run.mode}-{run.repetition}",
            "",
            *_markdown_table(
                ["PID", "PPID", "incarnation", "attempts", "finished"], rows
            ),
            "",
        ]
    lines += analysis.verdict_markdown(study)
    problems = _problem_lines(study)
    if problems:
        lines += ["## Problems", "", *problems, ""]
    return "\n".join(lines)


def _problem_lines(study: StudyResults) -> list[str]:
    lines: list[str] = []
    for run in study.runs:
        name = f"{run.strategy} {run.mode}-{run.repetition}"
        outcome = run.outcome
        if run.status != "completed":
            lines.append(f"- {name}: {run.status}: {outcome.get('error', '')}")
            tail = str(outcome.get("stderr_tail", "")).strip()
            if tail:
                lines += ["", "  ```", *("  " + t for t in tail.splitlines()), "  ```"]
        if run.status == "completed" and not run.metrics.correct:
            lines.append(
                f"- {name}: wrong result: missing tasks "
                f"{run.metrics.missing_tasks}, wrong values {run.metrics.wrong_tasks}"
            )
        for fault in outcome.get("faults_not_fired", []):
            lines.append(f"- {name}: fault never fired: {fault}")
        for entry in run.leaked:
            for process in entry["processes"]:
                lines.append(
                    f"- {name}: process {process['pid']} outlived incarnation "
                    f"{entry['incarnation']} and was killed: {process['command']}"
                )
        if run.metrics.torn_lines:
            lines.append(
                f"- {name}: {run.metrics.torn_lines} torn lines in the history"
            )
    return lines


def write_report(results_dir: Path, study: StudyResults) -> Path:
    """Write ``report.md`` into the results directory and return its path."""
    path = results_dir / REPORT_FILE
    path.write_text(render_markdown(study))
    return path
