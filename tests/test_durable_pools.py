"""Recovery claims of dbos_pool and checkpoint_pool, checked against real kills."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from recovery_lab.ledger import read_ledger
from recovery_lab.metrics import RunMetrics, compute_metrics
from recovery_lab.scenario import Fault, RestartPolicy
from recovery_lab.strategies import checkpoint_pool
from recovery_lab.strategies.checkpoint_pool import CHECKPOINT_FILE, load_checkpoint
from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.strategies.dbos_pool import WORKFLOW_ID
from recovery_lab.supervisor import HISTORY_FILE, RunOutcome, run_strategy
from recovery_lab.workload import expected_results, fibonacci_exact

TASKS = 60
N = 23
POLICY = RestartPolicy(max_restarts=2, delay=0.1, backoff=1.0, max_delay=0.1)


def run_with_kill(
    tmp_path: Path, strategy: str, settings: dict[str, Any], after_tasks: int
) -> tuple[RunOutcome, RunMetrics, list[dict[str, Any]]]:
    run_dir = tmp_path / strategy
    run_dir.mkdir()
    config = StrategyConfig(
        strategy=strategy,
        tasks=TASKS,
        n=N,
        run_dir=str(run_dir),
        result_path=str(run_dir / "result.json"),
        settings=settings,
        app_version="test-durable-pools",
        executor_id=f"test-{strategy}",
    )
    fault = Fault(
        incarnation=1,
        after_tasks=after_tasks,
        after_seconds=None,
        signal="SIGKILL",
        target="group",
    )
    outcome = run_strategy(config, (fault,), POLICY, timeout=120)
    history = read_ledger(run_dir / HISTORY_FILE)
    metrics = compute_metrics(
        history.records, outcome.results, expected_results(TASKS, N)
    )
    return outcome, metrics, history.records


def tasks_with(records: list[dict[str, Any]], event: str, incarnation: int) -> set[int]:
    return {
        r["task"]
        for r in records
        if r["event"] == event and r.get("incarnation") == incarnation
    }


def launch_time(records: list[dict[str, Any]], incarnation: int) -> float:
    return next(
        r["time"]
        for r in records
        if r["event"] == "launch" and r["incarnation"] == incarnation
    )


def test_dbos_pool_reruns_only_unchecked_steps(tmp_path: Path) -> None:
    settings = {
        "workers": 4,
        "batch_size": 1,
        "start_method": "forkserver",
        "recovery_polling_interval": 0.1,
    }
    outcome, metrics, records = run_with_kill(tmp_path, "dbos_pool", settings, 20)

    assert outcome.status == "completed", outcome.error
    assert outcome.kills == 1
    assert outcome.incarnations == 2
    assert metrics.correct
    assert not outcome.leaked

    # A step's row written before the second launch was committed before the
    # kill. Step function ids follow task order, starting at 1.
    second_launch_ms = launch_time(records, 2) * 1000
    database = sqlite3.connect(tmp_path / "dbos_pool" / "dbos_system.sqlite")
    try:
        rows = database.execute(
            "SELECT function_id, completed_at_epoch_ms FROM operation_outputs "
            "WHERE workflow_uuid = ? AND function_name LIKE '%compute_batch'",
            (WORKFLOW_ID,),
        ).fetchall()
    finally:
        database.close()
    assert sorted(function_id for function_id, _ in rows) == list(range(1, TASKS + 1))
    checkpointed = {fid - 1 for fid, done in rows if done < second_launch_ms}
    started_first = tasks_with(records, "start", 1)
    started_second = tasks_with(records, "start", 2)
    in_flight = started_first - checkpointed

    assert checkpointed
    assert not started_second & checkpointed
    assert metrics.recomputed <= len(in_flight)
    assert len(started_second) == TASKS - len(checkpointed)


def checkpoint_lines(path: Path) -> list[int]:
    return [int(line.split()[0]) for line in path.read_text().splitlines()]


def test_checkpoint_pool_skips_written_lines(tmp_path: Path) -> None:
    settings = {"workers": 4, "start_method": "fork"}
    outcome, metrics, records = run_with_kill(tmp_path, "checkpoint_pool", settings, 20)

    assert outcome.status == "completed", outcome.error
    assert outcome.incarnations == 2
    assert metrics.correct
    assert not outcome.leaked

    run_dir = tmp_path / "checkpoint_pool"
    log = (run_dir / "stderr.2.log").read_text()
    match = re.search(r"(\d+) valid lines, (\d+) tasks finished, (\d+) torn", log)
    assert match is not None, log
    loaded_lines, torn = int(match[1]), int(match[3])
    lines = checkpoint_lines(run_dir / CHECKPOINT_FILE)
    written_first = set(lines[:loaded_lines])
    finished_first = tasks_with(records, "finish", 1)
    started_second = tasks_with(records, "start", 2)

    assert torn == 0
    assert sorted(lines) == list(range(TASKS))
    assert written_first <= finished_first
    assert not started_second & written_first
    # Every result computed before the kill but not yet written is computed again.
    assert metrics.recomputed == len(finished_first - written_first)


def test_checkpoint_loader_reports_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(b"0 5\n1 5\n2 5")

    loaded = load_checkpoint(path, tasks=3)

    assert loaded.results == {0: 5, 1: 5}
    assert loaded.lines == 2
    assert loaded.valid_bytes == 8
    assert loaded.torn_bytes == 3


def test_checkpoint_loader_reports_duplicates(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(b"0 5\n1 5\n0 5\n7 5\n")

    loaded = load_checkpoint(path, tasks=3)

    assert loaded.results == {0: 5, 1: 5}
    assert loaded.duplicates == [0]
    assert loaded.out_of_range == [7]
    assert loaded.torn_bytes == 0


def test_checkpoint_loader_stops_at_corrupt_line(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(b"0 5\nx\n1 5\n")

    loaded = load_checkpoint(path, tasks=3)

    assert loaded.results == {0: 5}
    assert loaded.torn_bytes == len(b"x\n1 5\n")


def test_checkpoint_pool_truncates_torn_tail(tmp_path: Path) -> None:
    n = 10
    value = fibonacci_exact(n)
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(f"0 {value}\n1 {value}\n2 ".encode())
    config = StrategyConfig(
        strategy="checkpoint_pool",
        tasks=4,
        n=n,
        run_dir=str(tmp_path),
        result_path=str(tmp_path / "result.json"),
        settings={"workers": 2, "start_method": "fork"},
    )

    results = checkpoint_pool.run(config)

    assert results == expected_results(4, n)
    assert sorted(checkpoint_lines(path)) == [0, 1, 2, 3]
    assert load_checkpoint(path, tasks=4).torn_bytes == 0


def test_dbos_pool_restarts_after_worker_kill(tmp_path: Path) -> None:
    from recovery_lab import run_scenario

    scenario = tmp_path / "worker.yaml"
    scenario.write_text(
        "workload: {tasks: 8, n: 25}\n"
        "strategies: {dbos_pool: {workers: 2}}\n"
        "faults: [{after_tasks: 2, target: worker}]\n"
        "watchdog: 5\nbaseline: false\ntimeout: 120\n"
    )
    study = run_scenario(scenario, tmp_path / "out")
    (run,) = study.find("dbos_pool")
    # The executor raises once its worker is killed; that failure is the fault's
    # doing, so the strategy is restarted rather than reported as crashed.
    assert run.status == "completed", run.outcome.get("error")
    assert run.metrics.incarnations == 2
    assert run.metrics.correct
