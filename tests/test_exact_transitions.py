"""Each researcher's own moves are exact at any step length (issue 16).

The market here has no interactions: pay-only logit choice with a switching cost, flows to and
from the outside pool (separations, outside opportunities, offers to the pool), no capacity
limits, no network, no raids, no counter-offers, no reputation, fixed weights (one type), no
retirements or entries. A researcher's place is then a continuous-time Markov chain on
{lab A, lab B, lab C, pool} with the generator ``Q`` written out in :func:`generator`, and the
simulation's step must move each researcher by exactly ``expm(Q·dt)`` whatever ``dt``.

Two tests:

1. **One long step** (a quarter, rates of 1–12 a year, so most researchers have several
   candidate events and many move more than once): the places after one step, per starting
   place (10,000 researchers each), against the rows of ``expm(Q·dt)`` with Pearson's
   chi-square (3 degrees of freedom per row, 12 in all) at the 0.1% level. Power: the
   old rule (one event per step, each rate a probability on its own, the opportunity weighed
   only without an accepted offer) gives a chi-square above 1,000 (2,600) on the same counts
   (computed in the test from the old rule's one-step matrix), against a critical value of 33.
2. **The stationary law** at weekly and monthly steps (daily and quarterly too, marked
   slow): the mean share of each place over years 1–10 (40,000 researchers, 2 seeds; 4 seeds
   when slow) against the stationary law of ``Q``. Each share must be within four standard
   errors of its mean (from the spread of half-year batch means over seeds and years; about
   0.03 points with 2 seeds, 0.015 with 4) and within 0.2 percentage points; four standard
   errors must be below 0.2 points, so that it cannot pass for lack of precision. Power: the
   old rule's stationary law (computed in the test) has the pool's share 0.093 points off at
   daily steps, 0.54 at weekly and 0.94 at monthly steps: 6, 18 and 30 standard errors here,
   so a mean shifted by that much fails with probability about 98% at daily steps (slow
   suite, 4 seeds) and above 99.9% at weekly and monthly steps.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.special import expit

import talentsim as ts

LABS = {"A": (1.6, 0.0), "B": (1.3, 0.2), "C": (1.0, 0.1)}  # pay level, amenity
OUTSIDE_RATIO, OUTSIDE_AMENITY = 0.8, 0.3
NOISE, SWITCHING = 0.4, 0.2
SEPARATION, OFFER_EMPLOYED, OFFER_OUTSIDE, OPPORTUNITY = 1.0, 12.0, 8.0, 6.0
POOL = len(LABS)


def scenario(step: str, duration: str, sizes: dict[str, int], **market: float) -> ts.Scenario:
    rates = {
        "separation_rate": SEPARATION,
        "offer_rate_employed": OFFER_EMPLOYED,
        "offer_rate_outside": OFFER_OUTSIDE,
        "opportunity_rate": OPPORTUNITY,
    }
    rates.update(market)
    off = ("mission", "stability", "attachment", "peers", "fairness", "reputation")
    return ts.Scenario.from_dict(
        {
            "name": "no_interactions",
            "time": {"step": step, "duration": duration},
            "mechanisms": {
                "pay": True,
                **{name: False for name in off},
                "counter_offers": False,
                "random_reorganisations": False,
            },
            "market": {
                "offer_rate_employed": f"{rates['offer_rate_employed']}/year",
                "offer_rate_outside": f"{rates['offer_rate_outside']}/year",
                "separation_rate": f"{rates['separation_rate']}/year",
                "noise_scale": NOISE,
                "switching_cost": SWITCHING,
            },
            "outside": {
                "opportunity_rate": f"{rates['opportunity_rate']}/year",
                "retirement_rate": "0/year",
                "pay_ratio": OUTSIDE_RATIO,
                "amenity": OUTSIDE_AMENITY,
            },
            "labs": {
                name: {"pay_level": pay, "amenity": amenity, "mission_clarity": 0.0}
                for name, (pay, amenity) in LABS.items()
            },
            "cohorts": {
                f"at_{place}": {"size": size, "lab": place, "weights": {"pay": 1.0}}
                for place, size in sizes.items()
            },
        }
    )


def _parts(rates: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lab-to-lab accept matrix × offer share, exit acceptance, pool acceptance, offer share)."""
    pay = np.array([p for p, _ in LABS.values()])
    value = np.log(pay) + np.array([a for _, a in LABS.values()])
    at_pool = np.log(OUTSIDE_RATIO) + OUTSIDE_AMENITY
    n = len(LABS)
    share = np.full((n, n), 1.0 / (n - 1))  # equal recruiting intensity, never one's own lab
    np.fill_diagonal(share, 0.0)
    lab_to_lab = share * expit((value[None, :] - value[:, None] - SWITCHING) / NOISE)
    leave = expit((at_pool - value) / NOISE)
    from_pool = expit((value - at_pool) / NOISE) / n
    return lab_to_lab, leave, from_pool, share


