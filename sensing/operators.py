"""Linear measurement operators ``A: R^{n1 x n2} -> R^m`` for matrix sensing.

Every operator is a NamedTuple pytree of arrays, so problems can be passed through ``jit`` and
``vmap``. Three functions act on any operator (docs/sensing.md#operators):

* ``measure(op, x)``: the noiseless measurements ``<A_i, X X^T>`` (symmetric, ``x = X`` of shape
  ``(n, k)``) or ``<A_i, F G^T>`` (asymmetric, ``x = (F, G)`` of shapes ``(n1, k), (n2, k)``), shape
  ``(m,)``.
* ``adjoint_apply(op, r, x)``: with ``Z = (1/m) sum_i r_i A_i``, returns ``sym(Z) X`` with
  ``sym(Z) = (Z + Z^T)/2`` (symmetric) or the pair ``(Z G, Z^T F)`` (asymmetric). With ``r`` the
  residual this is the gradient of the loss ``(1/4m) sum r_i^2`` (symmetric) or
  ``(1/2m) sum r_i^2`` (asymmetric).
* ``adjoint_matrix(op, r, shape, symmetric)``: the matrix ``Z`` itself (``sym(Z)`` when symmetric),
  shape ``(n1, n2)``.

All operators are normalised so that ``E[(1/m) sum_i <A_i, E> A_i] = E`` (symmetrised when the
problem is symmetric): one step size means the same thing for every operator, and the
population limit of GD is ``X <- X - eta (X X^T - M*) X``.

Operators
---------
``PackedGaussian``  symmetric dense Gaussian ``A_i = (G_i + G_i^T)/2``, ``G_i`` iid ``N(0, 1)``.
    Only the upper triangle is stored, with the off-diagonal weight 2 folded in:
    row ``i`` holds ``[A_i[j, j]]`` on the diagonal positions and ``[2 A_i[j, l]]`` (j < l) off it,
    so ``<A_i, S> = packed_i . triu(S)`` for symmetric ``S``: one GEMV over ``n(n+1)/2`` entries
    (one GEMM when configurations are vmapped over a shared operator).
``DenseGaussian``   asymmetric dense Gaussian, ``A_i`` iid ``N(0, 1)`` entries, stored ``(m, n1*n2)``
    row-major.
``RankOne``         ``A_i = a_i b_i^T`` with ``a_i, b_i`` iid ``N(0, I)`` (also for the symmetric
    problem, where ``sym(Z)`` is used; independent ``a_i, b_i`` keep ``E[A^*A] = I``). Never forms an
    ``n x n`` matrix in ``measure``/``adjoint_apply``: ``<a b^T, F G^T> = (a^T F)(G^T b)``, cost
    ``O(m n k)``.
``Completion``      ``A_i = sqrt(n1 n2) e_{j_i} e_{l_i}^T`` for ``m`` distinct sampled entries, i.e.
    ``Z = P_Omega(R) / p`` with ``p = m / (n1 n2)``. With all entries observed it is the
    population (identity) operator.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Union

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Factors = Union[Array, tuple[Array, Array]]


class PackedGaussian(NamedTuple):
    """Symmetric dense Gaussian operator in packed upper-triangle form.

    ``packed``: ``(m, n(n+1)/2)``; column order is ``numpy.triu_indices(n)``; off-diagonal columns
    carry the factor 2 of ``<A, S> = sum_j A_jj S_jj + 2 sum_{j<l} A_jl S_jl``.
    """

    packed: Array


class DenseGaussian(NamedTuple):
    """Asymmetric dense Gaussian operator: ``matrix`` ``(m, n1*n2)``, row ``i`` is ``vec(A_i)`` (row-major)."""

    matrix: Array


class RankOne(NamedTuple):
    """Rank-one operator ``A_i = a_i b_i^T``: ``left`` ``(m, n1)`` rows ``a_i``, ``right`` ``(m, n2)`` rows ``b_i``."""

    left: Array
    right: Array


class Completion(NamedTuple):
    """Entry sampling: ``rows``, ``cols`` ``(m,)`` integer indices, ``scale`` ``()`` equal to ``sqrt(n1 n2)``."""

    rows: Array
    cols: Array
    scale: Array


Operator = Union[PackedGaussian, DenseGaussian, RankOne, Completion]


@functools.lru_cache(maxsize=64)
def _triu(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Static index tables for the packed layout of an ``n x n`` symmetric matrix.

    Returns ``(iu, ju, full_index, unpack_weight)``: the upper-triangle indices ``(L,)``, the packed
    position of entry ``(j, l)`` as an ``(n, n)`` table, and the ``(n, n)`` weight ``1`` on the
    diagonal and ``1/2`` off it (which undoes the folded factor 2).
    """
    iu, ju = np.triu_indices(n)
    full = np.zeros((n, n), dtype=np.int32)
    full[iu, ju] = np.arange(iu.size, dtype=np.int32)
    full[ju, iu] = np.arange(iu.size, dtype=np.int32)
    weight = np.full((n, n), 0.5)
    np.fill_diagonal(weight, 1.0)
    return iu, ju, full, weight


