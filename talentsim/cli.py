"""Command line: ``talentsim run FILE`` and ``talentsim validate FILE``.

Errors in input (a malformed scenario, an unknown key, an unwritable output folder) print one
clear message and exit with status 2; they never print a traceback.
"""

import sys

MIN_PYTHON = (3, 12)
EXIT_USAGE = 2


def _check_python() -> None:
    if sys.version_info < MIN_PYTHON:
        found = ".".join(str(part) for part in sys.version_info[:3])
        sys.stderr.write(
            f"error: talentsim needs Python >= 3.12, but this is Python {found}.\n"
            "       Install Python 3.12 (e.g. 'pyenv install 3.12') and reinstall talentsim.\n"
        )
        raise SystemExit(EXIT_USAGE)


def _parse_assignment(text: str) -> tuple[str, object]:
    """Parse ``key=value`` where value is read as a TOML value, else as a plain string."""
    import tomllib

    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set {text!r}: expected key=value, e.g. labs.MSL.pay_level=3.0")
    try:
        parsed: object = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key, parsed


def _build_parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="talentsim",
        description="Agent-based simulation of talent markets.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a scenario file and write its results")
    run.add_argument("file", help="scenario TOML file")
    run.add_argument("--seed", type=int, default=None, help="seed (default: fresh, recorded)")
    run.add_argument("--steps", type=int, default=None, help="number of steps (default: duration)")
    run.add_argument(
        "--out", default=None, help="results folder (default: results/<scenario name>)"
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario value by dotted path, e.g. labs.MSL.pay_level=3.0 "
        "(values are read as TOML; repeatable)",
    )
    run.add_argument("--force", action="store_true", help="overwrite a non-empty results folder")
    run.add_argument("--quiet", action="store_true", help="no progress bar or table")

    validate = sub.add_parser("validate", help="check a scenario file and report problems")
    validate.add_argument("file", help="scenario TOML file")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``talentsim`` console script; returns the exit status."""
    _check_python()
    parser = _build_parser()
    args = parser.parse_args(argv)
    from talentsim.scenario import ScenarioError

    try:
        if args.command == "validate":
            return _validate(args)
        return _run(args)
    except ScenarioError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: nothing was written\n")
        return 130


def _validate(args) -> int:
    from talentsim.scenario import load_scenario

    scenario = load_scenario(args.file)
    n_researchers = sum(c.size for c in scenario.cohorts.values())
    print(
        f"{args.file}: ok — scenario {scenario.name!r}, {len(scenario.labs)} labs, "
        f"{len(scenario.cohorts)} cohorts ({n_researchers} researchers), "
        f"{len(scenario.events)} scheduled events, {scenario.time.n_steps} steps"
    )
    return 0


def _run(args) -> int:
    from pathlib import Path

    from talentsim.scenario import ScenarioError, load_scenario

    scenario = load_scenario(args.file)
    overrides = dict(_parse_or_fail(item) for item in args.overrides)
    if overrides:
        scenario = scenario.with_overrides(overrides)
    if args.seed is not None and args.seed < 0:
        raise ScenarioError(f"--seed: expected a non-negative integer, got {args.seed}")
    if args.steps is not None and args.steps < 1:
        raise ScenarioError(f"--steps: expected a positive integer, got {args.steps}")
    out = Path(args.out) if args.out else Path("results") / scenario.name
    _check_output_folder(out, force=args.force)

    from tqdm import tqdm

    from talentsim.results import run

    total = args.steps if args.steps is not None else scenario.time.n_steps
    show = not args.quiet and sys.stderr.isatty()
    with tqdm(total=total, disable=not show, unit="step", desc=scenario.name) as bar:
        result = run(scenario, seed=args.seed, steps=args.steps, progress=bar.update)
    try:
        result.save(out, overwrite=args.force)
    except OSError as exc:
        raise ScenarioError(f"{out}: cannot write results ({exc.strerror or exc})") from None
    if not args.quiet:
        _print_table(result, out)
    return 0


def _parse_or_fail(item: str) -> tuple[str, object]:
    from talentsim.scenario import ScenarioError

    try:
        return _parse_assignment(item)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None


def _check_output_folder(out, *, force: bool) -> None:
    """Fail before running if the results could not be written."""
    import os

    from talentsim.scenario import ScenarioError

    if out.exists() and not out.is_dir():
        raise ScenarioError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ScenarioError(
            f"--out {out}: folder is not empty; choose another folder or pass --force to replace it"
        )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScenarioError(f"--out {out}: cannot write in {parent} (permission denied)")


def _print_table(result, out) -> None:
    table = result.lab_table()
    summary = result.summary()
    print(
        f"scenario {result.scenario.name!r}: {summary['steps']} steps "
        f"({summary['years']:.2f} years), seed {result.seed}"
    )
    header = f"{'lab':<14}{'start':>7}{'end':>7}{'hires':>7}{'quits':>7}{'returns':>9}"
    header += f"{'exits':>7}{'net flow':>10}{'attrition':>11}"
    print(header)
    print("-" * len(header))
    for row in table.itertuples():
        print(
            f"{row.Index!s:<14}{row.start:>7}{row.end:>7}{row.hires:>7}{row.quits:>7}"
            f"{row.returns:>9}{row.exits:>7}{row.net_flow:>+10}{row.attrition:>11.0%}"
        )
    print(
        f"moves {summary['moves']}, boomerang returns {summary['boomerangs']}, "
        f"early exits (< 13 weeks) {summary['early_exits']}"
    )
    print(f"results written to {out}/")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
