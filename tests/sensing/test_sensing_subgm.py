"""SubGM on the l1 loss with outliers and Gaussian noise (Ma & Fattahi; docs/sensing.md#subgm)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sensing

N, R, M, KMAX = 12, 2, 400, 6
ETA0, RHO, STEPS, EVERY = 0.5, 0.985, 2000, 5


def _subgm_error(key, noise, k, scale, normalize=False, m=M):
    problem = sensing.make_problem(key, n=N, rank=R, m=m, noise=noise)
    x0 = sensing.small_init(jax.random.fold_in(key, 1), problem, KMAX, scale)
    x0 = sensing.apply_mask(x0, sensing.rank_mask(KMAX, k))
    alg = sensing.subgm(ETA0, RHO, normalize=normalize)
    return sensing.run(alg, problem, x0, steps=STEPS, record_every=EVERY).error


@jax.jit
def _exact_rank_with_outliers(key, p):
    plain = _subgm_error(key, sensing.outliers(p), R, 1e-3)
    normalised = _subgm_error(key, sensing.outliers(p), R, 1e-3, normalize=True)
    return plain[-1], normalised[-1]


@settings(max_examples=8)
@given(seed=st.integers(0, 2**30), p=st.floats(0.0, 0.4))
def test_exact_rank_recovers_despite_outliers(seed, p):
    """k = r: SubGM with geometric steps reaches 1e-8 for outlier fractions up to 0.4 (both step rules)."""
    plain, normalised = _exact_rank_with_outliers(jax.random.key(seed), p)
    assert float(plain) < 1e-8
    assert float(normalised) < 1e-8


_over_rank = jax.jit(jax.vmap(lambda k, scale: _subgm_error(jax.random.key(1), sensing.outliers(0.2), k, scale, m=2 * M)))


def _first_below(e: np.ndarray, level: float) -> int:
    hit = np.nonzero(e < level)[0]
    return int(hit[0]) * EVERY if hit.size else -1


def test_overparameterised_with_small_init_behaves_like_exact_rank():
    """20% outliers, m = 800: with alpha = 1e-6 the iterations to reach 1e-3 do not depend on k (within 15%),
    the final error falls as alpha falls, and a large init stalls the over-parameterised run."""
    ks = jnp.array([2, 3, 4, 6, 6, 6, 6])
    scales = jnp.array([1e-6, 1e-6, 1e-6, 1e-6, 1e-2, 1e-4, 1.0])
    errors = np.asarray(_over_rank(ks, scales))
    hits = np.array([_first_below(e, 1e-3) for e in errors[:4]])
    assert np.all(hits > 0)
    np.testing.assert_allclose(hits, hits[0], rtol=0.15)
    final = errors[:, -1]
    assert final[0] < 1e-10  # k = r
    assert final[3] < 1e-5  # k = 6, alpha = 1e-6
    assert final[3] < final[5] < final[4]  # smaller alpha, smaller final error
    assert final[6] > 1e-3  # large init: stalls
    assert final[6] > 100 * final[3]


_gaussian_floor = jax.jit(jax.vmap(lambda k, nu: _subgm_error(jax.random.key(5), sensing.gaussian_noise(nu), k, 1e-6)[-1]))


def test_gaussian_noise_floor_does_not_depend_on_k():
    """The final error under N(0, nu^2) noise is C nu sqrt(n r / m): linear in nu and the same for every k."""
    ks = jnp.array([2, 3, 4, 6, 2, 6])
    nus = jnp.array([1e-2, 1e-2, 1e-2, 1e-2, 1e-3, 1e-3])
    final = np.asarray(_gaussian_floor(ks, nus))
    np.testing.assert_allclose(final[:4], final[0], rtol=0.05)
    np.testing.assert_allclose(final[4:], final[4], rtol=0.05)
    c = final / np.asarray(sensing.theory.subgm_noise_floor(nus, N, R, M))
    np.testing.assert_allclose(c, c[0], rtol=0.1)
    assert 0.2 < c[0] < 5.0


@jax.jit
def _sign_gradient_mc(key, e_scale, nu, p):
    """Monte-Carlo E[sign(<A, E> - s) A] for iid Gaussian A (5 x 4) and two noise models."""
    ke, ka, ks, ko, ku = jax.random.split(key, 5)
    e = e_scale * jax.random.normal(ke, (5, 4))
    a = jax.random.normal(ka, (40000, 5, 4))
    inner = jnp.einsum("ijk,jk->i", a, e)
    s_gauss = nu * jax.random.normal(ks, (40000,))
    mag = 3.0 * e_scale
    s_out = jnp.where(jax.random.uniform(ko, (40000,)) < p, mag * jax.random.uniform(ku, (40000,), minval=-1.0, maxval=1.0), 0.0)
    mc_gauss = jnp.einsum("i,ijk->jk", jnp.sign(inner - s_gauss), a) / 40000
    mc_out = jnp.einsum("i,ijk->jk", jnp.sign(inner - s_out), a) / 40000
    en = jnp.linalg.norm(e)
    th_gauss = sensing.theory.sign_gradient_expectation(e, sensing.theory.phi_gaussian(en, nu))
    th_out = sensing.theory.sign_gradient_expectation(e, sensing.theory.phi_outliers(en, p, mag))
    phi_mc = sensing.theory.phi(en, s_gauss), sensing.theory.phi_gaussian(en, nu)
    return mc_gauss, th_gauss, mc_out, th_out, phi_mc


@settings(max_examples=10)
@given(seed=st.integers(0, 2**30), e_scale=st.floats(0.1, 3.0), nu=st.floats(0.0, 3.0), p=st.floats(0.0, 0.9))
def test_sign_gradient_phi_identity(seed, e_scale, nu, p):
    """E[sign(<A, E> - s) A] = phi(E) E / ||E||_F with phi = sqrt(2/pi) E_s exp(-s^2 / 2||E||^2)."""
    mc_g, th_g, mc_o, th_o, (phi_mc, phi_cf) = _sign_gradient_mc(jax.random.key(seed), e_scale, nu, p)
    tol = 5.0 / np.sqrt(40000)  # each entry is a mean of 40000 terms with variance <= 1
    np.testing.assert_allclose(mc_g, th_g, atol=tol)
    np.testing.assert_allclose(mc_o, th_o, atol=tol)
    assert float(phi_mc) == pytest.approx(float(phi_cf), abs=tol)
