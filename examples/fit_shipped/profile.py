"""Profile confidence intervals for the published fit, beside its Wald intervals.

The published fit (``fit.py --budget large --publish``, numbers in
``scenarios/fitted/fit_results.json``) reports Wald intervals ``estimate ± 1.96·se``. Two of
the flagship's five estimates sit at or near a bound of their search range (the noise of
choices, 0.25 in [0.2, 1.5]; Rival's amenity, 0.003 in [0, 1]), where a Wald interval reaches
past the bound and says little about the side the data do limit. This script computes, for
the chosen parameters, the profile (distance-metric) interval of :func:`talentsim.smm.profile`:
each parameter held at each value of a grid over its range, the others re-fitted by
Nelder-Mead on the fit's own common seeds, the values kept whose efficient criterion rises by
at most the χ²(1) quantile above its least (Newey and West 1987).

Usage:
  python examples/fit_shipped/profile.py [--scenario msl_exodus] [--parameters PATH,...]
      [--points 9] [--maxiter 60] [--seeds R] [--workers 2] [--centre local] [--out DIR]

``--parameters``: default, those whose Wald interval the published report flags (past a
bound, or the estimate at one); ``all`` for every fitted parameter. ``--seeds R``: the
replicate runs per parameter vector, default the published budget's (16; the fit's common
seeds, so the criterion is the fit's). Writes to ``--out`` (default results/fit_profile):
``profile_<path>.csv`` per parameter (the grid, the criterion, D and the other parameters at
the minimum), ``profile_intervals.csv`` (Wald and profile intervals side by side),
``profiles.png`` (D against each parameter, the threshold dashed) and the first run of the
fitted scenario (``run.json``). ``--centre global`` also searches the efficient criterion's
least value by differential evolution over every parameter (the fit's own budget: about as
long as the fit; the later profiles reuse its runs) before each profile, where the default
searches from the estimate. The budget ``tiny`` (TALENTSIM_EXAMPLE_BUDGET, the tests')
profiles one parameter on 3 grid values with 2 iterations: a smoke test, numbers meaningless.
With the defaults on the flagship: about 20 minutes on 2 free cores (docs/calibration.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

import talentsim as ts
from talentsim.cli import positive_integer, run_output_folder, run_script
from talentsim.experiments import shared_pool
from talentsim.smm import Parameter, profile

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PUBLISHED = ROOT / "scenarios" / "fitted" / "fit_results.json"


def pipeline() -> ModuleType:
    """``fit.py`` beside this script, as a module (its scenarios, targets and bounds)."""
    spec = importlib.util.spec_from_file_location("fit_shipped_pipeline", HERE / "fit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up by name)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="msl_exodus", help="a fitted scenario's name")
    parser.add_argument("--parameters", default=None, help="PATH,... or all (default: flagged)")
    parser.add_argument("--points", type=positive_integer, default=None, help="grid values (9)")
    parser.add_argument("--maxiter", type=positive_integer, default=None, help="per value (60)")
    parser.add_argument("--seeds", type=positive_integer, default=None, help="R (published)")
    parser.add_argument("--workers", type=positive_integer, default=None, help="processes (2)")
    parser.add_argument(
        "--centre",
        choices=["local", "global"],
        default="local",
        help="the least criterion's search: from the estimate, or also global (smm.profile)",
    )
    parser.add_argument("--out", type=run_output_folder, default="results/fit_profile")
    args = parser.parse_args()
    tiny = os.environ.get("TALENTSIM_EXAMPLE_BUDGET") == "tiny"
    fit = pipeline()
    published = json.loads(PUBLISHED.read_text("utf-8"))
    if args.scenario not in fit.SPECS or not (published.get(args.scenario) or {}).get("estimates"):
        fitted = [name for name in fit.SPECS if (published.get(name) or {}).get("estimates")]
        parser.error(f"--scenario: expected one of the fitted scenarios {fitted}")
    spec = fit.SPECS[args.scenario]
    rows = published[args.scenario]["estimates"]
    by_path = {c.parameter.path: c.parameter for c in spec.candidates}
    parameters: list[Parameter] = [by_path[row["parameter"]] for row in rows]
    estimate = [float(row["estimate"]) for row in rows]
    fitted_paths = [row["parameter"] for row in rows]
    flagged = [row["parameter"] for row in rows if row["at_bound"] or not row["within_bounds"]]
    if args.parameters in (None, ""):
        chosen = flagged or fitted_paths[:1]
    elif args.parameters == "all":
        chosen = fitted_paths
    else:
        chosen = [part.strip() for part in args.parameters.split(",") if part.strip()]
        unknown = [path for path in chosen if path not in fitted_paths]
        if unknown:
            parser.error(
                f"--parameters: {unknown} were not fitted; the fit's parameters are {fitted_paths}"
            )
    if tiny:
        chosen = chosen[:1]
    replicates = args.seeds or (2 if tiny else published["budget"]["replicates"])
    points = args.points or (3 if tiny else 9)
    maxiter = args.maxiter or (2 if tiny else 60)
    refine = 1 if tiny else 3
    workers = args.workers or (1 if tiny else 2)
    scenario = ts.load_scenario(ROOT / "scenarios" / f"{spec.scenario}.toml")
    targets = fit.scenario_targets(spec.targets)
    out = Path(args.out)
    # The fitted scenario's first run goes first: saving replaces only a run's folder.
    fitted = scenario.with_overrides(fit.overrides_of(parameters, estimate))
    seed = ts.seeds.seed_list(1, 0)[0]
    ts.run(fitted, seed=seed).save(out, overwrite=True)
    executor = shared_pool(workers) if workers > 1 else None
    cache: dict[tuple[float, ...], Any] = {}  # (the runs shared by the profiles)
    print(
        f"profile: {args.scenario}, R = {replicates} common seeds (root seed 0, as the fit), "
        f"{points} grid values per parameter, at most {maxiter} Nelder-Mead iterations each, "
        f"{workers} worker(s), the least criterion searched {args.centre}ly",
        flush=True,
    )
    summary = []
    profiles = {}
    for path in chosen:
        started = time.perf_counter()

        def progress(done: int, total: int, path: str = path, started: float = started) -> None:
            minutes = (time.perf_counter() - started) / 60
            print(f"  {path}: {done} of at most {total} values ({minutes:.1f} min)", flush=True)

        found = profile(
            scenario,
            targets,
            parameters,
            estimate,
            path,
            replicates=replicates,
            points=points,
            maxiter=maxiter,
            refine=refine,
            executor=executor,
            cache=cache,
            progress=progress,
            centre=args.centre,
            global_maxiter=2 if tiny else published["budget"]["maxiter"],
            popsize=published["budget"]["popsize"],
        )
        profiles[path] = found
        found.table.to_csv(out / f"profile_{path}.csv", index=False)
        wald = next(row for row in rows if row["parameter"] == path)
        summary.append(
            {
                "parameter": path,
                "estimate": wald["estimate"],
                "wald_low": wald["low"],
                "wald_high": wald["high"],
                "profile_low": found.low,
                "profile_high": found.high,
                "closed_low": found.closed_low,
                "closed_high": found.closed_high,
                "disjoint": found.disjoint,
                "bounds": f"[{by_path[path].low:g}, {by_path[path].high:g}]",
                "least_criterion": found.minimum,
                "gap_at_ends": (by_path[path].high - by_path[path].low) / (points - 1) / 2**refine,
                "minutes": (time.perf_counter() - started) / 60,
            }
        )
    table = pd.DataFrame(summary)
    table.to_csv(out / "profile_intervals.csv", index=False)
    print(
        f"\n95% intervals of {args.scenario}'s published estimates: Wald (estimate ± 1.96 se) "
        "and profile (distance metric; closed_*: the interval reaches that bound)"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    least = table["least_criterion"]
    if len(table) > 1 and least.max() - least.min() > 0.1:
        print(
            f"note: the profiles' least criteria differ ({least.min():.3g} to {least.max():.3g}): "
            "a local search stopped short in some; D is measured from each profile's own least "
            "value, so the intervals of those with the higher least are too wide by about the "
            "difference in D"
        )
    figure(profiles, out / "profiles.png")
    print(f"profiles, intervals, figure and the fitted scenario's run (seed {seed}) in {out}")


def figure(profiles: dict[str, Any], path: Path) -> None:
    """D against each profiled parameter, the χ²(1) threshold dashed, the interval shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(profiles), figsize=(4.2 * len(profiles), 3.4), squeeze=False)
    for axis, (name, found) in zip(axes[0], profiles.items(), strict=True):
        axis.plot(found.table["value"], found.table["distance"], marker="o", color="C0")
        axis.axhline(found.threshold, linestyle="--", color="grey", label="χ²(1) 95%")
        axis.axvspan(found.low, found.high, color="C0", alpha=0.12, label="95% interval")
        axis.axvline(found.estimate, color="C3", linewidth=1, label="estimate")
        axis.set_xlabel(name)
        axis.set_ylabel("D (criterion − its least)")
        top = 4 * found.threshold  # (the values far outside would flatten the interval's part)
        axis.set_ylim(0, top)
        beyond = int((found.table["distance"] > top).sum())
        if beyond:
            axis.set_title(f"{beyond} grid values above D = {top:.3g}, off the chart", fontsize=8)
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(run_script(main))
