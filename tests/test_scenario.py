"""Tests of scenario loading and validation."""

from __future__ import annotations

import json
import os
import pickle
import textwrap
from pathlib import Path

import pytest

from recovery_lab.errors import Problem, ScenarioError
from recovery_lab.scenario import (
    STRATEGY_NAMES,
    Fault,
    RestartPolicy,
    Scenario,
    StrategySpec,
    Workload,
    load_scenario,
    scenario_from_dict,
)

FULL = """\
name: kill_mid_hybrid
description: "Kill the hybrid strategy halfway."
workload:
  kind: fibonacci
  tasks: 30
  n: 25
strategies:
  pool:
    workers: 4
    start_method: spawn
  dbos:
    concurrency: 8
    worker_concurrency: 2
    polling_interval: 0.5
  hybrid:
    workers: 3
    chunk_size: 6
    start_method: spawn
faults:
  - after_seconds: 2.5
    incarnation: 2
  - after_tasks: 20
    incarnation: 1
    signal: SIGKILL
    target: group
restart:
  max_restarts: 3
  delay: 0.5
  backoff: 1.5
  max_delay: 4
timeout: 90
repetitions: 2
baseline: false
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_problems(path: Path) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.path == str(path)
    return info.value.problems


def only_problem(path: Path) -> Problem:
    problems = load_problems(path)
    assert len(problems) == 1, problems
    return problems[0]


def minimal(extra: str = "") -> str:
    """Return a valid scenario text with ``extra`` appended from line 3 on."""
    return "workload: {}\nstrategies: [pool]\n" + textwrap.dedent(extra)


# Valid files


def test_load_full_file_returns_every_value(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)

    scenario = load_scenario(path)

    assert scenario.name == "kill_mid_hybrid"
    assert scenario.description == "Kill the hybrid strategy halfway."
    assert scenario.path == str(path)
    assert scenario.workload == Workload(kind="fibonacci", tasks=30, n=25)
    assert [spec.name for spec in scenario.strategies] == ["pool", "dbos", "hybrid"]
    assert dict(scenario.strategies[0].settings) == {
        "workers": 4,
        "start_method": "spawn",
    }
    assert dict(scenario.strategies[1].settings) == {
        "concurrency": 8,
        "worker_concurrency": 2,
        "polling_interval": 0.5,
    }
    assert dict(scenario.strategies[2].settings) == {
        "workers": 3,
        "chunk_size": 6,
        "start_method": "spawn",
    }
    assert scenario.faults == (
        Fault(
            incarnation=1,
            after_tasks=20,
            after_seconds=None,
            signal="SIGKILL",
            target="group",
        ),
        Fault(
            incarnation=2,
            after_tasks=None,
            after_seconds=2.5,
            signal="SIGKILL",
            target="group",
        ),
    )
    assert scenario.restart == RestartPolicy(
        max_restarts=3, delay=0.5, backoff=1.5, max_delay=4.0
    )
    assert scenario.timeout == 90.0
    assert scenario.repetitions == 2
    assert scenario.baseline is False


def test_load_minimal_file_fills_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "workload:\n  {}\nstrategies:\n  hybrid:\n", "smoke.yaml")

    scenario = load_scenario(path)

    assert scenario.name == "smoke"
    assert scenario.description == ""
    assert scenario.workload == Workload(kind="fibonacci", tasks=40, n=30)
    assert scenario.strategies == (
        StrategySpec(
            "hybrid", {"workers": 10, "chunk_size": 10, "start_method": "forkserver"}
        ),
    )
    assert scenario.faults == ()
    assert scenario.restart == RestartPolicy(
        max_restarts=5, delay=0.2, backoff=2.0, max_delay=5.0
    )
    assert scenario.timeout == 180.0
    assert scenario.repetitions == 1
    assert scenario.baseline is True


def test_strategies_list_form_uses_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {}\nstrategies: [dbos, pool]\n")

    scenario = load_scenario(path)

    assert scenario.strategies == (
        StrategySpec(
            "dbos",
            {"concurrency": 10, "worker_concurrency": 5, "polling_interval": 1.0},
        ),
        StrategySpec("pool", {"workers": 10, "start_method": "fork"}),
    )


def test_strategies_mapping_keeps_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {}\nstrategies: {hybrid: null, pool: {}}\n")

    scenario = load_scenario(path)

    assert [spec.name for spec in scenario.strategies] == ["hybrid", "pool"]


def test_fault_incarnation_defaults_to_position(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        minimal(
            """\
            faults:
              - after_tasks: 3
              - after_seconds: 1
            """
        ),
    )

    scenario = load_scenario(path)

    assert [fault.incarnation for fault in scenario.faults] == [1, 2]
    assert scenario.faults[1].after_seconds == 1.0


def test_defaults_limited_by_other_keys_follow_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        workload: {tasks: 4}
        strategies: {dbos: {concurrency: 2}, hybrid: null}
        restart: {delay: 8}
        """,
    )

    scenario = load_scenario(path)

    assert scenario.strategies[0].get("worker_concurrency") == 2
    assert scenario.strategies[1].get("chunk_size") == 4
    assert scenario.restart.max_delay == 8.0


