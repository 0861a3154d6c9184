"""External side effects of tasks: one row per effect in a SQLite file of the run.

A task that finished computing writes one effect, keyed by its task id, as a
stand-in for a payment, an e-mail or any write to a system outside the strategy.
The workload chooses how:

- ``none``: no effect is written.
- ``plain``: every attempt inserts a row, so an attempt that runs again after a
  kill writes a second one.
- ``idempotent``: the row carries an idempotency key (for a DBOS step, the
  workflow id and step id) and is written with ``INSERT OR IGNORE`` into a column
  with a UNIQUE constraint, so running the same step again writes nothing new.

The supervisor creates the table before the first launch and passes the mode and
the file to every process of the run through :data:`EFFECTS_ENV`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Final

from recovery_lab.ledger import current_incarnation

EFFECTS_ENV: Final = "RECOVERY_LAB_EFFECTS"
EFFECTS_FILE: Final = "effects.sqlite"
EFFECT_MODES: Final = ("none", "plain", "idempotent")

# Seconds that a writer waits for another process's write lock.
BUSY_TIMEOUT: Final = 60.0

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS effects (
    id INTEGER PRIMARY KEY,
    task INTEGER NOT NULL,
    key TEXT UNIQUE,
    incarnation INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    time REAL NOT NULL
)
"""


def create_store(path: str | os.PathLike[str]) -> None:
    """Create the effects table if the file does not have it yet."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT)
    try:
        connection.execute(_SCHEMA)
        connection.commit()
    finally:
        connection.close()


def environment_value(mode: str, path: str | os.PathLike[str]) -> str:
    """Return the value of :data:`EFFECTS_ENV` for a mode and an effects file."""
    return f"{mode}:{os.fspath(path)}"


_lock = threading.Lock()
_connections: dict[int, sqlite3.Connection] = {}


def _configured() -> tuple[str, str] | None:
    value = os.environ.get(EFFECTS_ENV, "")
    mode, _, path = value.partition(":")
    if mode not in ("plain", "idempotent") or not path:
        return None
    return mode, path


def write_effect(task: int, key: str | None = None) -> bool:
    """Write the side effect of one task in the workload's effects mode.

    Args:
        task: Task id.
        key: Idempotency key, used only in ``idempotent`` mode, where it defaults
            to ``task-<task>``.

    Returns:
        True if a row was inserted, False if the mode is ``none`` or an effect
        with the same idempotency key already existed.

    """
    configured = _configured()
    if configured is None:
        return False
    mode, path = configured
    if mode == "idempotent":
        statement = "INSERT OR IGNORE"
        row_key: str | None = key or f"task-{task}"
    else:
        statement, row_key = "INSERT", None
    values = (task, row_key, current_incarnation(), os.getpid(), time.time())
    with _lock:
        # A connection must not cross a fork, so each process opens its own. The
        # lock serialises the threads of one process that share it.
        connection = _connections.get(os.getpid())
        if connection is None:
            connection = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
            )
            _connections[os.getpid()] = connection
        cursor = connection.execute(
            f"{statement} INTO effects (task, key, incarnation, pid, time) "
            "VALUES (?, ?, ?, ?, ?)",
            values,
        )
    return cursor.rowcount == 1


def count_effects(path: str | os.PathLike[str]) -> Counter[int] | None:
    """Count the effect rows of each task, or return None if there is no store."""
    if not Path(path).exists():
        return None
    connection = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT task, COUNT(*) FROM effects GROUP BY task")
        return Counter({int(task): int(count) for task, count in rows})
    finally:
        connection.close()
