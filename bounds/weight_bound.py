"""The weight ("index of resolvability") bound on the mixture's regret (Barron; docs/bounds.md#weight-bound).

With ``W_eps = w({theta : D(p0 || p_theta) <= eps})``,

    D_n <= min_eps [ n eps - log W_eps ].

The whole eps-curve is computed in one pass: sort the hypotheses by KL to the truth, take the
cumulative logsumexp of the sorted log-prior (ties share the weight of the whole tie group), and
subtract from ``n eps_j``. Since ``W_eps`` only jumps at the KL values, the minimum over the
sorted KL values is the exact minimum over eps >= 0.

Agnostic version (truth outside the class): the ball is ``{theta : D(P || p_theta) - D_min <= eps}``
and the curve bounds the excess regret ``D_n - n D_min``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bounds import _validate

Array = jax.Array


class WeightBound(NamedTuple):
    """The eps-curve of the weight bound.

    Attributes:
      eps: (K,) ball radii, the sorted KL values (minus ``min_kl`` when agnostic).
      log_weight: (K,) ``log W_eps`` at each radius.
      bound: (K,) ``n eps - log W_eps``.
      minimum: () ``min_eps`` of the bound.
      argmin_eps: () the minimising radius.
      min_kl: () ``min_theta D(p0 || p_theta)`` (0 for a truth in the class).
    """

    eps: Array
    log_weight: Array
    bound: Array
    minimum: Array
    argmin_eps: Array
    min_kl: Array


def weight_bound(log_prior, kl, n, *, agnostic: bool = False) -> WeightBound:
    """The eps-curve ``n eps - log W_eps`` and its minimum, in one O(K log K) pass.

    Args:
      log_prior: (K,) normalised log-prior ``log w``.
      kl: (K,) ``D(p0 || p_theta)`` of each hypothesis (>= 0).
      n: sample size (>= 1).
      agnostic: measure radii from ``min kl``; the bound is then on ``D_n - n min kl``.
    Returns: :class:`WeightBound`. Realisable: ``0 <= D_n <= minimum``; agnostic:
    ``D_n - n min_kl <= minimum``.
    """
    _validate.log_prior("log_prior", log_prior)
    _validate.nonnegative("kl", kl)
    if _validate.is_concrete(n) and np.ndim(n) == 0:
        if not np.isfinite(n) or n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
    if np.shape(kl) != np.shape(log_prior):
        raise ValueError(f"kl must have the shape of log_prior {np.shape(log_prior)}, got {np.shape(kl)}")
    lw = jnp.asarray(log_prior)
    return _weight_bound(lw, jnp.asarray(kl, lw.dtype), jnp.asarray(n, lw.dtype), agnostic)


@functools.partial(jax.jit, static_argnums=(3,))
def _weight_bound(log_prior, kl, n, agnostic):
    order = jnp.argsort(kl)
    kl_sorted = kl[order]
    cum = jax.lax.cumlogsumexp(log_prior[order])
    last_of_tie = jnp.searchsorted(kl_sorted, kl_sorted, side="right") - 1
    log_w = cum[last_of_tie]
    min_kl = kl_sorted[0]
    eps = kl_sorted - min_kl if agnostic else kl_sorted
    bound = n * eps - log_w
    j = jnp.argmin(bound)
    return WeightBound(eps, log_w, bound, bound[j], eps[j], min_kl)


def log_weight_of_kl_ball(log_prior, kl, eps) -> Array:
    """``log W_eps = log sum_{theta : kl(theta) <= eps} w(theta)`` (-inf for an empty ball).

    ``eps`` may be a scalar or an array of radii (>= 0); returns the same shape.
    """
    _validate.log_prior("log_prior", log_prior)
    _validate.nonnegative("kl", kl)
    _validate.nonnegative("eps", eps)
    lw = jnp.asarray(log_prior)
    e = jnp.asarray(eps, lw.dtype)
    inside = jnp.asarray(kl, lw.dtype)[None, :] <= e.reshape(-1)[:, None]
    return jax.nn.logsumexp(jnp.where(inside, lw[None, :], -jnp.inf), axis=1).reshape(e.shape)
