"""Advani-Saxe learning curves: limits, the sqrt(t) overtraining at a = 1, and agreement with
exact finite-size gradient flow for N = 400."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from randfeat.dynamics import (
    advani_saxe_curves,
    gd_curves,
    marchenko_pastur_density,
    marchenko_pastur_quadrature,
)


@pytest.mark.parametrize("a", [0.3, 0.7, 1.5, 4.0])
def test_density_mass_and_mean(a):
    lo, hi = (1 - np.sqrt(a)) ** 2, (1 + np.sqrt(a)) ** 2
    # substitution l = lo + (hi - lo) sin^2(phi) removes the square-root edges; trapezoid rule
    phi = np.linspace(0.0, np.pi / 2, 4001)
    l = lo + (hi - lo) * np.sin(phi) ** 2
    jac = 2 * (hi - lo) * np.sin(phi) * np.cos(phi)
    rho = np.asarray(marchenko_pastur_density(l, a))
    mass = np.trapezoid(rho * jac, phi)
    mean = np.trapezoid(l * rho * jac, phi)
    assert mass == pytest.approx(min(1.0, a), rel=1e-6)
    assert mean == pytest.approx(a, rel=1e-6)          # E[l] = tr(sum x x^T)/N = a


@given(load=st.one_of(st.floats(0.05, 20.0), st.sampled_from([0.999, 0.9999999, 1.0, 1.0000001, 1.001])))
def test_quadrature_moments_are_exact_for_every_load(load):
    """Bulk mass min(1, a) and the Wishart moments E[l] = a, E[l^2] = a (1 + a),
    E[l^3] = a (1 + 3a + a^2) (Marchenko-Pastur, mass at zero excluded), uniformly in a,
    also next to a = 1 where the bulk's lower edge meets zero."""
    l, w = map(np.asarray, marchenko_pastur_quadrature(load))
    for power, moment in enumerate([min(1.0, load), load, load * (1 + load), load * (1 + 3 * load + load**2)]):
        assert np.sum(w * l**power) == pytest.approx(moment, rel=1e-11)


@pytest.mark.parametrize("a", [0.3, 0.999, 1.001, 3.0])
@pytest.mark.parametrize("t", [0.5, 50.0])
def test_quadrature_of_the_learning_curve_integrands_matches_scipy(a, t):
    """int rho e^{-2 l t} and int rho (1 - e^{-l t})^2 / l against adaptive QAWS quadrature
    (scipy.integrate.quad with the algebraic edge weight)."""
    scipy_integrate = pytest.importorskip("scipy.integrate")
    lo, hi = (1 - np.sqrt(a)) ** 2, (1 + np.sqrt(a)) ** 2
    l, w = map(np.asarray, marchenko_pastur_quadrature(a))
    for f in (lambda x: np.exp(-2 * x * t), lambda x: np.expm1(-x * t) ** 2 / x):
        ref, _ = scipy_integrate.quad(lambda x: f(x) / (2 * np.pi * x), lo, hi, weight="alg", wvar=(0.5, 0.5),
                                      limit=500, epsabs=0.0, epsrel=1e-13)
        assert np.sum(w * f(l)) == pytest.approx(ref, rel=1e-10)


def test_quadrature_rejects_bad_input():
    with pytest.raises(ValueError, match="load"):
        marchenko_pastur_quadrature(-1.0)
    with pytest.raises(ValueError, match="num_nodes"):
        marchenko_pastur_quadrature(1.0, num_nodes=1)


@pytest.mark.parametrize("a", [0.4, 2.5])
def test_limits_at_zero_and_infinite_time(a):
    sw, s0, se = 1.0, 0.3, 0.2
    c = advani_saxe_curves(np.array([0.0, 1e7]), a, sw, s0, se)
    assert float(c.generalization[0]) == pytest.approx(sw + s0 + se, rel=1e-8)
    assert float(c.training[0]) == pytest.approx(sw + s0 + se, rel=1e-8)
    if a > 1:   # E[1/l] = 1/(a - 1); training error -> noise (1 - 1/a)
        assert float(c.generalization[1]) == pytest.approx(se * (1 + 1 / (a - 1)), rel=1e-6)
        assert float(c.training[1]) == pytest.approx(se * (1 - 1 / a), rel=1e-6)
    else:       # frozen subspace (1 - a) keeps the initial error; E[1/l] over the bulk = a/(1 - a)
        assert float(c.generalization[1]) == pytest.approx((sw + s0) * (1 - a) + se * (1 + a / (1 - a)), rel=1e-6)
        assert float(c.training[1]) == pytest.approx(0.0, abs=1e-10)


def test_overtraining_grows_like_sqrt_t_at_unit_load():
    t = np.array([1e3, 4e3, 1.6e4])
    g = np.asarray(advani_saxe_curves(t, 1.0, 1.0, 0.0, 0.1).generalization)
    assert (g[2] - g[1]) / (g[1] - g[0]) == pytest.approx(2.0, rel=0.02)
    # and at a = 2 the error saturates instead
    h = np.asarray(advani_saxe_curves(t, 2.0, 1.0, 0.0, 0.1).generalization)
    assert abs(h[2] - h[1]) < 1e-6


@pytest.mark.parametrize("a", [0.5, 2.0])
def test_theory_matches_exact_gradient_flow_n400(a):
    n, sw, s0, se, seeds = 400, 1.0, 0.25, 0.3, 24
    p = int(a * n)
    t = np.array([0.1, 1.0, 3.0, 10.0, 100.0])

    def one(key):
        kx, kw, k0, ke = jax.random.split(key, 4)
        x = jax.random.normal(kx, (p, n)) / np.sqrt(n)
        w_bar = np.sqrt(sw) * jax.random.normal(kw, (n,))
        y = x @ w_bar + np.sqrt(se) * jax.random.normal(ke, (p,))
        w0 = np.sqrt(s0) * jax.random.normal(k0, (n,))
        return gd_curves(x, y, w_bar, w0, t, noise_var=se)

    sim = jax.lax.map(one, jax.random.split(jax.random.key(7), seeds))
    theory = advani_saxe_curves(t, a, sw, s0, se)
    np.testing.assert_allclose(np.asarray(sim.generalization.mean(0)), np.asarray(theory.generalization), rtol=0.03)
    # training error: 3% of its initial value (for a < 1 it decays to 0, where relative error is moot)
    np.testing.assert_allclose(np.asarray(sim.training.mean(0)), np.asarray(theory.training),
                               rtol=0.03, atol=0.03 * (sw + s0 + se) * min(1.0, a))


def test_discrete_steps_approach_flow():
    x = jax.random.normal(jax.random.key(3), (60, 40)) / np.sqrt(40.0)
    y = x @ jnp.ones(40)
    t = np.array([0.0, 2.0, 20.0])
    flow = gd_curves(x, y, jnp.ones(40), jnp.zeros(40), t)
    fine = gd_curves(x, y, jnp.ones(40), jnp.zeros(40), t, step_size=1e-4)
    np.testing.assert_allclose(np.asarray(fine.generalization), np.asarray(flow.generalization), rtol=1e-3)


def test_bad_input():
    with pytest.raises(ValueError, match="load = 0"):
        advani_saxe_curves(1.0, 0.0)
    with pytest.raises(ValueError, match="noise_var = -1"):
        advani_saxe_curves(1.0, 1.0, noise_var=-1.0)
