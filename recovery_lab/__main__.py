"""Run the command line: ``python -m recovery_lab``."""

import sys

from recovery_lab.cli import main

sys.exit(main())
