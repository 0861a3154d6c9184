"""The bench command runs end to end at a tiny size and prints its ratios."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_cli


def test_bench_tiny_run_prints_ratios(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"

    completed = run_cli(
        "bench",
        "--sections",
        "nofault,checkpoint,scale",
        "--lengths",
        "0.001",
        "--run-seconds",
        "0.01",
        "--max-tasks",
        "8",
        "--repeats",
        "1",
        "--strategies",
        "pool,checkpoint_pool,dbos_pool:batch_size=2",
        "--probe-steps",
        "5",
        "--scale",
        "10",
        "--scale-strategies",
        "pool,checkpoint_pool",
        "--output",
        str(output),
        cwd=tmp_path,
    )

    assert completed.returncode == 0, completed.stderr
    assert "ratio to pool" in completed.stdout
    assert re.search(
        r"dbos_pool batch_size=2 \|\s+[\d.]+ \|\s+[\d.]+", completed.stdout
    )
    assert "load average at end" in completed.stdout
    data = json.loads(output.read_text())
    assert [row["strategy"] for row in data["nofault"]] == [
        "pool",
        "checkpoint_pool",
        "dbos_pool batch_size=2",
    ]
    assert all(row["correct"] for row in data["nofault"])
    assert data["checkpoint"][0]["database"] == "sqlite"
    assert [row["tasks"] for row in data["scale"]] == [10, 10]


@pytest.mark.parametrize(
    "option",
    [
        ["--lengths", "-1"],
        ["--lengths", "abc"],
        ["--run-seconds", "1e400"],
        ["--repeats", "0"],
        ["--scale", "0"],
    ],
)
def test_bench_invalid_option_exits_2(option: list[str]) -> None:
    result = run_cli("bench", *option)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert option[0] in result.stderr
