"""Load and validate scenario files.

A scenario file is YAML that names a workload, the execution strategies to run it
under, the faults (kills) to inject and the restart policy. :func:`load_scenario`
composes the file into a node tree with PyYAML's safe loader, so no tag constructs a
Python object, and walks the nodes itself so that each problem carries its line.
Every problem in the file is collected and raised together in one
:class:`~recovery_lab.errors.ScenarioError` before anything runs.

The rules for each key are data in the ``_*_FIELDS`` tables below. To add a strategy,
add a row to ``_STRATEGY_FIELDS``. To add a fault field, add a row to
``_FAULT_FIELDS`` and a field of the same name to :class:`Fault`. Rules that combine
several keys of a fault live in fault_rules.py.
"""

from __future__ import annotations

import datetime
import io
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.reader import ReaderError
from yaml.representer import RepresenterError

from recovery_lab.checker import VERDICT_NAMES, VERDICT_VALUES
from recovery_lab.effects import EFFECT_MODES
from recovery_lab.errors import Problem, ScenarioError
from recovery_lab.failpoints import FAILPOINT_NAMES
from recovery_lab.fault_rules import RuleContext, check_fault_rules
from recovery_lab.schedule import draw_gaps

__all__ = [
    "FILE_KEY",
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

FILE_KEY: Final = "(file)"
"""Key of a problem with the file as a whole rather than with one value in it."""

_STR_TAG: Final = "tag:yaml.org,2002:str"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"

# ScenarioError.path used by scenario_from_dict, which has no file to name.
_DICT_SOURCE: Final = "<scenario dict>"

# Errors that SafeConstructor raises for a scalar whose explicit tag does not fit its
# text, for example ``!!int abc`` (ValueError) or ``!!bool maybe`` (KeyError).
_CONSTRUCT_ERRORS: Final = (
    yaml.YAMLError,
    ValueError,
    KeyError,
    AttributeError,
    TypeError,
    OverflowError,
)

_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_.-]+")


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
# Field tables
# ---------------------------------------------------------------------------

_Kind = Literal["integer", "number", "string", "boolean"]


@dataclass(frozen=True)
class _DefaultContext:
    """Facts that a computed default may depend on.

    Attributes:
        stem: File name without its suffix.
        position: 0-based position of the item in its list, or 0 outside lists.

    """

    stem: str
    position: int


@dataclass(frozen=True)
class _Limit:
    """A lower or upper limit of a numeric field.

    Attributes:
        bound: A fixed number, or the dotted key of another field whose value is
            the limit. That field must be validated earlier: a top-level scalar,
            a key of ``workload`` or ``restart``, or an earlier key of the same
            section.
        inclusive: Whether the bound itself is allowed.

    """

    bound: float | str
    inclusive: bool


def _at_least(bound: float | str) -> _Limit:
    return _Limit(bound, inclusive=True)


def _above(bound: float | str) -> _Limit:
    return _Limit(bound, inclusive=False)


def _at_most(bound: float | str) -> _Limit:
    return _Limit(bound, inclusive=True)


def _below(bound: float | str) -> _Limit:
    return _Limit(bound, inclusive=False)


@dataclass(frozen=True)
class _Field:
    """The rules for one key of a section.

    A default of None means that the key is optional and has no value when
    missing. A default that breaks an inclusive limit set by another key is
    replaced by that key's value, so ``tasks: 5`` makes the default
    ``chunk_size`` 5 instead of 10.

    Attributes:
        key: Key name in the file.
        kind: Value type. A ``number`` also accepts integers and is stored as float.
        default: Value used when the key is missing.
        default_factory: Function that computes the default, used instead of
            ``default`` when set.
        choices: Allowed values of a string field. Empty means any string.
        note: Reason added to the allowed text of ``choices``.
        lower: Lower limit of a numeric field.
        upper: Upper limit of a numeric field.
        check: Extra test that a value of the right type must pass.
        allowed: Text that replaces the generated allowed text, for ``check``.

    """

    key: str
    kind: _Kind
    default: Any = None
    default_factory: Callable[[_DefaultContext], Any] | None = None
    choices: tuple[str, ...] = ()
    note: str = ""
    lower: _Limit | None = None
    upper: _Limit | None = None
    check: Callable[[Any], bool] | None = None
    allowed: str = ""


