"""Closed forms and asymptotes for the mixture regret (docs/bounds.md#closed-forms).

* Beta-Bernoulli: ``Q(x^n) = B(s + a, n - s + b) / B(a, b)`` with s the number of ones; the regret
  is the exact binomial sum over s.
* Gaussian location ``N(theta, s^2 I_d)``, prior ``N(0, t^2 I_d)``, ``r = t^2 / s^2``:
  ``D_n = (d/2)[log(1 + n r) - n r / (1 + n r)] + n ||theta0||^2 / (2 s^2 (1 + n r))``.
* Clarke-Barron: ``D_n = (d/2) log(n / (2 pi e)) + (1/2) log det I(theta0) - log w(theta0) + o(1)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, xlogy

from bounds import _validate

Array = jax.Array


def beta_bernoulli_log_marginal(ones, n, a: float = 0.5, b: float = 0.5) -> Array:
    """``log Q(x^n) = log B(s + a, n - s + b) - log B(a, b)`` for a sequence with s = ``ones``."""
    s = jnp.asarray(ones, jnp.result_type(float))
    return _betaln(s + a, n - s + b) - _betaln(jnp.asarray(a, s.dtype), jnp.asarray(b, s.dtype))


def _betaln(x: Array, y: Array) -> Array:
    """``log B(x, y)`` from ``gammaln`` (accurate to ~1e-14 here, unlike a 1e-7 ``betaln``)."""
    return gammaln(x) + gammaln(y) - gammaln(x + y)


def beta_bernoulli_regret(p0, n: int, a: float = 0.5, b: float = 0.5) -> Array:
    """Exact ``D_n`` of the Beta(a, b) mixture of Bernoullis against Bernoulli(p0).

    ``D_n = sum_{s=0}^n Bin(s; n, p0) [s log p0 + (n - s) log(1 - p0) - log Q(s)]``. Returns ().
    """
    n = _validate.positive_int("n", n)
    _validate.in_interval("p0", p0, 0.0, 1.0)
    _validate.positive("a", a)
    _validate.positive("b", b)
    dtype = jnp.result_type(float)
    s = jnp.arange(n + 1, dtype=dtype)
    p = jnp.asarray(p0, dtype)
    log_seq = xlogy(s, p) + xlogy(n - s, 1 - p)
    log_pmf = gammaln(jnp.asarray(n + 1.0, dtype)) - gammaln(s + 1) - gammaln(n - s + 1) + log_seq
    log_q = beta_bernoulli_log_marginal(s, n, a, b)
    return jnp.sum(jnp.where(log_pmf > -jnp.inf, jnp.exp(log_pmf) * (log_seq - log_q), 0.0))


def gaussian_location_regret_closed_form(theta0, n, sigma: float = 1.0, tau: float = 1.0) -> Array:
    """``D_n`` of the ``N(0, tau^2 I_d)`` mixture of ``N(theta, sigma^2 I_d)`` against theta0.

    ``(d/2)[log(1 + n r) - n r/(1 + n r)] + n ||theta0||^2 / (2 sigma^2 (1 + n r))``,
    ``r = tau^2/sigma^2``; ``theta0`` (d,) or scalar; ``n`` may be an array of sample sizes.
    """
    _validate.finite("theta0", theta0)
    _validate.positive("sigma", sigma)
    _validate.positive("tau", tau)
    _validate.positive("n", n)
    dtype = jnp.result_type(float)
    t0 = jnp.atleast_1d(jnp.asarray(theta0, dtype))
    d = t0.shape[0]
    nn = jnp.asarray(n, dtype)
    r = tau**2 / sigma**2
    nr = nn * r
    return 0.5 * d * (jnp.log1p(nr) - nr / (1 + nr)) + nn * jnp.sum(t0**2) / (2 * sigma**2 * (1 + nr))


def gaussian_location_per_step_regret(theta0, n: int, sigma: float = 1.0, tau: float = 1.0) -> Array:
    """Per-step regrets ``r_t`` (t = 1..n) of the Gaussian-prior location mixture, (n,).

    After m = t - 1 observations the predictive is ``N(mu_m, sigma^2 + v_m)`` per coordinate with
    ``v_m = 1/(1/tau^2 + m/sigma^2)``, ``mu_m = v_m m xbar / sigma^2``;
    ``E (mu_m - theta0)^2 = (1 - v_m m/sigma^2)^2 theta0^2 + v_m^2 m / sigma^2`` and
    ``r_t = sum_coords (1/2)[log((sigma^2 + v_m)/sigma^2) + (sigma^2 + E(mu_m - theta0)^2)/(sigma^2 + v_m) - 1]``.
    Their sum equals :func:`gaussian_location_regret_closed_form` (chain rule).
    """
    n = _validate.positive_int("n", n)
    dtype = jnp.result_type(float)
    t0 = jnp.atleast_1d(jnp.asarray(theta0, dtype))
    m = jnp.arange(n, dtype=dtype)[:, None]
    s2, t2 = sigma**2, tau**2
    v = 1.0 / (1.0 / t2 + m / s2)
    shrink = v * m / s2
    mse = (1 - shrink) ** 2 * t0[None, :] ** 2 + v**2 * m / s2
    return jnp.sum(0.5 * (jnp.log1p(v / s2) + (s2 + mse) / (s2 + v) - 1.0), axis=1)


def clarke_barron_asymptote(n, dim: int, log_det_fisher, log_prior_density) -> Array:
    """``(d/2) log(n / (2 pi e)) + (1/2) log det I(theta0) - log w(theta0)`` (Clarke & Barron 1990)."""
    _validate.positive("n", n)
    _validate.positive_int("dim", dim)
    dtype = jnp.result_type(float)
    nn = jnp.asarray(n, dtype)
    return 0.5 * dim * jnp.log(nn / (2 * math.pi * math.e)) + 0.5 * log_det_fisher - log_prior_density


def jeffreys_bernoulli_asymptote(n) -> Array:
    """Clarke-Barron for Bernoulli with the Jeffreys prior: ``(1/2) log n - 0.2742...``.

    ``w = 1/(pi sqrt(p(1-p)))``, ``I = 1/(p(1-p))``, so ``(1/2) log I - log w = log pi`` for every p:
    the constant is ``log pi - (1/2) log(2 pi e) = -0.27421...``.
    """
    return clarke_barron_asymptote(n, 1, 0.0, -math.log(math.pi))


JEFFREYS_BERNOULLI_CONSTANT: float = math.log(math.pi) - 0.5 * math.log(2 * math.pi * math.e)
