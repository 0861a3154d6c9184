"""Command line: ``python -m recovery_lab COMMAND``.

Commands: run, suite, compare, report, plan, analyze and bench.

Exit status: 0 when every run passed the checker (see checker.py). With an
``expect`` section in the scenario, every run with faults must get exactly the
expected verdicts. Without it, and for runs without faults, no verdict may be
``fail`` or ``inconclusive``. 1 when a run did not pass, and for ``compare`` when
a difference is larger than the noise. 2 means invalid input (scenario, option,
results directory), 130 an interruption.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console

from recovery_lab import analysis, databases
from recovery_lab.bench import add_bench_parser, command_bench
from recovery_lab.compare import (
    compare_studies,
    comparison_markdown,
    comparison_rich_table,
)
from recovery_lab.errors import RecoveryLabError, ResultsError, ScenarioError
from recovery_lab.progress import StudyProgress
from recovery_lab.report import ReportFiles, comparison_table, write_report
from recovery_lab.report_document import problem_items
from recovery_lab.results import RESULTS_FILE, StudyResults, load_results
from recovery_lab.scenario import MAX_REPETITIONS, Scenario, load_scenario
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
            "Exit status: 0 every run got the verdicts that the scenario expects "
            "(without expect: no verdict fail or inconclusive), 1 a run did not, "
            "2 invalid input, 130 interrupted."
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

    plan = commands.add_parser(
        "plan",
        help="print the faults a scenario would fire, without running anything",
        description="Validate a scenario and print its faults, with any seeded "
        "schedule expanded into one fault per incarnation.",
    )
    plan.add_argument("scenario", type=Path, help="scenario YAML file")

    analyze = commands.add_parser(
        "analyze",
        help="check the stored histories of a results directory again",
        description="Run the checker on every run directory of a results "
        "directory, including runs that an interrupted study left unfinished, "
        "and print the verdicts.",
    )
    analyze.add_argument("results_dir", type=Path, help="directory written by run")
    add_bench_parser(commands)
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
    if not 1 <= value <= MAX_REPETITIONS:
        raise argparse.ArgumentTypeError(
            f"must be from 1 to {MAX_REPETITIONS}, found {value}"
        )
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
    """Apply the checker's rule, or for results without verdicts the older one."""
    if not any(run.verdicts for run in study.runs):
        return all(
            run.status == "completed" and run.metrics.correct and not run.leaked
            for run in study.runs
        )
    runs = [
        (f"{run.strategy} {run.mode}-{run.repetition}", run.mode, run.verdicts)
        for run in study.runs
    ]
    problems = analysis.expectation_failures(runs, study.scenario.get("expect", {}))
    for line in problems:
        print(f"not passed: {line}", file=sys.stderr)
    return not problems


def print_summary(study: StudyResults, results_dir: Path, report: ReportFiles) -> None:
    """Print the comparison table, the problems, and the results and report paths."""
    _table_console().print(comparison_table(study))
    for line in problem_items(study):
        print(f"problem: {line}", file=sys.stderr)
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
    settings: databases.DbosSettings,
    args: argparse.Namespace,
    console: Console,
) -> StudyResults:
    """Run one scenario with a progress display, write its report, print the table."""
    runs = len(planned_runs(scenario))
    with StudyProgress(scenario.workload.tasks, console, runs) as progress:
        study = run_study(
            scenario,
            results_dir,
            system_db=settings.server_url,
            app_name=settings.app_name,
            keep_databases=args.keep_databases,
            on_run_start=progress.start_run,
            on_progress=progress,
        )
    print_summary(study, results_dir, write_report(results_dir, study))
    return study


def _reject_results_dir(results_dir: Path) -> bool:
    """Print why a results directory cannot be created, and return whether it can't.

    Checked before anything runs, so that a study never stops half-way for a path
    that was bad from the start.
    """
    problem = ""
    if any(len(os.fsencode(part)) > 255 for part in results_dir.parts):
        problem = "a part of the path is longer than 255 bytes"
    elif results_dir.exists():
        problem = "already exists; choose a new --results-dir"
    else:
        ancestor = results_dir.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            problem = f"cannot be created: {ancestor} is not a directory"
        elif not os.access(ancestor, os.W_OK | os.X_OK):
            problem = f"cannot be created: {ancestor} is not writable"
    if problem:
        print(f"error: {results_dir}: {problem}", file=sys.stderr)
    return bool(problem)


def command_run(args: argparse.Namespace, console: Console) -> int:
    """Run a scenario; see ``build_parser`` for the options."""
    scenario = _load_scenario(args.scenario, args.repeat)
    settings = databases.dbos_settings(args.system_db, args.dbos_config)
    results_dir = args.results_dir or _default_results_dir(scenario.name)
    if _reject_results_dir(results_dir):
        return EXIT_USAGE
    if settings.server_url:
        databases.check_server(settings.server_url)
    study = _run_one(scenario, results_dir, settings, args, console)
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
    settings = databases.dbos_settings(args.system_db, args.dbos_config)
    suite_dir = args.results_dir or _default_results_dir("suite")
    if _reject_results_dir(suite_dir):
        return EXIT_USAGE
    if settings.server_url:
        databases.check_server(settings.server_url)

    suite_dir.mkdir(parents=True)
    entries: list[SuiteEntry] = []
    passed = True
    for scenario in scenarios:
        name = scenario.name
        suffix = 1
        while (suite_dir / name).exists():
            suffix += 1
            name = f"{scenario.name}-{suffix}"
        study = _run_one(scenario, suite_dir / name, settings, args, console)
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
    if study.state != "complete":
        return EXIT_FAILED
    return EXIT_OK if _study_passed(study) else EXIT_FAILED


def command_plan(args: argparse.Namespace) -> int:
    """Print the faults of a scenario."""
    for line in analysis.plan_lines(load_scenario(args.scenario)):
        print(line)
    return EXIT_OK


def command_analyze(args: argparse.Namespace) -> int:
    """Check every run directory of a results directory and print the verdicts."""
    runs, expect = analysis.analyze_results(args.results_dir)
    table = [(run.name, run.verdicts) for run in runs]
    for line in analysis.verdict_table(table):
        print(line)
    for run in runs:
        if not run.listed:
            print(f"{run.name}: not in results.json; the study stopped during it")
        for verdict in run.verdicts:
            if verdict.verdict in ("fail", "inconclusive"):
                print(
                    f"{run.name}: {verdict.name} {verdict.verdict}: {verdict.evidence}"
                )
    problems = analysis.expectation_failures(
        [(run.name, run.mode, run.verdicts) for run in runs], expect
    )
    for line in problems:
        print(f"not passed: {line}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    if args.command == "run":
        return command_run(args, console)
    if args.command == "suite":
        return command_suite(args, console)
    if args.command == "compare":
        return command_compare(args, console)
    if args.command == "plan":
        return command_plan(args)
    if args.command == "analyze":
        return command_analyze(args)
    if args.command == "bench":
        return command_bench(args)
    return command_report(args, console)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the command and return its exit status."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    console = Console(stderr=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        status = _dispatch(args, console)
        # Flush here, so that a closed pipe is handled below and not at exit.
        sys.stdout.flush()
        return status
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
    except BrokenPipeError:
        # The reader of standard output went away, as ``plan | head`` does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
