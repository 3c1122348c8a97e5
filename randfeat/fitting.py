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
from randfeat.tasks import Task, power_law_task
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


class PowerLawLimit(NamedTuple):
    """R* and the interpolation threshold of a power-law task, discrete and extrapolated to ``n, M -> inf``.

    ratio: (Q,) the limit of ``R*(s)``; threshold: () the limit of ``s*``; ratio_in_n: (K, Q) and
    threshold_in_n: (K,) extrapolated in n only, at each mode count; ratio_grid: (2, K, Q) and
    threshold_grid: (2, K) the discrete eigenframework at ``n, 2n`` samples (axis 0) and the mode
    counts ``modes`` (K,) (axis 1); exponent: ``p = min(alpha, beta) - 1``.
    """

    ratio: np.ndarray
    threshold: np.ndarray
    ratio_in_n: np.ndarray
    threshold_in_n: np.ndarray
    ratio_grid: np.ndarray
    threshold_grid: np.ndarray
    modes: tuple[int, ...]
    exponent: float


def power_law_limit(alpha: float, beta: float, relative_noise, n: int, modes: int, *,
                    levels: int = 3) -> PowerLawLimit:
    """:func:`fitting_ratio` and :func:`interpolation_threshold` of power-law KRR in the limit ``n, M -> inf``.

    Evaluates the discrete eigenframework of :func:`randfeat.tasks.power_law_task` at ``n`` and
    ``2n`` samples and ``levels`` mode counts ``modes / 4^(levels - 1), ..., modes / 4, modes``, and
    extrapolates both with :func:`continuum_limit` at ``p = min(alpha, beta) - 1``
    (docs/randfeat.md#finite-size-corrections); the limits are the closed forms
    :func:`randfeat.powerlaw.optimal_fitting_ratio_at_noise` and
    :func:`randfeat.powerlaw.overfitting_threshold`. relative_noise: (Q,) or scalar.
    """
    if min(alpha, beta) <= 1.0:
        raise ValueError(f"alpha={alpha!r}, beta={beta!r} are not allowed; allowed: both above 1 (a mode-truncation "
                         "error that falls like M^-(min(alpha, beta) - 1))")
    if int(levels) != levels or levels < 2:
        raise ValueError(f"levels={levels!r} is not allowed; allowed: an integer >= 2")
    step = 4 ** (levels - 1)
    if int(modes) != modes or modes % step or modes < step:
        raise ValueError(f"modes={modes!r} is not allowed; allowed: a positive multiple of 4^(levels - 1) = {step}")
    if int(n) != n or n < 1:
        raise ValueError(f"n={n!r} is not allowed; allowed: an integer >= 1")
    counts = tuple(int(modes) // 4 ** j for j in reversed(range(levels)))
    rel = np.atleast_1d(np.asarray(relative_noise, dtype=float))
    ratio, threshold = np.zeros((2, levels, rel.size)), np.zeros((2, levels))
    for j, m in enumerate(counts):
        task = power_law_task(m, alpha, beta)
        for i, size in enumerate((float(n), 2.0 * n)):
            ratio[i, j] = np.asarray(fitting_ratio(task, size, rel).ratio)
            threshold[i, j] = float(interpolation_threshold(task, size))
    p = min(alpha, beta) - 1.0
    r_limit, r_in_n = continuum_limit(np.moveaxis(ratio, -1, 0), p)  # (Q, 2, K)
    t_limit, t_in_n = continuum_limit(threshold, p)
    return PowerLawLimit(r_limit, t_limit, r_in_n.T, t_in_n, ratio, threshold, counts, p)


class MeasuredRatio(NamedTuple):
    """The measured fitting ratio at the best ridge of a grid, each (...).

    ratio: ``mean E_tr / mean E_te`` over trials at the ridge with the least mean test error;
    sem: its standard error (delta method); ridge_index: that ridge's index.
    """

    ratio: np.ndarray
    sem: np.ndarray
    ridge_index: np.ndarray


def measured_fitting_ratio(train, test) -> MeasuredRatio:
    """``R = E_tr / E_te`` of an experiment at its best ridge (docs/randfeat.md#measured-fitting-ratio).

    ``train``, ``test``: (T, ..., R) per-trial errors over T >= 2 trials and R ridges. The ridge
    minimises the trial mean of ``test``; ``R = mean(E_tr) / mean(E_te)`` there, and by the delta
    method for a ratio of means ``s.e.(R) = R sqrt(var(E_tr / mean E_tr - E_te / mean E_te) / T)``
    (sample variance over trials, ``ddof = 1``).
    """
    tr, te = np.asarray(train, dtype=float), np.asarray(test, dtype=float)
    if tr.shape != te.shape or tr.ndim < 2 or tr.shape[0] < 2:
        raise ValueError(f"train {tr.shape} and test {te.shape} are not allowed; allowed: the same shape "
                         "(T, ..., R) with T >= 2 trials")
    best = te.mean(0).argmin(-1)
    tr, te = (np.take_along_axis(v, best[None, ..., None], -1)[..., 0] for v in (tr, te))  # at the best ridge
    ratio = tr.mean(0) / te.mean(0)
    var = (tr / tr.mean(0) - te / te.mean(0)).var(0, ddof=1)
    return MeasuredRatio(ratio, ratio * np.sqrt(var / tr.shape[0]), best)
