"""What a study declares: settings, axes, sweeps and the pure functions of their results.

A study is data (docs/studies.md#declaring-a-study). The engine (:mod:`overparam.study.runner`)
does everything else the same way for every study: validation before compiling, dtype, store,
resume, progress, devices, timing, ``result.json``, figures and report.

* :class:`Setting` -- a non-grid scalar (``n``, ``steps``, a step size) with a default per size and
  an allowed range; ``--set name=value`` overrides it.
* :class:`Axis` -- a grid axis with default values per size and constraints that every value must
  meet; ``--set name=v1,v2`` replaces its values. :func:`seeds` makes a seed axis.
* :class:`Sweep` -- a pure ``point(config, key[, setup])`` evaluated by :func:`overparam.sweep.run`
  over the study's axes (or a sub-grid of them).
* :class:`Compute` -- a plain function ``fn(setup) -> xarray.Dataset`` for results that are not a
  vmapped sweep (a theory table, a reference comparison).
* :class:`Study` -- the declaration: name, paper, link, settings, axes, sweeps and the optional
  ``measure``, ``claims`` and ``figures``.

:meth:`Study.plan` turns a size and the ``--set`` values into a validated :class:`Setup` without
computing anything; the dry run and the real run share it.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

SIZES: tuple[str, ...] = ("quick", "paper")
SEED_LIMIT = 2**63 - 1  # seeds are folded in with all 64 bits (overparam.sweep.seed_key)

Value = int | float | bool | str


def check_size(size: str) -> str:
    """``size`` if it is one of :data:`SIZES`, else ``ValueError``."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    return size


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def _in_range(v: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> bool:
    if low is not None and (v <= low if low_open else v < low):
        return False
    if high is not None and (v >= high if high_open else v > high):
        return False
    return True


@dataclasses.dataclass(frozen=True)
class Setting:
    """A non-grid scalar of a study with a default per size and an allowed range.

    The type of ``quick`` fixes the setting's type: ``int`` (integral values only), ``float``,
    ``bool`` or ``str`` (then ``choices`` lists the allowed strings). ``paper`` defaults to
    ``quick``. ``low``/``high`` bound a number (inclusive unless ``low_open``/``high_open``).
    """

    quick: Value
    paper: Value | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Value, ...] | None = None
    doc: str = ""

    @property
    def kind(self) -> type:
        return bool if isinstance(self.quick, bool) else int if _is_int(self.quick) else (
            float if _is_real(self.quick) else str)

    def default(self, size: str) -> Value:
        """The default value at ``size``."""
        return self.quick if size == "quick" or self.paper is None else self.paper

    def check(self, name: str, value: Any) -> Value:
        """``value`` (a number, bool or string, e.g. from ``--set``) as this setting's type, validated.

        Raises ``ValueError`` naming the setting, the value and what is allowed.
        """
        kind = self.kind
        allowed = self.describe()
        if isinstance(value, str) and kind is not str:
            text = value.strip()
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(f"setting {name}={value!r} must be true or false")
                value = text.lower() in ("true", "1")
            else:
                try:
                    value = int(text) if kind is int else float(text)
                except ValueError:
                    try:
                        as_float = float(text)
                    except ValueError:
                        raise ValueError(f"setting {name}={value!r} is not a number; allowed: {allowed}") from None
                    value = as_float
        if kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"setting {name}={value!r} must be true or false")
            return bool(value)
        if kind is str:
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                raise ValueError(f"setting {name}={value!r} is not allowed; allowed: {allowed}")
            return value
        if not _is_real(value) or not math.isfinite(float(value)):
            raise ValueError(f"setting {name}={value!r} must be a finite number; allowed: {allowed}")
        if kind is int:
            if float(value) != int(value):
                raise ValueError(f"setting {name}={value!r} must be an integer; allowed: {allowed}")
            value = int(value)
        else:
            value = float(value)
        if not _in_range(value, self.low, self.high, self.low_open, self.high_open):
            raise ValueError(f"setting {name}={value!r} is out of range; allowed: {allowed}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"setting {name}={value!r} is not allowed; allowed: {allowed}")
        return value

    def describe(self) -> str:
        """What values are allowed, in words (``"an integer >= 2"``)."""
        kind = self.kind
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        if kind is bool:
            return "true or false"
        if kind is str:
            return "a string"
        rng = _range_text(self.low, self.high, self.low_open, self.high_open)
        return ("an integer" if kind is int else "a number") + (f" {rng}" if rng else "")


@dataclasses.dataclass(frozen=True)
class Axis:
    """A grid axis: default values per size and the constraints every value must meet.

    ``integer`` axes hold integers only. ``low``/``high`` bound every value (inclusive unless
    ``low_open``/``high_open``); ``min_count`` is the fewest values a grid may hold. Values are
    sorted and must be distinct.
    """

    quick: tuple[float, ...]
    paper: tuple[float, ...] | None = None
    integer: bool | None = None  # None: integer when every default value is an int
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    min_count: int = 1
    doc: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "quick", tuple(self.quick))
        if self.paper is not None:
            object.__setattr__(self, "paper", tuple(self.paper))
        if self.integer is None:
            values = self.quick + (self.paper or ())
            object.__setattr__(self, "integer", all(_is_int(v) for v in values))

    def default(self, size: str) -> tuple[float, ...]:
        """The default values at ``size``."""
        return self.quick if size == "quick" or self.paper is None else self.paper

    def describe(self) -> str:
        """What values are allowed, in words."""
        rng = _range_text(self.low, self.high, self.low_open, self.high_open)
        kind = "integers" if self.integer else "numbers"
        count = f"at least {self.min_count} distinct " if self.min_count > 1 else "distinct "
        return f"{count}{kind}" + (f" {rng}" if rng else "")

    def check(self, name: str, values: Sequence[Any]) -> tuple[int, ...] | tuple[float, ...]:
        """``values`` validated and sorted; ``ValueError`` naming the axis, the value and what is allowed."""
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, range)):
            raise ValueError(f"axis {name}={values!r} must be a sequence of numbers; allowed: {self.describe()}")
        values = list(values)
        if len(values) < self.min_count:
            raise ValueError(f"axis {name} has {len(values)} value(s) {tuple(values)}; allowed: {self.describe()}")
        out = []
        for v in values:
            if isinstance(v, np.generic):
                v = v.item()
            if not _is_real(v) or not math.isfinite(float(v)):
                raise ValueError(f"axis {name} value {v!r} must be a finite number; allowed: {self.describe()}")
            if self.integer:
                if float(v) != int(v):
                    raise ValueError(f"axis {name} value {v!r} must be an integer; allowed: {self.describe()}")
                v = int(v)
            else:
                v = float(v)
            if not _in_range(v, self.low, self.high, self.low_open, self.high_open):
                raise ValueError(f"axis {name} value {v!r} is out of range; allowed: {self.describe()}")
            out.append(v)
        if len(set(out)) != len(out):
            raise ValueError(f"axis {name}={tuple(values)} repeats a value; allowed: {self.describe()}")
        return tuple(sorted(out))


