"""talentsim's speed, measured against references in the same run.

Reports, in one invocation (machines are shared and noisy, so every figure that matters is a
ratio of two timings taken side by side):

1. researcher-steps per second of talentsim and of the plain Mesa reference
   (``reference_mesa.py``, the same core rules) at N = 1k, 10k, 100k, and their ratio;
2. talentsim's step on a core-rules market against a bare NumPy kernel of the same rule (the
   practical limit), as a ratio;
3. the flagship scaled to 10^6 researchers and 20 labs, every mechanism on, for 520 weekly
   steps: wall time, model creation time and peak memory (in a child process);
4. how time per step grows with N and with the number of labs (fitted exponents);
5. the per-step overhead of a model without researchers.

Usage: python benchmarks/run.py [--quick] [--skip-million] [--out benchmarks/results]
Writes ``performance.json`` and ``performance.csv`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import talentsim as ts  # noqa: E402
from benchmarks.reference_mesa import ReferenceModel  # noqa: E402
from benchmarks.workloads import core_market, scaled_flagship  # noqa: E402


def seconds_per_step(model: Any, steps: int, repeats: int = 3) -> float:
    """Best time per step over ``repeats`` runs of ``steps`` steps (after one warm-up step)."""
    model.step()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            model.step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def versus_reference(sizes: list[int]) -> list[dict[str, Any]]:
    """Researcher-steps per second: talentsim against the Mesa reference, side by side."""
    rows = []
    for n in sizes:
        scenario = core_market(n, labs=5, duration="20y")
        ours = seconds_per_step(ts.TalentModel(scenario, seed=1), steps=max(5, 200_000 // n))
        theirs = seconds_per_step(
            ReferenceModel(scenario, seed=1), steps=max(1, 20_000 // n), repeats=2
        )
        rows.append(
            {
                "N": n,
                "talentsim_researcher_steps_per_s": n / ours,
                "reference_researcher_steps_per_s": n / theirs,
                "ratio": theirs / ours,
                "target": 100 if n >= 100_000 else 20 if n <= 1_000 else None,
            }
        )
        print(
            f"  N={n:>7}: talentsim {n / ours:,.0f}/s, Mesa reference {n / theirs:,.0f}/s, "
            f"ratio {theirs / ours:.1f}x",
            flush=True,
        )
    return rows


def bare_kernel_step(state: dict[str, np.ndarray], params: dict[str, Any], rng) -> None:
    """The core rule in plain NumPy: offers, a lab drawn by weight, logit acceptance, moves."""
    location, pay, value = state["location"], state["pay"], state["value"]
    n, labs = location.shape[0], params["pay_level"].shape[0]
    u = rng.random((3, n), dtype=np.float32)
    employed = location < labs
    offered = np.flatnonzero(u[0] < np.where(employed, params["p_employed"], params["p_outside"]))
    cumulative = np.cumsum(params["weights"])
    lab = np.minimum(np.searchsorted(cumulative, u[1, offered] * cumulative[-1]), labs - 1)
    here = location[offered]
    at_lab = here < labs
    safe = np.where(at_lab, here, 0)
    orientation = state["orientation"][offered]
    v_now = np.log(np.where(at_lab, pay[offered], params["outside_ratio"] * value[offered]))
    v_now += np.where(
        at_lab,
        params["clarity"][safe] * (1 - 2 * np.abs(orientation - params["orientation"][safe]))
        - params["turmoil"][safe],
        0.0,
    )
    new_pay = params["pay_level"][lab] * value[offered]
    v_offer = (
        np.log(new_pay)
        + params["clarity"][lab] * (1 - 2 * np.abs(orientation - params["orientation"][lab]))
        - params["turmoil"][lab]
    )
    gain = v_offer - v_now - np.where(at_lab, params["switching_cost"], 0.0)
    accept = u[2, offered] < 1.0 / (1.0 + np.exp(-gain / params["noise"]))
    accept &= lab != here
    movers = offered[accept]
    location[movers] = lab[accept]
    pay[movers] = new_pay[accept]
    np.bincount(location + 1, minlength=labs + 2)  # headcounts, as talentsim records them


def versus_bare_kernel(n: int) -> dict[str, Any]:
    """Talentsim's step on a core-rules market against the bare kernel of the same rule."""
    scenario = core_market(n, labs=5, duration="20y")
    model = ts.TalentModel(scenario, seed=1)
    ours = seconds_per_step(model, steps=20)
    labs = model.lab_state
    rng = np.random.default_rng(1)
    state = {
        "location": model.population.view("location").copy(),
        "pay": model.population.view("pay").copy(),
        "value": model.population.view("market_value").copy(),
        "orientation": model.population.view("orientation").copy(),
    }
    params = {
        "pay_level": labs.pay_level,
        "clarity": labs.mission_clarity,
        "orientation": labs.orientation,
        "turmoil": labs.turmoil,
        "weights": labs.recruiting_intensity,
        "outside_ratio": scenario.outside.pay_ratio,
        "switching_cost": scenario.market.switching_cost,
        "noise": scenario.market.noise_scale,
        "p_employed": model._p_offer_employed,
        "p_outside": model._p_offer_outside,
    }
    bare_kernel_step(state, params, rng)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(20):
            bare_kernel_step(state, params, rng)
        best = min(best, (time.perf_counter() - start) / 20)
    print(
        f"  N={n}: talentsim step {ours * 1e3:.2f} ms, bare NumPy kernel {best * 1e3:.2f} ms, "
        f"ratio {ours / best:.2f}",
        flush=True,
    )
    return {
        "N": n,
        "talentsim_ms_per_step": ours * 1e3,
        "bare_kernel_ms_per_step": best * 1e3,
        "ratio": ours / best,
        "target": 1.5,
    }


