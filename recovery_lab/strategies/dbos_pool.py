"""One DBOS workflow whose steps, one per task, run concurrently on a process pool.

The workflow creates one async step per batch of ``batch_size`` tasks (one task by
default) and gathers them. Each step sends its batch to a shared
``concurrent.futures.ProcessPoolExecutor``, so the work is parallel across cores.
DBOS checkpoints each step when it returns, so the work is durable at the grain of
a batch. After a kill, the restarted workflow replays every checkpointed step from
the system database and runs only the steps that had not checkpointed.

DBOS 3.4 gives a step its function id when the step function is called, not when
the coroutine first runs (``DBOSContext.snapshot_step_ctx`` in ``dbos/_core.py``
increments the workflow's counter inside the call). The workflow therefore calls
every step function in task order before it awaits any of them, so a step keeps
the same id in every incarnation however the steps interleave at run time.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from dbos import DBOS, SetWorkflowID

from recovery_lab import failpoints
from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.strategies.dbos_runtime import (
    launch_dbos,
    set_recovery_polling_interval,
)
from recovery_lab.strategies.hybrid import chunk_tasks
from recovery_lab.workload import run_task

WORKFLOW_ID = "pool-steps"

# Steps admitted at once per worker. Each admitted step uses a DBOS executor
# thread while it reads or writes its checkpoint, and DBOS 3.4 lets that executor
# grow without limit, so 10,000 unbounded steps would start 10,000 threads. Four
# per worker keep every worker busy while others checkpoint.
STEPS_PER_WORKER = 4

# Seconds between polls of a DBOS queue by default in DBOS 3.4.
DEFAULT_QUEUE_POLLING_INTERVAL = 1.0

# Seconds between polls of the workflow's status by a restarted process, which
# waits for the workflow that DBOS recovers at launch.
RESULT_POLL_INTERVAL = 0.05

_executor: ProcessPoolExecutor | None = None
_executor_lock = threading.Lock()


def open_executor(workers: int, start_method: str) -> ProcessPoolExecutor:
    """Create this process's worker pool, which every step of the workflow shares.

    Call it before ``DBOS.launch()``: launch may recover the workflow at once, on
    a DBOS thread, and its steps need the pool.
    """
    global _executor
    with _executor_lock:
        if _executor is None:
            context = multiprocessing.get_context(start_method)
            if start_method == "forkserver":
                # Workers forked from a server that imported the task code
                # start in milliseconds instead of importing it again.
                context.set_forkserver_preload(["recovery_lab.workload"])
            _executor = ProcessPoolExecutor(workers, mp_context=context)
        return _executor


def close_executor() -> None:
    """Shut the worker pool down and wait for its processes to exit."""
    global _executor
    with _executor_lock:
        if _executor is not None:
            _executor.shutdown(wait=True, cancel_futures=True)
            _executor = None


def run_batch(tasks: list[int], n: int) -> list[int]:
    """Run a batch of tasks in a worker process and return their results."""
    return [run_task(task, n) for task in tasks]


@DBOS.step()
async def compute_batch(tasks: list[int], n: int) -> list[int]:
    """Run one batch on the shared worker pool; DBOS checkpoints the results."""
    if _executor is None:
        raise RuntimeError("the worker pool is not open; call open_executor first")
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor, run_batch, tasks, n)
    except BrokenProcessPool:
        # A worker died, so the pool can run nothing more. Raising would make
        # DBOS record this step, and with it the workflow, as failed for good.
        # Ending the process group instead leaves the step unrecorded, and the
        # next incarnation runs it again.
        os.write(2, b"a pool worker died; killing the process group\n")
        os.killpg(os.getpgid(0), signal.SIGKILL)
        raise


async def _admit(gate: asyncio.Semaphore, step: Any, first_task: int) -> list[int]:
    async with gate:
        result: list[int] = await step
    # The step has returned, so DBOS has checkpointed its output.
    if failpoints.ARMED:
        failpoints.reach(failpoints.AFTER_CHECKPOINT, task=first_task)
    return result


@DBOS.workflow()
async def pool_workflow(
    tasks: int, n: int, batch_size: int, workers: int
) -> dict[str, int]:
    """Run every batch as its own step, all at once, and merge the results."""
    # The workflow is running, so recovery is over: poll the recovery queue at
    # the DBOS default again instead of spending CPU on it for the whole run.
    set_recovery_polling_interval(DEFAULT_QUEUE_POLLING_INTERVAL)
    batches = chunk_tasks(tasks, batch_size)
    # Calling the step function assigns the step's id, so all calls happen here,
    # in batch order, before the event loop runs any of them.
    steps = [compute_batch(batch, n) for batch in batches]
    gate = asyncio.Semaphore(STEPS_PER_WORKER * workers)
    outputs = await asyncio.gather(
        *(
            _admit(gate, step, batch[0])
            for step, batch in zip(steps, batches, strict=True)
        )
    )
    results: dict[str, int] = {}
    for batch, values in zip(batches, outputs, strict=True):
        for task, value in zip(batch, values, strict=True):
            results[str(task)] = value
    return results


async def _start_and_wait(config: StrategyConfig) -> dict[str, int]:
    settings = config.settings
    # A restarted process starts the same workflow id, and DBOS returns a handle
    # to the workflow that launch() is already recovering instead of a second run.
    with SetWorkflowID(WORKFLOW_ID):
        handle = await DBOS.start_workflow_async(
            pool_workflow,
            config.tasks,
            config.n,
            int(settings.get("batch_size", 1)),
            int(settings.get("workers", 10)),
        )
    return await handle.get_result(polling_interval_sec=RESULT_POLL_INTERVAL)


def run(config: StrategyConfig) -> dict[int, int]:
    """Run or resume the workflow of per-task steps and return the results."""
    settings = config.settings
    open_executor(
        int(settings.get("workers", 10)),
        str(settings.get("start_method", "forkserver")),
    )
    try:
        launch_dbos(
            config,
            recovery_polling_interval=float(
                settings.get("recovery_polling_interval", 0.1)
            ),
        )
        results = asyncio.run(_start_and_wait(config))
    finally:
        close_executor()
    return {int(task): value for task, value in results.items()}
