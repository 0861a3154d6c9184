"""Plain ``multiprocessing.Pool``: parallel across cores, and no memory of its work.

After a restart the pool computes every task again, because nothing it finished
before the kill was kept anywhere but in the killed process.
"""

from __future__ import annotations

import multiprocessing

from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.workload import run_task_pair


def run(config: StrategyConfig) -> dict[int, int]:
    """Run every task on a process pool and return the results by task id."""
    context = multiprocessing.get_context(config.settings.get("start_method", "fork"))
    workers = int(config.settings.get("workers", 10))
    results: dict[int, int] = {}
    with context.Pool(workers) as pool:
        jobs = [(task, config.n) for task in range(config.tasks)]
        for task, value in pool.imap_unordered(run_task_pair, jobs):
            results[task] = value
        # Let the workers exit on their own. Leaving the block calls terminate(),
        # which first takes the task queue's lock that idle workers hold while
        # they wait. NOTE: one run here hung after its last task until its
        # timeout, before this change; the cause was not pinned down.
        pool.close()
        pool.join()
    return results
