"""Predictions of the theory that studies overlay on experiments (docs/sensing.md#theory).

All functions are pure ``jax.numpy`` expressions of their arguments (jit/vmap-able).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from sensing import _validate

Array = jax.Array


def imbalance(f0: Array, g0: Array) -> Array:
    """``D0 = F0^T F0 - G0^T G0`` ``(k, k)``; under asymmetric GD it changes only by ``O(eta^2)`` per step."""
    return f0.T @ f0 - g0.T @ g0


def asymmetric_rate(step_size: Any, f0: Array, g0: Array) -> Array:
    """Linear rate ``eta * lambda_min(F0^T F0 - G0^T G0)`` of over-parameterised asymmetric GD.

    Xiong, Ding & Du: with ``F0`` at scale ``alpha`` and ``G0`` at ``alpha/3`` the imbalance is
    about ``(8/9) alpha^2`` times a Gram matrix, so the rate scales like ``alpha^2``. The error then
    behaves like ``(1 - rate)^t`` (see ``linear_error``).

    This is the scaling, not the constant: the tail rate is ``eta`` times the smallest eigenvalue
    of ``D`` compressed onto the ``(k - r)``-dimensional subspace of ``R^k`` outside the signal
    (see ``asymmetric_tail_rate``), which by Cauchy interlacing is ``>= lambda_min(D)``; the ratio
    depends on the draw of ``F0, G0`` (between about 1 and 6 in small population runs, k - r = 2
    or 3). ``f0`` ``(n1, k)``, ``g0`` ``(n2, k)``.
    """
    return step_size * jnp.linalg.eigvalsh(imbalance(f0, g0))[0]


def asymmetric_tail_rate(step_size: Any, f: Array, g: Array) -> Array:
    """Tail rate ``-log(1 - eta lambda_min(F^T F))`` per step of over-parameterised asymmetric GD (population limit).

    The relative error ``||F G^T - M*||_F / ||M*||_F`` decays like ``exp(-rate t)`` once it is
    small; ``f`` ``(n1, k)``, ``g`` ``(n2, k)`` are factors near convergence (e.g. ``trace.final``
    of a run whose error is below about ``1e-3``); returns a scalar. Unlike ``asymmetric_rate``
    (``eta lambda_min(D0)``, which only gives the ``alpha^2`` scaling) this fixes the constant.

    Derivation (population GD, ``Z = F G^T - M*``; ``U, V`` the singular vectors of ``M* = U S V^T``,
    ``F_perp = U_perp^T F``, ``G_perp = V_perp^T G``): as ``U_perp^T M* = 0`` and ``M* V_perp = 0``,
    exactly ``F_perp <- F_perp (I - eta G^T G)`` and ``G_perp <- G_perp (I - eta F^T F)``. Near the
    limit ``G^T G`` has ``r`` eigenvalues about ``S`` and ``k - r`` tending to 0, and
    ``F^T F = D + G^T G`` with ``D = F^T F - G^T G`` (conserved up to ``O(eta^2)``): ``r`` eigenvalues
    about ``S`` and ``k - r`` equal to those of ``Q^T D Q`` up to ``O(alpha^4)``, ``Q`` an orthonormal
    basis of the null space of ``G`` (positive when ``F0`` is the larger factor, as in
    ``small_init``). ``F_perp`` keeps its part in that null space, which adds ``F_perp G^T = 0`` to
    the error; ``G_perp`` decays mode by mode at ``1 - eta lambda_j(F^T F)``; so the dominant error
    block ``Z V_perp = F G_perp^T`` and ``||Z||_F`` decay like ``(1 - eta lambda_min(F^T F))^t`` (the
    signal block is driven at ``O(||G_perp||^2)``). The rate, ``eta lambda_min(Q^T D Q)``, is
    ``>= eta lambda_min(D)`` by interlacing: that is the constant in ``asymmetric_rate``.

    In the population limit the slow mode is ``(n2 - r)``-fold (``G_perp = w q^T``, any ``w``). A
    Gaussian operator with ``m`` measurements splits it, down to about ``(1 - sqrt((n2 - r) / m))^2``
    times the rate (the exact tail is then the smallest non-zero eigenvalue of the Gauss-Newton
    matrix at the limit); the formula holds for ``m >> n2`` (measured / predicted 0.98 to 1.01 at
    ``n = 10``, ``m = 20000``; 0.6 to 0.8 at ``n = 12``, ``m = 500``). Needs
    ``0 <= eta lambda_min(F^T F) < 1``.
    """
    _validate.real("step_size", step_size, low=0.0)
    _check_factor_pair(f, g)
    lam = jnp.linalg.eigvalsh(f.T @ f)[0]
    return -jnp.log1p(-step_size * lam)


def _check_factor_pair(f: Array, g: Array) -> None:
    """``f`` ``(n1, k)`` and ``g`` ``(n2, k)``: two matrices with the same number of columns."""
    fs, gs = jnp.shape(f), jnp.shape(g)
    if len(fs) != 2:
        raise ValueError(f"f has shape {fs}; allowed: a matrix (n1, k)")
    if len(gs) != 2 or gs[1] != fs[1]:
        raise ValueError(f"g has shape {gs}; allowed: a matrix (n2, k) with k = {fs[1]} columns, like f")


def balance_increment(step_size: Any, zg: Array, ztf: Array) -> Array:
    """Exact one-step change of ``F^T F - G^T G`` under asymmetric GD: ``eta^2 (G^T Z^T Z G - F^T Z Z^T F)``.

    ``zg = Z G`` ``(n1, k)`` and ``ztf = Z^T F`` ``(n2, k)``; holds for any operator (docs/sensing.md#balance-identity).
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


def symmetric_rank_dimension(n: int, rank: int) -> int:
    """Dimension ``n r - r (r - 1) / 2`` of the manifold of ``n x n`` PSD matrices of rank ``r``.

    ``{U W^T + W U^T : W in R^(n x r)}`` is its tangent space at ``M* = U U^T``: ``n r`` parameters
    less the ``r (r - 1) / 2`` of the rotations ``U -> U R`` (docs/sensing.md#subgm-noise-floor).
    """
    n = _validate.integer("n", n, low=1)
    rank = _validate.integer("rank", rank, low=1, high=n)
    return n * rank - rank * (rank - 1) // 2


def subgm_floor_constant(n: int, rank: int) -> Array:
    """The constant ``C`` of ``subgm_noise_floor`` for Gaussian noise: ``sqrt(pi d / (2 n r))``, ``d`` as below.

    Derived in this project (docs/sensing.md#subgm-noise-floor): near ``M*`` the l1 loss
    ``(1/m) sum |<A_i, D> - s_i|`` on the tangent space (dimension
    ``d = symmetric_rank_dimension(n, r)``) is, in expectation over the noise density ``f``,
    ``E|s| + f(0) ||D||_F^2`` with the linear term ``-(1/m) sum sign(s_i) <A_i, D>``; its minimiser
    is ``D = P_T((1/m) sum sign(s_i) A_i) / (2 f(0))`` (the least-absolute-deviation estimate), and
    as ``E||P_T A||_F^2 = d`` (``E[A^* A] = I``), ``E||D||_F^2 = d / (4 f(0)^2 m)``. For
    ``s ~ N(0, nu^2)``, ``f(0) = 1 / (sqrt(2 pi) nu)``, so ``||X X^T - M*||_F -> nu sqrt(pi d / (2 m))``
    ``= C nu sqrt(n r / m)``. Holds for ``m >> d`` and small ``nu`` (the quadratic expansion);
    ``||D||_F^2`` is a sum of ``d`` comparable squares, so one run deviates from it by about
    ``1 / sqrt(2 d)`` relative. ``C -> sqrt(pi / 2) = 1.2533`` for ``n >> r``.
    """
    d = symmetric_rank_dimension(n, rank)
    return jnp.sqrt(jnp.asarray(math.pi * d / (2.0 * n * rank), jnp.result_type(float)))
