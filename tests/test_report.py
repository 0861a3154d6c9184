"""Reports, repeated runs and comparisons, built from real small runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from recovery_lab.compare import MetricDifference, compare_studies
from recovery_lab.report import render_markdown
from recovery_lab.report_document import build_document
from recovery_lab.report_html import render_html
from recovery_lab.report_plots import build_plots
from recovery_lab.results import load_results
from recovery_lab.stats import Summary
from recovery_lab.timeline import LOST, RECOMPUTED, load_timeline

# Two strategies, eight short tasks and one kill: a run takes a few seconds. The
# tasks are long enough (about 17 ms) for the polled kill to land before the end.
TINY_SCENARIO = """\
name: tiny
description: Eight short tasks, one kill after four finished.
workload:
  tasks: 8
  n: 26
strategies:
  pool:
    workers: 2
  hybrid:
    workers: 2
    chunk_size: 4
faults:
  - after_tasks: 4
restart:
  max_restarts: 2
  delay: 0.1
timeout: 60
"""

POOL_ONLY_SCENARIO = """\
name: {name}
workload:
  tasks: 12
  n: 26
strategies:
  pool:
    workers: 2
faults:
  - after_tasks: {after}
restart:
  delay: 0.1
timeout: 60
"""

# A reference to anything that a browser would fetch over the network.
NETWORK_REFERENCE = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(\s*["']?\s*(?:https?:)?//""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the tiny scenario twice: with --repeat 2 and with one repetition."""
    directory = tmp_path_factory.mktemp("report")
    scenario = directory / "tiny.yaml"
    scenario.write_text(TINY_SCENARIO)
    repeated = run_cli(
        "run", str(scenario), "--repeat", "2", "--results-dir", str(directory / "a")
    )
    single = run_cli("run", str(scenario), "--results-dir", str(directory / "b"))
    return {
        "a": directory / "a",
        "b": directory / "b",
        "repeated": repeated,
        "single": single,
    }


def test_run_repeat_makes_runs_per_repetition(runs: dict[str, Any]) -> None:
    result = runs["repeated"]
    assert result.returncode == 0, result.stderr
    data = json.loads((runs["a"] / "results.json").read_text())
    names = [(r["strategy"], r["mode"], r["repetition"]) for r in data["runs"]]
    assert names == [
        ("pool", "baseline", 1),
        ("pool", "faults", 1),
        ("pool", "faults", 2),
        ("hybrid", "baseline", 1),
        ("hybrid", "faults", 1),
        ("hybrid", "faults", 2),
    ]
    assert data["scenario"]["repetitions"] == 2


def test_run_prints_median_range_and_paths(runs: dict[str, Any]) -> None:
    stdout = runs["repeated"].stdout
    assert re.search(r"\d+\.\d\d \(\d+\.\d\d-\d+\.\d\d\)", stdout), stdout
    assert str(runs["a"] / "results.json") in stdout
    assert str(runs["a"] / "report.html") in stdout
    assert str(runs["a"] / "report.md") in stdout


def test_run_progress_shows_each_kill(runs: dict[str, Any]) -> None:
    stderr = runs["repeated"].stderr
    kills = re.findall(r"SIGKILL sent to incarnation 1 after \d+ tasks", stderr)
    assert len(kills) == 4, stderr
    assert "incarnation 2 launched" in stderr
    assert "(8/8 tasks done)" in stderr


def test_report_has_timeline_per_run_with_kills(runs: dict[str, Any]) -> None:
    results_dir = runs["a"]
    study = load_results(results_dir)
    page = (results_dir / "report.html").read_text()
    for run in study.runs:
        name = f"{run.strategy}-{run.mode}-{run.repetition}"
        svg_path = results_dir / "plots" / f"timeline-{name}.svg"
        assert svg_path.stat().st_size > 1000, svg_path
        svg = svg_path.read_text()
        assert "<rect" in svg or "<path" in svg
        kill_lines = re.findall(rf'id="kill-line-{name}-\d+"', svg)
        assert len(kill_lines) == run.metrics.kills, name
        assert f'id="kill-line-{name}-1"' in page if run.metrics.kills else True
    for plot in ("strategies.svg", "kills.svg"):
        assert (results_dir / "plots" / plot).stat().st_size > 1000
    assert page.count("<svg") == len(study.runs) + 2


def test_report_timeline_shows_lost_work(runs: dict[str, Any]) -> None:
    results_dir = runs["a"]
    timeline = load_timeline(results_dir / "runs/pool/faults-1/history.jsonl")
    assert len(timeline.kills) == 1
    kill = timeline.kills[0]
    # The pool starts over, so the kill costs every task it had finished,
    # including any that finished between the supervisor's count and the kill.
    finished_first = {
        a.task for a in timeline.attempts if a.incarnation == 1 and a.kind != LOST
    }
    assert kill.finished_before >= 4
    assert kill.redone == len(finished_first)
    kinds = {attempt.kind for attempt in timeline.attempts}
    assert RECOMPUTED in kinds
    lost = [a for a in timeline.attempts if a.kind == LOST]
    assert all(a.end == pytest.approx(kill.time) for a in lost)
    markdown = (results_dir / "report.md").read_text()
    assert "## Work lost at each kill" in markdown
    assert "![" in markdown
    assert "plots/timeline-pool-faults-1.svg" in markdown


