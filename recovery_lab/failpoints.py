"""Named points in the strategies and the task code where a process can kill itself.

A failpoint is armed for one incarnation through the ``RECOVERY_LAB_FAILPOINT``
environment variable, which the supervisor sets to a JSON object with the name,
the hit that fires it and the file that counts the hits. Every process of that
incarnation inherits the variable, so pool workers see it too. Each time a process
reaches the armed point it adds one byte to the counter file under an exclusive
``flock``, so the count is exact across all processes of the group. When the count
reaches the armed hit, the process appends a ``failpoint`` record to the history
and SIGKILLs its own process group, as a power loss at that instruction would.

Call sites test :data:`ARMED` before calling :func:`reach`, so a disarmed
failpoint costs one module attribute load and one truth test::

    if failpoints.ARMED:
        failpoints.reach("after_compute", task=task)
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from recovery_lab.ledger import current_incarnation, task_writer

FAILPOINT_ENV: Final = "RECOVERY_LAB_FAILPOINT"

BEFORE_TASK: Final = "before_task"
AFTER_COMPUTE: Final = "after_compute"
AFTER_EFFECT: Final = "after_effect"
AFTER_CHECKPOINT: Final = "after_checkpoint"
BETWEEN_CHUNKS: Final = "between_chunks"

DESCRIPTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        BEFORE_TASK: "a task is about to start, before its start record",
        AFTER_COMPUTE: "a task computed its result and wrote its finish record, "
        "before its side effect and before DBOS or the pool parent received it",
        AFTER_EFFECT: "a task wrote its side effect, before DBOS or the pool "
        "parent received its result",
        AFTER_CHECKPOINT: "DBOS recorded a step's output (a task for dbos, a chunk "
        "for hybrid), before the workflow went on",
        BETWEEN_CHUNKS: "the hybrid workflow finished a chunk and is about to "
        "start the next one",
    }
)

# The task-level failpoints live in workload.run_task, which every strategy calls.
TASK_FAILPOINTS: Final = (BEFORE_TASK, AFTER_COMPUTE, AFTER_EFFECT)

# Failpoints that each strategy reaches. A strategy missing here reaches the
# task-level ones only.
STRATEGY_FAILPOINTS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "pool": TASK_FAILPOINTS,
        "dbos": (*TASK_FAILPOINTS, AFTER_CHECKPOINT),
        "hybrid": (*TASK_FAILPOINTS, AFTER_CHECKPOINT, BETWEEN_CHUNKS),
        "dbos_pool": (*TASK_FAILPOINTS, AFTER_CHECKPOINT),
        "checkpoint_pool": TASK_FAILPOINTS,
    }
)

FAILPOINT_NAMES: Final = tuple(DESCRIPTIONS)
"""Every failpoint name, in the order in which a task reaches them."""


def supported_failpoints(strategy: str) -> tuple[str, ...]:
    """Return the failpoints that a strategy reaches."""
    return STRATEGY_FAILPOINTS.get(strategy, TASK_FAILPOINTS)


def encode_arming(name: str, hit: int, counter_path: str) -> str:
    """Return the value of :data:`FAILPOINT_ENV` that arms one failpoint.

    Args:
        name: Failpoint name, one of :data:`FAILPOINT_NAMES`.
        hit: 1-based hit that fires it, counted over every process of the group.
        counter_path: File that counts the hits; it must not exist yet.

    Returns:
        JSON text.

    """
    return json.dumps({"name": name, "hit": hit, "counter": counter_path})


def _read_arming() -> dict[str, Any] | None:
    text = os.environ.get(FAILPOINT_ENV)
    if not text:
        return None
    arming = json.loads(text)
    if not isinstance(arming, dict):
        raise ValueError(f"{FAILPOINT_ENV} is not a JSON object: {text!r}")
    return arming


_ARMING: Final = _read_arming()

ARMED: bool = _ARMING is not None
"""Whether this process has a failpoint armed; tested before every :func:`reach`."""

_lock = threading.Lock()


def _count_hit(counter_path: str) -> int:
    """Add one hit to the counter file and return the new count."""
    fd = os.open(counter_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b".")
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def reach(name: str, **fields: Any) -> None:
    """Count a hit of a failpoint and kill the process group if it is the armed one.

    Args:
        name: Failpoint name.
        **fields: Facts added to the ``failpoint`` record, such as the task id.

    """
    if _ARMING is None or _ARMING["name"] != name:
        return
    with _lock:
        hit = _count_hit(str(_ARMING["counter"]))
        if hit != int(_ARMING["hit"]):
            return
        writer = task_writer()
        if writer is not None:
            writer.append(
                {
                    "event": "failpoint",
                    "time": time.time(),
                    "name": name,
                    "hit": hit,
                    "pid": os.getpid(),
                    "ppid": os.getppid(),
                    "tid": threading.get_native_id(),
                    "incarnation": current_incarnation(),
                    **fields,
                }
            )
        os.killpg(os.getpgid(0), signal.SIGKILL)
        # Not reached: the kernel delivers a SIGKILL sent to the caller's own
        # group before killpg returns to user space.
        os.kill(os.getpid(), signal.SIGKILL)
