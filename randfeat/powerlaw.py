"""Closed forms for power-law tasks (``lambda_i = i^-alpha``, ``v_i^2 = i^-beta``, M -> infinity).

"More is better" Sec. 5 (docs/randfeat.md#power-law-closed-forms) states the optimal fitting ratio and the
obligatory-overfitting threshold; the continuum constants below follow from replacing the
eigen-sums by integrals (``i = gamma^{-1/alpha} x``):

* ``z(gamma) = sum_i L_i  ~  I_alpha gamma^{-1/alpha}``, ``I_alpha = int_0^inf dx / (1 + x^alpha)
  = pi / (alpha sin(pi / alpha))``;
* ridgeless, noiseless kernel regression (``z = n``, ``E0 = alpha``):
  ``E_te ~ C_{alpha,beta} n^{-(beta - 1)}`` with
  ``C_{alpha,beta} = I_alpha^{beta - 1} Gamma(a) Gamma(2 - a)``, ``a = (2 alpha - beta + 1) / alpha``,
  valid for ``1 < beta < 2 alpha + 1``. (This is the sandbox's own derivation, checked against the
  discrete solver in the tests; it is not taken from the paper.)

All functions take Python floats and return floats.
"""

from __future__ import annotations

import math

from randfeat import _checks


def _exponents(alpha: float, beta: float | None = None) -> None:
    _checks.greater_than("alpha", alpha, 1.0)
    if beta is not None:
        _checks.positive("beta", beta)


def learnability_sum_constant(alpha: float) -> float:
    """``I_alpha = pi / (alpha sin(pi/alpha))``: ``z(gamma) ~ I_alpha gamma^{-1/alpha}`` (alpha > 1)."""
    _exponents(alpha)
    return math.pi / (alpha * math.sin(math.pi / alpha))


def ridgeless_gamma(alpha: float, n: float) -> float:
    """Continuum effective ridge of ridgeless kernel regression, ``z = n``: ``(I_alpha / n)^alpha``."""
    _exponents(alpha)
    _checks.at_least("n", n, 1.0)
    return (learnability_sum_constant(alpha) / n) ** alpha


def ridgeless_krr_constant(alpha: float, beta: float) -> float:
    """``C_{alpha,beta}`` in ``E_te ~ C n^{-(beta-1)}`` (noiseless ridgeless KRR); module docstring."""
    _exponents(alpha, beta)
    _checks.check("beta", beta, 1.0 < beta < 2.0 * alpha + 1.0, f"1 < beta < 2 alpha + 1 = {2 * alpha + 1}")
    a = (2.0 * alpha - beta + 1.0) / alpha
    return learnability_sum_constant(alpha) ** (beta - 1.0) * math.exp(math.lgamma(a) + math.lgamma(2.0 - a))


def optimal_fitting_ratio(alpha: float, beta: float) -> float:
    """Noiseless optimal fitting ratio ``R* = E_tr/E_te = max(0, (alpha - beta)/(beta (alpha - 1)))^2``
    ("More is better" Sec. 5); ``R* < 1`` always."""
    _exponents(alpha, beta)
    return max(0.0, (alpha - beta) / (beta * (alpha - 1.0))) ** 2


def overfitting_threshold(alpha: float, beta: float) -> float:
    """Relative noise below which interpolation (``delta* = 0``) is optimal:
    ``sigma_rel^2 <= (beta - alpha) / (alpha (alpha - 1))`` ("overfitting is obligatory"), with
    ``sigma_rel^2 = sigma^2 / E_te(noiseless, ridgeless)``. Negative (never) when ``beta < alpha``."""
    _exponents(alpha, beta)
    return (beta - alpha) / (alpha * (alpha - 1.0))


def optimal_learned_fraction(alpha: float, beta: float, relative_noise: float) -> float:
    """``t* = z*/n`` at the optimal ridge of noisy power-law KRR, continuum limit (docs/randfeat.md#noisy-fitting-ratio).

    ``t*`` is the root in (0, 1] of ``(alpha - 1) beta t + (alpha - 1) alpha s t^beta = alpha (beta - 1)``,
    ``s = relative_noise = sigma^2 / E_te(ridgeless, noiseless)``; ``t* = 1`` (interpolation) when the
    left side at ``t = 1`` is not larger than the right. Needs ``alpha > 1``, ``1 < beta < 2 alpha + 1``
    (where the bias integral converges) and ``s >= 0``. Floats in, float out.
    """
    from scipy.optimize import brentq

    _exponents(alpha, beta)
    _checks.check("beta", beta, 1.0 < beta < 2.0 * alpha + 1.0, f"1 < beta < 2 alpha + 1 = {2 * alpha + 1}")
    _checks.at_least("relative_noise", relative_noise, 0.0)
    a, b, s = float(alpha), float(beta), float(relative_noise)

    def lhs_minus_rhs(t: float) -> float:
        return (a - 1.0) * b * t + (a - 1.0) * a * s * t**b - a * (b - 1.0)

    if lhs_minus_rhs(1.0) <= 0.0:
        return 1.0
    return float(brentq(lhs_minus_rhs, 0.0, 1.0, xtol=1e-15, rtol=1e-15))


def optimal_fitting_ratio_at_noise(alpha: float, beta: float, relative_noise: float) -> float:
    """Optimal fitting ratio ``R* = E_tr / E_te = (1 - t*)^2`` of noisy power-law KRR, continuum limit.

    ``t*`` from :func:`optimal_learned_fraction` (docs/randfeat.md#noisy-fitting-ratio). At
    ``relative_noise = 0`` this is :func:`optimal_fitting_ratio`; ``R* = 0`` (interpolation is
    optimal) iff ``relative_noise <= overfitting_threshold(alpha, beta)``. Floats in, float out.
    """
    return (1.0 - optimal_learned_fraction(alpha, beta, relative_noise)) ** 2