def test_integer_accepted_where_number_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("timeout: 60\nrestart: {backoff: 3}\n"))

    scenario = load_scenario(path)

    assert scenario.timeout == 60.0
    assert isinstance(scenario.timeout, float)
    assert isinstance(scenario.restart.backoff, float)


def test_pool_start_method_fork_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {}\nstrategies: {pool: {start_method: fork}}\n")

    scenario = load_scenario(path)

    assert scenario.strategies[0].get("start_method") == "fork"


def test_yaml_anchor_and_alias_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        workload: {}
        strategies:
          pool: &shared {workers: 3}
          hybrid: *shared
        """,
    )

    scenario = load_scenario(path)

    assert scenario.strategies[1].get("workers") == 3


# Problems with single values


def test_unknown_top_level_key_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("worklaod: {}\n"))

    problem = only_problem(path)

    assert problem.key == "worklaod"
    assert problem.line == 3
    assert problem.found == "'worklaod'"
    assert "workload" in problem.allowed
    assert "baseline" in problem.allowed


def test_unknown_nested_key_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        workload: {}
        strategies:
          hybrid:
            chunksize: 5
        """,
    )

    problem = only_problem(path)

    assert problem.key == "strategies.hybrid.chunksize"
    assert problem.line == 4
    assert problem.allowed == "one of: workers, chunk_size, start_method"


def test_unknown_fault_key_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        minimal(
            """\
            faults:
              - after_tasks: 3
                when: later
            """
        ),
    )

    problem = only_problem(path)

    assert problem.key == "faults[0].when"
    assert problem.line == 5


def test_string_for_integer_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "workload:\n  tasks: ten\nstrategies: [pool]\n")

    problem = only_problem(path)

    assert problem.key == "workload.tasks"
    assert problem.line == 2
    assert problem.found == "a string 'ten'"
    assert problem.allowed == "an integer from 1 to 100000"


def test_bool_for_integer_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "workload:\n  tasks: true\nstrategies: [pool]\n")

    problem = only_problem(path)

    assert problem.key == "workload.tasks"
    assert problem.found == "a boolean true"


@pytest.mark.parametrize("text", ["2.5", "3.0"])
def test_float_for_integer_rejected(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, f"workload:\n  tasks: {text}\nstrategies: [pool]\n")

    problem = only_problem(path)

    assert problem.key == "workload.tasks"
    assert problem.found == f"a float {text}"


def test_bool_for_number_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("timeout: false\n"))

    problem = only_problem(path)

    assert problem.key == "timeout"
    assert problem.found == "a boolean false"


def test_infinite_number_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("timeout: .inf\n"))

    problem = only_problem(path)

    assert problem.key == "timeout"
    assert problem.allowed == "a finite number > 0 and <= 86400"


def test_mapping_for_scalar_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("repetitions: {count: 2}\n"))

    problem = only_problem(path)

    assert problem.key == "repetitions"
    assert problem.found == "a mapping"


def test_null_for_required_mapping_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "workload:\nstrategies: [pool]\n")

    problem = only_problem(path)

    assert problem.key == "workload"
    assert problem.found == "null"


def test_unknown_strategy_in_mapping_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {}\nstrategies:\n  pool:\n  celery:\n")

    problem = only_problem(path)

    assert problem.key == "strategies.celery"
    assert problem.line == 4
    assert problem.found == "'celery'"
    assert problem.allowed == "one of: pool, dbos, hybrid, dbos_pool, checkpoint_pool"


def test_unknown_strategy_in_list_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {}\nstrategies:\n  - pool\n  - celery\n")

    problem = only_problem(path)

    assert problem.key == "strategies[1]"
    assert problem.line == 4
    assert problem.allowed == "one of: pool, dbos, hybrid, dbos_pool, checkpoint_pool"


