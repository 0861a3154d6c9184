"""Launch a strategy, kill it at the configured points, restart it until it is done.

One call of :func:`run_strategy` is one run: the incarnations of one strategy from
first launch to completion, with the faults of one scenario. Each incarnation is a
new process in a new session, so that its process group holds the strategy and
every worker it starts and a fault can kill all of them at once, as a power loss
would. The supervisor writes its own records (launch, kill, exit, leak, timeout,
end) to the same history file in which the tasks record their attempts, so file
order is one total order of everything that happened in the run.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from recovery_lab.errors import RecoveryLabError, StrategyCrashError
from recovery_lab.ledger import INCARNATION_ENV, LEDGER_ENV, LedgerTail, LedgerWriter
from recovery_lab.processes import (
    TOKEN_ENV,
    kill_processes,
    sample_thread_cpu,
    signal_group,
    wait_for_exit,
)
from recovery_lab.scenario import Fault, RestartPolicy
from recovery_lab.strategies.common import StrategyConfig, read_results

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
CONFIG_FILE = "strategy.json"
RESULT_FILE = "result.json"

# Seconds that the processes of an incarnation get to exit after it ended or was
# killed before any still alive counts as leaked.
EXIT_GRACE = 5.0

# Seconds between two reads of the history while an incarnation runs. A fault set
# to fire after K tasks lands within about this long after the K-th finish.
POLL_INTERVAL = 0.01

ProgressCallback = Callable[[dict[str, Any]], None]


class IncarnationKilled(RecoveryLabError):
    """Raised inside the restart loop when a fault killed an incarnation."""


class RunTimedOut(RecoveryLabError):
    """Raised when a run used up its timeout."""


@dataclass
class RunOutcome:
    """How one run ended, as seen by the supervisor.

    Attributes:
        status: ``completed``, ``gave_up`` (the restart policy stopped restarting),
            ``crashed`` (exited non-zero without a kill), ``timed_out``, or
            ``failed`` (the supervisor could not launch the strategy).
        incarnations: Number of launches.
        kills: Number of faults fired.
        started: Wall-clock time of the first launch, in seconds since the epoch.
        ended: Wall-clock time when the run ended.
        results: The strategy's final results, or None if it did not complete.
        leaked: Processes found alive after an incarnation ended, by incarnation.
        faults_not_fired: Descriptions of faults whose trigger was never reached.
        error: A one-line reason when the run did not complete.
        stderr_tail: Last lines of standard error of a crashed incarnation.

    """

    status: str
    incarnations: int
    kills: int
    started: float
    ended: float
    results: dict[int, int] | None = None
    leaked: list[dict[str, Any]] = field(default_factory=list)
    faults_not_fired: list[str] = field(default_factory=list)
    error: str = ""
    stderr_tail: str = ""


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class _Run:
    """State of one run across its incarnations."""

    def __init__(
        self,
        config: StrategyConfig,
        faults: tuple[Fault, ...],
        policy: RestartPolicy,
        timeout: float,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.faults = {fault.incarnation: fault for fault in faults}
        self.policy = policy
        self.timeout = timeout
        self.on_progress = on_progress
        self.token = uuid.uuid4().hex
        self.history = LedgerWriter(self.run_dir / HISTORY_FILE)
        self.incarnation = 0
        self.kills = 0
        self.fired: set[int] = set()
        self.leaked: list[dict[str, Any]] = []
        self.started = time.time()
        self.deadline = time.monotonic() + timeout

    def record(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.time(), **fields}
        self.history.append(record)
        if self.on_progress is not None:
            self.on_progress(record)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env[LEDGER_ENV] = str(self.run_dir / HISTORY_FILE)
        env[INCARNATION_ENV] = str(self.incarnation)
        env[TOKEN_ENV] = self.token
        return env

    def launch_incarnation(self) -> None:
        """Run one incarnation to its end; raise if it did not complete."""
        if time.monotonic() >= self.deadline:
            raise RunTimedOut(f"timed out after {self.timeout:g} s before a restart")
        self.incarnation += 1
        number = self.incarnation
        stdout = open(self.run_dir / f"stdout.{number}.log", "wb")
        stderr_path = self.run_dir / f"stderr.{number}.log"
        stderr = open(stderr_path, "wb")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "recovery_lab.strategies", CONFIG_FILE],
                cwd=self.run_dir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        finally:
            stdout.close()
            stderr.close()
        self.record("launch", incarnation=number, pid=process.pid)
        fault = self.faults.get(number)
        try:
            exit_code, killed, timed_out = self.watch(process, number, fault)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM turned into an exception, or a bug):
            # take the strategy down with us rather than leave it running.
            signal_group(process.pid, signal.SIGKILL)
            process.wait()
            kill_processes(wait_for_exit(self.token, process.pid, EXIT_GRACE))
            self.record("interrupted", incarnation=number, pid=process.pid)
            raise
        leaked = wait_for_exit(self.token, process.pid, EXIT_GRACE)
        self.record("exit", incarnation=number, pid=process.pid, exit_code=exit_code)
        if leaked:
            records = [vars(info) for info in leaked]
            self.record("leak", incarnation=number, processes=records)
            self.leaked.append({"incarnation": number, "processes": records})
            kill_processes(leaked)

        if timed_out:
            raise RunTimedOut(f"timed out after {self.timeout:g} s")
        if killed:
            raise IncarnationKilled(f"incarnation {number} killed by a fault")
        if exit_code != 0:
            raise StrategyCrashError(process.pid, exit_code, number, _tail(stderr_path))

    def watch(
        self, process: subprocess.Popen[bytes], number: int, fault: Fault | None
    ) -> tuple[int, bool, bool]:
        """Follow an incarnation and fire its fault.

        Returns:
            The exit code, whether a fault killed it, and whether it timed out.

        """
        tail = LedgerTail(self.run_dir / HISTORY_FILE)
        launched = time.monotonic()
        finished = 0
        killed = False
        while True:
            for record in tail.read_new():
                if (
                    record.get("event") == "finish"
                    and record.get("incarnation") == number
                ):
                    finished += 1
                    if self.on_progress is not None:
                        self.on_progress(record)
            exit_code = process.poll()
            if exit_code is not None:
                return exit_code, killed, False
            if fault is not None and not killed:
                due = (
                    fault.after_tasks is not None and finished >= fault.after_tasks
                ) or (
                    fault.after_seconds is not None
                    and time.monotonic() - launched >= fault.after_seconds
                )
                if due:
                    killed = self.fire(process, number, fault, finished)
            if time.monotonic() >= self.deadline:
                signal_group(process.pid, signal.SIGKILL)
                exit_code = process.wait()
                self.record("timeout", incarnation=number, pid=process.pid)
                return exit_code, killed, True
            time.sleep(POLL_INTERVAL)

    def fire(
        self,
        process: subprocess.Popen[bytes],
        number: int,
        fault: Fault,
        finished: int,
    ) -> bool:
        """Send a fault's signal to the incarnation's process group."""
        cpu = sample_thread_cpu(process.pid)
        signum = getattr(signal, fault.signal)
        if not signal_group(process.pid, signum):
            return False
        self.kills += 1
        self.fired.add(number)
        self.record(
            "kill",
            incarnation=number,
            pid=process.pid,
            signal=fault.signal,
            target=fault.target,
            finished_in_incarnation=finished,
            thread_cpu=cpu,
            fault=fault.describe(),
        )
        process.wait()
        return True


def _log_restart(state: RetryCallState) -> None:
    delay = state.next_action.sleep if state.next_action else 0.0
    reason = state.outcome.exception() if state.outcome else None
    logger.info("restarting after %s, in %.2f s", reason, delay)


def run_strategy(
    config: StrategyConfig,
    faults: tuple[Fault, ...],
    policy: RestartPolicy,
    timeout: float,
    on_progress: ProgressCallback | None = None,
) -> RunOutcome:
    """Run a strategy under faults, restarting it until it completes or gives up.

    Args:
        config: The strategy process's configuration; ``config.run_dir`` must exist
            and be empty of any earlier run.
        faults: Faults to fire, at most one per incarnation.
        policy: When and how often to restart after a kill.
        timeout: Seconds allowed for the whole run, restarts included.
        on_progress: Called with every supervisor record and every task finish.

    Returns:
        How the run ended. Failures of the strategy are reported in the outcome,
        not raised.

    """
    run_dir = Path(config.run_dir)
    config.save(run_dir / CONFIG_FILE)
    run = _Run(config, faults, policy, timeout, on_progress)
    retrying = Retrying(
        retry=retry_if_exception_type(IncarnationKilled),
        stop=stop_after_attempt(policy.max_restarts + 1),
        wait=wait_exponential(
            multiplier=policy.delay, exp_base=policy.backoff, max=policy.max_delay
        ),
        before_sleep=_log_restart,
        reraise=False,
    )
    status, error, stderr_tail = "completed", "", ""
    try:
        retrying(run.launch_incarnation)
    except RetryError:
        status = "gave_up"
        error = (
            f"gave up after {run.incarnation} incarnations, each killed "
            f"(max_restarts={policy.max_restarts})"
        )
    except RunTimedOut as exc:
        status, error = "timed_out", str(exc)
    except StrategyCrashError as exc:
        status, error, stderr_tail = "crashed", str(exc), exc.stderr_tail
    except OSError as exc:
        status, error = "failed", f"cannot launch the strategy: {exc}"

    results = read_results(run_dir / RESULT_FILE) if status == "completed" else None
    not_fired = [
        fault.describe()
        for number, fault in sorted(run.faults.items())
        if number not in run.fired
    ]
    run.record("end", status=status, error=error)
    run.history.close()
    return RunOutcome(
        status=status,
        incarnations=run.incarnation,
        kills=run.kills,
        started=run.started,
        ended=time.time(),
        results=results,
        leaked=run.leaked,
        faults_not_fired=not_fired,
        error=error,
        stderr_tail=stderr_tail,
    )
