"""Gradient-descent dynamics of the linear student (Advani & Saxe 2017, "High-dimensional
dynamics of generalization error in neural networks"; docs/randfeat.md#advani-saxe).

Inputs ``x ~ N(0, I_N / N)``, teacher ``y = w_bar . x + eps`` with ``|w_bar|^2 / N = s_w^2`` and
``Var eps = s_eps^2``, P samples, load ``a = P/N``; the student follows gradient flow
``dw/dt = sum_mu (y_mu - w . x_mu) x_mu`` from ``w(0)`` with per-coordinate variance ``s_w0^2``.
The spectrum of ``sum_mu x_mu x_mu^T`` tends to Marchenko-Pastur,
``rho(l) = sqrt((l+ - l)(l - l-)) / (2 pi l)`` on ``l+- = (1 +- sqrt(a))^2``, plus an atom
``(1 - a)_+`` at zero, and

    E_g(t) = (s_w^2 + s_w0^2) [ int rho e^{-2 l t} dl + (1 - a)_+ ]
             + s_eps^2 [ int rho (1 - e^{-l t})^2 / l dl + 1 ]
    E_t(t) = (1/a) int rho [ l (s_w^2 + s_w0^2) + s_eps^2 ] e^{-2 l t} dl + s_eps^2 (1 - 1/a)_+

(E_g = |w - w_bar|^2 / N + s_eps^2 is the test error on a fresh noisy label, E_t the mean
squared training residual). The integrals use :func:`marchenko_pastur_quadrature`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from randfeat import _checks

MP_NODES = 2048


class LearningCurves(NamedTuple):
    """Generalization and training error at the requested times (shape of t)."""

    generalization: jax.Array
    training: jax.Array


def marchenko_pastur_density(l, load) -> jax.Array:
    """Continuous part of the Marchenko-Pastur density ``rho(l)`` (mass ``min(1, a)``)."""
    a = jnp.asarray(load, dtype=float)
    l = jnp.asarray(l, dtype=float)
    lo, hi = (1.0 - jnp.sqrt(a)) ** 2, (1.0 + jnp.sqrt(a)) ** 2
    inside = (l > lo) & (l < hi)
    return jnp.where(inside, jnp.sqrt(jnp.clip((hi - l) * (l - lo), 0.0)) / (2.0 * jnp.pi * jnp.where(l > 0, l, 1.0)), 0.0)


def marchenko_pastur_quadrature(load, num_nodes: int = MP_NODES) -> tuple[jax.Array, jax.Array]:
    """Nodes ``l_j`` and weights ``w_j`` (each ``(num_nodes,)``) with ``sum_j w_j f(l_j) ~ int rho(l) f(l) dl``.

    ``rho`` is the bulk of the Marchenko-Pastur law (:func:`marchenko_pastur_density`, mass
    ``min(1, a)``). With ``l = d + b cos(theta)``, ``d = 1 + a``, ``b = 2 sqrt(a)``, the measure is
    ``rho dl = (b^2 / 2 pi) sin^2(theta) / l dtheta`` on ``[0, pi]``, and polynomial division gives

        sin^2(theta) / l = (d - b cos(theta)) / b^2 - ((1 - a)^2 / 4a) / (d + b cos(theta)).

    The first part is a trigonometric polynomial: the midpoint rule in ``theta`` integrates it
    times a smooth ``f`` to the accuracy of ``f`` alone. The second is a Poisson kernel,
    ``1 / (d + b cos(theta)) = s / (1 - r^2) sum_k (-r)^|k| e^{ik theta}`` with
    ``r = min(sqrt(a), 1/sqrt(a))`` (``s = 1`` below load 1, ``1/a`` above), whose pole
    approaches the real axis as ``a -> 1`` (the bulk's lower edge ``(1 - sqrt a)^2`` meets zero);
    the midpoint rule on it converges only like ``r^num_nodes`` (1e-4 relative error in the mass
    at ``a = 0.999`` with 2048 nodes). It is integrated by product integration instead: the
    kernel's Fourier series up to the ``num_nodes - 1``-th mode against the midpoint-rule Fourier
    coefficients of ``f``, which is exact for every trigonometric polynomial ``f(l(theta))`` of
    degree below ``num_nodes`` (so the mass, every moment of degree below ``num_nodes``, and any
    smooth ``f`` to its own aliasing error), uniformly in ``a``. The two parts combine into

        w_j = (1 / 2Q) [ d - b cos(theta_j) - |1 - a| (1 + 2 sum_{k=1}^{Q-1} (-r)^k cos(k theta_j)) ],

    ``theta_j = pi (j + 1/2) / Q``, ``Q = num_nodes``. Weights may be negative near
    ``theta = pi`` when ``a`` is close to 1. ``load`` may be traced; ``num_nodes`` is static.
    """
    if not isinstance(num_nodes, (int, np.integer)) or num_nodes < 2:
        raise ValueError(f"num_nodes = {num_nodes!r} is out of range; allowed: an integer >= 2")
    _checks.positive("load", load)
    a = jnp.asarray(load, dtype=float)
    q = int(num_nodes)
    theta = jnp.pi * (jnp.arange(q, dtype=a.dtype) + 0.5) / q
    cos = jnp.cos(theta)
    b = 2.0 * jnp.sqrt(a)
    nodes = 1.0 + a + b * cos
    # sum_{k=1}^{q-1} r^k cos(k phi), phi = theta + pi, in closed form (a geometric series)
    r = jnp.exp(-0.5 * jnp.abs(jnp.log(a)))
    phi = theta + jnp.pi
    series = (r * jnp.cos(phi) - r**2 - r**q * jnp.cos(q * phi) + r ** (q + 1) * jnp.cos((q - 1) * phi)) / (
        1.0 + 2.0 * r * cos + r**2)
    weights = (1.0 + a - b * cos - jnp.abs(1.0 - a) * (1.0 + 2.0 * series)) / (2.0 * q)
    return nodes, weights


@jax.jit
def _curves(t, a, signal, init, noise):
    l, w = marchenko_pastur_quadrature(a)
    decay = jnp.exp(-2.0 * l * t[..., None])
    frozen = jnp.maximum(1.0 - a, 0.0)
    noise_fit = jnp.expm1(-l * t[..., None]) ** 2 / l
    e_g = (signal + init) * (decay @ w + frozen) + noise * (noise_fit @ w + 1.0)
    e_t = (decay * (l * (signal + init) + noise)) @ w / a + noise * jnp.maximum(1.0 - 1.0 / a, 0.0)
    return LearningCurves(e_g, e_t)


def advani_saxe_curves(t, load: float, signal_var: float = 1.0, init_var: float = 0.0,
                       noise_var: float = 0.0) -> LearningCurves:
    """Asymptotic (N -> infinity) E_g(t) and E_t(t) of gradient flow; t (...) -> curves (...).

    load ``a = P/N > 0``; variances ``s_w^2, s_w0^2, s_eps^2 >= 0``. Equations: module docstring.
    """
    _checks.at_least("t", t, 0.0)
    _checks.positive("load", load)
    for name, v in (("signal_var", signal_var), ("init_var", init_var), ("noise_var", noise_var)):
        _checks.at_least(name, v, 0.0)
    f = lambda v: jnp.asarray(v, dtype=float)  # noqa: E731
    return _curves(f(t), f(load), f(signal_var), f(init_var), f(noise_var))


def gd_curves(x: jax.Array, y: jax.Array, teacher: jax.Array, w0: jax.Array, t,
              noise_var=0.0, step_size=None) -> LearningCurves:
    """Exact finite-size learning curves of the linear student for a given data matrix.

    x (P, N), y (P,), teacher ``w_bar`` (N,), initial weights w0 (N,), times t (T,). In the
    eigenbasis of ``x^T x = V diag(l) V^T`` the flow is solved exactly:
    ``w(t) - w* = V e^{-diag(l) t} V^T (w0 - w*)`` on the row space of x, where ``w*`` is the
    least-squares solution reached from w0 (the null-space part of w0 stays frozen). With
    ``step_size = eta`` the discrete GD ``w <- w + eta x^T (y - x w)`` after ``t/eta`` steps
    replaces ``e^{-l t}`` by ``(1 - eta l)^{t/eta}``.
    Returns E_g = |w - w_bar|^2 / N + noise_var (expected test error on a fresh noisy label)
    and E_t = mean_mu (y_mu - w . x_mu)^2, each (T,).
    """
    xa = _checks.concrete(x)
    if xa is not None and xa.ndim != 2:
        raise ValueError(f"x has shape {xa.shape}; allowed: (P, N)")
    _checks.at_least("t", t, 0.0)
    _checks.at_least("noise_var", noise_var, 0.0)
    if step_size is not None:
        _checks.positive("step_size", step_size)
    t = jnp.asarray(t, dtype=x.dtype)
    p, n = x.shape
    lam, v = jnp.linalg.eigh(x.T @ x)
    lam = jnp.maximum(lam, 0.0)
    live = lam > 1e-10 * jnp.max(lam)
    b = v.T @ (x.T @ y)                                   # x^T y in the eigenbasis
    e0 = v.T @ w0
    target = jnp.where(live, b / jnp.where(live, lam, 1.0), e0)   # fixed point per eigen-direction
    if step_size is None:
        factor = jnp.exp(-lam * t[:, None])
    else:
        factor = (1.0 - step_size * lam) ** (t[:, None] / step_size)
    coords = target + factor * (e0 - target)              # (T, N) weights in the eigenbasis
    w = coords @ v.T
    e_g = jnp.sum((w - teacher) ** 2, axis=-1) / n + noise_var
    e_t = jnp.mean((y - w @ x.T) ** 2, axis=-1)
    return LearningCurves(e_g, e_t)
