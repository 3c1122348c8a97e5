"""Bad input raises ValueError naming the argument, its value and the allowed range, before compiling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import sensing

KEY = jax.random.key(0)
# the sizes of test_sensing_gd.py, so the compiled sampler is shared
PROBLEM = sensing.make_problem(KEY, n=12, rank=2, m=300)
ASYM = sensing.make_problem(KEY, n=12, rank=2, m=300, symmetric=False, n2=10)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(n=6, rank=0, m=40), r"rank=0 .*\[1, 6\]"),
        (dict(n=6, rank=7, m=40), r"rank=7 .*\[1, 6\]"),
        (dict(n=6, rank=3, m=40, symmetric=False, n2=2), r"rank=3 .*\[1, 2\]"),
        (dict(n=0, rank=1, m=40), r"n=0 .*\[1, inf\]"),
        (dict(n=6, rank=2, m=0), r"m=0 .*\[1, inf\]"),
        (dict(n=6, rank=2, m=None), r"m must be a Python integer"),
        (dict(n=6, rank=2, m=37, operator="completion"), r"m=37 .*\[1, 36\]"),
        (dict(n=6, rank=2, m=40, operator="sparse"), r"operator='sparse'.*'gaussian'"),
        (dict(n=6, rank=2, m=40, cond=0.5), r"cond=0.5 .*\[1.0, inf\]"),
        (dict(n=6, rank=2, m=40, noise=sensing.Outliers(1.0)), r"p=1.0 .*\[0.0, 1.0\)"),
        (dict(n=6, rank=2, m=40, noise=sensing.GaussianNoise(-1.0)), r"nu=-1.0 .*\[0.0, inf\]"),
        (dict(n=6, rank=2, m=40, n2=4), r"n2=4 .*symmetric"),
        (dict(n=6, rank=2, m=40, dtype=jnp.int32), r"dtype=.*floating"),
    ],
)
def test_make_problem_rejects(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        sensing.make_problem(KEY, **kwargs)


@pytest.mark.parametrize(
    "build, pattern",
    [
        (lambda: sensing.outliers(-0.1), r"p=-0.1 .*\[0.0, 1.0\)"),
        (lambda: sensing.outliers(1.0), r"p=1.0 .*\[0.0, 1.0\)"),
        (lambda: sensing.outliers(0.5, magnitude=-2.0), r"magnitude=-2.0 .*\[0.0, inf\]"),
        (lambda: sensing.gaussian_noise(float("nan")), r"nu=nan is NaN"),
        (lambda: sensing.gd(-0.1), r"step_size=-0.1 .*\[0.0, inf\]"),
        (lambda: sensing.subgm(-1.0, 0.9), r"step_size=-1.0"),
        (lambda: sensing.subgm(0.1, 0.0), r"decay=0.0 .*\(0.0, 1.0\]"),
        (lambda: sensing.subgm(0.1, 1.5), r"decay=1.5 .*\(0.0, 1.0\]"),
        (lambda: sensing.subgm(0.1, 0.9, normalize="yes"), r"normalize='yes'"),
        (lambda: sensing.scaled_gd(0.1, -1.0), r"damping=-1.0 .*\[0.0, inf\]"),
        (lambda: sensing.precgd(0.1, floor=0.0), r"floor=0.0 .*\(0.0, inf\]"),
        (lambda: sensing.from_optax("adam"), r"tx='adam'"),
        (lambda: sensing.small_init(KEY, PROBLEM, 0, 0.1), r"k=0 .*\[1, inf\]"),
        (lambda: sensing.small_init(KEY, PROBLEM, 2, -0.1), r"scale=-0.1 .*\[0.0, inf\]"),
        (lambda: sensing.spectral_init(PROBLEM, 13), r"k=13 .*\[1, 12\]"),
        (lambda: sensing.rank_mask(4, 5), r"k=5 .*\[1.0, 4.0\]"),
        (lambda: sensing.rank_mask(0, 1), r"k_max=0 .*\[1, inf\]"),
    ],
)
def test_constructors_reject(build, pattern):
    with pytest.raises(ValueError, match=pattern):
        build()


X = jnp.zeros((12, 2))


@pytest.mark.parametrize(
    "problem, x0, kwargs, pattern",
    [
        (PROBLEM, jnp.zeros((5, 2)), {}, r"x0 has shape \(5, 2\).*\(12, k\)"),
        (PROBLEM, (X, X), {}, r"x0 has shape .*\(12, k\)"),
        (ASYM, X, {}, r"x0 has shapes .*\(12, k\), \(10, k\)"),
        (ASYM, (X, jnp.zeros((10, 3))), {}, r"x0 has shapes .*\(12, k\), \(10, k\)"),
        (PROBLEM, jnp.zeros((12, 0)), {}, r"x0 has 0 columns.*\[1, inf\)"),
        (PROBLEM, jnp.zeros((12, 2), jnp.float32), {}, r"x0 has dtype float32"),
        (PROBLEM, jnp.full((12, 2), jnp.nan), {}, r"x0 has 24 non-finite"),
        (PROBLEM._replace(y=PROBLEM.y.at[0].set(jnp.inf)), X, {}, r"y has 1 non-finite"),
        (PROBLEM, X, dict(steps=10, record_every=3), r"steps=10 must be a multiple of record_every=3"),
        (PROBLEM, X, dict(steps=-1, record_every=1), r"steps=-1 .*\[0, inf\]"),
        (PROBLEM, X, dict(steps=10, record_every=0), r"record_every=0 .*\[1, inf\]"),
        (PROBLEM, X, dict(steps=10.0, record_every=1), r"steps must be a Python integer"),
    ],
)
def test_run_rejects(problem, x0, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        sensing.run(sensing.gd(0.1), problem, x0, **{"steps": 10, "record_every": 5, **kwargs})


def test_run_rejects_a_non_algorithm():
    with pytest.raises(ValueError, match=r"algorithm=.*sensing.Algorithm"):
        sensing.run(lambda s, p: s, PROBLEM, X, steps=10, record_every=5)


def test_errors_are_raised_before_compiling():
    """Validation happens in Python: no compilation is triggered by a rejected call."""
    traces = []

    def step(state, problem):  # pragma: no cover - must never be traced
        traces.append(1)
        return state

    alg = sensing.Algorithm(lambda x: sensing.GDState(x, jnp.zeros((), jnp.int32)), step)
    with pytest.raises(ValueError):
        sensing.run(alg, PROBLEM, jnp.zeros((5, 2)), steps=10, record_every=5)
    assert traces == []


def test_traced_hyperparameters_are_accepted_and_concrete_ones_checked():
    """Inside jit a traced step size cannot be inspected and is let through; outside it is checked."""
    f = jax.jit(lambda eta: sensing.run(sensing.gd(eta), PROBLEM, X + 0.1, steps=5, record_every=5).error[-1])
    assert bool(jnp.isfinite(f(0.1)))
    with pytest.raises(ValueError, match="step_size"):
        sensing.gd(jnp.asarray(-1.0))
