"""A sweep grid: named axes of numbers, flattened to a leading run axis in C order.

Run ``i`` of a grid with axes ``(a_1, ..., a_d)`` of lengths ``(n_1, ..., n_d)`` is the point whose
axis indices are ``numpy.unravel_index(i, (n_1, ..., n_d))``: the last axis varies fastest.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import numpy as np


class Grid(NamedTuple):
    """A validated grid: axis names in order and one 1-D array of distinct values per axis."""

    axes: tuple[str, ...]
    values: tuple[np.ndarray, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of values of each axis, shape ``(d,)``."""
        return tuple(len(v) for v in self.values)

    @property
    def size(self) -> int:
        """Number of runs, the product of the axis lengths."""
        return math.prod(self.shape)

    def configs(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """The configurations of runs ``index`` (shape ``(B,)``): axis name -> values of shape ``(B,)``.

        Values are cast to JAX's canonical dtype of the axis (int64/float64 with x64 enabled,
        int32/float32 without), so they can be fed to a compiled function directly.
        """
        positions = np.unravel_index(np.asarray(index, dtype=np.int64), self.shape)
        return {
            name: vals[pos].astype(jax.dtypes.canonicalize_dtype(vals.dtype))
            for name, vals, pos in zip(self.axes, self.values, positions)
        }

    def as_dict(self) -> dict[str, list[int | float]]:
        """Plain-Python form (JSON-serialisable), axis name -> list of values."""
        return {name: vals.tolist() for name, vals in zip(self.axes, self.values)}


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _check_integers(name: str, vals: Sequence[numbers.Integral]) -> None:
    """Every value of integer axis ``name`` fits the canonical integer dtype the point receives."""
    dtype = np.dtype(jax.dtypes.canonicalize_dtype(np.int64))
    info = np.iinfo(dtype)
    for v in vals:
        if not info.min <= int(v) <= info.max:
            hint = "" if dtype == np.int64 else " (jax_enable_x64 is off; enable it for int64 values)"
            raise ValueError(f"grid axis {name!r} has integer value {int(v)} that does not fit {dtype.name}, the "
                             f"integer dtype the point receives{hint}; allowed: {info.min} .. {info.max}")


def make_grid(grid: Mapping[str, Sequence[int | float]]) -> Grid:
    """Validate ``grid`` (axis name -> non-empty sequence of distinct finite numbers) into a :class:`Grid`.

    An axis whose values are all integers keeps an integer dtype (int64); any float makes it
    float64. Integer values must fit JAX's canonical integer dtype (int64 with
    ``jax_enable_x64``, int32 without), since that is what the point receives: a larger value
    would wrap around silently. Raises ``ValueError`` naming the axis and the offending value.
    """
    if not isinstance(grid, Mapping) or len(grid) == 0:
        raise ValueError(f"grid must be a non-empty mapping axis -> values, got {grid!r}")
    axes: list[str] = []
    values: list[np.ndarray] = []
    for name, vals in grid.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"grid axis names must be identifiers, got {name!r}")
        if isinstance(vals, (str, bytes)) or not isinstance(vals, (Sequence, np.ndarray)):
            raise ValueError(f"grid axis {name!r} must be a sequence of numbers, got {vals!r}")
        vals = list(np.asarray(vals).ravel()) if isinstance(vals, np.ndarray) else list(vals)
        if len(vals) == 0:
            raise ValueError(f"grid axis {name!r} is empty; it needs at least one value")
        for v in vals:
            if not _is_number(v):
                raise ValueError(f"grid axis {name!r} has non-numeric value {v!r}; values must be int or float")
            if not math.isfinite(float(v)):
                raise ValueError(f"grid axis {name!r} has non-finite value {v!r}; values must be finite")
        integral = all(isinstance(v, numbers.Integral) for v in vals)
        if integral:
            _check_integers(name, vals)
        arr = np.asarray(vals, dtype=np.int64 if integral else np.float64)
        if len(np.unique(arr)) != len(arr):
            raise ValueError(f"grid axis {name!r} has repeated values {arr.tolist()}; values must be distinct")
        axes.append(name)
        values.append(arr)
    return Grid(tuple(axes), tuple(values))
