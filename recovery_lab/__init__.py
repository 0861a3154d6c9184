"""recovery_lab: kill a job under several execution strategies and measure recovery.

The public entry points are :func:`run_scenario` to run a scenario file from Python
or a test, :func:`load_results` to read saved results, and the checks in
:mod:`recovery_lab.assertions`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from recovery_lab import assertions
from recovery_lab.errors import (
    Problem,
    RecoveryLabError,
    ResultsError,
    ScenarioError,
    StrategyCrashError,
)
from recovery_lab.metrics import RunMetrics
from recovery_lab.results import RunResult, StudyResults, load_results
from recovery_lab.scenario import Scenario, load_scenario

__all__ = [
    "Problem",
    "RecoveryLabError",
    "ResultsError",
    "RunMetrics",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "StrategyCrashError",
    "StudyResults",
    "assertions",
    "load_results",
    "load_scenario",
    "run_scenario",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def run_scenario(
    scenario: str | os.PathLike[str] | Scenario,
    results_dir: str | os.PathLike[str],
    system_db: str | None = None,
) -> StudyResults:
    """Run a scenario and write its results and Markdown report.

    Args:
        scenario: A scenario file, or a scenario already loaded.
        results_dir: A directory that does not exist yet.
        system_db: PostgreSQL server URL, or None for per-run SQLite files.

    Returns:
        The results of every run.

    Raises:
        ScenarioError: If the scenario file is invalid.

    """
    from recovery_lab.report import write_report
    from recovery_lab.study import run_study

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    directory = Path(results_dir)
    study = run_study(scenario, directory, system_db=system_db)
    write_report(directory, study)
    return study
