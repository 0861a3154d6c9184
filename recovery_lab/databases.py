"""Choose the DBOS system database of each run, and create or drop it.

Every run gets a system database of its own, so no run can see or recover another
run's workflows. With SQLite (the default) it is a file in the run directory. With
PostgreSQL it is a new database on the configured server, named after the run.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from recovery_lab.errors import RecoveryLabError

logger = logging.getLogger(__name__)

SYSTEM_DB_ENV = "DBOS_SYSTEM_DATABASE_URL"
DBOS_CONFIG_FILE = "dbos-config.yaml"
POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")


class DatabaseError(RecoveryLabError):
    """Raised when the system database setting is invalid."""


class DatabaseUnavailableError(RecoveryLabError):
    """Raised when the PostgreSQL server cannot be reached."""


def configured_url(option: str | None, config_path: Path | None = None) -> str | None:
    """Return the system database URL to use, or None for per-run SQLite files.

    The ``--system-db`` option wins over the ``DBOS_SYSTEM_DATABASE_URL`` variable,
    which wins over ``system_database_url`` in ``dbos-config.yaml``.

    Raises:
        DatabaseError: If the URL is neither SQLite nor PostgreSQL.

    """
    url = option or os.environ.get(SYSTEM_DB_ENV) or _url_from_config(config_path)
    if not url:
        return None
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"invalid system database URL {url!r}: expected "
            "postgresql://USER@HOST:PORT/DATABASE or sqlite://"
        ) from None
    if parsed.drivername.startswith("sqlite"):
        return None
    if parsed.drivername not in POSTGRES_SCHEMES:
        raise DatabaseError(
            f"unsupported system database {parsed.drivername!r} in {url!r}: "
            "use PostgreSQL (postgresql://...) or SQLite (sqlite://)"
        )
    return url


def _url_from_config(config_path: Path | None) -> str | None:
    path = config_path or Path.cwd() / DBOS_CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError) as exc:
        raise DatabaseError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        return None
    value = data.get("system_database_url")
    return str(value) if value else None


def run_database_url(server_url: str, run_name: str) -> str:
    """Return the URL of a run's own database on the server of ``server_url``."""
    base = make_url(server_url)
    name = re.sub(r"[^a-z0-9_]", "_", f"{base.database or 'recovery_lab'}_{run_name}")
    # PostgreSQL truncates identifiers past 63 bytes.
    return base.set(database=name[:63]).render_as_string(hide_password=False)


def _admin_url(url: str) -> URL:
    return make_url(url).set(drivername="postgresql+psycopg", database="postgres")


def check_server(server_url: str) -> None:
    """Connect once to the PostgreSQL server so a study fails before it starts.

    Raises:
        DatabaseUnavailableError: If the server cannot be reached.

    """
    engine = create_engine(_admin_url(server_url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0]
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {make_url(server_url)!r}: {reason}"
        ) from None
    finally:
        engine.dispose()


def drop_database(url: str) -> None:
    """Drop a run's PostgreSQL database; log and go on if that fails."""
    name = make_url(url).database
    engine = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except SQLAlchemyError as exc:
        logger.warning("could not drop database %s: %s", name, exc)
    finally:
        engine.dispose()
