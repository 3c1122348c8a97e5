"""Every operator agrees with the dense definition <A_i, M> and its adjoint (docs/sensing.md#operators)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sensing
from sensing.operators import dense_matrices
from sensing.problem import sample_noise

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


_ISO_M = 40_000


@pytest.mark.parametrize("operator,symmetric", [("gaussian", True), ("gaussian", False), ("rank_one", True),
                                                ("rank_one", False)])
def test_random_operators_are_isotropic(operator, symmetric):
    """E[(1/m) sum_i <A_i, E> A_i] = E (sym(A_i) for the symmetric problem), i.e. E[A^* A] = I, with E = M*.

    Each entry of the estimate is a mean of m = 40000 iid terms; the tolerance is 4.5 standard errors
    of that mean, measured from the terms (a standard error is about ||E||_F / sqrt(m) = 0.5 % of
    ||E||_F; 16 to 20 entries per case; seen: at most 2.1). The symmetrised Gaussian also has
    diagonal variance 1 and off-diagonal variance 1/2, to 4.5 standard errors s^2 sqrt(2 / m) of a
    sample variance (seen: at most 1.3).
    """
    n, n2 = 4, (4 if symmetric else 5)
    problem = sensing.make_problem(jax.random.key(0), n=n, rank=1, m=_ISO_M, operator=operator, symmetric=symmetric,
                                   n2=None if symmetric else n2)
    a = np.asarray(dense_matrices(problem.operator, (n, n2)))
    if symmetric:
        a = (a + np.swapaxes(a, 1, 2)) / 2
    e = np.asarray(problem.truth.matrix)
    terms = np.einsum("ijk,jk->i", a, e)[:, None, None] * a
    se = terms.std(axis=0) / np.sqrt(_ISO_M)
    assert np.all(np.abs(terms.mean(axis=0) - e) <= 4.5 * se)
    # the operator's own measure / adjoint_matrix give the same estimate (rounding of a 40000-term mean:
    # seen 2.8e-14 relative)
    z = sensing.adjoint_matrix(problem.operator, sensing.measure(problem.operator, problem.truth.factor if symmetric
                               else (problem.truth.left, problem.truth.right)), (n, n2), symmetric)
    np.testing.assert_allclose(z, terms.mean(axis=0), rtol=3e-13)
    if operator == "gaussian" and symmetric:
        raw = np.asarray(dense_matrices(problem.operator, (n, n)))
        np.testing.assert_array_equal(raw, np.swapaxes(raw, 1, 2))
        var = raw.var(axis=0)
        tol = 4.5 * np.sqrt(2.0 / _ISO_M)
        np.testing.assert_allclose(np.diag(var), 1.0, rtol=tol)
        np.testing.assert_allclose(var[np.triu_indices(n, 1)], 0.5, rtol=tol)


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


@pytest.mark.parametrize("operator", ["completion", "population"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_completion_samples_distinct_entries_at_scale_sqrt_n1_n2(operator, symmetric):
    """A_i = sqrt(n1 n2) e_j e_l^T on m distinct entries (all of them for the population operator),
    so the clean data are y_i = sqrt(n1 n2) M*_{j_i l_i}."""
    n1, n2 = (N, N2) if operator == "completion" else (10, 8)  # the sizes of the test above
    if symmetric:
        n2 = n1
    noise = sensing.gaussian_noise(0.01) if operator == "completion" else None  # as above: compiled sampler shared
    problem = sensing.make_problem(jax.random.key(3), n=n1, rank=2, m=M if operator == "completion" else None,
                                   operator=operator, symmetric=symmetric, n2=None if symmetric else n2, noise=noise)
    op = problem.operator
    rows, cols = np.asarray(op.rows), np.asarray(op.cols)
    m = n1 * n2 if operator == "population" else M
    assert rows.shape == cols.shape == (m,)
    assert rows.min() >= 0 and rows.max() < n1 and cols.min() >= 0 and cols.max() < n2
    assert len(set(zip(rows.tolist(), cols.tolist()))) == m
    assert float(op.scale) == pytest.approx(np.sqrt(n1 * n2), rel=1e-15)
    if operator == "population":  # noiseless: y = sqrt(n1 n2) M* entry by entry
        np.testing.assert_allclose(problem.y, np.sqrt(n1 * n2) * np.asarray(problem.truth.matrix)[rows, cols],
                                   rtol=1e-15, atol=1e-16)  # one product each: seen 0


def test_asymmetric_truth_spectrum_and_factors():
    """M* = L* R*^T with L* = Q_L diag(sigma)^(1/2), R* = Q_R diag(sigma)^(1/2), sigma geometric from 1 to 1/kappa."""
    problem = sensing.make_problem(jax.random.key(5), n=N, rank=2, m=M, cond=8.0, symmetric=False, n2=N2,
                                   noise=sensing.gaussian_noise(0.01))  # the sizes above: compiled sampler shared
    left, right = np.asarray(problem.truth.left), np.asarray(problem.truth.right)
    sigma = np.array([1.0, 1.0 / 8.0])
    # QR-orthonormal columns: rounding, seen 2.2e-16 (Gram matrices), 0 (product), 3.3e-16 (singular values)
    np.testing.assert_allclose(left.T @ left, np.diag(sigma), atol=2e-15)
    np.testing.assert_allclose(right.T @ right, np.diag(sigma), atol=2e-15)
    np.testing.assert_allclose(np.asarray(problem.truth.matrix), left @ right.T, atol=1e-15)
    np.testing.assert_allclose(np.linalg.svd(np.asarray(problem.truth.matrix), compute_uv=False)[:2], sigma,
                               rtol=3e-15)


_NOISE_M = 20_000


def test_noise_models_have_their_documented_laws():
    """Gaussian: s ~ N(0, nu^2); outliers: with probability p, s = magnitude U(-1, 1), else 0, with
    magnitude 10 max_i |y_clean_i| by default. Tolerances are 4 standard errors of each statistic."""
    y0 = jnp.asarray(np.random.default_rng(0).standard_normal(_NOISE_M))
    key = jax.random.key(8)
    nu = 0.3
    s = np.asarray(sample_noise(key, sensing.gaussian_noise(nu), y0))
    # sample standard deviation: standard error nu / sqrt(2 m) = 1.5e-3
    assert s.std() == pytest.approx(nu, abs=4 * nu / np.sqrt(2 * _NOISE_M))
    assert abs(s.mean()) < 4 * nu / np.sqrt(_NOISE_M)
    p = 0.3
    for magnitude, expected_mag in ((None, 10.0 * float(np.abs(y0).max())), (2.0, 2.0)):
        s = np.asarray(sample_noise(key, sensing.outliers(p, magnitude), y0))
        hit = s != 0
        assert hit.mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / _NOISE_M))  # binomial SE 3.2e-3
        u = np.abs(s[hit]) / expected_mag  # |U(-1, 1)| is U(0, 1): max -> 1, mean 1/2 (SE 0.29 / sqrt(6000))
        assert u.max() <= 1.0
        assert u.max() > 1.0 - 10.0 / hit.sum()  # P(max < 1 - c/N) ~ exp(-c)
        assert u.mean() == pytest.approx(0.5, abs=4 * np.sqrt(1 / 12) / np.sqrt(hit.sum()))
        assert (s[hit] > 0).mean() == pytest.approx(0.5, abs=4 * 0.5 / np.sqrt(hit.sum()))  # symmetric sign


def test_make_problem_adds_the_noise_to_the_clean_measurements():
    """y - A(M*) is the sampled noise: for gaussian_noise(0.01), m = 120 values with standard deviation
    0.01 (standard error of a sample standard deviation nu / sqrt(2 m) = 6.5 %; tolerance 4.5 of them,
    seen 0.94)."""
    problem = sensing.make_problem(jax.random.key(3), n=N, rank=2, m=M, symmetric=False, n2=N2,
                                   noise=sensing.gaussian_noise(0.01))  # the sizes above: compiled sampler shared
    s = np.asarray(problem.y - sensing.measure(problem.operator, (problem.truth.left, problem.truth.right)))
    assert np.sqrt(np.mean(s**2)) == pytest.approx(0.01, rel=4.5 / np.sqrt(2 * M))
