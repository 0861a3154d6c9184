"""Fire one fault at one incarnation and find out whether it landed.

The supervisor creates a :class:`FaultInjector` for each incarnation that has a
fault and calls it from its watch loop. A fault lands when it did what it
describes: the signalled process died (SIGKILL, SIGTERM), was seen stopped
(SIGSTOP), or the armed failpoint wrote its record and the group died with
SIGKILL. A fault whose trigger was never reached did not land either. Every
fault ends with a ``fault`` record in the history saying whether it fired and
landed, with the evidence, so the checker can tell a recovery that was tested
from one that was not.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import psutil

from recovery_lab.failpoints import FAILPOINT_ENV, encode_arming
from recovery_lab.processes import sample_thread_cpu, signal_group
from recovery_lab.scenario import Fault

logger = logging.getLogger(__name__)

# Seconds that a SIGTERM leaves the strategy to exit when the fault sets no grace.
DEFAULT_GRACE: Final = 5.0

# Seconds to wait for a signalled worker to die or stop before calling the fault
# not landed.
CONFIRM_TIMEOUT: Final = 5.0

RecordFunction = Callable[..., None]


def failpoint_counter(run_dir: Path, incarnation: int) -> Path:
    """Return the file that counts failpoint hits in one incarnation."""
    return run_dir / f"failpoint-hits.{incarnation}"


def failpoint_environment(fault: Fault, run_dir: Path) -> dict[str, str]:
    """Return the environment variables that arm a fault's failpoint, if any."""
    if fault.failpoint is None:
        return {}
    counter = failpoint_counter(run_dir, fault.incarnation)
    return {FAILPOINT_ENV: encode_arming(fault.failpoint, fault.hit or 1, str(counter))}


def _wait_for_status(pid: int, status: str, timeout: float) -> bool | None:
    """Wait until a process that is not our child shows a psutil status.

    Returns:
        True once it shows ``status``, None if it no longer exists, and False if
        ``timeout`` seconds passed first.

    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == status:
                return True
        except psutil.NoSuchProcess:
            return None
        time.sleep(0.01)
    return False


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until a process has exited or become a zombie."""
    return _wait_for_status(pid, psutil.STATUS_ZOMBIE, timeout) is not False


def _wait_stopped(pid: int, timeout: float) -> bool:
    return _wait_for_status(pid, psutil.STATUS_STOPPED, timeout) is True


