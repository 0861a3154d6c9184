"""An append-only JSON-lines history of task attempts and supervisor events.

Every process that writes to a ledger opens the file with ``O_APPEND`` and writes
each record as one line in a single ``write(2)`` call, so records of concurrent
writers never interleave. The data is in the page cache once ``write`` returns, and
the page cache outlives a killed process, so a SIGKILL loses no record written
before it. Records are not fsynced: a power loss is not simulated here.

Linux can still cut a write short when a fatal signal arrives between two pages of
it (``generic_perform_write`` checks for one before each page), so a record that
crosses a page boundary may be torn. The next record is then appended right after
the fragment, on the same line. The reader handles both: it recovers a complete
record that follows a fragment, because every record starts with ``{"event":``,
and counts each fragment as a torn line, so the guarantee is measured on every run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Environment variables that pass a strategy process, and every process it starts,
# the path of the ledger and the number of the launch it belongs to.
LEDGER_ENV = "RECOVERY_LAB_LEDGER"
INCARNATION_ENV = "RECOVERY_LAB_INCARNATION"

# Lines longer than this could be split by the kernel, so they are rejected.
MAX_RECORD_BYTES = 4096


class LedgerWriter:
    """Append records to a ledger file, one ``write(2)`` per record."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as a JSON line, its ``event`` key first.

        Raises:
            ValueError: If the record has no ``event`` key, or if the encoded record
                is longer than ``MAX_RECORD_BYTES``.
        """
        if "event" not in record:
            raise ValueError("a ledger record needs an 'event' key")
        ordered = {"event": record["event"], **record}
        data = (json.dumps(ordered, separators=(",", ":")) + "\n").encode()
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"ledger record of {len(data)} bytes is too long")
        written = os.write(self._fd, data)
        if written != len(data):
            raise OSError(f"short write to {self.path}: {written} of {len(data)}")

    def close(self) -> None:
        """Close the file descriptor."""
        os.close(self._fd)


_writer_lock = threading.Lock()
_writers: dict[tuple[int, str], LedgerWriter] = {}


def task_writer() -> LedgerWriter | None:
    """Return this process's writer for the ledger named in the environment.

    Returns None when the process was not started by a supervisor. Writers are kept
    per process id, so a child made by ``fork`` opens its own descriptor.
    """
    path = os.environ.get(LEDGER_ENV)
    if not path:
        return None
    key = (os.getpid(), path)
    with _writer_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = LedgerWriter(path)
            _writers[key] = writer
        return writer


def current_incarnation() -> int:
    """Return the incarnation number the supervisor gave this process, or 0."""
    return int(os.environ.get(INCARNATION_ENV, "0"))


RECORD_START = b'{"event":'


def parse_line(line: bytes) -> tuple[dict[str, Any] | None, bool]:
    """Parse one line of a ledger.

    Returns:
        The record on the line, or None if there is none, and whether the line
        contains a torn fragment, alone or before a record.
    """
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict):
        return record, False
    start = line.rfind(RECORD_START)
    if start > 0:
        try:
            record = json.loads(line[start:])
        except ValueError:
            record = None
        if isinstance(record, dict):
            return record, True
    return None, True


@dataclass
class LedgerContents:
    """Records read back from a ledger file.

    Attributes:
        records: Every record that parsed, in file order.
        torn_lines: 1-based numbers of lines holding a fragment of a record cut
            short, including a last line with no newline.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    torn_lines: list[int] = field(default_factory=list)


def read_ledger(path: str | os.PathLike[str]) -> LedgerContents:
    """Read every record of a ledger file; a missing file reads as empty."""
    contents = LedgerContents()
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return contents
    lines = data.split(b"\n")
    # Whatever follows the last newline is a write that was cut short.
    trailing = lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        record, torn = parse_line(line)
        if torn:
            contents.torn_lines.append(number)
        if record is not None:
            contents.records.append(record)
    if trailing:
        contents.torn_lines.append(len(lines) + 1)
    return contents


class LedgerTail:
    """Follow a ledger file that other processes are appending to.

    Only complete lines are returned, so a record being written is never read half.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self._pending = b""

    def read_new(self) -> Iterator[dict[str, Any]]:
        """Yield the records appended since the previous call."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            if not line:
                continue
            record, _ = parse_line(line)
            if record is not None:
                yield record
