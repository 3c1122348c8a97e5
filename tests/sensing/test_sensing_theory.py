"""The closed forms of ``sensing.theory`` and ``geometric_schedule`` against independent computations.

Each formula is checked against a computation that does not use it: quadrature (``scipy``) for
the ``phi`` integrals, the exact scalar recursion of population GD for the ``1/t`` laws, dense
NumPy eigenvalues for the rates, and plain ``eta0 * rho**t`` for the SubGM schedule
(docs/sensing.md, "SubGM" and "What the theory predicts").
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import sensing
from sensing import theory


@pytest.mark.parametrize("eta0", [0.05, 2.0])
@pytest.mark.parametrize("rho", [0.5, 0.7, 0.985, 1.0])
def test_geometric_schedule_is_eta0_rho_to_the_t(eta0, rho):
    """eta_t = eta0 rho^t for t = 0..100, step 0 included (eta_0 = eta0, not eta0 rho)."""
    t = np.arange(101.0)
    got = np.asarray(sensing.geometric_schedule(eta0, rho)(jnp.asarray(t)))
    expected = eta0 * rho**t
    # exp(t log rho) against rho**t: rounding grows like t |log rho| eps; seen <= 9.8e-15
    np.testing.assert_allclose(got, expected, rtol=5e-14, atol=0)
    assert got[0] == pytest.approx(eta0, rel=1e-15)


@pytest.mark.parametrize("e_norm,nu", [(0.3, 0.1), (1.0, 1.0), (2.0, 0.5), (0.5, 3.0)])
def test_phi_gaussian_is_the_gaussian_integral(e_norm, nu):
    """phi = sqrt(2/pi) int exp(-s^2/(2 e^2)) N(s; 0, nu^2) ds = sqrt(2/pi) e / sqrt(e^2 + nu^2)."""
    density = lambda s: math.exp(-s * s / (2 * nu * nu)) / (math.sqrt(2 * math.pi) * nu)  # noqa: E731
    integral, abserr = integrate.quad(lambda s: math.exp(-s * s / (2 * e_norm**2)) * density(s), -np.inf, np.inf,
                                      epsabs=1e-14, epsrel=1e-13)
    expected = math.sqrt(2 / math.pi) * integral
    # the tolerance is the quadrature's own accuracy (error estimates up to 4.4e-14); seen 3.3e-16
    assert abserr < 1e-13
    assert float(theory.phi_gaussian(e_norm, nu)) == pytest.approx(expected, rel=1e-13)
    assert float(theory.phi_gaussian(e_norm, 0.0)) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-15)


@pytest.mark.parametrize("e_norm,p,a", [(0.3, 0.2, 1.0), (1.0, 0.5, 3.0), (2.0, 0.9, 0.5), (0.5, 0.0, 2.0)])
def test_phi_outliers_is_the_uniform_integral(e_norm, p, a):
    """phi = sqrt(2/pi) [(1 - p) + p (1/2a) int_{-a}^{a} exp(-s^2/(2 e^2)) ds] for s = a U(-1, 1) w.p. p."""
    integral, abserr = integrate.quad(lambda s: math.exp(-s * s / (2 * e_norm**2)), -a, a, epsabs=1e-14, epsrel=1e-13)
    expected = math.sqrt(2 / math.pi) * ((1 - p) + p * integral / (2 * a))
    # the tolerance is the quadrature's own accuracy (error estimates up to 2.8e-14); seen 1.1e-16
    assert abserr < 1e-13
    assert float(theory.phi_outliers(e_norm, p, a)) == pytest.approx(expected, rel=1e-13)


def test_phi_monte_carlo_is_the_sample_mean():
    """theory.phi(E, s) = sqrt(2/pi) mean_i exp(-s_i^2 / (2 ||E||^2)) over the given samples."""
    s = np.random.default_rng(0).standard_normal(1000) * 0.7
    expected = math.sqrt(2 / math.pi) * np.mean(np.exp(-(s**2) / (2 * 1.3**2)))
    # a mean of 1000 terms: rounding; seen 2.2e-16
    assert float(theory.phi(1.3, jnp.asarray(s))) == pytest.approx(expected, rel=2e-15)


def test_sign_gradient_expectation_is_phi_along_e():
    e = np.arange(12.0).reshape(4, 3) - 5.0
    got = np.asarray(theory.sign_gradient_expectation(jnp.asarray(e), 0.6))
    np.testing.assert_allclose(got, 0.6 * e / np.linalg.norm(e), rtol=1e-15)


def test_spurious_eigenvalue_against_the_exact_recursion():
    """s0 / (1 + 2 eta s0 t) against s_{t+1} = s_t (1 - eta s_t)^2 iterated exactly.

    Error analysis: 1/s_{t+1} = 1/s_t + 2 eta + 3 eta^2 s_t + O(eta^3 s_t^2), so the formula's
    relative error is 3 eta^2 sum_{j<t} s_j s_t ~ 1.5 eta s_t log(1 + 2 eta s0 t): the test asserts
    that leading term (seen: measured / predicted = 1.0000 to 1.021).
    """
    for eta, s0, steps in [(0.1, 0.01, 10_000), (0.3, 0.04, 2000), (0.05, 1e-3, 100_000), (0.3, 0.5, 5000)]:
        s = s0
        for _ in range(steps):
            s = s * (1.0 - eta * s) ** 2
        formula = float(theory.spurious_eigenvalue(steps, eta, s0))
        predicted_error = 1.5 * eta * formula * math.log1p(2 * eta * s0 * steps)
        assert (formula / s - 1.0) / predicted_error == pytest.approx(1.0, abs=0.05), (eta, s0, steps)


def test_symmetric_tail_is_the_limit_of_the_spurious_eigenvalues():
    """sqrt(k - r) / (2 eta t) is ||diag(s_t, ..., s_t)||_F (k - r copies) for large t.

    From the recursion, 1/s_t = 1/s0 + 2 eta t + 3 eta^2 sum_{j<t} s_j + ..., so the tail's relative
    error is (1/s0 + 3 eta^2 sum_j s_j) / (2 eta t), shrinking like 1/t (7.6e-3, 9.3e-4, 1.1e-4 at
    t = 1e3, 1e4, 1e5); measured / predicted is 1.016 to 1.023 (the rest is the 4 eta^3 sum s_j^2 term).
    """
    eta, s0 = 0.3, 0.5
    s, total, t = s0, 0.0, 0
    for target in (1000, 10_000, 100_000):
        while t < target:
            total += s
            s = s * (1.0 - eta * s) ** 2
            t += 1
        for excess in (1, 3):
            tail = float(theory.symmetric_overparam_tail(t, eta, excess))
            exact = math.sqrt(excess) * s
            predicted_error = (1.0 / s0 + 3 * eta**2 * total) / (2 * eta * t)
            assert (tail / exact - 1.0) / predicted_error == pytest.approx(1.0, abs=0.05), (t, excess)


def test_asymmetric_rates_against_numpy_eigenvalues():
    """eta lambda_min(F^T F - G^T G), -log(1 - eta lambda_min(F^T F)) and D itself, by NumPy."""
    rng = np.random.default_rng(1)
    f, g = rng.standard_normal((9, 4)) / 3.0, rng.standard_normal((7, 4)) / 5.0
    eta = 0.25
    d = f.T @ f - g.T @ g
    # 4 x 4 products and symmetric eigenproblems: rounding, seen 1.9e-16 (D), 4.4e-16 and 6.7e-16 (rates)
    np.testing.assert_allclose(theory.imbalance(jnp.asarray(f), jnp.asarray(g)), d, rtol=2e-15)
    assert float(theory.asymmetric_rate(eta, jnp.asarray(f), jnp.asarray(g))) == pytest.approx(
        eta * np.linalg.eigvalsh(d).min(), rel=5e-15)
    assert float(theory.asymmetric_tail_rate(eta, jnp.asarray(f), jnp.asarray(g))) == pytest.approx(
        -math.log(1.0 - eta * np.linalg.eigvalsh(f.T @ f).min()), rel=5e-15)


def test_balance_increment_against_numpy():
    """eta^2 (G^T Z^T Z G - F^T Z Z^T F) from Z G and Z^T F."""
    rng = np.random.default_rng(2)
    z, f, g = rng.standard_normal((6, 5)), rng.standard_normal((6, 3)), rng.standard_normal((5, 3))
    expected = 0.3**2 * ((z @ g).T @ (z @ g) - (z.T @ f).T @ (z.T @ f))
    got = theory.balance_increment(0.3, jnp.asarray(z @ g), jnp.asarray(z.T @ f))
    np.testing.assert_allclose(got, expected, rtol=1e-14)  # the same 3 x 3 products: seen 0


def test_noise_floor_and_linear_error_closed_forms():
    """C nu sqrt(n r / m) (Ma & Fattahi) and e0 (1 - rate)^t, at numbers worked by hand."""
    # nu = 0.1, n = 12, r = 2, m = 400: 0.1 sqrt(24 / 400) = 0.1 * 0.244948974278...; rounding, seen 6.7e-16
    assert float(theory.subgm_noise_floor(0.1, 12, 2, 400)) == pytest.approx(0.0244948974278318, rel=5e-15)
    assert float(theory.subgm_noise_floor(0.1, 12, 2, 400, constant=3.0)) == pytest.approx(0.0734846922834953,
                                                                                          rel=5e-15)
    e = 2.0
    for _ in range(7):
        e *= 1.0 - 0.1
    assert float(theory.linear_error(2.0, 0.1, 7)) == pytest.approx(e, rel=1e-15)  # seen 0

