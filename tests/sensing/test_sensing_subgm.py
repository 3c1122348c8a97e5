"""SubGM on the l1 loss with outliers and Gaussian noise (Ma & Fattahi; docs/sensing.md#subgm)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
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


MC_CHUNKS, MC_CHUNK = 16, 2**16  # 2^20 Monte-Carlo samples, drawn in chunks of 2^16 (3 MiB each)
MC_SHAPE = (3, 2)


@jax.jit
def _sign_gradient_mc(key, e_scale, nu, p):
    """Monte-Carlo E[sign(<A, E> - s) A] for iid Gaussian A (3 x 2) under two noise models, with the
    standard error of each entry, the closed forms, and phi's Monte-Carlo estimate with its standard error."""
    ke, kc = jax.random.split(key)
    e = e_scale * jax.random.normal(ke, MC_SHAPE)
    en = jnp.linalg.norm(e)
    mag = 3.0 * e_scale

    def chunk(totals, k):
        ka, ks, ko, ku = jax.random.split(k, 4)
        a = jax.random.normal(ka, (MC_CHUNK, *MC_SHAPE))
        inner = jnp.einsum("ijk,jk->i", a, e)
        s_gauss = nu * jax.random.normal(ks, (MC_CHUNK,))
        s_out = jnp.where(jax.random.uniform(ko, (MC_CHUNK,)) < p,
                          mag * jax.random.uniform(ku, (MC_CHUNK,), minval=-1.0, maxval=1.0), 0.0)
        w = jnp.sqrt(2.0 / jnp.pi) * jnp.exp(-(s_gauss**2) / (2.0 * en**2))  # the terms of phi's estimate
        terms = (jnp.sign(inner - s_gauss)[:, None, None] * a, jnp.sign(inner - s_out)[:, None, None] * a, w)
        return jax.tree.map(lambda tot, x: (tot[0] + x.sum(0), tot[1] + (x * x).sum(0)), totals, terms,
                            is_leaf=lambda v: isinstance(v, tuple) and len(v) == 2), None

    zero = (jnp.zeros(MC_SHAPE), jnp.zeros(MC_SHAPE))
    totals, _ = jax.lax.scan(chunk, (zero, zero, (jnp.zeros(()), jnp.zeros(()))), jax.random.split(kc, MC_CHUNKS))
    n = MC_CHUNKS * MC_CHUNK
    mean_se = [(s1 / n, jnp.sqrt(jnp.maximum(s2 / n - (s1 / n) ** 2, 0.0) / n)) for s1, s2 in totals]
    th_gauss = sensing.theory.sign_gradient_expectation(e, sensing.theory.phi_gaussian(en, nu))
    th_out = sensing.theory.sign_gradient_expectation(e, sensing.theory.phi_outliers(en, p, mag))
    return mean_se, (th_gauss, th_out, sensing.theory.phi_gaussian(en, nu))


@settings(max_examples=4)
@given(seed=st.integers(0, 2**30), e_scale=st.floats(0.1, 3.0), nu=st.floats(0.0, 3.0), p=st.floats(0.0, 0.9))
def test_sign_gradient_phi_identity(seed, e_scale, nu, p):
    """E[sign(<A, E> - s) A] = phi(E) E / ||E||_F with phi = sqrt(2/pi) E_s exp(-s^2 / 2||E||^2).

    2^20 samples: each entry's standard error is about 1e-3 (1/sqrt(n) at most, the terms have
    second moment E[A_jk^2] = 1), 0.3 % of a typical entry phi / sqrt(6) ~ 0.3. The tolerance is 4.5
    standard errors per entry (13 comparisons per example, 52 in all: a false alarm has probability
    ~4e-4), about 1.5 % of a typical entry; the largest deviation seen is 3.2 standard errors.
    """
    (g, o, ph), (th_g, th_o, phi_cf) = _sign_gradient_mc(jax.random.key(seed), e_scale, nu, p)
    for (mean, se), expected in ((g, th_g), (o, th_o), (ph, phi_cf)):
        mean, se, expected = np.asarray(mean), np.asarray(se), np.asarray(expected)
        assert np.all(se < 1.01 / np.sqrt(MC_CHUNKS * MC_CHUNK))  # second moments <= 1 (up to sampling)
        # + 1e-12: phi's terms are all equal when nu = 0 (standard error 0; rounding of the mean)
        assert np.all(np.abs(mean - expected) <= 4.5 * se + 1e-12), (np.abs(mean - expected) / se, mean, expected)