def test_duplicate_strategy_in_list_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {}\nstrategies:\n  - pool\n  - pool\n")

    problem = only_problem(path)

    assert problem.key == "strategies[1]"
    assert problem.line == 4
    assert problem.found == "'pool'"
    assert "strategies[0]" in problem.allowed


@pytest.mark.parametrize("text", ["[]", "{}"])
def test_empty_strategies_rejected(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, f"workload: {{}}\nstrategies: {text}\n")

    problem = only_problem(path)

    assert problem.key == "strategies"
    assert problem.line == 2


def test_missing_required_sections_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "name: lonely\n")

    problems = load_problems(path)

    assert [problem.key for problem in problems] == ["strategies", "workload"]
    assert [problem.found for problem in problems] == ["nothing", "nothing"]
    assert [problem.line for problem in problems] == [1, 1]


@pytest.mark.parametrize(
    ("extra", "key", "line"),
    [
        ("workload: {tasks: 0}\n", "workload.tasks", 3),
        ("workload: {tasks: -3}\n", "workload.tasks", 3),
        ("workload: {n: 0}\n", "workload.n", 3),
        ("strategies: {pool: {workers: 0}}\n", "strategies.pool.workers", 3),
        ("strategies: {hybrid: {workers: -1}}\n", "strategies.hybrid.workers", 3),
        (
            "strategies: {hybrid: {chunk_size: 0}}\n",
            "strategies.hybrid.chunk_size",
            3,
        ),
        (
            "strategies: {dbos: {concurrency: 0}}\n",
            "strategies.dbos.concurrency",
            3,
        ),
        ("repetitions: 0\n", "repetitions", 3),
        ("timeout: 0\n", "timeout", 3),
        ("restart: {max_restarts: -1}\n", "restart.max_restarts", 3),
        ("faults: [{after_tasks: 0}]\n", "faults[0].after_tasks", 3),
        ("faults: [{after_seconds: -1}]\n", "faults[0].after_seconds", 3),
        (
            "faults: [{after_tasks: 2, incarnation: 0}]\n",
            "faults[0].incarnation",
            3,
        ),
    ],
)
def test_zero_or_negative_count_rejected(
    tmp_path: Path, extra: str, key: str, line: int
) -> None:
    # Two fixed lines come first, so the invalid value is always on line 3.
    text = "name: counts\ndescription: ''\n" + extra
    if not extra.startswith("workload"):
        text += "workload: {}\n"
    if not extra.startswith("strategies"):
        text += "strategies: [pool]\n"
    path = write(tmp_path, text)

    problem = only_problem(path)

    assert problem.key == key
    assert problem.line == line


def test_fibonacci_argument_above_40_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {n: 41}\nstrategies: [pool]\n")

    problem = only_problem(path)

    assert problem.key == "workload.n"
    assert problem.found == "41"
    assert problem.allowed == "an integer from 1 to 40"


@pytest.mark.parametrize("after_tasks", [40, 41])
def test_kill_point_past_work_rejected(tmp_path: Path, after_tasks: int) -> None:
    path = write(
        tmp_path,
        minimal(
            f"""\
            faults:
              - after_tasks: {after_tasks}
            """
        ),
    )

    problem = only_problem(path)

    assert problem.key == "faults[0].after_tasks"
    assert problem.line == 4
    assert problem.found == str(after_tasks)
    assert problem.allowed == "an integer from 1 to 39 (below workload.tasks)"


def test_kill_point_with_one_task_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "workload: {tasks: 1}\nstrategies: [pool]\nfaults: [{after_tasks: 1}]\n",
    )

    problem = only_problem(path)

    assert problem.key == "faults[0].after_tasks"
    assert problem.allowed.startswith("no integer")


def test_kill_after_timeout_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("timeout: 10\nfaults: [{after_seconds: 10}]\n"))

    problem = only_problem(path)

    assert problem.key == "faults[0].after_seconds"
    assert problem.line == 4
    assert problem.allowed == "a finite number > 0 and < 10 (below timeout)"


def test_chunk_size_above_tasks_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        workload: {tasks: 8}
        strategies:
          hybrid: {chunk_size: 9}
        """,
    )

    problem = only_problem(path)

    assert problem.key == "strategies.hybrid.chunk_size"
    assert problem.line == 3
    assert problem.found == "9"
    assert problem.allowed == "an integer from 1 to 8 (at most workload.tasks)"


def test_worker_concurrency_above_concurrency_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        workload: {}
        strategies:
          dbos:
            concurrency: 4
            worker_concurrency: 5
        """,
    )

    problem = only_problem(path)

    assert problem.key == "strategies.dbos.worker_concurrency"
    assert problem.line == 5
    assert "strategies.dbos.concurrency" in problem.allowed