def seeds(quick: int | Sequence[int] = 2, paper: int | Sequence[int] | None = None, doc: str = "") -> Axis:
    """A seed axis: integers in ``[0, 2^63 - 1]``; an int ``s`` means ``range(s)``.

    Points should derive keys with :func:`overparam.sweep.seed_key`, which uses every bit of a
    seed (``jax.random.fold_in`` alone keeps only the low 32 bits).
    """
    as_tuple = lambda v: tuple(range(v)) if isinstance(v, int) else tuple(v)  # noqa: E731
    return Axis(as_tuple(quick), None if paper is None else as_tuple(paper), integer=True, low=0,
                high=SEED_LIMIT, doc=doc or "random seed")


class Setup(Mapping[str, Value]):
    """The validated plan of one run of a study: size, settings (by name or attribute) and axes.

    ``setup.n`` and ``setup["n"]`` are the setting ``n``; ``setup.axes["rank"]`` the values of axis
    ``rank``; ``setup.grids[sweep]`` the grid that sweep evaluates. A ``Setup`` is hashable and
    immutable, so a point function may close over it (its values become compile-time constants).
    """

    __slots__ = ("size", "settings", "axes", "grids")

    def __init__(self, size: str, settings: Mapping[str, Value], axes: Mapping[str, tuple],
                 grids: Mapping[str, Mapping[str, tuple]]) -> None:
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "settings", dict(settings))
        object.__setattr__(self, "axes", dict(axes))
        object.__setattr__(self, "grids", {k: dict(v) for k, v in grids.items()})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Setup is immutable")

    def __getattr__(self, name: str) -> Value:
        settings = object.__getattribute__(self, "settings")
        if name in settings:
            return settings[name]
        raise AttributeError(f"no setting {name!r}; settings are {sorted(settings)}")

    def __getitem__(self, name: str) -> Value:
        return self.settings[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.settings)

    def __len__(self) -> int:
        return len(self.settings)

    def _key(self) -> tuple:
        freeze = lambda d: tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v)  # noqa: E731
                                        for k, v in d.items()))
        return (self.size, freeze(self.settings), freeze(self.axes),
                tuple(sorted((k, freeze(v)) for k, v in self.grids.items())))

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Setup) and self._key() == other._key()

    def __repr__(self) -> str:
        return f"Setup(size={self.size!r}, settings={self.settings!r}, axes={self.axes!r})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: size, settings, axes and grids."""
        return {"size": self.size, "settings": dict(self.settings),
                "axes": {k: list(v) for k, v in self.axes.items()},
                "grids": {s: {k: list(v) for k, v in g.items()} for s, g in self.grids.items()}}