def packed_dim(n: int) -> int:
    """Number of packed entries ``n(n+1)/2`` of an ``n x n`` symmetric matrix."""
    return n * (n + 1) // 2


def side_from_packed(length: int) -> int:
    """Invert ``L = n(n+1)/2``; raises ``ValueError`` when ``L`` is not triangular."""
    n = int(round((np.sqrt(8 * length + 1) - 1) / 2))
    if packed_dim(n) != length:
        raise ValueError(f"packed length {length} is not n(n+1)/2 for any integer n >= 1")
    return n


def pack(s: Array) -> Array:
    """Upper triangle of a symmetric ``(n, n)`` matrix as ``(n(n+1)/2,)`` in ``triu_indices`` order."""
    iu, ju, _, _ = _triu(s.shape[-1])
    return s[iu, ju]


def packed_weights(n: int) -> np.ndarray:
    """``(n(n+1)/2,)`` weights ``1`` (diagonal) / ``2`` (off-diagonal): ``<A, S> = sum w * pack(A) * pack(S)``."""
    iu, ju, _, _ = _triu(n)
    return np.where(iu == ju, 1.0, 2.0)


def unpack_adjoint(z: Array, n: int) -> Array:
    """Symmetric ``(n, n)`` matrix ``sum_i r_i A_i`` from ``z = packed^T r`` (weights folded in)."""
    _, _, full, weight = _triu(n)
    return z[full] * jnp.asarray(weight, dtype=z.dtype)


def num_measurements(op: Operator) -> int:
    """Number of measurements ``m`` (a static Python int)."""
    if isinstance(op, PackedGaussian):
        return op.packed.shape[0]
    if isinstance(op, DenseGaussian):
        return op.matrix.shape[0]
    if isinstance(op, RankOne):
        return op.left.shape[0]
    if isinstance(op, Completion):
        return op.rows.shape[0]
    raise TypeError(f"unknown operator type {type(op).__name__}")


def measure(op: Operator, x: Factors) -> Array:
    """Noiseless measurements ``<A_i, X X^T>`` (``x = X``) or ``<A_i, F G^T>`` (``x = (F, G)``), shape ``(m,)``.

    Dense operators form ``X X^T`` (packed) or ``F G^T`` once and apply one matrix-vector product,
    which becomes a single GEMM when configurations sharing the operator are vmapped.
    """
    symmetric = not isinstance(x, tuple)
    if isinstance(op, PackedGaussian):
        if not symmetric:
            raise TypeError("PackedGaussian is a symmetric operator; pass X, not (F, G)")
        return op.packed @ pack(x @ x.T)
    if isinstance(op, DenseGaussian):
        f, g = (x, x) if symmetric else x
        return op.matrix @ (f @ g.T).reshape(-1)
    if isinstance(op, RankOne):
        f, g = (x, x) if symmetric else x
        return jnp.sum((op.left @ f) * (op.right @ g), axis=-1)
    if isinstance(op, Completion):
        f, g = (x, x) if symmetric else x
        return op.scale.astype(f.dtype) * jnp.sum(f[op.rows] * g[op.cols], axis=-1)
    raise TypeError(f"unknown operator type {type(op).__name__}")


