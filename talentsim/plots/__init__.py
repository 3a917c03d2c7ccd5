"""Figures for papers: functions that take results and return matplotlib figures.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing is
shown, no backend is chosen and no global state changes; save it with
``fig.savefig("headcount.png", dpi=300)`` or show it in a notebook. Each figure labels its
axes with units, states the number of runs and the confidence level of its bands, and uses the
Okabe–Ito colour-blind-safe palette, one fixed colour per lab (by its place in the scenario's
list of labs)::

    import talentsim as ts
    from talentsim import plots

    runs = list(ts.replicates("scenarios/msl_exodus.toml", 20))
    plots.headcount(runs).savefig("headcount.png", dpi=300)
    plots.tenure_survival(runs, labs=["MSL"]).savefig("survival.png", dpi=300)

One module per family, all re-exported here: :mod:`~talentsim.plots.run` (single runs and
replicates), :mod:`~talentsim.plots.sweep` (sweeps and sensitivity),
:mod:`~talentsim.plots.comparison` (paired comparisons), :mod:`~talentsim.plots.calibration`
(calibrations), :mod:`~talentsim.plots.validation`
(the validation against theory), and :mod:`~talentsim.plots.style`, the palettes, sizes and
helpers they share.

=================================  ====================================================
Function                           Draws
=================================  ====================================================
:func:`headcount`                  headcount per lab over time, t bands over replicates
:func:`retention`                  share of a lab's starting staff still there, per variant
:func:`offer_acceptance`           share of a lab's offers accepted (moving window), per variant
:func:`flows`                      moves between labs, the pool and the field (a flow matrix)
:func:`tenure_survival`            Kaplan–Meier survival of spells at a lab, by lab and cohort
:func:`exit_reasons`               departures by main reason, by lab and cohort (stacked bars)
:func:`sweep_heatmap`              two swept parameters → replicate means of an outcome
:func:`sweep_line`                 one swept parameter → replicate means with t intervals
:func:`sweep_headcount`            a lab's headcount over time at each point of a sweep
:func:`sensitivity_bars`           Sobol (S1, ST) or Morris (μ*, σ) indices with intervals
:func:`comparison_effects`         paired effects of variants with t intervals
:func:`calibration_fit`            each target's allowed range beside the fitted simulation
:func:`calibration_trace`          SMM: the candidates simulated, in order, and best Q
:func:`posterior_marginals`        ABC: weighted posterior histograms over the prior range
:func:`posterior_pairs`            ABC: pairwise scatter of the weighted posterior
:func:`validation_shares`          stationary shares: closed form, mean field, simulation
:func:`validation_trajectories`    headcounts: simulation band against the mean field
:func:`validation_convergence`     discretisation error against the step length (log-log)
:func:`validation_relaxation`      relaxation after a pay cut: simulation and mean field
=================================  ====================================================

Bad input (an unknown lab or column, no data) raises :class:`ValueError` naming the function
and what was expected.

References:
    Okabe, M. & Ito, K. (2008). Color Universal Design (CUD): how to make figures and
    presentations that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
    The survival figures' references (Kaplan & Meier 1958; Kalbfleisch & Prentice 2002) are
    in :mod:`talentsim.plots.run`.
"""

from talentsim.plots.calibration import (
    calibration_fit,
    calibration_trace,
    posterior_marginals,
    posterior_pairs,
)
from talentsim.plots.comparison import MAX_PANELS, comparison_effects, headline_metrics
from talentsim.plots.run import (
    ARRIVAL_KINDS,
    ENTERED,
    LEFT_FIELD,
    exit_reasons,
    flow_matrix,
    flows,
    headcount,
    kaplan_meier,
    offer_acceptance,
    retention,
    tenure_spells,
    tenure_survival,
)
from talentsim.plots.style import (
    COUNT_METRICS,
    OKABE_ITO,
    OUTSIDE_COLOUR,
    SHARE_METRICS,
    STYLE,
    TICK_SIZE,
    TOL_BRIGHT,
    Results,
    Variants,
    lab_colour,
    mean_band,
    metric_title,
    parameter_label,
    parameter_unit,
    text_colour_on,
    time_unit,
)
from talentsim.plots.sweep import sensitivity_bars, sweep_headcount, sweep_heatmap, sweep_line
from talentsim.plots.validation import (
    validation_convergence,
    validation_relaxation,
    validation_shares,
    validation_trajectories,
)

__all__ = [
    "ARRIVAL_KINDS",
    "COUNT_METRICS",
    "ENTERED",
    "LEFT_FIELD",
    "MAX_PANELS",
    "OKABE_ITO",
    "OUTSIDE_COLOUR",
    "SHARE_METRICS",
    "STYLE",
    "TICK_SIZE",
    "TOL_BRIGHT",
    "Results",
    "Variants",
    "calibration_fit",
    "calibration_trace",
    "comparison_effects",
    "exit_reasons",
    "flow_matrix",
    "flows",
    "headcount",
    "headline_metrics",
    "kaplan_meier",
    "lab_colour",
    "mean_band",
    "metric_title",
    "offer_acceptance",
    "parameter_label",
    "parameter_unit",
    "posterior_marginals",
    "posterior_pairs",
    "retention",
    "sensitivity_bars",
    "sweep_headcount",
    "sweep_heatmap",
    "sweep_line",
    "tenure_spells",
    "tenure_survival",
    "text_colour_on",
    "time_unit",
    "validation_convergence",
    "validation_relaxation",
    "validation_shares",
    "validation_trajectories",
]
