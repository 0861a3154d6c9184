"""Show a study's progress: a live display on a terminal, plain lines elsewhere."""

from __future__ import annotations

import logging
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

logger = logging.getLogger(__name__)


class StudyProgress:
    """Receive supervisor records and show tasks done, incarnation and kills.

    On a terminal this draws a progress bar per run. Elsewhere, as in CI, it logs
    one line per launch, kill, leak and end of run, and none per task.
    """

    def __init__(
        self, tasks: int, console: Console | None = None, runs: int | None = None
    ) -> None:
        """Prepare the display.

        Args:
            tasks: Tasks per run, the total of each run's bar.
            console: Where to draw; by default standard error.
            runs: Runs in the study, to number each run ``k/runs``.

        """
        self.tasks = tasks
        self.runs = runs
        self._started_runs = 0
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self._progress: Progress | None = None
        self._task_id: Any = None
        self._run = ""
        self._finished: set[int] = set()
        self._incarnation = 0
        self._kills = 0

    def __enter__(self) -> StudyProgress:
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[state]}"),
                console=self.console,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_run(self, strategy: str, mode: str, repetition: int) -> None:
        """Begin showing a new run."""
        self._started_runs += 1
        number = f"{self._started_runs}/{self.runs} " if self.runs else ""
        self._run = f"{number}{strategy} {mode}-{repetition}"
        self._finished = set()
        self._incarnation = 0
        self._kills = 0
        if self._progress is not None:
            self._task_id = self._progress.add_task(
                self._run, total=self.tasks, state=""
            )
        else:
            print(f"run {self._run}: started", file=sys.stderr, flush=True)

    def _state(self) -> str:
        return f"incarnation {self._incarnation}, kills {self._kills}"

    def __call__(self, record: dict[str, Any]) -> None:
        """Update the display with one supervisor record or task finish."""
        event = record.get("event")
        message = ""
        if event == "finish":
            self._finished.add(int(record["task"]))
        elif event == "launch":
            self._incarnation = int(record["incarnation"])
            message = f"incarnation {self._incarnation} launched, pid {record['pid']}"
        elif event == "kill":
            self._kills += 1
            message = (
                f"{record['signal']} sent to incarnation {record['incarnation']} "
                f"after {record['finished_in_incarnation']} tasks finished in it"
            )
        elif event == "leak":
            message = f"{len(record['processes'])} processes leaked, now killed"
        elif event == "hung":
            message = f"no progress for {record['idle']:g} s, killed as hung"
        elif event == "fault" and not record.get("landed"):
            message = f"fault did not land: {record['fault']}: {record['evidence']}"
        elif event == "timeout":
            message = "timed out"
        elif event == "end":
            message = f"ended: {record['status']}"
            if record.get("error"):
                message += f": {record['error']}"
        if self._progress is not None and self._task_id is not None:
            self._progress.update(
                self._task_id, completed=len(self._finished), state=self._state()
            )
            if message:
                self._progress.console.print(f"{self._run}: {message}")
        elif message:
            print(
                f"run {self._run}: {message} "
                f"({len(self._finished)}/{self.tasks} tasks done)",
                file=sys.stderr,
                flush=True,
            )
