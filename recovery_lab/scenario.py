"""Load and validate scenario files.

A scenario file is YAML that names a workload, the execution strategies to run it
under, the faults (kills) to inject and the restart policy. :func:`load_scenario`
composes the file into a node tree with PyYAML's safe loader, so no tag constructs a
Python object, and walks the nodes itself so that each problem carries its line.
Every problem in the file is collected and raised together in one
:class:`~recovery_lab.errors.ScenarioError` before anything runs.

The rules for each key are data in the ``_*_FIELDS`` tables of scenario_fields.py,
and scenario_validator.py walks the file with them. To add a strategy, add a row to
``_STRATEGY_FIELDS``. To add a fault field, add a row to ``_FAULT_FIELDS`` and a
field of the same name to :class:`Fault`. Rules that combine several keys of a
fault live in fault_rules.py.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml
from yaml.reader import ReaderError
from yaml.representer import RepresenterError

from recovery_lab.errors import Problem, ScenarioError
from recovery_lab.scenario_fields import (
    _DICT_SOURCE,
    _FAULT_FIELDS,
    FILE_KEY,
    MAX_REPETITIONS,
    MAX_RESTARTS,
    MAX_SECONDS,
    MAX_TASKS,
    MAX_WORKERS,
    STRATEGY_NAMES,
    _describe,
    _format_number,
)
from recovery_lab.schedule import draw_gaps

__all__ = [
    "FILE_KEY",
    "MAX_REPETITIONS",
    "MAX_RESTARTS",
    "MAX_SECONDS",
    "MAX_TASKS",
    "MAX_WORKERS",
    "STRATEGY_NAMES",
    "Fault",
    "RestartPolicy",
    "Scenario",
    "Schedule",
    "StrategySpec",
    "Workload",
    "load_scenario",
    "scenario_from_dict",
]

# ---------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """The work that every strategy computes.

    Attributes:
        kind: Workload kind, currently always ``fibonacci``.
        tasks: Number of tasks.
        n: Argument of the naive recursive ``fib(n)`` that each task computes.
        effects: Side effect of each task: ``none``, ``plain`` or ``idempotent``
            (see effects.py).

    """

    kind: str
    tasks: int
    n: int
    effects: str = "none"


@dataclass(frozen=True)
class StrategySpec:
    """One execution strategy and its settings, with every default filled in.

    ``settings`` is stored as a read-only mapping. The class defines ``__hash__``
    and ``__reduce__`` itself because a ``MappingProxyType`` can be neither hashed
    nor pickled.

    Attributes:
        name: Strategy name, one of :data:`STRATEGY_NAMES`.
        settings: Setting name to value.

    """

    name: str
    settings: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.settings.items()))))

    def __reduce__(self) -> tuple[type[StrategySpec], tuple[str, dict[str, Any]]]:
        return (type(self), (self.name, dict(self.settings)))

    def get(self, key: str, default: Any = None) -> Any:
        """Return one setting, like :meth:`dict.get`.

        Args:
            key: Setting name, for example ``workers``.
            default: Value to return when the strategy has no such setting.

        Returns:
            The setting's value, or ``default``.

        """
        return self.settings.get(key, default)


@dataclass(frozen=True)
class Fault:
    """One kill to inject into one incarnation of a strategy.

    Exactly one of ``after_tasks``, ``after_seconds`` and ``failpoint`` is set.

    Attributes:
        incarnation: 1-based number of the launch to kill.
        after_tasks: Kill once this many tasks have finished in that incarnation.
        after_seconds: Kill this many seconds after that incarnation started.
        signal: Signal name: ``SIGKILL``, ``SIGTERM`` or ``SIGSTOP``.
        target: What receives the signal: ``group`` for the strategy's whole
            process group, ``main`` for its main process only, ``worker`` for one
            worker process.
        failpoint: Name of a failpoint at which the incarnation SIGKILLs its own
            process group (see failpoints.py), instead of a signal from outside.
        hit: Which hit of the failpoint fires it, counted over every process of
            the incarnation; None means the first.
        grace: Seconds that a SIGTERM leaves the strategy to exit before SIGKILL
            follows; None means ``faults.DEFAULT_GRACE``.
        stop_seconds: Seconds between SIGSTOP and SIGCONT.

    """

    incarnation: int
    after_tasks: int | None
    after_seconds: float | None
    signal: str
    target: str
    failpoint: str | None = None
    hit: int | None = None
    grace: float | None = None
    stop_seconds: float | None = None

    def describe(self) -> str:
        """Describe the fault in one line of text.

        Returns:
            Text such as ``SIGKILL to group of incarnation 1 after 20 finished
            tasks`` or ``failpoint after_effect (hit 3) in incarnation 1``.

        """
        if self.failpoint is not None:
            return (
                f"failpoint {self.failpoint} (hit {self.hit or 1}) in incarnation "
                f"{self.incarnation}"
            )
        if self.after_tasks is not None:
            unit = "finished task" if self.after_tasks == 1 else "finished tasks"
            when = f"after {self.after_tasks} {unit}"
        elif self.after_seconds is not None:
            unit = "second" if self.after_seconds == 1 else "seconds"
            when = f"after {_format_number(self.after_seconds)} {unit}"
        else:
            when = "with no kill point set"
        text = (
            f"{self.signal} to {self.target} of incarnation {self.incarnation} {when}"
        )
        if self.stop_seconds is not None:
            text += f", stopped for {_format_number(self.stop_seconds)} s"
        return text


@dataclass(frozen=True)
class Schedule:
    """Seeded random kills, one per incarnation; see schedule.py.

    Attributes:
        seed: Seed of the random generator.
        kills: Number of faults, one in each of that many incarnations.
        min_gap: Smallest time from a launch to its kill, in seconds.
        max_gap: Largest time from a launch to its kill, in seconds.
        first_incarnation: Incarnation of the first scheduled fault.
        signal: Signal name, as in :class:`Fault`.
        target: Signal target, as in :class:`Fault`.
        grace: As in :class:`Fault`.
        stop_seconds: As in :class:`Fault`.

    """

    seed: int
    kills: int
    min_gap: float
    max_gap: float
    first_incarnation: int
    signal: str
    target: str
    grace: float | None = None
    stop_seconds: float | None = None

    def expand(self) -> tuple[Fault, ...]:
        """Return the concrete faults of the schedule, in incarnation order."""
        gaps = draw_gaps(self.seed, self.kills, self.min_gap, self.max_gap)
        return tuple(
            Fault(
                incarnation=self.first_incarnation + index,
                after_tasks=None,
                after_seconds=gap,
                signal=self.signal,
                target=self.target,
                grace=self.grace,
                stop_seconds=self.stop_seconds,
            )
            for index, gap in enumerate(gaps)
        )


@dataclass(frozen=True)
class RestartPolicy:
    """Restart policy that the supervisor applies to a killed strategy.

    Attributes:
        max_restarts: Maximum number of restarts in one run.
        delay: Seconds to wait before the first restart.
        backoff: Factor applied to the delay after each restart.
        max_delay: Upper limit of the delay in seconds.

    """

    max_restarts: int
    delay: float
    backoff: float
    max_delay: float


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file.

    Attributes:
        name: Scenario name, by default the file name without its suffix.
        description: Free text.
        path: Path of the scenario file, as given to :func:`load_scenario`.
        workload: The work to compute.
        strategies: Strategies to run, in the order of the file.
        faults: Kills to inject, sorted by incarnation.
        restart: Restart policy.
        timeout: Seconds allowed for one run, over all incarnations.
        repetitions: Number of runs of each strategy.
        baseline: Whether each strategy also runs once without faults.
        schedule: Seeded random faults added to ``faults``, or None.
        watchdog: Seconds without any new record from an incarnation after which
            the supervisor kills it as hung, or None for no watchdog.
        expect: Expected checker verdicts of the runs with faults, as (verdict
            name, value) pairs.

    """

    name: str
    description: str
    path: str
    workload: Workload
    strategies: tuple[StrategySpec, ...]
    faults: tuple[Fault, ...]
    restart: RestartPolicy
    timeout: float
    repetitions: int
    baseline: bool
    schedule: Schedule | None = None
    watchdog: float | None = None
    expect: tuple[tuple[str, str], ...] = ()

    def all_faults(self) -> tuple[Fault, ...]:
        """Return ``faults`` and the expanded schedule, sorted by incarnation."""
        scheduled = self.schedule.expand() if self.schedule is not None else ()
        return tuple(
            sorted((*self.faults, *scheduled), key=lambda fault: fault.incarnation)
        )

    def to_dict(self) -> dict[str, Any]:
        """Convert the scenario to JSON-serialisable data.

        Returns:
            A dict in the scenario file's layout plus a ``path`` key, which
            :func:`scenario_from_dict` reads back into an equal scenario.

        """
        return {
            "name": self.name,
            "description": self.description,
            "path": self.path,
            "workload": {
                "kind": self.workload.kind,
                "tasks": self.workload.tasks,
                "n": self.workload.n,
                "effects": self.workload.effects,
            },
            "strategies": {spec.name: dict(spec.settings) for spec in self.strategies},
            "faults": [_fault_to_dict(fault) for fault in self.faults],
            "restart": {
                "max_restarts": self.restart.max_restarts,
                "delay": self.restart.delay,
                "backoff": self.restart.backoff,
                "max_delay": self.restart.max_delay,
            },
            "timeout": self.timeout,
            "repetitions": self.repetitions,
            "baseline": self.baseline,
            **self._optional_dict(),
        }

    def _optional_dict(self) -> dict[str, Any]:
        # Keys left out when unset, since the schema has no null values.
        data: dict[str, Any] = {}
        if self.schedule is not None:
            values = vars(self.schedule)
            data["schedule"] = {k: v for k, v in values.items() if v is not None}
        if self.watchdog is not None:
            data["watchdog"] = self.watchdog
        if self.expect:
            data["expect"] = dict(self.expect)
        return data


