"""Fit the flagship scenario to the public figures for labs without shocks (SMM).

Reads the calibration file ``flagship.toml`` beside this script, fits its parameters with
``ts.calibrate`` (the method of simulated moments, common random numbers), prints the
estimates, the fit per target and the diagnostics, writes them with the fitted scenario to
``OUT/calibration``, and runs the fitted scenario once (``OUT``).

    python examples/calibrate_flagship/run.py --seeds 10 --out results/calibrate_flagship

``--seeds`` is the number of replicate runs per candidate. With the environment variable
``TALENTSIM_EXAMPLE_BUDGET=tiny`` (what the test suite sets), the search is cut to a smoke
test (one generation, no polish): the code path is the same, the estimates mean nothing.
"""

import os
from pathlib import Path

import talentsim as ts
from talentsim.calibration import load_calibration
from talentsim.cli import run_script, script_arguments

HERE = Path(__file__).resolve().parent


def main() -> None:
    args = script_arguments(__doc__, seeds=10)
    spec, scenario_path, targets_path = load_calibration(HERE / "flagship.toml")
    budget = spec.budget
    options = {"maxiter": budget.maxiter, "popsize": budget.popsize, "polish": budget.polish}
    screening = budget.screening_replicates
    if os.environ.get("TALENTSIM_EXAMPLE_BUDGET") == "tiny":
        options = {"maxiter": 1, "popsize": 2, "polish": False}
        screening = 2
    fit = ts.calibrate(
        scenario_path,
        targets_path,
        spec.parameters,
        method="smm",
        seed=spec.seed,
        replicates=args.seeds,
        screening_replicates=screening,
        **options,
    )
    print(fit.format())
    result = ts.run(fit.fitted_scenario, seed=spec.seed)
    print(f"\nthe fitted scenario, run once (seed {result.seed}):")
    for lab, row in result.lab_table().iterrows():
        print(f"  {lab:<10} attrition {row['attrition']:.0%}, hires {int(row['hires'])}")
    if args.out:
        out = Path(args.out)
        result.save(out)
        fit.save(out / "calibration")
        print(f"run written to {out}/, the calibration to {out / 'calibration'}/")


if __name__ == "__main__":
    raise SystemExit(run_script(main))
