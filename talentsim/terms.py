"""The utility terms: each declared once, with everything that derives from it.

A researcher's deterministic utility at a place is the sum of its terms (in registry order),
``V_ij = Σ_t term_t(i, j)``. Each term is a :class:`Term`: its name, a one-line meaning, the
scenario fields it reads, its compiled contribution (the *kernel*), its label and colour in
figures, and whether the mean-field solver and the Mesa reference support it. Everything
else derives from the registry: the scenario's weight fields (``cohorts.NAME.weights.<term>``)
and switches (``mechanisms.<term>``), the compiled step (:mod:`talentsim.compiled`), the event
columns ``gain_<term>``, the exit-reason categories, the figures' legends and colours, the
generated scenario reference (``docs/scenarios.md``), and the refusals of the mean-field
solver and the Mesa reference, which name any term they cannot treat.

Adding a term is one :func:`register` call with its kernel (see ``docs/contributing.md``).

A kernel is a compiled function (decorate it with :data:`talentsim.compiled.compat.helper`)::

    kernel(w, i, j, pay, peer_share, researchers, labs, outside_amenity) -> float

where ``w`` is researcher ``i``'s weight on the term (0.0 for a term without a weight), ``j``
the place (a lab index, or ``n_labs`` for the outside pool), ``pay`` what ``i`` would be paid
there, ``peer_share`` the share of ``i``'s colleague ties at ``j`` (0 unless the peers term is
on), ``researchers`` a :class:`talentsim.compiled.records.Researchers` record of population
columns, ``labs`` a :class:`talentsim.compiled.records.Labs` record of lab columns, and
``outside_amenity`` the outside pool's amenity. A term that does not count at the outside pool
(``at_outside=False``) is called only for labs; it returns the term's signed contribution.

References:
    Adams, J. S. (1963). Toward an understanding of inequity. *Journal of Abnormal and
    Social Psychology* 67(5), 422–436 (fairness).
    Felps, W. et al. (2009). Turnover contagion. *Academy of Management Journal* 52(3),
    545–561 (peers).
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from talentsim.compiled.compat import helper

NO_MEANFIELD = "the mean-field equations have no term for it"
"""Why the mean-field solver refuses a term that does not say otherwise."""


KERNEL_PARAMETERS = ("w", "i", "j", "pay", "peer_share", "researchers", "labs", "outside_amenity")
"""The arguments of a term's kernel, in order (see the module docstring)."""


@dataclass(frozen=True)
class Term:
    """One utility term.

    Attributes:
        name: Its name: the key of its weight and switch in scenarios, and the ``gain_<name>``
            column of events. Lower-case letters, digits and ``_``.
        meaning: One line: what it is, as the docs and the scenario reference say it.
        formula: Its contribution as a formula (docs), e.g. ``"w_pay·log(pay)"``.
        kernel: Its compiled contribution (see the module docstring for the signature).
        weight: What the weight measures (the description of ``cohorts.NAME.weights.<name>``),
            or None for a term without a weight (the amenity).
        switch: Whether ``mechanisms.<name>`` can switch it off.
        at_outside: Whether it counts at the outside pool (else only at labs).
        reads: The scenario fields it reads besides its weight, for the docs
            (e.g. ``"labs.NAME.mission_clarity"``).
        label: Its label in figures (default: the name).
        colour: Its colour in figures (a colour-blind-safe palette for the built-in terms).
        meanfield: None if the mean-field solver treats it exactly (only the built-in terms
            whose equations it has, :data:`MEAN_FIELD_TERMS`; :func:`register` refuses None
            for another); else why it cannot (the solver refuses a scenario in which the term
            is on and matters, naming it).
        reference: Whether the plain Mesa reference (``benchmarks/reference_mesa.py``)
            implements it (it refuses a scenario using a term it does not).
        uses_ties: Whether its kernel reads ``peer_share`` (the step computes tie shares
            only while such a term is on, and the term is off without a colleague network).
        non_negative: Whether its weight must be non-negative (a negative weight would flip
            the term's meaning: a researcher who prefers less pay, say). The scenario refuses
            a weight distribution for such a term that can draw a negative value. True for
            every built-in term.
    """

    name: str
    meaning: str
    formula: str
    kernel: Callable[..., float]
    weight: str | None = "Weight on the term."
    switch: bool = True
    at_outside: bool = False
    reads: tuple[str, ...] = ()
    label: str = ""
    colour: str = "#BBBBBB"
    meanfield: str | None = NO_MEANFIELD
    reference: bool = False
    uses_ties: bool = False
    non_negative: bool = True

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"term name {self.name!r}: use lower-case letters, digits and _")
        if not hasattr(self.kernel, "py_func"):
            raise TypeError(
                f"term {self.name!r}: its kernel must be a compiled function "
                "(decorate it with talentsim.compiled.compat.helper or numba.njit)"
            )
        given = list(inspect.signature(self.kernel.py_func).parameters.values())
        plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if len(given) != len(KERNEL_PARAMETERS) or any(p.kind not in plain for p in given):
            raise TypeError(
                f"term {self.name!r}: its kernel takes ({', '.join(p.name for p in given)}); "
                f"a kernel takes the {len(KERNEL_PARAMETERS)} arguments "
                f"({', '.join(KERNEL_PARAMETERS)}) and returns a float"
            )

    @property
    def display(self) -> str:
        """The label in figures."""
        return self.label or self.name

    @property
    def weight_column(self) -> str | None:
        """The population column of its weights (``w_<name>``), or None."""
        return None if self.weight is None else f"w_{self.name}"


