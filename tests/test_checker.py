"""The checker's verdicts on real runs, and on problems planted in a run on purpose."""

from __future__ import annotations

import json
import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest
from conftest import POSTGRES_URL, postgres_available, run_cli

from recovery_lab import run_scenario
from recovery_lab.checker import Verdict, check_run
from recovery_lab.results import RunResult

DBOS_AFTER_EFFECT = """\
workload: {tasks: 4, n: 20, effects: EFFECTS}
strategies:
  dbos: {worker_concurrency: 1, polling_interval: 0.1}
baseline: false
faults:
  - {failpoint: after_effect, hit: 2}
"""


def run_text(tmp_path: Path, text: str, system_db: str | None = None) -> RunResult:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return run_scenario(path, tmp_path / "out", system_db=system_db).runs[0]


def verdicts_of(run_dir: Path) -> dict[str, Verdict]:
    return {v.name: v for v in check_run(run_dir)}


@pytest.fixture(scope="module")
def idempotent_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the directory of a dbos run with idempotent effects and a failpoint."""
    tmp_path = tmp_path_factory.mktemp("idempotent")
    run = run_text(tmp_path, DBOS_AFTER_EFFECT.replace("EFFECTS", "idempotent"))
    return tmp_path / "out" / run.run_dir


def test_kill_after_effect_duplicates_plain_effect(tmp_path: Path) -> None:
    run = run_text(tmp_path, DBOS_AFTER_EFFECT.replace("EFFECTS", "plain"))
    verdicts = verdicts_of(tmp_path / "out" / run.run_dir)

    assert run.status == "completed"
    assert verdicts["faults_landed"].verdict == "pass"
    assert verdicts["result_correct"].verdict == "pass"
    effects = verdicts["effects_exactly_once"]
    assert effects.verdict == "fail"
    assert "1 duplicated" in effects.evidence
    assert "missing" not in effects.evidence


def test_idempotent_effect_stays_exactly_once(idempotent_run: Path) -> None:
    verdicts = verdicts_of(idempotent_run)

    assert verdicts["faults_landed"].verdict == "pass"
    assert verdicts["effects_exactly_once"].verdict == "pass"
    assert verdicts["no_pending_workflows"].verdict == "pass"
    assert verdicts["ledger_consistent"].verdict == "pass"
    assert all(v.verdict in ("pass", "not_applicable") for v in verdicts.values())


def test_missing_effect_caught(idempotent_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(idempotent_run, run_dir)
    connection = sqlite3.connect(run_dir / "effects.sqlite")
    connection.execute("DELETE FROM effects WHERE task = 2")
    connection.commit()
    connection.close()

    effects = verdicts_of(run_dir)["effects_exactly_once"]

    assert effects.verdict == "fail"
    assert "1 missing (tasks 2)" in effects.evidence


def test_pending_workflow_caught(idempotent_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(idempotent_run, run_dir)
    (run_dir / "workflows.json").unlink()
    connection = sqlite3.connect(run_dir / "dbos_system.sqlite")
    connection.execute(
        "UPDATE workflow_status SET status = 'PENDING' WHERE workflow_uuid = 'task-1'"
    )
    connection.commit()
    connection.close()

    pending = verdicts_of(run_dir)["no_pending_workflows"]

    assert pending.verdict == "fail"
    assert "1 PENDING" in pending.evidence


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (
            {"event": "finish", "task": 0, "pid": 1, "tid": 1, "incarnation": 2},
            "finish of task 0 without start",
        ),
        (
            {"event": "start", "task": 0, "pid": 1, "tid": 1, "incarnation": 1},
            "start of incarnation 1 after its exit",
        ),
        (
            {"event": "launch", "incarnation": 5, "pid": 1},
            "launch of incarnation 5 after incarnation 2",
        ),
    ],
)
def test_inconsistent_ledger_caught(
    idempotent_run: Path, tmp_path: Path, record: dict[str, object], problem: str
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(idempotent_run, run_dir)
    with open(run_dir / "history.jsonl", "a") as history:
        history.write(json.dumps({"time": 0, **record}) + "\n")

    ledger = verdicts_of(run_dir)["ledger_consistent"]

    assert ledger.verdict == "fail"
    assert problem in ledger.evidence


# Imported by every Python process of a run once its directory is on PYTHONPATH.
# The first strategy process starts a sleeper in a session of its own, out of the
# reach of a kill of the group but carrying the run's token: a planted leak.
LEAKER = """\
import os, subprocess, sys
if os.environ.get("RECOVERY_LAB_INCARNATION") == "1" and not os.environ.get("PLANTED"):
    os.environ["PLANTED"] = "1"
    subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        start_new_session=True,
    )
"""


def test_planted_leak_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(LEAKER)
    monkeypatch.setenv("PYTHONPATH", str(site))

    run = run_text(
        tmp_path,
        """\
        workload: {tasks: 2, n: 15}
        strategies:
          pool: {workers: 1}
        """,
    )
    leak = verdicts_of(tmp_path / "out" / run.run_dir)["no_leaked_process"]

    assert run.status == "completed"
    assert leak.verdict == "fail"
    assert "time.sleep(" in leak.evidence
    assert run.leaked[0]["incarnation"] == 1


def test_run_exit_status_follows_expect(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        workload: {tasks: 4, n: 15, effects: plain}
        strategies:
          pool: {workers: 1}
        baseline: false
        faults:
          - {failpoint: after_effect}
        expect: {effects_exactly_once: VALUE, result_correct: pass}
        """
    )
    statuses = {}
    for value in ("fail", "pass"):
        path = tmp_path / f"expect_{value}.yaml"
        path.write_text(text.replace("VALUE", value))
        result = run_cli("run", str(path), "--results-dir", str(tmp_path / value))
        statuses[value] = result.returncode
        if value == "pass":
            assert "effects_exactly_once: expected pass, got fail" in result.stderr

    assert statuses == {"fail": 0, "pass": 1}


@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not reachable")
def test_postgres_workflows_counted_before_drop(tmp_path: Path) -> None:
    run = run_text(
        tmp_path,
        DBOS_AFTER_EFFECT.replace("EFFECTS", "idempotent"),
        system_db=POSTGRES_URL,
    )
    run_dir = tmp_path / "out" / run.run_dir
    counts = json.loads((run_dir / "workflows.json").read_text())

    assert counts == {"counts": {"SUCCESS": 4}}
    assert verdicts_of(run_dir)["no_pending_workflows"].verdict == "pass"