def test_max_delay_below_delay_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("restart: {delay: 2, max_delay: 1}\n"))

    problem = only_problem(path)

    assert problem.key == "restart.max_delay"
    assert problem.allowed == "a finite number >= 2 (at least restart.delay)"


def test_cross_check_skipped_when_other_key_invalid(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        workload: {tasks: many}
        strategies: {hybrid: {chunk_size: 500}}
        faults: [{after_tasks: 500}]
        """,
    )

    problem = only_problem(path)

    assert problem.key == "workload.tasks"


def test_hybrid_start_method_fork_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        workload: {}
        strategies:
          hybrid:
            start_method: fork
        """,
    )

    problem = only_problem(path)

    assert problem.key == "strategies.hybrid.start_method"
    assert problem.line == 4
    assert problem.found == "'fork'"
    assert problem.allowed.startswith("one of: spawn, forkserver")


def test_unsupported_signal_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("faults:\n  - after_tasks: 1\n    signal: SIGHUP\n"))

    problem = only_problem(path)

    assert problem.key == "faults[0].signal"
    assert problem.line == 5
    assert problem.found == "'SIGHUP'"
    assert problem.allowed == "one of: SIGKILL, SIGTERM, SIGSTOP"


def test_duplicate_incarnation_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        minimal(
            """\
            faults:
              - after_tasks: 5
                incarnation: 2
              - after_tasks: 6
                incarnation: 2
            """
        ),
    )

    problem = only_problem(path)

    assert problem.key == "faults[1].incarnation"
    assert problem.line == 7
    assert problem.found == "2"
    assert problem.allowed == "an incarnation not used by faults[0]"


def test_duplicate_default_incarnation_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        minimal(
            """\
            faults:
              - after_tasks: 5
                incarnation: 2
              - after_tasks: 6
            """
        ),
    )

    problem = only_problem(path)

    assert problem.key == "faults[1].incarnation"
    assert problem.line == 6
    assert problem.found == "nothing, so the default 2"


def test_fault_with_both_triggers_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        minimal(
            """\
            faults:
              - after_tasks: 5
                after_seconds: 1.5
            """
        ),
    )

    problem = only_problem(path)

    assert problem.key == "faults[0].after_seconds"
    assert problem.line == 5
    assert problem.found == "after_tasks and after_seconds together"
    assert problem.allowed == "exactly one of: after_tasks, after_seconds, failpoint"


def test_fault_with_neither_trigger_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        minimal(
            """\
            faults:
              - after_tasks: 5
              - incarnation: 3
            """
        ),
    )

    problem = only_problem(path)

    assert problem.key == "faults[1]"
    assert problem.line == 5
    assert problem.allowed == "exactly one of: after_tasks, after_seconds, failpoint"


def test_fault_that_is_not_mapping_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("faults:\n  - 20\n"))

    problem = only_problem(path)

    assert problem.key == "faults[0]"
    assert problem.line == 4
    assert problem.found == "an integer 20"


def test_duplicate_key_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("timeout: 10\ntimeout: 20\n"))

    problem = only_problem(path)

    assert problem.key == "timeout"
    assert problem.line == 4
    assert "line 3" in problem.found


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, minimal(), "kill.mid-run_2.yaml")

    assert load_scenario(path).name == "kill.mid-run_2"


def test_invalid_name_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "name: kill mid run\n" + minimal())

    problem = only_problem(path)

    assert problem.key == "name"
    assert problem.line == 1
    assert problem.found == "'kill mid run'"


def test_invalid_file_stem_as_name_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal(), "kill mid run.yaml")

    problem = only_problem(path)

    assert problem.key == "name"
    assert problem.found == "nothing, so the default 'kill mid run'"


def test_python_tag_not_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "created"
    path = write(
        tmp_path,
        minimal(f"description: !!python/object/apply:os.mkdir [{str(marker)!r}]\n"),
    )

    problem = only_problem(path)

    assert problem.key == "description"
    assert problem.line == 3
    assert "!!python/object/apply:os.mkdir" in problem.found
    assert not marker.exists()


def test_scalar_with_unsupported_tag_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("name: !!python/name:os.system x\n"))

    problem = only_problem(path)

    assert problem.key == "name"
    assert "!!python/name:os.system" in problem.found


