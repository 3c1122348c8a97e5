"""Ground truth, noise models and the sensing problem ``y = A(M*) + s`` (docs/sensing.md#measurements)."""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from sensing import _validate
from sensing.operators import (
    Completion,
    DenseGaussian,
    Operator,
    PackedGaussian,
    RankOne,
    measure,
    packed_dim,
    packed_weights,
)

Array = jax.Array
OPERATORS = ("gaussian", "rank_one", "completion", "population")


class SymmetricTruth(NamedTuple):
    """``M* = U* U*^T``: ``factor`` ``U*`` ``(n, r)``, ``matrix`` ``M*`` ``(n, n)``; ``left``/``right`` alias ``factor``."""

    factor: Array
    matrix: Array

    @property
    def left(self) -> Array:
        return self.factor

    @property
    def right(self) -> Array:
        return self.factor


class Truth(NamedTuple):
    """``M* = L* R*^T``: ``left`` ``(n1, r)``, ``right`` ``(n2, r)``, ``matrix`` ``(n1, n2)``."""

    left: Array
    right: Array
    matrix: Array


class GaussianNoise(NamedTuple):
    """Additive noise ``s_i ~ N(0, nu^2)``."""

    nu: Any


class Outliers(NamedTuple):
    """Outliers: with probability ``p``, ``s_i = magnitude * U(-1, 1)``, else ``s_i = 0``.

    ``magnitude=None`` means ``10 * max_i |<A_i, M*>|`` (docs/sensing.md#noise).
    """

    p: Any
    magnitude: Any = None


Noise = Optional[Union[GaussianNoise, Outliers]]


class Problem(NamedTuple):
    """A sensing problem: ``operator``, measurements ``y`` ``(m,)`` and the ``truth``."""

    operator: Operator
    y: Array
    truth: Union[SymmetricTruth, Truth]


def gaussian_noise(nu: Any) -> GaussianNoise:
    """Gaussian noise model ``s_i ~ N(0, nu^2)``, ``nu >= 0`` (may be a traced array)."""
    _validate.real("nu", nu, low=0.0)
    return GaussianNoise(nu)


def outliers(p: Any, magnitude: Any = None) -> Outliers:
    """Outlier model: a fraction ``p`` in ``[0, 1)`` of measurements replaced by ``magnitude * U(-1, 1)`` noise."""
    _validate.real("p", p, low=0.0, high=1.0, high_open=True)
    if magnitude is not None:
        _validate.real("magnitude", magnitude, low=0.0)
    return Outliers(p, magnitude)


def is_symmetric(problem: Problem) -> bool:
    """Whether the problem is the symmetric one ``M* = U* U*^T`` (a static property of the pytree)."""
    return isinstance(problem.truth, SymmetricTruth)


def shape(problem: Problem) -> tuple[int, int]:
    """``(n1, n2)`` of the unknown matrix (static)."""
    return problem.truth.matrix.shape  # type: ignore[return-value]


def geometric_spectrum(rank: int, cond: Any, dtype: Any) -> Array:
    """Singular values ``sigma_j = cond^(-j/(rank-1))``, j = 0..rank-1: spread geometrically from 1 to ``1/cond``."""
    if rank == 1:
        return jnp.ones((1,), dtype)
    j = jnp.arange(rank, dtype=dtype) / (rank - 1)
    return jnp.power(jnp.asarray(cond, dtype), -j)


def _orthonormal(key: Array, n: int, r: int, dtype: Any) -> Array:
    q, _ = jnp.linalg.qr(jax.random.normal(key, (n, r), dtype))
    return q


def make_truth(key: Array, n: int, rank: int, symmetric: bool, cond: Any, n2: int, dtype: Any):
    """Random truth with orthonormal singular vectors and a geometric spectrum of condition number ``cond``."""
    s = geometric_spectrum(rank, cond, dtype)
    ku, kv = jax.random.split(key)
    u = _orthonormal(ku, n, rank, dtype) * jnp.sqrt(s)
    if symmetric:
        return SymmetricTruth(u, u @ u.T)
    v = _orthonormal(kv, n2, rank, dtype) * jnp.sqrt(s)
    return Truth(u, v, u @ v.T)


