"""Lanczos, Gauss quadrature and the stochastic-Lanczos spectral density against a dense eigh.

Every output of ``lanczos``, ``tridiagonal_eigh``, ``extreme_eigenvalues`` and
``spectral_density`` is checked against ``numpy.linalg.eigh`` of an explicit symmetric matrix
``A = U diag(lambda) U^T``. The reference facts (Golub & Meurant, "Matrices, Moments and
Quadrature", ch. 3-6):

* the spectral measure of a unit start vector v is ``mu_v = sum_j (u_j^T v)^2 delta(lambda_j)``;
* m Lanczos steps give the Jacobi matrix T_m of mu_v; its eigenvalues theta_i (Ritz values) and
  the squared first components ``tau_i = (e_1^T s_i)^2`` of its eigenvectors are the m-point
  Gauss rule of mu_v, exact for polynomials of degree <= 2m - 1:
  ``sum_i tau_i theta_i^p = v^T A^p v`` for p <= 2m - 1;
* at degree 2m the rule errs by exactly ``int pi_m^2 dmu_v = sum_j (u_j^T v)^2 prod_i
  (lambda_j - theta_i)^2 > 0`` (pi_m the monic orthogonal polynomial, whose roots are the theta_i);
* with m = dim the rule is the measure itself: theta = lambda, tau_j = (u_j^T v)^2.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import bounds as B

DIM = 24
# distinct eigenvalues: a bulk in [-1, 1] and two outliers, as in a Hessian at a minimum
EIGENVALUES = np.concatenate([[-2.0], np.linspace(-1.0, 1.0, DIM - 2), [3.0]])


def _matrix(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``A = U diag(EIGENVALUES) U^T`` with a Haar-random orthogonal U; returns (A, U)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(DIM, DIM)))
    u = q * np.sign(np.diag(r))
    return (u * EIGENVALUES) @ u.T, u


A_NP, U_NP = _matrix()
A_JAX = jnp.asarray(A_NP)


def matvec(v: jax.Array) -> jax.Array:
    """The one matvec object shared by every call (lanczos compiles once per matvec)."""
    return A_JAX @ v


def _dense_measure(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the exact spectral measure of v from a dense eigh of A."""
    lam, u = np.linalg.eigh(A_NP)
    return lam, (u.T @ v) ** 2


