"""pytest plugin: a fixture that runs a scenario in the test's temporary directory.

Registered through the ``pytest11`` entry point, so installing recovery_lab is
enough. It adds the ``recovery_lab_run`` fixture and the ``--recovery-lab-system-db``
option (ini key ``recovery_lab_system_db``), which selects a PostgreSQL server for
the DBOS system databases instead of per-run SQLite files.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from recovery_lab.results import StudyResults
    from recovery_lab.scenario import Scenario

RunFixture = Callable[..., "StudyResults"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the plugin's command-line option and ini key."""
    group = parser.getgroup("recovery_lab", "crash-recovery studies")
    group.addoption(
        "--recovery-lab-system-db",
        metavar="URL",
        default=None,
        help="PostgreSQL server URL for the DBOS system databases of "
        "recovery_lab_run (default: a SQLite file per run)",
    )
    parser.addini(
        "recovery_lab_system_db",
        "PostgreSQL server URL for the DBOS system databases of recovery_lab_run",
        default="",
    )


def _system_db(config: pytest.Config) -> str | None:
    option = config.getoption("--recovery-lab-system-db")
    value = option or config.getini("recovery_lab_system_db")
    return str(value) if value else None


@pytest.fixture
def recovery_lab_run(request: pytest.FixtureRequest, tmp_path: Path) -> RunFixture:
    """Return a function that runs a scenario and returns its results.

    Call it with a scenario file or a loaded scenario, and optionally
    ``system_db=URL`` to override the configured database for that call. Every call
    writes to a new directory under the test's ``tmp_path``.
    """
    from recovery_lab import run_scenario

    counter = itertools.count(1)
    default_db = _system_db(request.config)

    def run(
        scenario: str | os.PathLike[str] | Scenario,
        system_db: str | None = None,
    ) -> StudyResults:
        results_dir = tmp_path / f"recovery_lab_results_{next(counter)}"
        return run_scenario(scenario, results_dir, system_db=system_db or default_db)

    return run
