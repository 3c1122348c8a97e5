"""GD on the dense Gaussian operator: linear convergence at k = r, exact zero-padding, vmapped sweeps."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sensing

N, R, M, KMAX = 12, 2, 300, 4
# (steps, record_every) = (600, 20) for rank-R runs wherever possible: one compiled run serves several tests


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
    """x0 * rank_mask(k_max, k) runs exactly like the rank-k run (docs/sensing.md#rank-padding: zero columns stay zero)."""
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


def _sweep_point(problem, scale, eta, k, seed):
    """One configuration of a (scale, step size, padded rank, seed) sweep sharing one operator."""
    x0 = sensing.small_init(jax.random.key(seed), problem, KMAX, scale)
    x0 = sensing.apply_mask(x0, sensing.rank_mask(KMAX, k))
    tr = sensing.run(sensing.gd(eta), problem, x0, steps=120, record_every=40)
    return tr.error, tr.singular_values, tr.final


_single = jax.jit(_sweep_point)
_batched = jax.jit(jax.vmap(_sweep_point, in_axes=(None, 0, 0, 0, 0)))


def test_vmapped_sweep_equals_per_config_runs():
    """A vmapped sweep over (scale, step size, rank padded to k_max, seed) is one program with the same numbers."""
    problem = _problem(True)
    grid = np.array(np.meshgrid([0.01, 0.1], [0.1, 0.3], [1, 3], [0, 1], indexing="ij")).reshape(4, -1)
    scale, eta, k, seed = (jnp.asarray(grid[0]), jnp.asarray(grid[1]),
                           jnp.asarray(grid[2].astype(np.int32)), jnp.asarray(grid[3].astype(np.int32)))
    err_b, sv_b, x_b = _batched(problem, scale, eta, k, seed)
    assert err_b.shape == (16, 4) and sv_b.shape == (16, 4, KMAX)
    for i in range(16):
        err, sv, x = _single(problem, scale[i], eta[i], k[i], seed[i])
        np.testing.assert_allclose(err_b[i], err, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(sv_b[i], sv, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(x_b[i], x, rtol=1e-12, atol=1e-15)
        assert np.count_nonzero(np.asarray(x_b[i])[:, int(k[i]):]) == 0


def test_float32_converges_and_pads_exactly():
    """float32 end to end: k = r reaches float32 precision and zero-padding stays exact."""
    problem = sensing.make_problem(jax.random.key(11), n=N, rank=R, m=M, dtype=jnp.float32)
    assert problem.y.dtype == jnp.float32 and problem.operator.packed.dtype == jnp.float32
    x0 = sensing.small_init(jax.random.key(0), problem, KMAX, 0.3)
    x0 = sensing.apply_mask(x0, sensing.rank_mask(KMAX, R))
    assert x0.dtype == jnp.float32
    tr = sensing.run(sensing.gd(0.3), problem, x0, steps=400, record_every=100)
    assert tr.error.dtype == jnp.float32
    assert float(tr.error[-1]) < 1e-5
    assert np.count_nonzero(np.asarray(tr.final)[:, R:]) == 0


def test_from_optax_sgd_equals_gd_and_adam_runs_the_same_loss():
    """optax.sgd(eta) through from_optax reproduces gd(eta) exactly; Adam decreases the same loss."""
    import optax

    problem = _problem(False)
    x0 = sensing.small_init(jax.random.key(2), problem, R, 0.3)
    a = sensing.run(sensing.gd(0.2), problem, x0, steps=600, record_every=20)
    b = sensing.run(sensing.from_optax(optax.sgd(0.2)), problem, x0, steps=600, record_every=20)
    np.testing.assert_allclose(b.error, a.error, rtol=1e-12)
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-12)
    adam = sensing.run(sensing.from_optax(optax.adam(1e-2)), problem, x0, steps=600, record_every=20)
    np.testing.assert_allclose(adam.loss[0], a.loss[0], rtol=1e-14)
    assert float(adam.loss[-1]) < 0.1 * float(adam.loss[0])


@pytest.mark.parametrize("symmetric", [True, False])
def test_spectral_init_is_close_and_gd_refines_it(symmetric):
    """Spectral init from A^*(y) is within a constant of M* with m = 300 >> n r, and GD from it converges."""
    problem = _problem(symmetric)
    x0 = sensing.spectral_init(problem, R)
    e0 = float(sensing.relative_error(problem, x0))
    assert e0 < 0.7
    tr = sensing.run(sensing.gd(0.3), problem, x0, steps=600, record_every=20)
    assert float(tr.error[-1]) < 1e-8


def test_scaled_gd_is_insensitive_to_the_condition_number():
    """ScaledGD(lambda = 0) at k = r converges at a rate that does not degrade with kappa, unlike GD."""
    steps_needed = {}
    for cond in (1.0, 20.0):
        problem = sensing.make_problem(jax.random.key(4), n=N, rank=R, m=M, cond=cond)
        x0 = sensing.spectral_init(problem, R)
        sgd = sensing.run(sensing.scaled_gd(0.5, 0.0), problem, x0, steps=60, record_every=2).error
        plain = sensing.run(sensing.gd(0.3), problem, x0, steps=600, record_every=20).error
        steps_needed[cond] = (int(np.argmax(np.asarray(sgd) < 1e-8)) * 2,
                              float(plain[3]))  # GD error at step 60
    assert 0 < steps_needed[1.0][0] and 0 < steps_needed[20.0][0]
    assert steps_needed[20.0][0] <= 1.5 * steps_needed[1.0][0]
    assert steps_needed[20.0][1] > 1e-4  # GD is still far off after 60 steps at kappa = 20


def test_divergence_freezes_the_state():
    """A step size far too large drives the iterate to inf; run reports it and keeps the last finite state."""
    problem = _problem(True)
    x0 = sensing.small_init(jax.random.key(0), problem, R, 1.0)
    tr = sensing.run(sensing.gd(50.0), problem, x0, steps=600, record_every=20)
    assert bool(tr.diverged)
    assert bool(jnp.all(jnp.isfinite(tr.final)))
    e = np.asarray(tr.error)
    assert np.all(np.isfinite(e)) and e[-1] == e[-2]
    ok = sensing.run(sensing.gd(0.3), problem, x0, steps=600, record_every=20)
    assert not bool(ok.diverged)


@pytest.mark.parametrize("symmetric", [True, False])
def test_recorded_singular_values_are_those_of_the_estimate(symmetric):
    """trace.singular_values equal NumPy's singular values of X X^T (or F G^T) at the final iterate."""
    problem = _problem(symmetric)
    x0 = sensing.small_init(jax.random.key(5), problem, k=4, scale=0.3)
    tr = sensing.run(sensing.gd(0.1), problem, x0, steps=20, record_every=20)
    f, g = (tr.final, tr.final) if symmetric else tr.final
    expected = np.linalg.svd(np.asarray(f) @ np.asarray(g).T, compute_uv=False)[:4]
    np.testing.assert_allclose(np.asarray(tr.singular_values[-1]), expected, rtol=1e-10, atol=1e-13)
