"""Launch a strategy, kill it at the configured points, restart it until it is done.

One call of :func:`run_strategy` is one run: the incarnations of one strategy from
first launch to completion, with the faults of one scenario. Each incarnation is a
new process in a new session, so that its process group contains the strategy and
every worker it starts and a fault can kill all of them at once, as a power loss
would. Faults themselves are fired by faults.py. The supervisor writes its own
records (launch, kill, stop, cont, shutdown, fault, hung, exit, leak, timeout,
end) to the same history file in which the tasks record their attempts, so file
order is one total order of everything that happened in the run.
"""

from __future__ import annotations

import json
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

from recovery_lab import effects
from recovery_lab.checker import FAULTS_FILE
from recovery_lab.errors import RecoveryLabError, StrategyCrashError
from recovery_lab.failpoints import FAILPOINT_ENV
from recovery_lab.faults import FaultInjector, failpoint_environment
from recovery_lab.ledger import (
    INCARNATION_ENV,
    LEDGER_ENV,
    LedgerTail,
    LedgerWriter,
    read_ledger,
)
from recovery_lab.processes import (
    TOKEN_ENV,
    kill_processes,
    signal_group,
    wait_for_exit,
)
from recovery_lab.scenario import Fault, RestartPolicy
from recovery_lab.strategies.common import StrategyConfig, read_results
from recovery_lab.strategies.watchdog import DEADLINE_ENV, SUPERVISOR_ENV

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
CONFIG_FILE = "strategy.json"
RESULT_FILE = "result.json"

# Seconds that the processes of an incarnation get to exit after it ended or was
# killed before any still alive counts as leaked.
EXIT_GRACE = 5.0

