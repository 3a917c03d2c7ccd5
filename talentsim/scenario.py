"""Scenario schema, loading and overrides.

A scenario is data: a TOML file (read with the standard library's :mod:`tomllib`) validated
by the pydantic models below, which forbid unknown keys. Nothing in a scenario is executed.
Every problem is reported as a :class:`ScenarioError` naming the file, the key path and what
was expected.

Rates and durations carry units in files (``"4/year"``, ``"6w"``) and are held internally as
floats per year and in years; see :mod:`talentsim.units`.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import reprlib
import stat
import tomllib
import types
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from talentsim import terms
from talentsim._text import ascii_digits
from talentsim.units import format_per_year, format_years, parse_duration, parse_rate
from talentsim.versions import __version__

OUTSIDE = "outside"
"""Reserved name of the outside pool (startups, academia, out of the field)."""

MAX_STEPS = 10_000_000
"""Upper bound on steps in a run, to turn absurd step/duration pairs into clear errors."""

LAB_NAME_PATTERN = r"[^\W\d_](?:[\w\-]| (?=[\w\-]))*"
"""A lab name: a letter (any alphabet), then letters, digits, '_', '-' or single spaces."""

MAX_NAME_LENGTH = 64
"""Longest lab or cohort name (names become column labels and report file names)."""

MAX_COUNT = 2**31 - 1
"""Largest count of people or ties in one key (sizes, ties, offers); far above any run."""

MAX_NESTING = 12
"""Deepest nesting of tables and arrays in a scenario (the schema needs five levels)."""

MAX_FILE_BYTES = 64 * 2**20
"""The largest TOML file read (scenario, sweep, targets, calibration), in bytes: the shipped
ones are a few kilobytes; a device such as ``/dev/zero`` given as one was read until memory
ran out (then a MemoryError traceback)."""

PAY_RANGE = (1e-6, 1e6)
"""Pay levels and the outside pay ratio lie in this range, premiums and counter-offer limits
below its top, so pay stays a finite positive float after every product and ratio (a pay level
of 5e-324 would divide by zero). Checked by validators rather than field bounds, so that the
bounds do not become the ranges of the dashboard's sliders."""


def _pay_in_range(value: float | None, info: ValidationInfo) -> float | None:
    """A field validator: pay multipliers within PAY_RANGE, premiums and limits below its top."""
    if value is None:
        return None
    if info.field_name in ("pay_level", "pay_ratio"):
        if not PAY_RANGE[0] <= value <= PAY_RANGE[1]:
            raise ValueError(
                f"must lie between {PAY_RANGE[0]:g} and {PAY_RANGE[1]:g}, so that pay stays a "
                "finite positive number"
            )
    elif not value <= PAY_RANGE[1]:
        raise ValueError(f"must be at most {PAY_RANGE[1]:g}, so that pay stays a finite number")
    return value


MAX_TURMOIL = 1e6
"""Turmoil and the turmoil an event adds lie below this, so that turmoil stays finite after
every shock of a run (two severities of 1e308 made it infinite, and a zero stability weight
times infinite turmoil is NaN: a lab never accepted again). Checked by validators, as pay."""


def _turmoil_in_range(value: float) -> float:
    """A field validator: turmoil (or the turmoil a shock adds) at most MAX_TURMOIL."""
    if not value <= MAX_TURMOIL:
        raise ValueError(f"must be at most {MAX_TURMOIL:g}, so that turmoil stays finite")
    return value


def _count_in_range(value: int) -> int:
    """A field validator: a count of people or ties far above any run, not an overflow."""
    if value > MAX_COUNT:
        raise ValueError(f"must be at most {MAX_COUNT:,}")
    return value


class ScenarioError(ValueError):
    """A scenario could not be read or is invalid.

    The message names the file (when there is one), the key path and what was expected.
    """


class UnknownKeyError(ScenarioError):
    """An override's dotted path names a table, lab, cohort or list item the scenario lacks."""


class ScenarioWarning(UserWarning):
    """A valid scenario with a setting whose results may not mean what it says.

    The message names the key path, what is doubtful and what to change.
    """


COARSE_FORMATION = 0.5
"""Above this ``formation_rate`` × the network's update interval a scenario is warned
(:class:`ScenarioWarning`): tie formation holds its stated rate only to first order in it."""


Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    PlainSerializer(format_per_year, when_used="json"),
]
"""A rate per year; written in files with units, e.g. ``"4/year"``."""

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_years, when_used="json"),
]
"""A duration in years; written in files with units, e.g. ``"6w"``."""

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


# --------------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------------


class Fixed(BaseModel):
    """Every researcher gets the same value."""

    model_config = _STRICT
    dist: Literal["fixed"] = "fixed"
    value: float = Field(description="The value.")


class Normal(BaseModel):
    """Normal distribution, optionally clipped to ``[low, high]``."""

    model_config = _STRICT
    dist: Literal["normal"] = "normal"
    mean: float = Field(description="Mean.")
    sd: float = Field(ge=0, description="Standard deviation (>= 0).")
    low: float | None = Field(default=None, description="Values below are clipped to this.")
    high: float | None = Field(default=None, description="Values above are clipped to this.")

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Self:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class LogNormal(BaseModel):
    """Log-normal distribution given by its median and the sd of its logarithm."""

    model_config = _STRICT
    dist: Literal["lognormal"] = "lognormal"
    median: float = Field(gt=0, description="Median (> 0); exp of the mean of the log.")
    sigma: float = Field(ge=0, description="Standard deviation of the log (>= 0).")


class Uniform(BaseModel):
    """Uniform distribution on ``[low, high]``."""

    model_config = _STRICT
    dist: Literal["uniform"] = "uniform"
    low: float = Field(description="Lower bound.")
    high: float = Field(description="Upper bound (>= low).")

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Self:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


def _number_is_fixed(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    return value


Distribution = Annotated[
    Annotated[Fixed | Normal | LogNormal | Uniform, Field(discriminator="dist")],
    BeforeValidator(_number_is_fixed),
]
"""A distribution over researchers: a bare number (fixed) or a table with ``dist``."""


# --------------------------------------------------------------------------------------------
# Scenario parts
# --------------------------------------------------------------------------------------------


class TimeSettings(BaseModel):
    """Step length and run length."""

    model_config = _STRICT
    step: Duration = Field(
        default=7 / 365.25, gt=0, description="Length of one step. Unit: duration."
    )
    duration: Duration = Field(
        default=1.0, gt=0, description="Simulated time of a run. Unit: duration."
    )

    @model_validator(mode="after")
    def _sensible_step_count(self) -> Self:
        ratio = self.duration / self.step
        if not math.isfinite(ratio) or ratio > MAX_STEPS:
            raise ValueError(
                f"duration / step must be at most {MAX_STEPS:,} steps "
                f"(step {format_years(self.step)}, duration {format_years(self.duration)})"
            )
        return self

    @property
    def n_steps(self) -> int:
        """Number of steps in a run: the duration divided by the step, rounded to nearest."""
        return max(1, round(self.duration / self.step))


def _build_mechanisms() -> type[BaseModel]:
    """The ``[mechanisms]`` table: a switch per utility term that has one, then the others."""
    fields: dict[str, Any] = {
        term.name: (bool, Field(default=True, description=f"{term.formula}."))
        for term in terms.all_terms()
        if term.switch
    }
    fields |= {
        name: (bool, Field(default=True, description=text))
        for name, text in terms.OTHER_SWITCHES.items()
    }
    unswitched = [t.name for t in terms.all_terms() if not t.switch]
    doc = "Switches for the utility terms (off means the term contributes nothing) and shocks."
    if unswitched:
        doc += f"\n\nWithout a switch: {', '.join(unswitched)} (set it to 0 where it is set)."
    return create_model(
        "Mechanisms", __config__=_STRICT, __doc__=doc, __module__=__name__, **fields
    )


def _term_on(self: BaseModel, name: str) -> bool:
    """Whether utility term ``name`` is switched on (a term without a switch always is)."""
    return bool(getattr(self, name, True))


if typing.TYPE_CHECKING:

    class Mechanisms(BaseModel):
        """Switches: one per utility term with a switch (:mod:`talentsim.terms`), and more."""

        counter_offers: bool = True
        random_reorganisations: bool = True

        def term_on(self, name: str) -> bool: ...  # noqa: D102

        def __getattr__(self, name: str) -> bool: ...

else:
    Mechanisms = _build_mechanisms()
    Mechanisms.term_on = _term_on


class Market(BaseModel):
    """How offers arrive and how researchers choose."""

    model_config = _STRICT
    offer_rate_employed: Rate = Field(
        default=1.0, description="Offers per employed researcher. Unit: rate."
    )
    offer_rate_outside: Rate = Field(
        default=2.0, description="Offers per researcher in the outside pool. Unit: rate."
    )
    separation_rate: Rate = Field(
        default=0.0, description="Exogenous separations (lab → outside pool). Unit: rate."
    )
    noise_scale: float = Field(
        default=1.0,
        ge=0,
        description="Scale of the logit noise in a choice; 0 means deterministic best response.",
    )
    switching_cost: float = Field(
        default=0.0, ge=0, description="Utility cost of moving to another lab."
    )
    attachment_bond_time: Duration = Field(
        default=1.0,
        gt=0,
        description=(
            "Time scale on which attachment to a lab builds up: a researcher leaving after "
            "tenure T keeps attachment 1 − exp(−T/bond_time). Unit: duration."
        ),
    )
    attachment_half_life: Duration = Field(
        default=0.5, gt=0, description="Half-life of attachment to a former lab. Unit: duration."
    )
    fairness_quantile: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description=(
            "A lab's reference is this quantile of its researchers' pay / market value; being "
            "paid below it for one's worth costs utility (equity theory)."
        ),
    )
    reputation_half_life: Duration = Field(
        default=0.5,
        gt=0,
        description=(
            "Memory of a lab's attrition: the share of its staff who left recently, with "
            "older departures weighted down by this half-life. Unit: duration."
        ),
    )


