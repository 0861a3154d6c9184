"""Failpoints fire at their named points, in real runs with real SIGKILLs.

Each run arms one failpoint per incarnation, so one run of a strategy tests all
of its failpoints in turn, and the last incarnation, without a fault, completes.
"""

from __future__ import annotations

import signal
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest

from recovery_lab import run_scenario
from recovery_lab.checker import check_run
from recovery_lab.failpoints import STRATEGY_FAILPOINTS
from recovery_lab.ledger import read_ledger
from recovery_lab.results import RunResult


def run_failpoints(
    tmp_path: Path, strategy: str, settings: str, faults: list[str]
) -> tuple[RunResult, Path]:
    fault_lines = "".join(f"  - {fault}\n" for fault in faults)
    text = textwrap.dedent(
        f"""\
        workload: {{tasks: 6, n: 22, effects: plain}}
        strategies:
          {strategy}: {settings}
        baseline: false
        restart: {{max_restarts: {len(faults)}, delay: 0.05}}
        timeout: 120
        faults:
        """
    )
    path = tmp_path / "failpoints.yaml"
    path.write_text(text + fault_lines)
    study = run_scenario(path, tmp_path / "out")
    run = study.runs[0]
    return run, tmp_path / "out" / run.run_dir


def failpoint_record(records: list[dict[str, Any]], incarnation: int) -> dict[str, Any]:
    found = [
        r
        for r in records
        if r["event"] == "failpoint" and r["incarnation"] == incarnation
    ]
    assert len(found) == 1, f"incarnation {incarnation}: failpoint records {found}"
    return found[0]


def process_records(
    records: list[dict[str, Any]], incarnation: int, pid: int
) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r.get("incarnation") == incarnation
        and r.get("pid") == pid
        and r["event"] in ("start", "finish", "failpoint")
    ]


def effect_rows(run_dir: Path, task: int, incarnation: int) -> int:
    connection = sqlite3.connect(run_dir / "effects.sqlite")
    try:
        row = connection.execute(
            "SELECT COUNT(*) FROM effects WHERE task = ? AND incarnation = ?",
            (task, incarnation),
        ).fetchone()
    finally:
        connection.close()
    return int(row[0])


def check_fired_last(
    records: list[dict[str, Any]], incarnation: int, name: str
) -> dict[str, Any]:
    """Check that a failpoint fired in an incarnation as that process's last record."""
    record = failpoint_record(records, incarnation)
    assert record["name"] == name
    mine = process_records(records, incarnation, record["pid"])
    assert mine[-1] == record, f"{name}: records after the failpoint: {mine}"
    exits = [
        r for r in records if r["event"] == "exit" and r["incarnation"] == incarnation
    ]
    assert exits[0]["exit_code"] == -signal.SIGKILL
    return record


def test_pool_failpoints_fire_where_they_say(tmp_path: Path) -> None:
    names = STRATEGY_FAILPOINTS["pool"]
    faults = [f"{{failpoint: {name}, hit: 2}}" for name in names]
    run, run_dir = run_failpoints(tmp_path, "pool", "{workers: 2}", faults)
    records = read_ledger(run_dir / "history.jsonl").records

    assert run.status == "completed"
    assert run.outcome["incarnations"] == len(names) + 1
    before = check_fired_last(records, 1, "before_task")
    task = before["task"]
    starts = [
        r
        for r in process_records(records, 1, before["pid"])
        if r["event"] == "start" and r["task"] == task
    ]
    assert starts == []

    computed = check_fired_last(records, 2, "after_compute")
    mine = process_records(records, 2, computed["pid"])
    assert mine[-2]["event"] == "finish"
    assert mine[-2]["task"] == computed["task"]
    assert effect_rows(run_dir, computed["task"], 2) == 0

    effect = check_fired_last(records, 3, "after_effect")
    assert effect_rows(run_dir, effect["task"], 3) == 1


