"""SGLD on a multivariate Gaussian target against the exact law of the linear recursion it becomes.

Welling-Teh convention: ``theta <- theta + (eps_t / 2) grad log p(theta) + sqrt(eps_t) xi_t``.
For ``p = N(mu, S)`` the gradient is ``-P (theta - mu)``, P = S^-1, so with ``A_t = I - (eps_t/2) P``

    theta_{t+1} - mu = A_t (theta_t - mu) + sqrt(eps_t) xi_t,   xi_t ~ N(0, I) independent,

a Gaussian AR(1) with time-varying coefficients: from a fixed start theta_0 the law after t steps
is ``N(mu + m_t, C_t)`` with ``m_{t+1} = A_t m_t``, ``C_{t+1} = A_t C_t A_t^T + eps_t I``,
m_0 = theta_0 - mu, C_0 = 0. With a constant step the stationary covariance solves the discrete
Lyapunov equation ``C = A C A^T + eps I`` (scipy.linalg.solve_discrete_lyapunov), i.e.
``C = eps (I - A^2)^-1`` (A symmetric): ``S (I - eps P / 4)^-1``, not S.

Monte Carlo tolerances: 5 standard errors of the sample mean, sqrt(C_ii / N), and of the sample
covariance of a Gaussian, sqrt((C_ii C_jj + C_ij^2) / N).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax.flatten_util import ravel_pytree

import bounds as B

NUM_CHAINS = 4000
rng = np.random.default_rng(7)
_Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
COV = (_Q * np.array([0.5, 0.8, 1.3, 2.0])) @ _Q.T  # target covariance S, eigenvalues 0.5..2
PREC = np.linalg.inv(COV)
MU = np.array([0.5, -1.0, 2.0, 0.0])
# the position is a pytree of two leaves of the same shape: each must get its own noise
START = {"a": jnp.array([3.0, 3.0]), "b": jnp.array([-2.0, 1.0])}
_, UNRAVEL = ravel_pytree(START)


def _gradient(theta, _batch):
    flat, _ = ravel_pytree(theta)
    return UNRAVEL(-jnp.asarray(PREC) @ (flat - jnp.asarray(MU)))


@jax.jit
def _chains(key, step_sizes):
    """(N, T, 4): every chain's flattened position after each step."""
    alg = B.sgld(_gradient)
    dummy = jnp.zeros((step_sizes.shape[0], 0))

    def one(k):
        trace = B.sample_chain(alg, k, START, dummy, step_sizes)
        return jax.vmap(lambda t: ravel_pytree(t)[0])(trace)

    return jax.vmap(one)(jax.random.split(key, NUM_CHAINS))


def _exact_law(step_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means (T, 4) and covariances (T, 4, 4) after each step, by the recursion (NumPy loop)."""
    m = np.concatenate([np.asarray(START["a"]), np.asarray(START["b"])]) - MU
    c = np.zeros((4, 4))
    means, covs = [], []
    for eps in step_sizes:
        a = np.eye(4) - 0.5 * eps * PREC
        m = a @ m
        c = a @ c @ a.T + eps * np.eye(4)
        means.append(MU + m)
        covs.append(c)
    return np.array(means), np.array(covs)


def _assert_law(samples: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    """Sample mean and covariance of (N, 4) samples within 5 standard errors of N(mean, cov)."""
    n = samples.shape[0]
    d = np.diag(cov)
    assert np.all(np.abs(samples.mean(0) - mean) < 5 * np.sqrt(d / n)), (samples.mean(0), mean)
    sample_cov = np.cov(samples, rowvar=False)
    se = np.sqrt((np.outer(d, d) + cov**2) / n)
    assert np.all(np.abs(sample_cov - cov) < 5 * se), (sample_cov, cov)


def test_polynomial_step_sizes():
    """eps_t = a (b + t)^(-gamma), t = 0..T-1, against a Python loop."""
    got = np.asarray(B.polynomial_step_sizes(0.8, 1.5, 0.55, 6))
    np.testing.assert_allclose(got, [0.8 * (1.5 + t) ** -0.55 for t in range(6)], rtol=1e-15)


def test_sgld_with_decreasing_steps_follows_the_exact_gaussian_recursion():
    """Pytree position, polynomial steps: the law after 5, 15 and 40 steps is N(mu + m_t, C_t).

    The start (3, 3, -2, 1) is 3-5 standard deviations from mu, so the mean still carries the drift
    at t = 5 and 15; the covariance depends on the order of the steps (the A_t commute, but
    C_T = sum_t eps_t prod_{s > t} A_s^2 weights each eps_t differently).
    """
    eps = B.polynomial_step_sizes(0.8, 1.0, 0.55, 40)
    x = np.asarray(_chains(jax.random.key(0), eps))
    assert x.shape == (NUM_CHAINS, 40, 4)
    means, covs = _exact_law(np.asarray(eps))
    # observed largest z = 1.1, 1.9, 2.3 at t = 5, 15, 40; a factor 2 on the drift gives z = 67 (mean, t = 5)
    for t in (4, 14, 39):
        _assert_law(x[:, t], means[t], covs[t])


def test_constant_step_sgld_reaches_the_discrete_lyapunov_covariance():
    """Constant eps = 0.9: after 80 steps (||A||^160 < 1e-12) the law is N(mu, C) with
    C = A C A + eps I from scipy.linalg.solve_discrete_lyapunov, which is S (I - eps P/4)^-1,
    inflated well beyond S (by up to 1 / (1 - 0.9/2) = 1.8 on the smallest eigenvalue of S)."""
    eps = 0.9
    a = np.eye(4) - 0.5 * eps * PREC
    assert np.max(np.abs(np.linalg.eigvalsh(a))) ** 160 < 1e-12  # 0.775^160 = 2e-18
    stationary = scipy.linalg.solve_discrete_lyapunov(a, eps * np.eye(4))
    np.testing.assert_allclose(stationary, COV @ np.linalg.inv(np.eye(4) - 0.25 * eps * PREC), rtol=1e-12)
    x = np.asarray(_chains(jax.random.key(1), jnp.full((80,), eps)))[:, -1]
    _assert_law(x, MU, stationary)
    # the chain does not sample the target itself: its covariance is off by many standard errors
    # (observed 19.8; the largest z against the Lyapunov solution is 2.0)
    z = np.abs(np.cov(x, rowvar=False) - COV) / np.sqrt(np.outer(np.diag(COV), np.diag(COV)) / NUM_CHAINS)
    assert np.max(z) > 10


def test_ensemble_log_predictive_averages_probabilities():
    """log (1/J) sum_j p_j against NumPy on (J, S, A) log-probabilities, far in the tails too
    (log p ~ -800, where exp underflows unless shifted)."""
    lp = np.log(np.random.default_rng(3).dirichlet(np.ones(3), size=(5, 4)))  # (J = 5, S = 4, A = 3)
    ref = np.log(np.mean(np.exp(lp), axis=0))
    np.testing.assert_allclose(np.asarray(B.ensemble_log_predictive(lp)), ref, rtol=1e-14)
    shifted = lp - 800.0
    np.testing.assert_allclose(np.asarray(B.ensemble_log_predictive(shifted)), ref - 800.0, rtol=1e-14)
    # one member: the member itself
    np.testing.assert_allclose(np.asarray(B.ensemble_log_predictive(lp[:1])), lp[0], rtol=1e-14)
    # averaging probabilities, not log-probabilities (Jensen: strictly above the mean log-prob here)
    assert np.all(np.asarray(B.ensemble_log_predictive(lp)) > lp.mean(0))