#: The largest search-effort cap: the step screens offer candidates at ``effort_max`` × the
#: employed offer rate, so the cap bounds the work (and the compiled draws) per step.
MAX_EFFORT = 20.0


class Search(BaseModel):
    """On-the-job search effort: how hard employed researchers look for offers.

    An employed researcher ``r`` at lab ``h`` receives offers at rate
    ``offer_rate_employed × effort``, with ``effort = clip(exp(gap_sensitivity · gap +
    turmoil_sensitivity · turmoil_h), effort_min, effort_max)``: ``gap`` is the utility gain
    of moving (at the pay offered, before the switching cost and the choice noise) to the lab
    whose offer would come (``gap = "offer"``) or its mean over the labs that hire, weighted
    by recruiting intensity (``"market"``), or, the same for everyone at lab ``h``, the mean
    gain of the offers ``h``'s staff have received recently (``"lab"``: what they hear of
    the market, remembered with the half-life ``gap_memory``), and ``turmoil_h`` the lab's
    turmoil. Both sensitivities 0 (the default) switch it off: effort 1 for everyone. See
    ``docs/model.md`` (7.2.1 Search effort); after Christensen et al. (2005).
    """

    model_config = _STRICT
    gap_sensitivity: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description=(
            "How search effort rises with how much better the market looks than one's job: "
            "effort × exp(gap_sensitivity) per utility unit of gain from moving (see gap; "
            "falls for a negative gain). Unit: per utility unit; 0 means off."
        ),
    )
    gap: Literal["offer", "market", "lab"] = Field(
        default="offer",
        description=(
            'What the gap measures: the utility gain of the offer that would come ("offer": '
            "effort directed at each lab by its gain; one utility evaluation per candidate), "
            "the mean gain over the labs that hire, weighted by recruiting intensity "
            '("market": one evaluation per hiring lab per candidate, so its cost grows '
            'with the number of labs), or the same for all of a lab\'s staff ("lab"): the '
            "mean gain of the offers they received recently (weighted by how recent, with "
            "the half-life gap_memory; 0 before the first), an estimate of their mean "
            '"market" gap from what they hear; no extra evaluation, the cheapest at scale.'
        ),
    )
    gap_memory: Duration = Field(
        default=0.25,
        gt=0,
        description=(
            "With gap = \"lab\": the half-life of a lab's memory of its staff's offers (an "
            "offer received this long ago counts half as much as one received now). Unit: "
            "duration."
        ),
    )
    turmoil_sensitivity: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description=(
            "How search effort rises with turmoil at one's lab: effort × "
            "exp(turmoil_sensitivity) per unit of the lab's turmoil. Unit: per unit of "
            "turmoil; 0 means off."
        ),
    )
    effort_min: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Lowest search effort (a multiple of offer_rate_employed), 0–1.",
    )
    effort_max: float = Field(
        default=3.0,
        ge=1,
        le=MAX_EFFORT,
        description=(
            f"Highest search effort (a multiple of offer_rate_employed), 1–{MAX_EFFORT:g}; "
            "with a gap term the step screens offer candidates at this multiple, so a high cap "
            'costs time (with effort by lab, from turmoil alone or gap = "lab", at the most '
            "effort any lab gives)."
        ),
    )

    @property
    def on(self) -> bool:
        """Whether search effort varies (a sensitivity is not 0)."""
        return self.gap_sensitivity > 0 or self.turmoil_sensitivity > 0

    @property
    def effort_cap(self) -> float:
        """The most effort anyone makes: ``effort_max`` when search effort is on, else 1.

        The step's bounding rate of offer events uses it (and validation's limit on a step's
        events, :func:`talentsim.limits.check_events_per_step`).
        """
        return float(self.effort_max) if self.on else 1.0


class Network(BaseModel):
    """Colleague ties among researchers: drawn at set-up, and (optionally) living.

    With ``formation_rate`` 0 and no ``former_tie_half_life`` (the defaults) ties form only at
    set-up and last, as before; see ``docs/model.md`` (colleague networks) for the rules.
    """

    model_config = _STRICT
    degree: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Mean number of colleague ties per researcher inside their lab: at set-up (a "
            "random graph within each lab, or, with a formation_rate, the formation rule's "
            "network) and the target that tie formation keeps; 0 means no in-lab ties."
        ),
    )
    reorg_tie_break: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of the ties inside a lab that a reorganisation breaks.",
    )
    formation_rate: Rate = Field(
        default=0.0,
        description=(
            "Ties form inside a lab towards the target `degree`: the rate per missing tie at "
            "which a lab's missing ties are filled when its members all miss ties (each "
            "researcher proposes at half this rate, and each new tie fills two gaps; a "
            "newcomer to a lab whose members miss no ties fills its own at half this rate, "
            "faster where some do; to first order in "
            "the rate × update_interval, see there). 0 means ties form only at set-up. "
            "Unit: rate."
        ),
    )
    closure: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description=(
            "Share of new ties made with a friend of a friend at the lab (triadic closure, "
            "which makes team-sized clusters); the rest are with a lab-mate met at random "
            "(Jackson & Rogers 2007). Used only with a formation_rate."
        ),
    )
    former_tie_half_life: Duration | None = Field(
        default=None,
        gt=0,
        description=(
            "Half-life of a former-colleague tie (the two no longer work at the same lab): "
            "it is dropped at the rate that halves such ties in this time. None (default): "
            "ties to people at other places last. Unit: duration."
        ),
    )
    update_interval: Duration = Field(
        default=1 / 12,
        gt=0,
        description=(
            "How often a living network (formation_rate or former_tie_half_life) is updated: "
            "ties fade and form at the end of every k-th step, k = max(1, round(interval / "
            "time.step)). Fading holds its half-life exactly at any interval; formation holds "
            "its rate to first order in formation_rate × interval (a lab's deficit shrinks "
            "by 0.72 per update against the stated 0.74 at 4/year and monthly updates, by "
            "0.29 against 0.37 when the product is 1): keep the product well below 1 (a "
            "scenario where it passes 0.5 loads with a ScenarioWarning). Unit: duration."
        ),
    )

    @model_validator(mode="after")
    def _formation_needs_a_target(self) -> Self:
        if self.formation_rate < 0:
            raise ValueError("formation_rate: must be >= 0")
        if self.formation_rate > 0 and self.degree == 0:
            raise ValueError(
                "formation_rate: ties form towards network.degree, which is 0; set a degree "
                "(the target number of colleague ties) or remove formation_rate"
            )
        return self


