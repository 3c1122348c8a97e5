"""Reading a study's result datasets: a function of one recorded dimension, log-log slopes, spans.

These are the steps the ``measure`` of a study (docs/studies.md#reading-results) repeats on the labelled
arrays a sweep returns (``xarray.DataArray``): apply a library function to the records along one
dimension and keep the labels of the others (:func:`along`), fit a power law across a grid axis
(:func:`log_slope`), and quote the range of a set of measured numbers in a claim's detail
(:func:`finite`, :func:`span`). Statistics over seeds for plots are in :mod:`overparam.plot`
(``mean_sem``, ``geometric_mean_band``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr


def along(fn: Callable[..., Any], da: xr.DataArray, dim: str, *args: Any, **kwargs: Any) -> xr.DataArray:
    """``fn(values, coordinate, *args, **kwargs)`` over the records of ``da`` along ``dim``.

    ``fn`` takes the values with ``dim`` moved last, shape ``(..., T)``, and the ``dim`` coordinate
    ``(T,)``, and returns ``(...)`` (e.g. ``sensing.traces.fitted_rate`` or ``iterations_to``).
    Returns a DataArray over the other dimensions of ``da``, with their coordinates.
    """
    if dim not in da.dims:
        raise ValueError(f"dim={dim!r} is not a dimension of the array; allowed: {list(da.dims)}")
    moved = da.transpose(..., dim)
    out = np.asarray(fn(moved.values, moved[dim].values, *args, **kwargs))
    dims = moved.dims[:-1]
    if out.shape != moved.shape[:-1]:
        raise ValueError(f"fn returned shape {out.shape}; expected {moved.shape[:-1]} (one number per record set)")
    return xr.DataArray(out, dims=dims, coords={d: moved[d] for d in dims if d in moved.coords})


def _slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``log y`` against ``log x`` along the last axis over the finite positive ``y``."""
    keep = np.isfinite(y) & (y > 0)
    lx = np.where(keep, np.log(x), 0.0)
    ly = np.log(np.where(keep, y, 1.0))
    count = keep.sum(-1)
    c = np.maximum(count, 1)[..., None]
    dx = np.where(keep, lx - lx.sum(-1, keepdims=True) / c, 0.0)
    dy = np.where(keep, ly - (ly * keep).sum(-1, keepdims=True) / c, 0.0)
    den = (dx * dx).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((count >= 2) & (den > 0), (dx * dy).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def log_slope(da: xr.DataArray, dim: str) -> xr.DataArray:
    """``d log y / d log x`` along ``dim``: the least-squares power-law exponent, per index of the other dims.

    ``x`` is the ``dim`` coordinate (positive), ``y`` the values of ``da``; non-finite and
    non-positive values are left out, and the slope is NaN with fewer than two left.
    """
    x = np.asarray(da[dim].values, dtype=float)
    if np.any(~(x > 0)):
        raise ValueError(f"coordinate {dim}={x.tolist()} is not allowed; allowed: positive values (a log axis)")
    return along(lambda y, c: _slope(c, np.asarray(y, dtype=float)), da, dim)


def finite(values: Any) -> np.ndarray:
    """The finite entries of ``values``, flattened; ``[nan]`` if there are none (a claim then fails, not crashes)."""
    v = np.asarray(values, dtype=float).ravel()
    keep = np.isfinite(v)
    return v[keep] if keep.any() else np.array([np.nan])


def span(values: Any) -> str:
    """``"lo to hi"`` of the finite entries of ``values`` (3 significant digits), for a claim's detail."""
    v = finite(values)
    return f"{np.min(v):.3g} to {np.max(v):.3g}"
