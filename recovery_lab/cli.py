"""Command line: ``python -m recovery_lab {run,suite,compare,report} ...``.

Exit status: 0 when every run completed with a correct result and no leaked
process, and 1 when a run did not. ``compare`` exits with 1 when a difference is
larger than the noise. 2 means invalid input (scenario, option, results
directory), 130 an interruption.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console

from recovery_lab import databases
from recovery_lab.compare import (
    compare_studies,
    comparison_markdown,
    comparison_rich_table,
)
from recovery_lab.errors import RecoveryLabError, ResultsError, ScenarioError
from recovery_lab.progress import StudyProgress
from recovery_lab.report import ReportFiles, comparison_table, write_report
from recovery_lab.results import RESULTS_FILE, StudyResults, load_results
from recovery_lab.scenario import Scenario, load_scenario
from recovery_lab.study import planned_runs, run_study
from recovery_lab.suite import SuiteEntry, write_suite_report

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
            "then with its faults, and write results.json, report.md and "
            "report.html."
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
    _add_study_options(run)

    suite = commands.add_parser(
        "suite",
        help="run several scenarios and compare them",
        description=(
            "Run each scenario as the run command does, each into its own results "
            "directory inside --results-dir, then write suite.md and suite.html "
            "comparing them."
        ),
    )
    suite.add_argument("scenarios", nargs="+", type=Path, help="scenario YAML files")
    suite.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="directory to create for the suite "
        "(default: results/suite-YYYYMMDD-HHMMSS in the current directory)",
    )
    _add_study_options(suite)

    compare = commands.add_parser(
        "compare",
        help="compare two results directories, such as before and after a change",
        description=(
            "Compare each metric of two results directories, strategy by strategy, "
            "as median (min-max) over the repetitions. A difference is marked * "
            "when each side's median lies outside the other side's min-max range "
            "(a single run's value counts as its median), and ? when both sides "
            "ran once, so that the noise is unknown."
        ),
        epilog="Exit status: 0 no difference marked *, 1 some difference marked *, "
        "2 invalid input.",
    )
    compare.add_argument("results_a", type=Path, help="reference results directory")
    compare.add_argument("results_b", type=Path, help="results directory to compare")
    compare.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        default=None,
        help="also write the comparison as a Markdown table to FILE",
    )

    report = commands.add_parser(
        "report",
        help="rebuild the report of a results directory",
        description=(
            "Rebuild report.md and report.html from results.json and the run "
            "histories, and print the table."
        ),
    )
    report.add_argument("results_dir", type=Path, help="directory written by run")
    return parser


def _add_study_options(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by the commands that run scenarios."""
    parser.add_argument(
        "--system-db",
        metavar="URL",
        default=None,
        help="PostgreSQL server for the DBOS system databases, for example "
        "postgresql://postgres@127.0.0.1:5432/postgres; each run gets a new "
        "database there (default: $DBOS_SYSTEM_DATABASE_URL, then "
        "dbos-config.yaml, then a SQLite file per run)",
    )
    parser.add_argument(
        "--dbos-config",
        type=Path,
        default=None,
        help="DBOS configuration file (default: ./dbos-config.yaml if present)",
    )
    parser.add_argument(
        "--repeat",
        metavar="N",
        type=_positive_int,
        default=None,
        help="run each strategy with faults N times and report each metric as "
        "median (min-max) over them (default: the scenario's repetitions, 1 if "
        "unset); the run without faults stays one run",
    )
    parser.add_argument(
        "--keep-databases",
        action="store_true",
        help="keep each run's PostgreSQL database instead of dropping it at the end",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, found {value}")
    return value


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
    return console if console.is_terminal else Console(width=200)


def _study_passed(study: StudyResults) -> bool:
    return all(
        run.status == "completed" and run.metrics.correct and not run.leaked
        for run in study.runs
    )


def print_summary(study: StudyResults, results_dir: Path, report: ReportFiles) -> None:
    """Print the comparison table and the paths of the results and reports."""
    _table_console().print(comparison_table(study))
    print(f"results: {results_dir / RESULTS_FILE}")
    print(f"report:  {report.html}")
    print(f"         {report.markdown}")


def _load_scenario(path: Path, repeat: int | None) -> Scenario:
    scenario = load_scenario(path)
    if repeat is not None:
        scenario = dataclasses.replace(scenario, repetitions=repeat)
    return scenario


def _run_one(
    scenario: Scenario,
    results_dir: Path,
    system_db: str | None,
    args: argparse.Namespace,
    console: Console,
) -> StudyResults:
    """Run one scenario with a progress display, write its report, print the table."""
    runs = len(planned_runs(scenario))
    with StudyProgress(scenario.workload.tasks, console, runs) as progress:
        study = run_study(
            scenario,
            results_dir,
            system_db=system_db,
            keep_databases=args.keep_databases,
            on_run_start=progress.start_run,
            on_progress=progress,
        )
    print_summary(study, results_dir, write_report(results_dir, study))
    return study


def _reject_existing(results_dir: Path) -> bool:
    if results_dir.exists():
        print(
            f"error: {results_dir}: already exists; choose a new --results-dir",
            file=sys.stderr,
        )
        return True
    return False


def command_run(args: argparse.Namespace, console: Console) -> int:
    """Run a scenario; see ``build_parser`` for the options."""
    scenario = _load_scenario(args.scenario, args.repeat)
    system_db = databases.configured_url(args.system_db, args.dbos_config)
    results_dir = args.results_dir or _default_results_dir(scenario.name)
    if _reject_existing(results_dir):
        return EXIT_USAGE
    if system_db:
        databases.check_server(system_db)
    study = _run_one(scenario, results_dir, system_db, args, console)
    return EXIT_OK if _study_passed(study) else EXIT_FAILED


def command_suite(args: argparse.Namespace, console: Console) -> int:
    """Run several scenarios, then compare them; see ``build_parser``."""
    scenarios = []
    invalid = False
    for path in args.scenarios:
        try:
            scenarios.append(_load_scenario(path, args.repeat))
        except ScenarioError as exc:
            invalid = True
            for problem in exc.problems:
                print(problem.format(exc.path), file=sys.stderr)
    if invalid:
        return EXIT_USAGE
    system_db = databases.configured_url(args.system_db, args.dbos_config)
    suite_dir = args.results_dir or _default_results_dir("suite")
    if _reject_existing(suite_dir):
        return EXIT_USAGE
    if system_db:
        databases.check_server(system_db)

    suite_dir.mkdir(parents=True)
    entries: list[SuiteEntry] = []
    passed = True
    for scenario in scenarios:
        name = scenario.name
        suffix = 1
        while (suite_dir / name).exists():
            suffix += 1
            name = f"{scenario.name}-{suffix}"
        study = _run_one(scenario, suite_dir / name, system_db, args, console)
        passed = passed and _study_passed(study)
        entries.append(SuiteEntry(name, study))
    report = write_suite_report(suite_dir, entries)
    print(f"suite:   {report.html}")
    print(f"         {report.markdown}")
    return EXIT_OK if passed else EXIT_FAILED


def command_compare(args: argparse.Namespace, console: Console) -> int:
    """Compare two results directories; see ``build_parser``."""
    study_a = load_results(args.results_a)
    study_b = load_results(args.results_b)
    comparison = compare_studies(study_a, study_b)
    title = f"A: {args.results_a}\nB: {args.results_b}"
    print(title)
    _table_console().print(comparison_rich_table(comparison))
    for note in comparison.notes:
        print(f"note: {note}")
    marked = comparison.marked
    print(
        f"{len(marked)} of {len(comparison.differences)} differences are larger "
        "than the noise (marked *)"
    )
    if args.markdown is not None:
        args.markdown.write_text(comparison_markdown(comparison, title))
        print(f"markdown: {args.markdown}")
    return EXIT_FAILED if marked else EXIT_OK


def command_report(args: argparse.Namespace, console: Console) -> int:
    """Rebuild the report of a results directory."""
    study = load_results(args.results_dir)
    print_summary(study, args.results_dir, write_report(args.results_dir, study))
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
        if args.command == "suite":
            return command_suite(args, console)
        if args.command == "compare":
            return command_compare(args, console)
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
