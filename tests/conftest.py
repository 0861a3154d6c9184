"""Shared fixtures: checks that no test leaves a process of a run behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "scenarios"
POSTGRES_URL = os.environ.get(
    "RECOVERY_LAB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# Every process that this test session starts inherits this variable, so the leak
# check below finds them and never touches processes of another session.
SESSION_ENV = "RECOVERY_LAB_TEST_SESSION"
SESSION_ID = uuid.uuid4().hex
os.environ[SESSION_ENV] = SESSION_ID


def run_processes() -> list[psutil.Process]:
    """Return live processes started by this test session, except this process."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid == os.getpid():
                continue
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(SESSION_ENV) == SESSION_ID:
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fail a test that leaves any process of a run alive, then kill it."""
    yield
    leaked = run_processes()
    for process in leaked:
        try:
            process.kill()
        except psutil.Error:
            pass
    assert not leaked, f"processes left behind: {[p.pid for p in leaked]}"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m recovery_lab`` with arguments and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "recovery_lab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def postgres_available() -> bool:
    """Return whether the PostgreSQL server of the tests accepts connections."""
    from recovery_lab.databases import DatabaseUnavailableError, check_server

    try:
        check_server(POSTGRES_URL)
    except DatabaseUnavailableError:
        return False
    return True


def copy_scenario(name: str, directory: Path) -> Path:
    """Copy a shipped scenario into a test directory and return its new path."""
    target = directory / name
    shutil.copy(SCENARIOS / name, target)
    return target
