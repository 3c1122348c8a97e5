"""Advani-Saxe learning curves against references computed independently: the Marchenko-Pastur
integrals of the theory by adaptive quadrature (scipy.integrate.quad), and the exact finite-size
curves by the matrix exponential of the linear flow (scipy.linalg.expm) and by a plain GD loop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.linalg import expm

from randfeat.dynamics import advani_saxe_curves, gd_curves


def _mp_integral(f, a: float) -> float:
    """int rho(l) f(l) dl over the Marchenko-Pastur bulk, rho = sqrt((l+ - l)(l - l-)) / (2 pi l):
    QAWS quadrature with the square-root edge weights; at a = 1 the lower edge is 0 and
    rho = sqrt(4 - l) l^{-1/2} / (2 pi), so the weight there is l^{-1/2}."""
    lo, hi = (1 - np.sqrt(a)) ** 2, (1 + np.sqrt(a)) ** 2
    if a == 1.0:
        integrand, weight = (lambda x: f(x) / (2 * np.pi)), (-0.5, 0.5)
    else:
        integrand, weight = (lambda x: f(x) / (2 * np.pi * x)), (0.5, 0.5)
    val, _ = quad(integrand, lo, hi, weight="alg", wvar=weight, limit=500, epsabs=0.0, epsrel=1e-13)
    return val


def theory_reference(t: float, a: float, sw: float, s0: float, se: float) -> tuple[float, float]:
    """E_g(t), E_t(t) of Advani & Saxe (2017), randfeat.dynamics module docstring, term by term."""
    decay = _mp_integral(lambda x: np.exp(-2 * x * t), a)
    noise_fit = _mp_integral(lambda x: np.expm1(-x * t) ** 2 / x if x > 0 else 0.0, a)   # -> x t^2 at 0
    e_g = (sw + s0) * (decay + max(1 - a, 0.0)) + se * (noise_fit + 1)
    e_t = _mp_integral(lambda x: (x * (sw + s0) + se) * np.exp(-2 * x * t), a) / a + se * max(1 - 1 / a, 0.0)
    return e_g, e_t


@pytest.mark.parametrize("a", [0.3, 0.9, 1.0, 1.7, 4.0])
def test_advani_saxe_curves_against_quad(a):
    """Loads below, at and above 1, times from 0 to 200, every variance non-zero and distinct (a
    swapped s_w^2 / s_eps^2 or a lost 1/a changes the curves). Observed max relative error 8.6e-14
    (the training error at a = 0.9, t = 200, where it has decayed to 5e-4; elsewhere <= 2.6e-14):
    the product-integration rule is exact to its aliasing error, QAWS asked for 1e-13. Tolerance
    1e-12; at a = 0.3, t = 200 the training error is 6e-40, compared at 1e-14 absolute."""
    sw, s0, se = 1.0, 0.35, 0.2
    t = np.array([0.0, 0.3, 2.0, 15.0, 200.0])
    got = advani_saxe_curves(t, a, sw, s0, se)
    ref = np.array([theory_reference(ti, a, sw, s0, se) for ti in t])
    np.testing.assert_allclose(np.asarray(got.generalization), ref[:, 0], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got.training), ref[:, 1], rtol=1e-12, atol=1e-14)


def _small_problem(p: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(p, n)) / np.sqrt(n)
    teacher = rng.normal(size=n)
    y = x @ teacher + 0.4 * rng.normal(size=p)
    w0 = 0.5 * rng.normal(size=n)
    return x, y, teacher, w0


def _errors(w, x, y, teacher, noise_var):
    return np.sum((w - teacher) ** 2) / len(teacher) + noise_var, np.mean((y - x @ w) ** 2)


@pytest.mark.parametrize(("p", "n"), [(9, 5), (4, 7)], ids=["overdetermined", "underdetermined"])
def test_gd_curves_flow_against_matrix_exponential(p, n):
    """Gradient flow dw/dt = x^T (y - x w) is linear: d/dt [w; 1] = [[-x^T x, x^T y], [0, 0]] [w; 1],
    so w(t) is the top block of expm(t M) [w0; 1] (no eigendecomposition, no pseudo-inverse; the
    null-space part of w0 stays frozen by itself). Observed max relative error 4.9e-14 (the training
    error of the underdetermined fit at t = 40, 1.7e-5), 2.2e-14 otherwise; tolerance 3e-13."""
    x, y, teacher, w0 = _small_problem(p, n, seed=p)
    t = np.array([0.0, 0.4, 3.0, 40.0])
    gen = np.block([[-x.T @ x, (x.T @ y)[:, None]], [np.zeros((1, n + 1))]])
    ref = np.array([_errors(expm(ti * gen)[:n] @ np.append(w0, 1.0), x, y, teacher, 0.1) for ti in t])
    got = gd_curves(x, y, teacher, w0, t, noise_var=0.1)
    np.testing.assert_allclose(np.asarray(got.generalization), ref[:, 0], rtol=3e-13)
    np.testing.assert_allclose(np.asarray(got.training), ref[:, 1], rtol=3e-13, atol=1e-15)


@pytest.mark.parametrize(("p", "n"), [(9, 5), (4, 7)], ids=["overdetermined", "underdetermined"])
def test_gd_curves_discrete_steps_against_a_gd_loop(p, n):
    """step_size = eta: t / eta steps of w <- w + eta x^T (y - x w), a plain NumPy loop. Observed max
    relative error 5.1e-15, except the training error of the underdetermined fit once
    it has nearly interpolated (9.7e-8 after 400 steps), where y - x w cancels: 1.8e-12 relative,
    2e-19 absolute (~ 2 |r| eps |y|); tolerances 5e-14 relative and 1e-17 absolute."""
    x, y, teacher, w0 = _small_problem(p, n, seed=10 + p)
    eta, steps = 0.05, [0, 1, 7, 400]
    ref, w, done = [], w0.copy(), 0
    for s in steps:
        for _ in range(s - done):
            w = w + eta * x.T @ (y - x @ w)
        done = s
        ref.append(_errors(w, x, y, teacher, 0.0))
    ref = np.array(ref)
    got = gd_curves(x, y, teacher, w0, eta * np.array(steps, dtype=float), step_size=eta)
    np.testing.assert_allclose(np.asarray(got.generalization), ref[:, 0], rtol=5e-14)
    np.testing.assert_allclose(np.asarray(got.training), ref[:, 1], rtol=5e-14, atol=1e-17)
