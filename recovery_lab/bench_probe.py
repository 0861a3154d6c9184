"""Measure what one DBOS step checkpoint costs, in a process of its own.

Usage: ``python -m recovery_lab.bench_probe RUN_DIR STEPS [DATABASE_URL]``.
The probe launches DBOS on the given system database, which is a SQLite file in
RUN_DIR when no URL is given. It runs a workflow of STEPS empty async steps one
after the other, another that gathers STEPS steps at once, and a workflow of
synchronous steps with and without cProfile. It also times one ``fsync`` of a
small append to a file in RUN_DIR, and prints the results as one JSON object on
standard output. DBOS can be launched only once per
process, hence the separate process.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig

PROFILE_LINES = 25


@DBOS.step()
async def empty_step(index: int) -> int:
    """Do nothing, so that the step's time is all checkpoint overhead."""
    return index


@DBOS.workflow()
async def sequential_steps(steps: int) -> float:
    """Run the steps one at a time and return the seconds they took."""
    started = time.perf_counter()
    for index in range(steps):
        await empty_step(index)
    return time.perf_counter() - started


@DBOS.step()
def empty_sync_step(index: int) -> int:
    """Do nothing, in the calling thread, so that a profile records the checkpoint."""
    return index


@DBOS.workflow()
def sequential_sync_steps(steps: int) -> None:
    """Run synchronous steps one at a time in the calling thread."""
    for index in range(steps):
        empty_sync_step(index)


@DBOS.workflow()
async def concurrent_steps(steps: int) -> float:
    """Run the steps all at once, as dbos_pool does, and return the seconds."""
    started = time.perf_counter()
    calls = [empty_step(index) for index in range(steps)]
    await asyncio.gather(*calls)
    return time.perf_counter() - started


def fsync_seconds(directory: Path, repeats: int = 50) -> float:
    """Return the median time of appending 64 bytes to a file and fsyncing it."""
    path = directory / "fsync-probe.bin"
    samples = []
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            os.write(descriptor, b"x" * 63 + b"\n")
            os.fsync(descriptor)
            samples.append(time.perf_counter() - started)
    finally:
        os.close(descriptor)
        path.unlink()
    return statistics.median(samples)


# Functions whose cumulative time splits a synchronous step, by DBOS 3.4 and
# SQLAlchemy 2 function names: the checkpoint write, every commit (of the write
# and of the read), and the read that looks for an earlier result.
BREAKDOWN = {
    "record_operation_result": "write step result",
    "do_commit": "commit",
    "check_operation_execution": "read earlier result",
    "invoke_step": "whole step",
}


def profile_breakdown(profile: cProfile.Profile, steps: int) -> dict[str, float]:
    """Return the cumulative seconds per step of the functions in BREAKDOWN."""
    stats = pstats.Stats(profile)
    totals: dict[str, float] = {}
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (_, _, name), (_, _, _, cumulative, _) in entries.items():
        label = BREAKDOWN.get(name)
        if label is None:
            continue
        totals[label] = totals.get(label, 0.0) + cumulative / steps
    return totals


def _profile_text(profile: cProfile.Profile) -> str:
    stream = io.StringIO()
    stats = pstats.Stats(profile, stream=stream)
    stats.strip_dirs().sort_stats("cumulative").print_stats(PROFILE_LINES)
    return stream.getvalue()


async def _measure(steps: int) -> dict[str, Any]:
    handle = await DBOS.start_workflow_async(sequential_steps, steps)
    sequential = await handle.get_result()
    handle = await DBOS.start_workflow_async(concurrent_steps, steps)
    concurrent = await handle.get_result()
    return {"sequential": sequential / steps, "concurrent": concurrent / steps}


def main(argv: list[str]) -> int:
    """Run the probe and print its JSON result."""
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    run_dir, steps = Path(argv[0]), int(argv[1])
    url = argv[2] if len(argv) == 3 else f"sqlite:///{run_dir / 'probe.sqlite'}"
    config: DBOSConfig = {"name": "recovery_lab_probe", "system_database_url": url}
    DBOS(config=config)
    DBOS.launch()
    try:
        result = asyncio.run(_measure(steps))
        # cProfile records only the thread that enables it. A synchronous workflow
        # called directly runs in the calling thread with its steps, so its
        # profile includes the checkpoint reads and writes.
        started = time.perf_counter()
        sequential_sync_steps(steps)
        result["sync"] = (time.perf_counter() - started) / steps
        profile = cProfile.Profile()
        profile.enable()
        sequential_sync_steps(steps)
        profile.disable()
        result["fsync"] = fsync_seconds(run_dir)
        result["profile"] = _profile_text(profile)
        result["breakdown"] = profile_breakdown(profile, steps)
    finally:
        DBOS.destroy(workflow_completion_timeout_sec=0)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)
