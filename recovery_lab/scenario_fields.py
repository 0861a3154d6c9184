"""Rules for each key of a scenario file, and how values show in error messages.

Each key is a row of a ``_*_FIELDS`` table: its type, default and limits. To add a
strategy, add a row to ``_STRATEGY_FIELDS``. To add a fault key, add a row to
``_FAULT_FIELDS`` and a field of the same name to ``scenario.Fault``.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

import yaml

from recovery_lab.checker import VERDICT_NAMES, VERDICT_VALUES
from recovery_lab.effects import EFFECT_MODES
from recovery_lab.failpoints import FAILPOINT_NAMES

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

# Settings that several strategies share.
_WORKERS: Final = _integer(
    "workers", 10, lower=_at_least(1), upper=_at_most(MAX_WORKERS)
)
# A process that runs DBOS starts its pools without fork.
_DBOS_START_METHOD: Final = _choice(
    "start_method",
    "forkserver",
    ("spawn", "forkserver"),
    note="fork is rejected because forking a process in which DBOS runs threads "
    "can deadlock",
)

# Strategy name -> its settings. Add a row to add a strategy.
_STRATEGY_FIELDS: Final[Mapping[str, tuple[_Field, ...]]] = MappingProxyType(
    {
        "pool": (
            _WORKERS,
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
            _WORKERS,
            _integer(
                "chunk_size", 10, lower=_at_least(1), upper=_at_most("workload.tasks")
            ),
            _DBOS_START_METHOD,
        ),
        "dbos_pool": (
            _WORKERS,
            # Tasks per DBOS step: 1 checkpoints every task on its own.
            _integer(
                "batch_size", 1, lower=_at_least(1), upper=_at_most("workload.tasks")
            ),
            _DBOS_START_METHOD,
            # Seconds between polls of the queue on which DBOS puts the workflows
            # it recovers at launch. DBOS 3.4 uses 1.0.
            _number("recovery_polling_interval", 0.1, lower=_above(0)),
        ),
        "checkpoint_pool": (
            _WORKERS,
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
    # No failpoint is reached more often than there are tasks.
    _integer("hit", None, lower=_at_least(1), upper=_at_most("workload.tasks")),
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
