"""A plain, idiomatic Mesa implementation of talentsim's core decision rules.

This is the reference talentsim is measured against (benchmarks/run.py) and a test oracle
(tests/test_reference.py checks that both agree statistically on small scenarios). It is
written the way a Mesa user would write it: one ``Researcher.step()`` per agent, activated in
random order with ``shuffle_do``, agents holding their own state as attributes, a
``DataCollector`` for headcounts. It reads the same scenario files.

The core rules (the terms of talentsim's utility that need no social state): per step of
length dt, an employed researcher is separated with probability p(δ); otherwise receives an
offer with probability p(λ_e) (p(λ_u) in the pool) from a lab drawn in proportion to recruiting
intensity among the labs with room (never their own; one's former lab's offer is made with
probability its ``rehire_rate``) and accepts it with the binary-logit
probability of ``V_offer − switching cost − V_current``, where ``V = w_pay·log(pay) +
w_mission·clarity·(1 − 2|orientation gap|) − w_stability·turmoil + w_attach·attachment·[former
lab] + amenity``; a lab takes at most its free places (counted at the start of the step) in
arrival order. An employed researcher who did not accept an offer meets an outside opportunity
with probability p(ω) and takes it with the logit probability. Researchers in the pool retire
with probability p(ρ); new ones enter at each cohort's rate. Turmoil jumps at scheduled and
random reorganisations and decays with its half-life; attachment builds with tenure and decays.
Here p(r) = 1 − exp(−r·dt).

The social mechanisms (peers, fairness, reputation, counter-offers), any utility term the
registry does not mark ``reference=True`` (:mod:`talentsim.terms`) and the other event kinds
are not implemented: a scenario that uses them is refused, naming them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mesa
import numpy as np

import talentsim as ts
from talentsim.population import draw
from talentsim.scenario import OUTSIDE, Reorganisation
from talentsim.units import half_life_factor, rate_to_probability


def _p(rate: float, dt: float) -> float:
    return float(rate_to_probability(rate, dt))


class Researcher(mesa.Agent):
    """A researcher holding its own state; ``step`` makes this step's decision."""

    def __init__(
        self,
        model: ReferenceModel,
        place: str,
        market_value: float,
        weights: dict[str, float],
        orientation: float,
        former: str | None,
        attachment: float,
        tenure: float,
        pay: float,
    ) -> None:
        super().__init__(model)
        self.place = place
        self.market_value = market_value
        self.weights = weights
        self.orientation = orientation
        self.former = former
        self.attachment = attachment
        self.tenure = tenure
        self.pay = pay
        # pay when leaving the former lab; starting alumni: its pay level × market value
        level = 0.0 if former is None else model.spec.labs[former].pay_level
        self.former_pay = level * market_value

    def utility(self, place: str, pay: float) -> float:
        """Deterministic utility at ``place`` when paid ``pay``."""
        model, w = self.model, self.weights
        on = model.mechanisms.term_on
        value = w["pay"] * math.log(pay) if on("pay") else 0.0
        if place == OUTSIDE:
            return value + model.spec.outside.amenity
        lab = model.lab_info[place]
        if on("mission"):
            alignment = 1.0 - 2.0 * abs(self.orientation - lab["orientation"])
            value += w["mission"] * lab["clarity"] * alignment
        if on("stability"):
            value -= w["stability"] * lab["turmoil"]
        if on("attachment") and place == self.former:
            value += w["attachment"] * self.attachment
        return value + lab["amenity"]

    def accepts(self, gain: float) -> bool:
        """Binary-logit choice with the scenario's noise scale."""
        scale = self.model.spec.market.noise_scale
        if scale == 0:
            return gain > 0
        z = gain / scale
        probability = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
        return self.random.random() < probability

    def step(self) -> None:
        """Separation, or an offer, or an outside opportunity (at most one move)."""
        model = self.model
        employed = self.place != OUTSIDE
        if employed and self.random.random() < model.p_separation:
            model.flows[self.place]["separations"] += 1
            self.move(OUTSIDE, model.spec.outside.pay_ratio * self.market_value)
            return
        p_offer = model.p_offer_employed if employed else model.p_offer_outside
        accepted = False
        if self.random.random() < p_offer:
            lab = model.offering_lab(self.place)
            rehire = model.lab_info[lab]["rehire_rate"] if lab is not None else 1.0
            if lab == self.former and rehire < 1 and self.random.random() >= rehire:
                lab = None  # a lab courts its former staff at rehire_rate × its usual rate
            if lab is not None:
                info = model.lab_info[lab]
                offered = self.offered_pay(lab, info)
                current = self.pay if employed else model.spec.outside.pay_ratio * self.market_value
                switching = model.spec.market.switching_cost if employed else 0.0
                gain = self.utility(lab, offered) - switching - self.utility(self.place, current)
                if self.accepts(gain):
                    accepted = True
                    if model.arrivals[lab] < model.room[lab]:
                        model.arrivals[lab] += 1
                        self.move(lab, offered)
                        return
        if employed and not accepted and self.random.random() < model.p_opportunity:
            outside_pay = model.spec.outside.pay_ratio * self.market_value
            gain = self.utility(OUTSIDE, outside_pay) - self.utility(self.place, self.pay)
            if self.accepts(gain):
                model.flows[self.place]["exits"] += 1
                self.move(OUTSIDE, outside_pay)

    def offered_pay(self, lab: str, info: dict[str, Any]) -> float:
        """What ``lab`` offers: former staff by its return rule, others the new-hire premium."""
        if lab == self.former and info["return_pay"] != "new_hire":
            if info["return_pay"] == "old":
                return self.former_pay
            return info["pay_level"] * (1.0 + info["return_premium"]) * self.market_value
        return info["pay_level"] * (1.0 + info["premium"]) * self.market_value

    def move(self, place: str, pay: float) -> None:
        """Move, recording the flow and the attachment to a lab left."""
        model = self.model
        if self.place != OUTSIDE:
            model.flows[self.place]["departures"] += 1
            if place != OUTSIDE:
                model.flows[self.place]["quits"] += 1
            self.former, self.former_pay = self.place, self.pay
            self.attachment = 1.0 - math.exp(-self.tenure / model.spec.market.attachment_bond_time)
        elif place == self.former:
            self.former, self.attachment = None, 0.0
        if place != OUTSIDE:
            model.flows[place]["hires"] += 1
        self.place, self.pay, self.tenure = place, pay, 0.0