def test_report_html_loads_no_network_resource(runs: dict[str, Any]) -> None:
    page = (runs["a"] / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not NETWORK_REFERENCE.findall(page)
    # XML namespace names are identifiers that nothing fetches; no other URL
    # may appear at all.
    without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", page)
    assert "http://" not in without_namespaces
    assert "https://" not in without_namespaces
    assert "<script" not in page
    assert '<link rel="stylesheet"' not in page


def test_report_command_rebuilds_both_files(runs: dict[str, Any]) -> None:
    results_dir = runs["b"]
    assert runs["single"].returncode == 0, runs["single"].stderr
    (results_dir / "report.html").unlink()
    (results_dir / "report.md").unlink()
    result = run_cli("report", str(results_dir))
    assert result.returncode == 0, result.stderr
    assert (results_dir / "report.html").stat().st_size > 10000
    assert (results_dir / "report.md").stat().st_size > 1000


def test_report_renders_verdicts_when_present(runs: dict[str, Any]) -> None:
    results_dir = runs["b"]
    study = load_results(results_dir)
    plots = build_plots(results_dir, study)
    study.runs[1].verdicts = [
        {"name": "no_lost_finish", "passed": False, "evidence": ["task 3 twice"]},
    ]
    blocks = build_document(study, plots)
    page = render_html(blocks)
    assert ">Verdicts</h2>" in page
    assert "no_lost_finish" in page
    assert "task 3 twice" in page
    assert "| pool faults-1 | no_lost_finish | FAIL | task 3 twice |" in (
        render_markdown(blocks)
    )


def test_compare_same_results_marks_nothing(runs: dict[str, Any]) -> None:
    result = run_cli("compare", str(runs["a"]), str(runs["a"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b0 of \d+ differences", result.stdout)


def test_compare_two_results_dirs(runs: dict[str, Any], tmp_path: Path) -> None:
    output = tmp_path / "comparison.md"
    result = run_cli(
        "compare", str(runs["a"]), str(runs["b"]), "--markdown", str(output)
    )
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    assert "? marks a difference between two single runs" in result.stdout
    table = output.read_text()
    assert "| pool | faults | time s |" in table
    assert "| hybrid | faults | recomputed |" in table
    comparison = compare_studies(load_results(runs["a"]), load_results(runs["b"]))
    marked = "*" if comparison.marked else ""
    assert (result.returncode == 1) == bool(marked)


def test_compare_rule_uses_ranges() -> None:
    noisy = Summary((1.0, 2.0, 3.0))
    shifted = Summary((1.5, 2.5, 3.5))
    far = Summary((10.0, 11.0, 12.0))
    assert not MetricDifference("pool", "faults", "total_time", noisy, shifted).marked
    assert MetricDifference("pool", "faults", "total_time", noisy, far).marked
    assert not MetricDifference("pool", "faults", "total_time", far, far).marked
    assert not MetricDifference(
        "pool", "faults", "total_time", noisy, Summary(())
    ).marked
    single = Summary((5.0,))
    assert MetricDifference("pool", "faults", "total_time", noisy, single).mark == "*"
    inside = Summary((2.5,))
    assert MetricDifference("pool", "faults", "total_time", noisy, inside).mark == ""
    other = Summary((6.0,))
    assert MetricDifference("pool", "faults", "total_time", single, other).mark == "?"


def test_compare_missing_dir_is_usage_error(tmp_path: Path) -> None:
    result = run_cli("compare", str(tmp_path / "nothing"), str(tmp_path))
    assert result.returncode == 2
    assert "not a directory of study results" in result.stderr
    assert "Traceback" not in result.stderr


def test_suite_runs_and_compares_scenarios(tmp_path: Path) -> None:
    paths = []
    for name, after in (("early", 1), ("late", 4)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(POOL_ONLY_SCENARIO.format(name=name, after=after))
        paths.append(str(path))
    suite_dir = tmp_path / "suite"
    result = run_cli("suite", *paths, "--results-dir", str(suite_dir))
    assert result.returncode == 0, result.stderr
    for name in ("early", "late"):
        assert (suite_dir / name / "results.json").is_file()
        assert (suite_dir / name / "report.html").is_file()
    page = (suite_dir / "suite.html").read_text()
    assert 'href="early/report.html"' in page
    assert 'href="late/report.html"' in page
    assert not NETWORK_REFERENCE.findall(page)
    markdown = (suite_dir / "suite.md").read_text()
    assert "| early | pool |" in markdown
    assert "| late | pool |" in markdown
    assert str(suite_dir / "suite.html") in result.stdout


def test_summary_format_shows_median_and_range() -> None:
    assert Summary(()).format(2) == "-"
    assert Summary((1.0,)).format(2) == "1.00"
    assert Summary((1.0, 2.0, 4.0)).format(2) == "2.00 (1.00-4.00)"
    assert Summary((0.0, 1.0)).format(0) == "0.5 (0-1)"
    assert Summary((1.001, 1.004)).format(2) == "1.00"
    assert Summary((2.0, 3.0, 4.0)).format(2, "x") == "3.00x (2.00-4.00)"
