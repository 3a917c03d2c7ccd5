"""Units of time for rates and durations in scenario files.

Internally every duration is a float number of **years** and every rate a float number of
events **per year**. Scenario files always carry units, so that a number never silently means
"per step": ``"4/year"``, ``"0.5/month"``, ``"6w"``, ``"2mo"``, ``"1y"``, ``"3d"``.

A year is 365.25 days, a month a twelfth of a year and a week seven days.
"""

from __future__ import annotations

import math
import re

import numpy as np

DAYS_PER_YEAR = 365.25

#: Length of each unit in years, keyed by every spelling accepted in a scenario file.
UNIT_YEARS: dict[str, float] = {
    "d": 1.0 / DAYS_PER_YEAR,
    "day": 1.0 / DAYS_PER_YEAR,
    "days": 1.0 / DAYS_PER_YEAR,
    "w": 7.0 / DAYS_PER_YEAR,
    "wk": 7.0 / DAYS_PER_YEAR,
    "week": 7.0 / DAYS_PER_YEAR,
    "weeks": 7.0 / DAYS_PER_YEAR,
    "mo": 1.0 / 12.0,
    "month": 1.0 / 12.0,
    "months": 1.0 / 12.0,
    "y": 1.0,
    "yr": 1.0,
    "year": 1.0,
    "years": 1.0,
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
# (ASCII: "٣/year" or a full-width digit is not a number a reader of the file can check)
_DURATION_RE = re.compile(rf"^\s*(?P<value>{_NUMBER})\s*(?P<unit>[a-zA-Z]+)\s*$", re.ASCII)
_RATE_RE = re.compile(rf"^\s*(?P<value>{_NUMBER})\s*/\s*(?P<unit>[a-zA-Z]+)\s*$", re.ASCII)

_UNIT_HELP = "units: d, w, mo, y (or day, week, month, year)"


def parse_duration(text: object) -> float:
    """Parse a duration such as ``"6w"`` or ``"2 months"`` into years.

    Args:
        text: The duration as written in a scenario file.

    Returns:
        The duration in years (non-negative).

    Raises:
        ValueError: If the text is not a non-negative number followed by a known unit.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        if isinstance(text, int | float) and not isinstance(text, bool) and text == 0:
            return 0.0
        raise ValueError(f"expected a duration with units such as '6w' or '2mo' ({_UNIT_HELP})")
    match = _DURATION_RE.match(text)
    if match is None or match["unit"].lower() not in UNIT_YEARS:
        raise ValueError(
            f"expected a duration with units such as '6w' or '2mo' ({_UNIT_HELP}), got {text!r}"
        )
    value = float(match["value"])
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a duration must be finite and non-negative, got {text!r}")
    return value * UNIT_YEARS[match["unit"].lower()]


def duration_years(value: object) -> float:
    """A duration given in Python: text with units (``"8w"``) or a finite number of years.

    Raises:
        ValueError: for anything else (a number's sign is the caller's to check).
    """
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a duration such as '8w' or years, got {value!r}")
    return float(value)


def parse_rate(text: object) -> float:
    """Parse a rate such as ``"4/year"`` or ``"0.5/month"`` into events per year.

    Args:
        text: The rate as written in a scenario file. The number 0 is accepted without units.

    Returns:
        The rate per year (non-negative).

    Raises:
        ValueError: If the text is not a non-negative number, a slash and a known unit.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        if isinstance(text, int | float) and not isinstance(text, bool) and text == 0:
            return 0.0
        raise ValueError(
            f"expected a rate with units such as '4/year' or '0.5/month' ({_UNIT_HELP})"
        )
    match = _RATE_RE.match(text)
    if match is None or match["unit"].lower() not in UNIT_YEARS:
        raise ValueError(
            f"expected a rate with units such as '4/year' or '0.5/month' ({_UNIT_HELP}), "
            f"got {text!r}"
        )
    value = float(match["value"])
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a rate must be finite and non-negative, got {text!r}")
    return value / UNIT_YEARS[match["unit"].lower()]


def format_years(years: float) -> str:
    """Write a duration in years back in scenario-file form, exactly.

    In the most readable unit that reads back to the same float: ``"1w"`` rather than
    ``"0.019164955509924708y"``, ``"6mo"``, ``"2y"``; else in years with every digit.
    """
    for unit in ("y", "mo", "w", "d") if math.isfinite(years) else ():
        text = f"{years / UNIT_YEARS[unit]:.12g}{unit}"
        if parse_duration(text) == years:
            return text
    return f"{years!r}y"


def format_per_year(rate: float) -> str:
    """Write a rate per year back in scenario-file form, exactly.

    As for :func:`format_years`: ``"4/year"``, ``"1/month"``, ``"2/week"`` where that reads
    back to the same float, else per year with every digit.
    """
    for unit in ("year", "month", "week", "day") if math.isfinite(rate) else ():
        text = f"{rate * UNIT_YEARS[unit]:.12g}/{unit}"
        if parse_rate(text) == rate:
            return text
    return f"{rate!r}/year"


def rate_to_probability(rate_per_year: float | np.ndarray, dt_years: float) -> np.ndarray:
    """Probability that a Poisson process of the given rate fires at least once in a step.

    ``p = 1 - exp(-rate * dt)``, so results do not depend on the step length beyond
    discretisation error. Works on floats and NumPy arrays.
    """
    return -np.expm1(-np.asarray(rate_per_year, dtype=float) * dt_years)


def half_life_factor(half_life_years: float, dt_years: float) -> float:
    """Multiplicative decay over one step for a quantity with the given half-life.

    A half-life of 0 means instant decay (factor 0); an infinite one means no decay.
    """
    if half_life_years <= 0:
        return 0.0
    if math.isinf(half_life_years):
        return 1.0
    return math.exp(-math.log(2.0) * dt_years / half_life_years)