class FaultInjector:
    """Fire one incarnation's fault and record what happened.

    Attributes:
        fault: The fault.
        fired: Whether the signal was sent or the failpoint wrote its record.
        ended: Whether the fault ended the incarnation, which is then restarted.
        landed: Whether the fault did what it describes.
        evidence: One line saying what was observed.

    """

    def __init__(
        self,
        fault: Fault,
        process: subprocess.Popen[bytes],
        record: RecordFunction,
    ) -> None:
        self.fault = fault
        self.process = process
        self.record = record
        self.fired = False
        self.ended = False
        self.landed = False
        self.evidence = ""
        self.details: dict[str, Any] = {}
        # Tasks finished in the incarnation when the signal was sent. With
        # after_tasks it can exceed the trigger, because the history is polled.
        self.finished_at_signal: int | None = None
        self._failpoint_record: dict[str, Any] | None = None

    @property
    def orphans_expected(self) -> bool:
        """Whether the fault SIGKILLed the main process alone, orphaning its children.

        The children of a main process killed this way keep running without it,
        so every one still alive right after it died counts as leaked.
        """
        fault = self.fault
        return self.ended and fault.target == "main" and fault.signal == "SIGKILL"

    def due(self, finished: int, elapsed: float) -> bool:
        """Return whether the fault's trigger is reached and it has not fired yet."""
        fault = self.fault
        if self.fired or fault.failpoint is not None:
            return False
        if fault.after_tasks is not None and finished >= fault.after_tasks:
            return True
        return fault.after_seconds is not None and elapsed >= fault.after_seconds

    def observe(self, record: dict[str, Any]) -> None:
        """Take note of a record of this incarnation read from the history."""
        if record.get("event") == "failpoint" and self._failpoint_record is None:
            self._failpoint_record = record
            self.fired = True
            self.ended = True

    def fire(self, finished: int, busy_pids: list[int]) -> None:
        """Send the fault's signal to its target, if the target exists yet.

        Args:
            finished: Tasks finished in the incarnation so far.
            busy_pids: Processes of the incarnation with an attempt in flight,
                most recent first, to choose a ``worker`` target from.

        """
        fault = self.fault
        main = self.process.pid
        if fault.target == "worker":
            workers = [pid for pid in busy_pids if pid != main]
            if not workers:
                return
            target_pid = workers[0]
        else:
            target_pid = main
        signum = getattr(signal, fault.signal)
        cpu = sample_thread_cpu(main)
        try:
            if fault.target == "group":
                if not signal_group(main, signum):
                    return
            else:
                os.kill(target_pid, signum)
        except ProcessLookupError:
            return
        sent = time.monotonic()
        self.fired = True
        self.finished_at_signal = finished
        event = "stop" if fault.signal == "SIGSTOP" else "kill"
        self.record(
            event,
            incarnation=fault.incarnation,
            pid=main,
            target_pid=target_pid,
            signal=fault.signal,
            target=fault.target,
            finished_in_incarnation=finished,
            thread_cpu=cpu,
            fault=fault.describe(),
        )
        if fault.signal == "SIGSTOP":
            self._stop_and_continue(target_pid, signum, sent)
        elif fault.signal == "SIGTERM":
            self._await_termination(target_pid, sent)
        else:
            self._await_kill(target_pid)

    def _send(self, target_pid: int, signum: int) -> None:
        if self.fault.target == "group":
            signal_group(self.process.pid, signum)
            return
        try:
            os.kill(target_pid, signum)
        except ProcessLookupError:
            pass

    def _await_kill(self, target_pid: int) -> None:
        if target_pid == self.process.pid:
            code = self.process.wait()
            self.ended = True
            self.landed = code == -signal.SIGKILL
            self.evidence = f"process {target_pid} exited with status {code}"
            return
        self.landed = _wait_gone(target_pid, CONFIRM_TIMEOUT)
        if self.landed:
            self.evidence = f"worker {target_pid} died"
        else:
            self.evidence = (
                f"worker {target_pid} was still alive {CONFIRM_TIMEOUT:g} s after "
                "the signal"
            )

    def _await_termination(self, target_pid: int, sent: float) -> None:
        grace = DEFAULT_GRACE if self.fault.grace is None else self.fault.grace
        if target_pid == self.process.pid:
            self.ended = True
            try:
                code: int | None = self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                code = None
        else:
            code = 0 if _wait_gone(target_pid, grace) else None
        seconds = time.monotonic() - sent
        if code is None:
            self._send(target_pid, signal.SIGKILL)
            if target_pid == self.process.pid:
                self.process.wait()
            else:
                _wait_gone(target_pid, CONFIRM_TIMEOUT)
        # A process that handled SIGTERM exits with a status of its own. One that
        # died of the default action shows -SIGTERM and ran no shutdown code.
        clean = code is not None and code >= 0
        self.landed = True
        self.details = {
            "exit_code": code,
            "clean_shutdown": clean,
            "shutdown_seconds": round(seconds, 3),
            "grace": grace,
            "sigkill_after_grace": code is None,
        }
        if code is None:
            self.evidence = (
                f"process {target_pid} still ran {grace:g} s after SIGTERM, so "
                "SIGKILL followed"
            )
        else:
            how = "cleanly" if clean else "by the default action of SIGTERM"
            self.evidence = (
                f"process {target_pid} exited {how} (status {code}) "
                f"{seconds:.2f} s after SIGTERM"
            )
        self.record("shutdown", incarnation=self.fault.incarnation, **self.details)

    def _stop_and_continue(self, target_pid: int, signum: int, sent: float) -> None:
        stopped = _wait_stopped(target_pid, CONFIRM_TIMEOUT)
        stop_seconds = self.fault.stop_seconds or 0.0
        time.sleep(max(0.0, stop_seconds - (time.monotonic() - sent)))
        self._send(target_pid, signal.SIGCONT)
        held = time.monotonic() - sent
        self.record(
            "cont", incarnation=self.fault.incarnation, stopped_seconds=round(held, 3)
        )
        self.landed = stopped
        state = "was seen stopped" if stopped else "was never seen stopped"
        self.evidence = (
            f"process {target_pid} {state}, and SIGCONT followed after {held:.2f} s"
        )
        self.details = {"stopped_seconds": round(held, 3)}

    def result(self) -> dict[str, Any]:
        """Return the fault's result, as in its ``fault`` history record."""
        return {
            "incarnation": self.fault.incarnation,
            "fault": self.fault.describe(),
            "fired": self.fired,
            "landed": self.landed,
            "evidence": self.evidence,
            "after_tasks": self.fault.after_tasks,
            "finished_at_signal": self.finished_at_signal,
            **self.details,
        }

    def finish(self, exit_code: int | None, run_dir: Path) -> None:
        """Record the fault's result once the incarnation has ended."""
        fault = self.fault
        if fault.failpoint is not None:
            self._finish_failpoint(exit_code, run_dir)
        elif not self.fired:
            self.evidence = "the trigger was never reached"
        self.record("fault", **self.result())

    def _finish_failpoint(self, exit_code: int | None, run_dir: Path) -> None:
        fault = self.fault
        if self._failpoint_record is None:
            counter = failpoint_counter(run_dir, fault.incarnation)
            hits = counter.stat().st_size if counter.exists() else 0
            self.evidence = (
                f"failpoint {fault.failpoint} was reached {hits} times in the "
                f"incarnation, fewer than the armed hit {fault.hit or 1}"
            )
            return
        record = self._failpoint_record
        self.landed = exit_code == -signal.SIGKILL
        self.evidence = (
            f"process {record.get('pid')} recorded hit {record.get('hit')} of "
            f"failpoint {fault.failpoint}, and the strategy process exited with "
            f"status {exit_code}"
        )
