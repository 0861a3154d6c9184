"""Attempts, incarnations and kills of one run, read back from its history file.

The timeline pairs each task's ``start`` record with its ``finish`` record and
classifies the attempt the same way as metrics.py counts it:

- ``computed``: the first attempt of a task that finished;
- ``recomputed``: a later attempt that finished, although an earlier one of the
  same task had finished before (its result was lost with a killed incarnation);
- ``lost``: an attempt that started and never finished, because a kill took down
  its process. It ends at the kill, or at the incarnation's exit without a kill.

Times are seconds since the first launch of the run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recovery_lab.ledger import read_ledger

# Pairs a start with its finish exactly as the metrics do.
from recovery_lab.metrics import _attempt_key

COMPUTED = "computed"
RECOMPUTED = "recomputed"
LOST = "lost"


@dataclass(frozen=True)
class Attempt:
    """One execution of one task.

    Attributes:
        task: Task id.
        pid: Process that ran it.
        incarnation: Incarnation it ran in.
        start: Start time.
        end: Finish time, or for a lost attempt the time of the kill.
        kind: ``computed``, ``recomputed`` or ``lost``.

    """

    task: int
    pid: int
    incarnation: int
    start: float
    end: float
    kind: str


@dataclass(frozen=True)
class Incarnation:
    """One launch of the strategy process.

    Attributes:
        number: 1-based incarnation number.
        pid: Process id of the strategy process.
        start: Launch time.
        end: Time of its exit record, or the end of the run if none was written.

    """

    number: int
    pid: int
    start: float
    end: float


@dataclass(frozen=True)
class Kill:
    """A fault that fired, and the work it cost.

    Attributes:
        number: 1-based kill number within the run.
        incarnation: The incarnation that was killed.
        time: When the signal was sent.
        signal: Signal name.
        finished_before: Tasks that had finished in the incarnation when it fired.
        lost_in_flight: Attempts cut short by this kill.
        redone: Tasks finished in the killed incarnation that a later incarnation
            ran to the end again, so their results were lost with the kill.

    """

    number: int
    incarnation: int
    time: float
    signal: str
    finished_before: int
    lost_in_flight: int
    redone: int


@dataclass(frozen=True)
class Lane:
    """A process that ran attempts.

    Attributes:
        pid: Process id.
        ppid: Parent process id.
        incarnation: The incarnation it belonged to.
        role: ``strategy process`` when it is the launched process itself,
            ``child`` when the strategy process started it, otherwise
            ``descendant``.

    """

    pid: int
    ppid: int
    incarnation: int
    role: str


@dataclass
class Timeline:
    """Every attempt, incarnation and kill of one run.

    Attributes:
        duration: Seconds from the first launch to the end of the run.
        attempts: Every attempt, in start order.
        incarnations: Every incarnation, in launch order.
        kills: Every kill, in order.
        lanes: Every process that ran attempts, by incarnation and first start.

    """

    duration: float
    attempts: list[Attempt] = field(default_factory=list)
    incarnations: list[Incarnation] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    lanes: list[Lane] = field(default_factory=list)


def build_timeline(records: list[dict[str, Any]]) -> Timeline:
    """Build the timeline of a run from its history records, in file order."""
    launches = [r for r in records if r.get("event") == "launch"]
    if not launches:
        return Timeline(duration=0.0)
    origin = min(float(r["time"]) for r in launches)
    last = max(float(r["time"]) for r in records if "time" in r) - origin

    exits = {
        r["incarnation"]: float(r["time"]) - origin
        for r in records
        if r.get("event") == "exit"
    }
    kill_records = [r for r in records if r.get("event") == "kill"]
    kill_times = {r["incarnation"]: float(r["time"]) - origin for r in kill_records}
    incarnations = [
        Incarnation(
            number=int(r["incarnation"]),
            pid=int(r["pid"]),
            start=float(r["time"]) - origin,
            end=exits.get(r["incarnation"], last),
        )
        for r in launches
    ]
    strategy_pids = {i.pid for i in incarnations}

    pending: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    finished_tasks: set[int] = set()
    attempts: list[Attempt] = []
    lanes: dict[int, Lane] = {}
    finished_in: dict[int, list[int]] = defaultdict(list)
    for record in records:
        event = record.get("event")
        if event not in ("start", "finish"):
            continue
        pid = int(record["pid"])
        if pid not in lanes:
            ppid = int(record["ppid"])
            if pid in strategy_pids:
                role = "strategy process"
            elif ppid in strategy_pids:
                role = "child"
            else:
                role = "descendant"
            lanes[pid] = Lane(pid, ppid, int(record["incarnation"]), role)
        if event == "start":
            pending[_attempt_key(record)].append(record)
            continue
        opened = pending.get(_attempt_key(record))
        start = opened.pop(0) if opened else record
        task = int(record["task"])
        kind = RECOMPUTED if task in finished_tasks else COMPUTED
        finished_tasks.add(task)
        finished_in[int(record["incarnation"])].append(task)
        attempts.append(
            Attempt(
                task=task,
                pid=pid,
                incarnation=int(record["incarnation"]),
                start=float(start["time"]) - origin,
                end=float(record["time"]) - origin,
                kind=kind,
            )
        )

    lost_per_incarnation: dict[int, int] = defaultdict(int)
    for opened in pending.values():
        for record in opened:
            number = int(record["incarnation"])
            lost_per_incarnation[number] += 1
            attempts.append(
                Attempt(
                    task=int(record["task"]),
                    pid=int(record["pid"]),
                    incarnation=number,
                    start=float(record["time"]) - origin,
                    end=kill_times.get(number, exits.get(number, last)),
                    kind=LOST,
                )
            )
    attempts.sort(key=lambda attempt: (attempt.start, attempt.pid))

    kills = []
    for index, record in enumerate(kill_records, start=1):
        number = int(record["incarnation"])
        later = {
            task
            for later_number, tasks in finished_in.items()
            if later_number > number
            for task in tasks
        }
        kills.append(
            Kill(
                number=index,
                incarnation=number,
                time=kill_times[number],
                signal=str(record.get("signal", "SIGKILL")),
                finished_before=int(record.get("finished_in_incarnation", 0)),
                lost_in_flight=lost_per_incarnation[number],
                redone=len(set(finished_in[number]) & later),
            )
        )
    ordered_lanes = sorted(
        lanes.values(),
        key=lambda lane: (lane.incarnation, lane.role != "strategy process"),
    )
    return Timeline(
        duration=last,
        attempts=attempts,
        incarnations=incarnations,
        kills=kills,
        lanes=ordered_lanes,
    )


def load_timeline(history_path: Path) -> Timeline:
    """Read a run's history file and build its timeline; a missing file is empty."""
    return build_timeline(read_ledger(history_path).records)
