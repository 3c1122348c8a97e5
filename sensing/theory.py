"""Predictions of the theory that studies overlay on experiments (MATH.md section 1).

All functions are pure ``jax.numpy`` expressions of their arguments (jit/vmap-able).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

Array = jax.Array


def imbalance(f0: Array, g0: Array) -> Array:
    """``D0 = F0^T F0 - G0^T G0`` ``(k, k)``; under asymmetric GD it changes only by ``O(eta^2)`` per step."""
    return f0.T @ f0 - g0.T @ g0


def asymmetric_rate(step_size: Any, f0: Array, g0: Array) -> Array:
    """Linear rate ``eta * lambda_min(F0^T F0 - G0^T G0)`` of over-parameterised asymmetric GD.

    Xiong, Ding & Du: with ``F0`` at scale ``alpha`` and ``G0`` at ``alpha/3`` the imbalance is
    about ``(8/9) alpha^2`` times a Gram matrix, so the rate scales like ``alpha^2``. The error then
    behaves like ``(1 - rate)^t`` (see ``linear_error``).
    """
    return step_size * jnp.linalg.eigvalsh(imbalance(f0, g0))[0]


def balance_increment(step_size: Any, zg: Array, ztf: Array) -> Array:
    """Exact one-step change of ``F^T F - G^T G`` under asymmetric GD: ``eta^2 (G^T Z^T Z G - F^T Z Z^T F)``.

    ``zg = Z G`` ``(n1, k)`` and ``ztf = Z^T F`` ``(n2, k)``; holds for any operator (MATH.md section 1).
    """
    return step_size**2 * (zg.T @ zg - ztf.T @ ztf)


def linear_error(e0: Any, rate: Any, t: Any) -> Array:
    """``e0 (1 - rate)^t``: the error of a method converging linearly at ``rate`` per step."""
    return e0 * jnp.power(1.0 - rate, t)


def spurious_eigenvalue(t: Any, step_size: Any, s0: Any) -> Array:
    """Eigenvalue ``s_t`` of ``X X^T`` in a direction outside the range of ``M*`` (population GD).

    ``s_{t+1} = s_t (1 - eta s_t)^2`` gives ``1/s_{t+1} = 1/s_t + 2 eta + O(eta^2 s_t)``, hence
    ``s_t = s0 / (1 + 2 eta s0 t)``: a plateau at ``s0`` (about ``alpha^2``) until
    ``t ~ 1/(2 eta s0)``, then ``1/(2 eta t)``.
    """
    return s0 / (1.0 + 2.0 * step_size * s0 * t)


def symmetric_overparam_tail(t: Any, step_size: Any, excess_rank: Any) -> Array:
    """Absolute error ``||X X^T - M*||_F ~ sqrt(k - r) / (2 eta t)`` of symmetric over-parameterised GD.

    The ``k - r`` spurious eigenvalues each follow ``spurious_eigenvalue``; for
    ``t >> 1/(eta alpha^2)`` they are ``1/(2 eta t)``, so the error halves when ``t`` doubles
    (Xiong, Ding & Du: ``||X X^T - M*||_F^2 = Omega(1/T^2)``). Population limit (``E[A^*A] = I``).
    """
    return jnp.sqrt(jnp.asarray(excess_rank, jnp.result_type(float))) / (2.0 * step_size * t)


def subgm_noise_floor(nu: Any, n: Any, rank: Any, m: Any, constant: Any = 1.0) -> Array:
    """Final error of SubGM under Gaussian noise, ``C nu sqrt(n r / m)`` (Ma & Fattahi); independent of ``k``.

    The constant ``C`` is not fixed by the theory; studies fit it once and test the scaling.
    """
    return constant * nu * jnp.sqrt(jnp.asarray(n * rank / m, jnp.result_type(float)))


def phi(e_norm: Any, s: Array) -> Array:
    """Monte-Carlo ``phi(E) = sqrt(2/pi) E_s exp(-s^2 / (2 ||E||_F^2))`` over noise samples ``s`` ``(N,)``."""
    return math.sqrt(2.0 / math.pi) * jnp.mean(jnp.exp(-(s**2) / (2.0 * e_norm**2)))


def phi_gaussian(e_norm: Any, nu: Any) -> Array:
    """``phi`` for ``s ~ N(0, nu^2)``: ``sqrt(2/pi) ||E|| / sqrt(||E||^2 + nu^2)`` (Gaussian integral)."""
    return math.sqrt(2.0 / math.pi) * e_norm / jnp.sqrt(e_norm**2 + nu**2)


def phi_outliers(e_norm: Any, p: Any, magnitude: Any) -> Array:
    """``phi`` for outliers ``s = magnitude * U(-1, 1)`` with probability ``p`` (else 0).

    ``E_s exp(-s^2/2e^2) = (1 - p) + p (e/a) sqrt(pi/2) erf(a / (sqrt(2) e))`` with ``a = magnitude``.
    """
    a = magnitude
    tail = (e_norm / a) * math.sqrt(math.pi / 2.0) * erf(a / (math.sqrt(2.0) * e_norm))
    return math.sqrt(2.0 / math.pi) * ((1.0 - p) + p * tail)


def sign_gradient_expectation(e: Array, phi_value: Any) -> Array:
    """``E[sign(<A, E> - s) A] = phi(E) E / ||E||_F`` for Gaussian ``A`` independent of the noise ``s``.

    ``<A, E> ~ N(0, ||E||_F^2)`` and the component of ``A`` along ``E`` is ``<A, E> E / ||E||^2``;
    ``E[sign(g - s) g] = sqrt(2/pi) ||E|| exp(-s^2 / 2||E||^2)`` for ``g ~ N(0, ||E||^2)``.
    """
    return phi_value * e / jnp.linalg.norm(e)
