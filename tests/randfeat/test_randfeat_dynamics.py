"""Advani-Saxe learning curves: limits, the sqrt(t) overtraining at a = 1, and agreement with
exact finite-size gradient flow for N = 400."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from randfeat.dynamics import advani_saxe_curves, gd_curves, marchenko_pastur_density


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
