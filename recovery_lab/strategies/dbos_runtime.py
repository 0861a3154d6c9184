"""Launch and shut down DBOS inside a strategy process."""

from __future__ import annotations

from pathlib import Path

from dbos import DBOS, DBOSConfig

from recovery_lab.strategies.common import SQLITE_SYSTEM_DB_FILE, StrategyConfig


def system_database_url(config: StrategyConfig) -> str:
    """Return the run's system database: the configured URL or a SQLite file."""
    if config.system_database_url:
        return config.system_database_url
    return f"sqlite:///{Path(config.run_dir) / SQLITE_SYSTEM_DB_FILE}"


def launch_dbos(config: StrategyConfig) -> None:
    """Configure and launch DBOS with the version and executor id pinned per run.

    DBOS recovers at launch only the workflows of its own application version and
    executor id, so both must be the same in every incarnation of a run.
    """
    dbos_config: DBOSConfig = {
        "name": config.app_name,
        "system_database_url": system_database_url(config),
        "application_version": config.app_version,
        "executor_id": config.executor_id,
        "notification_listener_polling_interval_sec": 0.05,
    }
    DBOS(config=dbos_config)
    DBOS.launch()


def shutdown_dbos() -> None:
    """Shut DBOS down so that none of its threads keeps the process alive."""
    DBOS.destroy(workflow_completion_timeout_sec=0)
