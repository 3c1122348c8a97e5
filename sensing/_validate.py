"""Argument checks that run in Python before anything is traced or compiled.

Each check raises a ``ValueError`` that names the argument, the offending value and the
accepted range. Values that are JAX tracers (inside ``jit`` / ``vmap``) cannot be inspected and
are let through unchanged; concrete arrays and Python numbers are checked.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np


def _concrete(value: Any) -> np.ndarray | None:
    """Return ``value`` as a NumPy array, or ``None`` when it is traced (unknown until run time)."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value)
    except Exception:  # noqa: BLE001 - anything not convertible is not checkable here
        return None


def integer(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    """Check that ``value`` is a Python integer in ``[low, high]`` and return it."""
    allowed = f"[{low}, {'inf' if high is None else high}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a Python integer in {allowed}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name}={value} is out of range; allowed range is {allowed}")
    return int(value)


def real(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """Check that every entry of a concrete ``value`` is finite-or-inf real within the interval.

    Traced values are returned unchecked. The interval is ``[low, high]`` with either end made open
    by ``low_open`` / ``high_open``.
    """
    arr = _concrete(value)
    if arr is None:
        return value
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    allowed = f"{left}{low}, {high}{right}"
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}={value!r} must be a real number in {allowed}")
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name}={value!r} is NaN; allowed range is {allowed}")
    below = arr <= low if low_open else arr < low
    above = arr >= high if high_open else arr > high
    if np.any(below) or np.any(above):
        raise ValueError(f"{name}={value!r} is out of range; allowed range is {allowed}")
    return value


def finite(name: str, value: Any) -> Any:
    """Check that a concrete array has only finite entries (traced values pass)."""
    arr = _concrete(value)
    if arr is not None and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} has {bad} non-finite entries (NaN or inf); allowed: finite real values"
        )
    return value


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Check that ``value`` is one of the strings in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; allowed values are {allowed}")
    return value