def _fault_to_dict(fault: Fault) -> dict[str, Any]:
    # A fault field that is None was not set, and the schema has no null values.
    # A failpoint always SIGKILLs the group, and its fault may not name a signal.
    values = {spec.key: getattr(fault, spec.key) for spec in _FAULT_FIELDS}
    if fault.failpoint is not None:
        values = {k: v for k, v in values.items() if k not in ("signal", "target")}
    return {key: value for key, value in values.items() if value is not None}


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def _file_error(
    path: str, found: str, allowed: str, line: int | None = None
) -> NoReturn:
    raise ScenarioError(path, [Problem(FILE_KEY, line, found, allowed)])


def _read_text(path: str) -> str:
    """Read a scenario file as text.

    Raises:
        ScenarioError: If the file is missing, a directory, unreadable or not text.

    """
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        _file_error(path, "no file", "a path to an existing scenario file")
    except PermissionError:
        _file_error(path, "a path without search permission", "a readable path")
    if stat.S_ISDIR(status.st_mode):
        _file_error(path, "a directory", "a path to a scenario file")
    # Opening a FIFO or device would block or read endlessly.
    if not stat.S_ISREG(status.st_mode):
        _file_error(path, "a special file", "a path to a regular scenario file")
    try:
        raw = Path(path).read_bytes()
    except PermissionError:
        _file_error(path, "a file without read permission", "a readable file")
    except IsADirectoryError:
        _file_error(path, "a directory", "a path to a scenario file")
    except OSError as exc:
        _file_error(
            path, f"a file that failed to read ({exc.strerror})", "a readable file"
        )

    # PyYAML reads UTF-8 and UTF-16, and recognises UTF-16 by its byte order mark.
    encoding = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        _file_error(
            path, f"bytes that are not valid {exc.encoding}", "UTF-8 text", line
        )


