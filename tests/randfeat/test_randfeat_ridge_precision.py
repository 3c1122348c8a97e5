"""Ridge paths at the working precision: ridgeless fits on ill-conditioned features against
``numpy.linalg.lstsq`` (rcond = eps * max(n, k)), and tiny ridges on masked widths, below and
above n, against scikit-learn's ``Ridge`` and a NumPy solve."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from randfeat import features as F
from randfeat.ridge import ridge_path, ridge_path_widths, ridge_weights

EPS = np.finfo(float).eps


def _fourier_case():
    """Random Fourier features, n = 300 points in d = 5, k = 301, lengthscale 2: condition 8.9e6."""
    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(300, 5)), rng.normal(size=(200, 5))
    y, yt = np.sin(x.sum(1)) + 0.1 * rng.normal(size=300), np.sin(xt.sum(1))
    w = F.fourier_weights(jax.random.key(0), 301, 5, lengthscale=2.0)
    return (np.asarray(F.fourier_features(w, jnp.asarray(x))), y,
            np.asarray(F.fourier_features(w, jnp.asarray(xt))), yt, None)


def _synthetic_case(n, k, tiny):
    """Phi = Q1 diag(s) Q2^T with s log-spaced from 1 to 1e-8 (condition 1e8) and, if ``tiny``,
    three more singular values 1e-18..1e-20, below the cutoff eps * max(n, k) ~ 1e-14: lstsq drops
    them, and so must the fit. Also returns the exact training MSE of that fit, the mean square of
    the part of y outside the kept left singular vectors (from the construction)."""
    rng = np.random.default_rng(1)
    r = min(n, k)
    q1, _ = np.linalg.qr(rng.normal(size=(n, r)))
    q2, _ = np.linalg.qr(rng.normal(size=(k, r)))
    s = np.concatenate([np.geomspace(1.0, 1e-8, r - 3), [1e-18, 1e-19, 1e-20] if tiny else np.geomspace(1e-8, 1e-8, 3)])
    y = rng.normal(size=n)
    kept = q1[:, s > 1e-15]
    resid = y - kept @ (kept.T @ y)
    return q1 @ np.diag(s) @ q2.T, y, rng.normal(size=(30, k)), rng.normal(size=30), np.mean(resid**2)


# (case, tolerances on the relative error of the weights, of the test MSE and of the widths path's test
# MSE, against lstsq). Two backward-stable least-squares solvers may differ by about eps * cond
# (consistent systems: 2e-9 Fourier, 2e-8 synthetic) or eps * cond^2 * |r| / (|Phi| |w|)
# (overdetermined with residual r: the 60 x 40 case); the SVDs of orthogonally built matrices agree
# far better. Observed (float64, the test configuration): weights 8.6e-12 / 8.5e-16 / 6.8e-16 / 6.9e-8;
# test MSE 1e-11 / 4.4e-16 / 4.4e-16 / 5.2e-8; widths path 6.7e-8 / 1.5e-9 / 5.1e-9 / 5.2e-8 (its
# wide branch divides the cross kernel C_w = Phi_test Phi_w^T, absolute error ~ eps |Phi_test| s_1, by
# s_i^2: eps * cond times a modest factor; ridge_path_widths docstring). Tolerances ~10x those.
CASES = {
    "fourier_300x301": (_fourier_case, 1e-10, 1e-10, 5e-7),
    "synthetic_40x60": (lambda: _synthetic_case(40, 60, tiny=False), 1e-14, 1e-14, 2e-8),
    "synthetic_40x60_rank_deficient": (lambda: _synthetic_case(40, 60, tiny=True), 1e-14, 1e-14, 5e-8),
    "synthetic_60x40_rank_deficient": (lambda: _synthetic_case(60, 40, tiny=True), 5e-7, 5e-7, 5e-7),
}


@pytest.mark.parametrize("case", list(CASES))
def test_ridgeless_fit_is_the_lstsq_minimum_norm_solution(case):
    """delta = 0 gives pinv(Phi) y at lstsq's cutoff: same weights, train and test MSE.

    Before the SVD-based solve (Gram eigenvalues cut at 1e-12 x max) the weight error was 0.98-1.0
    in every case, the Fourier train MSE 3.4e-4 instead of 7.7e-24 and the test MSE 22.9 for 594."""
    make, tol_w, tol_test, tol_widths = CASES[case]
    a, y, b, yt, train_ref = make()
    n, k = a.shape
    w_ref = np.linalg.lstsq(a, y, rcond=None)[0]       # rcond=None: eps * max(n, k)
    test_ref = np.mean((b @ w_ref - yt) ** 2)
    w = np.asarray(ridge_weights(a, y, np.array([0.0]))[0])
    assert np.linalg.norm(w - w_ref) / np.linalg.norm(w_ref) < tol_w
    path = ridge_path(a, y, b, yt, np.array([0.0]))
    widths = ridge_path_widths(a, y, b, yt, np.array([0.0]), np.array([k]))
    assert float(path.test_mse[0]) == pytest.approx(test_ref, rel=tol_test)
    assert float(widths.test_mse[0, 0]) == pytest.approx(test_ref, rel=tol_widths)
    if train_ref is None:
        # the Fourier interpolant: lstsq's residual is 7.7e-24; ours, summed directly, ~1e-30
        assert float(path.train_mse[0]) < 1e-20 and float(widths.train_mse[0, 0]) < 1e-20
    else:
        # the residual of the construction (lstsq's own a @ w - y cancels to ~eps |a| |w|); rounding the
        # product Q1 diag(s) Q2^T moves the singular vectors of the 1e-8 singular values by ~eps / 1e-8,
        # so the stored matrix's residual is known to ~eps * cond = 2e-8. Observed 1.0e-9 / 1.5e-9
        # (rank-deficient cases), 0 vs 0 (the interpolant). Tolerance 2e-8
        for got in (float(path.train_mse[0]), float(widths.train_mse[0, 0])):
            assert got == pytest.approx(train_ref, rel=2e-8, abs=1e-24)
    if case == "synthetic_40x60_rank_deficient":
        # the three directions below the cutoff are not fitted: their share of y stays in the residual
        assert float(path.train_mse[0]) > 1e-3


@pytest.fixture(scope="module")
def masked():
    rng = np.random.default_rng(3)
    n, k_max = 40, 64
    return rng.normal(size=(n, k_max)), rng.normal(size=n), rng.normal(size=(30, k_max)), rng.normal(size=30)


RIDGES = np.array([1e-10, 1e-8, 1e-6, 1e-3])


@pytest.mark.parametrize("width", [10, 25, 50, 64])
def test_tiny_ridges_on_masked_widths_match_sklearn(masked, width):
    """Width w of k_max = 64 features on n = 40 points, below (10, 25) and above (50, 64) n, at ridges
    down to 1e-10: ridge_path(width=w) and ridge_path_widths against scikit-learn's Ridge
    (fit_intercept=False, alpha = ridge) on the unmasked (n, w) features.

    Observed max relative error 6.7e-15 (test) and 1.5e-14 (train); before the SVD form the masked
    path was off by 2.6e-7 - 2.4e-6 (test, w < n) and 3e-6 - 6e-5 (train), the dual form on a rank-w
    Gram amplifying round-off by s_1^2 / delta. Tolerance 1e-13."""
    a, y, b, yt = masked
    n, k_max = a.shape
    scale = np.sqrt(k_max / width)
    at, bt = a[:, :width] * scale, b[:, :width] * scale
    models = [Ridge(alpha=r, fit_intercept=False).fit(at, y) for r in RIDGES]
    test_ref = np.array([np.mean((m.predict(bt) - yt) ** 2) for m in models])
    if width < n:
        train_ref = np.array([np.mean((m.predict(at) - y) ** 2) for m in models])
    else:
        # an interpolating fit: y - predict(X) cancels (sklearn's own train MSE is off by ~1e-6 at
        # delta = 1e-10); the residual is delta (K + delta I)^{-1} y exactly, solved directly
        gram = at @ at.T
        train_ref = np.array([np.mean((r * np.linalg.solve(gram + r * np.eye(n), y)) ** 2) for r in RIDGES])
    for out in (ridge_path(a, y, b, yt, RIDGES, width=width),
                ridge_path_widths(a, y, b, yt, RIDGES, np.array([width]))):
        test, train = np.asarray(out.test_mse).ravel(), np.asarray(out.train_mse).ravel()
        np.testing.assert_allclose(test, test_ref, rtol=1e-13)
        np.testing.assert_allclose(train, train_ref, rtol=1e-13)


def test_weights_against_numpy_solve_at_every_ridge(masked):
    """w(delta) = (Phi^T Phi + delta I)^{-1} Phi^T y for k < n and Phi^T (Phi Phi^T + delta I)^{-1} y
    for k > n (both NumPy solves), ridges 1e-10..1e-3. Observed relative error <= 3e-15; tolerance 3e-14."""
    a, y, _, _ = masked
    for phi in (a[:, :25], a):
        n, k = phi.shape
        w = np.asarray(ridge_weights(phi, y, RIDGES))
        for r, got in zip(RIDGES, w):
            ref = (np.linalg.solve(phi.T @ phi + r * np.eye(k), phi.T @ y) if k < n
                   else phi.T @ np.linalg.solve(phi @ phi.T + r * np.eye(n), y))
            assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 3e-14
