"""Choose the DBOS system database of each run, and create or drop it.

Every run gets a system database of its own, so no run can see or recover another
run's workflows. With SQLite (the default) it is a file in the run directory. With
PostgreSQL it is a new database on the configured server, named after the run.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from recovery_lab.errors import RecoveryLabError

logger = logging.getLogger(__name__)

SYSTEM_DB_ENV = "DBOS_SYSTEM_DATABASE_URL"
DBOS_CONFIG_FILE = "dbos-config.yaml"
DBOS_CONFIG_KEYS = ("name", "system_database_url")
DEFAULT_APP_NAME = "recovery_lab"
POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")


class DatabaseError(RecoveryLabError):
    """Raised when the system database setting is invalid."""


class DatabaseUnavailableError(RecoveryLabError):
    """Raised when the PostgreSQL server cannot be reached."""


@dataclass(frozen=True)
class DbosSettings:
    """The settings recovery_lab takes from ``dbos-config.yaml``.

    Attributes:
        app_name: DBOS application name of the strategies.
        server_url: PostgreSQL server URL, or None for per-run SQLite files.
    """

    app_name: str = DEFAULT_APP_NAME
    server_url: str | None = None


def read_dbos_config(config_path: Path | None) -> dict[str, Any]:
    """Read ``dbos-config.yaml``: the given file, or the one in the current directory.

    A file given explicitly must exist. Keys other than ``name`` and
    ``system_database_url`` are logged and ignored, so an application's own
    DBOS configuration file can be reused.

    Raises:
        DatabaseError: If the file is given but missing, cannot be read or parsed,
            or contains a value of the wrong type.
    """
    path = config_path or Path.cwd() / DBOS_CONFIG_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        if config_path is None:
            return {}
        raise DatabaseError(f"{path}: DBOS configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DatabaseError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DatabaseError(f"{path}: expected a mapping of keys to values")
    for key in ("name", "system_database_url"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise DatabaseError(f"{path}: {key}: found {value!r}; allowed: a string")
    ignored = sorted(str(key) for key in data if key not in DBOS_CONFIG_KEYS)
    if ignored:
        logger.info("%s: ignoring keys %s", path, ", ".join(ignored))
    data["_path"] = str(path)
    return data


def dbos_settings(option: str | None, config_path: Path | None = None) -> DbosSettings:
    """Return the application name and system database to use.

    The ``--system-db`` option wins over the ``DBOS_SYSTEM_DATABASE_URL`` variable,
    which wins over ``system_database_url`` in ``dbos-config.yaml``.

    Raises:
        DatabaseError: If the configuration file or the URL is invalid.
    """
    config = read_dbos_config(config_path)
    source = "--system-db"
    url = option
    if not url and os.environ.get(SYSTEM_DB_ENV):
        url, source = os.environ[SYSTEM_DB_ENV], SYSTEM_DB_ENV
    if not url and config.get("system_database_url"):
        url = config["system_database_url"]
        source = f"{config['_path']}: system_database_url"
    name = config.get("name") or DEFAULT_APP_NAME
    return DbosSettings(app_name=name, server_url=_check_url(url, source))


def _check_url(url: str | None, source: str) -> str | None:
    if not url:
        return None
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        raise DatabaseError(
            f"{source}: invalid system database URL {url!r}: expected "
            "postgresql://USER@HOST:PORT/DATABASE or sqlite://"
        ) from None
    if parsed.drivername.startswith("sqlite"):
        if parsed.database:
            logger.warning(
                "%s: the SQLite path %s is not used: each run keeps its system "
                "database in its own run directory",
                source,
                parsed.database,
            )
        return None
    if parsed.drivername not in POSTGRES_SCHEMES:
        raise DatabaseError(
            f"{source}: unsupported system database {parsed.drivername!r} in "
            f"{url!r}: use PostgreSQL (postgresql://...) or SQLite (sqlite://)"
        )
    if port is not None and not 1 <= port <= 65535:
        raise DatabaseError(
            f"{source}: invalid port {port} in {url!r}: allowed: 1 to 65535"
        )
    return url


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
