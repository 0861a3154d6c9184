"""The CPU-bound work that every strategy runs, and the record of each attempt.

A task is identified by an integer id. Running it writes a ``start`` record to the
ledger, computes the result, writes a ``finish`` record carrying the result and
the CPU seconds the computation took, and then writes the task's side effect (see
effects.py). The failpoints ``before_task``, ``after_compute`` and ``after_effect``
sit between these steps. Both records name the process, its parent,
the thread and the incarnation, so the ledger alone shows where work ran and which
attempts a kill cut short.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from recovery_lab import failpoints
from recovery_lab.effects import write_effect
from recovery_lab.ledger import current_incarnation, task_writer


def fibonacci_naive(n: int) -> int:
    """Compute the n-th Fibonacci number by naive recursion: deliberately slow."""
    if n < 2:
        return n
    return fibonacci_naive(n - 1) + fibonacci_naive(n - 2)


def fibonacci_exact(n: int) -> int:
    """Compute the n-th Fibonacci number iteratively, as the reference result."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def expected_results(tasks: int, n: int) -> dict[int, int]:
    """Return the correct result of every task, computed without any strategy."""
    value = fibonacci_exact(n)
    return {task: value for task in range(tasks)}


def _attempt_fields(task: int) -> dict[str, Any]:
    return {
        "task": task,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "tid": threading.get_native_id(),
        "incarnation": current_incarnation(),
    }


def run_task(task: int, n: int, effect_key: str | None = None) -> int:
    """Run one task, record its start and finish in the ledger, write its effect.

    Args:
        task: Task id, from 0 to the number of tasks minus one.
        n: Fibonacci index that the task computes.
        effect_key: Idempotency key of the side effect, for the ``idempotent``
            effects mode; None keys it by task id.

    Returns:
        The n-th Fibonacci number.

    """
    if failpoints.ARMED:
        failpoints.reach(failpoints.BEFORE_TASK, task=task)
    writer = task_writer()
    fields = _attempt_fields(task)
    cpu_start = time.thread_time()
    if writer is not None:
        writer.append(
            {"event": "start", "time": time.time(), "cpu_start": cpu_start, **fields}
        )
    result = fibonacci_naive(n)
    cpu = time.thread_time() - cpu_start
    if writer is not None:
        writer.append(
            {
                "event": "finish",
                "time": time.time(),
                "cpu": cpu,
                "result": result,
                **fields,
            }
        )
    if failpoints.ARMED:
        failpoints.reach(failpoints.AFTER_COMPUTE, task=task)
    write_effect(task, effect_key)
    if failpoints.ARMED:
        failpoints.reach(failpoints.AFTER_EFFECT, task=task)
    return result


def run_task_pair(args: tuple[int, int] | tuple[int, int, str]) -> tuple[int, int]:
    """Run ``run_task(*args)`` and return ``(task, result)``, for ``Pool.imap``."""
    return args[0], run_task(*args)
