"""The ``bench`` command: measure what durability costs, side by side.

Four sections, each printed as a Markdown table and saved in one JSON file:

- ``nofault``: every strategy without faults at several task lengths, as median
  time ratios against ``pool``. Repetitions are interleaved so that every
  strategy runs under the same machine load. Also each strategy's efficiency:
  the physical limit (CPU work divided by the cores used) over its median time.
- ``kill``: the same at one task length with one SIGKILL halfway, on SQLite and,
  with ``--postgres``, on PostgreSQL, with the time to the first finished task
  after the restart.
- ``checkpoint``: the cost of one DBOS step checkpoint beside one fsync, with a
  profile of where it goes (see ``recovery_lab.bench_probe``).
- ``scale``: time, peak memory and system database size for growing task counts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from recovery_lab.bench_runs import (
    Measurement,
    Variant,
    kill_halfway,
    parse_variant,
    run_once,
    split_variants,
    wait_for_low_load,
)
from recovery_lab.bench_sections import (
    checkpoint_section,
    kill_section,
    nofault_section,
    scale_section,
)
from recovery_lab.bench_tables import markdown_table
from recovery_lab.workload import fibonacci_naive

SECTIONS = ("nofault", "kill", "checkpoint", "scale")
DEFAULT_STRATEGIES = (
    "pool,checkpoint_pool,dbos_pool,dbos_pool:batch_size=10,hybrid,dbos"
)
DEFAULT_SCALE_STRATEGIES = (
    "pool,checkpoint_pool,dbos_pool,dbos_pool:batch_size=100,hybrid:chunk_size=100"
)
GOLDEN_RATIO = (1 + math.sqrt(5)) / 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, found {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, found {value}")
    return value


def _positive_float_list(text: str) -> str:
    """Check a comma-separated list of numbers > 0 and return it unchanged."""
    for item in filter(None, text.split(",")):
        _positive_float(item)
    return text


def _positive_int_list(text: str) -> str:
    """Check a comma-separated list of integers >= 1 and return it unchanged."""
    for item in filter(None, text.split(",")):
        _positive_int(item)
    return text


def add_bench_parser(commands: Any) -> None:
    """Add the ``bench`` subcommand and its options to the CLI's subparsers."""
    bench = commands.add_parser(
        "bench",
        help="measure the cost of each strategy against a plain pool",
        description=__doc__.split("\n\n")[0].replace("``", "") if __doc__ else None,
    )
    bench.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: {','.join(SECTIONS)})",
    )
    bench.add_argument(
        "--lengths",
        type=_positive_float_list,
        default="0.001,0.01,0.1,1",
        help="task lengths to measure, in CPU seconds (default: 0.001,0.01,0.1,1)",
    )
    bench.add_argument(
        "--strategies",
        default=DEFAULT_STRATEGIES,
        help="strategies to compare with pool, each NAME or NAME:KEY=VALUE,... "
        f"separated by commas outside settings (default: {DEFAULT_STRATEGIES})",
    )
    bench.add_argument(
        "--run-seconds",
        type=_positive_float,
        default=3.0,
        help="ideal seconds of each run on all workers, which sizes the task count "
        "per length (default: 3)",
    )
    bench.add_argument(
        "--max-tasks",
        type=_positive_int,
        default=1000,
        help="upper limit of tasks per run (default: 1000)",
    )
    bench.add_argument(
        "--repeats",
        type=_positive_int,
        default=3,
        help="repetitions per run (default: 3)",
    )
    bench.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="worker processes of the parallel strategies (default: CPU count)",
    )
    bench.add_argument(
        "--kill-length",
        type=_positive_float,
        default=0.1,
        help="task length of the runs with one kill, in CPU seconds (default: 0.1)",
    )
    bench.add_argument(
        "--scale",
        type=_positive_int_list,
        default="100,1000",
        help="task counts of the scale section (default: 100,1000)",
    )
    bench.add_argument(
        "--scale-strategies",
        default=DEFAULT_SCALE_STRATEGIES,
        help=f"strategies of the scale section (default: {DEFAULT_SCALE_STRATEGIES})",
    )
    bench.add_argument(
        "--scale-n",
        type=_positive_int,
        default=12,
        help="Fibonacci index of the tiny tasks of the scale section (default: 12)",
    )
    bench.add_argument(
        "--probe-steps",
        type=_positive_int,
        default=300,
        help="DBOS steps per probe workflow in the checkpoint section (default: 300)",
    )
    bench.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="PostgreSQL server for the kill and checkpoint sections, for example "
        "postgresql://postgres@127.0.0.1:5432/postgres (default: SQLite only)",
    )
    bench.add_argument(
        "--wait-for-load",
        type=_positive_float,
        default=None,
        metavar="LOAD",
        help="before measuring, wait up to 10 minutes for the 1-minute load "
        "average to fall to LOAD (default: do not wait)",
    )
    bench.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON file to write every measurement to (default: none)",
    )


def calibrate(lengths: list[float]) -> list[tuple[float, int, float]]:
    """Choose the Fibonacci index whose CPU time is nearest each target length.

    Returns:
        (target seconds, n, measured CPU seconds of one fib(n)) per length.

    """
    base_n = 20
    base = min(_cpu_time(base_n) for _ in range(5))
    chosen = []
    for target in lengths:
        n = max(1, base_n + round(math.log(target / base, GOLDEN_RATIO)))
        repeats = 3 if target < 0.5 else 1
        measured = min(_cpu_time(n) for _ in range(repeats))
        # The estimate from fib(20) can be one index off; step once toward the
        # target when the measured time is more than half an index away.
        step = round(math.log(target / measured, GOLDEN_RATIO))
        if step:
            n = max(1, n + (1 if step > 0 else -1))
            measured = min(_cpu_time(n) for _ in range(repeats))
        chosen.append((target, n, measured))
    return chosen


