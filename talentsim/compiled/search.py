"""On-the-job search effort: the multiple of the employed offer rate a researcher searches at.

One rule on one researcher (called by the step's compiled thinning of offer candidates,
:func:`talentsim.compiled.decisions.offer_effort`, and usable on its own):
:func:`offer_effort`.

References:
    Christensen, B. J., Lentz, R., Mortensen, D. T., Neumann, G. R. and Werwatz, A. (2005).
    "On-the-job search and the wage distribution". Journal of Labor Economics 23(1), 31–58.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always", cache=True)
def offer_effort(
    gap: float,
    turmoil: float,
    gap_sensitivity: float,
    turmoil_sensitivity: float,
    effort_min: float,
    effort_max: float,
) -> float:  # pragma: no cover - compiled
    """Search effort: ``clip(exp(a·gap + b·turmoil), effort_min, effort_max)``.

    An employed researcher receives offers at ``offer_rate_employed × effort``. ``gap`` is how
    much better the market looks than their job (utility units), ``turmoil`` their lab's
    turmoil, ``a`` and ``b`` the scenario's ``search.gap_sensitivity`` and
    ``search.turmoil_sensitivity`` (both 0: effort 1). A NaN exponent gives effort 1.
    """
    exponent = gap_sensitivity * gap + turmoil_sensitivity * turmoil
    if np.isnan(exponent):
        return 1.0
    effort = np.exp(min(exponent, 700.0))
    return min(max(effort, effort_min), effort_max)
