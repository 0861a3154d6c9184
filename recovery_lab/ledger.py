"""An append-only JSON-lines history of task attempts and supervisor events.

Every process that writes to a ledger opens the file with ``O_APPEND`` and writes
each record as one line in a single ``write(2)`` call. The kernel appends the whole
line at the end of the file or nothing, and a SIGKILL cannot interrupt a write to a
regular file half-way, so a killed writer leaves no torn line and loses no line it
already wrote: the data is in the page cache, which outlives the process. A power
loss is another matter and is not simulated here, so records are not fsynced.

The reader still checks every line and counts any it cannot parse as torn, so that
this guarantee is measured on every run rather than assumed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Environment variables through which the supervisor tells a strategy process, and
# every process it starts, where to record attempts and which launch it belongs to.
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
        """Append one record as a JSON line.

        Raises:
            ValueError: If the encoded record is longer than ``MAX_RECORD_BYTES``.

        """
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
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


@dataclass
class LedgerContents:
    """Records read back from a ledger file.

    Attributes:
        records: Every record that parsed, in file order.
        torn_lines: 1-based numbers of lines that did not parse as a JSON object,
            including a last line with no newline.

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
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            contents.torn_lines.append(number)
            continue
        if isinstance(record, dict):
            contents.records.append(record)
        else:
            contents.torn_lines.append(number)
    if data and not data.endswith(b"\n") and contents.records:
        # A complete JSON object without its newline still counts as torn.
        last = data.count(b"\n") + 1
        if last not in contents.torn_lines:
            contents.torn_lines.append(last)
            contents.records.pop()
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
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record
