"""GD on the dense Gaussian operator: linear convergence at k = r, exact zero-padding, vmapped sweeps."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sensing

N, R, M, KMAX = 12, 2, 300, 4


@functools.lru_cache(maxsize=None)
def _problem(symmetric: bool):
    return sensing.make_problem(jax.random.key(11), n=N, rank=R, m=M, symmetric=symmetric,
                                n2=None if symmetric else 10)


@pytest.mark.parametrize("symmetric", [True, False])
def test_exact_parameterisation_converges_linearly(symmetric):
    """k = r: the error falls geometrically to machine precision (constant log-ratio per record)."""
    problem = _problem(symmetric)
    x0 = sensing.small_init(jax.random.key(0), problem, R, 0.3)
    tr = sensing.run(sensing.gd(0.3), problem, x0, steps=600, record_every=20)
    e = np.asarray(tr.error)
    assert not bool(tr.diverged)
    assert e[-1] < 1e-12
    # after the initial phase the contraction per record is roughly constant (linear rate)
    tail = e[(e < 1e-2) & (e > 1e-11)]
    ratios = tail[1:] / tail[:-1]
    assert ratios.size >= 3
    assert np.all(ratios < 0.5) and ratios.max() / ratios.min() < 3.0


@pytest.mark.parametrize("symmetric", [True, False])
def test_padded_and_unpadded_runs_agree(symmetric):
    """x0 * rank_mask(k_max, k) runs exactly like the rank-k run (MATH.md: zero columns stay zero)."""
    problem = _problem(symmetric)
    k = 3
    xpad = sensing.small_init(jax.random.key(7), problem, KMAX, 0.05)
    mask = sensing.rank_mask(KMAX, k)
    xpad = sensing.apply_mask(xpad, mask)
    xk = jax.tree.map(lambda a: a[:, :k], xpad)
    alg = sensing.gd(0.25)
    tp = sensing.run(alg, problem, xpad, steps=200, record_every=50)
    tk = sensing.run(alg, problem, xk, steps=200, record_every=50)
    np.testing.assert_allclose(tp.error, tk.error, rtol=1e-12, atol=1e-15)
    for fp, fk in zip(jax.tree.leaves(tp.final), jax.tree.leaves(tk.final)):
        np.testing.assert_array_equal(fp[:, k:], 0.0)
        np.testing.assert_allclose(fp[:, :k], fk, rtol=1e-12, atol=1e-15)
