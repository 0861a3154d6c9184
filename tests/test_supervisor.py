"""How the supervisor ends runs that do not complete: crash, timeout, give-up."""

from __future__ import annotations

from pathlib import Path

from recovery_lab.ledger import read_ledger
from recovery_lab.scenario import Fault, RestartPolicy
from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.supervisor import HISTORY_FILE, run_strategy

POLICY = RestartPolicy(max_restarts=2, delay=0.05, backoff=2.0, max_delay=1.0)


def _config(tmp_path: Path, tasks: int, n: int, **settings: object) -> StrategyConfig:
    return StrategyConfig(
        strategy="pool",
        tasks=tasks,
        n=n,
        run_dir=str(tmp_path),
        result_path=str(tmp_path / "result.json"),
        settings={"workers": 2, **settings},
    )


def _kill_after(incarnation: int, seconds: float) -> Fault:
    return Fault(
        incarnation=incarnation,
        after_tasks=None,
        after_seconds=seconds,
        signal="SIGKILL",
        target="group",
    )


def test_crash_reports_exit_code_and_stderr(tmp_path: Path) -> None:
    config = _config(tmp_path, tasks=4, n=10, start_method="no-such-method")
    outcome = run_strategy(config, (), POLICY, timeout=60)
    assert outcome.status == "crashed"
    assert outcome.incarnations == 1
    assert "exited with status 1" in outcome.error
    assert "no-such-method" in outcome.stderr_tail
    assert outcome.results is None


def test_timeout_kills_run_and_marks_it(tmp_path: Path) -> None:
    config = _config(tmp_path, tasks=40, n=32)
    outcome = run_strategy(config, (), POLICY, timeout=1.0)
    assert outcome.status == "timed_out"
    assert outcome.leaked == []
    events = [r["event"] for r in read_ledger(tmp_path / HISTORY_FILE).records]
    assert "timeout" in events
    assert events[-1] == "end"


def test_policy_gives_up_when_kills_outpace_work(tmp_path: Path) -> None:
    config = _config(tmp_path, tasks=40, n=32)
    faults = tuple(_kill_after(number, 0.8) for number in (1, 2, 3))
    outcome = run_strategy(config, faults, POLICY, timeout=60)
    assert outcome.status == "gave_up"
    assert outcome.incarnations == POLICY.max_restarts + 1
    assert outcome.kills == 3
    assert outcome.faults_not_fired == []
    assert "max_restarts=2" in outcome.error


def test_fault_past_last_incarnation_is_reported_not_fired(tmp_path: Path) -> None:
    config = _config(tmp_path, tasks=4, n=15)
    fault = Fault(
        incarnation=3,
        after_tasks=1,
        after_seconds=None,
        signal="SIGKILL",
        target="group",
    )
    outcome = run_strategy(config, (fault,), POLICY, timeout=60)
    assert outcome.status == "completed"
    assert outcome.faults_not_fired == [fault.describe()]