def _integer(
    key: str,
    default: int | None,
    *,
    lower: _Limit | None = None,
    upper: _Limit | None = None,
    default_factory: Callable[[_DefaultContext], Any] | None = None,
) -> _Field:
    return _Field(
        key,
        "integer",
        default,
        default_factory=default_factory,
        lower=lower,
        upper=upper,
    )


def _number(
    key: str,
    default: float | None,
    *,
    lower: _Limit | None = None,
    upper: _Limit | None = None,
) -> _Field:
    return _Field(key, "number", default, lower=lower, upper=upper)


def _choice(key: str, default: str, choices: tuple[str, ...], note: str = "") -> _Field:
    return _Field(key, "string", default, choices=choices, note=note)


# Upper limits of counts and durations. They keep a typing mistake from starting
# a million processes or running for a year; raise them if a study needs more.
MAX_TASKS: Final = 100_000
MAX_WORKERS: Final = 256
MAX_REPETITIONS: Final = 100
MAX_RESTARTS: Final = 1000
MAX_SECONDS: Final = 86_400.0

_TOP_FIELDS: Final = (
    _Field(
        "name",
        "string",
        default_factory=lambda context: context.stem,
        check=lambda value: _NAME_PATTERN.fullmatch(value) is not None,
        allowed=f"a string matching {_NAME_PATTERN.pattern}",
    ),
    _Field("description", "string", ""),
    _number("timeout", 180.0, lower=_above(0), upper=_at_most(MAX_SECONDS)),
    _integer("repetitions", 1, lower=_at_least(1), upper=_at_most(MAX_REPETITIONS)),
    _Field("baseline", "boolean", True),
    _number("watchdog", None, lower=_above(0), upper=_at_most(MAX_SECONDS)),
)

_WORKLOAD_FIELDS: Final = (
    _choice("kind", "fibonacci", ("fibonacci",)),
    _integer("tasks", 40, lower=_at_least(1), upper=_at_most(MAX_TASKS)),
    _integer("n", 30, lower=_at_least(1), upper=_at_most(40)),
    _choice("effects", "none", EFFECT_MODES),
)

# Strategy name -> its settings. Add a row to add a strategy.
_STRATEGY_FIELDS: Final[Mapping[str, tuple[_Field, ...]]] = MappingProxyType(
    {
        "pool": (
            _integer("workers", 10, lower=_at_least(1), upper=_at_most(MAX_WORKERS)),
            _choice("start_method", "fork", ("fork", "spawn", "forkserver")),
        ),
        "dbos": (
            # Global concurrency of the DBOS queue, and its limit per process.
            _integer(
                "concurrency", 10, lower=_at_least(1), upper=_at_most(MAX_WORKERS)
            ),
            _integer(
                "worker_concurrency",
                5,
                lower=_at_least(1),
                upper=_at_most("strategies.dbos.concurrency"),
            ),
            # Seconds between queue polls. DBOS 3.4 also uses 1.0 by default.
            _number("polling_interval", 1.0, lower=_above(0)),
        ),
        "hybrid": (
            _integer("workers", 10, lower=_at_least(1), upper=_at_most(MAX_WORKERS)),
            _integer(
                "chunk_size", 10, lower=_at_least(1), upper=_at_most("workload.tasks")
            ),
            _choice(
                "start_method",
                "forkserver",
                ("spawn", "forkserver"),
                note="fork is rejected because forking a process in which DBOS "
                "runs threads can deadlock",
            ),
        ),
        "dbos_pool": (
            _integer("workers", 10, lower=_at_least(1), upper=_at_most(MAX_WORKERS)),
            # Tasks per DBOS step: 1 checkpoints every task on its own.
            _integer(
                "batch_size", 1, lower=_at_least(1), upper=_at_most("workload.tasks")
            ),
            _choice(
                "start_method",
                "forkserver",
                ("spawn", "forkserver"),
                note="fork is rejected because forking a process in which DBOS "
                "runs threads can deadlock",
            ),
            # Seconds between polls of the queue on which DBOS puts the workflows
            # it recovers at launch. DBOS 3.4 uses 1.0.
            _number("recovery_polling_interval", 0.1, lower=_above(0)),
        ),
        "checkpoint_pool": (
            _integer("workers", 10, lower=_at_least(1), upper=_at_most(MAX_WORKERS)),
            _choice("start_method", "fork", ("fork", "spawn", "forkserver")),
        ),
    }
)

