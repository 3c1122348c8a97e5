"""Initialisations: small random (scale alpha), spectral, and rank masks for zero-padding."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from sensing import _validate
from sensing.operators import Factors, adjoint_matrix
from sensing.problem import Problem, is_symmetric, shape

Array = jax.Array


def small_init(
    key: Array, problem: Problem, k: int, scale: Any, right_scale: Any = None
) -> Factors:
    """Small random initialisation ``X0 = alpha B`` (docs/sensing.md#small-init).

    ``B`` has iid ``N(0, 1/n)`` entries, so its columns have norm about 1 and ``X0`` columns norm
    about ``alpha = scale``. Symmetric problems return ``X0`` ``(n, k)``; asymmetric ones return
    ``(F0, G0)`` of shapes ``(n1, k), (n2, k)`` with ``F0`` at ``scale`` and ``G0`` at ``right_scale``
    (default ``scale / 3``, following Xiong, Ding & Du). ``scale`` may be a traced array.
    """
    k = _validate.integer("k", k, low=1)
    _validate.real("scale", scale, low=0.0)
    if right_scale is not None:
        _validate.real("right_scale", right_scale, low=0.0)
    return _small_init(key, problem, scale, right_scale, k)


@functools.partial(jax.jit, static_argnums=(4,))
def _small_init(key: Array, problem: Problem, scale: Any, right_scale: Any, k: int) -> Factors:
    n1, n2 = shape(problem)
    dtype = problem.y.dtype
    alpha = jnp.asarray(scale, dtype)
    kf, kg = jax.random.split(key)
    f = alpha * jax.random.normal(kf, (n1, k), dtype) / jnp.sqrt(jnp.asarray(n1, dtype))
    if is_symmetric(problem):
        return f
    beta = alpha / 3.0 if right_scale is None else jnp.asarray(right_scale, dtype)
    g = beta * jax.random.normal(kg, (n2, k), dtype) / jnp.sqrt(jnp.asarray(n2, dtype))
    return f, g


def spectral_init(problem: Problem, k: int) -> Factors:
    """Spectral initialisation from ``A^*(y) = (1/m) sum_i y_i A_i``.

    Symmetric: ``X0 = V_k diag(max(lambda_k, 0))^{1/2}`` from the top-``k`` eigenpairs of
    ``sym(A^*(y))``, shape ``(n, k)``. Asymmetric: ``F0 = U_k S_k^{1/2}``, ``G0 = V_k S_k^{1/2}`` from
    its top-``k`` singular triplets.
    """
    n1, n2 = shape(problem)
    k = _validate.integer("k", k, low=1, high=min(n1, n2))
    return _spectral_init(problem, k)


@functools.partial(jax.jit, static_argnums=(1,))
def _spectral_init(problem: Problem, k: int) -> Factors:
    n1, n2 = shape(problem)
    symmetric = is_symmetric(problem)
    z = adjoint_matrix(problem.operator, problem.y, (n1, n2), symmetric)
    if symmetric:
        lam, v = jnp.linalg.eigh(z)
        lam, v = lam[::-1][:k], v[:, ::-1][:, :k]
        return v * jnp.sqrt(jnp.maximum(lam, 0.0))
    u, s, vt = jnp.linalg.svd(z, full_matrices=False)
    root = jnp.sqrt(s[:k])
    return u[:, :k] * root, vt[:k].T * root


def rank_mask(k_max: int, k: Any) -> Array:
    """``(k_max,)`` mask with ones in the first ``k`` entries and zeros after.

    ``x0 * mask`` zero-pads a rank-``k`` factor to ``k_max`` columns; zero columns stay exactly zero
    under GD, SubGM and PrecGD, so the padded run equals the rank-``k`` run. ``k`` may be traced (any integer or float dtype).
    The mask is weakly typed, so it takes the dtype of the factor it multiplies.

    A concrete ``k`` (Python/NumPy number or concrete array) must satisfy ``1 <= k <= k_max``
    (``ValueError`` otherwise). A traced ``k`` (a swept axis inside ``jit``/``vmap``) cannot be
    checked: ``k > k_max`` then silently gives the all-ones mask (rank ``k_max``) and ``k < 1``
    the zero mask. Validate the grid's values before compiling (``make_grid`` and the study's
    per-axis checks see them concrete).
    """
    k_max = _validate.integer("k_max", k_max, low=1)
    _validate.real("k", k, low=1.0, high=float(k_max))
    kk = jnp.asarray(k)
    return jnp.where(jnp.arange(k_max).astype(kk.dtype) < kk, 1.0, 0.0)


def apply_mask(x: Factors, mask: Array) -> Factors:
    """Multiply every factor (``X`` or both ``F`` and ``G``) column-wise by ``mask`` ``(k,)``."""
    return jax.tree.map(lambda a: a * mask, x)
