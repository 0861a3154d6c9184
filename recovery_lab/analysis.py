"""The ``plan`` and ``analyze`` commands, and the verdict part of the report.

``plan`` prints the faults that a scenario would fire, the schedule expanded,
without running anything. ``analyze`` runs the checker again on every run
directory of a results directory, including a run that the supervisor never
finished because it died half-way, and compares the verdicts with the
scenario's ``expect``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recovery_lab.checker import VERDICT_NAMES, Verdict, check_run, unmet_expectations
from recovery_lab.errors import ResultsError
from recovery_lab.results import RESULTS_FILE, StudyResults, load_results
from recovery_lab.scenario import Scenario

# Short column titles for the verdict table, in VERDICT_NAMES order.
_SHORT_NAMES = {
    "faults_landed": "faults",
    "result_correct": "result",
    "all_tasks_finished": "finished",
    "effects_exactly_once": "effects",
    "no_leaked_process": "no leak",
    "ledger_consistent": "ledger",
    "no_pending_workflows": "workflows",
}


def plan_lines(scenario: Scenario) -> list[str]:
    """Describe the faults that each run with faults of a scenario gets."""
    strategies = ", ".join(spec.name for spec in scenario.strategies)
    lines = [f"scenario {scenario.name}: strategies {strategies}"]
    schedule = scenario.schedule
    if schedule is not None:
        lines.append(
            f"schedule: seed {schedule.seed}, {schedule.kills} kills, gaps "
            f"{schedule.min_gap:g} to {schedule.max_gap:g} s, from incarnation "
            f"{schedule.first_incarnation}"
        )
    faults = scenario.all_faults()
    if not faults:
        lines.append("no faults: every strategy runs once without faults")
        return lines
    times = "once" if scenario.repetitions == 1 else f"{scenario.repetitions} times"
    lines.append(
        f"each strategy runs {times} with these faults, restarted at most "
        f"{scenario.restart.max_restarts} times:"
    )
    lines += [f"  incarnation {f.incarnation:>3}: {f.describe()}" for f in faults]
    if scenario.watchdog is not None:
        lines.append(f"watchdog: {scenario.watchdog:g} s without progress")
    if scenario.expect:
        expected = ", ".join(f"{name} {value}" for name, value in scenario.expect)
        lines.append(f"expected verdicts: {expected}")
    return lines


@dataclass
class AnalyzedRun:
    """The verdicts of one run directory.

    Attributes:
        name: ``STRATEGY MODE-REP``.
        mode: ``baseline`` or ``faults``.
        verdicts: The checker's verdicts.
        listed: Whether results.json lists the run; a run missing there was cut
            short by the end of the supervisor.

    """

    name: str
    mode: str
    verdicts: list[Verdict]
    listed: bool


def analyze_results(results_dir: Path) -> tuple[list[AnalyzedRun], dict[str, str]]:
    """Check every run directory of a results directory.

    Returns:
        The analyzed runs in directory order, and the scenario's expected
        verdicts (empty when results.json is missing or sets none).

    Raises:
        ResultsError: If the directory contains no run directory at all.

    """
    try:
        study: StudyResults | None = load_results(results_dir)
    except ResultsError:
        if not (results_dir / RESULTS_FILE).exists() and not results_dir.is_dir():
            raise
        study = None
    listed = set() if study is None else {run.run_dir for run in study.runs}
    expect = {} if study is None else dict(study.scenario.get("expect", {}))
    run_dirs = sorted(results_dir.glob("runs/*/*/strategy.json"))
    if not run_dirs:
        raise ResultsError(f"{results_dir}: no run directories under runs/")
    analyzed = []
    for config_path in run_dirs:
        run_dir = config_path.parent
        relative = str(run_dir.relative_to(results_dir))
        analyzed.append(
            AnalyzedRun(
                name=f"{run_dir.parent.name} {run_dir.name}",
                mode=run_dir.name.rsplit("-", 1)[0],
                verdicts=check_run(run_dir),
                listed=relative in listed,
            )
        )
    return analyzed, expect


def expectation_failures(
    runs: list[tuple[str, str, list[Any]]], expect: Mapping[str, str]
) -> list[str]:
    """List what makes a study fail, one line per problem.

    With ``expect``, runs with faults must have exactly the expected verdicts.
    Without it, and always for baseline runs, no verdict may be ``fail`` or
    ``inconclusive``.

    Args:
        runs: ``(name, mode, verdicts)`` per run, verdicts as objects or dicts.
        expect: Expected value by verdict name.

    Returns:
        The problems; empty when the study passed.

    """
    problems = []
    for name, mode, verdicts in runs:
        if mode == "faults" and expect:
            problems += [
                f"{name}: {line}" for line in unmet_expectations(verdicts, expect)
            ]
            continue
        for verdict in verdicts:
            data = verdict.to_dict() if isinstance(verdict, Verdict) else verdict
            if data["verdict"] in ("fail", "inconclusive"):
                problems.append(
                    f"{name}: {data['name']} {data['verdict']}: {data['evidence']}"
                )
    return problems


def verdict_table(runs: list[tuple[str, list[Any]]]) -> list[str]:
    """Render the verdicts of runs as a Markdown table, one row per run."""
    header = ["run", *(_SHORT_NAMES[name] for name in VERDICT_NAMES)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, verdicts in runs:
        by_name = {}
        for verdict in verdicts:
            data = verdict.to_dict() if isinstance(verdict, Verdict) else verdict
            by_name[data["name"]] = data["verdict"]
        cells = [
            by_name.get(v, "-").replace("not_applicable", "n/a") for v in VERDICT_NAMES
        ]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return lines


def verdict_markdown(study: StudyResults) -> list[str]:
    """Render the verdict section of the Markdown report."""
    runs = [(f"{r.strategy} {r.mode}-{r.repetition}", r.verdicts) for r in study.runs]
    if not any(verdicts for _, verdicts in runs):
        return []
    lines = ["## Verdicts", "", *verdict_table(runs), ""]
    for name, verdicts in runs:
        for data in verdicts:
            if data["verdict"] in ("fail", "inconclusive"):
                lines.append(
                    f"- {name}: {data['name']} {data['verdict']}: {data['evidence']}"
                )
    expect = dict(study.scenario.get("expect", {}))
    problems = expectation_failures(
        [
            (f"{r.strategy} {r.mode}-{r.repetition}", r.mode, r.verdicts)
            for r in study.runs
        ],
        expect,
    )
    lines.append("")
    if expect:
        wanted = ", ".join(f"{k} {v}" for k, v in expect.items())
        lines.append(f"Expected for the runs with faults: {wanted}.")
    if problems:
        lines += ["", "Unmet:", "", *(f"- {line}" for line in problems)]
    elif expect:
        lines.append("Every expected verdict holds.")
    return [*lines, ""]