def _arity(fn: Callable[..., Any]) -> int:
    """Number of positional parameters ``fn`` accepts (``inf`` with ``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 99
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def call_with(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn`` called with as many of ``args`` (in order) as it accepts positionally."""
    return fn(*args[: min(len(args), _arity(fn))])


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A pure point function evaluated over a grid by :func:`overparam.sweep.run`.

    ``point(config, key)`` or ``point(config, key, setup)``: ``config`` maps axis name to a scalar
    array, ``key`` is run ``i``'s key ``fold_in(root, i)``, ``setup`` the :class:`Setup` (static:
    shapes, step counts). It returns a dict of arrays.

    ``axes``: the study axes this sweep evaluates (default: all of them, in the study's order).
    ``fixed``: axes held at one value, ``name -> value`` or ``name -> fn(setup) -> value`` (e.g. the
    smallest init scale). ``out_dims``/``out_coords``: as in :func:`overparam.sweep.run`, or
    functions of the setup. ``seed`` is the root key's seed. ``chunk_size`` overrides the engine's
    default chunking; ``runs_per_device`` asks for chunks of that many runs per device instead (a
    point whose working set is large gains nothing from batching runs; see
    :func:`overparam.sweep.run`). ``--chunk-size`` on the command line overrides both.
    """

    point: Callable[..., Mapping[str, Any]]
    axes: tuple[str, ...] | None = None
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    out_dims: Mapping[str, Sequence[str]] | Callable[[Setup], Mapping[str, Sequence[str]]] | None = None
    out_coords: Mapping[str, Sequence[Any]] | Callable[[Setup], Mapping[str, Sequence[Any]]] | None = None
    seed: int = 0
    chunk_size: int | None = None
    runs_per_device: int | None = None

    def bind(self, setup: Setup) -> Callable[[Mapping[str, Any], Any], Mapping[str, Any]]:
        """The two-argument point function of this sweep at ``setup``."""
        point = self.point
        if _arity(point) >= 3:
            def bound(config: Mapping[str, Any], key: Any) -> Mapping[str, Any]:
                return point(config, key, setup)

            bound.__name__ = bound.__qualname__ = getattr(point, "__qualname__", "point")
            bound.__module__ = getattr(point, "__module__", "")
            return bound
        return point


@dataclasses.dataclass(frozen=True)
class Compute:
    """A result that is not a vmapped sweep: ``fn(setup) -> xarray.Dataset``, stored as netCDF.

    On resume a stored result made with the same setup and package version is read back instead
    of computed again.
    """

    fn: Callable[[Setup], Any]


Measure = Callable[..., Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class Study:
    """A study, declared (docs/studies.md#declaring-a-study).

    Args:
      name: command-line name (``"xiong-sym-vs-asym"``).
      paper: short citation (``"Xiong, Ding & Du 2023"``); ``link``: the paper's address.
      description: one line for ``overparam list``.
      sweeps: sweep name -> :class:`Sweep` or :class:`Compute`.
      axes: axis name -> :class:`Axis` (a plain sequence is an axis with those values at every size).
      settings: setting name -> :class:`Setting` (a plain value is a setting with that default).
      measure: ``measure(data[, setup]) -> dict name -> number or array``; ``data`` maps sweep
        name -> ``xarray.Dataset``.
      claims: ``claims(measured[, setup[, data]]) -> list[Claim]``.
      figures: ``figures(data[, setup[, measured]]) -> list[Figure]``.
      check: ``check(setup)``: cross-checks between settings and axes (raise ``ValueError``), run
        before anything is computed.
      dtype: ``"float64"`` or ``"float32"``: the precision the study runs in (scoped, not global).
    """

    name: str
    sweeps: Mapping[str, Sweep | Compute]
    axes: Mapping[str, Axis | Sequence[float]] = dataclasses.field(default_factory=dict)
    settings: Mapping[str, Setting | Value] = dataclasses.field(default_factory=dict)
    paper: str = ""
    link: str = ""
    description: str = ""
    measure: Measure | None = None
    claims: Callable[..., Sequence[Any]] | None = None
    figures: Callable[..., Sequence[Any]] | None = None
    check: Callable[[Setup], None] | None = None
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"Study name must be a non-empty string without spaces, got {self.name!r}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"Study {self.name!r}: dtype must be 'float64' or 'float32', got {self.dtype!r}")
        axes = {k: v if isinstance(v, Axis) else Axis(tuple(v)) for k, v in self.axes.items()}
        settings = {k: v if isinstance(v, Setting) else Setting(v) for k, v in self.settings.items()}
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "settings", settings)
        if not self.sweeps:
            raise ValueError(f"Study {self.name!r} declares no sweeps")
        for sname, sw in self.sweeps.items():
            if not isinstance(sw, (Sweep, Compute)):
                raise ValueError(f"Study {self.name!r}: sweep {sname!r} must be a Sweep or a Compute, got {sw!r}")
            if isinstance(sw, Sweep):
                unknown = [a for a in (sw.axes or ()) + tuple(sw.fixed) if a not in axes]
                if unknown:
                    raise ValueError(f"Study {self.name!r}: sweep {sname!r} names unknown axes {unknown}")
        clash = set(axes) & set(settings)
        if clash:
            raise ValueError(f"Study {self.name!r}: {sorted(clash)} are both axes and settings")

    def plan(self, size: str = "quick", overrides: Mapping[str, Any] | None = None) -> Setup:
        """The validated :class:`Setup` of a run at ``size`` with ``overrides``; nothing is computed.

        ``overrides`` maps an axis name to its new values (a sequence) or a setting name to its new
        value. Raises ``ValueError`` (naming the name, the value and what is allowed) for a bad
        size, an unknown name or a value out of range, and whatever ``check`` raises.
        """
        check_size(size)
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.axes) - set(self.settings))
        if unknown:
            known = ", ".join(list(self.axes) + list(self.settings)) or "none"
            raise ValueError(f"unknown axis or setting {unknown[0]!r} for study {self.name!r}; known: {known}")
        settings: dict[str, Value] = {}
        for name, spec in self.settings.items():
            raw = overrides.get(name, spec.default(size))
            if name in overrides and isinstance(raw, (list, tuple)):
                if len(raw) != 1:
                    raise ValueError(f"setting {name} takes one value, got {tuple(raw)}")
                raw = raw[0]
            settings[name] = spec.check(name, raw)
        axes: dict[str, tuple] = {}
        for name, spec in self.axes.items():
            raw = overrides.get(name, spec.default(size))
            if not isinstance(raw, (list, tuple, range, np.ndarray)):
                raw = (raw,)
            axes[name] = spec.check(name, raw)
        provisional = Setup(size, settings, axes, {})
        grids: dict[str, dict[str, tuple]] = {}
        for sname, sw in self.sweeps.items():
            if not isinstance(sw, Sweep):
                continue
            names = sw.axes if sw.axes is not None else tuple(a for a in axes if a not in sw.fixed)
            grid = {a: axes[a] for a in names}
            for a, value in sw.fixed.items():
                v = value(provisional) if callable(value) else value
                grid[a] = dataclasses.replace(self.axes[a], min_count=1).check(a, (v,))
            grids[sname] = {a: grid[a] for a in axes if a in grid}
        setup = Setup(size, settings, axes, grids)
        if self.check is not None:
            self.check(setup)
        return setup
