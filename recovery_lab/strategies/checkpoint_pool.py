"""A process pool that appends each result to a file: the hand-written alternative.

This is what a user would write instead of a durable workflow engine. A plain
``multiprocessing.Pool`` runs the tasks, and its parent appends one line
``TASK RESULT`` per finished task to ``checkpoint.txt`` in the run directory,
through an ordinary buffered file that is flushed after every line. On start, it
skips every task that already has a line.

What it keeps and loses after a SIGKILL: a flushed line is in the kernel's page
cache, so it survives the process. A result that a worker computed but the parent
had not yet written is lost and computed again, as are the tasks in flight. The
file is not fsynced, so a power loss could lose lines or tear the last one. The
loader never trusts the file. It stops at the first line that does not parse and
truncates the file there, so that the next append starts on a fresh line. It
reports torn and duplicated lines in the log instead of raising.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from recovery_lab.strategies.common import StrategyConfig
from recovery_lab.workload import run_task_pair

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.txt"

_LINE = re.compile(rb"(\d+) (-?\d+)\n")


@dataclass
class LoadedCheckpoint:
    """Contents of a checkpoint file as the loader found them.

    Attributes:
        results: Result by task id, from every valid line.
        lines: Valid lines read.
        valid_bytes: Length of the valid prefix of the file, in bytes.
        torn_bytes: Bytes after the valid prefix: a torn or corrupt tail.
        duplicates: Task ids that had more than one line, in file order.
        out_of_range: Task ids outside the workload, which are ignored.

    """

    results: dict[int, int] = field(default_factory=dict)
    lines: int = 0
    valid_bytes: int = 0
    torn_bytes: int = 0
    duplicates: list[int] = field(default_factory=list)
    out_of_range: list[int] = field(default_factory=list)


def load_checkpoint(path: str | os.PathLike[str], tasks: int) -> LoadedCheckpoint:
    """Read the valid prefix of a checkpoint file.

    Args:
        path: The checkpoint file; a missing file counts as empty.
        tasks: Number of tasks in the workload, to reject ids outside it.

    Returns:
        The results of the valid lines and what was wrong with the rest.

    """
    loaded = LoadedCheckpoint()
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return loaded
    position = 0
    while position < len(data):
        match = _LINE.match(data, position)
        if match is None:
            break
        task, value = int(match[1]), int(match[2])
        position = match.end()
        loaded.lines += 1
        if not 0 <= task < tasks:
            loaded.out_of_range.append(task)
        elif task in loaded.results:
            loaded.duplicates.append(task)
        else:
            loaded.results[task] = value
    loaded.valid_bytes = position
    loaded.torn_bytes = len(data) - position
    return loaded


def _report(loaded: LoadedCheckpoint, path: Path, tasks: int) -> None:
    logger.info(
        "checkpoint %s: %d valid lines, %d tasks finished, %d torn bytes, "
        "%d duplicate lines",
        path,
        loaded.lines,
        len(loaded.results),
        loaded.torn_bytes,
        len(loaded.duplicates),
    )
    if loaded.torn_bytes:
        logger.warning(
            "checkpoint %s: truncated a torn tail of %d bytes at offset %d",
            path,
            loaded.torn_bytes,
            loaded.valid_bytes,
        )
    if loaded.duplicates:
        logger.warning("checkpoint %s: duplicate tasks %s", path, loaded.duplicates)
    if loaded.out_of_range:
        logger.warning(
            "checkpoint %s: ignored task ids outside 0..%d: %s",
            path,
            tasks - 1,
            loaded.out_of_range,
        )


def run(config: StrategyConfig) -> dict[int, int]:
    """Run the tasks that the checkpoint file lacks and return every result."""
    path = Path(config.run_dir) / CHECKPOINT_FILE
    loaded = load_checkpoint(path, config.tasks)
    _report(loaded, path, config.tasks)
    if loaded.torn_bytes:
        os.truncate(path, loaded.valid_bytes)
    results = dict(loaded.results)
    jobs = [(task, config.n) for task in range(config.tasks) if task not in results]

    context = multiprocessing.get_context(config.settings.get("start_method", "fork"))
    workers = int(config.settings.get("workers", 10))
    with open(path, "a") as checkpoint, context.Pool(workers) as pool:
        for task, value in pool.imap_unordered(run_task_pair, jobs):
            results[task] = value
            checkpoint.write(f"{task} {value}\n")
            checkpoint.flush()
        # Workers exit on their own, as in pool.py.
        pool.close()
        pool.join()
    return results
