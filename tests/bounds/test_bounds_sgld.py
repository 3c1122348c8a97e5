"""SGLD stationary variance (exact AR(1) form) and ensembles of posterior samples vs the exact mixture."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.scipy.special import logsumexp

import bounds as B

NUM_CHAINS = 10_000
NUM_STEPS = 60  # |1 - eps/(2v)|^(2T) < 1e-14 for eps/v in [0.5, 3]: the start is forgotten


@jax.jit
def _final_gaussian_samples(key, mu, v, eps):
    alg = B.sgld(lambda theta, _batch: -(theta - mu) / v)
    dummy = jnp.zeros((NUM_STEPS, 0))
    steps = jnp.full((NUM_STEPS,), eps)

    def chain(k):
        return B.sample_chain(alg, k, mu, dummy, steps)[-1]

    return jax.vmap(chain)(jax.random.split(key, NUM_CHAINS))


@settings(max_examples=10)
@given(ratio=st.floats(0.5, 3.0), mu=st.floats(-2.0, 2.0), log_v=st.floats(-2.0, 2.0), seed=st.integers(0, 2**30))
def test_sgld_stationary_variance_is_the_exact_ar1_value(ratio, mu, log_v, seed):
    """Gaussian target N(mu, v), step eps = ratio v: Var = v / (1 - eps/(4v)) (not v), 5 SE tolerance."""
    v = math.exp(log_v)
    eps = ratio * v
    x = np.asarray(_final_gaussian_samples(jax.random.key(seed), jnp.asarray(mu), jnp.asarray(v), jnp.asarray(eps)))
    exact = float(B.gaussian_stationary_variance(v, eps))
    np.testing.assert_allclose(exact, eps / (1 - (1 - eps / (2 * v)) ** 2), rtol=1e-12)
    se = exact * math.sqrt(2.0 / NUM_CHAINS)
    assert abs(x.var() - exact) < 5 * se
    assert abs(x.mean() - mu) < 5 * math.sqrt(exact / NUM_CHAINS)


def test_minibatch_gradient_is_the_full_gradient_on_the_full_batch():
    """g_hat on the whole data set = grad log prior + sum_i grad log lik (Gaussian model, closed form)."""
    data = jnp.linspace(-1.0, 2.0, 10)
    g = B.minibatch_gradient(lambda t: -0.5 * t**2, lambda t, z: -0.5 * (z - t) ** 2, data_size=10)
    theta = jnp.asarray(0.3)
    np.testing.assert_allclose(float(g(theta, data)), float(-theta + jnp.sum(data - theta)), rtol=1e-12)
    half = g(theta, data[:5])
    np.testing.assert_allclose(float(half), float(-theta + 2 * jnp.sum(data[:5] - theta)), rtol=1e-12)


def test_exact_posterior_ensembles_are_worse_than_the_mixture_and_improve_with_members():
    """E[-log mean_j p_{theta_j}(y)] over i.i.d. posterior members, enumerated exactly, decreases in J
    and stays above the mixture's -log q(y) (Jensen)."""
    rng = np.random.default_rng(0)
    k = 5
    p1 = np.sort(rng.uniform(0.05, 0.95, k))
    log_post = np.log(rng.dirichlet(np.ones(k)))
    log_probs = np.log(np.stack([1 - p1, p1], -1))  # (K, 2)
    p0 = np.array([0.35, 0.65])
    mixture = -p0 @ np.asarray(logsumexp(log_post[:, None] + log_probs, axis=0))
    losses = []
    for j in range(1, 7):
        counts = B.compositions(j, k)  # all multisets of J members
        log_pmf = (math.lgamma(j + 1) - np.sum([[math.lgamma(c + 1) for c in row] for row in counts], 1)
                   + counts @ log_post)
        members = np.stack([np.repeat(np.arange(k), row) for row in counts], axis=1)  # (J, S)
        ens = np.asarray(B.ensemble_log_predictive(log_probs[members]))  # (S, 2)
        losses.append(float(np.exp(log_pmf) @ (-(ens @ p0))))
    assert np.all(np.diff(losses) < 0)
    assert losses[-1] > mixture


def test_sgld_ensemble_log_loss_against_the_exact_mixture():
    """Bayesian logistic regression in 1-d, SGLD chains as ensemble members, exact mixture by grid
    quadrature over theta. Nested ensembles improve with J pathwise (convexity of -log, since
    probabilities are averaged); every ensemble size is at least the mixture's log-loss within
    4 standard errors (over ensembles), and a single chain is clearly worse than the mixture."""
    n = 20
    kx, ky, kc = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (n,))
    y = jax.random.bernoulli(ky, jax.nn.sigmoid(1.5 * x)).astype(jnp.float64)

    def log_lik(theta, z):
        xi, yi = z
        return yi * jax.nn.log_sigmoid(theta * xi) + (1 - yi) * jax.nn.log_sigmoid(-theta * xi)

    grid = jnp.linspace(-8.0, 8.0, 4001)
    log_joint = -0.5 * grid**2 + jax.vmap(lambda t: jnp.sum(log_lik(t, (x, y))))(grid)
    log_post = log_joint - logsumexp(log_joint)
    x_test = jnp.linspace(-3.0, 3.0, 61)
    p_test = jax.nn.sigmoid(1.5 * x_test)

    def expected_loss(log_q1, log_q0):  # mean over test inputs, one value per ensemble
        return np.asarray(jnp.mean(-(p_test * log_q1 + (1 - p_test) * log_q0), axis=-1))

    mix1 = logsumexp(log_post[:, None] + jax.nn.log_sigmoid(grid[:, None] * x_test), axis=0)
    mix0 = logsumexp(log_post[:, None] + jax.nn.log_sigmoid(-grid[:, None] * x_test), axis=0)
    mixture = float(expected_loss(mix1, mix0))

    grad = B.minibatch_gradient(lambda t: -0.5 * t**2, log_lik, data_size=n)
    alg = B.sgld(grad)
    steps = 500
    batches = (jnp.broadcast_to(x, (steps, n)), jnp.broadcast_to(y, (steps, n)))
    eps = jnp.full((steps,), 5e-3)
    run = jax.jit(jax.vmap(lambda k: B.sample_chain(alg, k, jnp.asarray(0.0), batches, eps)[-1]))
    chains = run(jax.random.split(kc, 2048))
    losses = {}
    for j in (1, 4, 16):
        members = chains.reshape(-1, j)  # (2048 / J ensembles, J members), nested across J
        lq1 = B.ensemble_log_predictive(jnp.moveaxis(jax.nn.log_sigmoid(members[..., None] * x_test), 1, 0))
        lq0 = B.ensemble_log_predictive(jnp.moveaxis(jax.nn.log_sigmoid(-members[..., None] * x_test), 1, 0))
        losses[j] = expected_loss(lq1, lq0)
    for small, large in ((1, 4), (4, 16)):
        nested_mean = losses[small].reshape(-1, large // small).mean(axis=1)
        assert np.all(losses[large] <= nested_mean + 1e-12)
    for j, values in losses.items():
        se = values.std(ddof=1) / math.sqrt(values.size)
        assert values.mean() >= mixture - 4 * se, (j, values.mean(), mixture, se)
    assert losses[1].mean() - mixture > 4 * losses[1].std(ddof=1) / math.sqrt(losses[1].size)