def test_several_problems_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: ok
        colour: blue
        workload:
          tasks: 10
          n: fifty
        strategies:
          hybrid: {chunk_size: 11, start_method: fork}
          celery: {}
        faults:
          - after_tasks: 10
          - after_seconds: 1
            incarnation: 1
        restart:
          backoff: 0.5
        repetitions: true
        """,
    )

    problems = load_problems(path)

    assert [(problem.line, problem.key) for problem in problems] == [
        (2, "colour"),
        (5, "workload.n"),
        (7, "strategies.hybrid.chunk_size"),
        (7, "strategies.hybrid.start_method"),
        (8, "strategies.celery"),
        (10, "faults[0].after_tasks"),
        (12, "faults[1].incarnation"),
        (14, "restart.backoff"),
        (15, "repetitions"),
    ]


def test_error_message_lists_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {tasks: 0}\nstrategies: [celery]\n")

    with pytest.raises(ScenarioError) as info:
        load_scenario(path)

    lines = str(info.value).splitlines()
    assert lines == [
        f"{path}:1: workload.tasks: found 0; allowed: an integer from 1 to 100000",
        f"{path}:2: strategies[0]: found 'celery'; allowed: one of: pool, dbos, "
        "hybrid, dbos_pool, checkpoint_pool",
    ]


# Problems with the file as a whole


def test_missing_file_rejected(tmp_path: Path) -> None:
    problem = only_problem(tmp_path / "absent.yaml")

    assert problem.key == "(file)"
    assert problem.line is None
    assert problem.found == "no file"


def test_directory_rejected(tmp_path: Path) -> None:
    problem = only_problem(tmp_path)

    assert problem.key == "(file)"
    assert problem.found == "a directory"


def test_unreadable_file_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal())
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("this user can read a file with mode 000, as root can")
        problem = only_problem(path)
    finally:
        path.chmod(0o644)

    assert problem.key == "(file)"
    assert problem.found == "a file without read permission"


def test_invalid_yaml_rejected_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {}\nstrategies: [pool\ntimeout: 5\n")

    problem = only_problem(path)

    assert problem.key == "(file)"
    assert problem.line == 3
    assert problem.found.startswith("invalid YAML")


def test_several_documents_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("---\nname: second\n"))

    problem = only_problem(path)

    assert problem.key == "(file)"
    assert problem.line == 3


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", "an empty file"),
        ("\n  \n", "an empty file"),
        ("# only a comment\n", "a file with no YAML document"),
    ],
)
def test_empty_file_rejected(tmp_path: Path, text: str, found: str) -> None:
    path = write(tmp_path, text)

    problem = only_problem(path)

    assert problem.key == "(file)"
    assert problem.found == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- pool\n- dbos\n", "a list"),
        ("just text\n", "a string 'just text'"),
        ("~\n", "null"),
    ],
)
def test_top_level_not_mapping_rejected(tmp_path: Path, text: str, found: str) -> None:
    path = write(tmp_path, text)

    problem = only_problem(path)

    assert problem.key == "(file)"
    assert problem.line == 1
    assert problem.found == found


def test_non_utf8_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"workload: {}\nname: caf\xe9\n")

    problem = only_problem(path)

    assert problem.key == "(file)"
    assert problem.line == 2


def test_control_character_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("name: a\x07b\n"))

    problem = only_problem(path)

    assert problem.key == "(file)"
    assert problem.line == 3


def test_deep_nesting_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("description: " + "[" * 5000 + "]" * 5000 + "\n"))

    problem = only_problem(path)

    assert problem.key == "(file)"


# Result types


def test_to_dict_round_trips(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, FULL))

    assert scenario_from_dict(scenario.to_dict()) == scenario


def test_to_dict_round_trips_through_json(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, FULL))

    data = json.loads(json.dumps(scenario.to_dict()))

    assert scenario_from_dict(data) == scenario


def test_scenario_from_dict_rejects_invalid_data(tmp_path: Path) -> None:
    data = load_scenario(write(tmp_path, FULL)).to_dict()
    data["workload"]["tasks"] = 0
    data["strategies"]["celery"] = {}

    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)

    keys = [problem.key for problem in info.value.problems]
    assert keys == ["strategies.celery", "workload.tasks"]
    assert [problem.line for problem in info.value.problems] == [None, None]


def test_scenario_from_dict_requires_path() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"workload": {}, "strategies": ["pool"]})

    assert info.value.problems[0].key == "path"


def test_scenario_error_pickles(tmp_path: Path) -> None:
    path = write(tmp_path, "workload: {tasks: 0}\nstrategies: [celery]\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)

    copy = pickle.loads(pickle.dumps(info.value))

    assert copy.path == info.value.path
    assert copy.problems == info.value.problems
    assert str(copy) == str(info.value)


def test_scenario_pickles_and_hashes(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, FULL))

    copy = pickle.loads(pickle.dumps(scenario))

    assert copy == scenario
    assert hash(copy) == hash(scenario)


def test_strategy_settings_read_only() -> None:
    spec = StrategySpec("pool", {"workers": 2})

    with pytest.raises(TypeError):
        spec.settings["workers"] = 3  # type: ignore[index]
    assert spec.get("workers") == 2
    assert spec.get("missing") is None


def test_strategy_spec_copies_settings() -> None:
    settings = {"workers": 2}
    spec = StrategySpec("pool", settings)

    settings["workers"] = 3

    assert spec.get("workers") == 2


@pytest.mark.parametrize(
    ("fault", "text"),
    [
        (
            Fault(1, 20, None, "SIGKILL", "group"),
            "SIGKILL to group of incarnation 1 after 20 finished tasks",
        ),
        (
            Fault(2, 1, None, "SIGKILL", "group"),
            "SIGKILL to group of incarnation 2 after 1 finished task",
        ),
        (
            Fault(3, None, 2.5, "SIGKILL", "group"),
            "SIGKILL to group of incarnation 3 after 2.5 seconds",
        ),
    ],
)
def test_fault_describe_names_kill_point(fault: Fault, text: str) -> None:
    assert fault.describe() == text


def test_strategy_names_match_strategy_modules() -> None:
    from recovery_lab.strategies import STRATEGIES

    assert STRATEGY_NAMES == (
        "pool",
        "dbos",
        "hybrid",
        "dbos_pool",
        "checkpoint_pool",
    )
    assert set(STRATEGY_NAMES) == set(STRATEGIES)


def test_scenario_is_frozen(tmp_path: Path) -> None:
    scenario: Scenario = load_scenario(write(tmp_path, FULL))

    with pytest.raises(AttributeError):
        scenario.timeout = 1.0  # type: ignore[misc]


def test_counts_above_their_limit_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(
        "workload: {tasks: 100001}\n"
        "strategies: {pool: {workers: 257}}\n"
        "repetitions: 101\n"
        "restart: {max_restarts: 1001}\n"
        "timeout: 86401\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    keys = [problem.key for problem in caught.value.problems]
    assert keys == [
        "workload.tasks",
        "strategies.pool.workers",
        "repetitions",
        "restart.max_restarts",
        "timeout",
    ]


def test_fault_past_last_incarnation_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(
        "workload: {tasks: 10}\nstrategies: [pool]\n"
        "restart: {max_restarts: 1}\n"
        "faults:\n  - {after_tasks: 2, incarnation: 3}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (problem,) = caught.value.problems
    assert problem.key == "faults[0].incarnation"
    assert problem.line == 5
    assert "from 1 to 2" in problem.allowed


def test_fault_after_sigstop_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "stop.yaml"
    path.write_text(
        "workload: {tasks: 6}\nstrategies: [pool]\nfaults:\n"
        "  - {after_tasks: 2, signal: SIGSTOP, stop_seconds: 1}\n"
        "  - {after_tasks: 2}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (problem,) = caught.value.problems
    assert problem.key == "faults"
    assert "after a SIGSTOP of incarnation 1" in problem.found


def test_fault_after_sigstop_allowed_with_short_watchdog(tmp_path: Path) -> None:
    path = tmp_path / "stop.yaml"
    path.write_text(
        "workload: {tasks: 6}\nstrategies: [pool]\nwatchdog: 1\nfaults:\n"
        "  - {after_tasks: 2, signal: SIGSTOP, stop_seconds: 3}\n"
        "  - {after_tasks: 2}\n"
    )
    assert len(load_scenario(path).faults) == 2


def test_failpoint_hit_past_the_work_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "hit.yaml"
    path.write_text(
        "workload: {tasks: 6}\nstrategies: [pool]\n"
        "faults:\n  - {failpoint: before_task, hit: 7}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (problem,) = caught.value.problems
    assert problem.key == "faults[0].hit"
    assert problem.allowed == "an integer from 1 to 6 (at most workload.tasks)"
