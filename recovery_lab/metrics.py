"""Metrics of one run, computed from its history file and its final results.

Definitions (all times in seconds, CPU in CPU-seconds):

- ``total_time``: from the first launch to the end of the run, restarts included.
- ``incarnations`` and ``kills``: launches of the strategy, and kills that fired:
  signals sent by the supervisor plus failpoints at which a process killed its
  group.
- ``finished_executions``: ``finish`` records, counting every attempt that ran to
  its end, including those whose result a kill later threw away.
- ``recomputed``: finished executions beyond one per task.
- ``lost_in_flight``: attempts that started and never finished because their
  process was killed.
- ``wasted_cpu``: CPU of the recomputed executions plus the CPU that the attempts
  lost in flight had used when the kill landed, measured per thread just before
  the signal was sent.
- ``recovery_times``: for each restart, from its launch to the first task that
  finished in it.
- ``distinct_pids``: processes that ran at least one attempt.
- ``idle_time``: total time during which no attempt was running: process start-up,
  DBOS launch and recovery, queue polling, restart delays.
- ``cores_used``: CPU of all attempts divided by the time during which at least one
  attempt was running. A strategy held by one GIL stays near 1 however many tasks
  it runs at once; a process pool approaches the number of cores.
- ``correct``: the final results equal the expected ones, task by task.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ProcessRow:
    """One process that ran task attempts.

    Attributes:
        pid: Process id.
        ppid: Its parent's process id.
        incarnation: The incarnation it belonged to.
        attempts: Attempts it started.
        finished: Attempts it finished.

    """

    pid: int
    ppid: int
    incarnation: int
    attempts: int = 0
    finished: int = 0


@dataclass
class RunMetrics:
    """Measured outcome of one run; see the module docstring for definitions."""

    total_time: float
    incarnations: int
    kills: int
    tasks: int
    finished_executions: int
    distinct_finished: int
    recomputed: int
    lost_in_flight: int
    wasted_cpu: float
    useful_cpu: float
    recovery_times: list[float | None]
    distinct_pids: int
    correct: bool
    missing_tasks: list[int] = field(default_factory=list)
    wrong_tasks: list[int] = field(default_factory=list)
    torn_lines: int = 0
    finished_before_kill: list[int] = field(default_factory=list)
    processes: list[ProcessRow] = field(default_factory=list)
    idle_time: float = 0.0
    cores_used: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics as JSON-serialisable data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunMetrics:
        """Rebuild metrics saved by :meth:`to_dict`."""
        values = dict(data)
        values["processes"] = [ProcessRow(**row) for row in data.get("processes", [])]
        return cls(**values)

    @property
    def mean_recovery_time(self) -> float | None:
        """Mean of the recovery times that were measured, or None."""
        measured = [t for t in self.recovery_times if t is not None]
        return statistics.fmean(measured) if measured else None


def _attempt_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record.get("task"),
        record.get("pid"),
        record.get("tid"),
        record.get("incarnation"),
    )


def _busy_time(intervals: list[tuple[float, float]]) -> float:
    """Return the length of the union of time intervals."""
    busy = 0.0
    current_start = current_end = None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                busy += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None and current_end is not None:
        busy += current_end - current_start
    return busy


def compute_metrics(
    records: list[dict[str, Any]],
    results: dict[int, int] | None,
    expected: dict[int, int],
    torn_lines: int = 0,
) -> RunMetrics:
    """Compute the metrics of a run.

    Args:
        records: Every record of the run's history, in file order.
        results: The strategy's final results, or None if it did not complete.
        expected: The correct result of every task.
        torn_lines: Lines of the history that did not parse.

    Returns:
        The run's metrics.

    """
    launches = {r["incarnation"]: r["time"] for r in records if r["event"] == "launch"}
    # A kill sent to an incarnation that had already exited 0 changed nothing.
    exit_codes = {
        r["incarnation"]: r["exit_code"] for r in records if r["event"] == "exit"
    }
    kills = [
        r
        for r in records
        if r["event"] == "kill" and exit_codes.get(r["incarnation"]) != 0
    ]
    ends = [r["time"] for r in records if r["event"] == "end"]
    starts = [r for r in records if r["event"] == "start"]
    finishes = [r for r in records if r["event"] == "finish"]
    first_launch = min(launches.values()) if launches else 0.0
    total_time = (max(ends) if ends else first_launch) - first_launch

    # An attempt is lost when its start has no finish from the same thread of the
    # same process in the same incarnation.
    open_attempts: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for record in starts:
        open_attempts[_attempt_key(record)].append(record)
    for record in finishes:
        pending = open_attempts.get(_attempt_key(record))
        if pending:
            pending.pop(0)
    lost = [record for pending in open_attempts.values() for record in pending]

    samples = {r["incarnation"]: r.get("thread_cpu", {}) for r in kills}
    wasted = 0.0
    for record in lost:
        sample = samples.get(record["incarnation"], {})
        used = sample.get(f"{record['pid']}:{record['tid']}")
        if used is not None:
            wasted += max(0.0, used - record.get("cpu_start", used))

    seen: set[int] = set()
    useful = 0.0
    for record in finishes:
        if record["task"] in seen:
            wasted += record["cpu"]
        else:
            seen.add(record["task"])
            useful += record["cpu"]

    recovery_times: list[float | None] = []
    for number in sorted(launches):
        if number == 1:
            continue
        later = [
            r["time"] - launches[number] for r in finishes if r["incarnation"] == number
        ]
        recovery_times.append(min(later) if later else None)

    processes: dict[int, ProcessRow] = {}
    for record in starts + finishes:
        row = processes.setdefault(
            record["pid"],
            ProcessRow(record["pid"], record["ppid"], record["incarnation"]),
        )
        if record["event"] == "start":
            row.attempts += 1
        else:
            row.finished += 1

    missing: list[int] = []
    wrong: list[int] = []
    for task, value in expected.items():
        if results is None or task not in results:
            missing.append(task)
        elif results[task] != value:
            wrong.append(task)
    extra = results is not None and any(task not in expected for task in results)
    correct = results is not None and not missing and not wrong and not extra

    # Each attempt runs from its start record to its finish record, or to the kill
    # or the end of the run when it never finished.
    kill_times = {r["incarnation"]: r["time"] for r in kills}
    run_end = max(ends) if ends else first_launch
    finish_times = {_attempt_key(r): r["time"] for r in finishes}
    intervals = []
    for record in starts:
        end = finish_times.get(_attempt_key(record))
        if end is None:
            end = kill_times.get(record["incarnation"], run_end)
        intervals.append((record["time"], max(record["time"], end)))
    busy = _busy_time(intervals)
    all_cpu = useful + wasted

    per_task = Counter(r["task"] for r in finishes)
    return RunMetrics(
        total_time=total_time,
        incarnations=len(launches),
        kills=len(kills) + sum(1 for r in records if r["event"] == "failpoint"),
        tasks=len(expected),
        finished_executions=len(finishes),
        distinct_finished=len(per_task),
        recomputed=sum(count - 1 for count in per_task.values()),
        lost_in_flight=len(lost),
        wasted_cpu=wasted,
        useful_cpu=useful,
        recovery_times=recovery_times,
        distinct_pids=len(processes),
        correct=correct,
        missing_tasks=missing,
        wrong_tasks=wrong,
        torn_lines=torn_lines,
        finished_before_kill=[r["finished_in_incarnation"] for r in kills],
        processes=sorted(processes.values(), key=lambda row: row.pid),
        idle_time=max(0.0, total_time - busy),
        cores_used=all_cpu / busy if busy > 0 else 0.0,
    )