def make_operator(key: Array, kind: str, n1: int, n2: int, m: int, symmetric: bool, dtype: Any) -> Operator:
    """Sample a measurement operator of the given ``kind`` (see ``sensing.operators``)."""
    if kind == "gaussian":
        if symmetric:
            w = np.sqrt(packed_weights(n1))  # diagonal N(0,1), folded off-diagonal 2*A_jl ~ N(0,2)
            g = jax.random.normal(key, (m, packed_dim(n1)), dtype)
            return PackedGaussian(g * jnp.asarray(w, dtype))
        return DenseGaussian(jax.random.normal(key, (m, n1 * n2), dtype))
    if kind == "rank_one":
        ka, kb = jax.random.split(key)
        return RankOne(jax.random.normal(ka, (m, n1), dtype), jax.random.normal(kb, (m, n2), dtype))
    if kind in ("completion", "population"):
        if kind == "population":
            idx = jnp.arange(n1 * n2)
        else:
            idx = jnp.sort(jax.random.choice(key, n1 * n2, (m,), replace=False))
        return Completion(idx // n2, idx % n2, jnp.asarray(math.sqrt(n1 * n2), dtype))
    raise ValueError(f"operator={kind!r} is not supported; allowed values are {OPERATORS}")


def sample_noise(key: Array, noise: Noise, y_clean: Array) -> Array:
    """Noise vector ``s`` ``(m,)`` for the model ``noise`` (``None``: zeros)."""
    dtype = y_clean.dtype
    if noise is None:
        return jnp.zeros_like(y_clean)
    if isinstance(noise, GaussianNoise):
        return jnp.asarray(noise.nu, dtype) * jax.random.normal(key, y_clean.shape, dtype)
    if isinstance(noise, Outliers):
        kb, ku = jax.random.split(key)
        hit = jax.random.uniform(kb, y_clean.shape, dtype) < jnp.asarray(noise.p, dtype)
        mag = 10.0 * jnp.max(jnp.abs(y_clean)) if noise.magnitude is None else jnp.asarray(noise.magnitude, dtype)
        u = jax.random.uniform(ku, y_clean.shape, dtype, minval=-1.0, maxval=1.0)
        return jnp.where(hit, mag * u, jnp.zeros_like(u))
    raise ValueError(f"noise={noise!r} is not supported; allowed: None, gaussian_noise(nu), outliers(p, magnitude)")


def make_problem(
    key: Array,
    n: int,
    rank: int,
    m: Optional[int] = None,
    operator: str = "gaussian",
    symmetric: bool = True,
    cond: Any = 1.0,
    noise: Noise = None,
    n2: Optional[int] = None,
    dtype: Any = None,
) -> Problem:
    """Sample a sensing problem ``y_i = <A_i, M*> + s_i``, i = 1..m (docs/sensing.md#measurements).

    Args:
      key: PRNG key (may be traced: problems can be built inside ``vmap``).
      n: rows ``n1`` of ``M*`` (and columns when symmetric).
      rank: ``r``, in ``[1, min(n1, n2)]``.
      m: number of measurements; for ``operator="population"`` it is ``n1 * n2`` (pass ``None``).
      operator: ``"gaussian"`` (symmetric: packed symmetrised Gaussian), ``"rank_one"``,
        ``"completion"`` (``m`` distinct entries, ``m <= n1 n2``), or ``"population"`` (every
        entry observed: the identity operator, ``Z = X X^T - M*``).
      symmetric: ``M* = U* U*^T`` (PSD) when true, else ``M* = L* R*^T`` of shape ``(n, n2)``.
      cond: condition number ``kappa >= 1`` of ``M*`` (singular values geometric from 1 to 1/kappa).
      noise: ``None``, ``gaussian_noise(nu)`` or ``outliers(p, magnitude)``.
      n2: columns of ``M*`` for the asymmetric problem (default ``n``).
      dtype: floating dtype of all arrays (default float64 when x64 is enabled, else float32).

    Returns:
      ``Problem(operator, y (m,), truth)``.
    """
    n = _validate.integer("n", n, low=1)
    if not isinstance(symmetric, bool):
        raise ValueError(f"symmetric={symmetric!r} must be a Python bool (True or False)")
    if symmetric and n2 is not None and n2 != n:
        raise ValueError(f"n2={n2!r} must be None or equal to n={n} for a symmetric problem")
    ncols = n if n2 is None else _validate.integer("n2", n2, low=1)
    rank = _validate.integer("rank", rank, low=1, high=min(n, ncols))
    _validate.choice("operator", operator, OPERATORS)
    if operator == "population":
        if m is not None and m != n * ncols:
            raise ValueError(f"m={m!r} must be None or n1*n2={n * ncols} for operator='population'")
        m = n * ncols
    elif operator == "completion":
        m = _validate.integer("m", m, low=1, high=n * ncols)
    else:
        m = _validate.integer("m", m, low=1)
    _validate.real("cond", cond, low=1.0)
    if noise is not None and not isinstance(noise, (GaussianNoise, Outliers)):
        raise ValueError(f"noise={noise!r} is not supported; allowed: None, gaussian_noise(nu), outliers(p, magnitude)")
    if isinstance(noise, GaussianNoise):
        _validate.real("nu", noise.nu, low=0.0)
    if isinstance(noise, Outliers):
        _validate.real("p", noise.p, low=0.0, high=1.0, high_open=True)
    dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype={dtype!r} must be a floating dtype (float32 or float64)")

    return _sample_problem(key, cond, noise, n, ncols, rank, m, operator, symmetric, dtype)


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6, 7, 8, 9))
def _sample_problem(
    key: Array, cond: Any, noise: Noise, n: int, ncols: int, rank: int, m: int, operator: str,
    symmetric: bool, dtype: Any,
) -> Problem:
    """The sampling part of ``make_problem`` as one compiled program (shapes static)."""
    k_truth, k_op, k_noise = jax.random.split(key, 3)
    truth = make_truth(k_truth, n, rank, symmetric, cond, ncols, dtype)
    op = make_operator(k_op, operator, n, ncols, m, symmetric, dtype)
    x_true = truth.factor if symmetric else (truth.left, truth.right)
    y_clean = measure(op, x_true)
    y = y_clean + sample_noise(k_noise, noise, y_clean)
    return Problem(op, y, truth)