def _compose(text: str, path: str) -> yaml.Node:
    """Compose YAML text into a node tree without constructing any value.

    Raises:
        ScenarioError: If the text is not valid YAML or contains no document.

    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else int(mark.line) + 1
        reason = ", ".join(text for text in (exc.context, exc.problem) if text)
        found = f"invalid YAML ({reason})"
        _file_error(path, found, "valid YAML", line)
    except ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        found = f"the character U+{exc.character:04X}"
        _file_error(path, found, "printable characters only", line)
    except yaml.YAMLError as exc:
        _file_error(path, f"invalid YAML ({exc})", "valid YAML")
    except RecursionError:
        _file_error(path, "YAML nested too deeply to read", "valid YAML")
    if root is None:
        found = "an empty file" if not text.strip() else "a file with no YAML document"
        _file_error(path, found, "a YAML mapping of scenario keys")
    return root


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Load and validate a scenario file.

    Args:
        path: Path of the YAML file.

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: With one problem with key ``(file)`` if the file is
            missing, a directory, unreadable, invalid YAML or empty, and
            otherwise with every invalid value in the file, sorted by line.

    """
    from recovery_lab.scenario_validator import _Validator

    path_text = os.fspath(path)
    root = _compose(_read_text(path_text), path_text)
    validator = _Validator(stem=Path(path_text).stem)
    scenario = validator.scenario(root, path_text)
    if scenario is None:
        raise ScenarioError(path_text, _sorted(validator.problems))
    return scenario


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    """Build a scenario from the output of :meth:`Scenario.to_dict`.

    The data is checked by the same rules as a scenario file.

    Args:
        data: Scenario data, for example read back from saved JSON results.

    Returns:
        The scenario.

    Raises:
        ScenarioError: If the data is invalid. Its problems have no line numbers.

    """
    from recovery_lab.scenario_validator import _Validator

    if not isinstance(data, dict):
        found = _describe(data) if not isinstance(data, list) else "a list"
        _file_error(_DICT_SOURCE, found, "a dict")
    content = dict(data)
    path = content.pop("path", None)
    if not isinstance(path, str):
        found = "nothing" if path is None else _describe(path)
        raise ScenarioError(_DICT_SOURCE, [Problem("path", None, found, "a string")])
    try:
        root = yaml.SafeDumper(io.StringIO(), sort_keys=False).represent_data(content)
    except RepresenterError as exc:
        found = f"a value that YAML cannot represent ({exc})"
        _file_error(_DICT_SOURCE, found, "dicts, lists, strings, numbers, booleans")
    validator = _Validator(stem=Path(path).stem)
    scenario = validator.scenario(root, path)
    if scenario is None:
        raise ScenarioError(_DICT_SOURCE, _sorted(validator.problems))
    return scenario


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: (problem.line or 0, problem.key))
