"""Every task a DBOS workflow on a DBOS queue, all in one process.

Each task is an async workflow with one step that runs the computation in a thread.
The queue lets ``worker_concurrency`` of them run at once, but they share one
interpreter and so one GIL: the strategy uses one core however many run. After a
kill, DBOS recovers the workflows that were running and keeps the results of the
finished ones, so only the attempts in flight are computed again.
"""

from __future__ import annotations

import asyncio

from dbos import DBOS, SetWorkflowID

from recovery_lab import failpoints
from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.strategies.dbos_runtime import launch_dbos
from recovery_lab.workload import run_task

QUEUE_NAME = "recovery_lab_tasks"


@DBOS.step()
async def compute_step(task: int, n: int) -> int:
    """Compute one task in a worker thread so that the event loop stays free.

    The side effect's idempotency key is the workflow id and step id, which stay
    the same when DBOS runs the step again after a kill.
    """
    effect_key = f"{DBOS.workflow_id}:{DBOS.step_id}"
    return await asyncio.to_thread(run_task, task, n, effect_key)


@DBOS.workflow()
async def task_workflow(task: int, n: int) -> int:
    """Run one task as a workflow of a single step."""
    result = await compute_step(task, n)
    if failpoints.ARMED:
        failpoints.reach(failpoints.AFTER_CHECKPOINT, task=task)
    return result


def workflow_id(task: int) -> str:
    """Return the fixed workflow id of a task, so a restart finds its workflow."""
    return f"task-{task}"


async def _enqueue_and_wait(config: StrategyConfig) -> dict[int, int]:
    handles = []
    for task in range(config.tasks):
        # Enqueueing an id that already exists returns the existing workflow, so a
        # restarted process neither duplicates nor loses tasks.
        with SetWorkflowID(workflow_id(task)):
            handle = await DBOS.enqueue_workflow_async(
                QUEUE_NAME, task_workflow, task, config.n
            )
        handles.append((task, handle))
    results: dict[int, int] = {}
    for task, handle in handles:
        results[task] = await handle.get_result()
    return results


def run(config: StrategyConfig) -> dict[int, int]:
    """Enqueue every task on a DBOS queue and return the results by task id."""
    launch_dbos(config)
    DBOS.register_queue(
        QUEUE_NAME,
        global_concurrency=int(config.settings.get("concurrency", 10)),
        worker_concurrency=int(config.settings.get("worker_concurrency", 5)),
        polling_interval_sec=float(config.settings.get("polling_interval", 1.0)),
        on_conflict="always_update",
    )
    return asyncio.run(_enqueue_and_wait(config))
