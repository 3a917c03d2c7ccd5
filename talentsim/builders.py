"""Scenarios built in code, for settings too large or regular to write by hand.

References:
    Burdett, K. & Mortensen, D. T. (1998). Wage differentials, employer size, and
    unemployment. *International Economic Review* 39(2), 257–273.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from talentsim.scenario import Scenario
from talentsim.units import format_per_year, format_years


def job_ladder(
    pay_levels: Sequence[float],
    *,
    researchers: int,
    offer_rate_outside: float,
    offer_rate_employed: float,
    separation_rate: float,
    outside_pay_ratio: float | None = None,
    step_years: float = 7 / 365.25,
    duration_years: float = 10.0,
    name: str = "job_ladder",
) -> Scenario:
    """The classic on-the-job-search economy as a talentsim scenario.

    Many labs, each posting one pay level; pay-only preferences (weight 1 on log pay, every
    other term off); noiseless choice; no switching cost; unlimited capacity; equal recruiting
    intensity, so an offer's pay is a draw from the pay levels. Researchers start in the
    outside pool and are hired at ``offer_rate_outside`` (λ0), receive offers on the job at
    ``offer_rate_employed`` (λ1), and are separated at ``separation_rate`` (δ). This is the
    Burdett–Mortensen (1998) job ladder, whose steady state is known in closed form: the
    share out of work is ``δ / (δ + λ0)`` and the pay distribution across employed researchers
    is ``G(w) = δ·F(w) / (δ + λ1·(1 − F(w)))`` for the offer distribution ``F``.

    Args:
        pay_levels: One pay level per lab (> 0); labs are named ``L0000``, ``L0001``, ...
        researchers: Researchers, all starting in the outside pool.
        offer_rate_outside: λ0, offers per year to the pool.
        offer_rate_employed: λ1, offers per year on the job.
        separation_rate: δ, separations per year.
        outside_pay_ratio: Pay out of work (default: half the lowest pay level, so every
            offer is accepted from the pool).
        step_years: Step length in years.
        duration_years: Run length in years.
        name: Scenario name.
    """
    if len(pay_levels) == 0:
        raise ValueError("job_ladder needs at least one pay level")
    width = max(4, len(str(len(pay_levels) - 1)))
    labs: dict[str, Any] = {
        f"L{j:0{width}d}": {"pay_level": float(level), "mission_clarity": 0.0}
        for j, level in enumerate(pay_levels)
    }
    ratio = 0.5 * min(pay_levels) if outside_pay_ratio is None else outside_pay_ratio
    data: dict[str, Any] = {
        "name": name,
        "description": "On-the-job search economy (Burdett & Mortensen 1998).",
        "time": {"step": format_years(step_years), "duration": format_years(duration_years)},
        "mechanisms": {
            "pay": True,
            "mission": False,
            "stability": False,
            "attachment": False,
            "peers": False,
            "fairness": False,
            "reputation": False,
            "counter_offers": False,
            "random_reorganisations": False,
        },
        "market": {
            "offer_rate_employed": format_per_year(offer_rate_employed),
            "offer_rate_outside": format_per_year(offer_rate_outside),
            "separation_rate": format_per_year(separation_rate),
            "noise_scale": 0.0,
            "switching_cost": 0.0,
        },
        "outside": {
            "opportunity_rate": "0/year",
            "pay_ratio": ratio,
            "amenity": 0.0,
            "retirement_rate": "0/year",
        },
        "labs": labs,
        "cohorts": {"workers": {"size": researchers, "lab": "outside"}},
    }
    return Scenario.from_dict(data, source=name)
