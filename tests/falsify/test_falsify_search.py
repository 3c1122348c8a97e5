"""The staged search: a planted needle, NaN handling, resume, integer and log axes, shrinking, bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from overparam import store
from overparam.falsify import Choice, Integer, Real, falsify, make_box
from overparam.falsify.result import margin_histogram
from overparam.falsify.search import CANDIDATES, evaluations_per_start

# ----------------------------------------------------------------------------- a planted needle
# In unit coordinates u = (x, (log10 s + 4) / 4, (y + 1) / 2) the needle is the ball |u - C| < R at
# n = 7: volume (4/3) pi R^3 / 10 = 1e-4 of the box (the ball lies inside the cube).
NEEDLE_SPACE = {"x": Real(0.0, 1.0), "s": Real(1e-4, 1.0, log=True), "y": Real(-1.0, 1.0), "n": Integer(0, 9)}
C = np.array([0.62, 0.37, 0.81])
R = (3e-3 / (4.0 * math.pi)) ** (1.0 / 3.0)


def _unit(p):
    return jnp.stack([p["x"], (jnp.log10(p["s"]) + 4.0) / 4.0, (p["y"] + 1.0) / 2.0])


def needle(p):
    """Distance to the ball plus 0.1 per integer step away from n = 7 (0.1 > R: negative only inside)."""
    off = jnp.abs(p["n"] - 7).astype(jnp.float64)
    return jnp.sqrt(jnp.sum((_unit(p) - jnp.asarray(C)) ** 2)) - R + 0.1 * off


def flat_needle(p):
    """-1 inside the needle, +1 outside: no gradient to follow."""
    return jnp.where(needle(p) < 0, -1.0, 1.0)


def _inside(params) -> bool:
    u = np.array([params["x"], (math.log10(params["s"]) + 4.0) / 4.0, (params["y"] + 1.0) / 2.0])
    return params["n"] == 7 and float(np.linalg.norm(u - C)) < R


def test_needle_volume_is_1e_4_of_the_box():
    rng = np.random.default_rng(0)
    m = 2_000_000
    p = {"x": rng.uniform(0, 1, m), "s": 10.0 ** rng.uniform(-4, 0, m), "y": rng.uniform(-1, 1, m),
         "n": rng.integers(0, 10, m)}
    inside = np.asarray(jax.jit(jax.vmap(needle))({k: jnp.asarray(v) for k, v in p.items()})) < 0
    # binomial standard deviation sqrt(1e-4 / 2e6) = 7e-6; 4 sigma
    assert abs(inside.mean() - 1e-4) < 2.8e-5


def test_planted_needle_is_found_refined_to_its_centre_and_shrunk_inside():
    result = falsify(needle, NEEDLE_SPACE, key=jax.random.key(0), budget=4096, progress=False)
    assert result.found
    assert _inside(result.shrunk) and _inside(result.counterexample)
    assert result.shrunk_margin < 0 and result.shrunk_margin == pytest.approx(needle(
        {k: jnp.asarray(v) for k, v in result.shrunk.items()}), abs=0)
    # stage 2 walks to the centre: the most violating margin is -R to within 2e-6 (observed 1.8e-7;
    # the design alone gets no closer than about R / 2, below)
    assert result.counterexample_margin < -R + 2e-6
    design_only = falsify(needle, NEEDLE_SPACE, key=jax.random.key(0), budget=4096, refine=0.0, progress=False)
    assert design_only.evaluated["refine"] == 0
    assert design_only.min_margin > result.min_margin + 0.5 * R  # the design alone stays far from the centre


def test_flat_needle_is_found_by_the_design_alone():
    # 1e5 design points hit a 1e-4 needle about 10 times (probability of none: e^-10)
    result = falsify(flat_needle, NEEDLE_SPACE, key=jax.random.key(1), budget=100_000, progress=False)
    assert result.found and _inside(result.shrunk) and result.shrunk_margin == -1.0
    assert 0 < result.violations


# ----------------------------------------------------------------------------- NaN and infinity


def spiky(p):
    """NaN for x < 0.1, -inf for x > 0.9, -1 on [0.5, 0.55), else 1 - x."""
    x = p["x"]
    value = jnp.where((x >= 0.5) & (x < 0.55), -1.0, 1.0 - x)
    return jnp.where(x < 0.1, jnp.nan, jnp.where(x > 0.9, -jnp.inf, value))


def test_nan_and_infinite_margins_are_counted_and_never_counterexamples():
    result = falsify(spiky, {"x": Real(0.0, 1.0)}, key=jax.random.key(0), budget=2000, progress=False)
    # the -inf points are the "most negative" margins seen, yet the counterexample is the finite violation
    assert result.found and 0.5 <= result.counterexample["x"] < 0.55 and result.counterexample_margin == -1.0
    assert result.shrunk == {"x": 0.5} and result.shrunk_margin == -1.0  # one significant digit
    assert result.min_margin == -1.0 and result.argmin is not None and 0.5 <= result.argmin["x"] < 0.55
    assert result.violations == int(np.sum(np.asarray(result.histogram.counts)[
        np.asarray(result.histogram.edges[1:]) <= 0]))  # violations are the finite margins below 0
    # every point is counted once: finite ones in the histogram, the others apart
    assert sum(result.histogram.counts) + result.nonfinite.count == result.total_evaluated
    assert result.nonfinite.count >= 0.15 * result.evaluated["design"]  # x < 0.1 or x > 0.9: a fifth of the design
    assert len(result.nonfinite.examples) == 5
    for params, value in result.nonfinite.examples:
        assert (params["x"] < 0.1 and math.isnan(value)) or (params["x"] > 0.9 and value == -math.inf)


def test_histogram_bins_are_signed_decades():
    h = margin_histogram(np.array([-0.5, -0.02, 0.0, 3e-3, 0.07, 40.0, np.nan, np.inf]))
    # decades from 10^floor(log10 3e-3) to 10^ceil(log10 40), mirrored; 0 falls in [0, 1e-3)
    assert h.edges == (-100.0, -10.0, -1.0, -0.1, -0.01, -0.001, 0.0, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
    assert h.counts == (0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1)
    assert margin_histogram(np.array([2.0, 0.5])) == ((0.0, 0.1, 1.0, 10.0), (0, 1, 1))


# ----------------------------------------------------------------------------- resume


def bowl(p):
    """Violated on a quarter disc around (0.9, 0.9); smooth elsewhere."""
    return jnp.sqrt((p["x"] - 0.9) ** 2 + (p["y"] - 0.9) ** 2) - 0.3 + 0.01 * p["k"].astype(jnp.float64)


BOWL_SPACE = {"x": Real(0.0, 1.0), "y": Real(0.0, 1.0), "k": Integer(0, 3)}


BOWL_SEARCH = dict(key=jax.random.key(3), budget=3000, chunk_size=256, progress=False)


@pytest.fixture(scope="module")
def bowl_reference():
    return falsify(bowl, BOWL_SPACE, **BOWL_SEARCH)


def _same(a, b):
    for field in a._fields:
        if field != "seconds":
            assert getattr(a, field) == getattr(b, field), field


def test_interrupted_search_resumes_to_the_same_result(tmp_path, monkeypatch, bowl_reference):
    kwargs, reference = BOWL_SEARCH, bowl_reference
    assert reference.found and reference.evaluated["refine"] == 9 * 80  # 9 starts in 3 chunks of 3

    original = store.Writer.write_chunk
    written: list[tuple[str, int]] = []

    def write(self, chunk, outputs):
        if interrupt and self.path.name == "refine.zarr" and chunk == 1:
            raise KeyboardInterrupt  # the search stops in stage 2, after its first chunk
        written.append((self.path.name, chunk))
        original(self, chunk, outputs)

    monkeypatch.setattr(store.Writer, "write_chunk", write)
    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        falsify(bowl, BOWL_SPACE, store=tmp_path / "search", **kwargs)
    assert ("refine.zarr", 0) in written and not (tmp_path / "search" / "shrink.zarr").exists()
    interrupt = False
    with pytest.raises(ValueError, match="resume"):  # an existing store is never overwritten unasked
        falsify(bowl, BOWL_SPACE, store=tmp_path / "search", **kwargs)
    written.clear()
    resumed = falsify(bowl, BOWL_SPACE, store=tmp_path / "search", resume=True, **kwargs)
    _same(resumed, reference)
    assert written == [("refine.zarr", 1), ("refine.zarr", 2), ("shrink.zarr", 0)]  # finished chunks are kept
    with pytest.raises(ValueError):  # another key is another design: the stores refuse it
        falsify(bowl, BOWL_SPACE, store=tmp_path / "search", resume=True, **{**kwargs, "key": jax.random.key(4)})


# ----------------------------------------------------------------------------- integer and log axes, shrinking


def conjunction(p):
    """Violated iff n >= 7, s > 0.0123 (log axis), 0.0123 <= y <= 0.0167 and c > 2."""
    n = p["n"].astype(jnp.float64)
    return jnp.max(jnp.stack([6.5 - n, jnp.log(0.0123) - jnp.log(p["s"]),
                              100.0 * jnp.maximum(0.0123 - p["y"], p["y"] - 0.0167), 2.0 - p["c"]]))


def test_integer_log_choice_and_real_axes_shrink_to_the_simplest_violation():
    space = {"n": Integer(0, 1000), "s": Real(1e-6, 1.0, log=True), "y": Real(0.01, 0.5),
             "c": Choice((0.25, 5.0, 3.0, 1.0))}
    result = falsify(conjunction, space, key=jax.random.key(0), budget=4000, progress=False)
    assert result.found
    p = result.counterexample
    assert p["n"] >= 7 and p["s"] > 0.0123 and 0.0123 <= p["y"] <= 0.0167 and p["c"] > 2
    shrunk = result.shrunk
    # smallest violating integer 7; on the log axis the far end s = 1 is simpler than any interior value;
    # c = 0.25 (the first choice listed) does not violate, the second one, 5.0, does
    assert (shrunk["n"], shrunk["s"], shrunk["c"]) == (7, 1.0, 5.0)
    # no 1-digit decimal lies in [0.0123, 0.0167] (0.01 and 0.02 do not), so 2 digits is the fewest
    assert not any(0.0123 <= d * 10.0**e <= 0.0167 for d in range(1, 10) for e in range(-4, 0))
    assert shrunk["y"] in (0.013, 0.014, 0.015, 0.016)
    assert result.shrunk_margin == pytest.approx(float(conjunction({k: jnp.asarray(v) for k, v in shrunk.items()})),
                                                 abs=0)


def test_evaluations_per_stage_follow_the_budget_split(bowl_reference):
    box = make_box(BOWL_SPACE)
    per_start = evaluations_per_start(box, 16, "reverse")
    assert per_start == 16 * (1 + 4)  # one point and its 4 neighbours in k per step
    starts = int(0.25 * 3000) // per_start
    reserve = 4 * 3 * 3 * CANDIDATES  # shrink_starts * passes * d * candidates
    assert bowl_reference.evaluated["refine"] == starts * per_start == 720
    assert bowl_reference.evaluated["design"] == 3000 - starts * per_start - reserve
    assert 0 < bowl_reference.evaluated["shrink"] <= reserve
    assert bowl_reference.gradient == "reverse"
    assert bowl_reference.shrunk_margin < 0 and math.hypot(bowl_reference.shrunk["x"] - 0.9,
                                                          bowl_reference.shrunk["y"] - 0.9) < 0.3


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(budget=0), r"budget = 0 must be an integer >= 1"),
        (dict(budget=100), r"budget = 100 is too small"),
        (dict(refine=1.0), r"refine = 1.0 must be a number in \[0, 1\)"),
        (dict(key=0), r"key must be a jax.random key"),
        (dict(gradient="adam"), r"gradient = 'adam' must be"),
        (dict(resume=True), r"resume=True needs a store"),
        (dict(steps=0), r"steps = 0 must be an integer >= 1"),
    ],
)
def test_bad_input_raises_value_error_naming_it(kwargs, match):
    args = dict(key=jax.random.key(0), budget=2000, progress=False)
    with pytest.raises(ValueError, match=match):
        falsify(bowl, BOWL_SPACE, **{**args, **kwargs})


def test_a_margin_that_is_not_a_scalar_is_refused_before_compiling():
    with pytest.raises(ValueError, match=r"margin must return a scalar, got shape \(2,\)"):
        falsify(lambda p: jnp.stack([p["x"], p["x"]]), {"x": Real(0, 1)}, key=jax.random.key(0), budget=2000)