class OutsideOption(BaseModel):
    """The outside pool: startups, academia, out of the field."""

    model_config = _STRICT
    opportunity_rate: Rate = Field(
        default=0.5,
        description=(
            "Outside opportunities (startup, academia) per employed researcher. Unit: rate."
        ),
    )
    pay_ratio: float = Field(
        default=0.7, gt=0, description="Outside pay as a multiple of market value."
    )
    amenity: float = Field(default=0.0, description="Extra utility of the outside option.")
    retirement_rate: Rate = Field(
        default=0.0,
        description="Researchers in the pool leaving the field for good. Unit: rate.",
    )

    _pay_stays_finite = field_validator("pay_ratio")(_pay_in_range)


class Lab(BaseModel):
    """A lab: pay policy, mission, stability, capacity and recruiting."""

    model_config = _STRICT
    pay_level: float = Field(default=1.0, gt=0, description="Pay as a multiple of market value.")
    new_hire_premium: float = Field(
        default=0.0,
        ge=0,
        description="Extra pay for new hires as a fraction (0.5 = 50% above the pay level).",
    )
    mission_clarity: float = Field(default=0.5, ge=0, le=1, description="Mission clarity, 0–1.")
    orientation: float = Field(
        default=0.5, ge=0, le=1, description="Research orientation: 0 product, 1 frontier research."
    )
    turmoil: float = Field(default=0.0, ge=0, description="Turmoil at the start (instability).")
    recovery_half_life: Duration = Field(
        default=2 / 12, gt=0, description="Half-life of turmoil. Unit: duration."
    )
    capacity: int | None = Field(
        default=None, ge=0, description="Maximum headcount; omitted means unlimited."
    )
    recruiting_intensity: float = Field(
        default=1.0, ge=0, description="Relative weight of this lab when an offer is drawn."
    )
    reorg_rate: Rate = Field(default=0.0, description="Random reorganisations. Unit: rate.")
    reorg_severity: float = Field(
        default=1.0, ge=0, description="Turmoil added by a random reorganisation."
    )
    amenity: float = Field(default=0.0, description="Other utility of working here.")
    counter_offer_probability: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Chance the lab counters when one of its researchers is about to leave.",
    )
    counter_offer_limit: float = Field(
        default=1.5,
        ge=1,
        description="A counter-offer raises pay at most to this multiple of the current pay.",
    )
    return_pay: Literal["market", "old", "new_hire"] = Field(
        default="market",
        description=(
            "What the lab offers its former staff (boomerang returns): 'market' is pay level × "
            "market value × (1 + return_premium), never the new-hire premium; 'old' is the "
            "pay they had when they left; 'new_hire' pays them as newcomers, premium included "
            "(what the mean-field equations assume: they do not track former labs)."
        ),
    )
    return_premium: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Extra pay for returning former staff as a fraction of the pay level (with "
            "return_pay = 'market')."
        ),
    )
    rehire_rate: float = Field(
        default=1.0,
        description=(
            "How keenly the lab courts its former staff: an offer it would make to a former "
            "employee is made with this probability, so it courts them at this multiple of "
            "the rate at which it courts anyone else (raids excepted). Dimensionless, 0–1; "
            "1 courts them like anyone else, 0 never rehires. A reduced-form correction for "
            "a market of a few named labs, where a former employer is one of few (in the "
            "real market, one of thousands)."
        ),
    )

    @field_validator("rehire_rate")
    @classmethod
    def _rehire_rate_in_range(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(
                f"must lie between 0 and 1, not {value:g}: the step thins a lab's offers to "
                "its former staff with this probability, so a rate above 1 (courting them "
                "more than anyone else) would need a larger bounding rate of offer events, "
                "which the step does not have"
            )
        return value

    @model_validator(mode="after")
    def _return_premium_with_market_pay(self) -> Self:
        if self.return_pay != "market" and self.return_premium != 0:
            raise ValueError(
                f"return_premium applies to return_pay = 'market'; with return_pay = "
                f"'{self.return_pay}' it would be ignored: remove return_premium or use "
                "return_pay = 'market'"
            )
        return self

    _pay_stays_finite = field_validator(
        "pay_level", "new_hire_premium", "return_premium", "counter_offer_limit"
    )(_pay_in_range)
    _turmoil_stays_finite = field_validator("turmoil", "reorg_severity")(_turmoil_in_range)


def can_draw_negative(dist: Fixed | Normal | LogNormal | Uniform) -> bool:
    """Whether a distribution can draw a value below 0 (a lognormal never does)."""
    match dist:
        case Fixed(value=value):
            return value < 0
        case Normal(mean=mean, sd=sd, low=low):
            if low is not None:
                return low < 0
            return sd > 0 or mean < 0
        case Uniform(low=low):
            return low < 0
    return False


_NON_NEGATIVE_INSTEAD = {
    "fixed": "a value >= 0",
    "normal": 'a lower bound, e.g. {{ dist = "normal", mean = {mean}, sd = {sd}, low = 0 }}, '
    'or a lognormal, e.g. {{ dist = "lognormal", median = {median}, sigma = 0.3 }}',
    "uniform": "low >= 0",
}


def _non_negative_weight(term: str) -> Any:
    """A validator refusing a weight distribution for ``term`` that can draw below 0."""

    def check(dist: Fixed | Normal | LogNormal | Uniform) -> Fixed | Normal | LogNormal | Uniform:
        if not can_draw_negative(dist):
            return dist
        mean = getattr(dist, "mean", 1.0)
        instead = _NON_NEGATIVE_INSTEAD[dist.dist].format(
            mean=f"{mean:g}", sd=f"{getattr(dist, 'sd', 0.2):g}", median=f"{max(mean, 0.1):g}"
        )
        problem = (
            "it is negative"
            if isinstance(dist, Fixed)
            else f"this {dist.dist} distribution can draw negative values"
        )
        raise ValueError(
            f"the weight on {term!r} must be non-negative (a negative weight would flip the "
            f"term's meaning), but {problem}; write {instead}"
        )

    return AfterValidator(check)


def _build_weights() -> type[BaseModel]:
    """The ``weights`` table of a cohort: a distribution per weighted utility term.

    A term whose weight must be non-negative (:attr:`talentsim.terms.Term.non_negative`)
    refuses a distribution that can draw a negative value (:func:`can_draw_negative`).
    """
    fields: dict[str, Any] = {
        term.name: (
            Annotated[Distribution, _non_negative_weight(term.name)]
            if term.non_negative
            else Distribution,
            Field(
                default=Fixed(value=1.0),
                description=f"{term.weight} Non-negative: a distribution that can draw a "
                "negative value is refused (use lognormal, or normal with low = 0)."
                if term.non_negative
                else term.weight,
            ),
        )
        for term in terms.all_terms()
        if term.weight is not None
    }
    return create_model(
        "Weights",
        __config__=_STRICT,
        __doc__="Preference weights of a cohort, each a distribution over its researchers.",
        __module__=__name__,
        **fields,
    )


if typing.TYPE_CHECKING:

    class Weights(BaseModel):
        """Preference weights: one distribution per weighted term (:mod:`talentsim.terms`)."""

        def __getattr__(self, name: str) -> Fixed | Normal | LogNormal | Uniform: ...

else:
    Weights = _build_weights()


class Cohort(BaseModel):
    """A group of researchers sharing a starting place and preference distributions."""

    model_config = _STRICT
    size: int = Field(default=0, ge=0, description="Researchers at the start.")
    lab: str = Field(description="Starting lab, or 'outside' for the outside pool.")
    previous_lab: str | None = Field(
        default=None, description="Former lab (source of boomerang returns), if any."
    )
    attachment: float = Field(
        default=0.0, ge=0, le=1, description="Initial attachment to previous_lab, 0–1."
    )
    tenure: Duration = Field(default=0.0, description="Tenure at the start. Unit: duration.")
    hired_at_premium: bool = Field(
        default=False, description="Initial pay includes the lab's new-hire premium."
    )
    entry_rate: Rate = Field(
        default=0.0, description="New researchers of this cohort entering the pool. Unit: rate."
    )
    market_value: Distribution = Field(
        default=Fixed(value=1.0), description="Market value (base pay), must be > 0."
    )
    orientation: Distribution = Field(
        default=Fixed(value=0.5), description="Preferred research orientation, clipped to 0–1."
    )
    former_colleague_ties: int = Field(
        default=0,
        ge=0,
        description=(
            "Ties each researcher keeps with people at previous_lab (those starting there); "
            "needs previous_lab."
        ),
    )
    weights: Weights = Field(default_factory=Weights, description="Preference weights.")

    _counts_in_range = field_validator("size", "former_colleague_ties")(_count_in_range)

    @model_validator(mode="after")
    def _market_value_positive(self) -> Self:
        mv = self.market_value
        bad = (
            (isinstance(mv, Fixed) and mv.value <= 0)
            or (isinstance(mv, Uniform) and mv.low <= 0)
            or (isinstance(mv, Normal) and (mv.low is None or mv.low <= 0))
        )
        if bad:
            raise ValueError(
                "market_value must be positive: use a positive fixed value, lognormal, "
                "uniform with low > 0, or normal with low > 0"
            )
        return self

    @field_validator("market_value")
    @classmethod
    def _market_value_finite_pay(cls, mv: Fixed | Normal | LogNormal | Uniform) -> Any:
        largest = _largest_value(mv)
        if not largest <= MAX_MARKET_VALUE:
            raise ValueError(
                f"values up to {largest:.3g} can be drawn (40 standard deviations out), beyond "
                f"the {MAX_MARKET_VALUE:.0e} up to which pay stays a finite number"
            )
        return mv


MAX_MARKET_VALUE = 1e100
"""Largest market value a distribution may draw (with pay levels and premiums up to the top
of PAY_RANGE, pay then stays a finite float)."""


def _largest_value(dist: Fixed | Normal | LogNormal | Uniform) -> float:
    """The largest value a distribution draws in practice (40 standard deviations out)."""
    match dist:
        case Fixed(value=value):
            return value
        case Uniform(high=high):
            return high
        case Normal(mean=mean, sd=sd, high=high):
            return mean + 40 * sd if high is None else high
        case LogNormal(median=median, sigma=sigma):
            return median * math.exp(min(40 * sigma, 709.0))
    raise TypeError(dist)  # pragma: no cover


class _Event(BaseModel):
    model_config = _STRICT
    at: Duration = Field(description="Time of the event from the start. Unit: duration.")
    lab: str = Field(description="The lab it happens to.")


class Reorganisation(_Event):
    """A reorganisation: turmoil jumps by ``severity`` and a share of in-lab ties break."""

    kind: Literal["reorganisation"] = "reorganisation"
    severity: float = Field(default=1.0, ge=0, description="Turmoil added.")
    _turmoil_stays_finite = field_validator("severity")(_turmoil_in_range)


class MissionPivot(_Event):
    """The lab changes its mission clarity and/or research orientation."""

    kind: Literal["mission_pivot"] = "mission_pivot"
    mission_clarity: float | None = Field(default=None, ge=0, le=1, description="New clarity.")
    orientation: float | None = Field(default=None, ge=0, le=1, description="New orientation.")


class PayChange(_Event):
    """The lab changes its pay level and/or new-hire premium."""

    kind: Literal["pay_change"] = "pay_change"
    pay_level: float | None = Field(default=None, gt=0, description="New pay level.")
    new_hire_premium: float | None = Field(default=None, ge=0, description="New premium.")
    applies_to: Literal["new_hires", "everyone"] = Field(
        default="new_hires",
        description="'everyone' also rescales current researchers' pay by the pay-level ratio.",
    )

    _pay_stays_finite = field_validator("pay_level", "new_hire_premium")(_pay_in_range)


class LeadershipChange(_Event):
    """New leadership: turmoil jumps, and the mission may be restated."""

    kind: Literal["leadership_change"] = "leadership_change"
    severity: float = Field(default=1.0, ge=0, description="Turmoil added.")
    _turmoil_stays_finite = field_validator("severity")(_turmoil_in_range)
    mission_clarity: float | None = Field(default=None, ge=0, le=1, description="New clarity.")
    orientation: float | None = Field(default=None, ge=0, le=1, description="New orientation.")


class PoachingRaid(_Event):
    """The lab (``lab``) sends a burst of premium offers to researchers of ``target``."""

    kind: Literal["poaching_raid"] = "poaching_raid"
    target: str = Field(description="The rival lab whose researchers get the offers.")
    offers: int = Field(ge=1, description="Number of offers sent (at most the target's staff).")
    premium: float | None = Field(
        default=None,
        ge=0,
        description="Premium over the raider's pay level; omitted means its new_hire_premium.",
    )
    former_staff_first: bool = Field(
        default=False,
        description=(
            "Approach the target's researchers who used to work at the raiding lab first "
            "(courting alumni back), then others at random."
        ),
    )

    _pay_stays_finite = field_validator("premium")(_pay_in_range)
    _offers_in_range = field_validator("offers")(_count_in_range)


class HiringFreeze(_Event):
    """The lab stops making offers for a while."""

    kind: Literal["hiring_freeze"] = "hiring_freeze"
    duration: Duration | None = Field(
        default=None, description="How long; omitted means until the end. Unit: duration."
    )


Event = Annotated[
    Reorganisation | LeadershipChange | MissionPivot | PayChange | PoachingRaid | HiringFreeze,
    Field(discriminator="kind"),
]


class Scenario(BaseModel):
    """A validated talentsim scenario: labs, cohorts, market rules and scheduled events."""

    model_config = _STRICT
    name: str = Field(default="scenario", description="Short name of the scenario.")
    description: str = Field(default="", description="What the scenario represents.")
    time: TimeSettings = Field(default_factory=TimeSettings, description="Step and duration.")
    mechanisms: Mechanisms = Field(default_factory=Mechanisms, description="Term switches.")
    market: Market = Field(default_factory=Market, description="Offers and choice.")
    outside: OutsideOption = Field(default_factory=OutsideOption, description="Outside option.")
    network: Network = Field(default_factory=Network, description="Colleague ties.")
    search: Search = Field(
        default_factory=Search, description="On-the-job search effort (off by default)."
    )
    labs: dict[str, Lab] = Field(description="Labs by name (at least one).")
    cohorts: dict[str, Cohort] = Field(description="Cohorts of researchers by name.")
    events: list[Event] = Field(default_factory=list, description="Scheduled events.")
    # the utility terms it was validated under: their digest and names (see check_terms)
    _terms: tuple[str, tuple[str, ...]] = PrivateAttr(default=("", ()))

    @model_validator(mode="after")
    def _note_terms(self) -> Self:
        self._terms = (terms.fingerprint(), tuple(t.name for t in terms.all_terms()))
        return self

    def check_terms(self) -> None:
        """Refuse a scenario validated under other utility terms than this process has.

        Its weights and switches follow the registry it was validated under; run under
        another, a term's keys would be ignored or missing. That happens when a term is
        registered (or removed) after the scenario was loaded, or when a worker process of a
        sweep, comparison or calibration has not registered a term its parent has.

        Raises:
            ScenarioError: naming both sets of terms and what to do.
        """
        recorded, names = self._terms
        if not recorded or recorded == terms.fingerprint():
            return
        now = tuple(t.name for t in terms.all_terms())
        if names == now:
            difference = f"the same names ({', '.join(now)}), other kernels"
        else:
            difference = f"{', '.join(names)}; this process has {', '.join(now)}"
        raise ScenarioError(
            f"scenario {self.name!r} was validated under other utility terms ({difference}): "
            "register custom terms (talentsim.terms.register) before loading a scenario, and "
            "in every process that runs models: workers of a sweep, comparison or "
            "calibration must import the module that registers them (docs/contributing.md)"
        )

    def __iter__(self) -> Any:
        """A scenario is one value, not a collection of its fields.

        Tools that sweep over what they are given, such as ``mesa.batch_run(TalentModel,
        parameters={"scenario": scenario})``, try ``iter(value)`` to tell a list of values
        from a single one; a pydantic model would yield its fields and make one run per
        field. Raising ``TypeError`` makes a scenario a single value there. For its fields,
        use :meth:`to_dict` or ``model_dump()``.
        """
        raise TypeError(
            "a Scenario is not iterable: it is one value (use .to_dict() for its fields)"
        )

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        import re

        problems: list[str] = []
        if (
            self.name.strip() in ("", ".", "..")
            or any(c in self.name for c in "/\\\0")
            or not self.name.isprintable()
        ):
            # (it names the default results folder: results/<name>)
            problems.append(
                f"name: {self.name!r} cannot name a results folder; use a short name without "
                "slashes or control characters (not empty, '.' or '..')"
            )
        if not self.labs:
            problems.append("labs: at least one lab is required")
        for name in self.labs:
            if (
                name == OUTSIDE
                or len(name) > MAX_NAME_LENGTH
                or not re.fullmatch(LAB_NAME_PATTERN, name)
            ):
                problems.append(
                    f"labs.{_shown_name(name)}: a lab name must start with a letter (of any "
                    "alphabet, e.g. 'Zürich AI'), use letters, digits, '_', '-' or single "
                    f"spaces between words, be at most {MAX_NAME_LENGTH} characters, and not "
                    f"be {OUTSIDE!r}"
                )
        for name in self.cohorts:
            if (
                not name.strip()
                or name != name.strip()
                or not name.isprintable()
                or "." in name
                or len(name) > MAX_NAME_LENGTH
            ):
                problems.append(
                    f"cohorts.{_shown_name(name)}: a cohort name must be printable text without "
                    f"'.', spaces at either end or control characters, of 1 to "
                    f"{MAX_NAME_LENGTH} characters"
                )
        # (the unknown labs, by the rule that also reads a document whose other keys are invalid)
        problems.extend(
            _reference_problems(
                {
                    "labs": self.labs,
                    "cohorts": {
                        cname: {"lab": cohort.lab, "previous_lab": cohort.previous_lab}
                        for cname, cohort in self.cohorts.items()
                    },
                    "events": [
                        {
                            "kind": event.kind,
                            "lab": event.lab,
                            "target": getattr(event, "target", None),
                        }
                        for event in self.events
                    ],
                }
            )
        )
        for cname, cohort in self.cohorts.items():
            if cohort.previous_lab is not None and cohort.previous_lab == cohort.lab:
                problems.append(f"cohorts.{cname}.previous_lab: must differ from lab")
            if cohort.attachment and cohort.previous_lab is None:
                problems.append(
                    f"cohorts.{cname}.attachment: needs previous_lab (the lab it is attachment to)"
                )
            if cohort.lab == OUTSIDE and (cohort.tenure or cohort.hired_at_premium):
                key = "tenure" if cohort.tenure else "hired_at_premium"
                problems.append(
                    f"cohorts.{cname}.{key}: a cohort starting in the outside pool has no lab "
                    "tenure or premium; remove it"
                )
            if cohort.former_colleague_ties and cohort.previous_lab is None:
                problems.append(
                    f"cohorts.{cname}.former_colleague_ties: needs previous_lab (the lab where "
                    "those colleagues work)"
                )
        for i, event in enumerate(self.events):
            if (
                isinstance(event, PoachingRaid)
                and event.target == event.lab
                and event.target in self.labs  # (else: an unknown lab, above)
            ):
                problems.append(f"events.{i}.target: a lab cannot raid itself")
            if event.at > self.time.duration:
                problems.append(
                    f"events.{i}.at: the event is after the end of the run "
                    f"({format_years(event.at)} > duration {format_years(self.time.duration)})"
                )
        if self.time.step > self.time.duration:
            problems.append("time.step: must not exceed time.duration")
        start = {name: 0 for name in self.labs}
        for cohort in self.cohorts.values():
            if cohort.lab in start:
                start[cohort.lab] += cohort.size
        for name, lab in self.labs.items():
            if lab.capacity is not None and start[name] > lab.capacity:
                problems.append(
                    f"labs.{name}.capacity: {lab.capacity} is below the {start[name]} "
                    "researchers the cohorts start with"
                )
        if problems:
            raise ValueError("\n".join(problems))  # one line each in the error message
        return self

    @property
    def network_update_every(self) -> int:
        """Steps between updates of a living network: ``update_interval / time.step``, rounded.

        At least 1; the network is updated at the end of every such step.
        """
        return max(1, round(self.network.update_interval / self.time.step))

    @model_validator(mode="after")
    def _warn_coarse_formation(self) -> Self:
        rate = self.network.formation_rate
        interval = self.network_update_every * self.time.step
        if rate * interval > COARSE_FORMATION:
            warnings.warn(
                ScenarioWarning(
                    f"network.formation_rate × the update interval is {rate * interval:.2g} "
                    f"(formation_rate {format_per_year(rate)}, an update every "
                    f"{format_years(interval)}: network.update_interval in whole steps of "
                    "time.step): tie formation holds its stated rate only to first order in "
                    "this product (a lab's deficit shrinks by 0.29 per update at 1, against "
                    f"the stated 0.37; docs/model.md §7.17); keep it at most "
                    f"{COARSE_FORMATION} with a shorter network.update_interval"
                ),
                stacklevel=2,
            )
        return self

    @model_validator(mode="after")
    def _within_limits(self) -> Self:
        # (after the checks above: the estimate reads labs and cohorts as valid) the memory a
        # run needs, and the events a step draws per researcher
        from talentsim.limits import check_events_per_step, check_run_size

        problems = [p for p in (check_run_size(self), check_events_per_step(self)) if p]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ----------------------------------------------------------------------------------------
    # Construction
    # ----------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Scenario:
        """Validate a scenario given as a dict with the same schema as the files.

        Args:
            data: The scenario document (as parsed from TOML).
            source: Where it came from, used in error messages.

        Raises:
            ScenarioError: naming the key path and what was expected.
        """
        if not isinstance(data, Mapping):
            raise ScenarioError(
                f"{source or 'scenario'}: expected a table of keys, got {type(data).__name__}"
            )
        too_deep = _too_deep(data)
        if too_deep:
            raise ScenarioError(f"{source or 'scenario'}: {too_deep}")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ScenarioWarning)
                scenario = cls.model_validate(dict(data))
        except ValidationError as exc:
            # The checks across the scenario run only once every field is valid: the
            # references to labs are checked on the document too, so that one message lists
            # an unknown lab beside a mistyped value (not one, then the other after a fix).
            checked = any(err["loc"] == () for err in exc.errors(include_url=False))
            more = [] if checked else _reference_problems(data)
            raise ScenarioError(format_validation_error(exc, source, more=more)) from None
        for warning in caught:  # again: a scenario's own naming its source, as errors do
            if isinstance(warning.message, ScenarioWarning):
                shown = f"{source}: {warning.message}" if source else str(warning.message)
                warnings.warn(ScenarioWarning(shown), stacklevel=2)
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        return scenario

    def to_dict(self) -> dict[str, Any]:
        """The scenario as a plain dict in file form (units written out); inverse of from_dict."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_toml(self, *, header: str | None = None) -> str:
        """The scenario as a TOML file that :func:`load_scenario` reads back unchanged.

        Written with a real TOML writer (``tomli-w``) from :meth:`to_dict`: rates and
        durations with their units, labs and cohorts in file order (the order sets the random
        draws). ``header`` becomes a comment on the first line, with talentsim's version.
        """
        import tomli_w

        comment = f"# {header or 'Resolved scenario'} (written by talentsim {__version__})\n\n"
        return comment + tomli_w.dumps(self.to_dict())

    def with_overrides(
        self, overrides: Mapping[str, Any], *, source: str = "overrides", lenient: bool = True
    ) -> Scenario:
        """Return a copy with values replaced at dotted key paths.

        Labs and cohorts are addressed by name, events by index: ``{"labs.MSL.pay_level": 3.0,
        "events.0.severity": 2.0, "market.offer_rate_employed": "3/year"}``.

        With ``lenient`` (the default, for values from Python: optimisers, samplers, design
        tables), a value is taken as what such code hands over: an integral float for an
        integer (``70.0`` for a capacity), a plain number for a rate (per year) or a duration
        (in years), NumPy scalars. A non-integral value for an integer is still an error.
        Files and the command line (sweep files, ``--set``) pass ``lenient=False``: there a
        rate or duration must carry its units, so that a number never silently means "per
        year".

        Args:
            overrides: Dotted key paths and their new values.
            source: Where the values came from, as error messages name it.
            lenient: Convert numbers as above before validation.

        Raises:
            ScenarioError: if a path does not exist or a new value is invalid.
        """
        require_mapping(overrides, source)
        data = self.to_dict()
        for path, value in overrides.items():
            # NumPy scalars (a value from a design table, say) as the Python numbers they are
            plain = value.item() if getattr(value, "ndim", None) == 0 else value
            _set_path(data, path, plain, source)
            if lenient and is_number(plain) and isinstance(path, str):
                _set_path(data, path, _lenient_value(data, path, plain, source), source)
        return Scenario.from_dict(data, source=source)

    # ----------------------------------------------------------------------------------------
    # Convenience
    # ----------------------------------------------------------------------------------------

    @property
    def lab_names(self) -> list[str]:
        """Lab names in file order; lab ``j`` in arrays and outputs is ``lab_names[j]``."""
        return list(self.labs)

    def event_schedule(self, kind: str | None = None) -> list[tuple[int, Event]]:
        """The scheduled events (of ``kind``, e.g. ``"reorganisation"``) with the step of each.

        Step k covers ``((k−1)·dt, k·dt]``; an event at time t is applied at the start of the
        step that begins nearest to t, ``round(t / dt) + 1`` (so at most dt/2 off; its effect
        shows in that step's decisions and flows), and one in the last half step at the start
        of the last step rather than dropped. In time order (as the model applies them: see
        :attr:`talentsim.model.TalentModel.schedule`).
        """
        dt, last = self.time.step, self.time.n_steps
        timed = [(min(round(e.at / dt) + 1, last), e) for e in self.events]
        chosen = [(step, e) for step, e in timed if kind is None or e.kind == kind]
        return sorted(chosen, key=lambda pair: pair[0])


def _shown_name(name: str) -> str:
    """A name as a key path shows it: quoted when blank, padded or with odd characters."""
    plain = name.strip() == name and name.isprintable() and "." not in name and name
    return name[:MAX_NAME_LENGTH] if plain else _bounded_repr.repr(name)


def _reference_problems(data: Mapping[str, Any]) -> list[str]:
    """Unknown labs named by cohorts and events (lab, previous_lab; lab, a raid's target).

    Reads a document as written, for the parts whose shape allows it: used by
    :meth:`Scenario._check_references` (on the validated scenario) and, when other keys are
    invalid and the model's own checks did not run, on the file's document.
    """
    labs, cohorts, events = data.get("labs"), data.get("cohorts"), data.get("events")
    if not isinstance(labs, Mapping):
        return []
    names = [name for name in labs if isinstance(name, str)]
    problems = []
    for cname, cohort in cohorts.items() if isinstance(cohorts, Mapping) else ():
        if not isinstance(cohort, Mapping):
            continue
        for key, known in (("lab", [*names, OUTSIDE]), ("previous_lab", names)):
            name = cohort.get(key)
            if isinstance(name, str) and name not in known:
                problems.append(_unknown_lab(f"cohorts.{cname}.{key}", name, known))
    for i, event in enumerate(events if isinstance(events, list) else ()):
        if not isinstance(event, Mapping):
            continue
        keys = ("lab", "target") if event.get("kind") == "poaching_raid" else ("lab",)
        for key in keys:
            name = event.get(key)
            if isinstance(name, str) and name not in names:
                problems.append(_unknown_lab(f"events.{i}.{key}", name, names))
    return problems


def _unknown_lab(path: str, name: str, known: typing.Iterable[str]) -> str:
    known = list(known)
    hint = difflib.get_close_matches(name, known, n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"{path}: no lab named {name!r} (known: {', '.join(known)}){suggestion}"


def _too_deep(data: Mapping[str, Any]) -> str | None:
    """Where tables or arrays nest deeper than any scenario does (a short key path), or None.

    Walks without recursion: a document thousands of levels deep gets this message, not a
    RecursionError in validation or in the error message that shows the value.
    """
    pending: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while pending:
        node, path = pending.pop()
        if len(path) > MAX_NESTING:
            shown = ".".join(part[:20] for part in path[:6])
            return (
                f"{shown}...: tables or arrays nested more than {MAX_NESTING} levels deep "
                "(a scenario needs at most 5, e.g. cohorts.NAME.weights.pay.dist)"
            )
        if isinstance(node, Mapping):
            pending.extend((value, (*path, str(key))) for key, value in node.items())
        elif isinstance(node, list | tuple):
            pending.extend((value, (*path, str(i))) for i, value in enumerate(node))
    return None


def flatten_key_paths(
    value: Mapping[str, Any], *, is_value: Callable[[Mapping[str, Any]], bool], expected: str
) -> dict[str, Any]:
    """Nested tables of a data file as dotted key paths (``[a.b] c = 1`` → ``{"a.b.c": 1}``).

    A table for which ``is_value`` is true (a range, a prior) is a value, not a level. One
    path given twice (a dotted key and a nested table) and an empty table are refused.

    Raises:
        ValueError: naming the path (and ``expected``, for an empty table).
    """
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping) and not node and prefix:
            raise ValueError(f"{prefix}: an empty table; expected {expected}")
        if isinstance(node, Mapping) and not is_value(node):
            for key, child in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), child)
        elif prefix in flat:  # ("a.b" = ... and [x.a] b = ...: one path twice)
            raise ValueError(
                f"{prefix}: given twice (as a dotted key and in a nested table); give it once"
            )
        else:
            flat[prefix] = node

    walk("", value)
    return flat


def _index_range(items: list) -> str:
    """What an index into ``items`` may be, for a message (a list may be empty)."""
    if not items:
        return "the list is empty (no index to set; give the whole list instead)"
    return f"expected an index from 0 to {len(items) - 1}"


def _set_path(data: dict[str, Any], path: str, value: Any, source: str) -> None:
    if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
        raise ScenarioError(
            f"{source}: {path!r} is not a dotted key path like 'labs.MSL.pay_level'"
        )
    parts = path.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not ascii_digits(part) or int(part) >= len(node):
                raise UnknownKeyError(f"{source}: {path}: {here} — {_index_range(node)}")
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                hint = difflib.get_close_matches(part, list(node), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                raise UnknownKeyError(
                    f"{source}: {path}: no key {here!r} in the scenario{suggestion}"
                )
            if not isinstance(node[part], dict | list):
                # e.g. "cohorts.x.weights.pay.sigma" where weights.pay is a fixed number; a
                # value that is no distribution (labs.A.pay_level) has nothing under it
                if not _is_distribution(data, here):
                    raise UnknownKeyError(
                        f"{source}: {path}: {here} is a value, not a table (it has no "
                        f"{parts[depth + 1]!r})"
                    )
                node[part] = _number_is_fixed(node[part])
            node = node[part]
        else:
            raise ScenarioError(f"{source}: {path}: {here} is a value, not a table")
    last = parts[-1]
    if isinstance(node, list):
        if not ascii_digits(last) or int(last) >= len(node):
            raise ScenarioError(f"{source}: {path}: {_index_range(node)}")
        node[int(last)] = copy.deepcopy(value)
    elif isinstance(node, dict):
        node[last] = copy.deepcopy(value)
    else:
        raise ScenarioError(f"{source}: {path}: the parent is a value, not a table")


def is_number(value: object) -> bool:
    """True for an int or float (not bool), finite or not."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field_at(data: dict[str, Any], path: str) -> tuple[Any, list[Any]] | None:
    """The type of the field at ``path`` and its metadata (parsers), or None if not found.

    Walks the schema from :class:`Scenario` to the field, as :func:`_allowed_keys` does, picking
    a union's member (a distribution, an event) by the tag in ``data``.
    """
    node: Any = Scenario
    here: Any = data
    metadata: list[Any] = []  # (pydantic keeps a field's Annotated metadata apart)
    for part in path.split("."):
        node = _unwrap(node)
        if isinstance(node, list):  # a union of models: the member named by the data's tag
            tag = here.get("dist", here.get("kind")) if isinstance(here, dict) else None
            named = [m for m in node if _tag_of(m) == tag]
            if not named:
                return None
            node = _unwrap(named[0])
        origin = typing.get_origin(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(part)
            if field is None:
                return None
            node, metadata = field.annotation, list(field.metadata)
        elif origin is dict:
            node, metadata = typing.get_args(node)[1], []
        elif origin is list:
            node, metadata = typing.get_args(node)[0], []
        else:
            return None
        if isinstance(here, list):  # (the data may lack the path: its value is then None)
            here = here[int(part)] if ascii_digits(part) and int(part) < len(here) else None
        else:
            here = here.get(part) if isinstance(here, dict) else None
    inner = node
    for member in typing.get_args(node) if typing.get_origin(node) in _UNIONS else ():
        if member is not type(None):
            inner = member  # (an optional field: its one type)
    if typing.get_origin(inner) is Annotated:
        metadata += typing.get_args(inner)[1:]
    return node, metadata


def _is_distribution(data: dict[str, Any], path: str) -> bool:
    """Whether the field at ``path`` is a :data:`Distribution` (a number stands for one)."""
    found = _field_at(data, path)
    return found is not None and any(
        getattr(item, "func", None) is _number_is_fixed for item in found[1]
    )


def names_a_field(scenario: Scenario, path: str) -> bool:
    """Whether ``path`` ends at a field of the scenario's schema (``labs.A.pay`` does not)."""
    return _field_at(scenario.to_dict(), path) is not None


def takes_whole_numbers(scenario: Scenario, path: str) -> bool:
    """Whether the field at ``path`` holds integers (a lab's capacity, a cohort's size)."""
    found = _field_at(scenario.to_dict(), path)
    return found is not None and _unwrap(found[0]) is int


def _lenient_value(data: dict[str, Any], path: str, value: float, source: str) -> Any:
    """A number as the field at ``path`` reads it.

    Units for a rate or duration, an int for an integer (when integral); other values as they
    are.

    Raises:
        ScenarioError: for a non-integral or non-finite value of an integer, or a rate or
            duration that is negative or not finite.
    """
    found = _field_at(data, path)
    if found is None:
        return value
    node, metadata = found
    parsers = [getattr(meta, "func", None) for meta in metadata]
    if parse_rate in parsers or parse_duration in parsers:
        kind = "rate (per year)" if parse_rate in parsers else "duration (in years)"
        if not (math.isfinite(value) and value >= 0):
            raise ScenarioError(
                f"{source}: {path}: expected a finite non-negative {kind}, got {value!r}"
            )
        return format_per_year(float(value)) if parse_rate in parsers else format_years(value)
    if _unwrap(node) is int and isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise ScenarioError(
                f"{source}: {path}: expected a whole number (an integer), got {value!r}"
            )
        return int(value)
    return value


# --------------------------------------------------------------------------------------------
# Loading and error messages
# --------------------------------------------------------------------------------------------


def require_mapping(overrides: object, source: str) -> None:
    """Refuse overrides that are not a mapping of dotted key paths to values (a list, say).

    Raises:
        ScenarioError: naming ``source`` and what was expected.
    """
    if not isinstance(overrides, Mapping):
        raise ScenarioError(
            f"{source}: expected a mapping of dotted key paths to values, e.g. "
            f"{{'labs.MSL.pay_level': 2.0}}, got {type(overrides).__name__}"
        )


def as_scenario(scenario: Scenario | str | Path | Mapping[str, Any]) -> Scenario:
    """A Scenario from a Scenario (returned as is), a path to a TOML file, or a dict.

    The one way every entry point (``TalentModel``, ``run``, ``compare``, ``sweep``,
    ``meanfield``) reads what the user handed it.

    Raises:
        ScenarioError: for anything else, or an invalid file or dict.
    """
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, str | Path):
        return load_scenario(scenario)
    if isinstance(scenario, Mapping):
        return Scenario.from_dict(scenario)
    raise ScenarioError(
        f"expected a Scenario, a path to a TOML file or a dict, got {type(scenario).__name__}"
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a TOML scenario file.

    A ``[sweep]`` table in it (the file's own sweep, see :mod:`talentsim.sweepfile`) is left
    to ``talentsim sweep``.

    Args:
        path: The file.

    Raises:
        ScenarioError: if the file cannot be read, is not valid TOML, or does not match the
            schema; the message names the file, the key path and what was expected.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"load_scenario: expected the path of a TOML file, got {type(path).__name__}; "
            "for a dict use ts.Scenario.from_dict (ts.run and ts.TalentModel take either)"
        )
    if isinstance(path, str) and "\n" in path and not os.path.exists(path):
        raise ScenarioError(
            "load_scenario: got several lines of text, not the path of a file; for TOML "
            "text use ts.Scenario.from_dict(tomllib.loads(text))"
        )
    path = Path(path)
    data = read_toml(path)
    if "sweep" in data:
        # A scenario file may carry its sweep ([sweep], read by `talentsim sweep`); a sweep
        # file of its own only names its scenario.
        sweep = data.pop("sweep")
        if not data:
            named = sweep.get("scenario") if isinstance(sweep, dict) else None
            where = f" (its scenario is {named!r})" if isinstance(named, str) else ""
            raise ScenarioError(
                f"{path}: is a sweep file{where}, not a scenario; run it with `talentsim sweep`"
            )
    refuse_another_kind(path, data, "scenario")
    return Scenario.from_dict(data, source=str(path))


FILE_COMMANDS = {
    "scenario": "talentsim run FILE",
    "sweep": "talentsim sweep FILE",
    "targets": "talentsim targets SCENARIO FILE",
    "calibration": "talentsim calibrate FILE",
}
"""Each kind of talentsim TOML file (:func:`file_kind`), and the command that takes it."""


def file_kind(data: Mapping[str, Any]) -> str:
    """What a TOML document is: "targets", "calibration", "sweep" or "scenario".

    A targets file has an array of ``[[targets]]``; a calibration file names its targets file
    and has ``[parameters]``; a sweep file, or a scenario file carrying its own sweep, has
    ``[sweep]``; anything else is read as a scenario.
    """
    if isinstance(data.get("targets"), list):
        return "targets"
    if isinstance(data.get("targets"), str) and "parameters" in data:
        return "calibration"
    return "sweep" if "sweep" in data else "scenario"


def refuse_another_kind(
    path: Path, data: Mapping[str, Any], expected: str, error: type[ScenarioError] | None = None
) -> None:
    """Refuse a talentsim file of another kind where a file of kind ``expected`` is read.

    A targets file given to ``talentsim run`` was read as a scenario, and the message listed
    its keys as unknown ("targets: unknown key; did you mean 'market'?"); this names what the
    file is and the command that takes it. Only on evidence: a document that is no kind in
    particular (no labs or cohorts, no targets, no sweep) is left to the schema, which says
    what is wrong with it; a scenario file carrying its own ``[sweep]`` is a scenario too.

    Raises:
        ScenarioError (or ``error``, a subclass): naming the file, its kind and the command.
    """
    kind = file_kind(data)
    if kind == "sweep" and ("labs" in data or "cohorts" in data):
        kind = "scenario"  # (its own [sweep] beside it)
    if kind == expected or (kind == "scenario" and "labs" not in data and "cohorts" not in data):
        return
    raise (error or ScenarioError)(
        f"{path}: is a {kind} file, not a {expected} file; use it with `{FILE_COMMANDS[kind]}`"
    )


def referenced_file(
    owner: Path, key: str, named: str, *, kind: str, error: type[ScenarioError] = ScenarioError
) -> Path:
    """The file that ``key`` of the data file ``owner`` names, relative to ``owner``'s folder.

    For a sweep file's scenario and a calibration file's scenario and targets.

    Raises:
        ScenarioError: (or ``error``) naming ``owner`` and ``key`` if it is a folder or missing.
    """
    full = owner.parent / named  # (an absolute ``named`` stays as it is)
    if full.is_dir():
        raise error(f"{owner}: {key}: {named!r} is a folder; expected a file")
    if not full.is_file():
        raise error(
            f"{owner}: {key}: no such file {named!r} (looked for {full}; a path relative to "
            f"the {kind} file)"
        )
    return full


_PIPES_READ: dict[str, bytes] = {}
"""The bytes of each pipe :func:`read_toml` has read in this process, by path."""


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file as a document; every failure is a ScenarioError naming the file.

    A UTF-8 byte-order mark at the start (some Windows editors write one) is skipped. A pipe
    (``talentsim validate <(make_scenario)``, a named FIFO) is read once per process and its
    bytes kept: a command that reads its file twice (``validate`` tells the file's kind, then
    loads it) would find it empty the second time.

    Raises:
        ScenarioError: if the file cannot be read, is larger than :data:`MAX_FILE_BYTES`, is
            not UTF-8, is not valid TOML, or nests arrays or inline tables too deeply to read.
    """
    try:
        piped = stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        piped = False  # (the open below says why it cannot be read)
    try:
        if piped and str(path) in _PIPES_READ:
            raw = _PIPES_READ[str(path)]
        else:
            with open(path, "rb") as handle:  # (no more than the limit: /dev/zero is endless)
                raw = handle.read(MAX_FILE_BYTES + 1)
            if piped:
                _PIPES_READ[str(path)] = raw
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a folder, expected a TOML scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            f"{path}: larger than {MAX_FILE_BYTES:,} bytes, expected a TOML file of "
            "talentsim's (a few kilobytes); is it the right file?"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the document
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(
            f"{path}: not valid TOML for a scenario: arrays or inline tables nested too deeply "
            f"to read (a scenario nests at most {MAX_NESTING} levels)"
        ) from None


def format_validation_error(
    exc: ValidationError,
    source: str | None,
    root: type[BaseModel] | None = None,
    what: str = "scenario",
    more: Sequence[str] = (),
) -> str:
    """Turn a pydantic error into lines of ``file: key.path: what was expected (got ...)``.

    ``what`` names the kind of file in the header (``invalid scenario (2 problems)``);
    ``more`` are further problems (``key.path: message``), listed after pydantic's.
    """
    where = source or "scenario"
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = _display_loc(err["loc"])
        msg = explain_error(err, root or Scenario)
        got = err.get("input")
        quiet = err["type"] in {"missing", "extra_forbidden"} or loc == "" or "got " in msg
        shown = "" if quiet else _short(got)
        location = f"{where}: {loc}" if loc else where
        # (the checks across the scenario report several problems, one per line)
        lines.extend(f"{location}: {part}{shown}" for part in msg.split("\n"))
    lines.extend(f"{where}: {problem}" for problem in more)
    header = f"{where}: invalid {what} ({len(lines)} problem{'s' * (len(lines) != 1)})"
    return "\n".join([header, *("  " + line for line in lines)])


_UNION_TAGS = {"fixed", "normal", "lognormal", "uniform"} | {
    "reorganisation",
    "mission_pivot",
    "pay_change",
    "hiring_freeze",
    "leadership_change",
    "poaching_raid",
}


def _display_loc(loc: tuple[int | str, ...]) -> str:
    parts = []
    for item in loc:
        # pydantic inserts union member tags and wrapper names into the location
        if isinstance(item, str) and (
            item in _UNION_TAGS or item.startswith("function-") or "[" in item
        ):
            continue
        parts.append(str(item))
    return ".".join(parts)


_bounded_repr = reprlib.Repr(maxlevel=3, maxstring=60, maxother=60, maxlong=40)


def _short(value: object) -> str:
    text = _bounded_repr.repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f" (got {text})"


def explain_error(err: Any, root: type[BaseModel]) -> str:
    """One pydantic error as people read it (an unknown key with its closest allowed key)."""
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        allowed = _allowed_keys(err["loc"][:-1], root)
        if allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            parent = [str(part) for part in err["loc"][:-1]]
            if not hint and (parent == ["mechanisms"] or parent[-1:] == ["weights"]):
                suggestion = (  # (a term's own key, before its term was registered)
                    "; if it is a utility term of your own, register it "
                    "(talentsim.terms.register) before loading the scenario"
                )
            return f"unknown key{suggestion} (expected one of: {', '.join(allowed)})"
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        context = err.get("ctx", {})
        return (
            f"unknown kind {context.get('tag')!r} for {context.get('discriminator', 'kind')}; "
            f"expected one of: {context.get('expected_tags', '')}"
        )
    if kind == "union_tag_not_found":
        return f"missing the tag key ({err['msg']})"
    message = str(err["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if message.startswith("Assertion failed, "):
        message = message[len("Assertion failed, ") :]
    return message[:1].lower() + message[1:]


def _allowed_keys(loc: tuple[int | str, ...], root: type[BaseModel]) -> list[str]:
    """Best-effort walk of the schema to list the keys allowed at a location."""
    node: Any = root
    for item in loc:
        node = _unwrap(node)
        if isinstance(node, list):  # a union: pick the member named by a tag in loc
            named = [m for m in node if _tag_of(m) == item]
            if named:
                node = named[0]
                continue
            return []
        origin = typing.get_origin(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(item))
            if field is None:
                return []
            node = field.annotation
        elif origin is dict:
            node = typing.get_args(node)[1]
        elif origin is list:
            node = typing.get_args(node)[0]
        else:
            return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


_UNIONS = (typing.Union, types.UnionType)


def _unwrap(node: Any) -> Any:
    """Strip Annotated/Optional; turn a union of models into a list of its members."""
    while typing.get_origin(node) is Annotated:
        node = typing.get_args(node)[0]
    origin = typing.get_origin(node)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(node) if a is not type(None)]
        members = [_unwrap(m) for m in members]
        return members[0] if len(members) == 1 else members
    return node


def _tag_of(model: Any) -> str | None:
    if isinstance(model, type) and issubclass(model, BaseModel):
        for key in ("dist", "kind"):
            field = model.model_fields.get(key)
            if field is not None:
                return typing.cast(str, field.default)
    return None


def is_finite_number(value: object) -> bool:
    """True for an int or float (not bool) that is finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rebuild_term_schema() -> None:
    """Rebuild the schema parts that derive from the term registry (after it changed)."""
    mechanisms, weights = _build_mechanisms(), _build_weights()
    mechanisms.term_on = _term_on  # type: ignore[attr-defined]
    globals().update(Mechanisms=mechanisms, Weights=weights)  # where pickle looks them up
    for model, name, part in ((Cohort, "weights", weights), (Scenario, "mechanisms", mechanisms)):
        model.model_fields[name].annotation = part
        model.model_fields[name].default_factory = part
    Cohort.model_rebuild(force=True)
    Scenario.model_rebuild(force=True)


terms.on_change(_rebuild_term_schema)
