"""Power-law exponents of measured spectra, and exact features of a kernel on a finite data set.

"More is better" grounds its power-law theory in real data: the kernel eigenvalues of a
real task decay like ``lambda_i ~ i^-alpha`` and its target power like ``v_i^2 ~ i^-beta``
(docs/randfeat.md#measured-exponents). :func:`task_exponents` fits both exponents of a
:class:`~randfeat.tasks.Task` (for instance :func:`randfeat.tasks.kernel_task` on a data set) by
least squares in log-log coordinates over a window of modes. :func:`kernel_features` gives
features whose Gram matrix is the kernel matrix, so kernel ridge regression on the data set runs
through the ridge paths of :mod:`randfeat.ridge`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from randfeat import _checks
from randfeat.tasks import Task


class PowerLawFit(NamedTuple):
    """``values_i ~ prefactor * i^-exponent`` over the window, and the rms residual of ``log values``."""

    exponent: float
    prefactor: float
    rms: float


class TaskExponents(NamedTuple):
    """Fitted exponents of a task: ``lambda_i ~ i^-alpha`` and ``v_i^2 ~ i^-beta`` (from the tail sum)."""

    alpha: PowerLawFit
    beta: PowerLawFit


def _window(name: str, size: int, lo: int, hi: int) -> None:
    lo = _checks.int_at_least("lo", lo, 1)
    hi = _checks.int_at_least("hi", hi, lo + 2)
    if hi > size:
        raise ValueError(f"hi = {hi} is out of range; allowed: at most the length of {name}, {size}")


def power_law_fit(values, lo: int, hi: int) -> PowerLawFit:
    """Least-squares fit of ``log values_i = log C - p log i`` over modes ``i = lo..hi`` (1-based, inclusive).

    values: (M,) positive numbers. Returns :class:`PowerLawFit` with ``exponent = p``,
    ``prefactor = C`` and the rms residual of the fit in natural-log units.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values has shape {v.shape}; allowed: a 1-d array")
    _window("values", v.size, lo, hi)
    sel = v[lo - 1: hi]
    _checks.positive("values[lo - 1:hi]", sel)
    x = np.log(np.arange(lo, hi + 1, dtype=float))
    slope, intercept = np.polyfit(x, np.log(sel), 1)
    resid = np.log(sel) - (intercept + slope * x)
    return PowerLawFit(float(-slope), float(np.exp(intercept)), float(np.sqrt(np.mean(resid**2))))


def task_exponents(task: Task, lo: int, hi: int) -> TaskExponents:
    """Exponents ``alpha`` and ``beta`` of a task over modes ``lo..hi`` (docs/randfeat.md#measured-exponents).

    ``alpha``: :func:`power_law_fit` of the eigenvalues. ``beta``: the target power ``v_i^2`` is
    noisy mode by mode, so the fit is of its tail sum ``T_i = sum_{j >= i} v_j^2 ~ i^(1 - beta) /
    (beta - 1)``: ``beta = 1 + exponent of T``. The modes must be sorted by decreasing eigenvalue
    (as :func:`randfeat.tasks.kernel_task` returns them). The returned ``beta.prefactor`` is that of T.
    """
    lam = np.asarray(task.eigenvalues, dtype=float)
    v2 = np.asarray(task.coefficients, dtype=float) ** 2
    _window("the task's modes", lam.size, lo, hi)
    tail = np.cumsum(v2[::-1])[::-1]
    a = power_law_fit(lam, lo, hi)
    t = power_law_fit(tail, lo, hi)
    return TaskExponents(a, PowerLawFit(1.0 + t.exponent, t.prefactor, t.rms))


def kernel_features(x, kernel: Callable[[jax.Array, jax.Array], jax.Array]) -> jax.Array:
    """Features ``F`` (N, N) of N points with ``F F^T = K``, ``K_jl = kernel(x_j, x_l)`` (eigenvalues clipped at 0).

    ``K = U diag(w) U^T`` gives ``F = U diag(sqrt(max(w, 0)))``; in the eigen-coordinates of
    :func:`randfeat.tasks.kernel_task` this is ``F_ji = sqrt(N lambda_i) U_ji``, the features of the
    population task. Ridge regression on rows of F is kernel ridge regression with ``K``
    (docs/randfeat.md#conventions, ridge not scaled by n). x: (N, d) -> (N, N).
    """
    xa = _checks.concrete(x)
    if xa is not None and (xa.ndim != 2 or xa.shape[0] < 1):
        raise ValueError(f"x has shape {xa.shape}; allowed: (N, d) with N >= 1")
    _checks.finite("x", x)
    x = jnp.asarray(x, dtype=float)
    w, u = jnp.linalg.eigh(kernel(x, x))
    return u * jnp.sqrt(jnp.maximum(w, 0.0))
