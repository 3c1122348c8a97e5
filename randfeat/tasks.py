"""Regression tasks in eigen-coordinates: kernel eigenvalues ``lambda_i``, target coefficients
``v_i`` (``f* = sum_i v_i phi_i``) and the label-noise variance ``sigma^2``.

Two constructors: the synthetic power-law task of Simon, Karkada, Ghosh & Belkin ("More is
better", Sec. 5), and a task measured from real data (the eigendecomposition of a kernel matrix
on a data set; :func:`digits_task` uses scikit-learn's bundled digits with the ReLU NNGP kernel).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from randfeat import _checks


class Task(NamedTuple):
    """A regression task in the eigenbasis of the limiting kernel.

    eigenvalues:  (M,) kernel eigenvalues ``lambda_i >= 0``, sorted in decreasing order.
    coefficients: (M,) target coefficients ``v_i`` (only ``v_i^2`` enters the theory).
    noise:        ()   label-noise variance ``sigma^2 >= 0`` (test error includes it).
    """

    eigenvalues: jax.Array
    coefficients: jax.Array
    noise: jax.Array


def make_task(eigenvalues, coefficients, noise=0.0) -> Task:
    """Validated :class:`Task` from eigenvalues (M,), coefficients (M,) and noise variance ()."""
    lam = _checks.concrete(eigenvalues)
    if lam is not None:
        if lam.ndim != 1 or lam.size < 1:
            raise ValueError(f"eigenvalues has shape {lam.shape}; allowed: a non-empty 1-d array")
        _checks.finite("eigenvalues", lam)
        _checks.at_least("eigenvalues", lam, 0.0)
        _checks.check("eigenvalues", lam, lam.max() > 0, "at least one eigenvalue > 0")
    v = _checks.concrete(coefficients)
    if v is not None:
        if lam is not None and v.shape != lam.shape:
            raise ValueError(f"coefficients has shape {v.shape}; allowed: the eigenvalues' shape {lam.shape}")
        _checks.finite("coefficients", v)
    _checks.at_least("noise", noise, 0.0)
    return Task(jnp.asarray(eigenvalues, dtype=float), jnp.asarray(coefficients, dtype=float),
                jnp.asarray(noise, dtype=float))


def power_law_task(n_modes: int, alpha: float, beta: float, noise: float = 0.0) -> Task:
    """Power-law task: ``lambda_i = i^-alpha``, ``v_i = i^(-beta/2)`` (so ``v_i^2 = i^-beta``), i = 1..M.

    "More is better", Sec. 5. ``alpha > 0``, ``beta > 0``; the closed forms in
    :mod:`randfeat.powerlaw` additionally need ``alpha > 1``. Shapes: (M,), (M,), ().
    """
    m = _checks.int_at_least("n_modes", n_modes, 1)
    _checks.positive("alpha", alpha)
    _checks.positive("beta", beta)
    _checks.at_least("noise", noise, 0.0)
    i = jnp.arange(1, m + 1, dtype=float)
    return Task(i ** (-float(alpha)), i ** (-0.5 * float(beta)), jnp.asarray(noise, dtype=float))


def relu_nngp_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
    """ReLU (arc-cosine order 1) NNGP kernel ``E_w[relu(w.x) relu(w.y)]``, ``w ~ N(0, I)``.

    ``|x||y| (sin t + (pi - t) cos t) / (2 pi)`` with ``t`` the angle between x and y
    (Cho & Saul 2009, arc-cosine kernel of order 1, halved). x: (a, d), y: (b, d) -> (a, b).

    With ``d = pi - t`` the bracket is ``J = sin d - d cos d``, whose two terms cancel to ``d^3 / 3``
    near ``t = pi``; ``d`` is computed as ``arccos(-cos t)`` (not ``pi - arccos(cos t)``) and ``J`` by
    its Taylor series ``sum_k (-1)^(k+1) 2k d^(2k+1) / (2k+1)!`` for ``d < 1/2``, so the relative
    error near ``t = pi`` is that of ``cos t`` itself, about ``eps / d^2``, instead of ``eps / d^4``.
    """
    nx = jnp.linalg.norm(x, axis=-1)[:, None]
    ny = jnp.linalg.norm(y, axis=-1)[None, :]
    denom = jnp.maximum(nx * ny, jnp.finfo(x.dtype).tiny)
    cos = jnp.clip((x @ y.T) / denom, -1.0, 1.0)
    d = jnp.arccos(-cos)
    ds = jnp.minimum(d, 0.5)
    series = sum((-1.0) ** (k + 1) * 2.0 * k / math.factorial(2 * k + 1) * ds ** (2 * k + 1) for k in range(1, 9))
    bracket = jnp.where(d < 0.5, series, jnp.sqrt(1.0 - cos**2) + d * cos)
    return nx * ny * bracket / (2.0 * jnp.pi)


def kernel_task(x, y, kernel: Callable[[jax.Array, jax.Array], jax.Array] = relu_nngp_kernel,
                noise: float = 0.0) -> Task:
    """Task measured from data: eigendecomposition of the empirical kernel operator.

    With N points, ``K/N = U diag(lambda) U^T`` gives the operator eigenvalues ``lambda_i`` and
    eigenfunctions ``phi_i(x_j) = sqrt(N) U_ji``; the target ``y_j = sum_i v_i phi_i(x_j)`` has
    ``v_i = U_i . y / sqrt(N)`` (so ``sum v_i^2 = mean y^2``). Eigenvalues sorted descending,
    tiny negative round-off clipped to 0. x: (N, d), y: (N,) -> Task with M = N modes.
    """
    xa, ya = _checks.concrete(x), _checks.concrete(y)
    if xa is not None and (xa.ndim != 2 or xa.shape[0] < 1):
        raise ValueError(f"x has shape {xa.shape}; allowed: (N, d) with N >= 1")
    if ya is not None and xa is not None and ya.shape != (xa.shape[0],):
        raise ValueError(f"y has shape {ya.shape}; allowed: ({xa.shape[0]},)")
    _checks.finite("x", x)
    _checks.finite("y", y)
    _checks.at_least("noise", noise, 0.0)
    x = jnp.asarray(x, dtype=float)
    y = jnp.asarray(y, dtype=float)
    n = x.shape[0]
    lam, u = jnp.linalg.eigh(kernel(x, x) / n)
    lam, u = lam[::-1], u[:, ::-1]
    return Task(jnp.maximum(lam, 0.0), (u.T @ y) / jnp.sqrt(float(n)), jnp.asarray(noise, dtype=float))


def digits_data(n_points: int = 1797) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (no download): inputs scaled to unit norm (N, 64) and the
    centred, unit-variance label ``digit - mean`` (N,); the first ``n_points`` of 1797."""
    from sklearn.datasets import load_digits

    n = _checks.int_at_least("n_points", n_points, 1)
    if n > 1797:
        raise ValueError(f"n_points = {n} is out of range; allowed: 1 <= n_points <= 1797")
    data = load_digits()
    x = data.data[:n].astype(float)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = data.target[:n].astype(float)
    y = (y - y.mean()) / y.std()
    return x, y


def digits_task(n_points: int = 1797, noise: float = 0.0) -> Task:
    """Real-data task: scikit-learn digits with the ReLU NNGP kernel (see :func:`kernel_task`)."""
    x, y = digits_data(n_points)
    return kernel_task(x, y, relu_nngp_kernel, noise)
