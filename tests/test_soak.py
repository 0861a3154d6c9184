"""The soak scenario: 20 random kills in one run of each durable strategy.

It takes minutes, so it is deselected by default; run it with ``pytest -m soak``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SCENARIOS

from recovery_lab.results import load_results


@pytest.mark.soak
def test_soak_recovers_from_twenty_kills(tmp_path: Path) -> None:
    results = tmp_path / "soak"
    result = subprocess.run(
        [sys.executable, "-m", "recovery_lab", "run", str(SCENARIOS / "soak.yaml")]
        + ["--results-dir", str(results)],
        capture_output=True,
        text=True,
        timeout=3600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    study = load_results(results)
    assert {run.strategy for run in study.runs} == {"dbos", "hybrid"}
    for run in study.runs:
        assert run.metrics.kills >= 20
        assert run.status == "completed"
        verdicts = {v["name"]: v["verdict"] for v in run.verdicts}
        assert verdicts["effects_exactly_once"] == "pass"
        assert verdicts["no_leaked_process"] == "pass"
