"""The pytest plugin, as a user's own test suite would use it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TEST = '''
from recovery_lab import assertions

SCENARIO = """
workload: {tasks: 8, n: 20}
strategies: {dbos: {worker_concurrency: 2, polling_interval: 0.05}}
faults: [{after_tasks: 3}]
baseline: false
"""

def test_dbos_recovers(recovery_lab_run, tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    study = recovery_lab_run(path)
    (run,) = study.find("dbos")
    assertions.assert_recovered(run)
    assertions.assert_recomputed_at_most(run, 2)

def test_assertion_failure_shows_evidence(recovery_lab_run, tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.replace("dbos: {", "pool: {workers: 2, ").replace(
        "worker_concurrency: 2, polling_interval: 0.05", ""))
    study = recovery_lab_run(path)
    (run,) = study.find("pool")
    assertions.assert_recomputed_at_most(run, 0)
'''


def test_plugin_fixture_runs_scenario(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*pool faults-1 recomputed * tasks, expected at most 0*"]
    )


def test_plugin_registers_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--recovery-lab-system-db=URL*"])
