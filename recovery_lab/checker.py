"""Verdicts on a run, each with the evidence it rests on.

The checker reads only the run directory: ``history.jsonl``, ``strategy.json``,
``faults.json`` (the faults planned for the run), ``result.json``, the effects
store and the snapshot of DBOS workflow statuses. It therefore gives the same
verdicts right after a run and later from ``python -m recovery_lab analyze``, even
for a run whose supervisor died half-way.

Each verdict is ``pass``, ``fail``, ``inconclusive`` or ``not_applicable``. When a
planned fault did not land (its trigger was never reached, the signalled process
did not die or stop, the failpoint was never hit), the run did not test what it
was meant to, so every verdict that would pass is ``inconclusive`` instead.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from recovery_lab.effects import EFFECTS_FILE, count_effects
from recovery_lab.ledger import read_ledger
from recovery_lab.strategies.common import StrategyConfig, read_results
from recovery_lab.workflows import WorkflowCountError, read_workflow_counts
from recovery_lab.workload import expected_results

VERDICT_NAMES: Final = (
    "faults_landed",
    "result_correct",
    "all_tasks_finished",
    "effects_exactly_once",
    "no_leaked_process",
    "ledger_consistent",
    "no_pending_workflows",
)
VERDICT_VALUES: Final = ("pass", "fail", "inconclusive", "not_applicable")

FAULTS_FILE: Final = "faults.json"

# Records that processes of an incarnation write, as opposed to the supervisor.
_PROCESS_EVENTS: Final = frozenset({"start", "finish", "failpoint"})

# Task ids listed in one piece of evidence before the rest are only counted.
_SHOWN: Final = 10


@dataclass(frozen=True)
class Verdict:
    """One verdict on a run.

    Attributes:
        name: Verdict name, one of :data:`VERDICT_NAMES`.
        verdict: One of :data:`VERDICT_VALUES`.
        evidence: What the verdict rests on, in one or two sentences.

    """

    name: str
    verdict: str
    evidence: str

    def to_dict(self) -> dict[str, str]:
        """Return the verdict as JSON-serialisable data."""
        return {"name": self.name, "verdict": self.verdict, "evidence": self.evidence}


def _ids(tasks: Iterable[int]) -> str:
    ordered = sorted(tasks)
    shown = ", ".join(str(task) for task in ordered[:_SHOWN])
    more = len(ordered) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _faults_landed(
    records: list[dict[str, Any]], planned: list[dict[str, Any]], ended: bool
) -> Verdict:
    name = "faults_landed"
    if not planned:
        return Verdict(name, "not_applicable", "the run had no faults")
    results = {r["incarnation"]: r for r in records if r["event"] == "fault"}
    problems = []
    for fault in planned:
        result = results.get(fault["incarnation"])
        if result is None:
            why = "no result recorded" if ended else "the run did not end"
            problems.append(f"{fault['fault']}: {why}")
        elif not result.get("landed"):
            problems.append(f"{result['fault']}: {result.get('evidence', '')}")
    if problems:
        return Verdict(name, "inconclusive", "did not land: " + "; ".join(problems))
    return Verdict(name, "pass", f"all {len(planned)} faults landed")


def _result_correct(
    results: dict[int, int] | None, expected: dict[int, int]
) -> Verdict:
    name = "result_correct"
    if results is None:
        return Verdict(name, "fail", "the strategy wrote no result")
    missing = [task for task in expected if task not in results]
    wrong = [t for t in expected if t in results and results[t] != expected[t]]
    extra = [task for task in results if task not in expected]
    if missing or wrong or extra:
        parts = [
            f"{label} tasks {_ids(tasks)}"
            for label, tasks in (
                ("missing", missing),
                ("wrong", wrong),
                ("extra", extra),
            )
            if tasks
        ]
        return Verdict(name, "fail", "; ".join(parts))
    return Verdict(name, "pass", f"all {len(expected)} results equal fib(n)")


def _all_tasks_finished(records: list[dict[str, Any]], tasks: int) -> Verdict:
    finished = {r["task"] for r in records if r["event"] == "finish"}
    missing = [task for task in range(tasks) if task not in finished]
    if missing:
        return Verdict(
            "all_tasks_finished",
            "fail",
            f"{tasks - len(missing)} of {tasks} tasks finished; no finish record "
            f"for tasks {_ids(missing)}",
        )
    return Verdict(
        "all_tasks_finished", "pass", f"every one of {tasks} tasks has a finish"
    )


def _effects_exactly_once(run_dir: Path, mode: str, tasks: int) -> Verdict:
    name = "effects_exactly_once"
    if mode == "none":
        return Verdict(name, "not_applicable", "the workload writes no effects")
    counts = count_effects(run_dir / EFFECTS_FILE)
    if counts is None:
        return Verdict(name, "fail", f"no effects store {EFFECTS_FILE}")
    missing = [task for task in range(tasks) if counts[task] == 0]
    duplicated = {task: count for task, count in counts.items() if count > 1}
    if missing or duplicated:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (tasks {_ids(missing)})")
        if duplicated:
            shown = ", ".join(
                f"task {task} x{count}" for task, count in sorted(duplicated.items())
            )
            parts.append(f"{len(duplicated)} duplicated ({shown})")
        return Verdict(name, "fail", f"{mode} effects: " + "; ".join(parts))
    return Verdict(name, "pass", f"{mode} effects: one row for each of {tasks} tasks")


def _no_leaked_process(records: list[dict[str, Any]], ended: bool) -> Verdict:
    name = "no_leaked_process"
    leaks = [r for r in records if r["event"] == "leak"]
    if leaks:
        found = "; ".join(
            f"incarnation {leak['incarnation']}: "
            + ", ".join(
                f"pid {p['pid']} ({p['command'][:100]})" for p in leak["processes"]
            )
            for leak in leaks
        )
        return Verdict(name, "fail", f"outlived their incarnation: {found}")
    if not ended:
        return Verdict(
            name, "inconclusive", "the run did not end, so no leak check ran"
        )
    return Verdict(name, "pass", "no process outlived its incarnation")


def _ledger_consistent(records: list[dict[str, Any]], torn: list[int]) -> Verdict:
    problems: list[str] = []
    if torn:
        problems.append(f"torn lines {_ids(torn)}")
    launched = 0
    exited: set[int] = set()
    open_attempts: dict[tuple[Any, ...], int] = defaultdict(int)
    for line, record in enumerate(records, start=1):
        event, incarnation = record["event"], record.get("incarnation")
        if event == "launch":
            if incarnation != launched + 1:
                problems.append(
                    f"record {line}: launch of incarnation {incarnation} after "
                    f"incarnation {launched}"
                )
            launched = int(incarnation or 0)
        elif event == "exit":
            exited.add(int(incarnation or 0))
        if event not in _PROCESS_EVENTS:
            continue
        if incarnation in exited:
            problems.append(
                f"record {line}: {event} of incarnation {incarnation} after its exit"
            )
        elif incarnation is None or incarnation > launched:
            problems.append(
                f"record {line}: {event} of incarnation {incarnation} before its launch"
            )
        key = (record.get("task"), record.get("pid"), record.get("tid"), incarnation)
        if event == "start":
            open_attempts[key] += 1
        elif event == "finish":
            if open_attempts[key] == 0:
                problems.append(f"record {line}: finish of task {key[0]} without start")
            else:
                open_attempts[key] -= 1
    if problems:
        shown = "; ".join(problems[:_SHOWN])
        more = len(problems) - _SHOWN
        return Verdict(
            "ledger_consistent",
            "fail",
            shown + (f"; and {more} more" if more > 0 else ""),
        )
    return Verdict(
        "ledger_consistent",
        "pass",
        f"{len(records)} records: every finish has a start, {launched} "
        "incarnations in order, nothing after an exit",
    )


def _no_pending_workflows(run_dir: Path, config: StrategyConfig, ended: str) -> Verdict:
    name = "no_pending_workflows"
    if ended != "completed":
        return Verdict(name, "not_applicable", "the run did not complete")
    try:
        counts = read_workflow_counts(run_dir, config)
    except WorkflowCountError as exc:
        return Verdict(name, "fail", f"cannot read workflow statuses: {exc}")
    if counts is None:
        return Verdict(name, "not_applicable", "the strategy keeps no DBOS workflows")
    pending = {s: n for s, n in counts.items() if s in ("PENDING", "ENQUEUED")}
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    if pending:
        return Verdict(name, "fail", f"workflows by status: {summary}")
    return Verdict(name, "pass", f"workflows by status: {summary}")


def _end_status(records: list[dict[str, Any]]) -> str | None:
    ends = [r for r in records if r["event"] == "end"]
    return str(ends[-1].get("status")) if ends else None


def check_run(run_dir: str | Path) -> list[Verdict]:
    """Check one run directory and return a verdict for each name in VERDICT_NAMES.

    Args:
        run_dir: A directory written by the supervisor for one run.

    Returns:
        The verdicts, in :data:`VERDICT_NAMES` order.

    """
    directory = Path(run_dir)
    config = StrategyConfig.load(directory / "strategy.json")
    history = read_ledger(directory / "history.jsonl")
    records = history.records
    try:
        planned = json.loads((directory / FAULTS_FILE).read_text())
    except FileNotFoundError:
        planned = []
    status = _end_status(records)
    ended = status is not None
    results = read_results(directory / "result.json")
    expected = expected_results(config.tasks, config.n)

    verdicts = [
        _faults_landed(records, planned, ended),
        _result_correct(results, expected),
        _all_tasks_finished(records, config.tasks),
        _effects_exactly_once(directory, config.effects, config.tasks),
        _no_leaked_process(records, ended),
        _ledger_consistent(records, history.torn_lines),
        _no_pending_workflows(directory, config, status or "not ended"),
    ]
    if verdicts[0].verdict == "inconclusive":
        verdicts = [
            Verdict(v.name, "inconclusive", v.evidence + " (but a fault did not land)")
            if v.verdict == "pass"
            else v
            for v in verdicts
        ]
    return verdicts


def unmet_expectations(
    verdicts: Iterable[Verdict | Mapping[str, str]], expect: Mapping[str, str]
) -> list[str]:
    """Compare verdicts with expected values.

    Args:
        verdicts: Verdicts, or their dicts as saved in results.json.
        expect: Expected value by verdict name.

    Returns:
        One line per verdict whose value differs from the expected one.

    """
    found = {}
    for verdict in verdicts:
        data = verdict.to_dict() if isinstance(verdict, Verdict) else verdict
        found[data["name"]] = data
    unmet = []
    for name, value in expect.items():
        actual = found.get(name, {"verdict": "missing", "evidence": ""})
        if actual["verdict"] != value:
            unmet.append(
                f"{name}: expected {value}, got {actual['verdict']}: "
                f"{actual['evidence']}"
            )
    return unmet
