"""Spaces of the falsifier: the unit-cube map, the Sobol design, validation, rounding and complexity."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from overparam.falsify import Choice, Integer, Real, complexity, make_box
from overparam.falsify.search import _round_sig, design

BOX = make_box({"x": Real(-2.0, 3.0), "s": Real(1e-6, 1e2, log=True), "n": Integer(-3, 4),
                "c": Choice((0.5, 2, 8))})


def test_unit_cube_maps_each_axis_by_its_closed_form():
    u = np.array([[0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0], [0.3, 0.25, 0.99, 0.34]])
    rows = BOX.from_unit(u)
    # linear: lo + u (hi - lo); log: geometric interpolation; integer: lo + floor(u * 8), top -> hi; choice: index
    np.testing.assert_allclose(rows[:, 0], [-2.0, 0.5, 3.0, -0.5], rtol=0, atol=1e-15)  # observed: exact
    # exp(log lo + u log(hi / lo)): observed relative error 1.4e-15 (a few ulps of exp and log)
    np.testing.assert_allclose(rows[:, 1], [1e-6, 1e-2, 1e2, 1e-6 * 1e8**0.25], rtol=1e-14)
    np.testing.assert_array_equal(rows[:, 2], [-3, 1, 4, 4])
    np.testing.assert_array_equal(rows[:, 3], [0, 1, 2, 1])
    assert BOX.params(rows[3]) == {"x": -0.5, "s": pytest.approx(1e-4, rel=1e-14), "n": 4, "c": 2}
    assert isinstance(BOX.params(rows[3])["n"], int) and isinstance(BOX.params(rows[3])["c"], float)
    np.testing.assert_array_equal(BOX.row(BOX.params(rows[3])), rows[3])


def test_params_passed_to_the_margin_have_the_axis_dtypes_and_values():
    row = jnp.asarray([0.25, 1e-3, -2.0, 2.0])
    p = jax.jit(BOX.params_jax)(row)
    assert p["x"].dtype == jnp.float64 and p["s"].dtype == jnp.float64
    assert p["n"].dtype == jnp.int64 and p["c"].dtype == jnp.float64  # a choice with a float is float
    assert (float(p["x"]), float(p["s"]), int(p["n"]), float(p["c"])) == (0.25, 1e-3, -2, 8.0)
    ints = make_box({"k": Choice((3, 5))})
    assert jax.jit(ints.params_jax)(jnp.asarray([1.0]))["k"].dtype == jnp.int64


def test_sobol_design_is_uniform_in_log_and_in_the_integers():
    box = make_box({"s": Real(1e-6, 1e2, log=True), "n": Integer(0, 9), "x": Real(0.0, 1.0)})
    rows = design(box, 4096, [1, 2])
    corners = rows[:8]  # 2^3 corners come first (8 * 8 <= 4096)
    assert sorted(map(tuple, corners.tolist())) == sorted((s, n, x) for s in (1e-6, 1e2) for n in (0, 9) for x in (0, 1))
    sobol = rows[8:]
    # a scrambled Sobol set puts in each sub-box a share close to its volume: observed deviations
    # 0 for the log half and 2.9e-4 for the worst integer; the tolerance 3e-3 is 10x the latter
    # (an i.i.d. uniform sample of this size deviates by ~5e-3)
    assert abs(np.mean(sobol[:, 0] < 1e-2) - 0.5) < 3e-3  # sqrt(lo hi) = 1e-2 splits the log axis in half
    counts = np.bincount(sobol[:, 1].astype(int), minlength=10) / len(sobol)
    assert np.max(np.abs(counts - 0.1)) < 3e-3
    assert np.all(sobol[:, 1] == np.round(sobol[:, 1]))
    again = design(box, 4096, [1, 2])
    np.testing.assert_array_equal(rows, again)  # the same key gives the same design
    assert not np.array_equal(design(box, 4096, [1, 3])[8:], sobol)


@pytest.mark.parametrize(
    "space, match",
    [
        ({}, "non-empty mapping"),
        ({"x": (0, 1)}, r"space\['x'\] = \(0, 1\) must be Real"),
        ({"x": Real(1.0, 0.0)}, r"space\['x'\] = Real\(1.0, 0.0\) needs lo <= hi"),
        ({"x": Real(0.0, 1.0, log=True)}, r"needs lo > 0 on a log scale"),
        ({"x": Real(0.0, math.inf)}, r"space\['x'\].hi = inf must be a finite number"),
        ({"n": Integer(0, 2.5)}, r"space\['n'\].hi = 2.5 must be an integer"),
        ({"n": Integer(3, 1)}, r"Integer\(3, 1\) needs lo <= hi"),
        ({"c": Choice(())}, r"Choice\(\(\)\) needs a non-empty sequence"),
        ({"c": Choice((1, 1))}, r"has repeated values"),
        ({"c": Choice((1, math.nan))}, r"values must be finite numbers"),
        ({"1x": Real(0, 1)}, r"identifiers"),
    ],
)
def test_bad_spaces_raise_value_error_naming_the_parameter(space, match):
    with pytest.raises(ValueError, match=match):
        make_box(space)


def test_rounding_to_significant_digits_matches_python_decimal_formatting():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, 3000) * 10.0 ** rng.integers(-10, 10, 3000)
    digits = jnp.arange(1, 9, dtype=jnp.float64)
    rounded, truncated = jax.jit(jax.vmap(lambda v: _round_sig(v, digits, 0.0)))(jnp.asarray(x))
    want = np.array([[float(f"{v:.{s - 1}e}") for s in range(1, 9)] for v in x])
    np.testing.assert_array_equal(np.asarray(rounded), want)  # bit for bit: the float nearest the decimal
    # truncation toward 0 keeps the leading s digits: |trunc| <= |x| and it differs from x by < one unit of digit s
    t = np.asarray(truncated)
    assert np.all(np.abs(t) <= np.abs(x)[:, None])
    unit = 10.0 ** (np.floor(np.log10(np.abs(x)))[:, None] - np.arange(0, 8)[None, :])
    assert np.all(np.abs(x[:, None] - t) < unit * (1 + 1e-12))


def test_complexity_counts_digits_corners_and_distances():
    box = make_box({"a": Real(0.001, 0.5), "n": Integer(-5, 100), "c": Choice((4, 2, 9))})
    assert complexity(box, np.array([0.001, 0.0, 0.0])) == 0.0  # every coordinate at its simplest value
    assert complexity(box, np.array([0.5, 0.0, 0.0])) == 1.0  # the far end of the box
    assert complexity(box, np.array([0.0067, 0.0, 0.0])) == 3.0  # 1 + two digits
    assert complexity(box, np.array([0.1234, 0.0, 0.0])) == 5.0
    assert complexity(box, np.array([0.001, 7.0, 2.0])) == pytest.approx(3.0 + 2.0)  # log2(1 + 7) + index 2
    assert complexity(box, np.array([0.001, -5.0, 1.0])) == pytest.approx(math.log2(6.0) + 1.0)
