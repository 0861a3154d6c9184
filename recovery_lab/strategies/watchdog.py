"""Stop a strategy whose supervisor is gone or whose run is long past its timeout.

A strategy runs in a session of its own so that a fault can kill its whole process
group, which also means that nothing kills it when its supervisor dies. This
watchdog thread does: when the strategy process is orphaned, or when the run's
deadline has passed, it SIGKILLs its own process group, workers included.
"""

from __future__ import annotations

import os
import signal
import threading
import time

SUPERVISOR_ENV = "RECOVERY_LAB_SUPERVISOR_PID"
DEADLINE_ENV = "RECOVERY_LAB_DEADLINE"

# Seconds between two checks.
CHECK_INTERVAL = 0.25


def _watch(supervisor: int, deadline: float) -> None:
    while True:
        reason = ""
        if supervisor and os.getppid() != supervisor:
            reason = f"supervisor {supervisor} is gone"
        elif deadline and time.time() > deadline:
            reason = "the run's deadline has passed"
        if reason:
            os.write(2, f"watchdog: {reason}; killing the process group\n".encode())
            os.killpg(os.getpgid(0), signal.SIGKILL)
        time.sleep(CHECK_INTERVAL)


def start_watchdog() -> None:
    """Start the watchdog thread if the supervisor set its environment variables.

    ``RECOVERY_LAB_SUPERVISOR_PID`` is the pid that must stay this process's
    parent, and ``RECOVERY_LAB_DEADLINE`` a wall-clock time in seconds since the
    epoch after which the process group is killed.
    """
    supervisor = int(os.environ.get(SUPERVISOR_ENV) or 0)
    deadline = float(os.environ.get(DEADLINE_ENV) or 0)
    if not supervisor and not deadline:
        return
    thread = threading.Thread(
        target=_watch,
        args=(supervisor, deadline),
        name="recovery-lab-watchdog",
        daemon=True,
    )
    thread.start()