def generator(**market: float) -> np.ndarray:
    """The continuous-time generator over (A, B, C, pool), rates per year."""
    rates = {"sep": SEPARATION, "emp": OFFER_EMPLOYED, "out": OFFER_OUTSIDE, "opp": OPPORTUNITY}
    rates.update(market)
    lab_to_lab, leave, from_pool, _ = _parts(rates)
    q = np.zeros((POOL + 1, POOL + 1))
    q[:POOL, :POOL] = rates["emp"] * lab_to_lab
    q[:POOL, POOL] = rates["sep"] + rates["opp"] * leave
    q[POOL, :POOL] = rates["out"] * from_pool
    q[np.diag_indices_from(q)] = -q.sum(axis=1)
    return q


def old_rule_step(dt: float) -> np.ndarray:
    """The one-step matrix of the rule before issue 16 (at most one event per step).

    Separation with ``1 − e^{−δdt}``; else an offer with ``1 − e^{−λdt}`` (accepted by logit);
    an outside opportunity with ``1 − e^{−ωdt}`` weighed only if no offer was accepted.
    """
    lab_to_lab, leave, from_pool, _ = _parts({})
    p_sep, p_emp, p_out, p_opp = (
        -np.expm1(-rate * dt) for rate in (SEPARATION, OFFER_EMPLOYED, OFFER_OUTSIDE, OPPORTUNITY)
    )
    p = np.zeros((POOL + 1, POOL + 1))
    moved = p_emp * lab_to_lab
    p[:POOL, :POOL] = (1 - p_sep) * moved
    p[:POOL, POOL] = p_sep + (1 - p_sep) * (1 - moved.sum(axis=1)) * p_opp * leave
    p[POOL, :POOL] = p_out * from_pool
    p[np.diag_indices_from(p)] = 1 - p.sum(axis=1)
    return p


def stationary(matrix: np.ndarray, generator_form: bool) -> np.ndarray:
    """The stationary law of a generator (``πQ = 0``) or of a step matrix (``πP = π``)."""
    a = matrix if generator_form else matrix - np.eye(matrix.shape[0])
    system = np.vstack([a.T, np.ones(a.shape[0])])  # πA = 0 and Σπ = 1
    target = np.zeros(a.shape[0] + 1)
    target[-1] = 1.0
    return np.linalg.lstsq(system, target, rcond=None)[0]


def _places_after_one_step(step: str, per_place: int, seed: int) -> np.ndarray:
    sizes = {name: per_place for name in (*LABS, "outside")}
    model = ts.TalentModel(scenario(step, step, sizes), seed=seed)
    start = model.population.view("location").copy()
    model.step()
    end = model.population.view("location")
    counts = np.zeros((POOL + 1, POOL + 1))
    np.add.at(counts, (start, end), 1)
    return counts, model


def _chi_square(counts: np.ndarray, probabilities: np.ndarray) -> float:
    expected = counts.sum(axis=1, keepdims=True) * probabilities
    keep = expected > 0
    return float((((counts - expected) ** 2)[keep] / expected[keep]).sum())


def test_one_quarterly_step_moves_each_researcher_by_expm() -> None:
    counts, model = _places_after_one_step("3mo", per_place=10_000, seed=5)
    dt = model.dt
    exact = expm(generator() * dt)
    chi2 = _chi_square(counts, exact)
    # 12 degrees of freedom (4 rows of 4 places); 0.1% critical value 32.9
    assert chi2 < 32.9, (chi2, counts / counts.sum(axis=1, keepdims=True), exact)
    # the old rule would be rejected by far on the same counts
    assert _chi_square(counts, old_rule_step(dt)) > 1_000  # (2,600 measured)
    # several moves per researcher in one step really happen
    log = model.move_log()
    moves_each = np.bincount(log["researcher"], minlength=model.population.size)
    assert (moves_each >= 2).sum() > 1_000
    assert (moves_each >= 3).sum() > 100


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22, 23])
def test_one_long_step_matches_expm_across_seeds_and_lengths(seed: int) -> None:
    for step in ("1mo", "6mo", "1y"):
        counts, model = _places_after_one_step(step, per_place=20_000, seed=seed)
        chi2 = _chi_square(counts, expm(generator() * model.dt))
        assert chi2 < 32.9, (step, chi2)


