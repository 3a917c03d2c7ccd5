"""talentsim's speed, measured against references in the same run.

Reports, in one invocation (machines are shared and noisy, so every figure that matters is a
ratio of two timings taken side by side):

1. researcher-steps per second of talentsim and of the plain Mesa reference
   (``reference_mesa.py``, the same core rules) at N = 1k, 10k, 100k, and their ratio;
2. talentsim's step on a core-rules market against a bare NumPy kernel of the same rule (the
   practical limit), as a ratio;
3. the flagship scaled to 10^6 researchers and 20 labs, every mechanism on, for 520 weekly
   steps: wall time, model creation time, the time to build the result tables, and the peak
   memory of ``ts.run`` end to end (in a child process; target 1.5 GiB);
4. how time per step grows with N and with the number of labs (fitted exponents);
5. the per-step overhead of a model without researchers;
6. the cost of a living colleague network (ties forming and fading, ``[network]``
   ``formation_rate`` and ``former_tie_half_life``): the flagship scaled to 10^5 and 10^6
   researchers with and without it, time per step as a ratio (target at 10^6: at most 1.2;
   each repeat's ratio as the spread), the extra model-creation time (the set-up network
   drawn by the formation rule), and the peak memory of each (in a child process); then
   the ratio over whole runs (every step timed: the cost grows as the run goes on).
7. the cost of search effort (``[search]``: offer rates that rise with the gap and with
   turmoil): the flagship scaled to 10^6 researchers with and without it, time per step as a
   ratio (target: at most 1.2), also with the lab's gap (``search.gap = "lab"``) and with
   effort from turmoil alone (no utility gain per candidate), with the offers made per step
   in each; then the ratios over whole runs.

Usage: python benchmarks/run.py [--quick] [--skip-million] [--network-only] [--search-only]
[--out benchmarks/results]
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
            # best of three runs of at least two steps: one step of 100k researchers is
            # too short a sample (the reference's garbage collections come and go)
            ReferenceModel(scenario, seed=1),
            steps=max(2, 20_000 // n),
            repeats=3,
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
    """The core rules of talentsim written directly in NumPy, as a skilled user would.

    The same rules as talentsim's core market, step for step: random reorganisations;
    exogenous separations; offers (employed and pool rates) from a lab drawn by recruiting
    weight, never one's own; binary-logit acceptance on pay, mission, stability and attachment
    with a switching cost; outside opportunities (exit to the pool) for the employed who did
    not accept; the moves (tenure reset, the lab left becomes the former lab, attachment from
    tenure); retirements from the pool; clocks (tenure, attachment, turmoil); headcounts.
    Draws come from one generator: a float32 block for the three draws everyone needs, then
    draws for the subsets that need them. No event log, flows or common random numbers.
    """
    loc, pay, value, tenure = state["location"], state["pay"], state["value"], state["tenure"]
    last, attach = state["last_lab"], state["attachment"]
    n, labs = loc.shape[0], params["pay_level"].shape[0]
    turmoil = params["turmoil"]
    turmoil += np.where(rng.random(labs) < params["p_reorg"], params["reorg_severity"], 0.0)

    def utility(rows: np.ndarray, place: np.ndarray, wage: np.ndarray) -> np.ndarray:
        at_lab = place < labs
        j = np.where(at_lab, place, 0)
        alignment = 1 - 2 * np.abs(state["orientation"][rows] - params["orientation"][j])
        lab_part = (
            state["w_mission"][rows] * params["clarity"][j] * alignment
            - state["w_stability"][rows] * turmoil[j]
            + np.where(place == last[rows], state["w_attachment"][rows] * attach[rows], 0.0)
        )
        return state["w_pay"][rows] * np.log(wage) + np.where(at_lab, lab_part, 0.0)

    u = rng.random((3, n), dtype=np.float32)
    employed = (loc >= 0) & (loc < labs)
    separated = employed & (u[0] < params["p_separation"])
    p_offer = np.where(employed, params["p_employed"], params["p_outside"])
    offered = np.flatnonzero((employed & ~separated | (loc == labs)) & (u[1] < p_offer))
    here = loc[offered]
    # the offering lab, by weight, never one's own
    weights = params["weights"]
    cumulative = np.cumsum(weights)
    mine = here < labs
    own = np.where(mine, here, 0)
    own_weight = np.where(mine, weights[own], 0.0)
    target = rng.random(offered.shape[0]) * (cumulative[-1] - own_weight)
    target += np.where(
        target >= np.where(mine, cumulative[own] - own_weight, np.inf), own_weight, 0
    )
    lab = np.minimum(np.searchsorted(cumulative, target, side="right"), labs - 1)
    now_pay = np.where(mine, pay[offered], params["outside_ratio"] * value[offered])
    new_pay = params["pay_level"][lab] * value[offered]
    gain = (
        utility(offered, lab, new_pay)
        - utility(offered, here, now_pay)
        - np.where(mine, params["switching_cost"], 0.0)
    )
    accepted = rng.random(offered.shape[0]) < 1.0 / (1.0 + np.exp(-gain / params["noise"]))
    busy = np.zeros(n, dtype=bool)
    busy[offered[accepted]] = True
    chance = np.flatnonzero(employed & ~separated & ~busy & (u[2] < params["p_opportunity"]))
    out_pay = params["outside_ratio"] * value[chance]
    exit_gain = (
        state["w_pay"][chance] * np.log(out_pay)
        + params["outside_amenity"]
        - utility(chance, loc[chance], pay[chance])
    )
    exits = rng.random(chance.shape[0]) < 1.0 / (1.0 + np.exp(-exit_gain / params["noise"]))
    sep = np.flatnonzero(separated)
    rows = np.concatenate([offered[accepted], chance[exits], sep])
    destination = np.concatenate([lab[accepted], np.full(int(exits.sum()) + sep.shape[0], labs)])
    wage = np.concatenate([new_pay[accepted], out_pay[exits], params["outside_ratio"] * value[sep]])
    origin = loc[rows]
    leaving = rows[origin < labs]
    last[leaving] = origin[origin < labs]
    attach[leaving] = -np.expm1(-tenure[leaving] / params["bond_time"])
    home = rows[destination == last[rows]]
    last[home], attach[home] = -1, 0.0
    loc[rows], pay[rows], tenure[rows] = destination, wage, 0.0
    pool = np.flatnonzero(loc == labs)
    loc[pool[rng.random(pool.shape[0]) < params["p_retirement"]]] = -1
    tenure += params["dt"]
    attach *= params["attachment_decay"]
    turmoil *= params["turmoil_decay"]
    np.bincount(loc + 1, minlength=labs + 2)  # headcounts, as talentsim records them


def versus_bare_kernel(n: int) -> dict[str, Any]:
    """Talentsim's step on a core-rules market against the bare kernel of the same rules."""
    scenario = core_market(n, labs=5, duration="20y")
    model = ts.TalentModel(scenario, seed=1)
    ours = seconds_per_step(model, steps=20)
    bare = ts.TalentModel(scenario, seed=1)  # its starting state, for the bare kernel
    labs, pop = bare.lab_state, bare.population
    rng = np.random.default_rng(1)
    columns = ("location", "pay", "tenure", "last_lab", "attachment", "orientation")
    weights = ("w_pay", "w_mission", "w_stability", "w_attachment")
    state = {name: pop.view(name).copy() for name in (*columns, *weights)}
    state["value"] = pop.view("market_value").copy()
    market = scenario.market
    params = {
        "pay_level": labs.pay_level,
        "clarity": labs.mission_clarity,
        "orientation": labs.orientation,
        "turmoil": labs.turmoil.copy(),
        "turmoil_decay": labs.turmoil_decay,
        "p_reorg": labs.reorg_probability,
        "reorg_severity": labs.reorg_severity,
        "weights": labs.recruiting_intensity,
        "outside_ratio": scenario.outside.pay_ratio,
        "outside_amenity": scenario.outside.amenity,
        "switching_cost": market.switching_cost,
        "noise": market.noise_scale,
        "bond_time": market.attachment_bond_time,
        "attachment_decay": bare._attachment_decay,
        "dt": bare.dt,
        "p_employed": 1 - math.exp(-market.offer_rate_employed * bare.dt),
        "p_outside": 1 - math.exp(-market.offer_rate_outside * bare.dt),
        "p_separation": 1 - math.exp(-market.separation_rate * bare.dt),
        "p_opportunity": 1 - math.exp(-scenario.outside.opportunity_rate * bare.dt),
        "p_retirement": bare._p_retirement,
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
import talentsim.results
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
marks = {{}}
class TimedModel(ts.TalentModel):  # ts.run unchanged, with a clock around the model's creation
    def __init__(self, *args, **kwargs):
        start = time.perf_counter(); super().__init__(*args, **kwargs)
        marks["created"] = time.perf_counter(); marks["create_s"] = marks["created"] - start
def progress(done):
    marks["stepped"] = time.perf_counter(); marks["peak_model"] = peak_mib()
talentsim.results.TalentModel = TimedModel
scenario = scaled_flagship({n}, {labs}, duration="10y")
result = ts.run(scenario, seed=1, steps={steps}, progress=progress)
ran, results = marks["stepped"] - marks["created"], time.perf_counter() - marks["stepped"]
print(marks["create_s"], ran, results, marks["peak_model"], peak_mib(), len(result.researchers))
"""


def million(n: int, labs: int, steps: int) -> dict[str, Any]:
    """The scaled flagship with every mechanism on, in a child process (for its peak memory).

    The child runs ``ts.run`` end to end, with clocks around the model's creation and after
    each step: the peak memory is that of the whole ``ts.run`` (model, steps and the result
    tables), the peak when the last step is done (the model alone) is reported beside it, and
    creating the model, stepping it and building the results are timed apart.
    """
    code = MILLION_SCRIPT.format(root=str(HERE.parent), n=n, labs=labs, steps=steps)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    created, ran, results, peak_model, peak, size = (float(x) for x in done.stdout.split())
    print(
        f"  N={n:,} labs={labs} steps={steps}: create {created:.2f} s, run {ran:.1f} s, "
        f"results {results:.1f} s; peak memory of ts.run {peak:,.0f} MiB (after the last step "
        f"{peak_model:,.0f} MiB); researchers at the end {size:,.0f}",
        flush=True,
    )
    return {
        "N": n,
        "labs": labs,
        "steps": steps,
        "create_s": created,
        "run_s": ran,
        "results_s": results,
        "peak_mib": peak,
        "peak_model_mib": peak_model,
        "targets": {"run_s": 60, "peak_mib": 1536, "create_s": 5},
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


def whole_runs(variants: dict[str, ts.Scenario], repeats: int = 2) -> dict[str, Any]:
    """Seconds per step of each variant over its whole run, as a ratio to the first variant.

    The sections' own ratios are of steps 9 to 33, early in the run. A user's run is all of
    it, and a mechanism's cost can change as the run goes on (a living network keeps
    everyone's colleagues, where a static one thins as people leave and enter, so later
    decisions read more ties). So every step of a whole run is timed, the variants
    alternating ``repeats`` times, and the best total of each is kept (noise only adds time);
    the ratio is also given for the first and the last quarter of the run.
    """
    best: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, scenario in variants.items():
            model = ts.TalentModel(scenario, seed=1)
            times = np.empty(model.n_steps)
            for k in range(model.n_steps):
                start = time.perf_counter()
                model.step()
                times[k] = time.perf_counter() - start
            if name not in best or times.sum() < best[name].sum():
                best[name] = times
            del model
    reference, *others = variants
    quarter = len(best[reference]) // 4
    spans = {
        "whole": slice(None),
        "first_quarter": slice(0, quarter),
        "last_quarter": slice(-quarter, None),
    }
    figures: dict[str, Any] = {"steps": len(best[reference])}
    for name in variants:
        figures[f"seconds_per_step_{name}"] = float(best[name].mean())
    for name in others:
        for span, where in spans.items():
            ratio = best[name][where].sum() / best[reference][where].sum()
            figures[f"ratio_{name}" if span == "whole" else f"ratio_{name}_{span}"] = float(ratio)
    base = figures[f"seconds_per_step_{reference}"]
    print(
        f"    whole runs ({figures['steps']} steps): {base * 1e3:.0f} ms/step {reference}; "
        + "; ".join(
            f"{name} {figures[f'seconds_per_step_{name}'] * 1e3:.0f} ms/step, ratio "
            f"{figures[f'ratio_{name}']:.3f} (first quarter "
            f"{figures[f'ratio_{name}_first_quarter']:.3f}, last "
            f"{figures[f'ratio_{name}_last_quarter']:.3f})"
            for name in others
        ),
        flush=True,
    )
    return figures


LIVING_NETWORK = {"formation_rate": "4/year", "former_tie_half_life": "1y", "closure": 0.5}
"""The living network the benchmark turns on (the flagship's degree, 8, as the target)."""


LIVING_MEMORY_SCRIPT = """
import resource, sys
sys.path.insert(0, {root!r})
from benchmarks.run import living_pair
import talentsim as ts
static, living = living_pair({n})
model = ts.TalentModel(living if {living} else static, seed=1)
model.run({steps})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def living_pair(n: int) -> tuple[ts.Scenario, ts.Scenario]:
    """The scaled flagship (its set-up network, static) and the same with a living network."""
    static = scaled_flagship(n, 20, duration="10y")
    data = static.to_dict()
    data["network"] = {**data.get("network", {}), **LIVING_NETWORK}
    return static, ts.Scenario.from_dict(data, source="living network")


def living_network(n: int, steps: int, repeats: int = 3) -> dict[str, Any]:
    """Time per step of the scaled flagship with a living network against the same without.

    The two variants alternate ``repeats`` times (one model at a time, so that both fit in
    memory), each timed twice over ``steps`` steps (a multiple of the 4 weekly steps between
    the network's monthly updates) after 9 warm-up steps. The ratio is of the best times,
    since noise from other tenants only ever adds time; each repeat's own ratio (its two
    variants side by side) is reported too, as the spread. The peak memory of each variant
    (model creation and ``steps + 9`` steps) is measured in a child process (at these sizes
    it is set by the model's creation, not by the network), and the network's own arrays
    are reported beside it.
    """
    static, living = living_pair(n)
    best = {"static": math.inf, "living": math.inf}
    created = {"static": math.inf, "living": math.inf}
    per_repeat = []
    network_mib: dict[str, float] = {}
    for _ in range(repeats):
        this = {}
        for name, scenario in (("static", static), ("living", living)):
            start = time.perf_counter()
            model = ts.TalentModel(scenario, seed=1)
            created[name] = min(created[name], time.perf_counter() - start)
            model.run(8)  # past the first updates (the network's first growth to entrants)
            this[name] = seconds_per_step(model, steps, repeats=2)
            best[name] = min(best[name], this[name])
            network_mib[name] = model.network.nbytes / 2**20 if model.network else 0.0
            del model
        per_repeat.append(this["living"] / this["static"])
    ratio = best["living"] / best["static"]
    peak = {}
    for name in ("static", "living"):
        code = LIVING_MEMORY_SCRIPT.format(
            root=str(HERE.parent), n=n, living=name == "living", steps=steps + 9
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        peak[name] = float(done.stdout.split()[-1])
    print(
        f"  N={n:,}: {best['static'] * 1e3:.0f} ms/step static, "
        f"{best['living'] * 1e3:.0f} ms/step living, ratio {ratio:.3f} (target <= 1.2; "
        f"per repeat {', '.join(f'{r:.3f}' for r in per_repeat)}); "
        f"creation {created['static']:.1f} s static, {created['living']:.1f} s living; "
        f"peak memory {peak['static']:,.0f} MiB static, {peak['living']:,.0f} MiB living "
        f"(the network's arrays {network_mib['static']:,.0f} and "
        f"{network_mib['living']:,.0f} MiB)",
        flush=True,
    )
    return {
        "N": n,
        "steps": steps,
        "seconds_per_step_static": best["static"],
        "seconds_per_step_living": best["living"],
        "ratio": ratio,
        "ratio_per_repeat": per_repeat,
        "create_s_static": created["static"],
        "create_s_living": created["living"],
        "peak_mib_static": peak["static"],
        "peak_mib_living": peak["living"],
        "network_mib_static": network_mib["static"],
        "network_mib_living": network_mib["living"],
        "whole_runs": whole_runs({"static": static, "living": living}),
        "target": 1.2,
    }


def living_networks(quick: bool) -> list[dict[str, Any]]:
    """:func:`living_network` at 10^5 and 10^6 researchers (2·10^4 for a smoke check)."""
    sizes = [20_000] if quick else [100_000, 1_000_000]
    return [living_network(n, 12) for n in sizes]


SEARCH_EFFORT = {"gap_sensitivity": 1.0, "turmoil_sensitivity": 0.5, "effort_max": 3.0}
"""The search effort the benchmark turns on (the default cap, 3: candidates at 3 × λ_e)."""


def search_effort(n: int, steps: int, repeats: int = 2) -> dict[str, Any]:
    """Time per step of the scaled flagship with search effort against the same without.

    As :func:`living_network`: the variants alternate ``repeats`` times, each timed twice over
    ``steps`` steps after 9 warm-up steps, and the ratio is of the best times. Three variants
    with search effort: :data:`SEARCH_EFFORT` (``"on"``: the gap of the offer to come and
    turmoil: a utility gain per offer candidate, about three times as many as offers), the
    same with the lab's gap (``"lab_gap"``: ``search.gap = "lab"``, each lab's staff's
    recent offers; no gain to compute beyond the offers') and effort from turmoil alone
    (``"turmoil_only"``). With effort by lab (the last two) the bounding rate uses the most
    effort any lab gives in the step, not the cap. The offers made per step are reported
    too: with effort on there are fewer or more (and so fewer or more decisions), which is
    the mechanism's effect, not overhead; the overhead alone is measured by the two gap
    rules at a sensitivity of 10^-9 and no turmoil term (``"offer_work"``, ``"lab_work"``:
    effort within 10^-8 of 1, the offers of no search, all of the rule's work).
    """
    plain = scaled_flagship(n, 20, duration="10y")
    data = plain.to_dict()
    searches = {
        "on": SEARCH_EFFORT,
        "lab_gap": {**SEARCH_EFFORT, "gap": "lab"},
        "turmoil_only": {**SEARCH_EFFORT, "gap_sensitivity": 0.0},
        # the work alone: effort within 1e-8 of 1, so the offers are those of no search
        "offer_work": {**SEARCH_EFFORT, "gap_sensitivity": 1e-9, "turmoil_sensitivity": 0.0},
        "lab_work": {
            **SEARCH_EFFORT,
            "gap": "lab",
            "gap_sensitivity": 1e-9,
            "turmoil_sensitivity": 0.0,
        },
    }
    variants = {"off": plain}
    for name, search in searches.items():
        variants[name] = ts.Scenario.from_dict({**data, "search": search}, source=name)
    offers = ts.model.FLOWS.index("offers")
    best = dict.fromkeys(variants, math.inf)
    per_step = dict.fromkeys(variants, 0.0)
    for _ in range(repeats):
        for name, scenario in variants.items():
            model = ts.TalentModel(scenario, seed=1)
            model.run(8)
            best[name] = min(best[name], seconds_per_step(model, steps, repeats=2))
            k = model.steps
            per_step[name] = float(model.flow_history[1 : k + 1, offers].sum() / k)
            del model
    ratios = {name: best[name] / best["off"] for name in searches}
    print(
        f"  N={n:,}: {best['off'] * 1e3:.0f} ms/step off ({per_step['off']:,.0f} offers a "
        "step); "
        + "; ".join(
            f"{name} {best[name] * 1e3:.0f} ms/step, ratio {ratios[name]:.3f} "
            f"({per_step[name]:,.0f} offers)"
            for name in searches
        )
        + " (target <= 1.2)",
        flush=True,
    )
    figures: dict[str, Any] = {"N": n, "steps": steps, "search": searches, "target": 1.2}
    for name in variants:
        figures[f"seconds_per_step_{name}"] = best[name]
        figures[f"offers_per_step_{name}"] = per_step[name]
    figures["ratio"] = ratios.pop("on")
    figures.update({f"ratio_{name}": ratio for name, ratio in ratios.items()})
    figures["whole_runs"] = whole_runs(
        {name: variants[name] for name in ("off", "on", "lab_gap", "turmoil_only")}
    )
    return figures


def _search_efforts(quick: bool) -> dict[str, Any]:
    """:func:`search_effort` at 10^6 researchers (2·10^4 for a smoke check)."""
    return search_effort(20_000 if quick else 1_000_000, 12)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every benchmark and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke check")
    parser.add_argument("--skip-million", action="store_true", help="skip the 10^6 run")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the figures")
    parser.add_argument(
        "--network-only", action="store_true", help="only 6, the living network's cost"
    )
    parser.add_argument("--search-only", action="store_true", help="only 7, search effort")
    args = parser.parse_args(argv)
    quick = args.quick
    only = {
        "living_network": ("6. the cost of a living colleague network", living_networks),
        "search_effort": ("7. the cost of search effort", _search_efforts),
    }
    for key, wanted in (("living_network", args.network_only), ("search_effort", args.search_only)):
        if wanted:
            title, benchmark = only[key]
            print(title)
            figures = {key: benchmark(quick)}
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            name = f"{key}_quick" if quick else key
            (out / f"{name}.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
            return figures
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
    print("6. the cost of a living colleague network")
    figures["living_network"] = living_networks(quick)
    print("7. the cost of search effort")
    figures["search_effort"] = _search_efforts(quick)
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
