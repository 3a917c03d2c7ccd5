"""Command line: ``talentsim run``, ``compare``, ``sweep``, ``report``, ``meanfield``, ``viz``.

Also ``talentsim validate FILE``, which checks a scenario, sweep, targets or calibration file,
``talentsim store
merge OUT STORE ...``, which combines the stores of a sweep's shards (``store export``
writes one tidy table), ``talentsim targets SCENARIO TARGETS``, which evaluates a scenario
against a targets file, ``talentsim calibrate FILE``, which fits a scenario to targets as a
calibration file says, and ``talentsim glossary``, which prints what each word of the tables
means.

Errors in input (a malformed scenario, an unknown key, an unwritable output folder) print one
clear message and exit with status 2; they never print a traceback.
"""

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MIN_PYTHON = (3, 12)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""The exit status of a command stopped by Ctrl-C (128 + SIGINT)."""


def _check_python() -> None:
    if sys.version_info < MIN_PYTHON:
        found = ".".join(str(part) for part in sys.version_info[:3])
        sys.stderr.write(
            f"error: talentsim needs Python >= 3.12, but this is Python {found}.\n"
            "       Install Python 3.12 (e.g. 'pyenv install 3.12') and reinstall talentsim.\n"
        )
        raise SystemExit(EXIT_USAGE)


def _parse_assignment(text: str, option: str = "--set") -> tuple[str, object]:
    """Parse ``key=value`` where value is read as a TOML value, else as a plain string.

    ``option`` is what gave it (``--set``, or ``--variant NAME``), as messages name it.
    """
    import tomllib

    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"{option} {text!r}: expected key=value, e.g. labs.MSL.pay_level=3.0")
    try:
        parsed: object = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    except RecursionError:
        raise ValueError(f"{option} {key}: the value nests arrays or tables too deeply") from None
    return key, parsed


def script_arguments(description: str | None, argv: list[str] | None = None, *, seeds: int = 5):
    """Parse the arguments every example or analysis script takes: ``--seeds N --out DIR``.

    Args:
        description: Help text (usually the script's ``__doc__``).
        argv: Arguments (default: ``sys.argv[1:]``).
        seeds: Default number of replicate seeds.

    Returns:
        An ``argparse.Namespace`` with ``seeds`` (a positive int) and ``out`` (a folder that
        can be written, or None); anything else is refused by argparse (exit status 2).
    """
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--seeds", type=positive_integer, default=seeds, help=f"replicates (default {seeds})"
    )
    parser.add_argument(
        "--out", type=run_output_folder, default=None, help="save the first run's results here"
    )
    return parser.parse_args(argv)


def output_folder(text: str) -> str:
    """An argparse type: a folder a script can write its output to, checked before any work.

    Not an existing file; if it does not exist, its nearest existing folder must accept a new
    folder (tried with a trial folder, removed at once: permissions alone do not tell, e.g.
    in ``/proc``). Whether an existing folder's contents may be replaced is for the writer.
    """
    import argparse

    from talentsim.paths import creation_problem

    if not text:
        raise argparse.ArgumentTypeError("expected a folder, got an empty string")
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{folder}: exists and is not a folder")
    problem = creation_problem(folder)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{folder}: cannot be written ({problem})")
    return text


def run_output_folder(text: str) -> str:
    """An argparse type: a folder a script saves a run into, replacing an earlier one.

    As :func:`output_folder`, and, if the folder holds anything, it must be an earlier run's
    folder (``RunResult.save(..., overwrite=True)`` replaces only that): checked before the
    work, not after it (a long ABC run refused its folder only at the end).
    """
    import argparse

    from talentsim.results import RUN_MARKERS, not_replaceable

    output_folder(text)
    folder = Path(text)
    if folder.is_dir() and any(folder.iterdir()):
        problem = not_replaceable(folder, RUN_MARKERS, "run")
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{folder}: {problem}")
    return text


def run_script(main: Callable[[], object]) -> int:
    """Run an example or analysis script's ``main`` as a command; returns the exit status.

    Bad input (talentsim's errors: a ``ValueError`` such as :class:`ScenarioError`, or a
    :class:`talentsim.experiments.SweepError`; a file or folder that cannot be read or written:
    an ``OSError``) gives one ``error:`` line on standard error and status 2, not a traceback;
    Ctrl-C gives status 130. Scripts end with ``raise SystemExit(run_script(main))``. ``main``
    returning an int returns it.
    """
    from talentsim.experiments import SweepError

    try:
        result = main()
    except (KeyboardInterrupt, SystemError) as exc:  # (SystemError: see interrupt_behind)
        return _stopped(exc)
    except (ValueError, OSError, SweepError) as exc:
        sys.stderr.write(f"error: {_why(exc) or type(exc).__name__}\n")
        return EXIT_USAGE
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _add_set_option(parser, help_text: str) -> None:
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help_text
    )


def _load_with_overrides(file: str, assignments: list[str]):
    """The scenario in ``file`` with the ``--set KEY=VALUE`` assignments applied."""
    from talentsim.scenario import load_scenario

    scenario = load_scenario(file)
    overrides: dict[str, object] = {}
    for item in assignments:
        key, value = _parse_or_fail(item)
        _refuse_twice(overrides, key, value, "--set")
        overrides[key] = value
    if not overrides:
        return scenario
    return scenario.with_overrides(overrides, source=f"{file} with --set", lenient=False)


def _refuse_twice(overrides: dict[str, object], key: str, value: object, option: str) -> None:
    """Two values for one key: an error, not the last one silently winning."""
    from talentsim.scenario import ScenarioError

    if key in overrides and overrides[key] != value:
        raise ScenarioError(
            f"{option}: {key} is given twice ({overrides[key]!r} and {value!r}); give it once"
        )


def positive_integer(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse prints the message)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


SEEDS_HINT = (
    "one seed per run; for replicates over seeds use --seeds N with "
    "'talentsim compare' or 'talentsim targets', or a sweep"
)


def one_seed(text: str | None) -> int | None:
    """The value of a ``--seed`` option as an integer, or a clear error (a list gets a hint).

    Raises:
        ScenarioError: for anything but one non-negative integer.
    """
    from talentsim.scenario import ScenarioError

    if text is None:
        return None
    try:
        seed = int(text)
    except ValueError:
        listed = any(mark in text for mark in ", ;")
        hint = f" ({SEEDS_HINT})" if listed else ""
        raise ScenarioError(f"--seed: expected one integer seed, got {text!r}{hint}") from None
    if seed < 0:
        raise ScenarioError(f"--seed: expected a non-negative integer, got {seed}")
    return seed


def _add_max_runs_option(parser) -> None:
    parser.add_argument(
        "--max-runs",
        type=positive_integer,
        default=None,
        metavar="N",
        help="a sweep of more runs is an error (default 1,000,000)",
    )


def _build_parser():
    import argparse
    import textwrap

    from talentsim.glossary import GLOSSARY

    # (the words only: their definitions, ~100 lines, pushed the commands off the screen)
    words = textwrap.fill(", ".join(GLOSSARY), width=78)
    parser = argparse.ArgumentParser(
        prog="talentsim",
        description="Agent-based simulation of talent markets.",
        epilog="The tables' words, defined by 'talentsim glossary' (and docs/glossary.md):\n"
        + words,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--import",
        dest="modules",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a Python module (on the path or in the current folder) before the "
        "command, e.g. one that registers utility terms of your own; its workers import it "
        "too (repeatable; the only code the command line runs besides talentsim's)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "glossary",
        help="what each word of the tables means (quits, exits, attrition, ...)",
        description="Print the definition of every term of the events table, the time series "
        "and the summary, and how their counts relate.",
    )

    run = sub.add_parser("run", help="run a scenario file and write its results")
    run.add_argument("file", help="scenario TOML file")
    run.add_argument("--seed", default=None, help="seed, an integer (default: fresh, recorded)")
    run.add_argument("--steps", type=int, default=None, help="number of steps (default: duration)")
    run.add_argument(
        "--out", default=None, help="results folder (default: results/<scenario name>)"
    )
    _add_set_option(
        run,
        "override a scenario value by dotted path, e.g. labs.MSL.pay_level=3.0 "
        "(values are read as TOML; repeatable)",
    )
    run.add_argument(
        "--force", action="store_true", help="replace an earlier run's results in --out"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or table")
    run.add_argument(
        "--report",
        action="store_true",
        help="also write an HTML report with figures to OUT/report (see 'talentsim report')",
    )

    compare = sub.add_parser(
        "compare",
        help="paired what-if runs: a scenario and variants on the same seeds",
        description="Run a scenario and its variants on the same seeds (common random "
        "numbers) and print each variant's effect on headline metrics with confidence "
        "intervals. Example: talentsim compare scenarios/msl_exodus.toml "
        "--variant 'no_reorgs:events=[]' --variant 'no_reorgs:mechanisms.random_reorganisations"
        "=false' --variant 'double_pay:labs.MSL.pay_level=5.0' --seeds 20",
    )
    compare.add_argument("file", help="scenario TOML file (the baseline)")
    compare.add_argument(
        "--variant",
        dest="variants",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE",
        help="a variant's override (values read as TOML); repeat a NAME to give it several",
    )
    compare.add_argument("--seeds", type=int, default=20, help="replicates per variant (20)")
    compare.add_argument(
        "--root-seed", type=int, default=0, help="root of the spawned replicate seeds (0)"
    )
    compare.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        default=None,
        metavar="KEY",
        help="summary metric to report, e.g. attrition.MSL (repeatable; default: headline "
        "metrics per lab)",
    )
    _add_set_option(compare, "override a value of the baseline (and so of every variant)")
    compare.add_argument(
        "--out", default=None, help="results folder (default: results/<scenario>-compare)"
    )
    compare.add_argument(
        "--force", action="store_true", help="replace an earlier comparison in --out"
    )
    compare.add_argument("--quiet", action="store_true", help="no progress bar or table")

    sweep = sub.add_parser(
        "sweep",
        help="run a parameter sweep with replicates into a resumable store",
        description="Run the sweep declared in FILE (a sweep file, or a scenario file with a "
        "[sweep] table; see docs/sweeps.md) on all local cores, or on a Dask cluster. "
        "Ctrl-C or SIGTERM (timeout, SLURM) stores the runs finished so far, stops the "
        "workers and exits with status 130 or 143: rerun with --resume to finish.",
    )
    sweep.add_argument("file", help="sweep TOML file")
    sweep.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local processes (default: all cores); with --dask, the most of the cluster's "
        "threads counted when sizing the runs sent to it at once (default: all of them)",
    )
    sweep.add_argument("--dask", default=None, metavar="ADDRESS", help="Dask scheduler address")
    sweep.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only shard I of N, counted from 0 (0/4, 1/4, 2/4, 3/4): every N-th run from "
        "the I-th, into a store of its own (merge them with 'talentsim store merge')",
    )
    _add_max_runs_option(sweep)
    sweep.add_argument("--store", default=None, help="store folder (overrides sweep.store)")
    sweep.add_argument("--resume", action="store_true", help="finish a sweep in its store")
    sweep.add_argument(
        "--retry-failed", action="store_true", help="with --resume, also redo failed runs"
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    report = sub.add_parser(
        "report",
        help="write an HTML report (figures, tables, scenario, seeds) of a results folder",
        description="Write a self-contained HTML report of RESULTS_DIR, the output folder of "
        "'talentsim run', 'talentsim compare' or 'talentsim calibrate', or a sweep store: "
        "figures (also saved as PNG), "
        "summary tables, the resolved scenario (scenario.toml) and the seeds.",
    )
    report.add_argument("folder", metavar="RESULTS_DIR", help="results folder to report on")
    report.add_argument("--out", default=None, help="report folder (default: RESULTS_DIR/report)")
    report.add_argument(
        "--force",
        action="store_true",
        help="replace a folder holding an earlier report (report.html) and other files",
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar or message")

    mean_field = sub.add_parser(
        "meanfield",
        help="solve a scenario's mean-field equations (expected headcounts, no sampling)",
        description="Expected headcount and flows per lab and step from the mean-field "
        "equations (see docs/validation.md). Works on any scenario: mechanisms it cannot "
        "treat exactly (colleague ties, fairness, reputation, counter-offers, attachment, "
        "random reorganisations, raids, binding capacity, former staff paid or courted apart "
        "from newcomers) are left out, each named with the "
        "reason before the table, so the numbers are those of the scenario without them. "
        "--strict refuses such a scenario instead.",
    )
    mean_field.add_argument("file", help="scenario TOML file")
    mean_field.add_argument(
        "--method",
        choices=("ode", "steps"),
        default="ode",
        help="ode: continuous time (default); steps: the simulation's own discrete steps",
    )
    mean_field.add_argument(
        "--strict",
        action="store_true",
        help="refuse a scenario with mechanisms the mean field cannot treat exactly",
    )
    mean_field.add_argument(  # (the default since the mean field works on every scenario)
        "--lenient", action="store_true", help=argparse.SUPPRESS
    )
    mean_field.add_argument(
        "--out", default=None, help="write the time series here (CSV; Parquet for a .parquet name)"
    )
    mean_field.add_argument("--force", action="store_true", help="replace an existing --out file")
    _add_set_option(mean_field, "override a scenario value by dotted path (repeatable)")

    viz = sub.add_parser(
        "viz",
        help="explore a scenario live in the browser (a Mesa SolaraViz dashboard)",
        description="Serve the interactive dashboard for FILE (sliders, play/step, live "
        "headcount and flows, an events feed) until Ctrl-C; see docs/dashboard.md. Needs the "
        "viz extra: pip install 'talentsim[viz]'.",
    )
    viz.add_argument("file", help="scenario TOML file")
    viz.add_argument("--host", default="127.0.0.1", help="interface (default: this machine)")
    viz.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    viz.add_argument("--open", action="store_true", help="open the page in the default browser")
    viz.add_argument("--seed", default="42", help="seed of the first run (default 42)")
    viz.add_argument(
        "--slider",
        action="append",
        default=None,
        metavar="PATH",
        help="dotted path of a value to put on a slider, e.g. labs.MSL.pay_level (repeat for "
        "more; default: each lab's pay level, mission clarity and reorganisation rate, and "
        "each cohort's weights on pay, mission and stability)",
    )

    store = sub.add_parser(
        "store",
        help="work with sweep stores (merge the stores of shards, export a tidy table)",
        description="Work with sweep stores.",
    )
    store_sub = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    merge = store_sub.add_parser(
        "merge",
        help="combine the stores of one sweep's shards into one store",
        description="Combine the stores of one sweep (the shards of an array job, "
        "'talentsim sweep FILE --shard i/N') into the store OUT: every run once, done if any "
        "shard did it. OUT is then a store like any other (read it, report on it, or finish "
        "missing runs with 'talentsim sweep FILE --store OUT --resume'). Stores of different "
        "sweeps are refused.",
    )
    merge.add_argument("out", metavar="OUT", help="the merged store (a new folder)")
    merge.add_argument("stores", metavar="STORE", nargs="+", help="stores to merge")
    export = store_sub.add_parser(
        "export",
        help="write a store's runs as one tidy table (Parquet or CSV)",
        description="Write one tidy table of a store: 'summaries' (one row per run: run id, "
        "point, replicate, seed, status, the parameters and the metrics) or 'timeseries' (one "
        "row per run, step and place, with the run's columns and parameters). The format "
        "follows OUT's suffix (.parquet or .csv). Only runs the manifest marks done carry "
        "metrics; failed and pending runs are listed in summaries with their status.",
    )
    export.add_argument("store", metavar="STORE", help="the sweep store (folder)")
    export.add_argument("out", metavar="OUT", help="the table to write (.parquet or .csv)")
    export.add_argument(
        "--table",
        choices=("summaries", "timeseries"),
        default="summaries",
        help="which table (summaries)",
    )
    export.add_argument("--force", action="store_true", help="overwrite OUT if it exists")

    validate = sub.add_parser(
        "validate",
        help="check a scenario, sweep, targets or calibration file and report problems",
        description="Check a scenario file; a sweep file with every check 'talentsim "
        "sweep' makes before it starts (design, sizes, each point in the scenario, metrics, "
        "and the store it would use: sweep.store, or the default results/SCENARIO-sweep, "
        "relative to where the command runs); a targets file; or a calibration file (its "
        "scenario, targets and parameters).",
    )
    validate.add_argument("file", help="scenario, sweep, targets or calibration TOML file")
    _add_max_runs_option(validate)

    targets = sub.add_parser(
        "targets",
        help="evaluate a scenario against a targets file (observed vs simulated)",
        description="Run a scenario over replicate seeds and print, per target of a targets "
        "file, the observed value, band or bound beside the simulated mean with its 95% "
        "interval. Example: talentsim targets scenarios/msl_exodus.toml targets/msl.toml",
    )
    targets.add_argument("file", help="scenario TOML file")
    targets.add_argument("targets", help="targets TOML file")
    targets.add_argument("--seeds", type=int, default=20, help="replicates (20)")
    targets.add_argument(
        "--root-seed", type=int, default=0, help="root of the spawned replicate seeds (0)"
    )
    _add_set_option(targets, "override a value of the scenario")
    targets.add_argument(
        "--csv",
        default=None,
        metavar="PATH",
        help="also write the table here (CSV; Parquet for a .parquet name)",
    )
    targets.add_argument("--force", action="store_true", help="replace an existing --csv file")

    calibrate = sub.add_parser(
        "calibrate",
        help="fit a scenario to targets (simulated moments or ABC-SMC) as FILE says",
        description="Fit the parameters a calibration file names to its targets file, print "
        "the estimates, the fit per target and the diagnostics, and write them with the fitted "
        "scenario (its comments record where every fitted number comes from) to OUT. See "
        "docs/calibration.md. Example: talentsim calibrate "
        "examples/calibrate_flagship/flagship.toml --report",
    )
    calibrate.add_argument("file", help="calibration TOML file")
    calibrate.add_argument(
        "--method", choices=["smm", "abc"], default=None, help="override the file's method"
    )
    calibrate.add_argument(
        "--out", default=None, help="results folder (default: results/<file name>)"
    )
    calibrate.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted fit from OUT (SMM: its checkpoint of simulated "
        "candidates; ABC: its database). Ctrl-C or SIGTERM (timeout, SLURM) stops a fit with "
        "them whole (exit status 130 or 143)",
    )
    calibrate.add_argument(
        "--force", action="store_true", help="replace an earlier calibration in OUT"
    )
    calibrate.add_argument("--dask", default=None, metavar="ADDRESS", help="Dask scheduler (ABC)")
    calibrate.add_argument("--workers", type=int, default=None, help="local processes (ABC)")
    calibrate.add_argument(
        "--report", action="store_true", help="also write an HTML report to OUT/report"
    )
    calibrate.add_argument("--quiet", action="store_true", help="no progress bar or tables")
    return parser


@contextlib.contextmanager
def _warnings_as_lines(*categories: type[Warning]) -> Iterator[None]:
    """Show warnings of ``categories`` as ``warning: MESSAGE`` lines on stderr, as they happen.

    Their messages name the key path and the remedy, so the place in talentsim's code that
    Python's default format adds says nothing to a user. Other warnings show as before.
    """
    import warnings

    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show_warning(message, category, *rest, **keywords):
            if issubclass(category, categories):
                sys.stderr.write(f"warning: {message}\n")
            else:
                shown(message, category, *rest, **keywords)

        warnings.showwarning = show_warning
        yield


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``talentsim`` console script; returns the exit status."""
    _check_python()
    parser = _build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    for at, word in enumerate(words[:-2]):  # `--set KEY VALUE`: argparse's message names
        key, value = words[at + 1], words[at + 2]  # only an "unrecognized argument"
        if word == "--set" and "=" not in key and not value.startswith("-"):
            sys.stderr.write(
                f"error: --set takes one KEY=VALUE, got {key!r} then {value!r}: write "
                f"--set {key}={value}\n"
            )
            return 2
        if word == "--seed" and key.isdigit() and value.isdigit():  # `--seed 1 2 3`
            sys.stderr.write(
                f"error: --seed takes one seed, got {key} then {value}: {SEEDS_HINT}\n"
            )
            return 2
    args = parser.parse_args(words)
    from talentsim.scenario import ScenarioWarning
    from talentsim.store import StoreWarning

    with _warnings_as_lines(ScenarioWarning, StoreWarning):
        return _dispatch(args)


def _dispatch(args) -> int:
    """Run the command ``args`` names; its exit status (user errors as ``error:`` lines)."""
    from talentsim.scenario import ScenarioError

    try:
        if args.modules:
            from talentsim import terms

            try:
                terms.import_modules(args.modules)
            except ImportError as exc:
                raise ScenarioError(f"--import: {exc}") from None
        for option in ("out", "csv", "store", "dask"):  # ("" would silently mean "not given")
            if getattr(args, option, None) == "":
                what = "an address" if option == "dask" else "a path"
                raise ScenarioError(f"--{option}: expected {what}, got an empty string")
        if args.command == "validate":
            return _validate(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "report":
            return _report(args)
        if args.command == "meanfield":
            return _meanfield(args)
        if args.command == "viz":
            return _viz(args)
        if args.command == "store":
            if args.store_command == "export":
                return _store_export(args)
            return _store_merge(args)
        if args.command == "targets":
            return _targets(args)
        if args.command == "glossary":
            from talentsim.glossary import format_glossary

            print(format_glossary())
            return 0
        if args.command == "calibrate":
            return _calibrate(args)
        return _run(args)
    except ScenarioError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except (KeyboardInterrupt, SystemError) as exc:  # (SystemError: see interrupt_behind)
        return _stopped(exc, "nothing was written")
    except BrokenPipeError:  # (the reader went away: `talentsim meanfield FILE | head`)
        _silence_stdout()
        return 128 + 13  # as a process killed by SIGPIPE
    except OSError as exc:
        import errno

        # printing failed (`> file` on a full disk); a file's error names the file
        if exc.filename is not None or exc.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
            raise
        _silence_stdout()
        sys.stderr.write(f"error: cannot write to standard output ({exc.strerror})\n")
        return 1


def _silence_stdout() -> None:
    """Point standard output at the null device, so that Python's flush at exit is quiet."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _validate(args) -> int:
    from talentsim.scenario import ScenarioError, file_kind, load_scenario, read_toml
    from talentsim.sweepfile import load_sweep_file

    try:
        data = read_toml(Path(args.file))
    except ScenarioError:
        data = {}  # load_scenario says what is wrong with the file
    kind = file_kind(data)
    if kind == "targets":
        return _validate_targets(args.file)
    if kind == "calibration":
        return _validate_calibration(args.file)
    spec = None
    if kind == "sweep":
        scenario, spec = load_sweep_file(args.file)
    else:
        scenario = load_scenario(args.file)
    design = None
    if spec is not None:
        from talentsim.designs import DesignError
        from talentsim.experiments import MAX_RUNS, check_sweep

        limit = MAX_RUNS if args.max_runs is None else args.max_runs
        try:  # every check `talentsim sweep` makes before it starts
            design = check_sweep(
                scenario, spec.parameter_specs(), max_runs=limit, **spec.design_options()
            )
        except (DesignError, ScenarioError) as exc:
            raise ScenarioError(_in_sweep_file(args.file, exc)) from None
        from talentsim.store import store_folder_problem

        # (the store `talentsim sweep FILE` uses: sweep.store, or the default one)
        problem = store_folder_problem(spec.store_folder(scenario))
        if problem:
            raise ScenarioError(f"{_sweep_store_key(args.file, spec)}: {problem}")
    n_researchers = sum(c.size for c in scenario.cohorts.values())
    print(
        f"{args.file}: ok — scenario {scenario.name!r}, {len(scenario.labs)} labs, "
        f"{len(scenario.cohorts)} cohorts ({n_researchers} researchers), "
        f"{len(scenario.events)} scheduled events, {scenario.time.n_steps} steps"
    )
    if spec is not None and design is not None:
        points = len(design.points)
        print(
            f"  and a sweep: {spec.design} design of {', '.join(spec.parameters)}: {points} "
            f"points × {spec.replicates} replicates = {points * spec.replicates} runs"
        )
    return 0


def _sweep_store_key(file: str, spec: Any) -> str:
    """Where a sweep file's store comes from, for a message: its key, or the default."""
    return f"{file}: sweep.store" if spec.store else f"{file}: sweep.store (not given: the default)"


def _check_kinds(**files: tuple[str, str]) -> None:
    """Refuse a file of another kind where one is expected (two files given swapped, say).

    ``files`` maps the argument's name to (its path, the kind expected there). A file that
    cannot be read is left to the loader, which says why.
    """
    from talentsim.scenario import ScenarioError, file_kind, read_toml

    found = {}
    for name, (path, _) in files.items():
        try:
            found[name] = file_kind(read_toml(Path(path)))
        except ScenarioError:
            continue
    expected = {name: kind for name, (_, kind) in files.items()}
    wrong = [name for name in found if found[name] != expected[name]]
    if not wrong:
        return
    swapped = sorted(found.values()) == sorted(expected.values()) and len(wrong) > 1
    name = wrong[0]
    raise ScenarioError(
        f"{files[name][0]}: a {found[name]} file where {name} should be a {expected[name]} file"
        + (" (the two files given the other way round?)" if swapped else "")
    )


def _validate_targets(file: str) -> int:
    """``talentsim validate`` of a targets file (an array of ``[[targets]]``)."""
    from talentsim.targets import load_targets

    targets = load_targets(file)
    print(
        f"{file}: ok — targets file {targets.name!r}: {len(targets.targets)} targets"
        + (f" for scenario {targets.scenario!r}" if targets.scenario else "")
        + "; the labs and cohorts it names are checked against a scenario when it is "
        "evaluated (talentsim targets SCENARIO FILE)"
    )
    return 0


def _validate_calibration(file: str) -> int:
    """``talentsim validate`` of a calibration file (scenario, targets and parameters)."""
    from talentsim.calibration import budget_problem, read_calibration
    from talentsim.scenario import ScenarioError

    spec, _, _, scenario, targets, parameters = read_calibration(file)
    problem = budget_problem(spec.method, spec.budget)
    if problem:  # (what talentsim calibrate FILE would refuse)
        raise ScenarioError(f"{file}: {problem}")
    if spec.method == "smm":  # (a one-sided bound, which is not a moment: refused by name)
        from talentsim.smm import moment_targets

        moment_targets(targets)
    print(
        f"{file}: ok — calibration ({spec.method}) of scenario {scenario.name!r} to "
        f"{len(targets.targets)} targets of {targets.name!r}: {len(parameters)} parameter"
        f"{'s' if len(parameters) != 1 else ''} "
        "(run with: talentsim calibrate FILE)"
    )
    return 0


def _in_sweep_file(file: str, exc: Exception) -> str:
    """A sweep error's message, naming the file and the key under ``sweep``."""
    text = str(exc)
    if text.startswith(str(file)):
        return text
    key = text.split(":", 1)[0]
    if key.replace(".", "").replace("_", "").isalnum() and not key.startswith("sweep"):
        text = f"sweep.{text}"  # ("samples: ..." → "sweep.samples: ...")
    return f"{file}: {text}"


def _run(args) -> int:
    from pathlib import Path

    from talentsim.scenario import ScenarioError

    scenario = _load_with_overrides(args.file, args.overrides)
    seed = one_seed(args.seed)
    if args.steps is not None and args.steps < 1:
        raise ScenarioError(f"--steps: expected a positive integer, got {args.steps}")
    from talentsim.results import RUN_MARKERS

    out = Path(args.out) if args.out else Path("results") / scenario.name
    _check_output_folder(out, force=args.force, markers=RUN_MARKERS, what="run", reads=(args.file,))

    from tqdm import tqdm

    from talentsim.results import run

    _compile_first(scenario, quiet=args.quiet)
    total = args.steps if args.steps is not None else scenario.time.n_steps
    show = not args.quiet and sys.stderr.isatty()
    with tqdm(total=total, disable=not show, unit="step", desc=scenario.name) as bar:
        result = run(scenario, seed=seed, steps=args.steps, progress=bar.update)
    try:
        result.save(out, overwrite=args.force)
    except OSError as exc:
        raise ScenarioError(f"{out}: cannot write results ({exc.strerror or exc})") from None
    if not args.quiet:
        _print_table(result, out)
    if args.report:
        _report_beside(out, quiet=args.quiet, progress=show)
    return 0


def _report_beside(out: Path, *, quiet: bool, progress: bool) -> None:
    """Write the HTML report of the results just saved in ``out`` (``--report``)."""
    from talentsim.report import ReportError, write_report
    from talentsim.scenario import ScenarioError

    try:
        path = write_report(out, overwrite=True, progress=progress)
    except ReportError as exc:
        raise ScenarioError(f"results written to {out}/, but not the report: {exc}") from None
    if not quiet:
        print(f"report written to {path}")


def _viz(args) -> int:
    from talentsim.scenario import ScenarioError

    try:
        from talentsim.viz import launch
    except ImportError as exc:
        raise ScenarioError(
            f"the dashboard needs the viz extra ({exc.name or exc} is missing): "
            "pip install 'talentsim[viz]'"
        ) from None
    return launch(
        args.file, args.host, args.port, args.open, seed=one_seed(args.seed), parameters=args.slider
    )


def _meanfield(args) -> int:
    import warnings

    from talentsim.mean_field import MeanFieldError, MeanFieldWarning, meanfield
    from talentsim.scenario import ScenarioError

    scenario = _load_with_overrides(args.file, args.overrides)
    if args.out:
        _check_output_file(
            Path(args.out), force=args.force, option="--out", inputs={"scenario": args.file}
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MeanFieldWarning)  # listed as caveats below
            result = meanfield(scenario, method=args.method, strict=args.strict)
    except MeanFieldError as exc:
        raise ScenarioError(f"{args.file}: {exc}") from None
    ignored = [c for c in result.caveats if c.startswith("ignored: ")]
    if ignored:
        print(
            f"mean field of {scenario.name!r}: {len(ignored)} mechanism(s) left out, as it "
            "cannot treat them exactly (each below, with why and the key that switches it "
            "off); the numbers are those of the scenario without them (--strict: refuse)"
        )
    for caveat in result.caveats:
        print(f"caveat: {caveat}")
    wide = result.headcounts()
    steps = wide.index.shape[0]
    shown = wide.iloc[sorted({0, steps // 4, steps // 2, 3 * steps // 4, steps - 1})]
    print(f"expected headcount ({args.method}; time in years):")
    table = shown.round(1).astype(str)
    over = []  # expected headcounts above a lab's capacity, which the mean field cannot hold
    for lab, spec in scenario.labs.items():
        if spec.capacity is not None and lab in shown and (shown[lab] > spec.capacity).any():
            table[lab] = [f"{v:.1f}*" if v > spec.capacity else f"{v:.1f}" for v in shown[lab]]
            over.append(f"{lab} {spec.capacity}")
    print(table.to_string())
    if over:
        print(
            f"* above the lab's capacity ({', '.join(over)}): the mean field does not hold a "
            "binding capacity, so a starred number is what the lab would reach without its "
            "cap; the simulation keeps the lab at its capacity"
        )
    if args.out:
        out = Path(args.out)
        _write_table(result.timeseries, out, option="--out")
        print(f"time series written to {out}")
    return 0


def _check_output_file(
    path: Path, *, force: bool, option: str, inputs: dict[str, str] | None = None
) -> None:
    """Fail before any work if ``path`` (a file to write) could not be written or exists.

    One of the command's ``inputs`` (what it is → its path) is refused even with ``--force``:
    replacing it would overwrite the scenario (or targets) file with the table.
    """
    from talentsim.scenario import ScenarioError

    for what, given in (inputs or {}).items():
        with contextlib.suppress(OSError):
            if path.exists() and path.samefile(given):
                raise ScenarioError(
                    f"{option} {path}: is the {what} file the command reads (the table would "
                    "replace it); name another file"
                )
    if path.is_dir():
        raise ScenarioError(f"{option} {path}: is a folder; expected a file name")
    if path.exists() and not force:
        raise ScenarioError(
            f"{option} {path}: exists; choose another name or pass --force to replace it"
        )
    _check_writable(path, f"{option} {path}")


def _check_writable(path: Path, label: str) -> None:
    """Fail if ``path`` could not be created (:func:`talentsim.paths.creation_problem`)."""
    from talentsim.paths import creation_problem
    from talentsim.scenario import ScenarioError

    problem = creation_problem(path)
    if problem is not None:
        raise ScenarioError(f"{label}: cannot write it ({problem})")


def _write_table(table, path: Path, *, option: str) -> None:
    """Write ``table`` to ``path`` whole: Parquet for a ``.parquet`` name, CSV otherwise.

    It is written under a temporary name, then renamed, so no half-written table is left.
    """
    from talentsim.scenario import ScenarioError

    temporary = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".parquet":
            table.to_parquet(temporary, index=False)
        else:
            table.to_csv(temporary, index=False)
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ScenarioError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None


def _report(args) -> int:
    from talentsim.report import ReportError, write_report
    from talentsim.scenario import ScenarioError

    show = not args.quiet and sys.stderr.isatty()
    try:
        path = write_report(args.folder, args.out, overwrite=args.force, progress=show)
    except ReportError as exc:
        raise ScenarioError(str(exc)) from None
    if not args.quiet:
        print(f"report written to {path} (figures as PNG beside it)")
    return 0


def _parse_variants(items: list[str]) -> dict[str, dict[str, object]]:
    from talentsim.scenario import ScenarioError

    variants: dict[str, dict[str, object]] = {}
    for item in items:
        name, sep, assignment = item.partition(":")
        name = name.strip()
        if not sep or not name or "=" in name:
            raise ScenarioError(
                f"--variant {item!r}: expected NAME:KEY=VALUE, e.g. double_pay:labs.MSL.pay_level=5"
            )
        key, value = _parse_or_fail(assignment, f"--variant {name}")
        _refuse_twice(variants.setdefault(name, {}), key, value, f"--variant {name}")
        variants[name][key] = value
    if not variants:
        raise ScenarioError("compare: give at least one --variant NAME:KEY=VALUE")
    return variants


def _compare(args) -> int:
    import warnings
    from pathlib import Path

    from talentsim.compare import CapacityWarning, compare
    from talentsim.scenario import ScenarioError

    scenario = _load_with_overrides(args.file, args.overrides)
    variants = _parse_variants(args.variants)
    for name, overrides in variants.items():  # a bad variant names the file it varies
        try:
            scenario.with_overrides(overrides)
        except ScenarioError as exc:
            raise ScenarioError(f"{args.file}: --variant {name}: {exc}") from None
    _check_replicates(args)
    from talentsim.compare import COMPARISON_MARKERS

    out = Path(args.out) if args.out else Path("results") / f"{scenario.name}-compare"
    _check_output_folder(
        out, force=args.force, markers=COMPARISON_MARKERS, what="comparison", reads=(args.file,)
    )
    _compile_first(scenario, quiet=args.quiet)
    show = not args.quiet and sys.stderr.isatty()
    try:
        with warnings.catch_warnings():  # printed with the effects, as warning: lines
            warnings.simplefilter("ignore", CapacityWarning)
            comparison = compare(
                scenario,
                variants,
                seeds=args.seeds,
                metrics=args.metrics,
                root_seed=args.root_seed,
                progress=show,
            )
    except ScenarioError:
        raise
    except ValueError as exc:
        text = str(exc)
        raise ScenarioError(text if text.startswith("compare") else f"compare: {text}") from None
    try:
        comparison.save(out, overwrite=args.force)
    except OSError as exc:
        raise ScenarioError(f"{out}: cannot write results ({exc.strerror or exc})") from None
    if not args.quiet:
        _print_effects(comparison, args.metrics, out)
    else:
        for message in comparison.capacity_warnings():
            sys.stderr.write(f"warning: {message}\n")
    return 0


def _check_replicates(args) -> None:
    """``--seeds`` (at least 2) and ``--root-seed`` (non-negative), or a clear error."""
    from talentsim.scenario import ScenarioError

    if args.seeds < 2:
        raise ScenarioError(f"--seeds: expected at least 2 replicates, got {args.seeds}")
    if args.root_seed < 0:
        raise ScenarioError(f"--root-seed: expected a non-negative integer, got {args.root_seed}")


def _targets(args) -> int:
    from talentsim.scenario import ScenarioError
    from talentsim.targets import evaluate_targets, format_fit_table, load_targets

    _check_kinds(FILE=(args.file, "scenario"), TARGETS=(args.targets, "targets"))
    scenario = _load_with_overrides(args.file, args.overrides)
    targets = load_targets(args.targets)
    if targets.run_duration is not None and any(
        _parse_or_fail(item)[0] == "time.duration" for item in args.overrides
    ):
        raise ScenarioError(
            f"--set time.duration: {args.targets} sets the run's length (run_duration), as its "
            "statistics' windows need; leave --set time.duration out"
        )
    _check_replicates(args)
    if args.csv:
        _check_output_file(
            Path(args.csv),
            force=args.force,
            option="--csv",
            inputs={"scenario": args.file, "targets": args.targets},
        )
    _compile_first(scenario, quiet=False)
    table = evaluate_targets(scenario, targets, seeds=args.seeds, root_seed=args.root_seed)
    if args.csv:
        _write_table(table, Path(args.csv), option="--csv")
    print(f"{args.targets} ({targets.name}) on scenario {scenario.name}, {args.seeds} seeds\n")
    print(format_fit_table(table, targets))
    return 0


def _why(exc: BaseException) -> str:
    """An error as one line: ``FILE: reason`` for an OSError that names its file."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def _calibrate(args) -> int:
    from talentsim.calibration import read_calibration
    from talentsim.scenario import ScenarioError

    if args.resume and args.force:  # (which one wins would be a guess)
        raise ScenarioError(
            "--resume and --force: --resume goes on with the fit in --out, --force starts "
            "again and replaces it; give one of them"
        )
    # (every check of the file, its scenario, targets and parameters, before the compile)
    inputs = read_calibration(args.file)
    method = args.method or inputs.spec.method
    out = Path(args.out) if args.out else Path("results") / Path(args.file).stem
    from talentsim.calibration import CALIBRATION_MARKERS, check_output_folder

    resuming = args.resume and out.is_dir()
    # (resuming writes the fit's files into the folder: an earlier fit's folder only, as
    # --force replaces)
    _check_output_folder(
        out,
        force=args.force or resuming,
        markers=CALIBRATION_MARKERS,
        what="calibration",
        option=None if resuming else "--force",
        reads=(args.file, inputs.scenario_path, inputs.targets_path),
    )
    if resuming:
        try:  # (before the fit, not after it)
            check_output_folder(out)
        except OSError as exc:
            raise ScenarioError(f"--out {out}: cannot write the results ({_why(exc)})") from None
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers: expected a positive integer, got {args.workers}")
    options: dict[str, object] = {}
    if args.workers is not None:
        options["workers"] = args.workers
    if args.dask:
        options["dask"] = args.dask
    if options and method == "smm":
        raise ScenarioError(
            f"--{next(iter(options))}: the SMM estimator runs its candidates in this process "
            "(parallel candidates are not supported yet); use --method abc, or leave it out"
        )
    _compile_first(inputs.scenario, quiet=args.quiet)
    if args.force and out.is_dir() and not args.resume:
        import shutil

        shutil.rmtree(out)
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"--out {out}: cannot create ({exc.strerror or exc})") from None
    show = not args.quiet and sys.stderr.isatty()
    try:
        return _calibrate_into(out, args, inputs, method, options, show)
    except BaseException:
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # (a refused fit leaves no empty folder behind)
        raise


def _calibrate_into(out: Path, args, inputs: Any, method: Any, options: dict, show: bool) -> int:
    """The fit of ``_calibrate`` into the folder ``out``, made for it; its exit status."""
    from talentsim.calibration import CalibrationError, CalibrationWarning, calibrate_file
    from talentsim.experiments import SweepError
    from talentsim.scenario import ScenarioError

    try:
        with _warnings_as_lines(CalibrationWarning), _sigterm_as_interrupt():
            result = calibrate_file(
                args.file,
                method=method,
                out=out,
                resume=args.resume,
                progress=show,
                inputs=inputs,
                **options,
            )
    except (KeyboardInterrupt, SystemError) as exc:  # (Ctrl-C, or SIGTERM: checkpoint kept)
        return _stopped(
            exc, f"what was simulated is kept in {out}/; rerun with --resume to continue"
        )
    except SweepError as exc:  # (ABC: a worker died; its database is kept)
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except FileNotFoundError as exc:  # (ABC: --resume with no database to resume)
        raise ScenarioError(f"--resume: {exc}; leave out --resume to start a new fit") from None
    except FileExistsError as exc:
        raise ScenarioError(f"--out {out}: {exc}") from None
    try:
        result.save(out)
    except (OSError, CalibrationError) as exc:
        raise ScenarioError(f"--out {out}: cannot write the results ({_why(exc)})") from None
    if not args.quiet:
        print(result.format())
        print(
            f"results written to {out}/ (estimates.csv, fit.csv, identification.csv, "
            "trace.csv, calibration.json; the fitted scenario with its provenance in "
            "scenario.toml)"
        )
    if args.report:
        _report_beside(out, quiet=args.quiet, progress=show)
    return 0


EXIT_TERMINATED = 143
"""The exit status of a sweep or calibration stopped by SIGTERM (128 + SIGTERM).

A sweep's finished runs are stored; a calibration's checkpoint (SMM) or database (ABC) is kept.
"""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, SLURM's ``scancel`` or time limit, ``kill``) during a sweep or fit.

    A KeyboardInterrupt, so that it takes Ctrl-C's way out: the finished runs are stored (a
    sweep), the pool is stopped and the command says how to resume.
    """


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM (:class:`Terminated`) that ``exc`` is, or that caused it; or None.

    Python runs a signal handler between bytecodes, so an interrupt can be raised inside a
    callback from compiled code, e.g. numba's loading of a compiled function, which then
    reports it as a ``SystemError`` whose cause is the interrupt: it is still an interrupt,
    to be ended as one (the finished work kept, the way to resume said), not a traceback.
    """
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        if isinstance(found, KeyboardInterrupt):
            return found
        seen.add(id(found))
        found = found.__cause__ or found.__context__
    return None


def _stopped(exc: BaseException, kept: str | None = None) -> int:
    """The end of a command stopped by Ctrl-C or SIGTERM: ``exc``, or what caused it.

    The shared pools' workers are stopped (their runs in progress are lost either way, and
    not waited for); a line on standard error says how the command stopped and, after a
    colon, ``kept`` (what is kept, how to go on); returns the exit status, 130 after Ctrl-C
    and 143 after SIGTERM. An ``exc`` with no interrupt behind it is raised again.
    """
    interrupt = interrupt_behind(exc)
    if interrupt is None:
        raise exc
    experiments = sys.modules.get("talentsim.experiments")
    if experiments is not None:  # (never imported: no shared pool, and no import to wait for)
        experiments.terminate_pools()
    terminated = isinstance(interrupt, Terminated)
    what = "terminated (SIGTERM)" if terminated else "interrupted"
    sys.stderr.write(what + ("" if kept is None else f": {kept}") + "\n")
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Meanwhile, SIGTERM raises :class:`Terminated` in the main thread.

    Once: a second SIGTERM ends the process at once, as SIGTERM does. Called elsewhere than
    in the main thread (where Python runs signal handlers), it does nothing.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _sweep(args) -> int:
    from pathlib import Path

    from talentsim.designs import DesignError
    from talentsim.experiments import MAX_RUNS, SweepError, parse_shard, sweep
    from talentsim.scenario import ScenarioError
    from talentsim.store import StoreError, store_folder_problem
    from talentsim.sweepfile import load_sweep_file

    scenario, spec = load_sweep_file(args.file)
    if args.retry_failed and not args.resume:
        raise ScenarioError(
            "--retry-failed goes with --resume (it reruns a stored sweep's failures)"
        )
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers: expected a positive integer, got {args.workers}")
    try:
        shard = parse_shard(args.shard)
    except ValueError as exc:
        raise ScenarioError(f"--{exc}") from None
    store = Path(args.store) if args.store else spec.store_folder(scenario)
    if shard is not None and args.store is None:  # (a store named by --store is used as is)
        store = store.with_name(f"{store.name}-shard{shard[0]}of{shard[1]}")
    if args.resume and not store.exists():  # (--resume also starts: one command for reruns)
        sys.stderr.write(f"note: {store}: no store yet to resume; the sweep starts there\n")
    problem = store_folder_problem(store)  # (before the compile; named where it was given)
    if problem is not None:
        where = "--store" if args.store else _sweep_store_key(args.file, spec)
        raise ScenarioError(f"{where}: {problem}")
    _compile_first(scenario, quiet=args.quiet)
    executor, client = None, None
    if args.dask:
        executor, client = _dask_executor(args.dask)
    try:
        with _sigterm_as_interrupt():
            table = sweep(
                scenario,
                spec.parameter_specs(),
                **spec.design_options(),
                max_runs=MAX_RUNS if args.max_runs is None else args.max_runs,
                root_seed=spec.root_seed,
                timeseries=spec.timeseries,
                store=store,
                resume=args.resume,
                retry_failed=args.retry_failed,
                executor=executor,
                workers=args.workers,
                shard=shard,
                progress=not args.quiet and sys.stderr.isatty(),
                chunk_runs=spec.chunk_runs,
            )
    except (DesignError, ScenarioError) as exc:
        raise ScenarioError(_in_sweep_file(args.file, exc)) from None
    except StoreError as exc:
        text = str(exc)
        named = text if text.startswith(str(args.file)) else f"{args.file}: {text}"
        raise ScenarioError(named) from None
    except SweepError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except (KeyboardInterrupt, SystemError) as exc:  # (Ctrl-C, or SIGTERM: finished runs stored)
        return _stopped(exc, f"finished runs are in {store}/; rerun with --resume to finish")
    finally:
        if client is not None:
            client.close()
    counts = table["status"].value_counts()
    done, failed = int(counts.get("done", 0)), int(counts.get("failed", 0))
    if not args.quiet:
        print(
            f"sweep {scenario.name!r}: {len(table)} runs ({done} done, {failed} failed) "
            f"in {store}/ — read it with talentsim.SweepStore({str(store)!r}).table()"
        )
        if done:
            _print_sweep_summary(table, list(spec.parameter_specs()), spec.metrics, scenario)
        print(
            f"one tidy table: talentsim store export {store} {store}.parquet "
            "(or .csv; --table timeseries)"
        )
    if failed:
        first = table.loc[table["status"] == "failed", "error"].iloc[0]
        sys.stderr.write(
            f"error: {failed} runs failed (first: {first}); see SweepStore(...).failed(); "
            "fix the cause and rerun with --resume --retry-failed\n"
        )
        return 1
    return 0


SWEEP_SUMMARY_POINTS = 20
"""Design points the end-of-sweep summary prints (the rest are in the store)."""


def _print_sweep_summary(table, parameters: list[str], metrics, scenario) -> None:
    """Per design point: the parameters and a few metrics' means with 95% t intervals."""
    from talentsim.analysis import aggregate
    from talentsim.compare import format_number
    from talentsim.glossary import metric_bounds

    if metrics:
        shown = list(metrics)[:4]
    else:
        shown = [*(f"attrition.{lab}" for lab in scenario.lab_names[:3]), "boomerangs"]
    shown = [m for m in shown if m in table.columns]
    if not shown or not parameters:
        return
    stats = aggregate(table, shown, by=parameters, confidence=0.95)
    wide = stats.pivot_table(  # (dropna=False: with one replicate every interval is NaN)
        index=parameters,
        columns="metric",
        values=["mean", "ci_low", "ci_high", "n"],
        sort=False,
        dropna=False,
    )
    rows = wide.index.tolist()
    print(f"\nmean over replicates [95% t interval], per design point ({len(rows)} points):")
    header = [*parameters, *shown]
    cells = []
    for key in rows[:SWEEP_SUMMARY_POINTS]:
        values = key if isinstance(key, tuple) else (key,)
        row = [format_number(v, ".4g") if isinstance(v, float) else str(v) for v in values]
        for metric in shown:
            mean = wide.loc[key, ("mean", metric)]
            low, high = wide.loc[key, ("ci_low", metric)], wide.loc[key, ("ci_high", metric)]
            least, most = metric_bounds(metric)  # (where the mean must lie: its interval too)
            low, high = max(low, least), min(high, most)
            interval = "" if low != low else f" [{format_number(low)}, {format_number(high)}]"
            row.append(f"{format_number(mean)}{interval}")
        cells.append(row)
    widths = [max(len(h), *(len(r[k]) for r in cells)) for k, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if len(rows) > SWEEP_SUMMARY_POINTS:
        print(f"... and {len(rows) - SWEEP_SUMMARY_POINTS} more points (all in the store)")
    if any(metric_bounds(metric) != (-math.inf, math.inf) for metric in shown):
        print("(an interval is cut where the mean must lie: at 0 and 1 for a share, 0 for a count)")


def _store_merge(args) -> int:
    from talentsim.scenario import ScenarioError
    from talentsim.store import StoreError, merge_stores

    try:
        merged = merge_stores(args.out, args.stores)
    except StoreError as exc:
        raise ScenarioError(str(exc)) from None
    counts = merged.runs()["status"].value_counts()
    merged.close()
    total = int(counts.sum())
    print(
        f"merged {len(set(args.stores))} stores into {args.out}/: {total} runs "
        f"({int(counts.get('done', 0))} done, {int(counts.get('failed', 0))} failed, "
        f"{int(counts.get('pending', 0))} pending)"
    )
    return 0


def _store_export(args) -> int:
    from talentsim.scenario import ScenarioError
    from talentsim.store import StoreError, export_table

    out = Path(args.out)
    try:
        rows = export_table(args.store, out, table=args.table, overwrite=args.force)
    except StoreError as exc:
        raise ScenarioError(str(exc)) from None
    print(f"wrote {rows} rows of {args.store}'s {args.table} to {out}")
    return 0


def _dask_executor(address: str):
    from talentsim.experiments import connect_dask
    from talentsim.scenario import ScenarioError

    try:
        client = connect_dask(address, "--dask")
    except ImportError:
        raise ScenarioError(
            "--dask needs dask.distributed: pip install 'talentsim[dask]'"
        ) from None
    return client.get_executor(), client


def _print_effects(comparison, metrics, out) -> None:
    from talentsim.compare import format_number, format_p_value, headline_metrics

    shown = metrics or headline_metrics(comparison.scenario)
    effects = comparison.effects
    n = int(effects["n"].max()) if len(effects) else 0
    level = f"{comparison.confidence:.0%}"
    header = f"{'variant':<16}{'metric':<28}{'baseline':>10}{'variant':>10}{'effect':>10}"
    _print_heading(
        f"scenario {comparison.scenario.name!r}: {len(comparison.variants)} variant(s) against "
        f"the baseline, {n} paired seeds, {level} t intervals",
        header + f"  {level + ' CI':<22}{'p':>8}",
    )
    order = {metric: i for i, metric in enumerate(shown)}
    given = {variant: i for i, variant in enumerate(comparison.variants)}
    rows = effects[effects["metric"].isin(shown)].copy()
    rows["order"] = rows["metric"].map(order)
    rows["given"] = rows["variant"].map(given)  # variants in the order given
    rows = rows.sort_values(["given", "order"], kind="stable").round(12)
    for row in rows.itertuples():
        ci = f"[{format_number(row.ci_low, '+.3g')}, {format_number(row.ci_high, '+.3g')}]"
        print(
            f"{row.variant!s:<16}{row.metric!s:<28}{format_number(row.baseline_mean):>10}"
            f"{format_number(row.variant_mean):>10}{format_number(row.effect, '+.3g'):>10}  "
            f"{ci:<22}{format_p_value(row.p_value):>8}"
        )
    tests = int(effects["p_value"].notna().sum())
    print(
        f"p: each row's own paired t-test; of the {tests} tests in effects.csv some fall below "
        "0.05 by chance alone: its p_holm adjusts for them all (Holm), --metric names fewer"
    )
    for message in comparison.capacity_warnings():
        print(f"warning: {message}")
    print(f"runs and effects written to {out}/ (runs.csv, effects.csv, comparison.json)")


def _parse_or_fail(item: str, option: str = "--set") -> tuple[str, object]:
    from talentsim.scenario import ScenarioError

    try:
        return _parse_assignment(item, option)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None


def _compile_first(scenario, *, quiet: bool) -> None:
    """Compile the step's code before any progress bar starts, saying so (first run only).

    Once after installing, the first step compiles for ~15 s; done here, the progress bars
    do not stall at 0, and a sweep's worker processes find the code compiled on disk.
    """
    from talentsim import compiled
    from talentsim.model import TalentModel

    if compiled.kernels_cached():
        return
    if not quiet:
        sys.stderr.write(
            "compiling talentsim's simulation code (once after installing; about 15 s)...\n"
        )
    TalentModel(scenario, seed=0).step()


def _check_output_folder(
    out,
    *,
    force: bool,
    markers: tuple[str, ...],
    what: str,
    option: str | None = "--force",
    reads: tuple[str | Path, ...] = (),
) -> None:
    """Fail before running if the results could not be written.

    ``--force`` replaces a non-empty folder only if it holds an earlier output of the same
    kind (one of ``markers``, as talentsim writes it) and none of the files the command
    ``reads``: replacing deletes everything in it. ``option`` is what asked for it, as the
    message names it (None for ``--resume``, which writes into the folder).
    """
    from talentsim.results import not_replaceable, unsafe_results_folder
    from talentsim.scenario import ScenarioError

    problem = unsafe_results_folder(out)
    if problem:
        raise ScenarioError(f"--out {out}: {problem}")
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ScenarioError(
                f"--out {out}: folder is not empty; choose another folder or pass --force to "
                "replace it"
            )
        problem = not_replaceable(out, markers, what)
        inside = [path for path in reads if Path(path).resolve().is_relative_to(out)]
        if inside and option is not None:
            problem = (
                f"holds {inside[0]}, which this command reads; replacing the folder would "
                "delete it: choose another folder"
            )
        if problem:
            raise ScenarioError(f"--out {out}: {f'{option}: ' if option else ''}{problem}")
    _check_writable(out, f"--out {out}")


def _print_heading(title: str, header: str) -> None:
    print(title)
    print(header)
    print("-" * len(header))


def _print_table(result, out) -> None:
    table = result.lab_table()
    summary = result.summary()
    header = f"{'lab':<14}{'start':>7}{'end':>7}{'hires':>7}{'quits':>7}{'returns':>9}"
    _print_heading(
        f"scenario {result.scenario.name!r}: {summary['steps']} steps "
        f"({summary['years']:.2f} years), seed {result.seed}",
        header + f"{'exits':>7}{'separations':>13}{'net flow':>10}{'attrition':>11}",
    )
    for row in table.itertuples():
        # (no attrition, rather than nan%, for a lab nobody started at)
        attrition = f"{row.attrition:.0%}" if row.start else "—"
        print(
            f"{row.Index!s:<14}{row.start:>7}{row.end:>7}{row.hires:>7}{row.quits:>7}"
            f"{row.returns:>9}{row.exits:>7}{row.separations:>13}{row.net_flow:>+10}"
            f"{attrition:>11}"
        )
    print("hires: arrivals from anywhere; returns: arrivals of the lab's former staff (counted")
    print("in hires too); quits: departures to another lab (returns to a former one included);")
    print("exits: voluntary departures to the outside pool (startups, academia); separations:")
    print("involuntary departures to the pool; net flow = hires - quits - exits - separations;")
    print("attrition = share of the starting staff who left at least once (some came back)")
    empty = [str(row.Index) for row in table.itertuples() if not row.start]
    if empty:
        print(f"no attrition (—) at {', '.join(empty)}: nobody started there")
    print(
        f"moves {summary['moves']}, boomerang returns {summary['boomerangs']}, "
        f"early exits (< 13 weeks) {summary['early_exits']}"
    )
    print(f"results written to {out}/")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