class ReferenceModel(mesa.Model):
    """The reference model: labs as dicts of state, researchers as Mesa agents."""

    def __init__(self, scenario: ts.Scenario | str | Path, seed: int = 0) -> None:
        super().__init__(rng=seed)
        spec = scenario if isinstance(scenario, ts.Scenario) else ts.load_scenario(scenario)
        has_ties = spec.network.degree > 0 or any(
            c.former_colleague_ties for c in spec.cohorts.values()
        )
        ts.terms.refuse(  # every term the reference lacks, by name (talentsim.terms)
            "the Mesa reference",
            {
                term.name: "the reference implements the core rules only"
                for term in ts.terms.all_terms()
                if not term.reference
                and spec.mechanisms.term_on(term.name)
                and (has_ties or not term.uses_ties)
            },
            "switch them off: mechanisms.<term> = false",
        )
        counters = any(lab.counter_offer_probability > 0 for lab in spec.labs.values())
        if spec.mechanisms.counter_offers and counters:
            raise ValueError(
                "the reference implements the core rules only; switch off counter_offers"
            )
        if any(not isinstance(e, Reorganisation) for e in spec.events):
            raise ValueError("the reference implements only reorganisation events")
        self.spec, self.mechanisms = spec, spec.mechanisms
        dt = self.dt = spec.time.step
        market, outside = spec.market, spec.outside
        self.p_separation = _p(market.separation_rate, dt)
        self.p_offer_employed = _p(market.offer_rate_employed, dt)
        self.p_offer_outside = _p(market.offer_rate_outside, dt)
        self.p_opportunity = _p(outside.opportunity_rate, dt)
        self.p_retirement = _p(outside.retirement_rate, dt)
        self.lab_info: dict[str, dict[str, Any]] = {
            name: {
                "pay_level": lab.pay_level,
                "premium": lab.new_hire_premium,
                "return_pay": lab.return_pay,
                "return_premium": lab.return_premium,
                "rehire_rate": lab.rehire_rate,
                "clarity": lab.mission_clarity,
                "orientation": lab.orientation,
                "turmoil": lab.turmoil,
                "decay": half_life_factor(lab.recovery_half_life, dt),
                "capacity": math.inf if lab.capacity is None else lab.capacity,
                "intensity": lab.recruiting_intensity,
                "p_reorg": _p(lab.reorg_rate, dt) if spec.mechanisms.random_reorganisations else 0,
                "severity": lab.reorg_severity,
                "amenity": lab.amenity,
            }
            for name, lab in spec.labs.items()
        }
        self.attachment_decay = half_life_factor(market.attachment_half_life, dt)
        self.schedule_of = {}
        for event in spec.events:
            self.schedule_of.setdefault(round(event.at / dt) + 1, []).append(event)
        self.np_rng = np.random.default_rng(seed)
        for cohort in spec.cohorts.values():
            self.add_researchers(cohort, cohort.size, cohort.lab)
        self.flows: dict[str, dict[str, int]] = {}
        self.retirements = self.entries = 0  # (this step's, as ``flows``)
        self.room: dict[str, float] = {}
        self.hiring: dict[str, bool] = {}
        self.arrivals: dict[str, int] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={
                f"headcount_{name}": (lambda m, n=name: m.count(n))
                for name in [*spec.labs, OUTSIDE]
            }
        )
        self.datacollector.collect(self)

    def add_researchers(self, cohort: Any, count: int, place: str) -> None:
        """Create ``count`` researchers of a cohort at ``place`` (distributions as talentsim)."""
        if count == 0:
            return
        rng = self.np_rng
        values = np.maximum(draw(cohort.market_value, count, rng), 1e-9)
        w = {k: draw(getattr(cohort.weights, k), count, rng) for k in ("pay", "mission")}
        w |= {k: draw(getattr(cohort.weights, k), count, rng) for k in ("stability", "attachment")}
        orientation = np.clip(draw(cohort.orientation, count, rng), 0.0, 1.0)
        for i in range(count):
            if place == OUTSIDE:
                pay = self.spec.outside.pay_ratio * values[i]
            else:
                info = self.spec.labs[place]
                premium = info.new_hire_premium if cohort.hired_at_premium else 0.0
                pay = info.pay_level * (1.0 + premium) * values[i]
            Researcher(
                self,
                place,
                float(values[i]),
                {k: float(v[i]) for k, v in w.items()},
                float(orientation[i]),
                cohort.previous_lab,
                cohort.attachment if cohort.previous_lab else 0.0,
                cohort.tenure if place != OUTSIDE else 0.0,
                float(pay),
            )

    def count(self, place: str) -> int:
        """Researchers at ``place`` now."""
        return sum(1 for agent in self.agents if agent.place == place)

    def offering_lab(self, current: str) -> str | None:
        """A lab with room, drawn in proportion to recruiting intensity, never one's own."""
        names = [n for n in self.lab_info if n != current and self.hiring[n]]
        weights = [self.lab_info[n]["intensity"] for n in names]
        total = sum(weights)
        if total <= 0:
            return None
        return self.random.choices(names, weights=weights)[0]

    def step(self) -> None:
        """Events, every researcher's decision in random order, retirements, entries, clocks."""
        k = self.steps
        for event in self.schedule_of.get(k, ()):
            self.lab_info[event.lab]["turmoil"] += event.severity
        for info in self.lab_info.values():
            if self.random.random() < info["p_reorg"]:
                info["turmoil"] += info["severity"]
        headcount = {name: 0 for name in self.lab_info}
        for agent in self.agents:
            if agent.place != OUTSIDE:
                headcount[agent.place] += 1
        self.room = {n: self.lab_info[n]["capacity"] - headcount[n] for n in self.lab_info}
        self.hiring = {n: self.room[n] >= 1 for n in self.lab_info}
        self.arrivals = dict.fromkeys(self.lab_info, 0)
        kinds = ("hires", "quits", "departures", "separations", "exits")
        self.flows = {n: dict.fromkeys(kinds, 0) for n in self.lab_info}
        self.retirements = self.entries = 0
        self.agents.shuffle_do("step")
        for agent in list(self.agents):
            if agent.place == OUTSIDE and self.random.random() < self.p_retirement:
                agent.remove()
                self.retirements += 1
        for cohort in self.spec.cohorts.values():
            arrivals = int(self.np_rng.poisson(cohort.entry_rate * self.dt))
            self.add_researchers(cohort, arrivals, OUTSIDE)
            self.entries += arrivals
        for agent in self.agents:
            agent.tenure += self.dt
            agent.attachment *= self.attachment_decay
        for info in self.lab_info.values():
            info["turmoil"] *= info["decay"]
        self.datacollector.collect(self)