# Seconds after the run's deadline at which a strategy kills its own process group
# if the supervisor has not killed it by then.
WATCHDOG_GRACE = 10.0

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
    """The end of one run, as the supervisor saw it.

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
        faults: What each fault did: the fields of its ``fault`` history record.
        hung: Incarnations that the watchdog killed for making no progress.
        tasks_finished: Distinct tasks finished over the whole run.
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
    faults: list[dict[str, Any]] = field(default_factory=list)
    hung: list[int] = field(default_factory=list)
    tasks_finished: int = 0
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
        watchdog: float | None,
    ) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.faults = {fault.incarnation: fault for fault in faults}
        self.policy = policy
        self.timeout = timeout
        self.watchdog = watchdog
        self.on_progress = on_progress
        self.token = uuid.uuid4().hex
        self.history = LedgerWriter(self.run_dir / HISTORY_FILE)
        self.incarnation = 0
        self.kills = 0
        self.fired: set[int] = set()
        self.fault_results: list[dict[str, Any]] = []
        self.hung: list[int] = []
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
        env[SUPERVISOR_ENV] = str(os.getpid())
        # The supervisor kills a run at its deadline itself; the strategy's own
        # watchdog acts later, only if the supervisor is stuck or gone.
        remaining = self.deadline - time.monotonic()
        env[DEADLINE_ENV] = f"{time.time() + remaining + WATCHDOG_GRACE:.3f}"
        env.pop(FAILPOINT_ENV, None)
        store = self.run_dir / effects.EFFECTS_FILE
        env[effects.EFFECTS_ENV] = effects.environment_value(self.config.effects, store)
        fault = self.faults.get(self.incarnation)
        if fault is not None:
            env.update(failpoint_environment(fault, self.run_dir))
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
        injector = None if fault is None else FaultInjector(fault, process, self.record)
        try:
            exit_code, ending = self.watch(process, number, injector)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM turned into an exception, or a bug):
            # take the strategy down with us rather than leave it running.
            signal_group(process.pid, signal.SIGKILL)
            process.wait()
            kill_processes(wait_for_exit(self.token, process.pid, EXIT_GRACE))
            self.record("interrupted", incarnation=number, pid=process.pid)
            raise
        orphaned = injector is not None and injector.orphans_expected
        leaked = wait_for_exit(self.token, process.pid, 0 if orphaned else EXIT_GRACE)
        self.record("exit", incarnation=number, pid=process.pid, exit_code=exit_code)
        if leaked:
            records = [vars(info) for info in leaked]
            self.record("leak", incarnation=number, processes=records)
            self.leaked.append({"incarnation": number, "processes": records})
            kill_processes(leaked)
        # A strategy that exited 0 before the signal reached it has completed:
        # the fault came too late to test anything, and is reported as such.
        completed_first = (
            injector is not None and exit_code == 0 and not injector.landed
        )
        if injector is not None:
            injector.finish(exit_code, self.run_dir)
            self.fault_results.append(injector.result())
            if injector.fired:
                self.fired.add(number)
                if not completed_first:
                    self.kills += 1

        if ending == "timed_out":
            raise RunTimedOut(f"timed out after {self.timeout:g} s")
        if ending == "hung":
            raise IncarnationKilled(f"incarnation {number} hung and was killed")
        if injector is not None and injector.ended and not completed_first:
            raise IncarnationKilled(f"incarnation {number} killed by a fault")
        if injector is not None and injector.landed and exit_code != 0:
            # For example a process pool that raises once a fault killed one of
            # its workers: the failure is the fault's doing, so restart.
            raise IncarnationKilled(
                f"incarnation {number} exited with status {exit_code} after its "
                "fault landed"
            )
        if exit_code != 0:
            raise StrategyCrashError(process.pid, exit_code, number, _tail(stderr_path))

    def watch(
        self,
        process: subprocess.Popen[bytes],
        number: int,
        injector: FaultInjector | None,
    ) -> tuple[int, str]:
        """Follow an incarnation, fire its fault and watch for hangs.

        Returns:
            The exit code, and how the incarnation ended: ``exited`` (by itself or
            by its fault), ``hung`` or ``timed_out``.

        """
        tail = LedgerTail(self.run_dir / HISTORY_FILE)
        launched = last_progress = time.monotonic()
        finished = 0
        # Attempts in flight by process, for choosing a worker to signal.
        in_flight: dict[int, int] = {}
        while True:
            # Poll before reading, so that every record written before the exit,
            # such as a failpoint's, is read before the exit is acted on.
            exit_code = process.poll()
            for record in tail.read_new():
                if record.get("incarnation") != number or "pid" not in record:
                    continue
                last_progress = time.monotonic()
                event, pid = record.get("event"), int(record["pid"])
                if event == "start":
                    in_flight[pid] = in_flight.pop(pid, 0) + 1
                elif event == "finish":
                    in_flight[pid] = in_flight.get(pid, 1) - 1
                    finished += 1
                    if self.on_progress is not None:
                        self.on_progress(record)
                elif injector is not None:
                    injector.observe(record)
            if exit_code is not None:
                return exit_code, "exited"
            now = time.monotonic()
            if injector is not None and injector.due(finished, now - launched):
                busy = [pid for pid, count in reversed(in_flight.items()) if count > 0]
                injector.fire(finished, busy)
                last_progress = time.monotonic()
                if injector.ended:
                    return process.wait(), "exited"
            if self.watchdog is not None and now - last_progress >= self.watchdog:
                signal_group(process.pid, signal.SIGKILL)
                self.hung.append(number)
                self.record(
                    "hung", incarnation=number, pid=process.pid, idle=self.watchdog
                )
                return process.wait(), "hung"
            if now >= self.deadline:
                signal_group(process.pid, signal.SIGKILL)
                exit_code = process.wait()
                self.record("timeout", incarnation=number, pid=process.pid)
                return exit_code, "timed_out"
            time.sleep(POLL_INTERVAL)


def _finished_tasks(run_dir: Path) -> int:
    records = read_ledger(run_dir / HISTORY_FILE).records
    return len({r["task"] for r in records if r.get("event") == "finish"})


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
    watchdog: float | None = None,
) -> RunOutcome:
    """Run a strategy under faults, restarting it until it completes or gives up.

    Args:
        config: The strategy process's configuration; ``config.run_dir`` must exist
            and be empty of any earlier run.
        faults: Faults to fire, at most one per incarnation.
        policy: When and how often to restart after a kill.
        timeout: Seconds allowed for the whole run, restarts included.
        on_progress: Called with every supervisor record and every task finish.
        watchdog: Seconds without a new record from an incarnation after which it
            is killed and reported as hung, or None for no watchdog.

    Returns:
        How the run ended. Failures of the strategy are reported in the outcome,
        not raised.

    """
    run_dir = Path(config.run_dir)
    config.save(run_dir / CONFIG_FILE)
    planned = [{"incarnation": f.incarnation, "fault": f.describe()} for f in faults]
    (run_dir / FAULTS_FILE).write_text(json.dumps(planned, indent=1) + "\n")
    if config.effects != "none":
        effects.create_store(run_dir / effects.EFFECTS_FILE)
    run = _Run(config, faults, policy, timeout, on_progress, watchdog)
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
            f"gave up after {run.incarnation} incarnations, each killed or hung "
            f"(max_restarts={policy.max_restarts}); "
            f"{_finished_tasks(run_dir)} of {config.tasks} tasks finished"
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
    for number, fault in sorted(run.faults.items()):
        if number > run.incarnation:
            evidence = "the run ended before this incarnation was launched"
            result = {"fault": fault.describe(), "fired": False, "landed": False}
            run.record("fault", incarnation=number, **result, evidence=evidence)
            run.fault_results.append({**result, "evidence": evidence})
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
        faults=run.fault_results,
        hung=run.hung,
        tasks_finished=_finished_tasks(run_dir),
        error=error,
        stderr_tail=stderr_tail,
    )
