"""One DBOS workflow whose steps each run a process pool over a chunk of tasks.

The workflow cuts the tasks into chunks of ``chunk_size``. Each chunk is one DBOS
step, and the step runs its tasks on a fresh process pool, so the work is parallel
across cores and durable at the grain of a chunk: after a kill, DBOS skips every
chunk whose step finished and runs the interrupted chunk again from its start. With
one chunk for all tasks, a kill loses everything, like a plain pool.
"""

from __future__ import annotations

import multiprocessing

from dbos import DBOS, SetWorkflowID

from recovery_lab import failpoints
from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.strategies.dbos_runtime import launch_dbos
from recovery_lab.workload import run_task_pair

WORKFLOW_ID = "hybrid-chunks"


def chunk_tasks(tasks: int, chunk_size: int) -> list[list[int]]:
    """Split task ids 0..tasks-1 into consecutive chunks of at most chunk_size."""
    return [
        list(range(start, min(start + chunk_size, tasks)))
        for start in range(0, tasks, chunk_size)
    ]


@DBOS.step()
def run_chunk(
    chunk: list[int], n: int, workers: int, start_method: str
) -> list[tuple[int, int]]:
    """Run one chunk of tasks on a new process pool and return (task, result) pairs.

    The pool uses the spawn or forkserver start method because DBOS already runs
    threads in this process, and forking a process with threads can deadlock.
    Each task's side effect is keyed by workflow id, step id and task id, which
    stay the same when DBOS runs the step again after a kill.
    """
    key = f"{DBOS.workflow_id}:{DBOS.step_id}"
    jobs = [(task, n, f"{key}:{task}") for task in chunk]
    context = multiprocessing.get_context(start_method)
    with context.Pool(min(workers, len(chunk))) as pool:
        pairs = list(pool.imap_unordered(run_task_pair, jobs))
        # Workers exit on their own, as in pool.py.
        pool.close()
        pool.join()
    return pairs


@DBOS.workflow()
def chunked_workflow(
    tasks: int, n: int, chunk_size: int, workers: int, start_method: str
) -> dict[str, int]:
    """Run every chunk as a step, in order, and merge the results."""
    results: dict[str, int] = {}
    for number, chunk in enumerate(chunk_tasks(tasks, chunk_size)):
        if number > 0 and failpoints.ARMED:
            failpoints.reach(failpoints.BETWEEN_CHUNKS, chunk=number)
        for task, value in run_chunk(chunk, n, workers, start_method):
            results[str(task)] = value
        if failpoints.ARMED:
            failpoints.reach(failpoints.AFTER_CHECKPOINT, chunk=number)
    return results


def run(config: StrategyConfig) -> dict[int, int]:
    """Run or resume the chunked workflow and return the results by task id."""
    launch_dbos(config)
    settings = config.settings
    # A restarted process starts the same workflow id. DBOS then returns the
    # workflow that launch() is already recovering instead of starting another.
    with SetWorkflowID(WORKFLOW_ID):
        handle = DBOS.start_workflow(
            chunked_workflow,
            config.tasks,
            config.n,
            int(settings.get("chunk_size", 10)),
            int(settings.get("workers", 10)),
            str(settings.get("start_method", "forkserver")),
        )
    return {int(task): value for task, value in handle.get_result().items()}
