"""Hessian spectra of small models (Sagun et al.): HVPs, Lanczos, extreme eigenvalues, density.

* ``hvp``: ``H v = d/dt grad f(theta + t v)``, i.e. ``jvp`` of ``grad`` (forward-over-reverse).
* :func:`lanczos`: m steps with full reorthogonalisation (two Gram-Schmidt passes against all
  previous vectors). On breakdown (an invariant subspace, ``beta_j ~ 0``) it restarts with a random
  vector orthogonal to the basis and records ``beta_j = 0``; with m = dim the tridiagonal matrix
  then has exactly the eigenvalues of H, multiplicities included.
* :func:`spectral_density`: stochastic Lanczos quadrature -- for each random unit probe v, the
  Ritz values ``theta_i`` with weights ``tau_i = (e_1^T s_i)^2`` are the Gauss quadrature of the
  spectral measure ``v^T delta(H - x) v``; averaging over probes and smoothing with a Gaussian of
  width ``width`` estimates ``(1/d) sum_i delta(x - lambda_i)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from bounds import _validate

Array = jax.Array
PyTree = Any


def hvp(f: Callable[[PyTree], Array], params: PyTree, v: PyTree) -> PyTree:
    """Hessian-vector product ``H(params) v`` of a scalar function f, by ``jvp`` of ``grad``."""
    return jax.jvp(jax.grad(f), (params,), (v,))[1]


def flat_hvp(f: Callable[[PyTree], Array], params: PyTree) -> tuple[Callable[[Array], Array], int]:
    """``(matvec, dim)``: the HVP acting on flat vectors of size dim = number of parameters."""
    flat, unravel = ravel_pytree(params)

    def matvec(v: Array) -> Array:
        return ravel_pytree(hvp(f, params, unravel(v)))[0]

    return matvec, flat.shape[0]


def hessian_matrix(f: Callable[[PyTree], Array], params: PyTree) -> Array:
    """Dense Hessian (dim, dim) assembled from HVPs with the identity's columns."""
    matvec, dim = flat_hvp(f, params)
    flat, _ = ravel_pytree(params)
    return jax.vmap(matvec)(jnp.eye(dim, dtype=flat.dtype))


class LanczosResult(NamedTuple):
    """Tridiagonal ``T = tridiag(betas, alphas, betas)`` and the orthonormal basis (m, dim)."""

    alphas: Array
    betas: Array
    basis: Array


def lanczos(matvec: Callable[[Array], Array], key: Array, dim: int, num_iter: int, dtype=None) -> LanczosResult:
    """Lanczos tridiagonalisation of a symmetric operator with full reorthogonalisation.

    Starts from a random unit vector drawn with ``key``; ``1 <= num_iter <= dim``. Returns
    alphas (m,), betas (m - 1,) and the basis V (m, dim) with ``V H V^T = T``. The program is
    compiled per ``matvec`` object (a static argument): reuse the same ``matvec`` (e.g. from one
    :func:`flat_hvp` call) across keys to compile once. Memory O(m dim).
    """
    dim = _validate.positive_int("dim", dim)
    m = _validate.positive_int("num_iter", num_iter)
    if m > dim:
        raise ValueError(f"num_iter must lie in [1, dim = {dim}], got {m}")
    dtype = dtype or jnp.result_type(float)
    return _lanczos(matvec, key, dim, m, dtype)


@functools.partial(jax.jit, static_argnums=(0, 2, 3, 4))
def _lanczos(matvec, key, dim, m, dtype):
    def random_unit(k, basis):
        w = jax.random.normal(k, (dim,), dtype)
        for _ in range(2):
            w = w - basis.T @ (basis @ w)
        return w / jnp.linalg.norm(w)

    basis0 = jnp.zeros((m, dim), dtype)
    v0 = random_unit(jax.random.fold_in(key, m), basis0)
    basis0 = basis0.at[0].set(v0)

    def body(carry, j):
        basis, beta_prev = carry
        v = basis[j]
        w = matvec(v)
        alpha = jnp.dot(w, v)
        scale = jnp.linalg.norm(w)
        for _ in range(2):
            w = w - basis.T @ (basis @ w)
        beta = jnp.linalg.norm(w)
        broke = beta <= 1e-10 * jnp.maximum(scale, jnp.abs(alpha) + beta_prev) + 1e-300
        fresh = random_unit(jax.random.fold_in(key, j), basis)
        nxt = jnp.where(broke, fresh, w / jnp.where(broke, 1.0, beta))
        beta = jnp.where(broke, 0.0, beta)
        basis = jnp.where(j + 1 < m, basis.at[jnp.minimum(j + 1, m - 1)].set(nxt), basis)
        return (basis, beta), (alpha, beta)

    (basis, _), (alphas, betas) = jax.lax.scan(body, (basis0, jnp.asarray(0.0, dtype)), jnp.arange(m))
    return LanczosResult(alphas, betas[:-1], basis)


def tridiagonal_eigh(result: LanczosResult) -> tuple[Array, Array]:
    """Ritz values (m,) ascending and the quadrature weights ``(e_1^T s_i)^2`` (m,)."""
    t = jnp.diag(result.alphas) + jnp.diag(result.betas, 1) + jnp.diag(result.betas, -1)
    vals, vecs = jnp.linalg.eigh(t)
    return vals, vecs[0] ** 2


def extreme_eigenvalues(matvec: Callable[[Array], Array], key: Array, dim: int, num_iter: int) -> tuple[Array, Array]:
    """Smallest and largest Ritz values after ``num_iter`` Lanczos steps (exact when m = dim)."""
    vals, _ = tridiagonal_eigh(lanczos(matvec, key, dim, num_iter))
    return vals[0], vals[-1]


class SpectralDensity(NamedTuple):
    """Smoothed spectral density on ``grid`` plus the raw quadrature (nodes, weights) per probe."""

    grid: Array
    density: Array
    nodes: Array
    weights: Array


def spectral_density(
    matvec: Callable[[Array], Array], key: Array, dim: int, num_iter: int, grid, *, num_probes: int = 4,
    width: float = 1e-2,
) -> SpectralDensity:
    """Stochastic Lanczos quadrature estimate of the Hessian's spectral density (module docstring).

    Returns the density on ``grid`` (G,) (integrates to 1 when the grid covers the spectrum),
    and the nodes/weights (num_probes, num_iter) whose weights sum to 1 per probe.
    """
    _validate.positive_int("num_probes", num_probes)
    _validate.positive("width", width)
    g = jnp.asarray(grid, jnp.result_type(float))
    keys = jax.random.split(key, num_probes)
    nodes, weights = [], []
    for k in keys:
        v, w = tridiagonal_eigh(lanczos(matvec, k, dim, num_iter))
        nodes.append(v)
        weights.append(w)
    nodes_a, weights_a = jnp.stack(nodes), jnp.stack(weights)
    kern = jnp.exp(-0.5 * ((g[:, None, None] - nodes_a[None]) / width) ** 2) / (width * jnp.sqrt(2 * jnp.pi))
    density = jnp.sum(kern * weights_a[None], axis=(1, 2)) / num_probes
    return SpectralDensity(g, density, nodes_a, weights_a)
