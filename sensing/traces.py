"""Numbers read off recorded error traces: iterations to a target error and linear rates.

A trace records the relative error every ``record_every`` steps (``sensing.run``). These functions
read such records: :func:`iterations_to` the first step at which the error reaches a target
(interpolated between records in log error), :func:`linear_rate` the rate per step at which the
error fell from one target to another, :func:`fitted_rate` the least-squares rate of ``log error``
over a window (docs/sensing.md#trace-measures). All are pure ``jax.numpy`` functions of their
arguments, broadcast over leading axes, and accept NumPy arrays.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sensing import _validate

Array = jax.Array


def _check_records(error: Any, steps: Any) -> tuple[Array, Array]:
    error, steps = jnp.asarray(error), jnp.asarray(steps)
    if error.ndim < 1:
        raise ValueError(f"error has shape {error.shape}; allowed: (..., T) with T >= 1 records")
    if steps.shape != error.shape[-1:]:
        raise ValueError(f"steps has shape {steps.shape}; allowed: ({error.shape[-1]},), one step per record of error")
    concrete = _validate._concrete(steps)
    if concrete is not None and concrete.size > 1 and not np.all(np.diff(concrete) > 0):
        raise ValueError(f"steps={concrete!r} must be strictly increasing")
    dtype = jnp.result_type(error.dtype, float)
    return error.astype(dtype), steps.astype(dtype)


def iterations_to(error: Any, steps: Any, target: Any) -> Array:
    """First step at which ``error`` ``(..., T)``, recorded at ``steps`` ``(T,)``, falls to ``target``.

    With records ``e_j`` at steps ``t_j``, let ``j`` be the first record with ``e_j <= target``.
    Between ``t_{j-1}`` and ``t_j`` the error is taken to decay geometrically (linear in
    ``log e``), so the crossing is

        t = t_{j-1} + (t_j - t_{j-1}) (log e_{j-1} - log target) / (log e_{j-1} - log e_j),

    which is exact for ``e(t) = c exp(-a t)``. Returns ``t_0`` when the first record is already at
    or below the target and ``inf`` where no record reaches it (non-finite records never count).
    Shape ``(...)``; ``target`` (> 0) broadcasts against it.
    """
    _validate.real("target", target, low=0.0, low_open=True)
    error, steps = _check_records(error, steps)
    return _iterations_to(error, steps, jnp.asarray(target, error.dtype))


@jax.jit
def _iterations_to(error: Array, steps: Array, target: Array) -> Array:
    """The compiled body of ``iterations_to`` (one program per shape instead of one per operation)."""
    target = target[..., None]
    below = jnp.isfinite(error) & (error <= target)
    error = jnp.broadcast_to(error, below.shape)
    hit = jnp.any(below, axis=-1)
    first = jnp.argmax(below, axis=-1)
    prev = jnp.maximum(first - 1, 0)
    e1 = jnp.take_along_axis(error, first[..., None], -1)[..., 0]
    e0 = jnp.take_along_axis(error, prev[..., None], -1)[..., 0]
    t1, t0 = steps[first], steps[prev]
    target = target[..., 0]
    positive = (e1 > 0) & (e0 > e1)
    safe = lambda v: jnp.where(positive, v, 1.0)  # noqa: E731 - logs only where they are defined
    frac = (jnp.log(safe(e0)) - jnp.log(safe(target))) / (jnp.log(safe(e0)) - jnp.log(safe(e1)))
    frac = jnp.where(positive, jnp.clip(frac, 0.0, 1.0), 1.0)
    crossing = jnp.where(first > 0, t0 + frac * (t1 - t0), t1)
    return jnp.where(hit, crossing, jnp.inf)


def linear_rate(error: Any, steps: Any, high: Any, low: Any) -> Array:
    """Rate per step at which ``error`` ``(..., T)`` fell from ``high`` to ``low`` (``0 < low < high``).

        rate = log(high / low) / (t(low) - t(high)),   t = iterations_to(error, steps, .),

    so a run with ``e(t) = c exp(-a t)`` between the two levels gives ``a`` exactly, and one whose
    error tracks a geometric step size ``eta_0 rho^t`` gives ``-log rho``. Returns ``0`` where the
    error never reaches ``low`` (the run stalled above it: no decay to measure) and ``inf`` where the
    first record is already at or below ``low``. Shape ``(...)``.
    """
    _validate.real("low", low, low=0.0, low_open=True)
    _validate.real("high", high, low=0.0, low_open=True)
    lo_c, hi_c = _validate._concrete(low), _validate._concrete(high)
    if lo_c is not None and hi_c is not None and not np.all(lo_c < hi_c):
        raise ValueError(f"low={low!r} must be smaller than high={high!r}")
    error, steps = _check_records(error, steps)
    return _linear_rate(error, steps, jnp.asarray(high, error.dtype), jnp.asarray(low, error.dtype))


@jax.jit
def _linear_rate(error: Array, steps: Array, high: Array, low: Array) -> Array:
    """The compiled body of ``linear_rate``."""
    t_high = _iterations_to(error, steps, high)
    t_low = _iterations_to(error, steps, low)
    width = jnp.log(jnp.asarray(high, t_high.dtype) / jnp.asarray(low, t_high.dtype))
    span = jnp.where(jnp.isinf(t_low), 1.0, t_low - t_high)
    rate = jnp.where(span > 0, width / jnp.where(span > 0, span, 1.0), jnp.inf)
    return jnp.where(jnp.isinf(t_low), 0.0, rate)


def fitted_rate(error: Any, steps: Any, *, floor: float, ceiling: float = float("inf"), start: float = float("-inf"),
                min_records: int = 4) -> Array:
    """Rate ``a`` of ``error ~ c exp(-a t)``: minus the least-squares slope of ``log error`` against step.

    Over the records of ``error`` ``(..., T)`` (at ``steps`` ``(T,)``) with ``step >= start`` and
    ``floor < error < ceiling`` (finite), the ordinary least-squares line through ``(t_j, log e_j)``:

        a = -sum_j (t_j - t_bar)(log e_j - l_bar) / sum_j (t_j - t_bar)^2      (docs/sensing.md#trace-measures),

    exact for ``c exp(-a t)``. ``floor`` leaves out the round-off plateau, ``ceiling`` an early phase.
    NaN where fewer than ``min_records`` (>= 2) records qualify. Shape ``(...)``.
    """
    _validate.real("floor", floor, low=0.0)
    _validate.real("ceiling", ceiling, low=floor, low_open=True)
    if int(min_records) != min_records or min_records < 2:
        raise ValueError(f"min_records={min_records!r} is not allowed; allowed: an integer >= 2")
    error, steps = _check_records(error, steps)
    window = (jnp.asarray(v, error.dtype) for v in (floor, ceiling, start))
    return _fitted_rate(error, steps, *window, int(min_records))


@functools.partial(jax.jit, static_argnums=(5,))
def _fitted_rate(error: Array, steps: Array, floor: Any, ceiling: Any, start: Any, min_records: int) -> Array:
    """The compiled body of ``fitted_rate``."""
    keep = jnp.isfinite(error) & (error > floor) & (error < ceiling) & (steps >= start)
    count = keep.sum(-1)
    c = jnp.maximum(count, 1).astype(error.dtype)
    t = jnp.where(keep, steps, 0.0)
    log_e = jnp.where(keep, jnp.log(jnp.where(keep, error, 1.0)), 0.0)
    t_bar, l_bar = t.sum(-1, keepdims=True) / c[..., None], log_e.sum(-1, keepdims=True) / c[..., None]
    dt = jnp.where(keep, t - t_bar, 0.0)
    slope = (dt * (log_e - l_bar)).sum(-1) / jnp.where(count >= 2, (dt * dt).sum(-1), 1.0)
    return jnp.where(count >= min_records, -slope, jnp.nan)
