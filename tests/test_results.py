"""Loading results directories: clear errors for old or malformed ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from recovery_lab.errors import ResultsError
from recovery_lab.metrics import RunMetrics
from recovery_lab.results import RunResult, StudyResults, load_results, save_results


def write_valid(directory: Path) -> dict[str, Any]:
    """Write a valid results.json with one run and return its document."""
    metrics = RunMetrics(
        total_time=1.5,
        incarnations=2,
        kills=1,
        tasks=4,
        finished_executions=6,
        distinct_finished=4,
        recomputed=2,
        lost_in_flight=1,
        wasted_cpu=0.2,
        useful_cpu=0.4,
        recovery_times=[0.3],
        distinct_pids=2,
        correct=True,
    )
    run = RunResult(
        strategy="pool",
        mode="faults",
        repetition=1,
        run_dir="runs/pool/faults-1",
        settings={"workers": 2},
        outcome={"status": "completed"},
        metrics=metrics,
    )
    study = StudyResults(
        scenario={"name": "handmade"},
        created="2024-01-01T00:00:00+0000",
        system_database="sqlite",
        machine={"cpus": 2},
        runs=[run],
    )
    directory.mkdir(exist_ok=True)
    save_results(directory, study)
    return study.to_dict()


def test_load_results_round_trip(tmp_path: Path) -> None:
    write_valid(tmp_path)
    study = load_results(tmp_path)
    assert study.runs[0].metrics.recomputed == 2
    assert study.runs[0].status == "completed"


def _drop_run_field(data: dict[str, Any]) -> None:
    del data["runs"][0]["metrics"]["total_time"]
    del data["runs"][0]["strategy"]


def _wrong_type(data: dict[str, Any]) -> None:
    data["runs"][0]["repetition"] = "one"
    data["runs"][0]["metrics"]["correct"] = "yes"


CASES: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("missing dir", lambda d: None, ["not a directory of study results"]),
    (
        "missing results.json",
        lambda d: d.mkdir(),
        ["results.json: not found", "a results directory?"],
    ),
    (
        "invalid JSON",
        lambda d: (d.mkdir(), (d / "results.json").write_text("{not json")),
        ["cannot read results", "line 1"],
    ),
]


@pytest.mark.parametrize(
    ("case", "make", "expected"), CASES, ids=[case[0] for case in CASES]
)
def test_load_results_rejects_unreadable(
    tmp_path: Path, case: str, make: Callable[[Path], None], expected: list[str]
) -> None:
    directory = tmp_path / "results"
    make(directory)
    with pytest.raises(ResultsError) as info:
        load_results(directory)
    for text in expected:
        assert text in str(info.value)


EDITS: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    (
        "wrong schema",
        lambda data: data.update(schema="something.else"),
        ["not a recovery_lab results file", "'recovery_lab.results'"],
    ),
    (
        "wrong version",
        lambda data: data.update(version=99),
        ["schema version 99 is not supported", "reads versions 1, 2"],
    ),
    (
        "missing field",
        _drop_run_field,
        [
            "runs[0]: missing field 'strategy'",
            "runs[0].metrics: missing field 'total_time'",
        ],
    ),
    (
        "wrong type",
        _wrong_type,
        [
            "runs[0]: field 'repetition' must be of type integer, found str",
            "runs[0].metrics: field 'correct' must be of type boolean, found str",
        ],
    ),
    (
        "bad process row",
        lambda data: data["runs"][0]["metrics"].update(processes=[{"pid": 1}]),
        ["malformed results"],
    ),
]


@pytest.mark.parametrize(
    ("case", "edit", "expected"), EDITS, ids=[edit[0] for edit in EDITS]
)
def test_load_results_rejects_malformed(
    tmp_path: Path,
    case: str,
    edit: Callable[[dict[str, Any]], None],
    expected: list[str],
) -> None:
    data = write_valid(tmp_path)
    edit(data)
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError) as info:
        load_results(tmp_path)
    for text in expected:
        assert text in str(info.value)


def test_load_results_ignores_unknown_fields(tmp_path: Path) -> None:
    data = write_valid(tmp_path)
    data["runs"][0]["verdicts"] = []
    data["runs"][0]["metrics"]["new_metric"] = 3
    (tmp_path / "results.json").write_text(json.dumps(data))
    assert load_results(tmp_path).runs[0].metrics.kills == 1


def test_report_command_malformed_exits_2(tmp_path: Path) -> None:
    data = write_valid(tmp_path)
    data["version"] = 0
    (tmp_path / "results.json").write_text(json.dumps(data))
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 2
    assert "schema version 0 is not supported" in result.stderr
    assert "Traceback" not in result.stderr
