"""Input checks that run on the host, before anything is traced or compiled.

Every check raises a ``ValueError`` naming the argument, the offending value and the allowed range.
Checks are skipped for traced values (inside ``jit``/``vmap``), where the caller is responsible.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from scipy.special import logsumexp as _np_logsumexp

PRIOR_TOLERANCE = 1e-6


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds concrete values (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def _short(x: np.ndarray) -> str:
    return np.array2string(np.asarray(x).ravel()[:6], precision=4) + ("..." if np.size(x) > 6 else "")


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Check ``value`` is an integer >= ``minimum`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def nonnegative(name: str, value: Any) -> None:
    """Check every entry of ``value`` is finite and >= 0."""
    if not is_concrete(value):
        return
    v = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {_short(v)}")


def in_interval(name: str, value: Any, low: float, high: float, *, open_low: bool = False,
                open_high: bool = False) -> None:
    """Check every entry of ``value`` lies in the interval from ``low`` to ``high``."""
    if not is_concrete(value):
        return
    v = np.asarray(value, dtype=float)
    ok = np.isfinite(v) | (np.isinf(v) & ~open_high & (high == np.inf))
    ok &= (v > low) if open_low else (v >= low)
    ok &= (v < high) if open_high else (v <= high)
    if not np.all(ok):
        lb = "(" if open_low else "["
        rb = ")" if open_high else "]"
        raise ValueError(f"{name} must lie in {lb}{low}, {high}{rb}, got {_short(v)}")


def probabilities(name: str, p: Any, axis: int = -1, strictly_positive: bool = False) -> None:
    """Check ``p`` holds probability vectors along ``axis``: entries >= 0 (> 0 if asked), sums 1."""
    if not is_concrete(p):
        return
    v = np.asarray(p, dtype=float)
    if v.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {v.shape}")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"{name} must hold probabilities in [0, 1], got {_short(v)}")
    if strictly_positive and np.any(v <= 0):
        raise ValueError(f"{name} must hold probabilities in (0, 1] (log-likelihoods must be finite), "
                         f"got {_short(v)}")
    s = v.sum(axis=axis)
    if np.any(np.abs(s - 1.0) > PRIOR_TOLERANCE):
        raise ValueError(f"{name} must sum to 1 along axis {axis} (tolerance {PRIOR_TOLERANCE}), "
                         f"got sums {_short(s)}")


def log_prior(name: str, lw: Any) -> None:
    """Check ``lw`` (K,) is a normalised log-prior: K >= 1, entries < +inf, logsumexp = 0."""
    if not is_concrete(lw):
        return
    v = np.asarray(lw, dtype=float)
    if v.ndim != 1 or v.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty vector (K >= 1 hypotheses), got shape {v.shape}")
    if np.any(np.isnan(v)) or np.any(v == np.inf):
        raise ValueError(f"{name} must hold log-weights in [-inf, 0], got {_short(v)}")
    total = float(_np_logsumexp(v))
    if not abs(total) <= PRIOR_TOLERANCE:
        raise ValueError(f"{name} must normalise: logsumexp({name}) must be 0 within "
                         f"{PRIOR_TOLERANCE}, got {total:.6g}")


def finite(name: str, x: Any) -> None:
    """Check every entry of ``x`` is finite."""
    if not is_concrete(x):
        return
    v = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite, got {_short(v)}")


def positive(name: str, x: Any) -> None:
    """Check every entry of ``x`` is finite and > 0."""
    if not is_concrete(x):
        return
    v = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {_short(v)}")
