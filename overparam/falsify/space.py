"""Parameter spaces of a conjecture: real intervals (linear or log scale), integer ranges, finite choices.

A space is a mapping ``name -> Real(lo, hi, log=False) | Integer(lo, hi) | Choice(values)``. The
search works on its :class:`Box`: every point is a row ``x`` of ``d`` float64 numbers, one per
parameter in the space's order, holding

* the value itself for a :class:`Real` axis (``lo <= x <= hi``),
* the integer itself for an :class:`Integer` axis (exact in float64 up to ``2^53``),
* the *index* into ``values`` for a :class:`Choice` axis (``0 <= x < len(values)``).

The unit cube maps onto the box coordinate by coordinate: ``lo + u (hi - lo)`` for a linear real
axis, ``exp(log lo + u (log hi - log lo))`` for a log axis, ``lo + floor(u (hi - lo + 1))`` for an
integer axis and ``floor(u len(values))`` for a choice (the top end ``u = 1`` maps to the last
value). Only real axes with ``lo < hi`` are continuous; the search moves the others by neighbour
steps.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Union

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Box", "Choice", "Integer", "Real", "Space", "make_box"]

MAX_EXACT_INT = 2**53  # integers beyond this are not exact in the float64 rows of the design

REAL, INTEGER, CHOICE = 0, 1, 2


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


class Real(NamedTuple):
    """A real interval ``[lo, hi]``; ``log=True`` spreads the search uniformly in ``log x`` (needs ``lo > 0``).

    ``lo == hi`` fixes the parameter.
    """

    lo: float
    hi: float
    log: bool = False


class Integer(NamedTuple):
    """The integers ``lo, lo + 1, ..., hi`` (both ends included)."""

    lo: int
    hi: int


class Choice(NamedTuple):
    """A finite set of numbers; the first one listed is the simplest (shrinking moves toward it)."""

    values: tuple[float, ...]


Axis = Union[Real, Integer, Choice]
Space = Mapping[str, Axis]


class Box(NamedTuple):
    """A validated space in the search's own terms (all arrays have shape ``(d,)``).

    names: parameter names in order. kinds: ``REAL``, ``INTEGER`` or ``CHOICE`` per coordinate.
    lo, hi: the box of the rows (for a choice ``0`` and ``len(values) - 1``). log: log-scale real
    axes. choices: the values of each choice axis (an empty array for the others). integral:
    whether the parameter is passed to the margin as an integer (integer axes, all-integer choices).
    axes: the original axis declarations.
    """

    names: tuple[str, ...]
    kinds: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    log: np.ndarray
    choices: tuple[np.ndarray, ...]
    integral: np.ndarray
    axes: tuple[Axis, ...]

    @property
    def d(self) -> int:
        """Number of parameters."""
        return len(self.names)

    @property
    def continuous(self) -> np.ndarray:
        """Indices of the real axes with ``lo < hi`` (the coordinates that gradient steps move)."""
        return np.flatnonzero((self.kinds == REAL) & (self.hi > self.lo))

    @property
    def discrete(self) -> np.ndarray:
        """Indices of the integer and choice axes with more than one value (moved by neighbour steps)."""
        return np.flatnonzero((self.kinds != REAL) & (self.hi > self.lo))

    @property
    def anchor(self) -> np.ndarray:
        """Simplest value of each coordinate, shape ``(d,)``: the point of ``[lo, hi]`` nearest 0
        for real and integer axes, index 0 (the first value) for a choice."""
        near_zero = np.clip(0.0, self.lo, self.hi)
        return np.where(self.kinds == CHOICE, 0.0, near_zero)

    # ---------------------------------------------------------------- the unit cube

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Rows ``(N, d)`` of the box from points ``u`` ``(N, d)`` of ``[0, 1]^d`` (module docstring)."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        lo, hi = self.lo, self.hi
        with np.errstate(divide="ignore", invalid="ignore"):
            log_lo = np.log(np.where(self.log, lo, 1.0))
            log_hi = np.log(np.where(self.log, hi, 1.0))
        real = np.where(self.log, np.exp(log_lo + u * (log_hi - log_lo)), lo + u * (hi - lo))
        real = np.where(u <= 0.0, lo, np.where(u >= 1.0, hi, np.clip(real, lo, hi)))  # the ends exactly
        discrete = np.minimum(lo + np.floor(u * (hi - lo + 1.0)), hi)
        return np.where(self.kinds == REAL, real, discrete)

    def to_unit_jax(self, x: jax.Array) -> jax.Array:
        """Unit coordinates ``(d,)`` of a row ``x`` ``(d,)`` for the real axes (0 for the others)."""
        lo, hi, log = jnp.asarray(self.lo), jnp.asarray(self.hi), jnp.asarray(self.log)
        width = jnp.where(hi > lo, hi - lo, 1.0)
        safe = lambda v: jnp.log(jnp.where(log, v, 1.0))  # noqa: E731
        log_width = jnp.where(hi > lo, safe(hi) - safe(lo), 1.0)
        u = jnp.where(log, (safe(jnp.maximum(x, lo)) - safe(lo)) / log_width, (x - lo) / width)
        return jnp.where(jnp.asarray(self.kinds == REAL) & (hi > lo), jnp.clip(u, 0.0, 1.0), 0.0)

    def real_from_unit_jax(self, u: jax.Array) -> jax.Array:
        """Values ``(d,)`` of the real axes at unit coordinates ``u`` ``(d,)`` (differentiable in ``u``)."""
        lo, hi, log = jnp.asarray(self.lo), jnp.asarray(self.hi), jnp.asarray(self.log)
        safe = lambda v: jnp.log(jnp.where(log, v, 1.0))  # noqa: E731
        value = jnp.where(log, jnp.exp(safe(lo) + u * (safe(hi) - safe(lo))), lo + u * (hi - lo))
        exact = jnp.where(u <= 0.0, lo, jnp.where(u >= 1.0, hi, jnp.clip(value, lo, hi)))  # the ends exactly
        return value + jax.lax.stop_gradient(exact - value)  # ... with the smooth map's derivative everywhere

    # ---------------------------------------------------------------- rows and parameters

    def params_jax(self, x: jax.Array) -> dict[str, jax.Array]:
        """The margin's argument at row ``x`` ``(d,)``: name -> scalar array (float64, or int64 for
        integer axes and all-integer choices)."""
        out: dict[str, jax.Array] = {}
        for j, name in enumerate(self.names):
            v = x[j]
            if self.kinds[j] == CHOICE:
                values = jnp.asarray(self.choices[j])
                v = values[jnp.clip(jnp.round(v), 0, len(self.choices[j]) - 1).astype(jnp.int32)]
            elif self.kinds[j] == INTEGER:
                v = jnp.round(v).astype(jax.dtypes.canonicalize_dtype(np.int64))
            out[name] = v
        return out

    def params(self, x: np.ndarray) -> dict[str, int | float]:
        """Plain-Python parameters at row ``x`` ``(d,)``: name -> int or float (choices as their values)."""
        out: dict[str, int | float] = {}
        for j, name in enumerate(self.names):
            v = float(x[j])
            if self.kinds[j] == CHOICE:
                value = self.choices[j][int(round(v))]
                out[name] = int(value) if self.integral[j] else float(value)
            elif self.kinds[j] == INTEGER:
                out[name] = int(round(v))
            else:
                out[name] = v
        return out

    def row(self, params: Mapping[str, Any]) -> np.ndarray:
        """The row ``(d,)`` of a parameter mapping (the inverse of :meth:`params`); ValueError when a
        name is missing or a value lies outside its axis."""
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ValueError(f"params lacks {missing}; the space has {list(self.names)}")
        x = np.zeros(self.d)
        for j, name in enumerate(self.names):
            v = params[name]
            if not _is_number(v) or not math.isfinite(float(v)):
                raise ValueError(f"params[{name!r}] = {v!r} must be a finite number")
            if self.kinds[j] == CHOICE:
                hits = np.flatnonzero(self.choices[j] == float(v))
                if hits.size == 0:
                    raise ValueError(f"params[{name!r}] = {v!r} is not one of {self.choices[j].tolist()}")
                x[j] = float(hits[0])
            else:
                if not self.lo[j] <= float(v) <= self.hi[j]:
                    raise ValueError(f"params[{name!r}] = {v!r} lies outside [{self.lo[j]}, {self.hi[j]}]")
                if self.kinds[j] == INTEGER and float(v) != round(float(v)):
                    raise ValueError(f"params[{name!r}] = {v!r} must be an integer")
                x[j] = float(v)
        return x

    def describe(self) -> dict[str, dict[str, Any]]:
        """JSON-serialisable form, name -> ``{"real": [lo, hi], "log": bool}`` / ``{"integer": [lo, hi]}``
        / ``{"choice": [values]}``."""
        out: dict[str, dict[str, Any]] = {}
        for name, axis in zip(self.names, self.axes):
            if isinstance(axis, Real):
                out[name] = {"real": [float(axis.lo), float(axis.hi)], "log": bool(axis.log)}
            elif isinstance(axis, Integer):
                out[name] = {"integer": [int(axis.lo), int(axis.hi)]}
            else:
                out[name] = {"choice": [v.item() if isinstance(v, np.generic) else v for v in axis.values]}
        return out


def _real(name: str, axis: Real) -> Real:
    lo, hi, log = axis
    for label, v in (("lo", lo), ("hi", hi)):
        if not _is_number(v) or not math.isfinite(float(v)):
            raise ValueError(f"space[{name!r}].{label} = {v!r} must be a finite number")
    if float(lo) > float(hi):
        raise ValueError(f"space[{name!r}] = Real({lo!r}, {hi!r}) needs lo <= hi")
    if not isinstance(log, (bool, np.bool_)):
        raise ValueError(f"space[{name!r}].log = {log!r} must be True or False")
    if log and float(lo) <= 0:
        raise ValueError(f"space[{name!r}] = Real({lo!r}, {hi!r}, log=True) needs lo > 0 on a log scale")
    return Real(float(lo), float(hi), bool(log))


def _integer(name: str, axis: Integer) -> Integer:
    lo, hi = axis
    for label, v in (("lo", lo), ("hi", hi)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
            raise ValueError(f"space[{name!r}].{label} = {v!r} must be an integer")
        if abs(int(v)) > MAX_EXACT_INT:
            raise ValueError(f"space[{name!r}].{label} = {v!r} must lie in [-2^53, 2^53] (exact in float64)")
    if int(lo) > int(hi):
        raise ValueError(f"space[{name!r}] = Integer({lo!r}, {hi!r}) needs lo <= hi")
    return Integer(int(lo), int(hi))


def _choice(name: str, axis: Choice) -> tuple[Choice, np.ndarray, bool]:
    values = axis.values
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) or len(values) == 0:
        raise ValueError(f"space[{name!r}] = Choice({values!r}) needs a non-empty sequence of numbers")
    values = list(np.asarray(values).ravel()) if isinstance(values, np.ndarray) else list(values)
    for v in values:
        if not _is_number(v) or not math.isfinite(float(v)):
            raise ValueError(f"space[{name!r}] = Choice(...) has {v!r}; values must be finite numbers")
    integral = all(isinstance(v, (int, np.integer)) for v in values)
    if integral and any(abs(int(v)) > MAX_EXACT_INT for v in values):
        raise ValueError(f"space[{name!r}] = Choice(...) has integers beyond 2^53")
    arr = np.asarray(values, dtype=np.int64 if integral else np.float64)
    if len(np.unique(arr)) != len(arr):
        raise ValueError(f"space[{name!r}] = Choice({arr.tolist()}) has repeated values; they must be distinct")
    return Choice(tuple(v.item() if isinstance(v, np.generic) else v for v in values)), arr, integral


def make_box(space: Space) -> Box:
    """Validate ``space`` (name -> :class:`Real` | :class:`Integer` | :class:`Choice`) into a :class:`Box`.

    Raises ``ValueError`` naming the parameter and what is allowed.
    """
    if isinstance(space, Box):
        return space
    if not isinstance(space, Mapping) or len(space) == 0:
        raise ValueError(f"space must be a non-empty mapping name -> Real | Integer | Choice, got {space!r}")
    names, kinds, lo, hi, log, choices, integral, axes = [], [], [], [], [], [], [], []
    for name, axis in space.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"space names must be identifiers, got {name!r}")
        if isinstance(axis, Real):
            a = _real(name, axis)
            kinds.append(REAL), lo.append(a.lo), hi.append(a.hi), log.append(a.log)
            choices.append(np.zeros(0)), integral.append(False)
        elif isinstance(axis, Integer):
            a = _integer(name, axis)
            kinds.append(INTEGER), lo.append(float(a.lo)), hi.append(float(a.hi)), log.append(False)
            choices.append(np.zeros(0)), integral.append(True)
        elif isinstance(axis, Choice):
            a, arr, is_int = _choice(name, axis)
            kinds.append(CHOICE), lo.append(0.0), hi.append(float(len(arr) - 1)), log.append(False)
            choices.append(arr), integral.append(is_int)
        else:
            raise ValueError(f"space[{name!r}] = {axis!r} must be Real(lo, hi, log=False), Integer(lo, hi) "
                             "or Choice(values)")
        names.append(name)
        axes.append(a)
    return Box(tuple(names), np.asarray(kinds), np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64),
               np.asarray(log, dtype=bool), tuple(choices), np.asarray(integral, dtype=bool), tuple(axes))
