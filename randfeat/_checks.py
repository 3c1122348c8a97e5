"""Input validation shared by the public functions: fail early with a ValueError that names the
argument, its value and the accepted range, before anything is traced or compiled.

Values that are JAX tracers (inside ``jit`` / ``vmap``) cannot be inspected and are passed through.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array, or ``None`` when it is an abstract tracer."""
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value)


def _describe(arr: np.ndarray) -> str:
    if arr.size == 1:
        return repr(arr.reshape(()).item())
    bad = arr.ravel()
    return f"array of shape {arr.shape} (min {np.nanmin(bad) if np.isfinite(bad).any() else bad[0]!r})"


def check(name: str, value: Any, ok: Any, allowed: str) -> None:
    """Raise ``ValueError`` unless ``ok`` holds everywhere (``ok`` computed from ``value``)."""
    if ok is None:
        return
    if not np.all(ok):
        arr = np.asarray(value)
        if arr.size > 1:
            arr = arr[~np.broadcast_to(np.asarray(ok), arr.shape)]
            arr = arr[:1]
        raise ValueError(f"{name} = {_describe(arr)} is out of range; allowed: {allowed}")


def finite(name: str, value: Any) -> None:
    arr = concrete(value)
    if arr is not None:
        check(name, arr, np.isfinite(arr), "finite numbers")


def at_least(name: str, value: Any, low: float, *, allow_inf: bool = False) -> None:
    """``value >= low`` everywhere (and finite unless ``allow_inf``); NaN is rejected."""
    arr = concrete(value)
    if arr is None:
        return
    ok = (arr >= low) & (np.isfinite(arr) | (allow_inf & (arr == np.inf)))
    extra = " or +inf" if allow_inf else ""
    check(name, arr, ok, f">= {low}{extra}")


def positive(name: str, value: Any) -> None:
    arr = concrete(value)
    if arr is not None:
        check(name, arr, (arr > 0) & np.isfinite(arr), "finite numbers > 0")


def greater_than(name: str, value: Any, low: float) -> None:
    arr = concrete(value)
    if arr is not None:
        check(name, arr, (arr > low) & np.isfinite(arr), f"finite numbers > {low}")


def int_at_least(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} = {value!r} is out of range; allowed: integers >= {low}")
    return int(value)
