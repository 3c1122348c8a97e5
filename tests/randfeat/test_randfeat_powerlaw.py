"""Power-law closed forms against the discrete eigenframework solver."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from randfeat.powerlaw import (
    learnability_sum_constant,
    optimal_fitting_ratio,
    overfitting_threshold,
    ridgeless_gamma,
    ridgeless_krr_constant,
)
from randfeat.tasks import Task, power_law_task
from randfeat.theory import krr_risk, optimal_ridge

M = 100_000
N = np.array([200.0, 400.0])


@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 2.5), (3.0, 2.0), (2.0, 3.0), (2.5, 4.0)])
def test_ridgeless_constant_and_gamma_match_discrete_solver(alpha, beta):
    task = power_law_task(M, alpha, beta, 0.0)
    out = krr_risk(task, N, 0.0)
    c = ridgeless_krr_constant(alpha, beta)
    np.testing.assert_allclose(np.asarray(out.test) * N ** (beta - 1), c, rtol=0.03)
    g = np.array([ridgeless_gamma(alpha, n) for n in N])
    np.testing.assert_allclose(np.asarray(out.gamma), g, rtol=0.06)
    # E0 = alpha at the ridgeless point of a power law
    np.testing.assert_allclose(np.asarray(out.e0), alpha, rtol=0.03)


def test_learnability_sum_constant_is_the_integral():
    from scipy.integrate import quad

    for alpha in (1.3, 2.0, 3.7):
        val, _ = quad(lambda x: 1.0 / (1.0 + x**alpha), 0, np.inf)
        assert learnability_sum_constant(alpha) == pytest.approx(val, rel=1e-8)


@pytest.mark.parametrize(("alpha", "beta"), [(3.0, 2.0), (2.5, 1.8), (2.0, 3.0)])
def test_optimal_fitting_ratio_matches_discrete_optimum(alpha, beta):
    task = power_law_task(M, alpha, beta, 0.0)
    best = optimal_ridge(task, 400.0)
    ratio = float(best.risk.train / best.risk.test)
    r_star = optimal_fitting_ratio(alpha, beta)
    assert r_star < 1
    if r_star == 0:
        assert float(best.ridge) == 0.0 and ratio == pytest.approx(0.0, abs=1e-12)
    else:
        assert ratio == pytest.approx(r_star, rel=0.05)


@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 2.5), (2.0, 3.0)])
def test_obligatory_overfitting_threshold(alpha, beta):
    """Interpolation is optimal just below the threshold relative noise and not just above it."""
    base = power_law_task(M, alpha, beta, 0.0)
    n = 400.0
    clean = float(krr_risk(base, n, 0.0).test)         # noiseless ridgeless risk: the unit of sigma_rel^2
    threshold = overfitting_threshold(alpha, beta)
    noise = jnp.asarray([0.95 * threshold * clean, 1.05 * threshold * clean])
    ridges = [float(optimal_ridge(Task(base.eigenvalues, base.coefficients, s2), n).ridge) for s2 in noise]
    assert ridges[0] == 0.0 and ridges[1] > 0.0


def test_bad_exponents():
    with pytest.raises(ValueError, match="alpha = 1.0"):
        ridgeless_krr_constant(1.0, 1.5)
    with pytest.raises(ValueError, match="beta"):
        ridgeless_krr_constant(2.0, 6.0)
    with pytest.raises(ValueError, match="alpha = 0.5"):
        optimal_fitting_ratio(0.5, 1.0)
