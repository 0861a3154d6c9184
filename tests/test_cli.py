"""The command line: bad input, help, report rebuilding, interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_cli, run_processes

BAD_SCENARIOS = {
    "unknown key": (
        "workload: {tasks: 4}\nstrategies: [pool]\nretries: 3\n",
        "retries",
    ),
    "wrong type": ("workload: {tasks: ten}\nstrategies: [pool]\n", "workload.tasks"),
    "unknown strategy": ("workload: {tasks: 4}\nstrategies: [celery]\n", "strategies"),
    "zero count": ("workload: {tasks: 0}\nstrategies: [pool]\n", "workload.tasks"),
    "negative count": (
        "workload: {tasks: 4}\nstrategies: {pool: {workers: -2}}\n",
        "strategies.pool.workers",
    ),
    "kill past the end": (
        "workload: {tasks: 4}\nstrategies: [pool]\nfaults:\n  - after_tasks: 4\n",
        "faults[0].after_tasks",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_run_bad_scenario_exits_2_without_results(tmp_path: Path, case: str) -> None:
    text, key = BAD_SCENARIOS[case]
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(text)
    results_dir = tmp_path / "results"
    result = run_cli("run", str(scenario), "--results-dir", str(results_dir))
    assert result.returncode == 2
    assert f"{scenario}:" in result.stderr
    assert key in result.stderr
    assert "Traceback" not in result.stderr
    assert not results_dir.exists()


def test_run_reports_every_problem_once_per_line(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        "workload: {tasks: 0, n: 99}\nstrategies: [celery]\nretries: 3\n"
    )
    result = run_cli("run", str(scenario), "--results-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4
    assert all(line.startswith(f"{scenario}:") for line in lines)


def test_run_missing_scenario_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = run_cli("run", str(missing))
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_run_existing_results_dir_exits_2(tmp_path: Path) -> None:
    result = run_cli(
        "run",
        str(REPO_ROOT / "scenarios" / "no_faults.yaml"),
        "--results-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "already exists" in result.stderr


def test_run_unsupported_system_db_exits_2(tmp_path: Path) -> None:
    result = run_cli(
        "run",
        str(REPO_ROOT / "scenarios" / "no_faults.yaml"),
        "--results-dir",
        str(tmp_path / "out"),
        "--system-db",
        "mysql://root@127.0.0.1/test",
    )
    assert result.returncode == 2
    assert "mysql" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [[], ["run"], ["report"]])
def test_help_describes_options(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "usage:" in result.stdout


def test_run_help_names_units() -> None:
    result = run_cli("run", "--help")
    assert "--system-db" in result.stdout
    assert "--results-dir" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{not json", "cannot read results"),
        (json.dumps({"schema": "other"}), "not a recovery_lab results file"),
        (
            json.dumps({"schema": "recovery_lab.results", "version": 99}),
            "version 99 is not supported",
        ),
        (
            json.dumps({"schema": "recovery_lab.results", "version": 1}),
            "malformed results",
        ),
    ],
)
def test_report_bad_results_dir_exits_2(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_run_then_report_rebuilds_markdown(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(
        "workload: {tasks: 12, n: 26}\nstrategies: [pool]\n"
        "faults: [{after_tasks: 3}]\nbaseline: false\n"
    )
    results_dir = tmp_path / "out"
    result = run_cli("run", str(scenario), "--results-dir", str(results_dir))
    assert result.returncode == 0, result.stderr
    assert f"results: {results_dir / 'results.json'}" in result.stdout
    report = results_dir / "report.md"
    first = report.read_text()
    report.unlink()
    rebuilt = run_cli("report", str(results_dir))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert report.read_text() == first
    assert "| pool | faults-1 | completed |" in first


def test_run_sigterm_kills_strategy_and_exits_130(tmp_path: Path) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(
        "workload: {tasks: 40, n: 32}\nstrategies: {pool: {workers: 2}}\n"
        "baseline: true\n"
    )
    results_dir = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "recovery_lab", "run", str(scenario)]
        + ["--results-dir", str(results_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    history = results_dir / "runs" / "pool" / "baseline-1" / "history.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if history.exists() and b'"start"' in history.read_bytes():
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr
    events = [json.loads(line)["event"] for line in history.read_text().splitlines()]
    assert "interrupted" in events


def test_strategy_dies_with_killed_supervisor(tmp_path: Path) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(
        "workload: {tasks: 40, n: 32}\nstrategies: {hybrid: {workers: 2}}\n"
    )
    results_dir = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "recovery_lab", "run", str(scenario)]
        + ["--results-dir", str(results_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    history = results_dir / "runs" / "hybrid" / "baseline-1" / "history.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if history.exists() and b'"start"' in history.read_bytes():
            break
        time.sleep(0.05)
    assert run_processes(), "the strategy did not start"
    process.kill()
    process.wait()
    # The strategy's watchdog notices that its parent is gone and kills its group.
    deadline = time.monotonic() + 10
    while run_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_processes() == []


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("postgresql://postgres@127.0.0.1:abc/postgres", "invalid system database URL"),
        ("postgresql://postgres@127.0.0.1:99999/postgres", "invalid port 99999"),
    ],
)
def test_run_invalid_system_db_url_exits_2(
    tmp_path: Path, option: str, message: str
) -> None:
    result = run_cli(
        "run",
        str(REPO_ROOT / "scenarios" / "no_faults.yaml"),
        "--results-dir",
        str(tmp_path / "out"),
        "--system-db",
        option,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("results_dir", "message"),
    [
        ("afile/sub", "is not a directory"),
        ("x" * 300, "longer than 255 bytes"),
    ],
)
def test_run_bad_results_dir_exits_2(
    tmp_path: Path, results_dir: str, message: str
) -> None:
    (tmp_path / "afile").write_text("")
    result = run_cli(
        "run",
        str(REPO_ROOT / "scenarios" / "no_faults.yaml"),
        "--results-dir",
        str(tmp_path / results_dir),
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_run_missing_dbos_config_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "dbos-config.yaml"
    result = run_cli(
        "run",
        str(REPO_ROOT / "scenarios" / "no_faults.yaml"),
        "--dbos-config",
        str(missing),
    )
    assert result.returncode == 2
    assert f"{missing}: DBOS configuration file not found" in result.stderr


def test_report_of_unfinished_study_exits_1(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text("workload: {tasks: 4, n: 15}\nstrategies: [pool]\n")
    results_dir = tmp_path / "out"
    assert (
        run_cli("run", str(scenario), "--results-dir", str(results_dir)).returncode == 0
    )
    document = json.loads((results_dir / "results.json").read_text())
    assert document["state"] == "complete"
    document["state"] = "running"
    (results_dir / "results.json").write_text(json.dumps(document))
    result = run_cli("report", str(results_dir))
    assert result.returncode == 1
    assert "the study is running" in result.stderr


def test_plan_into_closed_pipe_prints_no_traceback() -> None:
    plan = subprocess.Popen(
        [sys.executable, "-m", "recovery_lab", "plan"]
        + [str(REPO_ROOT / "scenarios" / "soak.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert plan.stdout is not None
    # Closed before the command writes anything, as ``plan | true`` would.
    plan.stdout.close()
    _, stderr = plan.communicate(timeout=60)
    assert b"Traceback" not in stderr
