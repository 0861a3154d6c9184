"""Checks that a test can make on the results of a run.

Each function raises ``AssertionError`` with the evidence when the check fails, so
a failing pytest test shows what the run did rather than a bare ``False``::

    from recovery_lab import assertions, run_scenario

    def test_hybrid_keeps_finished_chunks(tmp_path):
        study = run_scenario("scenarios/kill_mid_hybrid.yaml", tmp_path / "out")
        run = study.find("hybrid")[0]
        assertions.assert_completed(run)
        assertions.assert_recomputed_at_most(run, run.settings["chunk_size"])
"""

from __future__ import annotations

from recovery_lab.results import RunResult, StudyResults


def _name(run: RunResult) -> str:
    return f"{run.strategy} {run.mode}-{run.repetition}"


def assert_completed(run: RunResult) -> None:
    """Check that the run completed and its result is correct."""
    assert run.status == "completed", (
        f"{_name(run)} did not complete: {run.status}: {run.outcome.get('error')}\n"
        f"{run.outcome.get('stderr_tail', '')}"
    )
    metrics = run.metrics
    assert metrics.correct, (
        f"{_name(run)} completed with a wrong result: missing tasks "
        f"{metrics.missing_tasks}, wrong values for tasks {metrics.wrong_tasks}"
    )


def assert_no_leaks(run: RunResult) -> None:
    """Check that no process of the run outlived an incarnation."""
    assert not run.leaked, f"{_name(run)} leaked processes: {run.leaked}"


def assert_faults_fired(run: RunResult) -> None:
    """Check that every fault fired, since a fault that never fired proves nothing."""
    not_fired = run.outcome.get("faults_not_fired", [])
    assert not not_fired, f"{_name(run)}: faults never fired: {not_fired}"


def assert_ledger_intact(run: RunResult) -> None:
    """Check that the history has no torn line and records every finished task."""
    metrics = run.metrics
    assert metrics.torn_lines == 0, f"{_name(run)}: {metrics.torn_lines} torn lines"
    if run.status == "completed":
        assert metrics.distinct_finished == metrics.tasks, (
            f"{_name(run)}: history shows {metrics.distinct_finished} of "
            f"{metrics.tasks} tasks finished although the run completed"
        )


def assert_recomputed_at_least(run: RunResult, count: int) -> None:
    """Check that at least ``count`` finished tasks were computed again."""
    assert run.metrics.recomputed >= count, (
        f"{_name(run)} recomputed {run.metrics.recomputed} tasks, "
        f"expected at least {count}"
    )


def assert_recomputed_at_most(run: RunResult, count: int) -> None:
    """Check that at most ``count`` finished tasks were computed again."""
    assert run.metrics.recomputed <= count, (
        f"{_name(run)} recomputed {run.metrics.recomputed} tasks, "
        f"expected at most {count}"
    )


def assert_verdict(run: RunResult, name: str, expected: str = "pass") -> None:
    """Check that the checker gave the run the expected verdict on one check.

    Args:
        run: A run whose results carry verdicts (results schema 2 or later).
        name: The check, for example ``effects_exactly_once``.
        expected: ``pass``, ``fail``, ``inconclusive`` or ``not_applicable``.
    """
    verdicts = {verdict["name"]: verdict for verdict in run.verdicts}
    assert name in verdicts, (
        f"{_name(run)} has no verdict {name!r}; it has {sorted(verdicts)}"
    )
    found = verdicts[name]
    assert found["verdict"] == expected, (
        f"{_name(run)}: {name} is {found['verdict']}, expected {expected}: "
        f"{found.get('evidence', '')}"
    )


def assert_verdicts_pass(run: RunResult) -> None:
    """Check that every verdict of the run is ``pass`` or ``not_applicable``."""
    assert run.verdicts, f"{_name(run)} has no verdicts"
    failing = [
        v for v in run.verdicts if v["verdict"] not in ("pass", "not_applicable")
    ]
    assert not failing, f"{_name(run)}: verdicts not passed: {failing}"


def assert_recovered(run: RunResult) -> None:
    """Check completion, correctness, fired faults, an intact history and no leaks."""
    assert_completed(run)
    assert_faults_fired(run)
    assert_ledger_intact(run)
    assert_no_leaks(run)


def assert_study_recovered(study: StudyResults) -> None:
    """Apply :func:`assert_recovered` to every faulted run and check the baselines."""
    assert study.runs, "the study has no runs"
    for run in study.runs:
        if run.mode == "faults":
            assert_recovered(run)
        else:
            assert_completed(run)
            assert_no_leaks(run)
