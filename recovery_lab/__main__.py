"""Run the command line: ``python -m recovery_lab``."""

import os
import signal
import sys
from types import FrameType


def _exit_interrupted(signum: int, frame: FrameType | None) -> None:
    # Nothing has started yet while modules import, so there is nothing to clean.
    os.write(2, b"interrupted\n")
    os._exit(130)


# Importing the command line takes about a second (DBOS, SQLAlchemy, matplotlib).
# An interrupt in that time exits quietly instead of printing a traceback.
signal.signal(signal.SIGINT, _exit_interrupted)
signal.signal(signal.SIGTERM, _exit_interrupted)

from recovery_lab.cli import main  # noqa: E402

signal.signal(signal.SIGINT, signal.default_int_handler)
sys.exit(main())
