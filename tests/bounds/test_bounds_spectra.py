"""PAC-Bayes-kl inversion, gradient coherence, Hessian spectra by HVP + Lanczos."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

import bounds as B

seeds = st.integers(0, 2**31 - 1)


# ----------------------------------------------------------------------------- PAC-Bayes


@given(q=st.floats(0.0, 1.0), c=st.floats(0.0, 3.0))
def test_kl_inverse(q, c):
    """p* = kl^{-1}(q, c): kl(q || p*) = c unless p* = 1; q <= p* <= q + sqrt(c/2) (Pinsker); monotone."""
    p = float(B.kl_inverse_upper(q, c))
    assert q - 1e-15 <= p <= min(1.0, q + math.sqrt(c / 2)) + 1e-12
    if p < 1 - 1e-9:
        np.testing.assert_allclose(float(B.kl_bernoulli(q, p)), c, atol=1e-10)
    else:
        assert float(B.kl_bernoulli(q, 1 - 1e-9)) <= c + 1e-6
    assert float(B.kl_inverse_upper(q, c + 0.1)) >= p


def test_pac_bayes_kl_bound_coverage():
    """Point posterior = prior (KL = 0), n Bernoulli(L) losses: the bound covers L in >= 1 - delta of trials."""
    n, delta, trials = 100, 0.1, 4000
    for true_risk in (0.05, 0.3):
        emp = np.random.default_rng(1).binomial(n, true_risk, trials) / n
        bound = np.asarray(B.pac_bayes_kl_bound(emp, np.zeros(trials), n, delta))
        rhs = math.log(2 * math.sqrt(n) / delta) / n
        np.testing.assert_allclose(np.asarray(B.pac_bayes_kl_rhs(0.0, n, delta)), rhs, rtol=1e-14)
        assert np.mean(bound >= true_risk) >= 1 - delta
        assert np.all(bound >= emp)


# ----------------------------------------------------------------------------- coherence


@given(seed=seeds)
def test_coherence_range_and_limits(seed):
    """alpha in [0, 1]; identical gradients -> 1; m orthonormal gradients -> 1/m; opposite pairs -> 0."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(8, 20)) + rng.normal() * rng.normal(size=20)
    a = float(B.gradient_coherence(jnp.asarray(g)))
    assert 0.0 <= a <= 1.0
    np.testing.assert_allclose(float(B.gradient_coherence(jnp.tile(jnp.asarray(g[:1]), (8, 1)))), 1.0, rtol=1e-12)
    q, _ = np.linalg.qr(rng.normal(size=(20, 8)))
    np.testing.assert_allclose(float(B.gradient_coherence(jnp.asarray(q.T))), 1 / 8, rtol=1e-12)
    np.testing.assert_allclose(float(B.gradient_coherence(jnp.asarray(np.concatenate([g, -g])))), 0.0, atol=1e-15)


def test_per_example_gradients_of_least_squares():
    """grad of (1/2)(x.w + b - y)^2 is (x (r), r), r the residual; coherence from the closed form."""
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (16, 5))
    y = jnp.sin(jnp.arange(16.0))
    params = {"w": jax.random.normal(kw, (5,)), "b": jnp.asarray(0.3)}

    def loss(p, z):
        xi, yi = z
        return 0.5 * (xi @ p["w"] + p["b"] - yi) ** 2

    g = B.per_example_gradients(loss, params, (x, y))
    r = x @ params["w"] + params["b"] - y
    np.testing.assert_allclose(np.asarray(g["w"]), np.asarray(x * r[:, None]), rtol=1e-12)
    flat = np.concatenate([np.asarray(x * r[:, None]), np.asarray(r)[:, None]], axis=1)
    expected = np.sum(flat.mean(0) ** 2) / np.mean(np.sum(flat**2, 1))
    np.testing.assert_allclose(float(B.gradient_coherence(g)), expected, rtol=1e-12)


# ----------------------------------------------------------------------------- Hessian spectra


def _mlp_loss(key):
    kx, k1, k2 = jax.random.split(key, 3)
    x = jax.random.normal(kx, (12, 3))
    y = jnp.cos(x[:, 0])
    params = {"w1": jax.random.normal(k1, (3, 5)), "w2": jax.random.normal(k2, (5,))}

    def loss(p):
        return 0.5 * jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] - y) ** 2)

    return loss, params


