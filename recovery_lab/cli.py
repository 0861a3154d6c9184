"""Command line: ``python -m recovery_lab {run,report,bench} ...``.

Exit status: 0 when every run completed with a correct result and no leaked
process; 1 when a run did not; 2 for invalid input (scenario, option, results
directory); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console

from recovery_lab import databases
from recovery_lab.bench import add_bench_parser, command_bench
from recovery_lab.errors import RecoveryLabError, ResultsError, ScenarioError
from recovery_lab.progress import StudyProgress
from recovery_lab.report import comparison_table, write_report
from recovery_lab.results import StudyResults, load_results
from recovery_lab.scenario import load_scenario
from recovery_lab.study import run_study

logger = logging.getLogger("recovery_lab")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m recovery_lab",
        description=(
            "Run a job under several execution strategies, kill it at configured "
            "points, restart it, and measure lost work, completion time and "
            "correctness."
        ),
        epilog=(
            "Exit status: 0 all runs completed correctly with nothing leaked, "
            "1 a run did not, 2 invalid input, 130 interrupted."
        ),
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug messages to stderr"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a scenario and write its results and report",
        description=(
            "Run every strategy that the scenario names, once without faults and "
            "then with its faults, and write results.json and report.md."
        ),
    )
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="directory to create for the results "
        "(default: results/SCENARIO-YYYYMMDD-HHMMSS in the current directory)",
    )
    run.add_argument(
        "--system-db",
        metavar="URL",
        default=None,
        help="PostgreSQL server for the DBOS system databases, for example "
        "postgresql://postgres@127.0.0.1:5432/postgres; each run gets a new "
        "database there (default: $DBOS_SYSTEM_DATABASE_URL, then "
        "dbos-config.yaml, then a SQLite file per run)",
    )
    run.add_argument(
        "--dbos-config",
        type=Path,
        default=None,
        help="DBOS configuration file (default: ./dbos-config.yaml if present)",
    )
    run.add_argument(
        "--keep-databases",
        action="store_true",
        help="keep each run's PostgreSQL database instead of dropping it at the end",
    )

    report = commands.add_parser(
        "report",
        help="rebuild the report of a results directory",
        description="Rebuild report.md from results.json and print the table.",
    )
    report.add_argument("results_dir", type=Path, help="directory written by run")
    add_bench_parser(commands)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _default_results_dir(name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("results") / f"{name}-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path("results") / f"{name}-{stamp}-{suffix}"
    return path


def _table_console() -> Console:
    """Return a console for the final table, wide enough when output is piped."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _study_passed(study: StudyResults) -> bool:
    return all(
        run.status == "completed" and run.metrics.correct and not run.leaked
        for run in study.runs
    )


def command_run(args: argparse.Namespace, console: Console) -> int:
    """Run a scenario; see ``build_parser`` for the options."""
    scenario = load_scenario(args.scenario)
    system_db = databases.configured_url(args.system_db, args.dbos_config)
    results_dir = args.results_dir or _default_results_dir(scenario.name)
    if results_dir.exists():
        print(
            f"error: {results_dir}: already exists; choose a new --results-dir",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if system_db:
        databases.check_server(system_db)

    with StudyProgress(scenario.workload.tasks, console) as progress:
        study = run_study(
            scenario,
            results_dir,
            system_db=system_db,
            keep_databases=args.keep_databases,
            on_run_start=progress.start_run,
            on_progress=progress,
        )
    report_path = write_report(results_dir, study)
    _table_console().print(comparison_table(study))
    print(f"results: {results_dir / 'results.json'}")
    print(f"report:  {report_path}")
    return EXIT_OK if _study_passed(study) else EXIT_FAILED


def command_report(args: argparse.Namespace, console: Console) -> int:
    """Rebuild the report of a results directory."""
    study = load_results(args.results_dir)
    report_path = write_report(args.results_dir, study)
    _table_console().print(comparison_table(study))
    print(f"report: {report_path}")
    return EXIT_OK if _study_passed(study) else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the command and return its exit status."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    console = Console(stderr=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if args.command == "run":
            return command_run(args, console)
        if args.command == "bench":
            return command_bench(args)
        return command_report(args, console)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem.format(exc.path), file=sys.stderr)
        return EXIT_USAGE
    except (ResultsError, databases.DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RecoveryLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted; the strategy processes were killed", file=sys.stderr)
        return EXIT_INTERRUPTED
