"""Exact algebraic properties of the sensing algorithms (docs/sensing.md#theory).

* balance: one asymmetric GD step changes D = F^T F - G^T G by exactly eta^2 (G^T Z^T Z G - F^T Z Z^T F);
* zero columns stay exactly zero under GD, SubGM and PrecGD (docs/sensing.md#rank-padding);
* every step is equivariant under X -> X R for orthogonal R;
* rebalance keeps F G^T.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sensing

N, N2, R, M, K = 12, 10, 2, 120, 4
OPERATORS = ("gaussian", "rank_one", "completion")


def _problem(operator: str, symmetric: bool):
    return sensing.make_problem(jax.random.key(21), n=N, rank=R, m=M, operator=operator,
                                symmetric=symmetric, n2=None if symmetric else N2,
                                noise=sensing.gaussian_noise(0.01))


ASYM = {op: _problem(op, False) for op in OPERATORS}
SYM = {op: _problem(op, True) for op in ("gaussian", "rank_one")}


@jax.jit
def _balance_change(problem, key, eta):
    f, g = sensing.small_init(key, problem, K, 1.0, right_scale=0.7)
    alg = sensing.gd(eta)
    f1, g1 = alg.step(alg.init((f, g)), problem).x
    zg, ztf = sensing.adjoint_apply(problem.operator, sensing.residual(problem, (f, g)), (f, g))
    d0 = sensing.theory.imbalance(f, g)
    d1 = sensing.theory.imbalance(f1, g1)
    return d1 - d0, sensing.theory.balance_increment(eta, zg, ztf)


@pytest.mark.parametrize("operator", OPERATORS)
@given(seed=st.integers(0, 2**30), eta=st.floats(1e-3, 0.5))
def test_balance_identity_is_exact(operator, seed, eta):
    change, predicted = _balance_change(ASYM[operator], jax.random.key(seed), eta)
    scale = float(jnp.linalg.norm(predicted))
    assert scale > 0
    assert float(jnp.linalg.norm(change - predicted)) <= 1e-12 * max(scale, 1.0) + 1e-14


def _algorithms(eta):
    return {
        "gd": sensing.gd(eta),
        "subgm": sensing.subgm(eta, 0.99),
        "subgm_normalized": sensing.subgm(eta, 0.99, normalize=True),
        "precgd": sensing.precgd(eta),
        "scaled_gd": sensing.scaled_gd(eta, 0.1),
    }


ZERO_PRESERVING = ("gd", "subgm", "subgm_normalized", "precgd")


@jax.jit
def _padded_finals(problem, key, eta):
    """Final factors of every zero-preserving method from a rank-2 start zero-padded to K columns."""
    x0 = sensing.apply_mask(sensing.small_init(key, problem, K, 0.5), sensing.rank_mask(K, 2))
    algs = _algorithms(eta)
    out = {}
    for name in ZERO_PRESERVING:
        state = algs[name].init(x0)
        state = jax.lax.fori_loop(0, 20, lambda _, s, a=algs[name]: a.step(s, problem), state)
        out[name] = state.x
    return out


@pytest.mark.parametrize("symmetric", [True, False])
@given(seed=st.integers(0, 2**30), eta=st.floats(0.01, 0.3))
def test_zero_columns_stay_exactly_zero(symmetric, seed, eta):
    problem = (SYM if symmetric else ASYM)["gaussian"]
    finals = _padded_finals(problem, jax.random.key(seed), eta)
    for name in ZERO_PRESERVING:
        for a in jax.tree.leaves(finals[name]):
            assert bool(jnp.all(jnp.isfinite(a))), name
            assert np.count_nonzero(np.asarray(a[:, 2:])) == 0, name
            assert float(jnp.linalg.norm(a[:, :2])) > 0, name


EQUIVARIANT = ("gd", "subgm", "precgd", "scaled_gd")


@jax.jit
def _rotated_steps(problem, key):
    """(step(X) R, step(X R)) after 5 steps of each method, for a random orthogonal R."""
    kx, kr = jax.random.split(key)
    x0 = sensing.small_init(kx, problem, K, 0.5, right_scale=0.5)
    rot, _ = jnp.linalg.qr(jax.random.normal(kr, (K, K), problem.y.dtype))
    algs = _algorithms(0.05)
    out = {}
    for name in EQUIVARIANT:
        alg = algs[name]
        def five(x, alg=alg):
            return jax.lax.fori_loop(0, 5, lambda _, s: alg.step(s, problem), alg.init(x)).x
        plain = five(x0)
        turned = five(jax.tree.map(lambda a: a @ rot, x0))
        out[name] = (jax.tree.map(lambda a: a @ rot, plain), turned)
    return out


@pytest.mark.parametrize("symmetric", [True, False])
@given(seed=st.integers(0, 2**30))
def test_steps_are_orthogonally_equivariant(symmetric, seed):
    """step(X R) = step(X) R for orthogonal R, for the symmetric X and the pair (F R, G R)."""
    problem = (SYM if symmetric else ASYM)["rank_one"]
    pairs = _rotated_steps(problem, jax.random.key(seed))
    for name in EQUIVARIANT:
        expected, got = pairs[name]
        for e, g in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=name)


@jax.jit
def _rebalanced(key):
    kf, kg = jax.random.split(key)
    f = jax.random.normal(kf, (N, K)) * jnp.array([1.0, 0.3, 1e-2, 1e-3])
    g = jax.random.normal(kg, (N2, K))
    f1, g1 = sensing.rebalance(f, g)
    return f @ g.T, f1 @ g1.T, f1.T @ f1


@given(seed=st.integers(0, 2**30))
def test_rebalance_keeps_the_product_and_whitens_f(seed):
    before, after, gram = _rebalanced(jax.random.key(seed))
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-12 * float(jnp.abs(before).max()) * 10)
    np.testing.assert_allclose(gram, np.eye(K), atol=1e-9)


def test_rebalance_leaves_padded_columns_zero():
    f = jnp.concatenate([jax.random.normal(jax.random.key(0), (N, 2)), jnp.zeros((N, 2))], axis=1)
    g = jnp.concatenate([jax.random.normal(jax.random.key(1), (N2, 2)), jnp.zeros((N2, 2))], axis=1)
    f1, g1 = sensing.rebalance(f, g)
    np.testing.assert_array_equal(f1[:, 2:], 0.0)
    np.testing.assert_array_equal(g1[:, 2:], 0.0)
    np.testing.assert_allclose(f1 @ g1.T, f @ g.T, atol=1e-12)
