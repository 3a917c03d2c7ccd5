"""Priors: SciPy distributions in Python, a whitelist of tables in TOML, clear errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from talentsim.priors import (
    CENTRAL_MASS,
    PRIORS,
    PriorError,
    load_parameters,
    parameter,
    parse_prior,
    prior_of,
)
from talentsim.smm import Parameter


def test_each_family_builds_the_scipy_distribution_it_names() -> None:
    cases = {
        "uniform": ({"low": 1.0, "high": 3.0}, stats.uniform(1.0, 2.0)),
        "loguniform": ({"low": 0.5, "high": 8}, stats.loguniform(0.5, 8)),
        "norm": ({"loc": 2, "scale": 0.5}, stats.norm(2, 0.5)),
        "truncnorm": (
            {"loc": 1, "scale": 2, "low": 0, "high": 5},
            stats.truncnorm(-0.5, 2.0, 1, 2),
        ),
        "lognorm": ({"s": 0.3, "scale": 2.0}, stats.lognorm(0.3, scale=2.0)),
        "beta": ({"a": 4, "b": 2}, stats.beta(4, 2)),
    }
    assert set(cases) == set(PRIORS)
    xs = np.linspace(0.01, 4.99, 23)
    for name, (keywords, expected) in cases.items():
        built = parse_prior({"dist": name, **keywords}, "f.toml: parameters.x")
        assert built.pdf(xs) == pytest.approx(expected.pdf(xs)), name


def test_bounds_are_a_uniform_prior() -> None:
    prior = parse_prior([0.5, 2.0], "p")
    assert prior.support() == pytest.approx((0.5, 2.0))
    assert prior_of(Parameter("x", 0.5, 2.0)).mean() == pytest.approx(1.25)


def test_parameter_bounds_from_the_prior() -> None:
    bounded = parameter("labs.A.pay_level", stats.beta(2, 2, loc=1, scale=3))
    assert (bounded.low, bounded.high) == pytest.approx((1.0, 4.0))
    unbounded = parameter("labs.A.pay_level", stats.norm(2, 0.5))
    tail = (1 - CENTRAL_MASS) / 2
    assert unbounded.low == pytest.approx(stats.norm(2, 0.5).ppf(tail))
    assert unbounded.high == pytest.approx(stats.norm(2, 0.5).ppf(1 - tail))
    assert unbounded.prior is not None and prior_of(unbounded) is unbounded.prior


def test_parameter_refuses_what_is_not_a_distribution() -> None:
    with pytest.raises(ValueError, match=r"x: prior must be a frozen scipy\.stats distribution"):
        Parameter("x", 0.0, 1.0, prior="norm")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"dist": "gamma", "a": 2}, r"p\.dist: expected one of: uniform, loguniform, norm"),
        ({"loc": 1}, r"p\.dist: expected one of: .* \(got missing\)"),
        (
            {"dist": "norm", "loc": 1, "sd": 2},
            r"p\.sd: unknown key for dist = 'norm' \(expected: loc \(mean\), scale \(sd\)\)",
        ),
        ({"dist": "norm", "loc": 1}, r"p: dist = 'norm' needs scale"),
        ({"dist": "norm", "loc": 1, "scale": -1}, r"p\.scale: must be > 0"),
        ({"dist": "norm", "loc": "1", "scale": 1}, r"p\.loc: expected a finite number, got '1'"),
        ({"dist": "norm", "loc": math.inf, "scale": 1}, r"p\.loc: expected a finite number"),
        ({"dist": "uniform", "low": 2, "high": 1}, r"p: low must be below high"),
        ({"dist": "loguniform", "low": 0, "high": 1}, r"p\.low: must be > 0"),
        (
            {"dist": "truncnorm", "loc": 0, "scale": 1, "a": -1},
            r"p\.a: unknown key .* \(not SciPy's standardised a, b\)",
        ),
        ({"dist": "beta", "a": 1, "b": True}, r"p\.b: expected a finite number, got True"),
        ([1.0], r"p: expected bounds \[low, high\] \(two numbers\)"),
        ([2.0, 1.0], r"p: bounds must be finite with low < high"),
        ("norm(0, 1)", r"p: expected bounds \[low, high\] or a table"),
        (
            {"dist": "norm", "loc": 1, "scale": 1e308},
            r"p: the prior's central 99\.9% .* not a finite range, got \[-inf, inf\]",
        ),
        ({"dist": "lognorm", "s": 1e308, "scale": 1}, r"p: .* not a finite range, got \[0, inf\]"),
    ],
)
def test_bad_priors_are_clear_errors(spec: object, message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no SciPy overflow warning before the message)
        with pytest.raises(PriorError, match=message):
            parse_prior(spec, "p")


def test_a_file_of_parameters(tmp_path) -> None:
    path = tmp_path / "fit.toml"
    path.write_text(
        "[parameters]\n"
        '"labs.MSL.pay_level" = [1.0, 5.0]\n'
        '"market.offer_rate_employed" = { dist = "loguniform", low = 0.5, high = 8 }\n'
    )
    found = load_parameters(path)
    assert [p.path for p in found] == ["labs.MSL.pay_level", "market.offer_rate_employed"]
    assert (found[0].low, found[0].high, found[0].prior) == (1.0, 5.0, None)
    assert (found[1].low, found[1].high) == pytest.approx((0.5, 8.0))
    path.write_text('[parameters]\n"labs.MSL.pay_level" = { dist = "norm", loc = 1 }\n')
    with pytest.raises(
        PriorError,
        match=r'fit\.toml: parameters\."labs\.MSL\.pay_level": dist = .norm. needs scale',
    ):
        load_parameters(path)
    path.write_text("[other]\n")
    with pytest.raises(PriorError, match=r"fit\.toml: parameters: required table is missing"):
        load_parameters(path)
    path.write_text("[parameters\n")
    with pytest.raises(PriorError, match=r"fit\.toml: not valid TOML"):
        load_parameters(path)
