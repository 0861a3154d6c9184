"""Scenario validation of failpoints, signals, targets, schedules and expect."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from recovery_lab.errors import Problem, ScenarioError
from recovery_lab.scenario import Fault, load_scenario, scenario_from_dict


def problems(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    return error.value.problems


def keys_and_found(found: list[Problem]) -> list[tuple[str, str]]:
    return [(problem.key, problem.found) for problem in found]


def test_failpoint_with_signal_rejected(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        workload: {tasks: 4}
        strategies: [pool]
        faults:
          - {failpoint: before_task, signal: SIGTERM}
        """,
    )

    assert keys_and_found(found) == [
        ("faults[0].signal", "signal together with failpoint")
    ]
    assert found[0].line == 4


def test_after_effect_needs_effects(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        workload: {tasks: 4}
        strategies: [dbos]
        faults:
          - failpoint: after_effect
        """,
    )

    assert found[0].key == "faults[0].failpoint"
    assert "workload.effects none" in found[0].found


def test_worker_target_needs_workers_and_watchdog(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        workload: {tasks: 4}
        strategies: [pool, dbos]
        faults:
          - {after_tasks: 1, target: worker}
        """,
    )

    assert [problem.key for problem in found] == ["faults[0].target"] * 2
    assert "strategy dbos" in found[0].found
    assert "no watchdog" in found[1].found


def test_stop_signal_needs_stop_seconds(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        workload: {tasks: 4}
        strategies: [pool]
        faults:
          - {after_tasks: 1, signal: SIGSTOP, grace: 1}
          - {after_tasks: 1, stop_seconds: 1}
        """,
    )

    assert keys_and_found(found) == [
        ("faults[0].grace", "grace with SIGSTOP"),
        ("faults[0].signal", "SIGSTOP without stop_seconds"),
        ("faults[1].stop_seconds", "stop_seconds with SIGKILL"),
    ]


def test_schedule_overlapping_faults_rejected(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        workload: {tasks: 4}
        strategies: [pool]
        faults:
          - {after_tasks: 1, incarnation: 3}
        schedule: {seed: 1, kills: 3}
        """,
    )

    assert found[0].key == "schedule.first_incarnation"
    assert "incarnation 3 of faults[0]" in found[0].found


def test_expect_values_checked(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        workload: {tasks: 4}
        strategies: [pool]
        expect: {result_correct: yes please, effects: pass}
        """,
    )

    assert [problem.key for problem in found] == [
        "expect.effects",
        "expect.result_correct",
    ]


def test_schedule_follows_explicit_faults(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            workload: {tasks: 4}
            strategies: [pool]
            watchdog: 5
            faults:
              - {failpoint: before_task, hit: 2}
            schedule:
              seed: 9
              kills: 2
              first_incarnation: 2
              signal: SIGTERM
              target: main
              grace: 1.5
            expect: {faults_landed: pass}
            """
        )
    )
    scenario = load_scenario(path)
    faults = scenario.all_faults()

    assert faults[0] == Fault(1, None, None, "SIGKILL", "group", "before_task", 2)
    assert [fault.incarnation for fault in faults] == [1, 2, 3]
    assert {(f.signal, f.target, f.grace) for f in faults[1:]} == {
        ("SIGTERM", "main", 1.5)
    }
    assert scenario.expect == (("faults_landed", "pass"),)
    data = json.loads(json.dumps(scenario.to_dict()))
    assert scenario_from_dict(data) == scenario
