"""Entry point of a strategy process: ``python -m recovery_lab.strategies CONFIG``.

Exit status: 0 when every task finished and the results were written, 1 when the
strategy raised, 2 for a bad command line, 143 (128 + SIGTERM) when a SIGTERM
stopped it. The SIGTERM handler raises an exception in the main thread, so the
strategy leaves its ``with`` blocks (a process pool terminates its workers) and
DBOS is shut down before the exit. The process exits through ``os._exit`` after shutting
DBOS down, because threads that DBOS started can otherwise keep a finished
process alive.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from types import FrameType

from recovery_lab.strategies import load_strategy, uses_dbos
from recovery_lab.strategies.common import StrategyConfig, write_results
from recovery_lab.strategies.watchdog import start_watchdog

EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def main(argv: list[str]) -> int:
    """Run the strategy that the configuration file names and write its results."""
    if len(argv) != 1:
        print("usage: python -m recovery_lab.strategies CONFIG_JSON", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    config = StrategyConfig.load(argv[0])
    start_watchdog()
    status = 0
    signal.signal(signal.SIGTERM, _raise_terminated)
    # A forked pool worker would inherit the handler and raise inside the pool's
    # worker loop, so it gets the default action back.
    os.register_at_fork(
        after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL)
    )
    try:
        results = load_strategy(config.strategy)(config)
        write_results(config.result_path, results)
    except Terminated:
        print("terminated by SIGTERM; shutting down", file=sys.stderr)
        status = EXIT_TERMINATED
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        if uses_dbos(config.strategy):
            from recovery_lab.strategies.dbos_runtime import shutdown_dbos

            try:
                shutdown_dbos()
            except Exception:
                traceback.print_exc()
                status = 1
    return status


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
