"""Weight bound eps-curve, the over-parameterised demo, the Gibbs identity, supervised regret."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import bounds as B

seeds = st.integers(0, 2**31 - 1)


def bern(p: float) -> np.ndarray:
    return np.array([1.0 - p, p])


@given(seed=seeds, n=st.integers(1, 10_000))
def test_eps_curve_matches_direct_sums(seed, n):
    """Sorted cumulative logsumexp = log of the prior mass of each KL ball, ties included; min is exact."""
    rng = np.random.default_rng(seed)
    k = 30
    kl = np.round(rng.exponential(0.3, k), 1)  # rounding creates ties
    w = rng.dirichlet(np.ones(k))
    wb = B.weight_bound(np.log(w), kl, n)
    eps = np.asarray(wb.eps)
    direct = np.log((kl[None, :] <= eps[:, None]) @ w)
    np.testing.assert_allclose(np.asarray(wb.log_weight), direct, rtol=1e-12, atol=1e-12)
    dense = np.linspace(kl.min(), kl.max() + 1, 20001)
    brute = np.min(n * dense - np.log((kl[None, :] <= dense[:, None]) @ w))
    assert float(wb.minimum) <= brute + 1e-9
    np.testing.assert_allclose(np.asarray(B.log_weight_of_kl_ball(np.log(w), kl, eps)), direct, rtol=1e-12, atol=1e-12)


def test_mean_of_uniforms_weights_are_the_exact_convolution():
    """Log-weights = counts of (j_1..j_D) with sum J over m^D (brute force), extremes exactly m^-D."""
    d, m = 3, 5
    counts = np.zeros(d * (m - 1) + 1)
    for js in itertools.product(range(m), repeat=d):
        counts[sum(js)] += 1
    np.testing.assert_allclose(B.mean_of_uniforms_log_weights(d, m), np.log(counts / m**d), rtol=1e-13)
    lw = B.mean_of_uniforms_log_weights(40, 16)
    np.testing.assert_allclose([lw[0], lw[-1]], [-40 * math.log(16)] * 2, rtol=1e-12)
    cls = B.mean_of_uniforms_class(40, 16)
    p = np.exp(np.asarray(cls.log_probs[:, 1]))
    w = np.exp(np.asarray(cls.log_prior))
    np.testing.assert_allclose(w @ p, 0.5, rtol=1e-12)
    np.testing.assert_allclose(w @ (p - 0.5) ** 2, (16**2 - 1) / (12 * 16**2 * 40), rtol=1e-10)


def test_mean_of_uniforms_tends_to_bates_density():
    """D = 2: (D m) * weight at the mean -> the triangular (Bates(2)) density, error O(1/m)."""
    m = 400
    cls = B.mean_of_uniforms_class(2, m)
    x = np.exp(np.asarray(cls.log_probs[:, 1]))
    density = 2 * m * np.exp(np.asarray(cls.log_prior))
    np.testing.assert_allclose(density, stats.triang.pdf(x, 0.5), atol=4.0 / m)


def test_overparameterised_demo():
    """More parameters lower a simple truth's regret and raise a complex one's; regret ranks like -log W."""
    n = 200
    dims = (1, 2, 4, 8, 16)
    # padded to a common K so one compiled program serves every D (padding is exact: weight 0)
    classes = [B.pad_hypotheses(B.mean_of_uniforms_class(d, 16), 16 * 15 + 1) for d in dims]
    for p0, direction in ((0.5, -1), (0.03, +1)):
        regret = np.array([float(B.expected_regret(c, bern(p0), n)) for c in classes])
        neg_log_w = np.array(
            [-float(B.log_weight_of_kl_ball(c.log_prior, B.kl_to_truth(c, bern(p0)), 1.0 / n)) for c in classes]
        )
        assert np.all(direction * np.diff(regret) > 0), regret
        np.testing.assert_array_equal(np.argsort(regret), np.argsort(neg_log_w))
        for c, r in zip(classes, regret):
            assert r <= float(B.weight_bound(c.log_prior, B.kl_to_truth(c, bern(p0)), n).minimum)


@given(seed=seeds)
def test_gibbs_identity(seed):
    """-log Q(x^n) = min_rho E_rho[-log p] + KL(rho || w), attained at the posterior only."""
    rng = np.random.default_rng(seed)
    k = 12
    lw = np.log(rng.dirichlet(np.ones(k)))
    ll = rng.normal(-20, 5, k)
    post = B.log_posterior(lw, ll)
    target = -float(B.log_marginal_likelihood(lw, ll))
    np.testing.assert_allclose(float(B.gibbs_free_energy(lw, ll, post)), target, rtol=1e-12)
    rho = np.log(rng.dirichlet(np.ones(k)))
    assert float(B.gibbs_free_energy(lw, ll, rho)) >= target - 1e-12
    # the gap is exactly KL(rho || posterior)
    gap = float(B.gibbs_free_energy(lw, ll, rho)) - target
    np.testing.assert_allclose(gap, np.sum(np.exp(rho) * (rho - np.asarray(post))), rtol=1e-9, atol=1e-12)


def test_supervised_monte_carlo_matches_exact_bernoulli():
    """One input point x = 1: the logistic class is the Bernoulli class p_k = sigmoid(w_k), exact D_n known."""
    cls = B.sampled_logistic_class(jax.random.key(0), 200, 1, weight_scale=2.0)
    p = np.asarray(jax.nn.sigmoid(cls.weights[:, 0]))
    exact_cls = B.bernoulli_grid(p)
    w0 = 0.4
    n = 40
    exact = np.cumsum(np.asarray(B.per_step_regret(exact_cls, bern(float(jax.nn.sigmoid(w0))), n)))
    mc = B.supervised_regret(cls, jnp.array([w0]), n, jax.random.key(1), num_sequences=400, design=np.ones((1, 1)))
    assert abs(float(mc.cumulative[-1]) - exact[-1]) < 4 * float(mc.total_se)
    np.testing.assert_allclose(np.asarray(mc.cumulative), np.cumsum(np.asarray(mc.per_step)), rtol=1e-12)


def test_supervised_truth_in_sampled_class():
    """Random-feature class, truth = member k: 0 <= D_n <= -log w_k = log M, and D_n <= weight bound."""
    m = 300
    cls = B.sampled_logistic_class(jax.random.key(2), m, 3, num_features=16, activation="tanh", weight_scale=2.0)
    w0 = cls.weights[5]
    res = B.supervised_regret(cls, w0, 60, jax.random.key(3), num_sequences=64)
    assert float(jnp.min(res.per_step)) >= 0.0
    assert float(res.cumulative[-1]) <= math.log(m) + 4 * float(res.total_se)
    x = jax.random.normal(jax.random.key(4), (4096, 3))
    kl = B.logistic_kl_to_truth(cls, w0, x)
    assert abs(float(kl[5])) < 1e-12
    bound = B.weight_bound(cls.log_prior, jnp.maximum(kl, 0.0), 60).minimum
    assert float(res.cumulative[-1]) <= float(bound) + 4 * float(res.total_se)