def test_dbos_after_checkpoint_keeps_recorded_step(tmp_path: Path) -> None:
    faults = ["{failpoint: after_checkpoint, hit: 3}", "{failpoint: after_effect}"]
    run, run_dir = run_failpoints(
        tmp_path, "dbos", "{worker_concurrency: 1, polling_interval: 0.1}", faults
    )
    records = read_ledger(run_dir / "history.jsonl").records

    assert run.status == "completed"
    checkpoint = check_fired_last(records, 1, "after_checkpoint")
    task = checkpoint["task"]
    finished_first = [
        r
        for r in records
        if r["event"] == "finish" and r["incarnation"] == 1 and r["task"] == task
    ]
    assert len(finished_first) == 1
    # DBOS recorded the step's output, so no later incarnation computes it again.
    later_starts = [
        r
        for r in records
        if r["event"] == "start" and r["incarnation"] > 1 and r["task"] == task
    ]
    assert later_starts == []

    effect = check_fired_last(records, 2, "after_effect")
    assert effect_rows(run_dir, effect["task"], 2) == 1


def test_dbos_pool_after_checkpoint_keeps_recorded_step(tmp_path: Path) -> None:
    faults = ["{failpoint: after_checkpoint, hit: 2}"]
    run, run_dir = run_failpoints(tmp_path, "dbos_pool", "{workers: 2}", faults)
    records = read_ledger(run_dir / "history.jsonl").records

    assert run.status == "completed"
    checkpoint = check_fired_last(records, 1, "after_checkpoint")
    task = checkpoint["task"]
    # DBOS recorded this step's output before the kill, so it is not run again.
    later_starts = [
        r
        for r in records
        if r["event"] == "start" and r["incarnation"] > 1 and r["task"] == task
    ]
    assert later_starts == []


def test_hybrid_between_chunks_resumes_next_chunk(tmp_path: Path) -> None:
    faults = ["{failpoint: between_chunks}", "{failpoint: after_checkpoint, hit: 2}"]
    settings = "{workers: 2, chunk_size: 2, start_method: forkserver}"
    run, run_dir = run_failpoints(tmp_path, "hybrid", settings, faults)
    records = read_ledger(run_dir / "history.jsonl").records

    assert run.status == "completed"
    between = check_fired_last(records, 1, "between_chunks")
    assert between["chunk"] == 1
    first_chunk = {0, 1}
    finished = {
        r["task"] for r in records if r["event"] == "finish" and r["incarnation"] == 1
    }
    assert finished == first_chunk
    # Chunk 0 was checkpointed before the kill, so no later incarnation reruns it.
    rerun = {
        r["task"]
        for r in records
        if r["event"] == "start" and r["incarnation"] > 1 and r["task"] in first_chunk
    }
    assert rerun == set()

    checkpoint = check_fired_last(records, 2, "after_checkpoint")
    assert checkpoint["chunk"] == 1


def test_failpoint_never_hit_makes_verdicts_inconclusive(tmp_path: Path) -> None:
    # With one chunk for all six tasks, the hybrid workflow never gets between
    # two chunks.
    run, run_dir = run_failpoints(
        tmp_path,
        "hybrid",
        "{workers: 2, chunk_size: 6}",
        ["{failpoint: between_chunks}"],
    )

    assert run.status == "completed"
    fault = run.outcome["faults"][0]
    assert fault["fired"] is False
    assert fault["landed"] is False
    assert "reached 0 times" in fault["evidence"]
    verdicts = {v.name: v.verdict for v in check_run(run_dir)}
    assert verdicts["faults_landed"] == "inconclusive"
    assert verdicts["result_correct"] == "inconclusive"
    assert "pass" not in verdicts.values()


@pytest.mark.parametrize("strategy", ["pool", "dbos", "hybrid"])
def test_unsupported_failpoint_lists_known_names(tmp_path: Path, strategy: str) -> None:
    from recovery_lab.errors import ScenarioError
    from recovery_lab.scenario import load_scenario

    path = tmp_path / "bad.yaml"
    path.write_text(
        f"workload: {{tasks: 4}}\nstrategies: [{strategy}]\n"
        "faults:\n  - failpoint: between_chunks\n"
    )
    if strategy == "hybrid":
        assert load_scenario(path).faults[0].failpoint == "between_chunks"
        return
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    problem = error.value.problems[0]
    assert problem.key == "faults[0].failpoint"
    assert problem.line == 4
    assert "known failpoints: before_task, after_compute" in problem.allowed
