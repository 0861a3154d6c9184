"""Kill targets, signals, the watchdog, schedules and giving up, with real runs."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path
from typing import Any

from conftest import SCENARIOS, run_cli

from recovery_lab import run_scenario
from recovery_lab.ledger import read_ledger
from recovery_lab.results import RunResult
from recovery_lab.scenario import load_scenario


def run_one(tmp_path: Path, text: str) -> tuple[RunResult, list[dict[str, Any]]]:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    study = run_scenario(path, tmp_path / "out")
    run = study.runs[0]
    history = read_ledger(tmp_path / "out" / run.run_dir / "history.jsonl")
    return run, history.records


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == name]


def verdict(run: RunResult, name: str) -> str:
    return next(v["verdict"] for v in run.verdicts if v["name"] == name)


def test_worker_kill_hangs_pool_until_watchdog(tmp_path: Path) -> None:
    run, records = run_one(
        tmp_path,
        """\
        workload: {tasks: 6, n: 28}
        strategies:
          pool: {workers: 2}
        baseline: false
        watchdog: 2
        faults:
          - {after_tasks: 1, target: worker}
        """,
    )

    kill = events(records, "kill")[0]
    assert kill["target"] == "worker"
    assert kill["target_pid"] != kill["pid"]
    assert events(records, "hung")[0]["incarnation"] == 1
    assert run.outcome["hung"] == [1]
    assert run.outcome["faults"][0]["landed"] is True
    assert run.status == "completed"
    assert run.outcome["incarnations"] == 2
    assert verdict(run, "result_correct") == "pass"


def test_main_kill_reports_orphaned_workers(tmp_path: Path) -> None:
    run, records = run_one(
        tmp_path,
        """\
        workload: {tasks: 6, n: 29}
        strategies:
          pool: {workers: 2}
        baseline: false
        faults:
          - {after_tasks: 1, target: main}
        """,
    )

    kill = events(records, "kill")[0]
    assert kill["target_pid"] == kill["pid"]
    leak = events(records, "leak")[0]
    assert leak["incarnation"] == 1
    assert all(p["ppid"] != kill["pid"] for p in leak["processes"])
    assert run.leaked
    assert run.status == "completed"
    assert verdict(run, "no_leaked_process") == "fail"


def test_sigterm_reports_clean_shutdown(tmp_path: Path) -> None:
    run, records = run_one(
        tmp_path,
        """\
        workload: {tasks: 6, n: 24}
        strategies:
          dbos: {polling_interval: 0.1}
        baseline: false
        faults:
          - {after_tasks: 2, signal: SIGTERM}
          - {after_tasks: 1, signal: SIGTERM, grace: 0}
        """,
    )

    clean, forced = events(records, "shutdown")
    assert clean["clean_shutdown"] is True
    assert clean["exit_code"] == 128 + signal.SIGTERM
    assert 0 <= clean["shutdown_seconds"] <= clean["grace"]
    assert forced["sigkill_after_grace"] is True
    assert forced["clean_shutdown"] is False
    exits = events(records, "exit")
    assert exits[1]["exit_code"] == -signal.SIGKILL
    assert run.status == "completed"
    assert verdict(run, "faults_landed") == "pass"


def test_sigstop_freezes_and_resumes(tmp_path: Path) -> None:
    run, records = run_one(
        tmp_path,
        """\
        workload: {tasks: 6, n: 24}
        strategies:
          pool: {workers: 2}
        baseline: false
        faults:
          - {after_tasks: 1, signal: SIGSTOP, stop_seconds: 1}
        """,
    )

    stop = events(records, "stop")[0]
    cont = events(records, "cont")[0]
    assert cont["time"] - stop["time"] >= 1.0
    assert cont["stopped_seconds"] >= 1.0
    # Nothing of the group ran while it was stopped. The supervisor writes each
    # record just after sending its signal, so a process may still write a record
    # in the moment after the stop record, and again just before the cont record.
    settle = 0.1
    frozen = [
        r
        for r in records
        if r["event"] in ("start", "finish")
        and stop["time"] + settle < r["time"] < cont["time"] - settle
    ]
    assert frozen == []
    # The work went on after the freeze, not before it.
    resumed = [
        r
        for r in records
        if r["event"] == "finish" and r["time"] > cont["time"] - settle
    ]
    assert resumed
    assert run.outcome["incarnations"] == 1
    assert run.status == "completed"
    assert run.outcome["faults"][0]["landed"] is True


def test_schedule_same_seed_same_faults(tmp_path: Path) -> None:
    text = (
        "workload: {tasks: 4}\nstrategies: [pool]\n"
        "schedule: {seed: SEED, kills: 5, min_gap: 0.5, max_gap: 3}\n"
    )
    paths = []
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text.replace("SEED", str(seed)))
        paths.append(path)
    first, again, other = (load_scenario(path).all_faults() for path in paths)

    assert first == again
    assert first != other
    assert [fault.incarnation for fault in first] == [1, 2, 3, 4, 5]
    assert all(0.5 <= (fault.after_seconds or 0) <= 3 for fault in first)
    printed = [run_cli("plan", str(path)).stdout for path in paths[:2]]
    assert printed[0] == printed[1].replace("scenario b", "scenario a")
    assert f"after {first[0].after_seconds:g} seconds" in printed[0]


def test_schedule_stored_in_results(tmp_path: Path) -> None:
    run, records = run_one(
        tmp_path,
        """\
        workload: {tasks: 4, n: 20}
        strategies:
          pool: {workers: 1}
        baseline: false
        schedule: {seed: 3, kills: 2, min_gap: 0.05, max_gap: 0.1}
        """,
    )
    scenario = load_scenario(tmp_path / "scenario.yaml")
    expected = [
        {"incarnation": f.incarnation, "fault": f.describe()}
        for f in scenario.all_faults()
    ]

    from recovery_lab.results import load_results

    assert load_results(tmp_path / "out").faults == expected


def test_pool_killed_often_gives_up(tmp_path: Path) -> None:
    run, records = run_one(
        tmp_path,
        """\
        workload: {tasks: 10, n: 30}
        strategies:
          pool: {workers: 1}
        baseline: false
        restart: {max_restarts: 2, delay: 0.05}
        schedule: {seed: 1, kills: 3, min_gap: 0.8, max_gap: 1.2}
        """,
    )

    assert run.status == "gave_up"
    assert run.outcome["incarnations"] == 3
    finished = run.outcome["tasks_finished"]
    assert finished < 10
    assert f"{finished} of 10 tasks finished" in run.outcome["error"]
    assert verdict(run, "result_correct") == "fail"
    assert verdict(run, "all_tasks_finished") == "fail"


def test_shipped_scenarios_plan(tmp_path: Path) -> None:
    for path in sorted(SCENARIOS.glob("*.yaml")):
        result = run_cli("plan", str(path))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("scenario ")