def test_hvp_and_lanczos_match_dense_eigh():
    """HVP Hessian = jax.hessian; full Lanczos Ritz values = eigh; partial Ritz values interlace."""
    loss, params = _mlp_loss(jax.random.key(0))
    flat, unravel = ravel_pytree(params)
    dense = jax.hessian(lambda v: loss(unravel(v)))(flat)
    h = B.hessian_matrix(loss, params)
    np.testing.assert_allclose(np.asarray(h), np.asarray(dense), rtol=1e-10, atol=1e-12)
    eig = np.linalg.eigvalsh(np.asarray(dense))
    matvec, dim = B.flat_hvp(loss, params)
    lo, hi = B.extreme_eigenvalues(matvec, jax.random.key(1), dim, dim)
    np.testing.assert_allclose([float(lo), float(hi)], [eig[0], eig[-1]], atol=1e-9)
    ritz, weights = B.tridiagonal_eigh(B.lanczos(matvec, jax.random.key(1), dim, dim))
    np.testing.assert_allclose(np.asarray(ritz), eig, atol=1e-9)
    np.testing.assert_allclose(float(jnp.sum(weights)), 1.0, rtol=1e-12)


def test_lanczos_basis_is_orthonormal_and_tridiagonalises():
    """V V^T = I and V H V^T = T to rounding (full reorthogonalisation); Ritz values of a partial
    run lie inside [lambda_min, lambda_max] (Cauchy interlacing)."""
    loss, params = _mlp_loss(jax.random.key(3))
    matvec, dim = B.flat_hvp(loss, params)
    res = B.lanczos(matvec, jax.random.key(4), dim, 12)
    v = np.asarray(res.basis)
    np.testing.assert_allclose(v @ v.T, np.eye(12), atol=1e-12)
    t = np.diag(res.alphas) + np.diag(res.betas, 1) + np.diag(res.betas, -1)
    h = np.asarray(B.hessian_matrix(loss, params))
    np.testing.assert_allclose(v @ h @ v.T, t, atol=1e-10)
    eig = np.linalg.eigvalsh(h)
    ritz, _ = B.tridiagonal_eigh(res)
    assert eig[0] - 1e-10 <= float(ritz[0]) and float(ritz[-1]) <= eig[-1] + 1e-10


def test_zero_eigenvalues_of_an_overparameterised_linear_model():
    """Squared loss, d = 20 > N = 7: H = X^T X / N has exactly d - N zero eigenvalues (dense and Lanczos)."""
    d, n = 20, 7
    x = jax.random.normal(jax.random.key(5), (n, d))
    y = jnp.arange(n, dtype=jnp.float64)

    def loss(w):
        return 0.5 * jnp.mean((x @ w - y) ** 2)

    w = jnp.zeros(d)
    eig = np.linalg.eigvalsh(np.asarray(B.hessian_matrix(loss, w)))
    tol = 1e-10 * eig[-1]
    assert np.sum(np.abs(eig) < tol) == d - n
    matvec, dim = B.flat_hvp(loss, w)
    ritz, _ = B.tridiagonal_eigh(B.lanczos(matvec, jax.random.key(6), dim, dim))
    assert np.sum(np.abs(np.asarray(ritz)) < tol) == d - n
    np.testing.assert_allclose(np.asarray(ritz)[d - n:], eig[d - n:], rtol=1e-9)


def test_spectral_density_quadrature():
    """SLQ: weights sum to 1 per probe, sum tau_i theta_i = v^T H v, and the density integrates to 1."""
    loss, params = _mlp_loss(jax.random.key(7))
    matvec, dim = B.flat_hvp(loss, params)
    eig = np.linalg.eigvalsh(np.asarray(B.hessian_matrix(loss, params)))
    grid = np.linspace(eig[0] - 1.0, eig[-1] + 1.0, 4001)
    sd = B.spectral_density(matvec, jax.random.key(8), dim, 10, grid, num_probes=3, width=0.05)
    np.testing.assert_allclose(np.asarray(jnp.sum(sd.weights, axis=1)), 1.0, rtol=1e-12)
    probes = [B.lanczos(matvec, k, dim, 10).basis[0] for k in jax.random.split(jax.random.key(8), 3)]
    quad = np.asarray(jnp.sum(sd.weights * sd.nodes, axis=1))
    np.testing.assert_allclose(quad, [float(v @ matvec(v)) for v in probes], rtol=1e-10)
    np.testing.assert_allclose(np.trapezoid(np.asarray(sd.density), grid), 1.0, rtol=1e-6)
