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
N = np.array([50.0, 100.0, 200.0])


@pytest.mark.parametrize(("alpha", "beta", "modes"),
                         [(2.0, 2.5, 10**6), (3.0, 2.0, 10**6), (2.0, 3.0, 10**6), (2.5, 4.0, 10**5)])
def test_ridgeless_constant_and_gamma_approach_the_continuum_at_rate_one_over_n(alpha, beta, modes):
    """Discrete ridgeless KRR (z = n) against the continuum closed forms at n = 50, 100, 200.

    Euler-Maclaurin on the eigen-sums over i >= 1: each equals its integral over [0, inf) minus half
    its integrand at i = 0, so z = I_alpha gamma^{-1/alpha} - 1/2 and q = q_cont - 1/2, while the bias
    integrand vanishes at 0. Hence gamma = (I_alpha / (n + 1/2))^alpha, E0 = alpha n / (n + 1/2) and
    E_te = E0 B(gamma) with B ~ gamma^{(beta - 1)/alpha}: the relative errors are
    -alpha/(2n), -1/(2n) and -beta/(2n) to first order. Observed n * error + coefficient within
    0.043 of 0 (second-order terms and the finite number of modes; alpha = 2 needs 10^6 modes, the
    truncated tail shifts z by ~M^{1-alpha} / gamma); tolerance 0.1, i.e. 5e-4 relative at n = 200."""
    task = power_law_task(modes, alpha, beta, 0.0)
    out = krr_risk(task, N, 0.0)
    errors = {
        "constant": (np.asarray(out.test) * N ** (beta - 1) / ridgeless_krr_constant(alpha, beta) - 1, beta / 2),
        "gamma": (np.asarray(out.gamma) / np.array([ridgeless_gamma(alpha, n) for n in N]) - 1, alpha / 2),
        "e0": (np.asarray(out.e0) / alpha - 1, 0.5),     # E0 = alpha at the ridgeless point of a power law
    }
    for name, (err, coefficient) in errors.items():
        np.testing.assert_allclose(N * err, -coefficient, atol=0.1, err_msg=name)


def test_learnability_sum_constant_is_the_integral():
    from scipy.integrate import quad

    for alpha in (1.3, 2.0, 3.7):
        val, _ = quad(lambda x: 1.0 / (1.0 + x**alpha), 0, np.inf)
        assert learnability_sum_constant(alpha) == pytest.approx(val, rel=1e-8)


@pytest.mark.parametrize(("alpha", "beta"), [(4.0, 2.5), (3.5, 2.5)])
def test_optimal_fitting_ratio_approaches_r_star_at_rate_one_over_n(alpha, beta):
    """The discrete optimum's E_tr/E_te at n = 50, 100, 200 tends to R* like 1/n. Observed
    n (R/R* - 1) = 1.00 +- 0.005 with 10^6 modes and 0.94 - 1.005 with 10^5 (the truncated tail
    starts to show at n = 200), so each doubling of n halves the error; tolerance 0.1 on
    n (R/R* - 1) - 1 (5e-4 relative at n = 200)."""
    task = power_law_task(M, alpha, beta, 0.0)
    best = optimal_ridge(task, N)
    ratio = np.asarray(best.risk.train) / np.asarray(best.risk.test)
    r_star = optimal_fitting_ratio(alpha, beta)
    assert 0 < r_star < 1
    np.testing.assert_allclose(N * (ratio / r_star - 1), 1.0, atol=0.1)


def test_optimal_fitting_ratio_is_zero_when_beta_exceeds_alpha():
    """beta > alpha: R* = 0, the optimal ridge is 0 and the ridgeless fit interpolates (E_tr = 0)."""
    task = power_law_task(M, 2.0, 3.0, 0.0)
    best = optimal_ridge(task, 400.0)
    assert optimal_fitting_ratio(2.0, 3.0) == 0.0
    assert float(best.ridge) == 0.0 and float(best.risk.train) < 1e-25 * float(best.risk.test)   # observed 6e-29


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