def _mean_shares(step: str, seed: int, researchers: int, years: float) -> np.ndarray:
    """Half-year batch means of each place's share, after a year's burn-in.

    The chain relaxes in weeks (total rates of 8–19 a year), so a year forgets the start and
    half-year batches are nearly independent.
    """
    per_place = researchers // (POOL + 1)
    sizes = {name: per_place for name in (*LABS, "outside")}
    model = ts.TalentModel(scenario(step, f"{years}y", sizes), seed=seed)
    model.run()
    history = model.headcount_history  # (steps + 1, places)
    time = np.arange(history.shape[0]) * model.dt
    batches = []
    for start in np.arange(1.0, years - 0.25, 0.5):
        rows = (time > start + 1e-9) & (time <= start + 0.5 + 1e-9)
        batches.append(history[rows].mean(axis=0) / history[0].sum())
    return np.array(batches)


TOLERANCE = 0.002  # 0.2 percentage points on every share


def _check_stationary(step: str, seeds: tuple[int, ...], researchers: int, years: float) -> None:
    law = stationary(generator(), generator_form=True)
    batches = np.concatenate([_mean_shares(step, s, researchers, years) for s in seeds])
    mean = batches.mean(axis=0)
    se = batches.std(axis=0, ddof=1) / np.sqrt(batches.shape[0])
    assert (4 * se < TOLERANCE).all(), se  # precise enough to detect a shift of the tolerance
    # within sampling error: 4 standard errors per share (two-sided 6e-5 each), and the
    # tolerance besides
    assert (np.abs(mean - law) < 4 * se).all(), (step, mean, law, se)
    assert np.abs(mean - law).max() < TOLERANCE, (step, mean, law, se)


@pytest.mark.parametrize("step", ["1w", "1mo"])
def test_stationary_law_does_not_depend_on_the_step(step: str) -> None:
    _check_stationary(step, seeds=(1, 2), researchers=40_000, years=10.0)


@pytest.mark.slow
@pytest.mark.parametrize("step", ["1d", "1w", "1mo", "3mo"])
def test_stationary_law_does_not_depend_on_the_step_more_seeds(step: str) -> None:
    _check_stationary(step, seeds=(11, 12, 13, 14), researchers=40_000, years=10.0)


def test_the_old_rule_would_fail_the_stationary_test() -> None:
    """The test's power: the old rule's stationary law is off by several tolerances."""
    law = stationary(generator(), generator_form=True)
    weekly = stationary(old_rule_step(7 / 365.25), generator_form=False)
    monthly = stationary(old_rule_step(1 / 12), generator_form=False)
    daily = stationary(old_rule_step(1 / 365.25), generator_form=False)
    assert abs(weekly[POOL] - law[POOL]) > 2.5 * TOLERANCE  # 0.54 points
    assert abs(monthly[POOL] - law[POOL]) > 4.5 * TOLERANCE  # 0.94 points
    # daily: within the tolerance, but 6 standard errors of the slow suite's 4 seeds
    assert abs(daily[POOL] - law[POOL]) > 0.0009  # 0.093 points


def test_meanfield_steps_follow_expm_of_the_generator() -> None:
    """The mean-field solver's discrete mode takes each step as ``expm(Q·dt)`` (scipy's)."""
    from talentsim.mean_field import meanfield

    sizes = {name: 1_000 for name in (*LABS, "outside")}
    for step in ("1w", "3mo"):
        spec = scenario(step, "1y", sizes)
        table = meanfield(spec, method="steps").headcounts().to_numpy()  # (steps + 1, places)
        one_step = expm(generator() * spec.time.step)
        expected = [table[0]]
        for _ in range(table.shape[0] - 1):
            expected.append(expected[-1] @ one_step)
        np.testing.assert_allclose(table, np.array(expected), rtol=1e-9, atol=1e-7)
        # the old rule's steps differ visibly (the test can fail)
        assert (
            np.abs(
                table[-1]
                - table[0]
                @ np.linalg.matrix_power(old_rule_step(spec.time.step), table.shape[0] - 1)
            ).max()
            > 1.0
        )