def _cpu_time(n: int) -> float:
    started = time.process_time()
    fibonacci_naive(n)
    return time.process_time() - started


def _probe(steps: int, directory: Path, url: str | None) -> dict[str, Any]:
    """Run the checkpoint probe in a new process and return its JSON output."""
    command = [sys.executable, "-m", "recovery_lab.bench_probe", str(directory)]
    command.append(str(steps))
    if url:
        command.append(url)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=True
    )
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def command_bench(args: argparse.Namespace) -> int:
    """Run the benchmark sections and print their tables."""
    sections = [s for s in args.sections.split(",") if s]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        print(f"error: unknown sections {unknown}; use {SECTIONS}", file=sys.stderr)
        return 2
    variants = split_variants(args.strategies)
    if not variants or variants[0].strategy != "pool":
        variants.insert(0, parse_variant("pool"))
    if args.wait_for_load is not None:
        print(f"load after waiting: {wait_for_low_load(args.wait_for_load, 600):.2f}")

    load_start = os.getloadavg()
    cpus = os.cpu_count() or 1
    print(f"# recovery_lab bench: {cpus} CPUs, {args.workers} workers")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)}\n")
    lengths = [float(x) for x in args.lengths.split(",") if x]
    calibration = calibrate(sorted(set(lengths + [args.kill_length])))
    print(
        markdown_table(
            ["target CPU s", "n", "measured CPU s"],
            [list(row) for row in calibration],
        )
        + "\n"
    )
    output: dict[str, Any] = {
        "cpus": cpus,
        "workers": args.workers,
        "calibration": calibration,
        "load_start": load_start,
    }

    with tempfile.TemporaryDirectory(prefix="recovery-lab-bench-") as work:
        context = BenchContext(args, Path(work), calibration, variants, cpus)
        if "nofault" in sections:
            output["nofault"] = nofault_section(context)
        if "kill" in sections:
            output["kill"] = kill_section(context)
        if "checkpoint" in sections:
            output["checkpoint"] = checkpoint_section(context)
        if "scale" in sections:
            output["scale"] = scale_section(context)

    load_end = os.getloadavg()
    output["load_end"] = load_end
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load_end)}")
    if args.output is not None:
        args.output.write_text(json.dumps(output, indent=2, default=str) + "\n")
        print(f"measurements: {args.output}")
    return 0


class BenchContext:
    """Options, scratch directory and calibration that every section uses."""

    def __init__(
        self,
        args: argparse.Namespace,
        work_dir: Path,
        calibration: list[tuple[float, int, float]],
        variants: list[Variant],
        cpus: int,
    ) -> None:
        self.args = args
        self.work_dir = work_dir
        self.calibration = {target: (n, cpu) for target, n, cpu in calibration}
        self.variants = variants
        self.cpus = cpus

    def tasks_for(self, length: float) -> int:
        """Return the task count that keeps the workers busy ``run_seconds``."""
        workers = int(self.args.workers)
        seconds = float(self.args.run_seconds)
        needed = math.ceil(seconds * min(workers, self.cpus) / length)
        max_tasks = int(self.args.max_tasks)
        return max(2 * workers, min(max_tasks, needed))

    def limit(self, tasks: int, cpu_per_task: float) -> float:
        """Return the physical limit: the CPU work divided by the cores used."""
        return tasks * cpu_per_task / min(int(self.args.workers), self.cpus)

    def run(
        self,
        variant: Variant,
        tasks: int,
        n: int,
        kill: bool = False,
        system_db: str | None = None,
    ) -> Measurement:
        """Run a variant once with the benchmark's settings for its strategy."""
        sized = Variant(variant.label, variant.strategy, self.settings(variant, tasks))
        fault = kill_halfway(tasks) if kill else None
        result = run_once(sized, tasks, n, self.work_dir, system_db, fault)
        print(
            f"{variant.label}: {tasks} tasks, n={n}, kill={kill}, "
            f"database={'postgresql' if system_db else 'sqlite'}: {result.status} "
            f"in {result.metrics.total_time:.2f} s",
            file=sys.stderr,
            flush=True,
        )
        return result

    def settings(self, variant: Variant, tasks: int) -> dict[str, Any]:
        """Fill in the worker count and keep chunk and batch sizes within tasks."""
        settings = dict(variant.settings)
        if variant.strategy == "dbos":
            settings.setdefault("polling_interval", 0.1)
        else:
            settings.setdefault("workers", self.args.workers)
        for key in ("chunk_size", "batch_size"):
            if key in settings:
                settings[key] = min(int(settings[key]), tasks)
        if variant.strategy == "hybrid":
            settings.setdefault("chunk_size", min(10, tasks))
        return settings

    def probe(self, url: str | None) -> dict[str, Any]:
        """Run the checkpoint probe on SQLite (None) or on a PostgreSQL URL."""
        directory = Path(tempfile.mkdtemp(dir=self.work_dir))
        return _probe(self.args.probe_steps, directory, url)
