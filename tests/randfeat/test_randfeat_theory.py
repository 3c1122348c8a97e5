"""Eigenframework theory of RF ridge regression: solver sanity, limits, symmetries, "more is
better", and agreement with the "More is better" authors' stored theory and measurements."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq

from randfeat.tasks import Task, power_law_task
from randfeat.theory import krr_risk, optimal_ridge, rf_risk, ridgeless_risk

DATA = Path(__file__).resolve().parents[1] / "data" / "more_is_better_rf_gaussian_subset.json"
M = 400


def _task(alpha: float, beta: float, noise: float) -> Task:
    # same shapes for every example: one compile serves all hypothesis draws
    i = np.arange(1, M + 1, dtype=float)
    return Task(jnp.asarray(i**-alpha), jnp.asarray(i ** (-beta / 2)), jnp.asarray(noise))


def _points(seed: int, size: int = 64):
    rng = np.random.default_rng(seed)
    n = np.floor(np.exp(rng.uniform(0, np.log(600), size)))
    k = np.floor(np.exp(rng.uniform(0, np.log(600), size)))
    ridge = np.exp(rng.uniform(np.log(1e-5), np.log(1e3), size))
    return n, k, ridge


exponents = dict(alpha=st.floats(1.1, 3.0), beta=st.floats(0.5, 3.5), noise=st.floats(0.0, 1.0),
                 seed=st.integers(0, 2**31 - 1))


@given(**exponents)
def test_solver_sanity_and_equation_residual(alpha, beta, noise, seed):
    task = _task(alpha, beta, noise)
    n, k, ridge = _points(seed)
    out = rf_risk(task, n, k, ridge, modes=True)
    assert bool(np.all(out.converged))
    ell = np.asarray(out.learnabilities)
    assert np.all((ell > 0) & (ell < 1))
    z, q, g = map(np.asarray, (out.z, out.q, out.gamma))
    np.testing.assert_allclose(z, ell.sum(-1), rtol=1e-12)
    np.testing.assert_allclose(q, (ell**2).sum(-1), rtol=1e-12)
    assert np.all(z < np.minimum(n, k))
    # the scalar equation gamma (1 - z/n)(1 - z/k) = delta/n holds to the solver's tolerance: it stops at
    # |du| <= 1e-12 (1 + |u|) in u = log gamma, and the residual's sensitivity to u, 1 + s/(n - z) +
    # s/(k - z), is large when z is near min(n, k) (small ridges), as is the cancellation in 1 - z/n
    # recomputed here from the rounded z. Observed max relative residual 2.9e-9 (kappa 4.4e-10, E_tr
    # 5.7e-9) over the default 25 x 64 points; tolerances 1e-7 (1e-6 for E_tr, which squares it) keep
    # room for other draws
    np.testing.assert_allclose(g * (1 - z / n) * (1 - z / k), ridge / n, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(out.kappa), g * (1 - z / k), rtol=1e-7)
    assert np.all(np.asarray(out.e0) >= 1.0)
    te, tr = np.asarray(out.test), np.asarray(out.train)
    assert np.all((tr >= 0) & (tr <= te))
    # E_tr = (delta / (n kappa))^2 E_te
    np.testing.assert_allclose(tr, (ridge / (n * np.asarray(out.kappa))) ** 2 * te, rtol=1e-6)


@given(**exponents)
def test_limits_infinite_width_and_infinite_ridge(alpha, beta, noise, seed):
    task = _task(alpha, beta, noise)
    n, _, ridge = _points(seed)
    krr = krr_risk(task, n, ridge)
    # the finite-width correction is C / k with C up to ~1e5 here (5e-8 at k = 1e12), so "infinite" is 1e15:
    # at most 1e-10, plus the two solves' 3e-11 (observed 1.4e-12)
    wide = rf_risk(task, n, 1e15, ridge)
    np.testing.assert_allclose(np.asarray(wide.test), np.asarray(krr.test), rtol=1e-10)
    # KRR: E0 = n / (n - q), E_te = E0 (sum (1 - L)^2 v^2 + sigma^2); observed 3.3e-16 and 8.4e-15
    np.testing.assert_allclose(np.asarray(krr.e0), n / (n - np.asarray(krr.q)), rtol=5e-15)
    ell = np.asarray(task.eigenvalues) / (np.asarray(task.eigenvalues) + np.asarray(krr.gamma)[:, None])
    v2 = np.asarray(task.coefficients) ** 2
    bias = ((1 - ell) ** 2 * v2).sum(-1)
    np.testing.assert_allclose(np.asarray(krr.test), n / (n - (ell**2).sum(-1)) * (bias + noise), rtol=1e-13)
    # delta -> infinity: nothing is learned, E_te -> sum v^2 + sigma^2 up to the learned fraction
    # 2 sum L_i v_i^2 / sum v_i^2 <= 2 n lambda_1 / delta = 1.2e-11 here (observed 6.7e-12); tolerance 5e-11
    huge = rf_risk(task, n, n, 1e14)
    np.testing.assert_allclose(np.asarray(huge.test), v2.sum() + noise, rtol=5e-11)


@given(**exponents)
def test_ridgeless_underparameterized_closed_form(alpha, beta, noise, seed):
    task = _task(alpha, beta, noise)
    rng = np.random.default_rng(seed)
    k = float(rng.integers(1, 150))
    n = float(k + rng.integers(5, 200))
    lam = np.asarray(task.eigenvalues)
    v2 = np.asarray(task.coefficients) ** 2
    # independent root of z(gamma) = k by Brent's method
    gk = np.exp(brentq(lambda u: (lam / (lam + np.exp(u))).sum() - k, -80, 10, xtol=1e-14))
    ell = lam / (lam + gk)
    expected = n / (n - k) * (((1 - ell) * v2).sum() + noise)
    out = ridgeless_risk(task, n, k)
    # the project's root to its stopping tolerance |du| <= 1e-12 (1 + |u|), |u| <= ~25: 3e-11 (observed
    # 3.6e-15 for gamma and 5.6e-15 for E_te, whose sensitivity to log gamma is below 1)
    np.testing.assert_allclose(float(out.gamma), gk, rtol=3e-11)
    np.testing.assert_allclose(float(out.test), expected, rtol=3e-11)
    # the ridgeless point is the delta -> 0+ limit; the approach is linear in delta with a slope up to
    # ~2e5 here (1.8e-5 at delta = 1e-10), so the limit is checked at 1e-13: at most 2e-8 (observed 9.2e-9)
    near = rf_risk(task, n, k, 1e-13)
    np.testing.assert_allclose(float(near.test), expected, rtol=4e-8)


@given(**exponents)
def test_symmetry_in_n_and_k(alpha, beta, noise, seed):
    task = _task(alpha, beta, noise)
    n, k, ridge = _points(seed)
    c = ridge / 100.0                    # fixed delta / n
    a = rf_risk(task, n, k, c * n)
    b = rf_risk(task, k, n, c * k)
    # two solves, each to |du| <= 1e-12 (1 + |u|): 3e-11 (observed 1.9e-15 typically, 7.6e-13 at worst)
    np.testing.assert_allclose(np.asarray(a.gamma), np.asarray(b.gamma), rtol=3e-11)
    # ridgeless with v_i^2 proportional to lambda_i: the bias part E0 * B is symmetric, so
    # E_te(n, k) - E_te(k, n) = sigma^2 (E0(n, k) - E0(k, n)) (symmetric exactly when sigma = 0)
    aligned = Task(task.eigenvalues, jnp.sqrt(task.eigenvalues), task.noise)
    keep = np.abs(n - k) >= 2
    x = ridgeless_risk(aligned, n[keep], k[keep])
    y = ridgeless_risk(aligned, k[keep], n[keep])
    diff = np.asarray(x.test) - np.asarray(y.test)
    np.testing.assert_allclose(diff, noise * (np.asarray(x.e0) - np.asarray(y.e0)),
                               rtol=1e-7, atol=1e-9 * np.abs(np.asarray(x.test)).max())
    if noise > 0.05:
        assert np.max(np.abs(diff) / np.asarray(x.test)) > 1e-3


@given(alpha=st.floats(1.1, 3.0), beta=st.floats(0.5, 3.5), noise=st.floats(0.0, 1.0))
def test_more_is_better_at_optimal_ridge(alpha, beta, noise):
    task = _task(alpha, beta, noise)
    grid = np.array([5.0, 10, 20, 40, 80, 160, 320])
    best = optimal_ridge(task, grid[:, None], grid[None, :])
    risk = np.asarray(best.risk.test)
    tol = 1e-9 * risk.max()
    assert np.all(np.diff(risk, axis=0) <= tol)      # non-increasing in n
    assert np.all(np.diff(risk, axis=1) <= tol)      # non-increasing in k
    # the optimum beats every ridge of a fine grid (independent evaluation through rf_risk)
    ridges = np.geomspace(1e-6, 1e4, 41)
    dense = np.asarray(rf_risk(task, grid[:, None, None], grid[None, :, None], ridges).test)
    assert np.all(risk <= dense.min(-1) * (1 + 1e-9))
    # and the reported ridge reproduces the reported risk
    again = rf_risk(task, grid[:, None], grid[None, :], np.asarray(best.ridge))
    np.testing.assert_allclose(np.asarray(again.test), risk, rtol=1e-7)


@pytest.fixture(scope="module")
def reference():
    return json.loads(DATA.read_text())


@pytest.mark.parametrize("section", ["n256", "k256"])
def test_matches_authors_theory_grid(reference, section):
    tg = reference[section]["theory_grid"]
    task = power_law_task(10_000, 1.5, 1.5, 0.5)
    n = np.asarray(tg["n"], float)[:, None, None]
    k = np.asarray(tg["k"], float)[None, :, None]
    out = rf_risk(task, n, k, np.asarray(tg["ridge"]))
    shape = (-1, len(tg["ridge"]))
    for name in ("test", "gamma", "kappa"):
        ours = np.asarray(getattr(out, name)).reshape(shape)
        theirs = np.asarray(tg["test_mse" if name == "test" else name])
        err = np.abs(ours / theirs - 1)
        assert np.median(err) < 1e-5 and err.max() < 1e-3, (name, np.median(err), err.max())


@pytest.mark.parametrize("section", ["n256", "k256"])
def test_theory_matches_measured_test_mse(reference, section):
    e = reference[section]
    task = power_law_task(10_000, 1.5, 1.5, 0.5)
    n = np.asarray(e["n"], float)[:, None, None]
    k = np.asarray(e["k"], float)[None, :, None]
    ridge = np.asarray(e["ridge"])
    out = rf_risk(task, n, k, ridge)
    ours = np.asarray(out.test).reshape(-1, ridge.size)
    measured = np.asarray(e["test_mse_mean"])
    ratio = np.broadcast_to((n / k).reshape(-1, 1), ours.shape)
    peak = (np.abs(ratio - 1) < 0.25) & (ridge[None, :] < 1e-2)
    err = np.abs(ours / measured - 1)[~peak]
    assert np.median(err) < 0.02 and np.percentile(err, 90) < 0.05


def test_bad_input_names_argument():
    task = power_law_task(50, 1.5, 1.5, 0.1)
    with pytest.raises(ValueError, match="n = 0"):
        rf_risk(task, 0, 10, 1.0)
    with pytest.raises(ValueError, match="k = 0.5"):
        rf_risk(task, 10, 0.5, 1.0)
    with pytest.raises(ValueError, match="ridge = -1"):
        rf_risk(task, 10, 10, -1.0)
    with pytest.raises(ValueError, match="ridge = nan"):
        rf_risk(task, 10, 10, np.nan)
    with pytest.raises(ValueError, match="task.eigenvalues = -1"):
        rf_risk(Task(jnp.array([1.0, -1.0]), jnp.ones(2), jnp.asarray(0.0)), 10, 10, 1.0)
    with pytest.raises(ValueError, match="task.eigenvalues = inf"):
        rf_risk(Task(jnp.array([1.0, jnp.inf]), jnp.ones(2), jnp.asarray(0.0)), 10, 10, 1.0)
    with pytest.raises(ValueError, match="noise = -0.1"):
        power_law_task(10, 1.5, 1.5, -0.1)
    with pytest.raises(ValueError, match="n_modes = 0"):
        power_law_task(0, 1.5, 1.5)


def test_shapes_that_do_not_broadcast_name_the_arguments():
    task = power_law_task(50, 1.5, 1.5, 0.1)
    with pytest.raises(ValueError, match=r"n, k and ridge do not broadcast.*n \(3,\), k \(4,\), ridge \(\)"):
        rf_risk(task, np.full(3, 10.0), np.full(4, 10.0), 1.0)
    with pytest.raises(ValueError, match=r"ridge \(5,\)"):
        rf_risk(task, np.full((2, 1), 10.0), np.full(3, 10.0), np.ones(5))
    with pytest.raises(ValueError, match=r"n and k do not broadcast.*n \(3,\), k \(2,\)"):
        optimal_ridge(task, np.full(3, 10.0), np.full(2, 10.0))
