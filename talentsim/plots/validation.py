"""Figures of the validation against theory (docs/validation.md, ``examples/validate.py``).

Each function draws the ``details`` of one :class:`talentsim.validation.Check`: the simulation
beside the closed form or the mean-field equations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from talentsim.plots.style import OKABE_ITO, OUTSIDE_COLOUR, styled
from talentsim.validation import Check


def _colours(n: int) -> list[str]:
    """Colours of ``n`` places: the labs in palette order, the outside pool (last) in grey."""
    return [*OKABE_ITO[: n - 1], OUTSIDE_COLOUR]


@styled
def validation_shares(check: Check, labs: Sequence[str]) -> Figure:
    """Stationary shares per lab: closed form, mean field and simulation with a 95% interval.

    Args:
        check: The ``stationary_shares`` check of :mod:`talentsim.validation`.
        labs: The labs' names, in the order of the check's shares.
    """
    d = check.details
    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(labs))
    ax.bar(x - 0.25, d["theory"], 0.25, label="closed form", color="#BBBBBB")
    ax.bar(x, d["meanfield"], 0.25, label="mean field", color=OKABE_ITO[0])
    half = 1.96 * d["se"]
    ax.bar(
        x + 0.25,
        d["simulation"],
        0.25,
        yerr=half,
        capsize=3,
        label="simulation (95% CI)",
        color=OKABE_ITO[1],
    )
    ax.set_xticks(x, list(labs))
    ax.set_ylabel("stationary share of researchers")
    ax.set_title(f"Logit switching: shares ({d['replicates']} replicates)")
    ax.legend(frameon=False)
    return fig


@styled
def validation_trajectories(check: Check, places: Sequence[str]) -> Figure:
    """Headcount per place over time: the simulation's 95% band and the mean field's line.

    Args:
        check: The ``trajectories`` check of :mod:`talentsim.validation` (reorganisations of
            the first lab at 1 and 2 years, marked by dotted lines).
        places: The places' names, in the order of the check's columns, the outside pool last.
    """
    d = check.details
    fig = Figure(figsize=(7, 3.8))
    ax = fig.add_subplot()
    t = d["time"]
    for p, (place, colour) in enumerate(zip(places, _colours(len(places)), strict=True)):
        mean, se = d["mean"][:, p], d["se"][:, p]
        ax.fill_between(t, mean - 1.96 * se, mean + 1.96 * se, color=colour, alpha=0.3, lw=0)
        ax.plot(t, d["expected"][:, p], color=colour, lw=1.2, label=f"{place}: mean field")
    for at in (1, 2):
        ax.axvline(at, color="k", ls=":", lw=0.8)
    ax.set_xlabel("time (years); dotted: reorganisations of A")
    ax.set_ylabel("researchers")
    ax.set_title("Headcount: simulation 95% band (shaded) and mean field (line)")
    ax.legend(frameon=False, fontsize=8, ncols=2)
    return fig


@styled
def validation_convergence(rows: Sequence[tuple[str, float, float]]) -> Figure:
    """Error of the discrete-time expectation against the step length, on log-log axes.

    Args:
        rows: ``(step, dt in years, mean |discrete − continuous| / population)`` per step
            length, shortest first (the slope-1 reference line starts at the first).
    """
    fig = Figure(figsize=(5, 3.4))
    ax = fig.add_subplot()
    dt = np.array([r[1] for r in rows]) * 365.25
    error = np.array([r[2] for r in rows])
    ax.loglog(dt, error, "o-", color=OKABE_ITO[0], label="discrete-time expectation")
    ax.loglog(dt, error[0] * dt / dt[0], "--", color="#999999", label="slope 1 (first order)")
    for (step, _, e), x in zip(rows, dt, strict=True):
        ax.annotate(step, (x, e), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlabel("step length (days)")
    ax.set_ylabel("mean |E[headcount] − ODE| / population")
    ax.set_title("Convergence in the step length")
    ax.legend(frameon=False)
    return fig


@styled
def validation_relaxation(check: Check) -> Figure:
    """A lab's headcount after a permanent pay cut at 1 year: simulation and mean field.

    Args:
        check: The ``relaxation`` check of :mod:`talentsim.validation`; a dotted line marks
            1 + τ, the mean field's relaxation time after the cut.
    """
    d = check.details
    fig = Figure(figsize=(6, 3.4))
    ax = fig.add_subplot()
    ax.plot(d["time"], d["mean"], color=OKABE_ITO[1], lw=1, label="simulation (mean)")
    ax.plot(d["time"], d["mf"], color=OKABE_ITO[0], lw=1.5, ls="--", label="mean field")
    ax.axvline(1.0, color="k", ls=":", lw=0.8)
    ax.axvline(1.0 + d["tau_meanfield"], color=OKABE_ITO[0], ls=":", lw=0.8)
    ax.set_xlabel("time (years); pay cut at 1 year, dotted blue: 1 + τ (mean field)")
    ax.set_ylabel("researchers at A")
    ax.set_title("Relaxation after a permanent pay cut")
    ax.legend(frameon=False)
    return fig
