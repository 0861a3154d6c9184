"""Recovery claims of each strategy, checked on real runs with real SIGKILLs."""

from __future__ import annotations

import pytest

from recovery_lab import assertions, load_scenario, run_scenario
from recovery_lab.ledger import read_ledger
from recovery_lab.results import StudyResults

KILL_AFTER = 10
DBOS_WORKER_CONCURRENCY = 3
CHUNK_SIZE = 6

# Small enough to take seconds per run, large enough that a kill after KILL_AFTER
# tasks lands in the middle of the work.
MIXED = f"""
name: recovery_claims
workload: {{tasks: 24, n: 27}}
strategies:
  pool: {{workers: 4}}
  dbos: {{concurrency: 6, worker_concurrency: {DBOS_WORKER_CONCURRENCY},
          polling_interval: 0.05}}
  hybrid: {{workers: 3, chunk_size: {CHUNK_SIZE}}}
faults:
  - after_tasks: {KILL_AFTER}
restart: {{max_restarts: 2, delay: 0.1}}
baseline: false
timeout: 120
"""

SINGLE_CHUNK = f"""
name: single_chunk
workload: {{tasks: 24, n: 27}}
strategies:
  hybrid: {{workers: 3, chunk_size: 24}}
faults:
  - after_tasks: {KILL_AFTER}
restart: {{max_restarts: 2, delay: 0.1}}
baseline: false
timeout: 120
"""


def _study(tmp_path_factory: pytest.TempPathFactory, text: str) -> StudyResults:
    directory = tmp_path_factory.mktemp("study")
    path = directory / "scenario.yaml"
    path.write_text(text)
    return run_scenario(load_scenario(path), directory / "results")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> StudyResults:
    return _study(tmp_path_factory, MIXED)


@pytest.fixture(scope="module")
def single_chunk(tmp_path_factory: pytest.TempPathFactory) -> StudyResults:
    return _study(tmp_path_factory, SINGLE_CHUNK)


@pytest.mark.parametrize("strategy", ["pool", "dbos", "hybrid"])
def test_strategy_recovers_correctly(mixed: StudyResults, strategy: str) -> None:
    (run,) = mixed.find(strategy)
    assertions.assert_recovered(run)
    assertions.assert_verdicts_pass(run)
    assertions.assert_verdict(run, "no_leaked_process")
    assert run.metrics.kills == 1
    assert run.metrics.incarnations == 2


def test_pool_recomputes_work_finished_before_kill(mixed: StudyResults) -> None:
    (run,) = mixed.find("pool")
    assertions.assert_recomputed_at_least(run, KILL_AFTER)
    assert run.metrics.finished_before_kill[0] >= KILL_AFTER


def test_dbos_recomputes_only_attempts_in_flight(mixed: StudyResults) -> None:
    (run,) = mixed.find("dbos")
    in_flight_bound = DBOS_WORKER_CONCURRENCY
    assert run.metrics.recomputed + run.metrics.lost_in_flight <= in_flight_bound


def test_dbos_runs_every_task_in_one_process(mixed: StudyResults) -> None:
    (run,) = mixed.find("dbos")
    by_incarnation = {p.incarnation for p in run.metrics.processes}
    assert run.metrics.distinct_pids == len(by_incarnation)


def test_hybrid_recomputes_at_most_one_chunk(mixed: StudyResults) -> None:
    (run,) = mixed.find("hybrid")
    assert run.metrics.recomputed + run.metrics.lost_in_flight <= CHUNK_SIZE


def test_hybrid_runs_tasks_in_several_processes(mixed: StudyResults) -> None:
    (run,) = mixed.find("hybrid")
    parents = {p.ppid for p in run.metrics.processes}
    assert run.metrics.distinct_pids > 1
    assert len(parents) >= 1


def test_hybrid_single_chunk_recomputes_finished_work(
    single_chunk: StudyResults,
) -> None:
    (run,) = single_chunk.find("hybrid")
    assertions.assert_recovered(run)
    assertions.assert_recomputed_at_least(run, KILL_AFTER)


def test_history_keeps_every_record_across_kills(mixed: StudyResults) -> None:
    for run in mixed.runs:
        history = read_ledger(mixed.run_path(run) / "history.jsonl")
        assert history.torn_lines == []
        finishes_before_kill = [
            r
            for r in history.records
            if r["event"] == "finish" and r["incarnation"] == 1
        ]
        # The supervisor counted these finishes before it sent the kill, so every
        # one of them must still be in the file afterwards.
        assert len(finishes_before_kill) >= run.metrics.finished_before_kill[0]
        events = [r["event"] for r in history.records]
        assert events.count("launch") == 2
        assert events.count("kill") == 1
        assert events.count("exit") == 2
        assert events[-1] == "end"
