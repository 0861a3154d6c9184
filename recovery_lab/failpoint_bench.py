"""Measure what disarmed failpoints cost a task, side by side in one process.

A task reaches three failpoints (before_task, after_compute, after_effect). This
script times a task body without any failpoint check and the same body with the
three checks of ``failpoints.ARMED`` that ``workload.run_task`` makes, alternating
the two many times and keeping each one's fastest repetition, and prints the
ratio for several task sizes. It also times the three checks alone against an
empty function, which gives their cost in nanoseconds without the noise of the
task. Run it with the project's interpreter:

    python -m recovery_lab.failpoint_bench
"""

from __future__ import annotations

import os
import platform
import timeit

from recovery_lab import failpoints
from recovery_lab.workload import fibonacci_naive

# Fibonacci indexes of the tasks timed: from a task far smaller than any in the
# shipped scenarios (fib(10) takes microseconds) to a typical small one.
SIZES = (10, 15, 20, 25)
REPETITIONS = 15


def task_without_checks(n: int) -> int:
    """Compute a task with no failpoint in it."""
    return fibonacci_naive(n)


def task_with_checks(n: int) -> int:
    """Compute a task with the three checks that run_task makes."""
    if failpoints.ARMED:
        failpoints.reach(failpoints.BEFORE_TASK)
    result = fibonacci_naive(n)
    if failpoints.ARMED:
        failpoints.reach(failpoints.AFTER_COMPUTE)
    if failpoints.ARMED:
        failpoints.reach(failpoints.AFTER_EFFECT)
    return result


def only_checks() -> None:
    """Make the three checks and nothing else."""
    if failpoints.ARMED:
        failpoints.reach(failpoints.BEFORE_TASK)
    if failpoints.ARMED:
        failpoints.reach(failpoints.AFTER_COMPUTE)
    if failpoints.ARMED:
        failpoints.reach(failpoints.AFTER_EFFECT)


def no_checks() -> None:
    """Do nothing, as the reference for only_checks."""


def best_seconds(function: object, n: int, number: int) -> float:
    """Return the fastest of one timing of ``number`` calls, in seconds per call."""
    timer = timeit.Timer(lambda: function(n))  # type: ignore[operator]
    return timer.timeit(number) / number


def main() -> None:
    """Print the time per task of both variants and their ratio."""
    if failpoints.ARMED:
        raise SystemExit(f"unset {failpoints.FAILPOINT_ENV} to measure disarmed cost")
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, best of {REPETITIONS} alternating repetitions"
    )
    calls = 1_000_000
    empty = min(timeit.repeat(no_checks, number=calls, repeat=REPETITIONS))
    checks = min(timeit.repeat(only_checks, number=calls, repeat=REPETITIONS))
    overhead = (checks - empty) / calls
    print(f"three disarmed checks: {overhead * 1e9:.1f} ns per task")
    print(f"{'fib(n)':>8} {'no checks':>12} {'3 checks':>12} {'ratio':>8}")
    for n in SIZES:
        # About 0.2 s of work per timing, whatever the task size.
        number = max(1, int(0.2 / best_seconds(task_without_checks, n, 1)))
        plain: list[float] = []
        checked: list[float] = []
        for repetition in range(REPETITIONS):
            # Swap the order every repetition so that neither variant always
            # runs first.
            if repetition % 2:
                checked.append(best_seconds(task_with_checks, n, number))
                plain.append(best_seconds(task_without_checks, n, number))
            else:
                plain.append(best_seconds(task_without_checks, n, number))
                checked.append(best_seconds(task_with_checks, n, number))
        low_plain, low_checked = min(plain), min(checked)
        print(
            f"{n:>8} {low_plain * 1e6:>10.2f}us {low_checked * 1e6:>10.2f}us "
            f"{low_checked / low_plain:>8.4f}   checks alone: "
            f"{overhead / low_plain:.6f} of the task"
        )


if __name__ == "__main__":
    main()