MILLION_SCRIPT = """
import resource, sys, time
sys.path.insert(0, {root!r})
from benchmarks.workloads import scaled_flagship
import talentsim as ts
scenario = scaled_flagship({n}, {labs}, duration="10y")
start = time.perf_counter(); model = ts.TalentModel(scenario, seed=1)
created = time.perf_counter() - start
start = time.perf_counter(); model.run(steps={steps}); ran = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(created, ran, peak, model.population.size)
"""


def million(n: int, labs: int, steps: int) -> dict[str, Any]:
    """The scaled flagship with every mechanism on, in a child process (for its peak memory)."""
    code = MILLION_SCRIPT.format(root=str(HERE.parent), n=n, labs=labs, steps=steps)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    created, ran, peak, size = (float(x) for x in done.stdout.split())
    print(
        f"  N={n:,} labs={labs} steps={steps}: create {created:.2f} s, run {ran:.1f} s, "
        f"peak memory {peak:,.0f} MiB, researchers at the end {size:,.0f}",
        flush=True,
    )
    return {
        "N": n,
        "labs": labs,
        "steps": steps,
        "create_s": created,
        "run_s": ran,
        "peak_mib": peak,
        "targets": {"run_s": 60, "peak_mib": 2048, "create_s": 5},
    }


def scaling(sizes: list[int], lab_counts: list[int]) -> dict[str, Any]:
    """Time per step against N (20 labs) and against the number of labs (fixed N); exponents."""
    by_n = []
    for n in sizes:
        model = ts.TalentModel(scaled_flagship(n, 20), seed=1)
        by_n.append(seconds_per_step(model, steps=max(3, 100_000 // n), repeats=2))
    by_labs = []
    for labs in lab_counts:
        model = ts.TalentModel(scaled_flagship(sizes[-1] // 4, labs), seed=1)
        by_labs.append(seconds_per_step(model, steps=5, repeats=2))
    slope_n = float(np.polyfit(np.log(sizes), np.log(by_n), 1)[0])
    slope_labs = float(np.polyfit(np.log(lab_counts), np.log(by_labs), 1)[0])
    print(
        f"  time per step ~ N^{slope_n:.2f} (N {sizes[0]:,}–{sizes[-1]:,}), "
        f"~ labs^{slope_labs:.2f} (labs {lab_counts[0]}–{lab_counts[-1]})",
        flush=True,
    )
    return {
        "sizes": sizes,
        "seconds_per_step": by_n,
        "exponent_n": slope_n,
        "lab_counts": lab_counts,
        "seconds_per_step_by_labs": by_labs,
        "exponent_labs": slope_labs,
    }


def overhead() -> dict[str, Any]:
    """Per-step cost of a model with labs but no researchers."""
    scenario = ts.Scenario.from_dict(
        {
            "time": {"step": "1w", "duration": "20y"},
            "labs": {"A": {}, "B": {}},
            "cohorts": {"none": {"size": 0, "lab": "A"}},
        }
    )
    per_step = seconds_per_step(ts.TalentModel(scenario, seed=1), steps=500)
    print(f"  per-step overhead without researchers: {per_step * 1e6:.0f} µs", flush=True)
    return {"microseconds_per_step": per_step * 1e6, "target": 100}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every benchmark and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke check")
    parser.add_argument("--skip-million", action="store_true", help="skip the 10^6 run")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the figures")
    args = parser.parse_args(argv)
    quick = args.quick
    figures: dict[str, Any] = {
        "machine": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "talentsim": ts.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cores": __import__("os").cpu_count(),
        }
    }
    print("1. talentsim against the plain Mesa reference (core rules)")
    figures["reference"] = versus_reference([1_000, 10_000] if quick else [1_000, 10_000, 100_000])
    print("2. talentsim against a bare NumPy kernel of the same rule")
    figures["bare_kernel"] = versus_bare_kernel(20_000 if quick else 200_000)
    print("3. the flagship scaled up, every mechanism on")
    if not args.skip_million:
        figures["million"] = million(20_000, 20, 52) if quick else million(1_000_000, 20, 520)
    print("4. scaling with N and with the number of labs")
    figures["scaling"] = scaling(
        [1_000, 10_000, 100_000] if quick else [10_000, 100_000, 1_000_000],
        [5, 20, 50] if quick else [5, 20, 50, 200],
    )
    print("5. per-step overhead")
    figures["overhead"] = overhead()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "performance_quick" if quick else "performance"
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    rows = [
        *({"benchmark": "vs Mesa reference", **row} for row in figures["reference"]),
        {"benchmark": "vs bare NumPy kernel", **figures["bare_kernel"]},
    ]
    keys = sorted({k for row in rows for k in row})
    lines = [",".join(keys)] + [",".join(str(row.get(k, "")) for k in keys) for row in rows]
    (out / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"figures written to {out}/{name}.json and .csv")
    return figures


if __name__ == "__main__":
    main()
