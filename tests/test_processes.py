"""Finding and killing the processes of a run, with real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from recovery_lab.processes import (
    TOKEN_ENV,
    find_run_processes,
    kill_processes,
    wait_for_exit,
)

# Starts a child in a session of its own, so the child leaves the parent's process
# group, prints the child's pid and exits: the child is the kind of process a kill
# of the group cannot reach.
ESCAPE = """
import subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    start_new_session=True,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
print(child.pid, flush=True)
"""


def test_run_process_outside_group_is_found_by_token() -> None:
    token = uuid.uuid4().hex
    env = dict(os.environ, **{TOKEN_ENV: token})
    parent = subprocess.run(
        [sys.executable, "-c", ESCAPE],
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=True,
    )
    child_pid = int(parent.stdout)
    try:
        leaked = wait_for_exit(token, pgid=-12345, grace=0.5)
        assert [info.pid for info in leaked] == [child_pid]
        assert leaked[0].pgid == child_pid
    finally:
        kill_processes(find_run_processes(token))
    deadline = time.monotonic() + 5
    while find_run_processes(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert find_run_processes(token) == []


def test_wait_for_exit_returns_nothing_when_group_ended() -> None:
    token = uuid.uuid4().hex
    env = dict(os.environ, **{TOKEN_ENV: token})
    process = subprocess.Popen(
        [sys.executable, "-c", "pass"], env=env, start_new_session=True
    )
    process.wait()
    assert wait_for_exit(token, process.pid, grace=1.0) == []
