"""Count the DBOS workflows of a run by status, and keep the counts in the run.

A run that completed should leave no workflow PENDING (started, not finished) or
ENQUEUED (waiting in a queue) in its system database. The study counts the
statuses right after the run, before it drops a PostgreSQL run database, and
writes them to ``workflows.json`` in the run directory, where the checker reads
them later. For a SQLite system database without that file, the checker counts
from the database file itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from recovery_lab.errors import RecoveryLabError
from recovery_lab.strategies import uses_dbos
from recovery_lab.strategies.common import SQLITE_SYSTEM_DB_FILE, StrategyConfig

WORKFLOWS_FILE: Final = "workflows.json"

# DBOS 3.4 keeps its tables in the ``dbos`` schema on PostgreSQL and in the main
# schema of a SQLite file (dbos/_schemas/system_database.py).
_POSTGRES_TABLE: Final = "dbos.workflow_status"
_SQLITE_TABLE: Final = "workflow_status"


class WorkflowCountError(RecoveryLabError):
    """Raised when the workflow statuses of a run cannot be read."""


def _system_database_url(run_dir: Path, config: StrategyConfig) -> str:
    # The SQLite file is looked up in run_dir rather than config.run_dir, so a
    # results directory that was moved or copied can still be checked.
    if config.system_database_url:
        return config.system_database_url
    return f"sqlite:///{run_dir / SQLITE_SYSTEM_DB_FILE}"


def count_workflows(url: str) -> dict[str, int]:
    """Count the workflows of a DBOS system database by status.

    Returns:
        Workflow count by status.

    Raises:
        WorkflowCountError: If the database cannot be read, for example because
            DBOS never created its tables.

    """
    table = _SQLITE_TABLE if url.startswith("sqlite") else _POSTGRES_TABLE
    if url.startswith("postgres"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(f"SELECT status, COUNT(*) FROM {table} GROUP BY status")
            )
            return {str(status): int(count) for status, count in rows}
    except SQLAlchemyError as exc:
        raise WorkflowCountError(str(exc).splitlines()[0]) from None
    finally:
        engine.dispose()


def save_workflow_counts(run_dir: Path, config: StrategyConfig) -> None:
    """Count the run's workflows by status and write ``workflows.json``.

    The file contains ``{"counts": {STATUS: N}}``, or ``{"error": MESSAGE}`` when the
    database could not be read.
    """
    if not uses_dbos(config.strategy):
        return
    try:
        data: dict[str, object] = {
            "counts": count_workflows(_system_database_url(run_dir, config))
        }
    except WorkflowCountError as exc:
        data = {"error": str(exc)}
    (run_dir / WORKFLOWS_FILE).write_text(json.dumps(data) + "\n")


def read_workflow_counts(
    run_dir: Path, config: StrategyConfig
) -> dict[str, int] | None:
    """Return the run's workflow counts by status, or None for a strategy without DBOS.

    Reads ``workflows.json``, or counts from the SQLite system database when that
    file is missing.

    Raises:
        WorkflowCountError: If the counts cannot be read.

    """
    if not uses_dbos(config.strategy):
        return None
    try:
        data = json.loads((run_dir / WORKFLOWS_FILE).read_text())
    except FileNotFoundError:
        url = _system_database_url(run_dir, config)
        if not url.startswith("sqlite"):
            raise WorkflowCountError(
                f"{WORKFLOWS_FILE} is missing and the PostgreSQL run database may "
                "have been dropped"
            ) from None
        return count_workflows(url)
    if "error" in data:
        raise WorkflowCountError(str(data["error"]))
    return {str(status): int(count) for status, count in data["counts"].items()}
