"""Run a whole scenario: every strategy, with and without faults, and save it all.

A study writes one results directory::

    RESULTS_DIR/
      results.json            every run's outcome and metrics (see results.py)
      report.md               the Markdown report
      runs/STRATEGY/MODE-REP/ one run directory each: history.jsonl, the strategy's
                              configuration, its logs and, with SQLite, its DBOS
                              system database

``results.json`` is rewritten after every run, so a study that is interrupted still
leaves the runs that finished.
"""

from __future__ import annotations

import logging
import os
import platform
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from recovery_lab import databases
from recovery_lab.checker import check_run
from recovery_lab.ledger import read_ledger
from recovery_lab.metrics import compute_metrics
from recovery_lab.results import RunResult, StudyResults, save_results
from recovery_lab.scenario import Scenario
from recovery_lab.strategies import uses_dbos
from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.supervisor import HISTORY_FILE, ProgressCallback, run_strategy
from recovery_lab.workflows import save_workflow_counts
from recovery_lab.workload import expected_results

logger = logging.getLogger(__name__)

# Called before each run with (strategy, mode, repetition).
RunStartCallback = Callable[[str, str, int], None]


def planned_runs(scenario: Scenario) -> list[tuple[str, str, int]]:
    """List the runs of a study as (strategy, mode, repetition), in order.

    The mode is ``baseline`` for the run without faults and ``faults`` for a run
    with the scenario's faults. A scenario without faults has only baselines.
    """
    runs: list[tuple[str, str, int]] = []
    faults = scenario.all_faults()
    for spec in scenario.strategies:
        if scenario.baseline or not faults:
            runs.append((spec.name, "baseline", 1))
        if faults:
            for repetition in range(1, scenario.repetitions + 1):
                runs.append((spec.name, "faults", repetition))
    return runs


def machine_description() -> dict[str, Any]:
    """Describe the machine and software a study ran on, for the results."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "dbos": version("dbos"),
    }


def run_study(
    scenario: Scenario,
    results_dir: Path,
    system_db: str | None = None,
    app_name: str = "recovery_lab",
    keep_databases: bool = False,
    on_run_start: RunStartCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> StudyResults:
    """Run every run of a scenario and save the results in ``results_dir``.

    Args:
        scenario: The validated scenario.
        results_dir: A new directory for this study; it must not exist yet.
        system_db: PostgreSQL server URL, or None for per-run SQLite files.
        app_name: DBOS application name.
        keep_databases: Keep each run's PostgreSQL database instead of dropping it.
        on_run_start: Called before each run.
        on_progress: Called with every supervisor record and task finish.

    Returns:
        The results, as also saved in ``results_dir/results.json``.

    """
    results_dir.mkdir(parents=True)
    machine = machine_description()
    study = StudyResults(
        scenario=scenario.to_dict(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        system_database="postgresql" if system_db else "sqlite",
        machine=machine,
        runs=[],
        state="running",
        directory=results_dir,
        faults=[
            {"incarnation": f.incarnation, "fault": f.describe()}
            for f in scenario.all_faults()
        ],
    )
    save_results(results_dir, study)
    expected = expected_results(scenario.workload.tasks, scenario.workload.n)
    study_id = uuid.uuid4().hex[:8]

    try:
        for strategy, mode, repetition in planned_runs(scenario):
            if on_run_start is not None:
                on_run_start(strategy, mode, repetition)
            context = _RunContext(
                scenario, results_dir, system_db, app_name, study_id, keep_databases
            )
            study.runs.append(
                _run_one(context, strategy, mode, repetition, expected, on_progress)
            )
            save_results(results_dir, study)
    except KeyboardInterrupt:
        study.state = "interrupted"
        save_results(results_dir, study)
        raise
    study.state = "complete"
    save_results(results_dir, study)
    return study


@dataclass(frozen=True)
class _RunContext:
    """Settings that every run of one study shares."""

    scenario: Scenario
    results_dir: Path
    system_db: str | None
    app_name: str
    study_id: str
    keep_databases: bool


def _run_one(
    context: _RunContext,
    strategy: str,
    mode: str,
    repetition: int,
    expected: dict[int, int],
    on_progress: ProgressCallback | None,
) -> RunResult:
    """Run one strategy in one mode, then measure and check the run."""
    scenario = context.scenario
    spec = next(s for s in scenario.strategies if s.name == strategy)
    run_name = f"{mode}-{repetition}"
    run_dir = context.results_dir / "runs" / strategy / run_name
    run_dir.mkdir(parents=True)

    database_url = None
    if context.system_db and uses_dbos(strategy):
        database_url = databases.run_database_url(
            context.system_db, f"{context.study_id}_{strategy}_{run_name}"
        )
    config = StrategyConfig(
        strategy=strategy,
        tasks=scenario.workload.tasks,
        n=scenario.workload.n,
        run_dir=str(run_dir.resolve()),
        result_path=str((run_dir / "result.json").resolve()),
        settings=dict(spec.settings),
        system_database_url=database_url,
        app_name=context.app_name,
        app_version=f"recovery-lab-{context.study_id}",
        executor_id=f"recovery-lab-{strategy}",
        effects=scenario.workload.effects,
    )
    faults = scenario.all_faults() if mode == "faults" else ()

    logger.info("run %s %s: starting in %s", strategy, run_name, run_dir)
    try:
        outcome = run_strategy(
            config,
            faults,
            scenario.restart,
            scenario.timeout,
            on_progress,
            watchdog=scenario.watchdog,
        )
        # Count workflow statuses now, because the database may be dropped.
        save_workflow_counts(run_dir, config)
    finally:
        if database_url and not context.keep_databases:
            databases.drop_database(database_url)

    history = read_ledger(run_dir / HISTORY_FILE)
    metrics = compute_metrics(
        history.records, outcome.results, expected, len(history.torn_lines)
    )
    outcome_data = asdict(outcome)
    outcome_data.pop("results")
    if database_url:
        outcome_data["databases"] = [make_url(database_url).database]
    logger.info(
        "run %s %s: %s in %.2f s",
        strategy,
        run_name,
        outcome.status,
        metrics.total_time,
    )
    return RunResult(
        strategy=strategy,
        mode=mode,
        repetition=repetition,
        run_dir=str(run_dir.relative_to(context.results_dir)),
        settings=dict(spec.settings),
        outcome=outcome_data,
        metrics=metrics,
        verdicts=[v.to_dict() for v in check_run(run_dir)],
    )
