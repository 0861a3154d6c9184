"""Run one strategy once for the benchmark, and sample its memory while it runs.

A benchmark run goes through the same supervisor as ``python -m recovery_lab run``
(a strategy subprocess in its own session, killed and restarted by the restart
policy), so its times include process start-up, DBOS launch and recovery exactly
as a study's runs do.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from recovery_lab import databases
from recovery_lab.ledger import read_ledger
from recovery_lab.metrics import RunMetrics, compute_metrics
from recovery_lab.scenario import Fault, RestartPolicy, scenario_from_dict
from recovery_lab.strategies import uses_dbos
from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.supervisor import HISTORY_FILE, run_strategy
from recovery_lab.workload import expected_results

# Seconds between two memory samples of a running strategy.
SAMPLE_INTERVAL = 0.05

RESTART = RestartPolicy(max_restarts=3, delay=0.2, backoff=2.0, max_delay=5.0)


@dataclass(frozen=True)
class Variant:
    """A strategy with the settings that the benchmark runs it with.

    Attributes:
        label: Name in the tables, for example ``dbos_pool batch_size=10``.
        strategy: Strategy name.
        settings: Settings given in the scenario; the rest take their defaults.

    """

    label: str
    strategy: str
    settings: dict[str, Any]


@dataclass
class Measurement:
    """One benchmark run.

    Attributes:
        metrics: The run's metrics, as a study computes them.
        status: How the run ended, for example ``completed``.
        peak_tree_rss: Peak resident memory of the strategy's process group, bytes.
        peak_supervisor_rss: Peak resident memory of the benchmark process, bytes.
        database_bytes: Size of the SQLite system database at the end, or 0.

    """

    metrics: RunMetrics
    status: str
    peak_tree_rss: int
    peak_supervisor_rss: int
    database_bytes: int


def parse_variant(text: str) -> Variant:
    """Parse ``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` into a variant.

    Raises:
        ValueError: If a setting is not ``KEY=VALUE``.

    """
    name, _, rest = text.partition(":")
    settings: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, equals, value = item.partition("=")
        if not equals:
            raise ValueError(f"invalid setting {item!r} in {text!r}: use KEY=VALUE")
        settings[key] = int(value) if value.lstrip("-").isdigit() else value
    label = name + "".join(f" {k}={v}" for k, v in settings.items())
    return Variant(label, name, settings)


def split_variants(text: str) -> list[Variant]:
    """Split a strategy list such as ``pool,dbos_pool:batch_size=10,hybrid``.

    A comma starts a new strategy unless the next item is a ``KEY=VALUE`` setting.
    """
    items: list[str] = []
    for part in text.split(","):
        if "=" in part and ":" not in part and items:
            items[-1] += "," + part
        else:
            items.append(part)
    return [parse_variant(item) for item in items if item]


class _MemorySampler(threading.Thread):
    """Sample the RSS of the strategy's process group and of this process."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.group: int | None = None
        self.peak_tree = 0
        self.peak_self = 0
        self.stopped = threading.Event()

    def on_progress(self, record: dict[str, Any]) -> None:
        if record.get("event") == "launch":
            self.group = int(record["pid"])

    def run(self) -> None:
        own = psutil.Process()
        while not self.stopped.wait(SAMPLE_INTERVAL):
            self.peak_self = max(self.peak_self, own.memory_info().rss)
            group = self.group
            if group is None:
                continue
            total = 0
            for process in psutil.process_iter():
                try:
                    if os.getpgid(process.pid) == group:
                        total += process.memory_info().rss
                except (OSError, psutil.Error):
                    continue
            self.peak_tree = max(self.peak_tree, total)


def _database_bytes(run_dir: Path) -> int:
    return sum(path.stat().st_size for path in run_dir.glob("dbos_system.sqlite*"))


def run_once(
    variant: Variant,
    tasks: int,
    n: int,
    work_dir: Path,
    system_db: str | None = None,
    fault: Fault | None = None,
    timeout: float = 600.0,
) -> Measurement:
    """Run one variant once, with at most one fault, and measure it.

    Args:
        variant: Strategy and settings.
        tasks: Number of tasks.
        n: Fibonacci index of each task.
        work_dir: Directory for the run directory, which is deleted afterwards.
        system_db: PostgreSQL server URL, or None for a SQLite file.
        fault: Kill to inject, or None for a run without faults.
        timeout: Seconds allowed for the run.

    Returns:
        The measurement.

    """
    scenario = scenario_from_dict(
        {
            "path": "bench.yaml",
            "name": "bench",
            "workload": {"tasks": tasks, "n": n},
            "strategies": {variant.strategy: dict(variant.settings)},
            "timeout": timeout,
        }
    )
    spec = scenario.strategies[0]
    run_id = uuid.uuid4().hex[:8]
    run_dir = work_dir / f"{variant.strategy}-{run_id}"
    run_dir.mkdir(parents=True)
    database_url = None
    if system_db and uses_dbos(variant.strategy):
        database_url = databases.run_database_url(system_db, f"bench_{run_id}")
    config = StrategyConfig(
        strategy=variant.strategy,
        tasks=tasks,
        n=n,
        run_dir=str(run_dir.resolve()),
        result_path=str((run_dir / "result.json").resolve()),
        settings=dict(spec.settings),
        system_database_url=database_url,
        app_version=f"bench-{run_id}",
        executor_id=f"bench-{variant.strategy}",
    )
    sampler = _MemorySampler()
    sampler.start()
    faults = (fault,) if fault is not None else ()
    try:
        outcome = run_strategy(config, faults, RESTART, timeout, sampler.on_progress)
    finally:
        sampler.stopped.set()
        sampler.join()
        if database_url:
            databases.drop_database(database_url)
    history = read_ledger(run_dir / HISTORY_FILE)
    metrics = compute_metrics(
        history.records,
        outcome.results,
        expected_results(tasks, n),
        len(history.torn_lines),
    )
    measurement = Measurement(
        metrics=metrics,
        status=outcome.status,
        peak_tree_rss=sampler.peak_tree,
        peak_supervisor_rss=sampler.peak_self,
        database_bytes=_database_bytes(run_dir),
    )
    shutil.rmtree(run_dir, ignore_errors=True)
    return measurement


def kill_halfway(tasks: int) -> Fault:
    """Return a SIGKILL of the first incarnation once half of the tasks finished."""
    return Fault(
        incarnation=1,
        after_tasks=max(1, tasks // 2),
        after_seconds=None,
        signal="SIGKILL",
        target="group",
    )


def wait_for_low_load(threshold: float, limit: float) -> float:
    """Wait up to ``limit`` seconds for the 1-minute load average to drop.

    Returns:
        The 1-minute load average when the wait ended.

    """
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] > threshold and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]
