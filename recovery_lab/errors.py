"""Exceptions raised by recovery_lab."""

from __future__ import annotations

from dataclasses import dataclass


class RecoveryLabError(Exception):
    """Base class of every error that recovery_lab raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One invalid value in a scenario file.

    Attributes:
        key: Dotted key path, for example ``faults[0].after_tasks``.
        line: 1-based line of the value in the file, or None when unknown.
        found: What the file contains there, already formatted for a message.
        allowed: What the key accepts, for example ``an integer >= 1``.

    """

    key: str
    line: int | None
    found: str
    allowed: str

    def format(self, path: str) -> str:
        """Format the problem as one ``file:line: key: ...`` message line."""
        where = f"{path}:{self.line}" if self.line is not None else path
        return f"{where}: {self.key}: found {self.found}; allowed: {self.allowed}"


class ScenarioError(RecoveryLabError):
    """Raised when a scenario file is missing, unreadable or invalid.

    Every problem in the file is collected before this is raised, so that one run
    of the command shows all of them.
    """

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(p.format(path) for p in self.problems))

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[str, list[Problem]]]:
        return (type(self), (self.path, self.problems))


class ResultsError(RecoveryLabError):
    """Raised when a results directory is missing, malformed or of another version."""


class StrategyCrashError(RecoveryLabError):
    """Raised when a strategy process exits non-zero without having been killed.

    Attributes:
        pid: Process id of the strategy process.
        exit_code: Its exit status, negative for a signal number.
        incarnation: 1-based number of the launch that crashed.
        stderr_tail: Last lines of its standard error.

    """

    def __init__(
        self, pid: int, exit_code: int, incarnation: int, stderr_tail: str
    ) -> None:
        self.pid = pid
        self.exit_code = exit_code
        self.incarnation = incarnation
        self.stderr_tail = stderr_tail
        super().__init__(
            f"strategy process {pid} (incarnation {incarnation}) exited with "
            f"status {exit_code} without being killed"
        )

    def __reduce__(self) -> tuple[type[StrategyCrashError], tuple[int, int, int, str]]:
        return (
            type(self),
            (self.pid, self.exit_code, self.incarnation, self.stderr_tail),
        )