def adjoint_apply(op: Operator, r: Array, x: Factors) -> Factors:
    """Apply ``Z = (1/m) sum_i r_i A_i`` to the factors without forming ``Z`` where avoidable.

    Symmetric ``x = X`` ``(n, k)``: returns ``sym(Z) X`` ``(n, k)``.
    Asymmetric ``x = (F, G)``: returns ``(Z G, Z^T F)`` of shapes ``(n1, k), (n2, k)``.
    """
    m = num_measurements(op)
    symmetric = not isinstance(x, tuple)
    f, g = (x, x) if symmetric else x
    if isinstance(op, PackedGaussian):
        if not symmetric:
            raise TypeError("PackedGaussian is a symmetric operator; pass X, not (F, G)")
        z = unpack_adjoint(op.packed.T @ r, f.shape[0]) / m
        return z @ f
    if isinstance(op, DenseGaussian):
        z = (op.matrix.T @ r).reshape(f.shape[0], g.shape[0]) / m
        zg, ztf = z @ g, z.T @ f
    elif isinstance(op, RankOne):
        zg = op.left.T @ (r[:, None] * (op.right @ g)) / m
        ztf = op.right.T @ (r[:, None] * (op.left @ f)) / m
    elif isinstance(op, Completion):
        w = (op.scale.astype(r.dtype) / m) * r
        zg = jax.ops.segment_sum(w[:, None] * g[op.cols], op.rows, num_segments=f.shape[0])
        ztf = jax.ops.segment_sum(w[:, None] * f[op.rows], op.cols, num_segments=g.shape[0])
    else:
        raise TypeError(f"unknown operator type {type(op).__name__}")
    if symmetric:
        return (zg + ztf) / 2
    return zg, ztf


def adjoint_matrix(op: Operator, r: Array, shape: tuple[int, int], symmetric: bool) -> Array:
    """The matrix ``Z = (1/m) sum_i r_i A_i`` of shape ``shape = (n1, n2)``; ``sym(Z)`` when ``symmetric``.

    Forms an ``n1 x n2`` matrix (also for ``RankOne``: ``A^T diag(r) B / m``); used by spectral
    initialisation and by normalised SubGM.
    """
    m = num_measurements(op)
    n1, n2 = shape
    if isinstance(op, PackedGaussian):
        return unpack_adjoint(op.packed.T @ r, n1) / m
    if isinstance(op, DenseGaussian):
        z = (op.matrix.T @ r).reshape(n1, n2) / m
    elif isinstance(op, RankOne):
        z = op.left.T @ (r[:, None] * op.right) / m
    elif isinstance(op, Completion):
        w = (op.scale.astype(r.dtype) / m) * r
        z = jnp.zeros((n1, n2), r.dtype).at[op.rows, op.cols].add(w)
    else:
        raise TypeError(f"unknown operator type {type(op).__name__}")
    return (z + z.T) / 2 if symmetric else z


def dense_matrices(op: Operator, shape: tuple[int, int]) -> Array:
    """All sensing matrices ``A_i`` as an ``(m, n1, n2)`` array (reference and tests only; memory ``m n1 n2``)."""
    n1, n2 = shape
    if isinstance(op, PackedGaussian):
        _, _, full, weight = _triu(n1)
        return op.packed[:, full] * jnp.asarray(weight, op.packed.dtype)
    if isinstance(op, DenseGaussian):
        return op.matrix.reshape(-1, n1, n2)
    if isinstance(op, RankOne):
        return op.left[:, :, None] * op.right[:, None, :]
    if isinstance(op, Completion):
        m = op.rows.shape[0]
        a = jnp.zeros((m, n1, n2), op.scale.dtype)
        return a.at[jnp.arange(m), op.rows, op.cols].set(op.scale)
    raise TypeError(f"unknown operator type {type(op).__name__}")
