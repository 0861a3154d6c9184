"""The history file survives SIGKILL of its writers: nothing lost, nothing torn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from recovery_lab.ledger import LedgerTail, LedgerWriter, read_ledger

WRITER = """
import os, sys
from recovery_lab.ledger import LedgerWriter
writer = LedgerWriter(sys.argv[1])
for _ in range(4):
    if os.fork() == 0:
        break
pid = os.getpid()
sequence = 0
padding = "x" * 300
while True:
    writer.append({"event": "tick", "pid": pid, "seq": sequence, "pad": padding})
    sequence += 1
"""


def test_ledger_sigkill_loses_and_tears_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], start_new_session=True
    )
    try:
        # Wait until all five writers have written and the file is large, so the
        # kill lands while every one of them is in its write loop.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_size > 2_000_000:
                writers = {r["pid"] for r in read_ledger(path).records}
                if len(writers) == 5:
                    break
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        time.sleep(0.2)

    contents = read_ledger(path)
    assert contents.torn_lines == []
    by_writer: dict[int, list[int]] = defaultdict(list)
    for record in contents.records:
        by_writer[record["pid"]].append(record["seq"])
    assert len(by_writer) == 5
    for sequences in by_writer.values():
        # Each writer's records are all there, in order, with no gap.
        assert sequences == list(range(len(sequences)))


def test_read_ledger_counts_partial_last_line_as_torn(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    writer = LedgerWriter(path)
    writer.append({"event": "start", "task": 1})
    writer.close()
    with open(path, "a") as handle:
        handle.write('{"event": "finish", "ta')
    contents = read_ledger(path)
    assert [r["event"] for r in contents.records] == ["start"]
    assert contents.torn_lines == [2]


def test_read_ledger_counts_unterminated_object_as_torn(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps({"event": "start"}) + "\n" + json.dumps({"a": 1}))
    contents = read_ledger(path)
    assert len(contents.records) == 1
    assert contents.torn_lines == [2]


def test_ledger_tail_returns_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    tail = LedgerTail(path)
    assert list(tail.read_new()) == []
    with open(path, "w") as handle:
        handle.write('{"n": 1}\n{"n": ')
    assert list(tail.read_new()) == [{"n": 1}]
    with open(path, "a") as handle:
        handle.write("2}\n")
    assert list(tail.read_new()) == [{"n": 2}]


def test_ledger_writer_rejects_oversized_record(tmp_path: Path) -> None:
    writer = LedgerWriter(tmp_path / "history.jsonl")
    try:
        writer.append({"event": "tick", "pad": "x" * 5000})
    except ValueError as exc:
        assert "too long" in str(exc)
    else:
        raise AssertionError("a 5 kB record was accepted")
    finally:
        writer.close()


def test_read_ledger_recovers_record_after_fragment(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    # A writer killed mid-write left a fragment; the next writer's record follows
    # it on the same line and must not be lost.
    path.write_bytes(
        b'{"event":"start","task":1}\n{"event":"finish","ta{"event":"start","task":2}\n'
    )
    contents = read_ledger(path)
    assert [r["task"] for r in contents.records] == [1, 2]
    assert contents.torn_lines == [2]


def test_ledger_writer_puts_event_key_first(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    writer = LedgerWriter(path)
    writer.append({"task": 3, "event": "start"})
    writer.close()
    assert path.read_bytes().startswith(b'{"event":"start"')
