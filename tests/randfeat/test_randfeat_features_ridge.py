"""Feature maps converge to their closed-form kernels at rate 1/sqrt(k); the ridge path equals
scikit-learn's Ridge; masking a width is exact."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

from randfeat import features as F
from randfeat.ridge import ridge_path, ridge_path_widths, ridge_weights
from randfeat.tasks import power_law_task, relu_nngp_kernel

SEEDS = 48
X = jax.random.normal(jax.random.key(0), (6, 5)) / np.sqrt(5.0)
TASK = power_law_task(12, 1.5, 1.5)
XM = jax.random.normal(jax.random.key(1), (6, 12))


def _relu(key, k):
    return F.relu_features(F.gaussian_weights(key, k, 5), X), relu_nngp_kernel(X, X)


def _erf(key, k):
    return F.erf_features(F.gaussian_weights(key, k, 5, std=1.3), X), F.erf_kernel(X, X, std=1.3)


def _fourier(key, k):
    return F.fourier_features(F.fourier_weights(key, k, 5, lengthscale=0.7), X), F.rbf_kernel(X, X, 0.7)


def _linear(key, k):
    return F.linear_features(F.gaussian_projection(key, TASK, k), XM), F.linear_kernel(TASK, XM, XM)


@pytest.mark.parametrize("make", [_relu, _erf, _fourier, _linear], ids=["relu", "erf", "fourier", "linear"])
def test_feature_kernel_converges_at_rate_one_over_sqrt_k(make):
    def errors(k):
        def one(key):
            phi, kern = make(key, k)
            return phi @ phi.T - kern
        return jax.vmap(one)(jax.random.split(jax.random.key(k), SEEDS))

    small, large = errors(64), errors(1024)
    # unbiased: the seed-mean of the empirical kernel matches the closed form within 5 SE
    mean, se = large.mean(0), large.std(0, ddof=1) / np.sqrt(SEEDS) + 1e-12
    assert float(jnp.max(jnp.abs(mean) / se)) < 5.0
    # rate: mean squared error scales like 1/k, so 16x the features gives 1/16 the MSE
    ratio = float(jnp.mean(small**2) / jnp.mean(large**2))
    assert 16 / 1.6 < ratio < 16 * 1.6


def _data(seed, n, k, t=40):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, k)), rng.normal(size=n), rng.normal(size=(t, k)), rng.normal(size=t))


RIDGES = np.geomspace(1e-3, 1e2, 7)


@pytest.mark.parametrize(("n", "k"), [(30, 12), (12, 30)], ids=["primal", "dual"])
def test_ridge_path_matches_sklearn(n, k):
    """Observed max relative error 2.2e-15 (test MSE) and 2.3e-15 (weights, relative to the largest);
    tolerance 2e-14. The train MSE for k > n: 7.1e-12, which is scikit-learn's own y - X w cancelling
    once the fit nearly interpolates (train MSE ~1e-8 at ridge 1e-3); tolerance 1e-10 there, 2e-14
    for k < n (observed 6.7e-16)."""
    train_tol = 1e-10 if k > n else 2e-14
    for seed in range(3):
        a, y, b, yt = _data(seed, n, k)
        path = ridge_path(a, y, b, yt, RIDGES)
        for j, r in enumerate(RIDGES):
            model = Ridge(alpha=r, fit_intercept=False, solver="cholesky").fit(a, y)
            np.testing.assert_allclose(float(path.train_mse[j]), np.mean((model.predict(a) - y) ** 2), rtol=train_tol)
            np.testing.assert_allclose(float(path.test_mse[j]), np.mean((model.predict(b) - yt) ** 2), rtol=2e-14)
        w = ridge_weights(a, y, RIDGES)
        ref = Ridge(alpha=RIDGES[2], fit_intercept=False).fit(a, y).coef_
        np.testing.assert_allclose(np.asarray(w[2]), ref, rtol=0, atol=2e-14 * np.abs(ref).max())


def test_ridgeless_is_minimum_norm_interpolant():
    a, y, b, yt = _data(5, 10, 25)
    w = ridge_weights(a, y, np.array([0.0]))[0]
    ref = np.linalg.pinv(a) @ y
    # observed max error 2.1e-16 of the largest entry; tolerance 2e-15
    np.testing.assert_allclose(np.asarray(w), ref, rtol=0, atol=2e-15 * np.abs(ref).max())
    assert float(ridge_path(a, y, b, yt, np.array([0.0])).train_mse[0]) < 1e-20


@pytest.fixture(scope="module")
def masked_path():
    return jax.jit(jax.vmap(lambda a, y, b, yt, w: ridge_path(a, y, b, yt, RIDGES, width=w),
                            in_axes=(None, None, None, None, 0)))


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31 - 1))
def test_masked_widths_equal_unpadded_runs(masked_path, seed):
    n, k_max = 20, 32
    a, y, b, yt = _data(seed, n, k_max)
    widths = np.array([3, 8, 19, 32])
    out = masked_path(a, y, b, yt, widths)
    for i, w in enumerate(widths):
        s = np.sqrt(k_max / w)
        ref = ridge_path(a[:, :w] * s, y, b[:, :w] * s, yt, RIDGES)
        # observed max relative error 2.8e-14 (test) and 4.2e-14 (train) over seeds 0-9; tolerance 3e-13
        np.testing.assert_allclose(np.asarray(out.test_mse[i]), np.asarray(ref.test_mse), rtol=3e-13)
        np.testing.assert_allclose(np.asarray(out.train_mse[i]), np.asarray(ref.train_mse), rtol=3e-13)


def test_prefix_gram_widths_equal_masked_path(masked_path):
    a, y, b, yt = _data(11, 20, 32)
    widths = np.array([3, 8, 19, 20, 21, 32])    # primal (<= n = 20) and kernel (> n) branches
    fast = ridge_path_widths(a, y, b, yt, RIDGES, widths)
    ref = masked_path(a, y, b, yt, widths)
    # observed max relative error 5.3e-15 (test) and 7.5e-15 (train); tolerance 5e-14
    np.testing.assert_allclose(np.asarray(fast.test_mse), np.asarray(ref.test_mse), rtol=5e-14)
    np.testing.assert_allclose(np.asarray(fast.train_mse), np.asarray(ref.train_mse), rtol=5e-14)
    with pytest.raises(ValueError, match="widths"):
        ridge_path_widths(a, y, b, yt, RIDGES, np.array([8, 3]))


def test_bad_input():
    a, y, b, yt = _data(0, 5, 3)
    with pytest.raises(ValueError, match="ridges = -1"):
        ridge_path(a, y, b, yt, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="k = 0"):
        F.gaussian_weights(jax.random.key(0), 0, 3)
    with pytest.raises(ValueError, match="lengthscale = -1"):
        F.rbf_kernel(X, X, -1.0)