def _numpy_lanczos(a: np.ndarray, v0: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Textbook Lanczos with full (twice repeated) Gram-Schmidt, written from the recurrence
    ``beta_j v_{j+1} = A v_j - alpha_j v_j - beta_{j-1} v_{j-1}``; no breakdown handling."""
    basis = [v0 / np.linalg.norm(v0)]
    alphas, betas = [], []
    for j in range(m):
        w = a @ basis[j]
        alphas.append(float(w @ basis[j]))
        for _ in range(2):
            for b in basis:
                w = w - (w @ b) * b
        if j + 1 < m:
            betas.append(float(np.linalg.norm(w)))
            basis.append(w / betas[-1])
    return np.array(alphas), np.array(betas), np.array(basis)


def test_lanczos_outputs_match_a_numpy_recurrence():
    """alphas (m,), betas (m - 1,) and the basis (m, dim) equal a plain NumPy Lanczos from the same
    unit start vector (observed max error 9e-16), and the basis spans the Krylov space of v."""
    m = 10
    res = B.lanczos(matvec, jax.random.key(3), DIM, m)
    assert res.alphas.shape == (m,) and res.betas.shape == (m - 1,) and res.basis.shape == (m, DIM)
    v0 = np.asarray(res.basis[0])
    np.testing.assert_allclose(np.linalg.norm(v0), 1.0, rtol=1e-14)
    alphas, betas, basis = _numpy_lanczos(A_NP, v0, m)
    # tolerance: rounding of m matvecs and Gram-Schmidt passes on O(1) entries (observed 7e-16,
    # 8e-16, 9e-16)
    np.testing.assert_allclose(np.asarray(res.alphas), alphas, atol=1e-14)
    np.testing.assert_allclose(np.asarray(res.betas), betas, atol=1e-14)
    np.testing.assert_allclose(np.asarray(res.basis), basis, atol=1e-14)
    # independent of the recurrence: the Krylov matrix [v, A v, ..., A^{m-1} v] lies in span(basis)
    krylov = np.stack([np.linalg.matrix_power(A_NP, p) @ v0 for p in range(m)], axis=1)
    krylov /= np.linalg.norm(krylov, axis=0)
    residual = krylov - basis.T @ (basis @ krylov)
    assert np.max(np.abs(residual)) < 3e-15  # observed 2.8e-16


def test_tridiagonal_eigh_against_scipy():
    """Ritz values ascending and weights (e_1^T s_i)^2 of an arbitrary Jacobi matrix equal
    scipy.linalg.eigh_tridiagonal's eigenvalues and squared first eigenvector components."""
    rng = np.random.default_rng(1)
    m = 7
    alphas, betas = rng.normal(size=m), rng.uniform(0.2, 1.5, m - 1)
    vals, weights = B.tridiagonal_eigh(B.LanczosResult(jnp.asarray(alphas), jnp.asarray(betas), jnp.zeros((m, 1))))
    ref_vals, ref_vecs = scipy.linalg.eigh_tridiagonal(alphas, betas)
    # rounding of a 7 x 7 eigensolver (observed 0: the same LAPACK routine underneath)
    np.testing.assert_allclose(np.asarray(vals), ref_vals, atol=1e-14)
    np.testing.assert_allclose(np.asarray(weights), ref_vecs[0] ** 2, atol=1e-14)
    # and the weights are not uniform: the test can tell (e_1^T s_i)^2 from 1/m (observed 0.195)
    assert np.max(np.abs(ref_vecs[0] ** 2 - 1 / m)) > 0.05


@pytest.mark.parametrize("m", [6, 10])  # the Lanczos lengths shared by the tests: one compile each
def test_gauss_rule_reproduces_the_moments_of_the_start_vector(m):
    """sum_i tau_i theta_i^p = v^T A^p v = sum_j (u_j^T v)^2 lambda_j^p for p = 0..2m-1, and at
    p = 2m the error is exactly sum_j (u_j^T v)^2 prod_i (lambda_j - theta_i)^2 > 0."""
    res = B.lanczos(matvec, jax.random.key(m), DIM, m)
    v = np.asarray(res.basis[0])
    theta, tau = (np.asarray(x) for x in B.tridiagonal_eigh(res))
    assert np.all(np.diff(theta) > 0)
    lam, c = _dense_measure(v)
    for p in range(2 * m):
        exact = float(c @ lam**p)
        direct = float(v @ np.linalg.matrix_power(A_NP, p) @ v)
        scale = float(c @ np.abs(lam) ** p)  # sum of |terms|: the size of the rounding
        np.testing.assert_allclose(exact, direct, atol=1e-12 * scale)
        # Gauss exactness, rounding only (observed <= 4.7e-15 relative to scale)
        np.testing.assert_allclose(float(tau @ theta**p), exact, atol=5e-14 * scale, err_msg=f"p = {p}")
    gap = float(c @ lam ** (2 * m)) - float(tau @ theta ** (2 * m))
    remainder = float(c @ np.prod((lam[:, None] - theta[None, :]) ** 2, axis=1))
    assert remainder > 1e-4  # observed 0.12, 1.5e-4 for m = 6, 10
    # the degree-2m error equals int pi_m^2 dmu; the gap is a difference of two numbers of size
    # scale_2m = sum_j c_j |lambda_j|^(2m), so rounding is relative to that (observed <= 4.8e-15)
    scale = float(c @ np.abs(lam) ** (2 * m))
    np.testing.assert_allclose(gap, remainder, atol=5e-14 * scale)


def test_full_lanczos_recovers_the_spectral_measure_of_the_start_vector():
    """m = dim: Ritz values = eigenvalues and Gauss weights = (u_j^T v)^2 (observed 3.1e-15, 1.3e-15)."""
    res = B.lanczos(matvec, jax.random.key(11), DIM, DIM)
    theta, tau = (np.asarray(x) for x in B.tridiagonal_eigh(res))
    lam, c = _dense_measure(np.asarray(res.basis[0]))
    np.testing.assert_allclose(theta, lam, atol=3e-14)
    np.testing.assert_allclose(tau, c, atol=3e-14)


def test_extreme_eigenvalues():
    """Full run: exactly (lambda_min, lambda_max). Partial run: the extreme Ritz values of the NumPy
    recurrence from the same start vector, inside the spectrum and converging to its ends."""
    lo, hi = B.extreme_eigenvalues(matvec, jax.random.key(5), DIM, DIM)
    # rounding of a full Lanczos run (observed 1.8e-15)
    np.testing.assert_allclose([float(lo), float(hi)], [EIGENVALUES[0], EIGENVALUES[-1]], atol=2e-14)
    errors = []
    for m in (6, 10):
        lo, hi = (float(x) for x in B.extreme_eigenvalues(matvec, jax.random.key(5), DIM, m))
        v0 = np.asarray(B.lanczos(matvec, jax.random.key(5), DIM, m).basis[0])
        alphas, betas, _ = _numpy_lanczos(A_NP, v0, m)
        ritz = scipy.linalg.eigh_tridiagonal(alphas, betas, eigvals_only=True)
        np.testing.assert_allclose([lo, hi], [ritz[0], ritz[-1]], atol=2e-14)  # observed 1.8e-15
        assert EIGENVALUES[0] - 1e-12 <= lo and hi <= EIGENVALUES[-1] + 1e-12  # Cauchy interlacing
        errors.append(max(lo - EIGENVALUES[0], EIGENVALUES[-1] - hi))
    # the outliers converge fast (Kaniel-Paige): observed errors 1.2e-4 (m = 6), 1.6e-7 (m = 10)
    assert errors[0] < 1e-3 and errors[1] < 1e-6 and errors[0] > 100 * errors[1]


def _probe_vectors(key: jax.Array, num_probes: int, num_iter: int) -> list[np.ndarray]:
    """The start vectors spectral_density uses: one Lanczos run per key of split(key, num_probes)."""
    return [np.asarray(B.lanczos(matvec, k, DIM, num_iter).basis[0]) for k in jax.random.split(key, num_probes)]


def _smoothed(grid: np.ndarray, nodes: np.ndarray, weights: np.ndarray, width: float) -> np.ndarray:
    """sum_j w_j N(x; nodes_j, width^2) on the grid (G,)."""
    z = (grid[:, None] - nodes[None, :]) / width
    return np.exp(-0.5 * z**2) @ weights / (width * math.sqrt(2 * math.pi))


def test_spectral_density_full_lanczos_is_the_smoothed_dense_measure_of_its_probes():
    """m = dim: density = (1/P) sum_p sum_j (u_j^T v_p)^2 N(x; lambda_j, width^2) from a dense eigh,
    nodes = eigenvalues, weights = (u_j^T v_p)^2 per probe. Uniform weights 1/dim would differ by
    about sqrt(2/dim) = 30% of the density: checked below."""
    p, width = 3, 0.15
    grid = np.linspace(-3.0, 4.0, 701)
    sd = B.spectral_density(matvec, jax.random.key(21), DIM, DIM, grid, num_probes=p, width=width)
    np.testing.assert_array_equal(np.asarray(sd.grid), grid)
    assert sd.nodes.shape == (p, DIM) and sd.weights.shape == (p, DIM) and sd.density.shape == grid.shape
    dense = np.zeros_like(grid)
    for i, v in enumerate(_probe_vectors(jax.random.key(21), p, DIM)):
        lam, c = _dense_measure(v)
        np.testing.assert_allclose(np.asarray(sd.nodes[i]), lam, atol=4e-14)  # observed 4e-15
        np.testing.assert_allclose(np.asarray(sd.weights[i]), c, atol=1.2e-14)  # observed 1.2e-15
        dense += _smoothed(grid, lam, c, width) / p
    peak = dense.max()
    # rounding of sums of 72 Gaussians (observed 3.2e-15 of the peak)
    np.testing.assert_allclose(np.asarray(sd.density), dense, atol=3e-14 * peak)
    uniform = _smoothed(grid, EIGENVALUES, np.full(DIM, 1.0 / DIM), width)
    assert np.max(np.abs(uniform - dense)) > 0.05 * peak  # observed 0.42


def test_spectral_density_partial_lanczos_against_the_smoothed_dense_measure():
    """m < dim: per probe, nodes/weights are tridiagonal_eigh of that probe's Lanczos run, and the
    density is the Gauss rule of the smooth kernel N(x; ., width^2) against mu_v, whose error
    shrinks fast with m (observed max error / peak: m = 6: 6.9e-3, m = 10: 3.1e-7; uniform weights
    would give 0.43 and 0.42)."""
    width = 0.4
    grid = np.linspace(-3.5, 4.5, 321)
    errors = []
    for m in (6, 10):
        sd = B.spectral_density(matvec, jax.random.key(8), DIM, m, grid, num_probes=2, width=width)
        dense = np.zeros_like(grid)
        probes = _probe_vectors(jax.random.key(8), 2, m)
        for i, (k, v) in enumerate(zip(jax.random.split(jax.random.key(8), 2), probes)):
            theta, tau = B.tridiagonal_eigh(B.lanczos(matvec, k, DIM, m))
            np.testing.assert_array_equal(np.asarray(sd.nodes[i]), np.asarray(theta))
            np.testing.assert_array_equal(np.asarray(sd.weights[i]), np.asarray(tau))
            lam, c = _dense_measure(v)
            dense += _smoothed(grid, lam, c, width) / 2
        errors.append(np.max(np.abs(np.asarray(sd.density) - dense)) / dense.max())
    assert errors[0] < 0.02 and errors[1] < 3e-6, errors
    assert errors[0] > 1000 * errors[1]


def test_spectral_density_averages_to_the_smoothed_spectrum():
    """Over random unit probes E (u_j^T v)^2 = 1/dim, so the mean density tends to
    (1/dim) sum_j N(x; lambda_j, width^2); checked within 5 standard errors of the probe mean
    (the SE is measured from the per-probe densities, computed here from nodes and weights;
    observed max |mean - target| / SE = 1.8 over the grid, 12 with uniform weights). The 1e-6 of
    the peak allows for the Gauss-rule bias at m = 10 (observed 3e-7 above)."""
    p, width, m = 48, 0.4, 10
    grid = np.linspace(-3.5, 4.5, 81)
    sd = B.spectral_density(matvec, jax.random.key(31), DIM, m, grid, num_probes=p, width=width)
    per_probe = np.stack([_smoothed(grid, np.asarray(sd.nodes[i]), np.asarray(sd.weights[i]), width)
                          for i in range(p)])
    np.testing.assert_allclose(np.asarray(sd.density), per_probe.mean(0), atol=2e-15)  # observed 1.7e-16
    target = _smoothed(grid, EIGENVALUES, np.full(DIM, 1.0 / DIM), width)
    se = per_probe.std(0, ddof=1) / math.sqrt(p)
    assert np.all(np.abs(per_probe.mean(0) - target) < 5 * se + 1e-6 * target.max())
    # the grid ends 3.75 widths below the lowest eigenvalue: missing tail mass (observed 7.8e-6)
    np.testing.assert_allclose(np.trapezoid(np.asarray(sd.density), grid), 1.0, atol=5e-5)
