"""The content of a study's report as a list of blocks, for Markdown and HTML.

Both report.md and report.html are rendered from the same blocks, so they always
show the same tables, plots and problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recovery_lab import analysis
from recovery_lab.report_plots import Plot, StudyPlots, run_name
from recovery_lab.report_tables import (
    COLUMNS,
    EXECUTION_COLUMNS,
    KILL_COLUMNS,
    PROCESS_COLUMNS,
    SUMMARY_COLUMNS,
    describe_faults,
    execution_rows,
    kill_rows,
    process_rows,
    run_row,
    summary_row,
)
from recovery_lab.results import StudyResults
from recovery_lab.stats import group_runs


@dataclass(frozen=True)
class Heading:
    """A section title; level 1 is the document title."""

    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text."""

    text: str


@dataclass(frozen=True)
class BulletList:
    """A list of plain-text items."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table of plain-text cells.

    Attributes:
        header: Column titles.
        rows: Cells, one list per row, in header order.
        numeric: Column indexes to align right.

    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Image:
    """A plot with its caption."""

    plot: Plot
    caption: str


@dataclass(frozen=True)
class Code:
    """Preformatted text, such as the standard error of a crashed run."""

    text: str


@dataclass(frozen=True)
class Links:
    """A list of links to other files, as (text, relative path) pairs."""

    items: tuple[tuple[str, str], ...]


Block = Heading | Paragraph | BulletList | Table | Image | Code | Links


def verdict_items(verdicts: Any) -> list[tuple[str, str, str]]:
    """Turn a run's ``verdicts`` value into (check, result, evidence) rows.

    The value is read loosely because it is written by the checker: a list of
    objects, or an object mapping check names to objects or plain values. The
    name is taken from ``name``, ``check`` or ``id``, the result from ``passed``,
    ``ok``, ``verdict``, ``status`` or ``result``, and the evidence from
    ``evidence``, ``message``, ``details`` or ``detail``.

    Returns:
        One row per verdict; an empty list for a value of another shape.

    """
    entries: list[tuple[str, Any]] = []
    if isinstance(verdicts, dict):
        entries = [(str(key), value) for key, value in verdicts.items()]
    elif isinstance(verdicts, list):
        entries = [("", value) for value in verdicts]
    rows = []
    for name, value in entries:
        if not isinstance(value, dict):
            rows.append((name, _result_text(value), ""))
            continue
        name = str(_first(value, ("name", "check", "id")) or name or "?")
        result = _first(value, ("passed", "ok", "verdict", "status", "result"))
        evidence = _first(value, ("evidence", "message", "details", "detail"))
        rows.append((name, _result_text(result), _evidence_text(evidence)))
    return rows


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in data:
            return data[key]
    return None


def _result_text(value: Any) -> str:
    if value is True:
        return "pass"
    if value is False:
        return "FAIL"
    return "-" if value is None else str(value)


def _evidence_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {item}" for key, item in value.items())
    return str(value)


def _late_fault_items(name: str, fault: dict[str, Any], tasks: int) -> list[str]:
    """Describe a fault that fired later than its after_tasks trigger."""
    trigger = fault.get("after_tasks")
    finished = fault.get("finished_at_signal")
    if trigger is None or finished is None or finished <= trigger:
        return []
    text = (
        f"{name}: fault fired late, after {finished} tasks had finished in "
        f"incarnation {fault.get('incarnation')} instead of {trigger}"
    )
    if finished >= tasks:
        text += ", when every task was already done"
    return [
        text + ". The supervisor polls the history, so short tasks outrun it; "
        "a failpoint fires at an exact point."
    ]


def problem_items(study: StudyResults) -> list[str]:
    """List the problems of a study, one line each, as the report shows them."""
    return _problems(study)[0]


def _problem_blocks(study: StudyResults) -> list[Block]:
    items, tails = _problems(study)
    if not items:
        return []
    return [Heading(2, "Problems"), BulletList(tuple(items)), *tails]


def _problems(study: StudyResults) -> tuple[list[str], list[Block]]:
    """Return the problem lines and the standard error tails of crashed runs."""
    items: list[str] = []
    tails: list[Block] = []
    for run in study.runs:
        name = run_name(run)
        outcome = run.outcome
        if run.status != "completed":
            items.append(f"{name}: {run.status}: {outcome.get('error', '')}")
            tail = str(outcome.get("stderr_tail", "")).strip()
            if tail:
                tails += [Paragraph(f"Standard error of {name}:"), Code(tail)]
        if run.status == "completed" and not run.metrics.correct:
            items.append(
                f"{name}: wrong result: missing tasks "
                f"{run.metrics.missing_tasks}, wrong values {run.metrics.wrong_tasks}"
            )
        for fault in outcome.get("faults_not_fired", []):
            items.append(f"{name}: fault never fired: {fault}")
        for fault in outcome.get("faults", []):
            items += _late_fault_items(name, fault, run.metrics.tasks)
        for entry in run.leaked:
            for process in entry["processes"]:
                items.append(
                    f"{name}: process {process['pid']} outlived incarnation "
                    f"{entry['incarnation']} and was killed: {process['command']}"
                )
        if run.metrics.torn_lines:
            items.append(f"{name}: {run.metrics.torn_lines} torn lines in the history")
    if study.state != "complete":
        items.append(
            f"the study is {study.state} (a study whose supervisor was killed "
            f"stays running) and recorded {len(study.runs)} of its runs; "
            "`python -m recovery_lab analyze` checks the histories of the rest"
        )
    return items, tails


def _table(
    header: tuple[str, ...], rows: list[list[str]], text_columns: tuple[str, ...]
) -> Table:
    numeric = frozenset(
        i for i, title in enumerate(header) if title not in text_columns
    )
    return Table(header, tuple(tuple(row) for row in rows), numeric)


def _verdict_blocks(study: StudyResults) -> list[Block]:
    rows = []
    for run in study.runs:
        verdicts = getattr(run, "verdicts", None)
        for check, result, evidence in verdict_items(verdicts):
            rows.append([run_name(run), check, result, evidence])
    if not rows:
        return []
    header = ("run", "check", "result", "evidence")
    blocks: list[Block] = [Heading(2, "Verdicts"), _table(header, rows, header)]
    expect = dict(study.scenario.get("expect") or {})
    if expect:
        wanted = ", ".join(f"{key} {value}" for key, value in expect.items())
        blocks.append(Paragraph(f"Expected for the runs with faults: {wanted}."))
        unmet = analysis.expectation_failures(
            [(run_name(r), r.mode, r.verdicts) for r in study.runs], expect
        )
        if unmet:
            blocks += [Paragraph("Unmet:"), BulletList(tuple(unmet))]
        else:
            blocks.append(Paragraph("Every expected verdict holds."))
    return blocks


def build_document(study: StudyResults, plots: StudyPlots) -> list[Block]:
    """Lay out the whole report of a study.

    Args:
        study: The study's results.
        plots: Its plots, from :func:`recovery_lab.report_plots.build_plots`.

    Returns:
        The report's blocks, in order.

    """
    scenario = study.scenario
    workload = scenario.get("workload", {})
    machine = study.machine
    groups = group_runs(study)
    repeated = any(len(group.summarised) > 1 for group in groups)
    blocks: list[Block] = [
        Heading(1, f"Crash-recovery study: {scenario.get('name', '?')}"),
        Paragraph(str(scenario.get("description", "")).strip()),
        Paragraph(
            f"Workload: {workload.get('tasks')} tasks of naive recursive "
            f"fib({workload.get('n')}). System database: {study.system_database}. "
            f"Machine: {machine.get('cpus')} CPUs, {machine.get('platform')}, "
            f"Python {machine.get('python')}, DBOS {machine.get('dbos')}. "
            f"Started {study.created}."
        ),
        Heading(2, "Faults"),
    ]
    # Results since schema version 2 list every fault, with schedules expanded.
    faults = [f"{fault['fault']}." for fault in study.faults]
    faults = faults or describe_faults(scenario)
    blocks.append(BulletList(tuple(faults)) if faults else Paragraph("No faults."))

    blocks += [
        Heading(2, "Summary"),
        Paragraph(
            "One row per strategy and mode. "
            + (
                "A metric that varied between repetitions shows as median "
                "(minimum-maximum) over the runs that completed. "
                if repeated
                else ""
            )
            + "`vs no-fault` divides the total time by the median time of the "
            "same strategy without faults."
        ),
        _table(
            SUMMARY_COLUMNS,
            [summary_row(groups, group) for group in groups],
            ("strategy", "mode"),
        ),
    ]
    if plots.strategies is not None:
        blocks.append(
            Image(
                plots.strategies,
                "Grey: the run without faults. Blue: the runs with faults, median "
                "with a whisker from minimum to maximum.",
            )
        )
    if plots.kills is not None:
        blocks.append(
            Image(
                plots.kills,
                "Work each kill cost: tasks that had finished in the killed "
                "incarnation and were computed again, and attempts cut short.",
            )
        )

    timelines = plots.run_timelines
    kill_table = [
        row for run in study.runs for row in kill_rows(run, timelines[run_name(run)])
    ]
    if kill_table:
        blocks += [
            Heading(2, "Work lost at each kill"),
            _table(KILL_COLUMNS, kill_table, ("strategy", "run")),
        ]

    blocks += [
        Heading(2, "Runs"),
        _table(
            COLUMNS,
            [run_row(study, run) for run in study.runs],
            ("strategy", "run", "status", "correct"),
        ),
        Paragraph(
            "`finished` counts every attempt that ran to its end, so it exceeds the "
            "number of tasks by the recomputed ones."
        ),
        Heading(2, "Timelines"),
        Paragraph(
            "One lane per process that ran tasks, labelled with its PID and its "
            "parent's PID; one bar per attempt, from its start to its finish or to "
            "the kill that cut it short. Shaded bands are incarnations and red "
            "lines are kills."
        ),
    ]
    for run in study.runs:
        plot = plots.timelines.get(run_name(run))
        if plot is not None:
            blocks += [Heading(3, run_name(run)), Image(plot, "")]

    blocks += [
        Heading(2, "Processes"),
        Paragraph(
            "Which processes ran the tasks of each incarnation: the launched "
            "strategy process alone (single process), or processes it started "
            "(multi-process)."
        ),
        _table(
            EXECUTION_COLUMNS,
            [
                row
                for run in study.runs
                for row in execution_rows(run, timelines[run_name(run)])
            ],
            ("strategy", "run", "parents (PPID)", "execution"),
        ),
    ]
    for run in study.runs:
        blocks += [
            Heading(3, f"Processes of {run_name(run)}"),
            _table(
                PROCESS_COLUMNS,
                process_rows(run, timelines[run_name(run)]),
                ("role",),
            ),
        ]
    return blocks + _verdict_blocks(study) + _problem_blocks(study)
