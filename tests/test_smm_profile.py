"""Profile (distance-metric) confidence intervals of SMM fits (talentsim.smm.profile).

Checked against intervals solved by hand: on linear moment functions the efficient criterion
is quadratic, so the profile interval is θ̃_k ± √(χ²₁(0.95) · [(G'Ω⁻¹G)⁻¹]_kk), where θ̃ is
its minimum; at a bound the interval is cut there; a criterion with two wells gives a set
that is not an interval, and says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

import talentsim as ts
from talentsim.smm import Parameter, profile, profile_criterion, profile_interval
from talentsim.targets import Source, Target
from tests.test_smm import RATE, TINY, fit_tiny, noisy_targets

SOURCE = Source(citation="synthetic", measures="linear moments of two parameters")
CHI2 = float(stats.chi2.ppf(0.95, 1))
OFFER = Parameter("market.offer_rate_employed", 0.5, 5.0, unit="/year")


def first(result: ts.RunResult) -> float:
    return result.scenario.market.separation_rate


def both(result: ts.RunResult) -> float:
    return result.scenario.market.separation_rate + result.scenario.market.offer_rate_employed


def second(result: ts.RunResult) -> float:
    return result.scenario.market.offer_rate_employed


G = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # (m1, m2, m3) = G (separation, offers)
OBSERVED = np.array([0.4, 2.6, 2.0])
SIGMA = np.array([0.05, 0.2, 0.3])


def linear_targets() -> list[Target]:
    return [
        Target(name=name, statistic=statistic, observed=value, se=se, source=SOURCE)
        for name, statistic, value, se in zip(
            ("m1", "m2", "m3"), (first, both, second), OBSERVED, SIGMA, strict=True
        )
    ]


def test_profile_on_linear_moments_is_the_interval_solved_by_hand() -> None:
    # No simulation noise: Ω = diag(σ²), C(θ) = (Gθ − m)'Ω⁻¹(Gθ − m), minimised at the GLS
    # estimate; the profile over the other parameter is exact, so the interval is
    # θ̃_k ± √(χ² · V_kk) with V = (G'Ω⁻¹G)⁻¹, up to the linear interpolation of D between
    # grid values.
    weight = np.diag(1 / SIGMA**2)
    V = np.linalg.inv(G.T @ weight @ G)
    theta = V @ G.T @ weight @ OBSERVED
    parameters = [RATE, OFFER]
    for k, parameter in enumerate(parameters):
        found = profile(
            TINY,
            linear_targets(),
            parameters,
            theta,
            parameter.path,
            replicates=2,
            se_replicates=4,
            points=21,
            maxiter=100,
        )
        # exactly the interval read from the exact profile on the same grid (the estimate is
        # a grid value, so the grid's least criterion is the minimum) ...
        grid = found.table["value"].to_numpy()
        exact = (grid - theta[k]) ** 2 / V[k, k] + found.minimum
        expected = profile_interval(grid, exact, 0.95)
        assert found.low == pytest.approx(expected.low, abs=1e-4)
        assert found.high == pytest.approx(expected.high, abs=1e-4)
        # ... which is the continuous interval to within the grid's spacing
        # ... which is the continuous interval to within the gap that holds each end: the
        # spacing of the 21 grid values halved by the 3 refinements (at both ends)
        half = math.sqrt(CHI2 * V[k, k])
        gap = (parameter.high - parameter.low) / 20 / 2**3
        for end, exact_end in ((found.low, theta[k] - half), (found.high, theta[k] + half)):
            assert grid[grid <= end].max() >= end - gap - 1e-12
            assert grid[grid >= end].min() <= end + gap + 1e-12
            assert abs(end - exact_end) < gap
        assert not (found.closed_low or found.closed_high or found.disjoint)
        residual = G @ theta - OBSERVED
        assert found.minimum == pytest.approx(float(residual @ weight @ residual), abs=1e-3)
        assert found.used == ["m1", "m2", "m3"]
        # the other parameter follows its conditional minimum along the profile
        other = parameters[1 - k].path
        row = found.table.iloc[int(np.argmin(np.abs(found.table["value"] - theta[k])))]
        assert row[other] == pytest.approx(theta[1 - k], abs=2e-3)
        assert (found.table["distance"] >= 0).all() and found.table["distance"].min() == 0


def test_profile_matches_the_efficient_wald_interval_with_simulation_noise() -> None:
    # m̄_R(θ) = Gθ + c with c the common runs' mean noise (tests/test_smm.py): the efficient
    # criterion is quadratic in θ with Hessian G'Ω⁻¹G, so its profile interval is the
    # efficient fit's Wald interval, centred on its estimate.
    targets = noisy_targets(0.02, 0.03)
    fitted = fit_tiny(targets, replicates=2, se_replicates=12, weighting="efficient")
    found = profile(
        TINY,
        targets,
        [RATE],
        fitted.estimate,
        RATE.path,
        replicates=2,
        se_replicates=12,
        points=191,
    )
    wald = fitted.confidence_intervals().iloc[0]
    assert found.low == pytest.approx(wald["low"], abs=2e-3)
    assert found.high == pytest.approx(wald["high"], abs=2e-3)


def test_profile_is_cut_at_a_bound_the_data_do_not_exclude() -> None:
    # observed (0.06, 0.12): the estimate 0.06 is 0.01 above the bound 0.05, and the
    # interval reaches it: closed there, its other end as solved by hand.
    targets = [
        Target(name="m1", statistic=first, observed=0.06, se=0.1, source=SOURCE),
        Target(name="m2", statistic=lambda r: 2 * first(r), observed=0.12, se=0.2, source=SOURCE),
    ]
    found = profile(TINY, targets, [RATE], [0.06], RATE.path, replicates=2, points=96)
    assert found.closed_low and found.low == RATE.low and not found.closed_high
    assert found.high == pytest.approx(0.06 + math.sqrt(CHI2 / 200), abs=1e-3)


def test_a_criterion_with_two_wells_gives_a_set_that_is_not_an_interval() -> None:
    grid = np.linspace(0.0, 1.0, 101)
    values = np.minimum(400 * (grid - 0.2) ** 2, 400 * (grid - 0.8) ** 2 + 1.0)
    summary = profile_interval(grid, values, 0.95)
    assert summary.disjoint
    assert summary.low == pytest.approx(0.2 - math.sqrt(CHI2 / 400), abs=1e-3)
    assert summary.high == pytest.approx(0.8 + math.sqrt((CHI2 - 1) / 400), abs=1e-3)


def test_profile_criterion_follows_the_conditional_minimum_of_a_quadratic() -> None:
    # Three coordinates, correlated: min over the others of (θ − μ)'A(θ − μ) at θ_k = v is
    # (v − μ_k)² / (A⁻¹)_kk.
    A = 40 * np.array([[4.0, 1.5, 0.3], [1.5, 2.0, -0.4], [0.3, -0.4, 1.0]])
    mu = np.array([0.4, 0.5, 0.6])

    def criterion(theta: np.ndarray) -> float:
        return float((theta - mu) @ A @ (theta - mu))

    lows, highs = np.full(3, -10.0), np.full(3, 10.0)  # (the others' minima stay inside)
    for k in range(3):
        grid = np.linspace(0.0, 1.5, 31)
        path = profile_criterion(criterion, mu, lows, highs, k, grid, maxiter=400)
        exact = (grid - mu[k]) ** 2 / np.linalg.inv(A)[k, k]
        assert path.values == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "market.no_such"}, "is not one of the parameters"),
        ({"estimate": [0.3, 0.2]}, "2 values for 1 parameters"),
        ({"estimate": [2.0]}, "outside the parameters' bounds"),
        ({"points": 1}, "points must be at least 2"),
        ({"level": 1.0}, "level must be between 0 and 1"),
    ],
)
def test_bad_arguments_are_named(change: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"estimate": [0.3], "path": RATE.path, **change}
    with pytest.raises(ValueError, match=message):
        profile(
            TINY,
            linear_targets()[:1],
            [RATE],
            arguments.pop("estimate"),
            arguments.pop("path"),
            replicates=2,
            **arguments,
        )
