"""Benchmark workloads: the flagship scenario scaled to any size, and a plain core-rules market.

``scaled_flagship(n, labs)`` keeps the flagship's structure and every mechanism (colleague
network, fairness, reputation, counter-offers, scheduled and random reorganisations, entries
and retirements): the three case labs keep their roles and shares, the other ``labs − 3`` are
research labs like Frontier with pay levels spread between 1.0 and 1.5; cohort sizes,
capacities and entry rates are scaled so the starting population is ``n``.

``core_market(n, labs)`` is a market that uses only the core rules (what the Mesa reference
implements): pay, mission, stability, attachment, switching cost, capacity, separations,
outside opportunities, entries and retirements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import talentsim as ts

FLAGSHIP = Path(__file__).resolve().parents[1] / "scenarios" / "msl_exodus.toml"
CORE_ONLY = {"peers": False, "fairness": False, "reputation": False, "counter_offers": False}


def scaled_flagship(n: int, labs: int = 20, duration: str = "10y") -> ts.Scenario:
    """The flagship with about ``n`` researchers at the start and ``labs`` labs (>= 3)."""
    if labs < 3:
        raise ValueError("the flagship needs its three labs")
    data: dict[str, Any] = ts.load_scenario(FLAGSHIP).to_dict()
    base = sum(c["size"] for c in data["cohorts"].values())
    extra = labs - 3
    # the added labs share the research lab's role and its share of staff
    frontier_staff = data["cohorts"]["frontier_staff"]["size"]
    total = base + extra * frontier_staff
    scale = n / total
    for cohort in data["cohorts"].values():
        cohort["size"] = max(1, round(cohort["size"] * scale))
        if "entry_rate" in cohort:
            per_year = float(cohort["entry_rate"].split("/")[0])
            cohort["entry_rate"] = f"{per_year * scale:.6g}/year"
    for lab in data["labs"].values():
        if "capacity" in lab:
            lab["capacity"] = max(1, round(lab["capacity"] * scale))
    template = data["labs"]["Frontier"]
    for j in range(extra):
        name = f"Lab{j + 4:02d}"
        data["labs"][name] = {
            **template,
            "pay_level": 1.0 + 0.5 * j / max(1, extra - 1),
            "orientation": 0.3 + 0.6 * j / max(1, extra - 1),
        }
        data["cohorts"][f"{name}_staff"] = {
            **data["cohorts"]["frontier_staff"],
            "lab": name,
        }
    data["time"]["duration"] = duration
    data["name"] = f"msl_exodus_x{n}_{labs}labs"
    return ts.Scenario.from_dict(data, source="scaled_flagship")


def core_market(n: int, labs: int = 5, duration: str = "1y") -> ts.Scenario:
    """A market using only the core rules, ``n`` researchers spread over ``labs`` labs."""
    per_lab = n // (labs + 1)
    return ts.Scenario.from_dict(
        {
            "name": f"core_{n}_{labs}",
            "time": {"step": "1w", "duration": duration},
            "mechanisms": CORE_ONLY,
            "market": {
                "offer_rate_employed": "4/year",
                "offer_rate_outside": "3/year",
                "separation_rate": "0.1/year",
                "noise_scale": 0.5,
                "switching_cost": 0.5,
            },
            "outside": {"opportunity_rate": "1/year", "retirement_rate": "0.05/year"},
            "labs": {
                f"L{j:02d}": {
                    "pay_level": 1.0 + 0.2 * j,
                    "mission_clarity": 0.5,
                    "orientation": j / max(1, labs - 1),
                    "reorg_rate": "1/year",
                }
                for j in range(labs)
            },
            "cohorts": {
                **{
                    f"staff{j:02d}": {
                        "size": per_lab,
                        "lab": f"L{j:02d}",
                        "tenure": "2y",
                        "market_value": {"dist": "lognormal", "median": 1.0, "sigma": 0.3},
                        "orientation": {"dist": "uniform", "low": 0.0, "high": 1.0},
                    }
                    for j in range(labs)
                },
                "pool": {"size": n - labs * per_lab, "lab": "outside"},
            },
        },
        source="core_market",
    )
