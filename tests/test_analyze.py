"""``analyze`` on the results of a study whose supervisor was SIGKILLed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from conftest import run_cli, run_processes

from recovery_lab.ledger import read_ledger
from recovery_lab.results import load_results

SCENARIO = """\
workload: {tasks: 10, n: 28}
strategies:
  pool: {workers: 1}
faults:
  - {after_seconds: 60}
timeout: 120
"""


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def finishes(history: Path) -> int:
    records = read_ledger(history).records
    return sum(1 for r in records if r["event"] == "finish")


def test_analyze_reads_history_of_killed_study(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(textwrap.dedent(SCENARIO))
    results = tmp_path / "out"
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "recovery_lab", "run", str(scenario)]
        + ["--results-dir", str(results)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    history = results / "runs" / "pool" / "faults-1" / "history.jsonl"
    try:
        wait_for(lambda: history.exists() and finishes(history) >= 2, 60)
    finally:
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait()
        # The strategy runs in a session of its own and outlives its supervisor.
        orphans = run_processes()
        for process in orphans:
            process.kill()
        psutil.wait_procs(orphans, timeout=10)

    study = load_results(results)
    assert [run.mode for run in study.runs] == ["baseline"]
    result = run_cli("analyze", str(results))

    assert result.returncode == 1
    assert "pool faults-1: not in results.json" in result.stdout
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("| pool faults-1 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == [
        "pool faults-1",
        "inconclusive",
        "fail",
        "fail",
        "n/a",
        "inconclusive",
        "inconclusive",
        "n/a",
    ]
    # The partial history is consistent; the verdict is only held back because
    # the planned fault never landed.
    assert "ledger_consistent inconclusive" in result.stdout
    assert "every finish has a start" in result.stdout
    baseline = next(line for line in lines if line.startswith("| pool baseline-1 |"))
    assert "fail" not in baseline
    assert "the run did not end" in result.stdout
