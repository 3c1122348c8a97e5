"""Padding and masking, so that a sweep over a varying rank or width compiles once.

A run of rank ``k`` is embedded in a fixed ``k_max``: factors are ``(n, k_max)`` arrays whose
columns ``j >= k`` are zero. For gradient-type updates ``X <- X - eta * S(X) X`` (GD, SubGM,
PrecGD on matrix sensing) a zero column stays exactly zero, so the padded run equals the rank-k
run exactly (docs/architecture.md#padding-masking). The width is a traced scalar; only ``k_max`` is static.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def width_mask(width: jax.Array | int, max_width: int, dtype: jnp.dtype | None = None) -> jax.Array:
    """The 0/1 mask ``m_j = [j < width]`` for ``j = 0..max_width-1``, shape ``(max_width,)``.

    ``width`` may be traced (a swept axis); ``max_width`` is a static Python int. Multiplying
    the trailing axis of an array by this mask keeps its first ``width`` entries and zeroes the
    rest. ``dtype`` defaults to JAX's default float dtype.

    A concrete ``width`` (Python/NumPy int or a concrete integer array) must be an integer with
    ``1 <= width <= max_width``, else ``ValueError``. A traced ``width`` cannot be checked:
    ``width > max_width`` then silently gives the all-ones mask (width ``max_width``) and
    ``width < 1`` the zero mask, so validate the grid before compiling (e.g. pad to
    :func:`max_value` of the axis, and reject values below 1 when the grid is built).
    """
    if not isinstance(max_width, (int, np.integer)) or isinstance(max_width, bool) or max_width < 1:
        raise ValueError(f"max_width must be a static int >= 1, got {max_width!r}")
    if not isinstance(width, jax.core.Tracer):
        w = np.asarray(width)
        if w.shape != () or w.dtype.kind not in "iu" or not 1 <= int(w) <= max_width:
            raise ValueError(f"width must be an integer in [1, max_width={int(max_width)}], got {width!r}")
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    return (jnp.arange(max_width) < width).astype(dtype)


def pad_axis(x: jax.Array, size: int, axis: int = -1) -> jax.Array:
    """Zero-pad ``x`` along ``axis`` to length ``size`` (static), shape ``x.shape`` with ``size`` at ``axis``."""
    x = jnp.asarray(x)
    axis = axis % x.ndim
    if not isinstance(size, (int, np.integer)) or size < x.shape[axis]:
        raise ValueError(f"size must be a static int >= x.shape[{axis}] = {x.shape[axis]}, got {size!r}")
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, int(size) - x.shape[axis])
    return jnp.pad(x, widths)


def max_value(grid: dict, axis: str) -> int:
    """The largest value of integer axis ``axis`` of ``grid``: the static size to pad that axis to."""
    if axis not in grid:
        raise ValueError(f"axis {axis!r} is not in the grid; axes are {list(grid)}")
    vals = list(grid[axis])
    if not vals or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
        raise ValueError(f"axis {axis!r} must hold integers to pad over it, got {vals!r}")
    return int(max(vals))
