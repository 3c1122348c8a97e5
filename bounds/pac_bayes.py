"""PAC-Bayes-kl bound (Seeger 2002, Maurer 2004) with the kl inverted by bisection.

With probability at least 1 - delta over an i.i.d. sample of size n, for every posterior rho,

    kl(L_hat(rho) || L(rho)) <= [KL(rho || pi) + ln(2 sqrt(n) / delta)] / n,

so ``L(rho) <= kl^{-1}(L_hat, rhs) = sup {p in [L_hat, 1] : kl(L_hat || p) <= rhs}``.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from bounds import _validate

Array = jax.Array


def kl_bernoulli(q, p) -> Array:
    """``kl(q || p) = q log(q/p) + (1 - q) log((1 - q)/(1 - p))`` (elementwise).

    Evaluated as ``-q log1p((p - q)/q) - (1 - q) log1p((q - p)/(1 - q))``: each term is O(|p - q|)
    with full relative precision, so the rounding error of kl is about ``eps |p - q|`` instead of
    the naive form's ``eps``. Near p = q, where ``kl ~ (p - q)^2 / (2 q (1 - q))``, the relative
    error is about ``eps q (1 - q) / |p - q|`` (measured against mpmath: 7e-11 at |p - q| = 1e-6,
    1e-4 at 1e-12; the naive form is off by 2e-5 and 200% there).
    ``q`` and ``p`` broadcast together; the result has their broadcast shape. ``kl = +inf`` when
    p is 0 or 1 and q differs from p.

    Raises ``ValueError`` when a concrete ``q`` or ``p`` has an entry outside [0, 1] or NaN. Under
    ``jit``/``vmap`` (traced arguments, as inside :func:`kl_inverse_upper`) nothing is checked and
    such entries give NaN or a meaningless finite number (e.g. q = 1.5, p = 0.5 gives 1.648): the
    caller must keep them in [0, 1].
    """
    _validate.in_interval("q", q, 0.0, 1.0)
    _validate.in_interval("p", p, 0.0, 1.0)
    q = jnp.asarray(q, jnp.result_type(float))
    p = jnp.asarray(p, q.dtype)
    safe_q = jnp.where(q > 0, q, 1.0)
    safe_r = jnp.where(q < 1, 1 - q, 1.0)
    first = jnp.where(q > 0, -q * jnp.log1p((p - q) / safe_q), 0.0)
    second = jnp.where(q < 1, -(1 - q) * jnp.log1p((q - p) / safe_r), 0.0)
    return first + second


def kl_inverse_upper(q, bound, *, num_iter: int = 100) -> Array:
    """``sup {p in [q, 1] : kl(q || p) <= bound}`` by ``num_iter`` bisection steps (elementwise).

    ``kl(q || .)`` is increasing on [q, 1], so bisection keeps ``kl(q || lo) <= bound`` and halves
    the bracket each step; after 100 steps the bracket is below float64 resolution.
    """
    _validate.in_interval("q", q, 0.0, 1.0)
    _validate.nonnegative("bound", bound)
    _validate.positive_int("num_iter", num_iter)
    qa = jnp.asarray(q, jnp.result_type(float))
    return _kl_inverse(qa, jnp.asarray(bound, qa.dtype), num_iter)


@functools.partial(jax.jit, static_argnums=(2,))
def _kl_inverse(q, c, num_iter):
    q, c = jnp.broadcast_arrays(q, c)

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        ok = kl_bernoulli(q, mid) <= c
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, hi = jax.lax.fori_loop(0, num_iter, body, (q, jnp.ones_like(q)))
    return jnp.where(kl_bernoulli(q, hi) <= c, hi, lo)


def pac_bayes_kl_rhs(kl_divergence, n: int, delta: float) -> Array:
    """``[KL(rho || pi) + ln(2 sqrt(n) / delta)] / n``."""
    _validate.nonnegative("kl_divergence", kl_divergence)
    n = _validate.positive_int("n", n)
    _validate.in_interval("delta", delta, 0.0, 1.0, open_low=True, open_high=True)
    return (jnp.asarray(kl_divergence, jnp.result_type(float)) + math.log(2 * math.sqrt(n) / delta)) / n


def pac_bayes_kl_bound(empirical_risk, kl_divergence, n: int, delta: float) -> Array:
    """Upper bound on the true risk ``L(rho)`` (losses in [0, 1]) holding w.p. >= 1 - delta."""
    return kl_inverse_upper(empirical_risk, pac_bayes_kl_rhs(kl_divergence, n, delta))
