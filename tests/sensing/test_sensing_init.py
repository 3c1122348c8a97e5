"""Small random and spectral initialisation against their definitions (docs/sensing.md, "Small random
initialisation" and "Spectral initialisation")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sensing


def _shape_only_problem(n1: int, n2: int, symmetric: bool) -> sensing.Problem:
    """A problem whose only use is its shape and dtype (small_init reads nothing else)."""
    op = sensing.Completion(jnp.zeros(1, jnp.int32), jnp.zeros(1, jnp.int32), jnp.asarray(1.0))
    if symmetric:
        truth = sensing.SymmetricTruth(jnp.zeros((n1, 1)), jnp.zeros((n1, n1)))
    else:
        truth = sensing.Truth(jnp.zeros((n1, 1)), jnp.zeros((n2, 1)), jnp.zeros((n1, n2)))
    return sensing.Problem(op, jnp.zeros(1), truth)


N1, N2, K = 400, 300, 50


def _mean_square_column_norm(a: np.ndarray) -> float:
    return float(np.mean(np.sum(a * a, axis=0)))


def test_small_init_columns_have_norm_alpha_and_g_is_a_third():
    """X0 = alpha B, B iid N(0, 1/n): mean squared column norm alpha^2; G0 at alpha/3 by default, or at
    right_scale. The mean of n k squares of N(0, s^2 / n) over k columns has standard error
    s^2 sqrt(2 / (n k)) (1.0 % / 1.2 % of s^2 here); the tolerance is 4 of them (seen: 0.3 and 1.5)."""
    alpha = 0.7
    for symmetric in (True, False):
        problem = _shape_only_problem(N1, N2, symmetric)
        x = sensing.small_init(jax.random.key(0), problem, K, alpha)
        f, g = (x, None) if symmetric else x
        assert f.shape == (N1, K)
        se = lambda s2, n: 4 * s2 * np.sqrt(2.0 / (n * K))  # noqa: E731
        assert _mean_square_column_norm(np.asarray(f)) == pytest.approx(alpha**2, abs=se(alpha**2, N1))
        assert abs(float(np.mean(np.asarray(f)))) < 4 * alpha / np.sqrt(N1) / np.sqrt(N1 * K)
        if not symmetric:
            assert g.shape == (N2, K)
            assert _mean_square_column_norm(np.asarray(g)) == pytest.approx((alpha / 3) ** 2,
                                                                            abs=se((alpha / 3) ** 2, N2))
            _, g2 = sensing.small_init(jax.random.key(0), problem, K, alpha, right_scale=0.2)
            assert _mean_square_column_norm(np.asarray(g2)) == pytest.approx(0.04, abs=se(0.04, N2))


# the sizes of test_sensing_identities.py (rank-one operator, noise 0.01): compiled sampler shared
N, N2_SMALL, M = 12, 10, 120


@pytest.mark.parametrize("symmetric", [True, False])
def test_spectral_init_is_the_top_eigen_or_singular_part_of_the_adjoint(symmetric):
    """Z = (1/m) sum_i y_i a_i b_i^T built from the rank-one operator's vectors. Symmetric:
    X0 X0^T = V_k diag(max(lambda_k, 0)) V_k^T from the top-k eigenpairs of sym(Z); asymmetric:
    F0 G0^T = U_k S_k V_k^T and F0^T F0 = G0^T G0 = S_k from the top-k singular triplets."""
    problem = sensing.make_problem(jax.random.key(21), n=N, rank=2, m=M, operator="rank_one", symmetric=symmetric,
                                   n2=None if symmetric else N2_SMALL, noise=sensing.gaussian_noise(0.01))
    a, b, y = (np.asarray(v) for v in (problem.operator.left, problem.operator.right, problem.y))
    z = np.einsum("i,ij,ik->jk", y, a, b) / M
    k = 10 if symmetric else 4  # symmetric: deep enough into the spectrum to reach negative eigenvalues
    x = sensing.spectral_init(problem, k)
    if symmetric:
        lam, v = np.linalg.eigh((z + z.T) / 2)
        lam, v = lam[::-1][:k], v[:, ::-1][:, :k]
        assert lam.min() < 0 < lam.max()  # the clipping at 0 is exercised
        expected = (v * np.maximum(lam, 0.0)) @ v.T
        x = np.asarray(x)
        # a 12 x 12 eigendecomposition: rounding, seen 1.6e-15 relative (8.9e-16 on the eigenvalues)
        assert np.linalg.norm(x @ x.T - expected) < 1e-14 * np.linalg.norm(expected)
        np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(x.T @ x))[::-1], np.maximum(lam, 0.0), atol=1e-14)
    else:
        u, s, vt = np.linalg.svd(z)
        expected = (u[:, :k] * s[:k]) @ vt[:k]
        f, g = (np.asarray(v) for v in x)
        # 12 x 10 SVD: rounding, seen 1.2e-15 relative (1.6e-15 on the Gram matrices)
        assert np.linalg.norm(f @ g.T - expected) < 1e-14 * np.linalg.norm(expected)
        np.testing.assert_allclose(f.T @ f, np.diag(s[:k]), atol=1e-14)
        np.testing.assert_allclose(g.T @ g, np.diag(s[:k]), atol=1e-14)
