"""The saved results of a study: a versioned JSON document.

``results.json`` is an object with these keys (schema version 2):

- ``schema``: always ``"recovery_lab.results"``; ``version``: the integer 2.
- ``created``: local time the study started, ISO 8601.
- ``scenario``: the scenario as run, defaults filled in.
- ``system_database``: ``"sqlite"`` or ``"postgresql"``.
- ``machine``: ``cpus``, ``platform``, ``python`` and ``dbos`` versions.
- ``runs``: one object per run with ``strategy``, ``mode`` (``baseline`` or
  ``faults``), ``repetition``, ``run_dir`` (relative to the results directory),
  ``settings`` (the strategy's settings), ``outcome`` (how the run ended, from the
  supervisor) and ``metrics`` (see metrics.py for each definition), and
  ``verdicts``: the checker's verdicts, each ``{"name", "verdict", "evidence"}``
  (see checker.py).
- ``faults``: the faults of every run with faults, the schedule expanded, each
  ``{"incarnation", "fault"}`` with the fault described in words.

Version 2 added ``verdicts``, ``faults``, and in ``outcome`` the keys ``faults``,
``hung`` and ``tasks_finished``. Version 1 files still load, with no verdicts.

docs/results-schema.md describes every field and the rules for changing them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from recovery_lab.errors import ResultsError
from recovery_lab.metrics import RunMetrics
from recovery_lab.results_check import check_document

SCHEMA = "recovery_lab.results"
SCHEMA_VERSION = 2
# Versions that load_results reads.
READABLE_VERSIONS = (1, 2)
RESULTS_FILE = "results.json"


@dataclass
class RunResult:
    """One run of a study.

    Attributes:
        strategy: Strategy name.
        mode: ``baseline`` (no faults) or ``faults``.
        repetition: 1-based repetition number within the mode.
        run_dir: The run's directory, relative to the results directory.
        settings: The strategy's settings.
        outcome: How the run ended, as in ``supervisor.RunOutcome`` without results.
        metrics: The measured metrics.
        verdicts: The checker's verdicts as dicts (see checker.py).

    """

    strategy: str
    mode: str
    repetition: int
    run_dir: str
    settings: dict[str, Any]
    outcome: dict[str, Any]
    metrics: RunMetrics
    verdicts: list[dict[str, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """How the run ended: ``completed``, ``gave_up``, ``crashed``, and so on."""
        return str(self.outcome["status"])

    @property
    def leaked(self) -> list[dict[str, Any]]:
        """Processes found alive after an incarnation ended, by incarnation."""
        return list(self.outcome.get("leaked", []))


@dataclass
class StudyResults:
    """Every run of one study, with what it ran and where.

    ``state`` is ``running`` while the study runs, ``interrupted`` when it was
    stopped by a signal, and ``complete`` once every run is recorded. A study whose
    supervisor was killed stays ``running``. ``directory`` is the results
    directory the study was saved in or read from; it is not itself saved.
    """

    scenario: dict[str, Any]
    created: str
    system_database: str
    machine: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    state: str = "complete"
    directory: Path | None = None

    def run_path(self, run: RunResult) -> Path:
        """Return the absolute directory of one run.

        Raises:
            ResultsError: If the study has no directory.
        """
        if self.directory is None:
            raise ResultsError("these results were not saved in a directory")
        return self.directory / run.run_dir

    def find(self, strategy: str, mode: str = "faults") -> list[RunResult]:
        """Return the runs of one strategy in one mode."""
        return [r for r in self.runs if r.strategy == strategy and r.mode == mode]

    def to_dict(self) -> dict[str, Any]:
        """Return the results as the JSON document described in this module."""
        runs = []
        for run in self.runs:
            data = asdict(run)
            data["metrics"] = run.metrics.to_dict()
            runs.append(data)
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "created": self.created,
            "scenario": self.scenario,
            "system_database": self.system_database,
            "machine": self.machine,
            "runs": runs,
            "faults": self.faults,
            "state": self.state,
        }


def save_results(results_dir: Path, study: StudyResults) -> None:
    """Write ``results.json`` atomically, so a reader never sees half of it."""
    target = results_dir / RESULTS_FILE
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(study.to_dict(), indent=2) + "\n")
    os.replace(temporary, target)


def load_results(results_dir: str | os.PathLike[str]) -> StudyResults:
    """Read the results of a study.

    Raises:
        ResultsError: If the directory or its ``results.json`` is missing, is not
            valid JSON, is of another schema version, or lacks a required field
            or has one of the wrong type; the message lists every such field.

    """
    directory = Path(results_dir)
    path = directory / RESULTS_FILE
    if not directory.is_dir():
        raise ResultsError(f"{directory}: not a directory of study results")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(
            f"{path}: not found; is {directory} a results directory?"
        ) from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read results: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ResultsError(
            f'{path}: not a recovery_lab results file (its "schema" field is '
            f"not {SCHEMA!r})"
        )
    if data.get("version") not in READABLE_VERSIONS:
        raise ResultsError(
            f"{path}: results schema version {data.get('version')!r} is not "
            f"supported; this recovery_lab reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    problems = check_document(data)
    if problems:
        raise ResultsError(
            f"{path}: malformed results:\n" + "\n".join(f"  {p}" for p in problems)
        )
    known_metrics = {item.name for item in fields(RunMetrics)}
    try:
        runs = [
            RunResult(
                strategy=run["strategy"],
                mode=run["mode"],
                repetition=run["repetition"],
                run_dir=run["run_dir"],
                settings=dict(run["settings"]),
                outcome=dict(run["outcome"]),
                metrics=RunMetrics.from_dict(
                    {k: v for k, v in run["metrics"].items() if k in known_metrics}
                ),
                verdicts=list(run.get("verdicts", [])),
            )
            for run in data["runs"]
        ]
        return StudyResults(
            scenario=dict(data["scenario"]),
            created=data["created"],
            system_database=data["system_database"],
            machine=dict(data["machine"]),
            runs=runs,
            directory=directory,
            faults=list(data.get("faults", [])),
            state=str(data.get("state", "complete")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        # A nested value that check_document does not inspect, such as a row of
        # metrics.processes.
        raise ResultsError(f"{path}: malformed results: {exc!r}") from None
