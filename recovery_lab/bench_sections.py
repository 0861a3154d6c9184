"""The sections of the ``bench`` command; each prints its tables and returns data."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from recovery_lab import databases
from recovery_lab.bench_runs import RESTART, Measurement, Variant, split_variants
from recovery_lab.bench_tables import (
    all_correct,
    markdown_table,
    mebibytes,
    median_ratio,
    median_recovery,
    median_time,
)
from recovery_lab.strategies import uses_dbos

if TYPE_CHECKING:
    from recovery_lab.bench import BenchContext

# Lines of the checkpoint profile to print.
PROFILE_LINES = 30


def nofault_section(context: BenchContext) -> list[dict[str, Any]]:
    """Run every variant without faults at every length, interleaved."""
    print("## No-fault cost against pool\n")
    rows = []
    data = []
    for length in sorted(float(x) for x in context.args.lengths.split(",") if x):
        n, cpu = context.calibration[length]
        tasks = context.tasks_for(length)
        runs = _interleaved(context, tasks, n, kill=False)
        pool_runs = runs[context.variants[0].label]
        limit = context.limit(tasks, cpu)
        for variant in context.variants:
            measured = runs[variant.label]
            median = median_time(measured)
            rows.append(
                [
                    length,
                    tasks,
                    variant.label,
                    median,
                    median_ratio(measured, pool_runs),
                    limit / median if median else None,
                    "yes" if all_correct(measured) else "NO",
                ]
            )
            data.append(_record(variant.label, length, tasks, measured, limit))
    print(
        markdown_table(
            [
                "task CPU s",
                "tasks",
                "strategy",
                "median s",
                "ratio to pool",
                "efficiency",
                "correct",
            ],
            rows,
        )
        + "\n"
    )
    return data


def kill_section(context: BenchContext) -> list[dict[str, Any]]:
    """Run every variant with one kill halfway, on SQLite and on PostgreSQL."""
    length = context.args.kill_length
    n, cpu = context.calibration[length]
    tasks = context.tasks_for(length)
    limit = context.limit(tasks, cpu)
    print(f"## One SIGKILL halfway, {tasks} tasks of {length:g} CPU s\n")
    print("bound: restart delay + recovery (launch to first finish) + one task\n")
    rows = []
    data = []
    databases_to_run: list[tuple[str, str | None]] = [("sqlite", None)]
    if context.args.postgres:
        databases_to_run.append(("postgresql", context.args.postgres))
    for database, url in databases_to_run:
        variants = context.variants if url is None else _dbos_variants(context)
        clean = _interleaved(context, tasks, n, kill=False, system_db=url)
        killed = _interleaved(context, tasks, n, kill=True, system_db=url)
        for variant in variants:
            base = median_time(clean[variant.label])
            with_kill = median_time(killed[variant.label])
            recovery = median_recovery(killed[variant.label])
            recomputed = [run.metrics.recomputed for run in killed[variant.label]]
            rows.append(
                [
                    database,
                    variant.label,
                    base,
                    with_kill,
                    with_kill - base if base and with_kill else None,
                    RESTART.delay + recovery + length if recovery else None,
                    recovery,
                    max(recomputed) if recomputed else None,
                    limit / base if base else None,
                    limit / with_kill if with_kill else None,
                    "yes" if all_correct(killed[variant.label]) else "NO",
                ]
            )
            record = _record(variant.label, length, tasks, killed[variant.label], limit)
            record.update(database=database, no_fault_median=base, recovery=recovery)
            data.append(record)
    print(
        markdown_table(
            [
                "database",
                "strategy",
                "no-fault s",
                "one kill s",
                "added s",
                "bound s",
                "recovery s",
                "max recomputed",
                "efficiency",
                "efficiency with kill",
                "correct",
            ],
            rows,
        )
        + "\n"
    )
    return data


def checkpoint_section(context: BenchContext) -> list[dict[str, Any]]:
    """Time empty DBOS steps and one fsync, on SQLite and on PostgreSQL."""
    print("## Cost of one DBOS step checkpoint\n")
    results = [("sqlite", context.probe(None))]
    if context.args.postgres:
        url = databases.run_database_url(
            context.args.postgres, f"bench_probe_{uuid.uuid4().hex[:8]}"
        )
        try:
            results.append(("postgresql", context.probe(url)))
        finally:
            databases.drop_database(url)
    rows = [
        [
            name,
            1000 * result["sequential"],
            1000 * result["concurrent"],
            1000 * result["sync"],
            1000 * result["fsync"],
            result["sequential"] / result["fsync"],
        ]
        for name, result in results
    ]
    print(
        markdown_table(
            [
                "database",
                "async step ms, one at a time",
                "async step ms, all at once",
                "sync step ms",
                "fsync ms",
                "async step / fsync",
            ],
            rows,
        )
        + "\n"
    )
    labels = sorted({label for _, result in results for label in result["breakdown"]})
    print("Per synchronous step under cProfile, ms of cumulative time:\n")
    print(
        markdown_table(
            ["database", *labels],
            [
                [name, *(1000 * result["breakdown"].get(x, 0.0) for x in labels)]
                for name, result in results
            ],
        )
        + "\n"
    )
    for name, result in results:
        profile = "\n".join(result["profile"].splitlines()[:PROFILE_LINES])
        print(f"Profile of synchronous steps on {name} (cProfile):\n")
        print(f"```\n{profile}\n```\n")
    return [{"database": name, **result} for name, result in results]


def scale_section(context: BenchContext) -> list[dict[str, Any]]:
    """Run tiny tasks in growing numbers and record time, memory and database."""
    counts = [int(x) for x in context.args.scale.split(",") if x]
    variants = split_variants(context.args.scale_strategies)
    n = context.args.scale_n
    print(f"## Growth with the number of tasks (fib({n}) each)\n")
    rows = []
    data = []
    for count in counts:
        for variant in variants:
            run = context.run(variant, count, n)
            rows.append(
                [
                    count,
                    variant.label,
                    run.metrics.total_time,
                    mebibytes(run.peak_supervisor_rss),
                    mebibytes(run.peak_tree_rss),
                    mebibytes(run.database_bytes),
                    "yes" if all_correct([run]) else "NO",
                ]
            )
            data.append(_record(variant.label, 0.0, count, [run], 0.0))
            data[-1].update(
                peak_supervisor_rss=run.peak_supervisor_rss,
                peak_tree_rss=run.peak_tree_rss,
                database_bytes=run.database_bytes,
            )
    print(
        markdown_table(
            [
                "tasks",
                "strategy",
                "time s",
                "supervisor RSS MiB",
                "strategy tree RSS MiB",
                "system DB MiB",
                "correct",
            ],
            rows,
        )
        + "\n"
    )
    return data


def _dbos_variants(context: BenchContext) -> list[Variant]:
    return [v for v in context.variants if uses_dbos(v.strategy)]


def _interleaved(
    context: BenchContext,
    tasks: int,
    n: int,
    kill: bool,
    system_db: str | None = None,
) -> dict[str, list[Measurement]]:
    """Run each variant once per repetition, rotating the order every repetition."""
    variants = context.variants if system_db is None else _dbos_variants(context)
    runs: dict[str, list[Measurement]] = defaultdict(list)
    for repetition in range(context.args.repeats):
        shift = repetition % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            runs[variant.label].append(
                context.run(variant, tasks, n, kill=kill, system_db=system_db)
            )
    return runs


def _record(
    label: str, length: float, tasks: int, runs: list[Measurement], limit: float
) -> dict[str, Any]:
    return {
        "strategy": label,
        "task_cpu": length,
        "tasks": tasks,
        "limit": limit,
        "times": [run.metrics.total_time for run in runs],
        "statuses": [run.status for run in runs],
        "correct": all_correct(runs),
        "recomputed": [run.metrics.recomputed for run in runs],
        "lost_in_flight": [run.metrics.lost_in_flight for run in runs],
        "recovery_times": [run.metrics.recovery_times for run in runs],
    }
