"""Random feature maps and their limiting kernels in closed form.

Every feature map returns features normalised by ``1/sqrt(k)`` (k = number of features), so the
feature kernel ``phi(x) . phi(y)`` is an average of k i.i.d. terms and converges to the limiting
kernel at rate ``1/sqrt(k)`` (central limit theorem).

* linear Gaussian RF of a task ("More is better" construction): ``phi(x) = G Lambda^{1/2} x / sqrt(k)``,
  ``G`` (k, M) standard normal, inputs ``x ~ N(0, I_M)``; kernel ``sum_i lambda_i x_i y_i``;
* ReLU features ``relu(W x)/sqrt(k)``, ``W ~ N(0, I)``: the arc-cosine kernel of order 1
  (:func:`randfeat.tasks.relu_nngp_kernel`);
* erf features ``erf(W x)/sqrt(k)``, ``W ~ N(0, s^2 I)``: Williams' (1997) kernel
  ``(2/pi) arcsin(2 s^2 x.y / sqrt((1 + 2 s^2 |x|^2)(1 + 2 s^2 |y|^2)))``;
* random Fourier features ``sqrt(2/k) cos(W x + b)``, ``W ~ N(0, I / l^2)``, ``b ~ U[0, 2 pi)``
  (Rahimi & Recht 2007): the RBF kernel ``exp(-|x - y|^2 / (2 l^2))``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from randfeat import _checks
from randfeat.tasks import Task, relu_nngp_kernel

__all__ = [
    "FourierWeights",
    "erf_features",
    "erf_kernel",
    "fourier_features",
    "fourier_weights",
    "gaussian_projection",
    "gaussian_weights",
    "linear_features",
    "linear_kernel",
    "rbf_kernel",
    "relu_features",
    "relu_nngp_kernel",
]


def gaussian_projection(key: jax.Array, task: Task, k: int) -> jax.Array:
    """Projection ``A = G diag(sqrt(lambda)) / sqrt(k)`` of the linear Gaussian RF model, (k, M)."""
    k = _checks.int_at_least("k", k, 1)
    lam = task.eigenvalues
    g = jax.random.normal(key, (k, lam.shape[0]), dtype=lam.dtype)
    return g * jnp.sqrt(lam) / jnp.sqrt(float(k))


def linear_features(projection: jax.Array, x: jax.Array) -> jax.Array:
    """``phi(x) = A x``: projection (k, M), x (n, M) -> (n, k)."""
    return x @ projection.T


def linear_kernel(task: Task, x: jax.Array, y: jax.Array) -> jax.Array:
    """Limiting kernel of the linear Gaussian RF: ``sum_i lambda_i x_i y_i``; (a, M), (b, M) -> (a, b)."""
    return (x * task.eigenvalues) @ y.T


def gaussian_weights(key: jax.Array, k: int, d: int, std: float = 1.0, dtype=jnp.float64) -> jax.Array:
    """First-layer weights ``W ~ N(0, std^2 I)``, (k, d)."""
    k = _checks.int_at_least("k", k, 1)
    d = _checks.int_at_least("d", d, 1)
    _checks.positive("std", std)
    return std * jax.random.normal(key, (k, d), dtype=dtype)


def relu_features(weights: jax.Array, x: jax.Array) -> jax.Array:
    """``relu(x W^T) / sqrt(k)``: weights (k, d), x (n, d) -> (n, k). With ``W ~ N(0, I)`` the
    limit is :func:`relu_nngp_kernel`."""
    return jax.nn.relu(x @ weights.T) / jnp.sqrt(float(weights.shape[0]))


def erf_features(weights: jax.Array, x: jax.Array) -> jax.Array:
    """``erf(x W^T) / sqrt(k)``: weights (k, d), x (n, d) -> (n, k); limit :func:`erf_kernel`."""
    return jax.scipy.special.erf(x @ weights.T) / jnp.sqrt(float(weights.shape[0]))


def erf_kernel(x: jax.Array, y: jax.Array, std: float = 1.0) -> jax.Array:
    """``E_w[erf(w.x) erf(w.y)]`` for ``w ~ N(0, std^2 I)`` (Williams 1997); (a, d), (b, d) -> (a, b)."""
    _checks.positive("std", std)
    s2 = 2.0 * std**2
    nx = 1.0 + s2 * jnp.sum(x * x, axis=-1)[:, None]
    ny = 1.0 + s2 * jnp.sum(y * y, axis=-1)[None, :]
    return (2.0 / jnp.pi) * jnp.arcsin(s2 * (x @ y.T) / jnp.sqrt(nx * ny))


class FourierWeights(NamedTuple):
    """Random Fourier feature parameters: frequencies (k, d) and phases (k,)."""

    frequencies: jax.Array
    phases: jax.Array


def fourier_weights(key: jax.Array, k: int, d: int, lengthscale: float = 1.0, dtype=jnp.float64) -> FourierWeights:
    """Frequencies ``W ~ N(0, I / l^2)`` (k, d) and phases ``b ~ U[0, 2 pi)`` (k,)."""
    k = _checks.int_at_least("k", k, 1)
    d = _checks.int_at_least("d", d, 1)
    _checks.positive("lengthscale", lengthscale)
    kw, kb = jax.random.split(key)
    w = jax.random.normal(kw, (k, d), dtype=dtype) / lengthscale
    b = jax.random.uniform(kb, (k,), dtype=dtype, maxval=2.0 * jnp.pi)
    return FourierWeights(w, b)


def fourier_features(weights: FourierWeights, x: jax.Array) -> jax.Array:
    """``sqrt(2/k) cos(x W^T + b)``: (n, d) -> (n, k); limit :func:`rbf_kernel`."""
    k = weights.frequencies.shape[0]
    return jnp.sqrt(2.0 / k) * jnp.cos(x @ weights.frequencies.T + weights.phases)


def rbf_kernel(x: jax.Array, y: jax.Array, lengthscale: float = 1.0) -> jax.Array:
    """``exp(-|x - y|^2 / (2 l^2))``; (a, d), (b, d) -> (a, b).

    ``|x - y|^2 = |x|^2 + |y|^2 - 2 x.y`` cancels when the inputs are far from the origin relative to
    their distance (absolute error ``eps |x|^2``), so both sets are first shifted by the mean of x
    (the kernel is translation invariant): the error becomes ``eps |x - mean|^2``.
    """
    _checks.positive("lengthscale", lengthscale)
    centre = jnp.mean(x, axis=0)
    x, y = x - centre, y - centre
    sq = jnp.sum(x * x, -1)[:, None] + jnp.sum(y * y, -1)[None, :] - 2.0 * x @ y.T
    return jnp.exp(-jnp.maximum(sq, 0.0) / (2.0 * lengthscale**2))
