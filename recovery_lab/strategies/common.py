"""Configuration that the supervisor passes to each strategy process, and helpers."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# File name of the SQLite DBOS system database in a run directory, used when the
# run has no system database URL.
SQLITE_SYSTEM_DB_FILE = "dbos_system.sqlite"


@dataclass(frozen=True)
class StrategyConfig:
    """Settings of one strategy process, written by the supervisor as JSON.

    Attributes:
        strategy: Strategy name, a key of ``recovery_lab.strategies.STRATEGIES``.
        settings: The strategy's scenario settings, defaults filled in.
        tasks: Number of tasks in the workload.
        n: Fibonacci index that each task computes.
        run_dir: Directory of this run, shared by all its incarnations.
        result_path: Where the process writes its results once all tasks finished.
        system_database_url: DBOS system database, for the strategies that use one.
        app_name: DBOS application name.
        app_version: DBOS application version, fixed per run so that a restarted
            process recovers the workflows of the killed one.
        executor_id: DBOS executor id, fixed per run for the same reason.
        effects: The workload's side-effect mode: ``none``, ``plain`` or
            ``idempotent`` (see effects.py).

    """

    strategy: str
    tasks: int
    n: int
    run_dir: str
    result_path: str
    settings: dict[str, Any] = field(default_factory=dict)
    system_database_url: str | None = None
    app_name: str = "recovery_lab"
    app_version: str = "recovery-lab-1"
    executor_id: str = "recovery-lab"
    effects: str = "none"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the configuration as JSON."""
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StrategyConfig:
        """Read a configuration written by :meth:`save`."""
        return cls(**json.loads(Path(path).read_text()))


def write_results(path: str | os.PathLike[str], results: dict[int, int]) -> None:
    """Write the final results atomically: a reader sees all of them or no file."""
    target = Path(path)
    temporary = target.with_suffix(".tmp")
    payload = {"results": {str(task): value for task, value in sorted(results.items())}}
    with open(temporary, "w") as handle:
        json.dump(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def read_results(path: str | os.PathLike[str]) -> dict[int, int] | None:
    """Read results written by :func:`write_results`, or None if there are none."""
    try:
        payload = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    return {int(task): int(value) for task, value in payload["results"].items()}
