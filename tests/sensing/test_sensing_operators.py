"""Every operator agrees with the dense definition <A_i, M> and its adjoint (docs/sensing.md#operators)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sensing
from sensing.operators import dense_matrices

N, N2, K, M = 12, 10, 4, 120  # the sizes of test_sensing_identities.py, so compiled programs are shared


@jax.jit
def _operator_outputs(problem, x, r):
    """measure, adjoint_apply, adjoint_matrix and the dense tensor in one compiled program."""
    n1, n2 = problem.truth.matrix.shape
    symmetric = not isinstance(x, tuple)
    return (
        sensing.measure(problem.operator, x),
        sensing.adjoint_apply(problem.operator, r, x),
        sensing.adjoint_matrix(problem.operator, r, (n1, n2), symmetric),
        dense_matrices(problem.operator, (n1, n2)),
    )


def _dense_reference(problem, x, a):
    """<A_i, F G^T> and Z = (1/m) sum r_i A_i from the explicit (m, n1, n2) tensor."""
    a = np.asarray(a)
    f, g = (x, x) if not isinstance(x, tuple) else x
    prod = np.asarray(f) @ np.asarray(g).T
    y = np.einsum("ijk,jk->i", a, prod)
    r = y - np.asarray(problem.y)
    z = np.einsum("i,ijk->jk", r, a) / a.shape[0]
    return a, y, r, z


@pytest.mark.parametrize("operator", ["gaussian", "rank_one", "completion", "population"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_measure_and_adjoint_match_dense_definition(operator, symmetric):
    key = jax.random.key(3)
    if operator == "population":  # the sizes of test_sensing_rates.py
        problem = sensing.make_problem(key, n=10, rank=2, operator=operator, symmetric=symmetric,
                                       n2=None if symmetric else 8)
    else:
        problem = sensing.make_problem(key, n=N, rank=2, m=M, operator=operator, symmetric=symmetric,
                                       n2=None if symmetric else N2, noise=sensing.gaussian_noise(0.01))
    x = sensing.small_init(jax.random.key(4), problem, K, 1.0, right_scale=1.0)
    r_probe = jax.random.normal(jax.random.key(5), problem.y.shape)
    y_op, got, full, a = _operator_outputs(problem, x, r_probe)
    a, y_ref, _, _ = _dense_reference(problem, x, a)
    r = np.asarray(r_probe)
    z = np.einsum("i,ijk->jk", r, a) / a.shape[0]
    np.testing.assert_allclose(y_op, y_ref, rtol=1e-12, atol=1e-12)
    if symmetric:
        assert np.allclose(a, np.swapaxes(a, 1, 2)) or operator != "gaussian"
        zs = (z + z.T) / 2
        np.testing.assert_allclose(got, zs @ np.asarray(x), rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(full, zs, rtol=1e-11, atol=1e-12)
    else:
        f, g = (np.asarray(v) for v in x)
        np.testing.assert_allclose(got[0], z @ g, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(got[1], z.T @ f, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(full, z, rtol=1e-11, atol=1e-12)


def test_symmetric_gaussian_is_symmetrised_and_isotropic():
    """A_i = (G + G^T)/2: diagonal variance 1, off-diagonal 1/2, so E[<A, E> A] = E for symmetric E."""
    problem = sensing.make_problem(jax.random.key(0), n=4, rank=1, m=40000)
    a = np.asarray(dense_matrices(problem.operator, (4, 4)))
    np.testing.assert_array_equal(a, np.swapaxes(a, 1, 2))
    var = a.var(axis=0)
    np.testing.assert_allclose(np.diag(var), 1.0, rtol=0.05)
    np.testing.assert_allclose(var[np.triu_indices(4, 1)], 0.5, rtol=0.05)
    e = np.asarray(problem.truth.matrix)
    est = np.einsum("i,ijk->jk", np.einsum("ijk,jk->i", a, e), a) / a.shape[0]
    np.testing.assert_allclose(est, e, atol=0.05)


def test_population_operator_is_identity():
    """With every entry observed, sym(Z) = X X^T - M* exactly (the population limit)."""
    problem = sensing.make_problem(jax.random.key(1), n=10, rank=2, operator="population")
    x = sensing.small_init(jax.random.key(2), problem, 4, 1.0)
    r = sensing.residual(problem, x)
    z = sensing.adjoint_matrix(problem.operator, r, (10, 10), True)
    np.testing.assert_allclose(z, x @ x.T - problem.truth.matrix, rtol=1e-12, atol=1e-13)
    loss = sensing.least_squares_loss(problem, x)
    np.testing.assert_allclose(loss, 0.25 * np.linalg.norm(x @ x.T - problem.truth.matrix) ** 2, rtol=1e-12)


def test_truth_spectrum_is_geometric():
    """Singular values of M* spread geometrically from 1 to 1/kappa; the rest are zero."""
    for rank in (1, 2):
        problem = sensing.make_problem(jax.random.key(5), n=12, rank=rank, m=300, cond=8.0)
        s = np.linalg.eigvalsh(np.asarray(problem.truth.matrix))[::-1]
        np.testing.assert_allclose(s[:rank], 8.0 ** (-np.arange(rank) / max(rank - 1, 1)), rtol=1e-12)
        np.testing.assert_allclose(s[rank:], 0.0, atol=1e-14)
    np.testing.assert_allclose(sensing.problem.geometric_spectrum(4, 8.0, jnp.float64), 8.0 ** (-np.arange(4) / 3),
                               rtol=1e-12)
