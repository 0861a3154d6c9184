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


def launch_dbos(
    config: StrategyConfig, recovery_polling_interval: float | None = None
) -> None:
    """Configure and launch DBOS with the version and executor id pinned per run.

    DBOS recovers at launch only the workflows of its own application version and
    executor id, so both must be the same in every incarnation of a run.

    Args:
        config: The strategy process's configuration.
        recovery_polling_interval: Seconds between polls of the DBOS internal
            queue, on which DBOS 3.4 puts the workflows it recovers at launch
            (1.0 by default, and the first poll comes one interval after launch).
            None keeps the DBOS default.

    """
    dbos_config: DBOSConfig = {
        "name": config.app_name,
        "system_database_url": system_database_url(config),
        "application_version": config.app_version,
        "executor_id": config.executor_id,
        "notification_listener_polling_interval_sec": 0.05,
    }
    DBOS(config=dbos_config)
    if recovery_polling_interval is not None:
        set_recovery_polling_interval(recovery_polling_interval)
    DBOS.launch()


def set_recovery_polling_interval(seconds: float) -> None:
    """Set how often DBOS polls the internal queue of recovered workflows.

    Each poll is a query of the system database, so a short interval costs CPU
    for as long as the process runs: about 3% of a core at 0.1 s on SQLite, by
    ``getrusage`` over 10 idle seconds on the machine in docs/benchmarks.md.
    """
    # NOTE: DBOS 3.4 has no public setting for the internal queue's interval,
    # so this reaches into its private registry and queue attributes.
    from dbos._dbos import _get_or_create_dbos_registry

    queue = _get_or_create_dbos_registry().get_internal_queue()
    queue._polling_interval_sec = seconds


def shutdown_dbos() -> None:
    """Shut DBOS down so that none of its threads keeps the process alive."""
    DBOS.destroy(workflow_completion_timeout_sec=0)