STRATEGY_NAMES: Final[tuple[str, ...]] = tuple(_STRATEGY_FIELDS)
"""Names of the strategies that a scenario may run."""

_SIGNALS: Final = ("SIGKILL", "SIGTERM", "SIGSTOP")
_TARGETS: Final = ("group", "main", "worker")

# Keys that set which signal a fault sends and to what, shared with the schedule.
_SIGNAL_FIELDS: Final = (
    _choice("signal", "SIGKILL", _SIGNALS),
    _choice("target", "group", _TARGETS),
    _number("grace", None, lower=_at_least(0), upper=_at_most(MAX_SECONDS)),
    _number("stop_seconds", None, lower=_above(0), upper=_at_most(MAX_SECONDS)),
)

_FAULT_FIELDS: Final = (
    _integer("after_tasks", None, lower=_at_least(1), upper=_below("workload.tasks")),
    _number("after_seconds", None, lower=_above(0), upper=_below("timeout")),
    _integer(
        "incarnation",
        None,
        lower=_at_least(1),
        default_factory=lambda context: context.position + 1,
    ),
    _Field("failpoint", "string", choices=FAILPOINT_NAMES),
    _integer("hit", None, lower=_at_least(1), upper=_at_most(MAX_TASKS)),
    *_SIGNAL_FIELDS,
)

# Each fault sets exactly one of these keys.
_FAULT_TRIGGERS: Final = ("after_tasks", "after_seconds", "failpoint")

_SCHEDULE_FIELDS: Final = (
    _integer("seed", 0),
    _integer("kills", 1, lower=_at_least(1)),
    _number("min_gap", 1.0, lower=_above(0), upper=_below("timeout")),
    _number(
        "max_gap", 5.0, lower=_at_least("schedule.min_gap"), upper=_below("timeout")
    ),
    _integer("first_incarnation", 1, lower=_at_least(1)),
    *_SIGNAL_FIELDS,
)

_EXPECT_FIELDS: Final = tuple(
    _Field(name, "string", choices=VERDICT_VALUES) for name in VERDICT_NAMES
)

_RESTART_FIELDS: Final = (
    _integer("max_restarts", 5, lower=_at_least(0), upper=_at_most(MAX_RESTARTS)),
    _number("delay", 0.2, lower=_at_least(0), upper=_at_most(MAX_SECONDS)),
    _number("backoff", 2.0, lower=_at_least(1)),
    _number("max_delay", 5.0, lower=_at_least("restart.delay")),
)

_TOP_KEYS: Final = (
    "name",
    "description",
    "workload",
    "strategies",
    "faults",
    "restart",
    "timeout",
    "repetitions",
    "baseline",
    "watchdog",
    "schedule",
    "expect",
)

_STRATEGIES_ALLOWED: Final = (
    "a list of strategy names or a mapping of strategy name to settings, naming at "
    f"least one of: {', '.join(STRATEGY_NAMES)}"
)


# ---------------------------------------------------------------------------
# Value formatting
# ---------------------------------------------------------------------------


def _format_number(value: float) -> str:
    """Format a number without a trailing ``.0``, for messages."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return repr(value)


def _show(value: Any) -> str:
    """Format a value of the right type, like ``'SIGHUP'`` or ``0``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _format_number(value)
    return repr(value)


