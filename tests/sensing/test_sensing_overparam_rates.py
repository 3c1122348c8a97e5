"""sensing.theory's over-parameterised rates against independent computations.

* ``masked_asymmetric_rate`` against NumPy's ``eigvalsh`` of the active block of ``D0``;
* ``gauss_newton_tail_rate`` against a Gauss-Newton matrix built by a NumPy loop over the sensing
  matrices, with the null space found by a spectral gap (not by the dimension count the library
  uses), against ``asymmetric_tail_rate`` in the population limit, and against zero padding;
* ``spurious_mode_lower_bound`` / ``spurious_mode_rate`` against the scalar recursion iterated in
  plain Python floats;
* ``symmetric_doubling_ratio`` against ``spurious_eigenvalue``;
* ``lower_bound_example`` and the validation of all of them.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sensing
from sensing import theory

ETA = 0.25


@pytest.fixture(scope="module")
def converged() -> tuple[sensing.Problem, tuple[jax.Array, jax.Array], sensing.Problem, tuple[jax.Array, jax.Array]]:
    """Gaussian (n = 5, r = 1, m = 120) and population problems with GD run to the float64 floor at k = 3."""
    key = jax.random.key(7)
    gauss = sensing.make_problem(key, n=5, rank=1, m=120, symmetric=False)
    pop = sensing.make_problem(key, n=5, rank=1, operator="population", symmetric=False)
    out = []
    for problem in (gauss, pop):
        x0 = sensing.small_init(jax.random.key(9), problem, 3, 0.8)  # final error 5e-13: a clean spectral gap
        out.append(sensing.run(sensing.gd(ETA), problem, x0, steps=4000, record_every=4000).final)
    return gauss, out[0], pop, out[1]


def _numpy_gauss_newton_rate(a: np.ndarray, f: np.ndarray, g: np.ndarray, eta: float) -> tuple[float, int]:
    """-log(1 - eta lambda_+), H = (1/m) sum_i g_i g_i^T, g_i = (vec(A_i G), vec(A_i^T F)); the null space by a gap."""
    rows = [np.concatenate([(ai @ g).ravel(), (ai.T @ f).ravel()]) for ai in a]
    h = sum(np.outer(v, v) for v in rows) / len(rows)
    lam = np.linalg.eigvalsh(h)
    null = int(np.sum(lam < 1e-9 * lam[-1]))  # converged factors: null eigenvalues <= 6e-16, the rest >= 2e-2
    return float(-np.log1p(-eta * lam[null])), null


def test_masked_rate_is_lambda_min_of_the_active_block() -> None:
    k1, k2 = jax.random.split(jax.random.key(0))
    f0, g0 = jax.random.normal(k1, (7, 5)), 0.3 * jax.random.normal(k2, (6, 5))
    for active in ([1, 1, 1, 0, 0], [1, 0, 1, 1, 0], [1, 1, 1, 1, 1]):
        mask = jnp.asarray(active, jnp.float64)
        cols = np.flatnonzero(active)
        f, g = np.asarray(f0 * mask)[:, cols], np.asarray(g0 * mask)[:, cols]
        expected = ETA * np.linalg.eigvalsh(f.T @ f - g.T @ g)[0]
        got = float(theory.masked_asymmetric_rate(ETA, f0 * mask, g0 * mask, mask))
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)  # same eigenproblem; seen 1e-15
    # zero-padded columns: the plain asymmetric_rate sees their zero eigenvalue, the masked one does not
    mask = sensing.rank_mask(5, 3)
    assert float(theory.asymmetric_rate(ETA, f0 * mask, g0 * mask)) == pytest.approx(0.0, abs=1e-14)
    assert float(theory.masked_asymmetric_rate(ETA, f0 * mask, g0 * mask, mask)) > 0.1  # D0 ~ 6 I here


def test_masked_rate_works_with_a_traced_mask() -> None:
    f0, g0 = jax.random.normal(jax.random.key(1), (6, 4)), 0.2 * jax.random.normal(jax.random.key(2), (6, 4))
    rate = jax.jit(jax.vmap(lambda k: theory.masked_asymmetric_rate(
        ETA, f0 * sensing.rank_mask(4, k), g0 * sensing.rank_mask(4, k), sensing.rank_mask(4, k))))
    got = np.asarray(rate(jnp.arange(1, 5)))
    expected = [ETA * np.linalg.eigvalsh(np.asarray(f0[:, :k].T @ f0[:, :k] - g0[:, :k].T @ g0[:, :k]))[0]
                for k in range(1, 5)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)  # seen 2e-16


def test_gauss_newton_matches_a_numpy_loop_and_its_null_space_count(converged) -> None:
    gauss, (f, g), _, _ = converged
    a = np.asarray(sensing.dense_matrices(gauss.operator, (5, 5)))
    expected, null = _numpy_gauss_newton_rate(a, np.asarray(f), np.asarray(g), ETA)
    assert null == 5 * (3 - 1) + 3 * 1  # n1 (k - r) + k r, found by the gap
    got = float(theory.gauss_newton_tail_rate(ETA, gauss.operator, f, g, 1))
    assert got == pytest.approx(expected, rel=1e-9)  # the same matrix summed in another order; seen 1e-13


def test_gauss_newton_is_the_population_tail_rate_in_the_population_limit(converged) -> None:
    _, _, pop, (f, g) = converged
    got = float(theory.gauss_newton_tail_rate(ETA, pop.operator, f, g, 1))
    expected = float(theory.asymmetric_tail_rate(ETA, f, g))
    assert got == pytest.approx(expected, rel=1e-9)  # lambda_+ = lambda_min(F^T F) exactly; seen 1e-14


def test_gauss_newton_predicts_the_measured_tail_of_a_run() -> None:
    """Gaussian sensing, n = 6, r = 1, k = 2: the rate fitted between 1e-8 and 1e-11 is the prediction to 2 %."""
    problem = sensing.make_problem(jax.random.key(3), n=6, rank=1, m=300, symmetric=False)
    x0 = sensing.small_init(jax.random.key(4), problem, 2, 0.4)
    trace = sensing.run(sensing.gd(ETA), problem, x0, steps=6000, record_every=20)
    e, t = np.asarray(trace.error), np.asarray(trace.steps, float)
    keep = (e < 1e-8) & (e > 1e-11)
    assert keep.sum() >= 4
    measured = -np.polyfit(t[keep], np.log(e[keep]), 1)[0]
    predicted = float(theory.gauss_newton_tail_rate(ETA, problem.operator, *trace.final, 1))
    population = float(theory.asymmetric_tail_rate(ETA, *trace.final))
    assert measured / predicted == pytest.approx(1.0, abs=0.02)  # slower modes fade; seen 1.002
    assert measured / population < 0.95  # finite m: the population formula is visibly off here


def test_gauss_newton_with_padded_columns_equals_the_unpadded_rate(converged) -> None:
    gauss, (f, g), _, _ = converged
    pad = lambda x: jnp.concatenate([x, jnp.zeros((x.shape[0], 2))], axis=1)  # noqa: E731
    base = float(theory.gauss_newton_tail_rate(ETA, gauss.operator, f, g, 1))
    padded = jax.jit(theory.gauss_newton_tail_rate, static_argnums=(4,))(ETA, gauss.operator, pad(f), pad(g), 1, 3)
    assert float(padded) == pytest.approx(base, rel=1e-9)  # padded directions are exactly null; seen 1e-14
    # counting the padded columns as active picks a null eigenvalue instead: the rate collapses
    assert float(theory.gauss_newton_tail_rate(ETA, gauss.operator, pad(f), pad(g), 1)) < 1e-10


def test_gauss_newton_rates_of_a_stack_equal_the_rates_one_by_one(converged) -> None:
    gauss, (f, g), _, _ = converged
    pad = lambda x: jnp.concatenate([x, jnp.zeros((x.shape[0], 1))], axis=1)  # noqa: E731
    fs = jnp.stack([pad(f), pad(0.9 * f), pad(f[:, [0, 1, 2]] * jnp.array([1.0, 1.0, 0.0]))])
    gs = jnp.stack([pad(g), pad(g / 0.9), pad(g * jnp.array([1.0, 1.0, 0.0]))])
    active = jnp.array([3, 3, 2])
    got = np.asarray(theory.gauss_newton_tail_rates(ETA, gauss.operator, fs, gs, 1, active))
    expected = [float(theory.gauss_newton_tail_rate(ETA, gauss.operator, fs[i], gs[i], 1, int(active[i])))
                for i in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)  # the same computation, sequenced; seen 0
    with pytest.raises(ValueError, match="active has shape"):
        theory.gauss_newton_tail_rates(ETA, gauss.operator, fs, gs, 1, active[:2])
    with pytest.raises(ValueError, match="allowed: stacks"):
        theory.gauss_newton_tail_rates(ETA, gauss.operator, fs[0], gs[0], 1)


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"rank": 0}, "rank=0"),
    ({"rank": 4}, "rank=4"),
    ({"rank": 1, "active": 0}, "active=0"),
    ({"rank": 1, "active": 4}, "active=4"),
    ({"rank": 1, "step_size": -0.1}, "step_size=-0.1"),
])
def test_gauss_newton_rejects_bad_input(converged, kwargs, fragment) -> None:
    gauss, (f, g), _, _ = converged
    kwargs = {"step_size": ETA, **kwargs}
    with pytest.raises(ValueError, match=re.escape(fragment)):
        theory.gauss_newton_tail_rate(kwargs.pop("step_size"), gauss.operator, f, g, **kwargs)


def test_gauss_newton_rejects_the_packed_symmetric_operator_and_mismatched_factors(converged) -> None:
    sym = sensing.make_problem(jax.random.key(0), n=5, rank=1, m=50)
    _, (f, g), _, _ = converged
    with pytest.raises(ValueError, match="PackedGaussian"):
        theory.gauss_newton_tail_rate(ETA, sym.operator, f, g, 1)
    with pytest.raises(ValueError, match="g has shape"):
        theory.gauss_newton_tail_rate(ETA, converged[0].operator, f, g[:, :2], 1)


def test_masked_rate_rejects_a_mask_of_the_wrong_shape_or_values() -> None:
    f, g = jnp.ones((4, 3)), jnp.ones((4, 3))
    with pytest.raises(ValueError, match=re.escape("mask has shape (2,)")):
        theory.masked_asymmetric_rate(ETA, f, g, jnp.ones(2))
    with pytest.raises(ValueError, match="mask="):
        theory.masked_asymmetric_rate(ETA, f, g, jnp.array([1.0, 2.0, 0.0]))


def _scalar_mode(f: float, g: float, eta: float, steps: int) -> np.ndarray:
    """``f g`` under ``f <- f (1 - eta g^2), g <- g (1 - eta f^2)`` (simultaneous), in plain floats."""
    out = [f * g]
    for _ in range(steps):
        f, g = f * (1 - eta * g * g), g * (1 - eta * f * f)
        out.append(f * g)
    return np.array(out)


@given(f0=st.floats(0.05, 1.0), ratio=st.floats(0.0, 1.0), eta=st.floats(0.05, 0.9))
def test_spurious_mode_lower_bound_holds_along_the_recursion(f0, ratio, eta) -> None:
    g0 = ratio * f0
    z = _scalar_mode(f0, g0, eta, 400)
    bound = np.asarray(theory.spurious_mode_lower_bound(np.arange(401.0), eta, f0, g0))
    assert bound[0] == pytest.approx(f0 * g0, rel=1e-15)
    assert np.all(z >= bound * (1 - 1e-12))  # a proven inequality; slack only for round-off


@pytest.mark.parametrize("alpha", [0.1, 0.3, 0.6])
def test_spurious_mode_rate_is_the_tail_rate_up_to_the_proven_drift(alpha) -> None:
    f0, g0 = alpha, alpha / 3
    steps = int(40 / (ETA * alpha * alpha))
    z = _scalar_mode(f0, g0, ETA, steps)
    measured = math.log(z[-2] / z[-1])  # one-step rate at the end (g^2 is negligible there)
    predicted = float(theory.spurious_mode_rate(ETA, f0, g0))
    drift = (predicted - measured) / (predicted * ETA * alpha**2 / 16)
    assert 0.0 <= drift <= 1.0, drift  # theory: D_inf in [D0 (1 - eta alpha^2 / 16), D0]; seen 0.9


def test_symmetric_doubling_ratio_is_the_ratio_of_the_plateau_law() -> None:
    t, s0 = np.array([10.0, 1e3, 1e6]), 0.04
    expected = np.asarray(theory.spurious_eigenvalue(t, ETA, s0) / theory.spurious_eigenvalue(t / 2, ETA, s0))
    np.testing.assert_allclose(np.asarray(theory.symmetric_doubling_ratio(t, ETA, s0)), expected, rtol=1e-14)
    assert float(theory.symmetric_doubling_ratio(1e9, ETA, s0)) == pytest.approx(0.5, abs=1e-7)
    # the recursion s <- s (1 - eta s)^2 itself: its doubling ratio at t = 4000 is the law's to 1 %
    s, history = s0, [s0]
    for _ in range(4000):
        s *= (1 - ETA * s) ** 2
        history.append(s)
    assert history[4000] / history[2000] == pytest.approx(float(theory.symmetric_doubling_ratio(4000, ETA, s0)),
                                                          rel=0.01)  # O(eta s) corrections; seen 2e-3


def test_lower_bound_example_is_diagonal_and_stays_above_its_bound() -> None:
    problem, (f0, g0) = theory.lower_bound_example(4, 1, 3, 0.3)
    np.testing.assert_array_equal(np.asarray(problem.truth.matrix), np.diag([1.0, 0, 0, 0]))
    np.testing.assert_array_equal(np.asarray(f0), 0.3 * np.eye(4, 3))
    np.testing.assert_allclose(np.asarray(g0), 0.1 * np.eye(4, 3), rtol=1e-15)
    trace = sensing.run(sensing.gd(ETA), problem, (f0, g0), steps=3000, record_every=10)
    t = np.asarray(trace.steps, float)
    bound = math.sqrt(2.0) * np.asarray(theory.spurious_mode_lower_bound(t, ETA, 0.3, 0.1))  # sqrt((k-r)/r)
    assert np.all(np.asarray(trace.error) >= bound)
    f, g = trace.final
    assert float(jnp.max(jnp.abs(f * (1 - jnp.eye(4, 3))))) == 0.0  # the off-diagonal stays exactly 0
    # the relative error is exactly sqrt(r (f g - 1)^2 + (k - r) (f g)^2) / sqrt(r) of the diagonal modes
    d = np.diag(np.asarray(f)[:3]) * np.diag(np.asarray(g)[:3])
    assert float(trace.error[-1]) == pytest.approx(math.sqrt((d[0] - 1) ** 2 + d[1] ** 2 + d[2] ** 2), rel=1e-9)


@pytest.mark.parametrize(("args", "fragment"), [
    ((4, 1, 1, 0.3), "k=1"), ((4, 1, 5, 0.3), "k=5"), ((4, 0, 2, 0.3), "rank=0"), ((4, 1, 2, 0.0), "alpha=0.0"),
])
def test_lower_bound_example_rejects_bad_input(args, fragment) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        theory.lower_bound_example(*args)
