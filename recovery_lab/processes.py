"""Find, sample and kill the processes of one strategy run.

Every process of a run carries the run's token in its environment, inherited from
the strategy process. That finds a process even after it left the process group or
lost its parent, which is exactly the kind of process that a kill can leak.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

import psutil

logger = logging.getLogger(__name__)

TOKEN_ENV = "RECOVERY_LAB_RUN_TOKEN"


@dataclass(frozen=True)
class ProcessInfo:
    """A process found alive, as reported in a leak.

    Attributes:
        pid: Process id.
        ppid: Parent process id when found.
        pgid: Process group id when found, or -1 if it could not be read.
        command: Command line, shortened to 200 characters.

    """

    pid: int
    ppid: int
    pgid: int
    command: str


def _is_alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(process: psutil.Process) -> ProcessInfo | None:
    try:
        with process.oneshot():
            command = " ".join(process.cmdline())[:200]
            ppid = process.ppid()
        try:
            pgid = os.getpgid(process.pid)
        except OSError:
            pgid = -1
        return ProcessInfo(process.pid, ppid, pgid, command)
    except psutil.Error:
        return None


def find_run_processes(token: str, pgid: int | None = None) -> list[ProcessInfo]:
    """Return the live processes that carry ``token`` or belong to group ``pgid``.

    Zombies are left out: they have exited and only wait for their parent to reap
    them, so they hold no memory and run no code.
    """
    found: list[ProcessInfo] = []
    own_pid = os.getpid()
    for process in psutil.process_iter():
        if process.pid == own_pid or not _is_alive(process):
            continue
        member = False
        if pgid is not None:
            try:
                member = os.getpgid(process.pid) == pgid
            except OSError:
                member = False
        if not member:
            try:
                member = process.environ().get(TOKEN_ENV) == token
            except psutil.Error:
                member = False
        if member:
            info = _describe(process)
            if info is not None:
                found.append(info)
    return found


def wait_for_exit(token: str, pgid: int, grace: float) -> list[ProcessInfo]:
    """Wait up to ``grace`` seconds for every process of a run to exit.

    Returns:
        The processes still alive when the grace period ran out: leaks.

    """
    deadline = time.monotonic() + grace
    while True:
        alive = find_run_processes(token, pgid)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


# Seconds that kill_processes waits for the killed processes to be gone.
KILL_WAIT = 5.0


def kill_processes(processes: list[ProcessInfo]) -> None:
    """SIGKILL each listed process and wait until they are gone.

    Processes that exited meanwhile are skipped. The wait matters on a loaded
    machine, where a process can stay runnable for a while with the SIGKILL
    pending, so a check right after the kill would still find it.
    """
    killed: list[psutil.Process] = []
    for info in processes:
        try:
            process = psutil.Process(info.pid)
            os.kill(info.pid, signal.SIGKILL)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
        except PermissionError:
            logger.error("cannot kill leaked process %d: permission denied", info.pid)
            continue
        killed.append(process)
    _, alive = psutil.wait_procs(killed, timeout=KILL_WAIT)
    for process in alive:
        logger.error("leaked process %d still alive after SIGKILL", process.pid)


def signal_group(pgid: int, signum: int) -> bool:
    """Send a signal to a process group; return False if the group is gone."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def sample_thread_cpu(pgid: int) -> dict[str, float]:
    """Return the CPU seconds of every thread in a process group, by ``pid:tid``.

    Taken just before a kill, this measures how much CPU the attempts that the kill
    cuts short had used, since each attempt records its thread's CPU time at start.
    """
    sample: dict[str, float] = {}
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) != pgid:
                continue
            for thread in process.threads():
                key = f"{process.pid}:{thread.id}"
                sample[key] = thread.user_time + thread.system_time
        except (OSError, psutil.Error):
            continue
    return sample