def _describe(value: Any) -> str:
    """Format a value together with its type, like ``a string 'ten'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean {_show(value)}"
    if isinstance(value, int):
        return f"an integer {value}"
    if isinstance(value, float):
        return f"a float {value!r}"
    if isinstance(value, str):
        return f"a string {value!r}"
    if isinstance(value, bytes):
        return f"binary data of {len(value)} bytes"
    if isinstance(value, datetime.datetime):
        return f"a timestamp {value.isoformat()!r}"
    if isinstance(value, datetime.date):
        return f"a date {value.isoformat()!r}"
    return f"a value of type {type(value).__name__}"


def _short_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _line(node: yaml.Node | None) -> int | None:
    """Return the 1-based line of a node, or None for a node built from a dict."""
    mark = getattr(node, "start_mark", None)
    return None if mark is None else int(mark.line) + 1


def _allowed_text(field: _Field, resolved: Mapping[str, Any]) -> str:
    """Describe the values that a field accepts.

    Args:
        field: The field.
        resolved: Valid values of other keys, by dotted key. A limit that refers
            to a key in here is shown as a number, and any other as the key.

    Returns:
        Text such as ``an integer from 1 to 39 (below workload.tasks)``.

    """
    if field.allowed:
        return field.allowed
    if field.choices:
        text = "one of: " + ", ".join(field.choices)
        return f"{text} ({field.note})" if field.note else text
    if field.kind == "string":
        return "a string"
    if field.kind == "boolean":
        return "true or false"
    return _range_text(field, resolved)


_REFERENCE_WORDS: Final = {
    (True, True): "at least",
    (True, False): "above",
    (False, True): "at most",
    (False, False): "below",
}


def _range_text(field: _Field, resolved: Mapping[str, Any]) -> str:
    noun = "an integer" if field.kind == "integer" else "a finite number"
    conditions: list[str] = []
    references: list[str] = []
    # Inclusive integer bounds, for the "from 1 to 39" form.
    integer_bounds: list[int] = []
    for limit, is_lower in ((field.lower, True), (field.upper, False)):
        if limit is None:
            continue
        if is_lower:
            operator = ">=" if limit.inclusive else ">"
        else:
            operator = "<=" if limit.inclusive else "<"
        bound = limit.bound
        if isinstance(bound, str):
            if bound not in resolved:
                conditions.append(f"{operator} {bound}")
                continue
            references.append(f"{_REFERENCE_WORDS[is_lower, limit.inclusive]} {bound}")
            bound = resolved[bound]
        conditions.append(f"{operator} {_format_number(bound)}")
        integer_bounds.append(_inclusive_integer(bound, limit.inclusive, is_lower))
    suffix = f" ({', '.join(references)})" if references else ""
    if field.kind == "integer" and len(integer_bounds) == 2:
        low, high = integer_bounds
        if low > high:
            return f"no integer, because it must be {' and '.join(conditions)}{suffix}"
        return f"an integer from {low} to {high}{suffix}"
    if not conditions:
        return noun
    return f"{noun} {' and '.join(conditions)}{suffix}"


def _inclusive_integer(bound: float, inclusive: bool, is_lower: bool) -> int:
    """Return the smallest (lower) or largest (upper) integer within a limit."""
    if is_lower:
        return math.ceil(bound) if inclusive else math.floor(bound) + 1
    return math.floor(bound) if inclusive else math.ceil(bound) - 1


def _within(value: float, limit: _Limit, bound: float, is_lower: bool) -> bool:
    if is_lower:
        return value >= bound if limit.inclusive else value > bound
    return value <= bound if limit.inclusive else value < bound


def _has_kind(value: Any, kind: _Kind) -> bool:
    # bool is a subclass of int, but ``tasks: true`` is a wrong type.
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int)
    return isinstance(value, int | float)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


class _Invalid:
    """Type of :data:`_INVALID`."""

    def __repr__(self) -> str:
        return "<invalid>"


# Marker for a value that failed validation, so that checks comparing it with other
# keys are skipped.
_INVALID: Final = _Invalid()


class _Validator:
    """Walk a composed scenario node tree and collect every problem in it."""

    def __init__(self, stem: str) -> None:
        self.problems: list[Problem] = []
        # Value of every validated key by dotted key, or _INVALID, for limits that
        # refer to another key.
        self._resolved: dict[str, Any] = {}
        self._stem = stem
        self._constructor = SafeConstructor()

    def report(
        self, key: str, where: yaml.Node | int | None, found: str, allowed: str
    ) -> None:
        """Record one problem at a node, or at a line when the node is missing."""
        line = where if isinstance(where, int) or where is None else _line(where)
        self.problems.append(Problem(key, line, found, allowed))

    def scenario(self, root: yaml.Node, path: str) -> Scenario | None:
        """Validate the root mapping and build the scenario.

        Args:
            root: Root node of the document.
            path: Value of :attr:`Scenario.path`.

        Returns:
            The scenario, or None when any problem was found.

        """
        top_allowed = "a mapping with the keys: " + ", ".join(_TOP_KEYS)
        if not self._is_mapping(root, FILE_KEY, top_allowed):
            return None
        root_line = _line(root)
        entries = self._entries(root, "", _TOP_KEYS)

        # Sections are validated in this order so that each limit that refers to
        # another key finds that key already validated (see _Limit).
        top = self._section(entries, "", _TOP_FIELDS, root_line)
        workload = self._required_section(
            entries.get("workload"), "workload", _WORKLOAD_FIELDS, root_line
        )
        restart = self._optional_section(
            entries.get("restart"), "restart", _RESTART_FIELDS, root_line
        )
        strategies = self._strategies(entries.get("strategies"), root_line)
        rules = RuleContext(
            strategies=tuple(name for name, _ in strategies),
            effects=str(workload["effects"]),
            watchdog=top["watchdog"] if top["watchdog"] is not _INVALID else 0.0,
            last_incarnation=(
                restart["max_restarts"] + 1
                if restart["max_restarts"] is not _INVALID
                else None
            ),
        )
        faults = self._faults(entries.get("faults"), rules)
        schedule = self._schedule(entries.get("schedule"), rules, faults)
        expect = self._expect(entries.get("expect"))

        if self.problems:
            return None
        return Scenario(
            name=top["name"],
            description=top["description"],
            path=path,
            workload=Workload(**workload),
            strategies=tuple(
                StrategySpec(name, settings) for name, settings in strategies
            ),
            faults=tuple(sorted(faults, key=lambda fault: fault.incarnation)),
            restart=RestartPolicy(**restart),
            timeout=top["timeout"],
            repetitions=top["repetitions"],
            baseline=top["baseline"],
            schedule=schedule,
            watchdog=top["watchdog"],
            expect=expect,
        )

    # -- structure ---------------------------------------------------------

    def _is_mapping(self, node: yaml.Node, key: str, allowed: str) -> bool:
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            return True
        self.report(key, node, self._describe_node(node), allowed)
        return False

    def _describe_node(self, node: yaml.Node) -> str:
        """Format any node for a ``found`` text."""
        default_tag = _MAP_TAG if isinstance(node, yaml.MappingNode) else _SEQ_TAG
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            noun = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
            if node.tag != default_tag:
                return f"{noun} tagged {_short_tag(node.tag)}"
            if not node.value:
                return f"an empty {noun[2:]}"
            return noun
        try:
            value = self._constructor.construct_object(node, deep=True)
        except _CONSTRUCT_ERRORS:
            return f"{node.value!r} tagged {_short_tag(node.tag)}"
        return _describe(value)

    def _entries(
        self, node: yaml.Node, path: str, allowed_keys: tuple[str, ...]
    ) -> dict[str, yaml.Node]:
        """Map each allowed key of a mapping node to its value node.

        Unknown, duplicate and non-string keys are reported and left out.
        """
        allowed = "one of: " + ", ".join(allowed_keys)
        entries: dict[str, yaml.Node] = {}
        key_nodes: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG):
                label = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                found = f"the key {self._describe_node(key_node)}"
                self.report(_join(path, str(label)), key_node, found, allowed)
                continue
            name = key_node.value
            key = _join(path, name)
            if name not in allowed_keys:
                self.report(key, key_node, repr(name), allowed)
            elif name in entries:
                first_line = _line(key_nodes[name])
                found = f"a second {name!r} key (the first is on line {first_line})"
                self.report(key, key_node, found, "each key at most once")
            else:
                entries[name] = value_node
                key_nodes[name] = key_node
        return entries

    def _required_section(
        self,
        node: yaml.Node | None,
        path: str,
        fields: tuple[_Field, ...],
        parent_line: int | None,
    ) -> dict[str, Any]:
        allowed = "a mapping of: " + ", ".join(field.key for field in fields)
        if node is None:
            self.report(path, parent_line, "nothing", allowed)
            return self._skip_section(path, fields)
        if not self._is_mapping(node, path, allowed):
            return self._skip_section(path, fields)
        entries = self._entries(node, path, tuple(field.key for field in fields))
        return self._section(entries, path, fields, _line(node))

    def _optional_section(
        self,
        node: yaml.Node | None,
        path: str,
        fields: tuple[_Field, ...],
        parent_line: int | None,
    ) -> dict[str, Any]:
        if node is None:
            return self._section({}, path, fields, parent_line)
        return self._required_section(node, path, fields, parent_line)

    def _skip_section(self, path: str, fields: tuple[_Field, ...]) -> dict[str, Any]:
        """Mark every key of an invalid section as invalid."""
        for field in fields:
            self._resolved[_join(path, field.key)] = _INVALID
        return {field.key: _INVALID for field in fields}

    # -- fields ------------------------------------------------------------

    def _section(
        self,
        entries: Mapping[str, yaml.Node],
        path: str,
        fields: tuple[_Field, ...],
        line: int | None,
        position: int = 0,
    ) -> dict[str, Any]:
        """Validate every field of one section.

        Args:
            entries: Value node of each key present in the section.
            path: Dotted key of the section, empty for the top level.
            fields: The section's field table.
            line: Line of the section, for problems with missing keys.
            position: Position of the section in its list, for computed defaults.

        Returns:
            Field key to value, with defaults filled in and _INVALID for each
            invalid value.

        """
        context = _DefaultContext(self._stem, position)
        values: dict[str, Any] = {}
        for field in fields:
            key = _join(path, field.key)
            value = self._field(field, key, entries.get(field.key), line, context)
            values[field.key] = value
            self._resolved[key] = value
        return values

    def _field(
        self,
        field: _Field,
        key: str,
        node: yaml.Node | None,
        parent_line: int | None,
        context: _DefaultContext,
    ) -> Any:
        """Validate one value, or compute the default of a missing key.

        Returns:
            The value, None for a missing key without default, or _INVALID.

        """
        resolved = self._resolved_limits(field, key)
        if node is None:
            if field.default_factory is not None:
                value = field.default_factory(context)
            else:
                value = field.default
            if value is None:
                return None
            where: yaml.Node | int | None = parent_line
        else:
            value = self._scalar(node, field, key, resolved)
            if value is _INVALID:
                return _INVALID
            where = node

        def found() -> str:
            if node is None:
                return f"nothing, so the default {_show(value)}"
            return _show(value)

        if not self._passes_own_checks(value, field):
            self.report(key, where, found(), _allowed_text(field, resolved))
            return _INVALID
        for limit, is_lower in ((field.lower, True), (field.upper, False)):
            if limit is None or not isinstance(limit.bound, str):
                continue
            if limit.bound not in resolved:
                continue
            bound = resolved[limit.bound]
            if _within(value, limit, bound, is_lower):
                continue
            if node is None and limit.inclusive:
                value = bound
                continue
            self.report(key, where, found(), _allowed_text(field, resolved))
            return _INVALID
        return value

    def _resolved_limits(self, field: _Field, key: str) -> dict[str, Any]:
        """Return the valid values of the keys that the field's limits refer to.

        Raises:
            RuntimeError: If a limit refers to a key that is not validated before
                this field, which is a mistake in the field tables.

        """
        resolved: dict[str, Any] = {}
        for limit in (field.lower, field.upper):
            if limit is None or not isinstance(limit.bound, str):
                continue
            if limit.bound not in self._resolved:
                raise RuntimeError(
                    f"the limit of {key} refers to {limit.bound}, which is not "
                    "validated before it"
                )
            value = self._resolved[limit.bound]
            if value is not _INVALID and value is not None:
                resolved[limit.bound] = value
        return resolved

    def _scalar(
        self,
        node: yaml.Node,
        field: _Field,
        key: str,
        resolved: Mapping[str, Any],
    ) -> Any:
        """Construct a scalar node and check its type.

        Returns:
            The value, a float for a ``number`` field, or _INVALID.

        """
        allowed = _allowed_text(field, resolved)
        if not isinstance(node, yaml.ScalarNode):
            self.report(key, node, self._describe_node(node), allowed)
            return _INVALID
        try:
            value = self._constructor.construct_object(node, deep=True)
        except _CONSTRUCT_ERRORS:
            found = f"{node.value!r} tagged {_short_tag(node.tag)}"
            self.report(key, node, found, allowed)
            return _INVALID
        if not _has_kind(value, field.kind):
            self.report(key, node, _describe(value), allowed)
            return _INVALID
        if field.kind == "number":
            try:
                return float(value)
            except OverflowError:
                self.report(key, node, _show(value), allowed)
                return _INVALID
        return value

    def _passes_own_checks(self, value: Any, field: _Field) -> bool:
        """Check the rules of a field that do not depend on other keys."""
        if field.kind == "number" and not math.isfinite(value):
            return False
        if field.choices and value not in field.choices:
            return False
        if field.check is not None and not field.check(value):
            return False
        for limit, is_lower in ((field.lower, True), (field.upper, False)):
            if limit is None or isinstance(limit.bound, str):
                continue
            if not _within(value, limit, limit.bound, is_lower):
                return False
        return True

    # -- strategies and faults ---------------------------------------------

    def _strategies(
        self, node: yaml.Node | None, root_line: int | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Validate ``strategies`` in list or mapping form.

        Returns:
            (name, settings) pairs in the order of the file.

        """
        if node is None:
            self.report("strategies", root_line, "nothing", _STRATEGIES_ALLOWED)
            return []
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            settings_nodes = self._strategy_list(node)
        elif isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            entries = self._entries(node, "strategies", STRATEGY_NAMES)
            settings_nodes = list(entries.items())
        else:
            found = self._describe_node(node)
            self.report("strategies", node, found, _STRATEGIES_ALLOWED)
            return []
        if not node.value:
            found = self._describe_node(node)
            self.report("strategies", node, found, _STRATEGIES_ALLOWED)

        strategies: list[tuple[str, dict[str, Any]]] = []
        for name, settings_node in settings_nodes:
            path = f"strategies.{name}"
            fields = _STRATEGY_FIELDS[name]
            if settings_node is None or _is_null(settings_node):
                line = _line(settings_node) or _line(node)
                settings = self._section({}, path, fields, line)
            else:
                keys = tuple(field.key for field in fields)
                allowed = f"a mapping of: {', '.join(keys)}, or null for the defaults"
                if self._is_mapping(settings_node, path, allowed):
                    entries = self._entries(settings_node, path, keys)
                    settings = self._section(
                        entries, path, fields, _line(settings_node)
                    )
                else:
                    settings = self._skip_section(path, fields)
            strategies.append((name, settings))
        return strategies

    def _strategy_list(self, node: yaml.Node) -> list[tuple[str, yaml.Node | None]]:
        """Validate the list form of ``strategies``.

        Returns:
            (name, None) for each valid name, because the list form sets no
            settings.

        """
        allowed = "one of: " + ", ".join(STRATEGY_NAMES)
        first_positions: dict[str, int] = {}
        names: list[tuple[str, yaml.Node | None]] = []
        for position, item in enumerate(node.value):
            key = f"strategies[{position}]"
            name_field = _Field(key, "string", choices=STRATEGY_NAMES)
            name = self._scalar(item, name_field, key, {})
            if name is _INVALID:
                continue
            if name not in STRATEGY_NAMES:
                self.report(key, item, repr(name), allowed)
            elif name in first_positions:
                first = first_positions[name]
                self.report(
                    key,
                    item,
                    repr(name),
                    f"a strategy not already listed at strategies[{first}]",
                )
            else:
                first_positions[name] = position
                names.append((name, None))
        return names

    def _faults(self, node: yaml.Node | None, rules: RuleContext) -> list[Fault]:
        """Validate ``faults``, including the checks across faults.

        Returns:
            The valid faults in the order of the file.

        """
        if node is None:
            return []
        allowed = "a list of fault mappings"
        if not (isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG):
            self.report("faults", node, self._describe_node(node), allowed)
            return []

        keys = tuple(field.key for field in _FAULT_FIELDS)
        item_allowed = "a mapping of: " + ", ".join(keys)
        faults: list[Fault] = []
        first_by_incarnation: dict[int, int] = {}
        for position, item in enumerate(node.value):
            path = f"faults[{position}]"
            if not self._is_mapping(item, path, item_allowed):
                continue
            entries = self._entries(item, path, keys)
            values = self._section(entries, path, _FAULT_FIELDS, _line(item), position)
            self._check_triggers(entries, path, item)
            self._check_rules(values, entries, path, item, rules)

            incarnation = values["incarnation"]
            if incarnation is not _INVALID:
                if incarnation in first_by_incarnation:
                    where = entries.get("incarnation", item)
                    found = _show(incarnation)
                    if "incarnation" not in entries:
                        found = f"nothing, so the default {found}"
                    first = first_by_incarnation[incarnation]
                    allowed_text = f"an incarnation not used by faults[{first}]"
                    self.report(f"{path}.incarnation", where, found, allowed_text)
                else:
                    first_by_incarnation[incarnation] = position
                last = rules.last_incarnation
                if last is not None and incarnation > last:
                    found = _show(incarnation)
                    if "incarnation" not in entries:
                        found = f"nothing, so the default {found}"
                    self.report(
                        f"{path}.incarnation",
                        entries.get("incarnation", item),
                        found,
                        f"an incarnation from 1 to {last} (restart.max_restarts + 1),"
                        " because no later incarnation is ever launched",
                    )
            if _INVALID not in values.values():
                faults.append(Fault(**values))
        return faults

    def _check_rules(
        self,
        values: Mapping[str, Any],
        entries: Mapping[str, yaml.Node],
        path: str,
        item: yaml.Node,
        rules: RuleContext,
    ) -> None:
        """Report the broken rules of fault_rules.py, at the key they name."""
        for key, found, allowed in check_fault_rules(values, set(entries), rules):
            self.report(_join(path, key), entries.get(key, item), found, allowed)

    def _schedule(
        self, node: yaml.Node | None, rules: RuleContext, faults: list[Fault]
    ) -> Schedule | None:
        """Validate ``schedule`` and check that it leaves ``faults`` alone.

        Returns:
            The schedule, or None when it is missing or invalid.

        """
        if node is None:
            return None
        allowed = "a mapping of: " + ", ".join(f.key for f in _SCHEDULE_FIELDS)
        if not self._is_mapping(node, "schedule", allowed):
            return None
        keys = tuple(field.key for field in _SCHEDULE_FIELDS)
        entries = self._entries(node, "schedule", keys)
        values = self._section(entries, "schedule", _SCHEDULE_FIELDS, _line(node))
        self._check_rules(values, entries, "schedule", node, rules)
        if _INVALID in values.values():
            return None
        schedule = Schedule(**values)
        last = schedule.first_incarnation + schedule.kills - 1
        if rules.last_incarnation is not None and last > rules.last_incarnation:
            self.report(
                "schedule.kills",
                entries.get("kills", node),
                f"{schedule.kills} kills from incarnation "
                f"{schedule.first_incarnation}, up to incarnation {last}",
                f"kills that end by incarnation {rules.last_incarnation} "
                "(restart.max_restarts + 1), because no later incarnation is ever "
                "launched",
            )
        for position, fault in enumerate(faults):
            if schedule.first_incarnation <= fault.incarnation <= last:
                where = entries.get("first_incarnation", node)
                self.report(
                    "schedule.first_incarnation",
                    where,
                    f"incarnations {schedule.first_incarnation} to {last}, "
                    f"which include incarnation {fault.incarnation} of "
                    f"faults[{position}]",
                    "a first_incarnation and kills that leave out every "
                    "incarnation used by faults",
                )
                return None
        return schedule

    def _expect(self, node: yaml.Node | None) -> tuple[tuple[str, str], ...]:
        """Validate ``expect``: checker verdict names mapped to expected values."""
        if node is None:
            return ()
        values = self._required_section(node, "expect", _EXPECT_FIELDS, _line(node))
        return tuple(
            (name, value) for name, value in values.items() if isinstance(value, str)
        )

    def _check_triggers(
        self, entries: Mapping[str, yaml.Node], path: str, item: yaml.Node
    ) -> None:
        """Report a fault that sets none or several of its trigger keys."""
        present = [key for key in _FAULT_TRIGGERS if key in entries]
        if len(present) == 1:
            return
        allowed = "exactly one of: " + ", ".join(_FAULT_TRIGGERS)
        if not present:
            self.report(path, item, "none of: " + ", ".join(_FAULT_TRIGGERS), allowed)
            return
        last = max(present, key=lambda key: _line(entries[key]) or 0)
        found = " and ".join(present) + " together"
        self.report(_join(path, last), entries[last], found, allowed)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


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
