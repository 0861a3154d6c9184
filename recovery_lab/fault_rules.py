"""Rules that tie the keys of a fault to each other and to the rest of a scenario.

The scenario validator checks each key of a fault on its own. The rules here check
combinations: a failpoint that one of the scenario's strategies never reaches, a
``worker`` target for a strategy without worker processes, a SIGSTOP without the
time to stay stopped, and so on. They apply to each item of ``faults`` and to
``schedule``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from recovery_lab.failpoints import (
    AFTER_EFFECT,
    FAILPOINT_NAMES,
    supported_failpoints,
)

# Strategies that run every task in their main process, so a ``worker`` target
# finds nothing to kill.
STRATEGIES_WITHOUT_WORKERS: Final = frozenset({"dbos"})


@dataclass(frozen=True)
class RuleContext:
    """Facts about the rest of the scenario that the rules depend on.

    Attributes:
        strategies: Names of the scenario's strategies.
        effects: The workload's effects mode.
        watchdog: The scenario's watchdog in seconds, or None when it is off.
        last_incarnation: The last incarnation the restart policy can launch,
            ``max_restarts + 1``, or None when ``max_restarts`` is invalid.

    """

    strategies: tuple[str, ...]
    effects: str
    watchdog: float | None
    last_incarnation: int | None = None


def _failpoint_problems(
    name: str, present: Collection[str], context: RuleContext
) -> list[tuple[str, str, str]]:
    problems = []
    missing = [s for s in context.strategies if name not in supported_failpoints(s)]
    if missing:
        common = [
            point
            for point in FAILPOINT_NAMES
            if all(point in supported_failpoints(s) for s in context.strategies)
        ]
        subject = "strategy " if len(missing) == 1 else "strategies "
        verb = " never reaches" if len(missing) == 1 else " never reach"
        problems.append(
            (
                "failpoint",
                f"{name!r}, which {subject}{', '.join(missing)}{verb}",
                "a failpoint that every strategy of the scenario reaches: "
                f"{', '.join(common)} (known failpoints: "
                f"{', '.join(FAILPOINT_NAMES)})",
            )
        )
    if name == AFTER_EFFECT and context.effects == "none":
        problems.append(
            (
                "failpoint",
                f"{name!r} with workload.effects none, so it is never reached",
                "workload.effects plain or idempotent together with after_effect",
            )
        )
    for key in ("signal", "target", "grace", "stop_seconds"):
        if key in present:
            problems.append(
                (
                    key,
                    f"{key} together with failpoint",
                    "no signal, target, grace or stop_seconds with a failpoint, "
                    "which always SIGKILLs the whole process group",
                )
            )
    return problems


def check_fault_rules(
    values: Mapping[str, Any], present: Collection[str], context: RuleContext
) -> list[tuple[str, str, str]]:
    """Check the combinations of a fault's keys.

    Args:
        values: The fault's values by key. A value that failed its own check is
            not a ``str`` or number, so the rules that need it are skipped.
        present: The keys written in the file, as opposed to defaults.
        context: The rest of the scenario.

    Returns:
        One ``(key, found, allowed)`` triple per broken rule, where ``key`` is
        the fault key at which to report it.

    """
    problems: list[tuple[str, str, str]] = []
    failpoint = values.get("failpoint")
    if isinstance(failpoint, str):
        return _failpoint_problems(failpoint, present, context)
    # A failpoint written but invalid was reported already.
    if "hit" in present and "failpoint" not in present:
        problems.append(
            ("hit", "hit without failpoint", "hit only together with failpoint")
        )

    target = values.get("target")
    if target == "worker":
        lacking = [s for s in context.strategies if s in STRATEGIES_WITHOUT_WORKERS]
        if lacking:
            problems.append(
                (
                    "target",
                    f"'worker' with strategy {', '.join(lacking)}, which runs "
                    "every task in its main process",
                    "group or main for that strategy",
                )
            )
        if context.watchdog is None:
            problems.append(
                (
                    "target",
                    "'worker' with no watchdog set",
                    "a top-level watchdog (seconds without progress before the "
                    "incarnation counts as hung), because a process pool whose "
                    "worker was killed can wait forever",
                )
            )

    signal = values.get("signal")
    if signal == "SIGSTOP" and values.get("stop_seconds") is None:
        problems.append(
            (
                "signal",
                "SIGSTOP without stop_seconds",
                "stop_seconds: seconds to keep the process stopped before SIGCONT",
            )
        )
    if isinstance(signal, str) and signal != "SIGSTOP" and "stop_seconds" in present:
        problems.append(
            ("stop_seconds", f"stop_seconds with {signal}", "stop_seconds with SIGSTOP")
        )
    if isinstance(signal, str) and signal != "SIGTERM" and "grace" in present:
        problems.append(("grace", f"grace with {signal}", "grace with SIGTERM"))
    return problems