# --------------------------------------------------------------------------------------------
# The built-in terms' kernels
# --------------------------------------------------------------------------------------------


@helper
def pay_term(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover - compiled
    """``w_pay·log(pay)``."""
    return w * np.log(pay)


@helper
def mission_term(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover - compiled
    """``w_mission·clarity_j·(1 − 2|orientation_i − orientation_j|)``."""
    alignment = 1.0 - 2.0 * abs(researchers.orientation[i] - labs.orientation[j])
    return w * labs.mission_clarity[j] * alignment


@helper
def stability_term(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover - compiled
    """``−w_stability·turmoil_j``."""
    return -w * labs.turmoil[j]


@helper
def peers_term(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover - compiled
    """``w_peers·share of i's ties at j``."""
    return w * peer_share


@helper
def fairness_term(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover - compiled
    """``−w_fairness·max(0, log(ref_j / (pay / market_value_i)))``."""
    shortfall = np.log(labs.reference_ratio[j] * researchers.market_value[i] / pay)
    if shortfall > 0:  # False for NaN (an empty lab has no reference)
        return -w * shortfall
    return 0.0


@helper
def attachment_term(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover - compiled
    """``w_attach·attachment_i`` at i's former lab."""
    if j == researchers.last_lab[i]:
        return w * researchers.attachment[i]
    return 0.0


@helper
def reputation_term(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover - compiled
    """``−w_reputation·recent attrition_j`` at a lab i is not at."""
    if j != researchers.location[i]:
        return -w * labs.reputation[j]
    return 0.0


@helper
def amenity_term(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover - compiled
    """``amenity_j`` (the outside pool's amenity there)."""
    if j >= labs.amenity.shape[0]:
        return outside_amenity
    return labs.amenity[j]


_BUILT_IN = (
    Term(
        "pay",
        "Log pay: more pay is better, with diminishing returns.",
        "w_pay·log(pay)",
        pay_term,
        weight="Weight on log pay.",
        at_outside=True,
        reads=("labs.NAME.pay_level", "labs.NAME.new_hire_premium", "outside.pay_ratio"),
        colour="#DDCC77",
        meanfield=None,
        reference=True,
    ),
    Term(
        "mission",
        "A clear mission one agrees with attracts; one disagrees with repels.",
        "w_mission·clarity·(1 − 2|orientation gap|)",
        mission_term,
        weight="Weight on mission clarity × alignment.",
        reads=("labs.NAME.mission_clarity", "labs.NAME.orientation", "cohorts.NAME.orientation"),
        colour="#332288",
        meanfield=None,
        reference=True,
    ),
    Term(
        "stability",
        "Turmoil (reorganisations, leadership changes) repels.",
        "−w_stability·turmoil",
        stability_term,
        weight="Weight on turmoil.",
        reads=("labs.NAME.turmoil", "labs.NAME.reorg_severity", "labs.NAME.recovery_half_life"),
        colour="#CC6677",
        meanfield=None,
        reference=True,
    ),
    Term(
        "peers",
        "The share of one's colleague ties at a place pulls (turnover contagion).",
        "w_peers·share of one's colleague ties at a place",
        peers_term,
        weight="Weight on the share of one's ties at a place.",
        at_outside=True,
        reads=("network.degree", "cohorts.NAME.former_colleague_ties"),
        colour="#117733",
        uses_ties=True,
        meanfield="with colleague ties: turnover contagion depends on who is tied to whom, "
        "not on expected counts",
    ),
    Term(
        "fairness",
        "Being paid less than colleagues of the same worth hurts (equity theory).",
        "−w_fairness·max(0, log(reference pay ratio / own pay ratio)) at a lab",
        fairness_term,
        weight="Weight on the log shortfall below reference pay.",
        reads=("market.fairness_quantile",),
        colour="#882255",
        meanfield="the reference pay is a quantile of each lab's pay distribution",
    ),
    Term(
        "attachment",
        "A former lab keeps a decaying pull (boomerang returns).",
        "w_attach·attachment to the former lab",
        attachment_term,
        weight="Weight on attachment to a former lab.",
        reads=(
            "cohorts.NAME.previous_lab",
            "cohorts.NAME.attachment",
            "market.attachment_bond_time",
            "market.attachment_half_life",
        ),
        colour="#88CCEE",
        meanfield="attachment depends on each researcher's tenure when they left, which the "
        "mean-field state does not track",
        reference=True,
    ),
    Term(
        "reputation",
        "A lab's recent attrition deters outsiders.",
        "−w_reputation·recent attrition of a lab one is not at",
        reputation_term,
        weight="Weight on a lab's recent attrition (outsiders).",
        reads=("market.reputation_half_life",),
        colour="#44AA99",
        meanfield="attrition memory feeds back through realised departures",
    ),
    Term(
        "amenity",
        "What a place offers beyond the other terms (no weight, no switch: set it to 0).",
        "amenity of the place",
        amenity_term,
        weight=None,
        switch=False,
        at_outside=True,
        reads=("labs.NAME.amenity", "outside.amenity"),
        colour="#999933",
        meanfield=None,
        reference=True,
    ),
)

_registry: dict[str, Term] = {term.name: term for term in _BUILT_IN}
#: The terms whose mean-field equations the solver has (:mod:`talentsim.mean_field`, by name).
MEAN_FIELD_TERMS = frozenset(term.name for term in _BUILT_IN if term.meanfield is None)
#: The switches of ``[mechanisms]`` that are not terms, with their descriptions (the scenario
#: schema's): names a term cannot take.
OTHER_SWITCHES: dict[str, str] = {
    "counter_offers": "Labs may match offers to keep a leaving researcher.",
    "random_reorganisations": "Labs reorganise at random at their reorg_rate.",
}
_listeners: list[Callable[[], None]] = []

#: The order in which a cohort's weights are drawn from the run's set-up stream. It predates
#: the registry (whose order is the utility's) and is kept so that every recorded result
#: replays bit for bit; terms added later are drawn after these, in registry order.
_DRAW_ORDER = ("pay", "mission", "stability", "attachment", "peers", "fairness", "reputation")

OTHER_REASONS = ("idiosyncratic", "exogenous")
"""Main reasons of a departure that are not terms: the logit noise, and no choice at all."""

OTHER_REASON_COLOURS = {"idiosyncratic": "#AA4499", "exogenous": "#DDDDDD"}


class UnsupportedTermError(ValueError):
    """A consumer (the mean-field solver, the Mesa reference, ...) cannot treat a term."""


class TermCompileError(TypeError):
    """The compiled step could not be built with a registered term's kernel (see its text)."""


def all_terms() -> tuple[Term, ...]:
    """The registered terms, in utility order (the order of ``gain_<term>`` columns)."""
    return tuple(_registry.values())


def names() -> tuple[str, ...]:
    """The registered terms' names, in utility order."""
    return tuple(_registry)


def get(name: str) -> Term:
    """The term called ``name``.

    Raises:
        KeyError: naming the known terms.
    """
    try:
        return _registry[name]
    except KeyError:
        raise KeyError(f"no utility term {name!r}; the terms are {', '.join(_registry)}") from None


def weighted() -> tuple[Term, ...]:
    """The terms with a weight, in utility order (the rows of the population's weights)."""
    return tuple(term for term in _registry.values() if term.weight is not None)


def weight_draw_order() -> tuple[Term, ...]:
    """The weighted terms in the order their weights are drawn (see ``_DRAW_ORDER``)."""
    first = [_registry[name] for name in _DRAW_ORDER if name in _registry]
    return (*first, *(term for term in weighted() if term.name not in _DRAW_ORDER))


def gain_columns() -> list[str]:
    """The event columns of the utility gain per term: ``gain_<term>``, in utility order."""
    return [f"gain_{name}" for name in _registry]


def reasons() -> list[str]:
    """Exit-reason categories: every term, then ``idiosyncratic`` and ``exogenous``."""
    return [*_registry, *OTHER_REASONS]


def reason_colours() -> dict[str, str]:
    """One colour per exit reason (every term's, then the other reasons')."""
    return {**{t.name: t.colour for t in _registry.values()}, **OTHER_REASON_COLOURS}


def reason_labels() -> dict[str, str]:
    """The label in figures of each exit reason."""
    return {**{t.name: t.display for t in _registry.values()}, **{r: r for r in OTHER_REASONS}}


def fingerprint() -> str:
    """A digest of the registry as the compiled step sees it (order, names, kernels).

    The compiled step is cached on disk under it, so a changed registry compiles anew. A
    kernel counts with everything Numba freezes into the step when it compiles it
    (:func:`kernel_digest`): its source, the values of the globals and closure cells it reads,
    and the compiled functions it calls, with theirs. Reading sources costs about a
    millisecond, and every model asks for the digest when it is built, so it is remembered
    per registry state (the terms' names, flags and kernels: a re-registered or edited kernel
    is a new function). A global rebound while a process runs is not seen (Numba reads it
    only when it compiles): register a new kernel instead.
    """
    key = tuple((t.name, t.at_outside, t.weight is None, t.kernel) for t in _registry.values())
    found = _FINGERPRINTS.get(key)
    if found is None:
        found = _FINGERPRINTS[key] = _terms_digest(list(_registry.values()))
    return found


def custom_names() -> list[str]:
    """The names of the terms registered beyond the built-in ones, in utility order."""
    built_in = {term.name for term in _BUILT_IN}
    return [name for name in _registry if name not in built_in]


def custom_fingerprint() -> str | None:
    """A digest of the terms registered beyond the built-in ones (None if there are none).

    What a sweep store records of the registry: a store of a sweep with custom terms resumes
    only with the same terms and kernels, while built-in terms follow talentsim's version.
    """
    custom = [_registry[name] for name in custom_names()]
    return _terms_digest(custom) if custom else None


def _terms_digest(chosen: list[Term]) -> str:
    """A digest of terms in order: names, the flags the step reads, kernels."""
    digest = hashlib.sha256()
    for term in chosen:
        digest.update(f"{term.name}|{term.at_outside}|{term.weight is None}|".encode())
        digest.update(kernel_digest(term.kernel).encode())
    return digest.hexdigest()[:16]


def kernel_digest(kernel: Any) -> str:
    """A digest of what a compiled kernel computes: what Numba freezes into it when compiling.

    Its source; the values of the global names its code reads and of its closure cells
    (numbers, strings, arrays, tuples of them); and, for each compiled function among them,
    the same, recursively. A kernel made by a factory (a closure over an array of values per
    lab, say) thus gets a digest per set of values, and an edited module constant a new one.
    """
    digest = hashlib.sha256()
    _digest_function(getattr(kernel, "py_func", kernel), digest, set())
    return digest.hexdigest()[:16]


def _digest_function(function: Any, digest: Any, seen: set[int]) -> None:
    if id(function) in seen:
        return
    seen.add(id(function))
    # where it lives too: a compiled step loaded from the disk cache finds the functions it
    # calls by module and name, so the same source in another module is another step
    digest.update(f"{function.__module__}.{function.__qualname__}|".encode())
    try:
        digest.update(inspect.getsource(function).encode())
    except (OSError, TypeError):  # (no source: a function defined at the prompt)
        digest.update(function.__code__.co_code)
    names: set[str] = set()
    codes = [function.__code__]
    while codes:  # the names read by the function and the functions defined inside it
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if inspect.iscode(c))
    space = function.__globals__
    for name in sorted(names):
        if name in space:
            digest.update(f"|{name}=".encode())
            _digest_value(space[name], digest, seen)
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or (), strict=True):
        digest.update(f"|{name}:=".encode())
        try:
            value = cell.cell_contents
        except ValueError:  # (an empty cell)
            continue
        _digest_value(value, digest, seen)


def _digest_value(value: Any, digest: Any, seen: set[int]) -> None:
    if hasattr(value, "py_func"):  # a compiled function: what it computes
        _digest_function(value.py_func, digest, seen)
    elif inspect.ismodule(value):
        digest.update(f"module {value.__name__}".encode())
    elif isinstance(value, np.ndarray):
        digest.update(f"array {value.dtype} {value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, tuple | list):
        digest.update(f"{type(value).__name__} {len(value)}".encode())
        for item in value:
            _digest_value(item, digest, seen)
    elif (
        isinstance(value, bool | int | float | complex | str | bytes | np.generic) or value is None
    ):
        digest.update(repr(value).encode())
    else:  # (a class, a Python function...: Numba reads what it is, by name)
        kind = type(value)
        name = getattr(value, "__qualname__", kind.__qualname__)
        digest.update(f"{kind.__module__}.{kind.__qualname__} {name}".encode())


_FINGERPRINTS: dict[tuple[Any, ...], str] = {}
"""Digests of :func:`fingerprint` by registry state (see there)."""


IMPORTED: list[str] = []
"""Modules imported by :func:`import_modules` (``talentsim --import``), in order: the worker
processes of sweeps and calibrations import them too, so they register the same terms."""


def import_modules(names: Iterable[str]) -> None:
    """Import modules that register utility terms (``talentsim --import MODULE``).

    A module is looked up on Python's path and in the current folder. Each imported is
    remembered (:data:`IMPORTED`), and the shared worker pools
    (:func:`talentsim.experiments.shared_pool`) import them in every worker.

    Raises:
        ImportError: naming the module, for one that cannot be imported.
    """
    import importlib
    import os
    import sys

    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # (a missing module, or an error in it: named either way)
            raise ImportError(f"module {name!r}: {type(exc).__name__}: {exc}") from None
        if name not in IMPORTED:
            IMPORTED.append(name)


def register(term: Term, *, before: str | None = None) -> None:
    """Add a utility term (after the others, or before the term named ``before``).

    The scenario schema, the compiled step, events, exit reasons and figures pick it up. A
    term's weight defaults to 1 in every cohort and its switch to on, so add it switched off
    (``mechanisms.<name> = false``) or with weight 0 where existing scenarios should keep
    their meaning.

    Raises:
        ValueError: if a term of that name exists or ``before`` is not a term.
    """
    if term.name in _registry:
        raise ValueError(f"a utility term {term.name!r} is registered already")
    if term.name in OTHER_REASONS:
        raise ValueError(f"{term.name!r} is an exit reason of its own; choose another name")
    if term.name in OTHER_SWITCHES:
        raise ValueError(
            f"{term.name!r} is a switch of [mechanisms] of its own (mechanisms.{term.name}); "
            "choose another name"
        )
    if term.meanfield is None and term.name not in MEAN_FIELD_TERMS:
        raise ValueError(
            f"term {term.name!r}: meanfield=None says the mean-field solver treats it exactly, "
            f"but its equations have only {', '.join(sorted(MEAN_FIELD_TERMS))}; leave "
            "meanfield at its default (the solver then refuses a scenario where the term "
            "is on and matters, naming it)"
        )
    items = list(_registry.items())
    if before is None:
        items.append((term.name, term))
    else:
        get(before)
        at = [name for name, _ in items].index(before)
        items.insert(at, (term.name, term))
    _registry.clear()
    _registry.update(items)
    _changed()


def unregister(name: str) -> Term:
    """Remove a term added with :func:`register` (built-in terms cannot be removed)."""
    if name in {term.name for term in _BUILT_IN}:
        raise ValueError(f"{name!r} is a built-in term and cannot be removed")
    term = _registry.pop(get(name).name)
    _changed()
    return term


@contextmanager
def registered(term: Term, *, before: str | None = None) -> Iterator[Term]:
    """Register ``term`` for the duration of a ``with`` block (for tests and notebooks)."""
    register(term, before=before)
    try:
        yield term
    finally:
        unregister(term.name)


def on_change(callback: Callable[[], None]) -> None:
    """Call ``callback()`` whenever the registry changes (the scenario schema listens)."""
    _listeners.append(callback)


def _changed() -> None:
    for callback in _listeners:
        callback()


def refuse(consumer: str, unsupported: dict[str, str], how: str) -> None:
    """Raise :class:`UnsupportedTermError` naming each term a consumer cannot treat.

    Args:
        consumer: Who refuses (``"the mean-field solver"``).
        unsupported: Term name → why it cannot be treated.
        how: What the user can do (``"set mechanisms.<term> = false"``).
    """
    if unsupported:
        lines = [f"term {name!r}: {why}" for name, why in unsupported.items()]
        raise UnsupportedTermError(f"{consumer} cannot treat " + "; ".join(lines) + f" ({how})")


def describe() -> list[dict[str, Any]]:
    """The registry as rows (name, meaning, formula, reads, ...), for docs and notebooks."""
    return [
        {
            "name": t.name,
            "meaning": t.meaning,
            "formula": t.formula,
            "weight": t.weight_column,
            "switch": f"mechanisms.{t.name}" if t.switch else None,
            "at_outside": t.at_outside,
            "reads": ", ".join(t.reads),
            "meanfield": "exact" if t.meanfield is None else "refused",
            "reference": t.reference,
        }
        for t in _registry.values()
    ]
