"""The classic on-the-job-search economy: talentsim against its closed-form steady state.

With pay-only preferences, noiseless choice, no switching cost, unlimited capacity and equal
recruiting intensity across many labs, talentsim is the Burdett & Mortensen (1998) job
ladder. In steady state the share out of work is u = δ/(δ + λ0) and the pay distribution
across employed researchers is G(w) = δ·F(w) / (δ + λ1·(1 − F(w))), where F is the
distribution of posted pay levels.

Tolerances: u is averaged over the last two simulated years; its sampling SE is below
sqrt(u(1−u)/N) (the average over correlated snapshots only shrinks it), so 0.01 is > 4 SE
for N = 20,000. G is compared with the Kolmogorov–Smirnov distance at the final step; the 0.1%
critical value for one snapshot of ~17,800 employed researchers is 1.95/sqrt(n) ≈ 0.015, and
we allow 0.02 for the daily discretisation.
"""

from __future__ import annotations

import numpy as np
import pytest

import talentsim as ts
from talentsim.builders import job_ladder

LAMBDA0, LAMBDA1, DELTA = 4.0, 2.0, 0.5


def _run_ladder(
    n_labs: int, researchers: int, years: float, seed: int
) -> tuple[ts.TalentModel, np.ndarray]:
    pay_levels = np.sort(np.random.default_rng(12345).uniform(1.0, 2.0, n_labs))
    scenario = job_ladder(
        pay_levels,
        researchers=researchers,
        offer_rate_outside=LAMBDA0,
        offer_rate_employed=LAMBDA1,
        separation_rate=DELTA,
        step_years=1 / 365.25,
        duration_years=years,
    )
    model = ts.TalentModel(scenario, seed=seed)
    model.run()
    return model, pay_levels


def _check_steady_state(model: ts.TalentModel, pay_levels: np.ndarray, researchers: int) -> None:
    pool = model.headcount_history[-731:, -1]
    u = pool.mean() / researchers
    assert u == pytest.approx(DELTA / (DELTA + LAMBDA0), abs=0.01)

    location = model.population.view("location")
    employed = location < model.lab_state.n
    pay = np.sort(model.population.view("pay")[employed])
    offer_cdf = np.searchsorted(pay_levels, pay, side="right") / pay_levels.size
    theory = DELTA * offer_cdf / (DELTA + LAMBDA1 * (1.0 - offer_cdf))
    empirical = np.arange(1, pay.size + 1) / pay.size
    ks = np.max(np.abs(empirical - theory))
    assert ks < 0.02, ks


def test_job_ladder_with_1000_labs_matches_burdett_mortensen() -> None:
    model, pay_levels = _run_ladder(n_labs=1000, researchers=20_000, years=8.0, seed=2)
    _check_steady_state(model, pay_levels, 20_000)


def test_job_ladder_noiseless_moves_only_up() -> None:
    model, _ = _run_ladder(n_labs=200, researchers=2_000, years=1.0, seed=3)
    res = ts.RunResult.from_model(model)
    quits = res.events[res.events["kind"] == "quit"]
    assert len(quits) > 100
    assert (quits["pay_after"] > quits["pay_before"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_job_ladder_steady_state_across_seeds(seed: int) -> None:
    model, pay_levels = _run_ladder(n_labs=1000, researchers=20_000, years=10.0, seed=seed)
    _check_steady_state(model, pay_levels, 20_000)
