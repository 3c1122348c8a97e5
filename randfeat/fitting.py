"""The fitting ratio at the optimal ridge and the noise below which interpolation is optimal, for any task.

"More is better" Sec. 5 (docs/randfeat.md#fitting-ratio): with ``R = E_tr / E_te`` and the
relative noise ``s = sigma^2 / E_te(delta = 0, sigma = 0)``, the eigenframework
(:func:`randfeat.theory.rf_risk`) gives ``R*(s)`` at the ridge that minimises the predicted test
risk (:func:`randfeat.theory.optimal_ridge`). For a power-law task the continuum limits are
:func:`randfeat.powerlaw.optimal_fitting_ratio_at_noise` and
:func:`randfeat.powerlaw.overfitting_threshold`; the functions here evaluate the discrete
eigenframework, so they apply to measured spectra (:func:`randfeat.tasks.kernel_task`) too.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from randfeat import _checks
from randfeat.tasks import Task
from randfeat.theory import _validate_task, optimal_ridge, rf_risk


class FittingRatio(NamedTuple):
    """The eigenframework at the optimal ridge for each relative noise, each (Q,) except ``clean_risk``.

    ratio: ``R* = E_tr / E_te``; ridge: ``delta*``; test: ``E_te(delta*)`` (includes the noise);
    noise: ``sigma^2 = s * clean_risk``; clean_risk: ``E_te(delta = 0, sigma = 0)`` ().
    """

    ratio: jax.Array
    ridge: jax.Array
    test: jax.Array
    noise: jax.Array
    clean_risk: jax.Array


def _noiseless(task: Task) -> Task:
    return Task(task.eigenvalues, task.coefficients, jnp.zeros((), task.eigenvalues.dtype))


def fitting_ratio(task: Task, n: float, relative_noise, k: float = np.inf, *, num_grid: int = 64,
                  num_refine: int = 40) -> FittingRatio:
    """Optimal fitting ratio ``R*(s) = E_tr / E_te`` at ``delta*(s)`` (docs/randfeat.md#fitting-ratio).

    ``task``'s own noise is ignored: for each relative noise ``s`` (Q,) the label noise is
    ``sigma^2 = s E_te(delta = 0, sigma = 0)`` at n samples and k features (``k = inf``: kernel
    ridge regression), and :func:`randfeat.theory.optimal_ridge` (``num_grid``, ``num_refine``)
    gives the optimal ridge and the risks there. n, k: scalars; returns :class:`FittingRatio`.
    """
    _validate_task(task)
    _checks.at_least("n", n, 1.0)
    _checks.at_least("k", k, 1.0, allow_inf=True)
    _checks.at_least("relative_noise", relative_noise, 0.0)
    if np.ndim(n) or np.ndim(k):
        raise ValueError(f"n = {n!r} and k = {k!r} must be scalars; allowed: one (n, k) per call")
    rel = jnp.atleast_1d(jnp.asarray(relative_noise, dtype=task.eigenvalues.dtype))
    if rel.ndim != 1:
        raise ValueError(f"relative_noise has shape {rel.shape}; allowed: a scalar or a 1-d array")
    base = _noiseless(task)
    clean = rf_risk(base, float(n), k, 0.0).test
    noise = rel * clean

    def one(s2):
        best = optimal_ridge(Task(base.eigenvalues, base.coefficients, s2), float(n), k,
                             num_grid=num_grid, num_refine=num_refine)
        return best.risk.train / best.risk.test, best.ridge, best.risk.test

    ratio, ridge, test = jax.vmap(one)(noise)
    return FittingRatio(ratio, ridge, test, noise, clean)


def interpolation_threshold(task: Task, n: float, k: float = np.inf, *, step: float = 1e-5) -> jax.Array:
    """Relative noise ``s*`` at which the slope of ``E_te`` in the ridge at ``delta = 0`` changes sign.

    ``E_te(delta; sigma^2) = T(delta) + sigma^2 E0(delta)`` is affine in the noise (``T``: the
    noiseless risk), so ``dE_te/d delta = 0`` at ``delta = 0`` for ``sigma^2 = -T'(0) / E0'(0)``,
    and ``s* = sigma^2 / T(0)``. Below ``s*`` a small ridge raises the risk (interpolation is
    locally optimal, "overfitting is obligatory"); above it a ridge helps. The one-sided
    derivatives are forward differences at ``h`` and ``2h`` combined to second order
    (``4 D(h) - D(2h)``), ``h = step * n * gamma_min`` (``gamma_min``: the ridgeless effective ridge).
    For a power law, ``n, M -> inf`` gives :func:`randfeat.powerlaw.overfitting_threshold`
    (docs/randfeat.md#overfitting-threshold). NaN when ``gamma_min = 0`` (no interpolation).
    n, k: scalars; returns a scalar array.
    """
    _validate_task(task)
    _checks.at_least("n", n, 1.0)
    _checks.at_least("k", k, 1.0, allow_inf=True)
    _checks.positive("step", step)
    if np.ndim(n) or np.ndim(k):
        raise ValueError(f"n = {n!r} and k = {k!r} must be scalars; allowed: one (n, k) per call")
    base = _noiseless(task)
    gamma_min = rf_risk(base, float(n), k, 0.0).gamma
    h = step * float(n) * gamma_min
    out = rf_risk(base, float(n), k, jnp.stack([jnp.zeros_like(h), h, 2.0 * h]))
    t, e0 = out.test, out.e0
    slope_t = 4.0 * (t[1] - t[0]) - (t[2] - t[0])
    slope_e0 = 4.0 * (e0[1] - e0[0]) - (e0[2] - e0[0])
    return jnp.where(h > 0, -slope_t / slope_e0 / t[0], jnp.nan)


def continuum_limit(values, exponent) -> tuple[np.ndarray, np.ndarray]:
    """The ``n, M -> inf`` limit of a power-law quantity from the discrete eigenframework.

    The corrections are those of docs/randfeat.md#finite-size-corrections.

    ``values`` (..., 2, K): at n and 2n samples (axis -2) for K >= 2 mode counts, each 4 times the
    previous (axis -1), e.g. ``M/16, M/4, M``. Richardson in n, ``v(inf) ~ 2 v(2n) - v(n)``, then in
    the modes, whose truncation error falls like ``M^-p`` with ``p = exponent`` (broadcast against
    the leading axes; ``min(alpha, beta) - 1`` for R*): ``v(M) + (v(M) - v(M/4)) / (4^p - 1)``.
    Returns the limit (...) and the values extrapolated in n only (..., K).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim < 2 or v.shape[-2] != 2 or v.shape[-1] < 2:
        raise ValueError(f"values has shape {v.shape}; allowed: (..., 2, K) with K >= 2 (n and 2n; K mode counts)")
    p = np.asarray(exponent, dtype=float)
    _checks.positive("exponent", p)
    in_n = 2.0 * v[..., 1, :] - v[..., 0, :]
    return in_n[..., -1] + (in_n[..., -1] - in_n[..., -2]) / (4.0**p - 1.0), in_n
