"""The falsifier inside ordinary pytest tests, and spaces built from the strategies of :mod:`overparam.testing`.

.. code-block:: python

    import jax.numpy as jnp
    from overparam.falsify import Real, Integer
    from overparam.falsify.testing import check, holds

    def test_am_gm():                       # a plain test that fails with the shrunk counterexample
        check(lambda p: (p["x"] + p["y"]) / 2 - jnp.sqrt(p["x"] * p["y"]),
              {"x": Real(1e-3, 1e3, log=True), "y": Real(1e-3, 1e3, log=True)}, budget=4000)

    @holds({"n": Integer(1, 64), "x": Real(0.0, 1.0)}, budget=4000)
    def test_bernoulli_inequality(p):       # the decorated margin is the test
        n = p["n"].astype(float)
        return (1.0 + p["x"]) ** n - (1.0 + n * p["x"])

:func:`space_from` turns ``overparam.testing.sensing_params`` and ``overparam.testing.rf_tasks``
(with the same keyword ranges, defaults and validation) into spaces whose names are the fields
of ``SensingParams`` / ``RFTaskParams``, so ``SensingParams(**params)`` rebuilds the tuple.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import jax

from overparam import testing as _strategies
from overparam.falsify.result import Result
from overparam.falsify.search import Margin, falsify
from overparam.falsify.space import Axis, Integer, Real, Space

__all__ = ["check", "holds", "space_from"]

MAX_SEED = 2**31 - 1
# fields drawn log-uniformly by the strategies (overparam.testing: _scalar(..., log=True))
_STRATEGIES: dict[Callable[..., Any], tuple[type, frozenset[str]]] = {
    _strategies.sensing_params: (_strategies.SensingParams, frozenset({"init_scale", "step_size"})),
    _strategies.rf_tasks: (_strategies.RFTaskParams, frozenset({"ridge"})),
}


def space_from(strategy: Callable[..., Any], **ranges: Any) -> dict[str, Axis]:
    """The space of ``strategy(**ranges)``: ``strategy`` is ``overparam.testing.sensing_params`` or
    ``overparam.testing.rf_tasks``; ``ranges`` are its keyword ranges (its defaults otherwise).

    The strategy itself validates the ranges (the same ``ValueError``); ``seed`` becomes
    ``Integer(0, 2^31 - 1)``, integer fields ``Integer(lo, hi)``, the log-uniform fields (scales,
    step sizes, ridges) ``Real(lo, hi, log=True)`` and the others ``Real(lo, hi)``; a range with
    ``lo == hi`` fixes the field.
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {[f.__name__ for f in _STRATEGIES]} from overparam.testing, "
                         f"got {strategy!r}")
    fields_type, log_fields = _STRATEGIES[strategy]
    strategy(**ranges)  # the strategy's own validation (ValueError naming the range)
    defaults = {name: p.default for name, p in inspect.signature(strategy).parameters.items()}
    unknown = sorted(set(ranges) - set(defaults))
    if unknown:
        raise ValueError(f"{strategy.__name__} has no range {unknown}; it has {sorted(defaults)}")
    chosen = {**defaults, **ranges}
    hints = typing.get_type_hints(fields_type)
    space: dict[str, Axis] = {}
    for name in fields_type._fields:
        if name == "seed":
            space[name] = Integer(0, MAX_SEED)
            continue
        lo, hi = chosen[name]
        if hints[name] is int:
            space[name] = Integer(int(lo), int(hi))
        else:
            space[name] = Real(float(lo), float(hi), log=name in log_fields)
    return space


def check(margin: Margin, space: Space, *, budget: int, key: jax.Array | None = None,
          allow_nonfinite: bool = False, **options: Any) -> Result:
    """Run :func:`overparam.falsify.falsify` and fail like a property test.

    Raises ``AssertionError`` naming the shrunk counterexample, its margin (re-evaluated alone in
    float64) and the most violating point when one is found, and, unless ``allow_nonfinite``,
    when the margin was NaN or infinite somewhere (with examples). ``key`` defaults to
    ``jax.random.key(0)``, so a test sees the same points on every run. ``options`` go to
    ``falsify`` (``steps``, ``refine``, ``chunk_size``, ...). Returns the :class:`Result`.
    """
    options = {"progress": False, **options}
    result = falsify(margin, space, key=jax.random.key(0) if key is None else key, budget=budget, **options)
    if result.found:
        raise AssertionError(
            f"counterexample: margin {result.shrunk_margin!r} < 0 at {result.shrunk} "
            f"(most violating: margin {result.counterexample_margin!r} at {result.counterexample}; "
            f"{result.violations} violations in {result.total_evaluated} points)")
    if result.nonfinite.count and not allow_nonfinite:
        examples = "; ".join(f"{value} at {params}" for params, value in result.nonfinite.examples)
        raise AssertionError(f"the margin is NaN or infinite at {result.nonfinite.count} of "
                             f"{result.total_evaluated} points, e.g. {examples}")
    return result


def holds(space: Space, *, budget: int, key: jax.Array | None = None, allow_nonfinite: bool = False,
          **options: Any) -> Callable[[Margin], Callable[[], None]]:
    """Decorator: the decorated margin becomes a zero-argument test that calls :func:`check`.

    The test keeps the margin's name, docstring and module (so pytest collects ``test_*``), and
    the margin stays reachable as ``test.margin`` with its space as ``test.space``.
    """

    def wrap(margin: Margin) -> Callable[[], None]:
        def test() -> None:
            check(margin, space, budget=budget, key=key, allow_nonfinite=allow_nonfinite, **dict(options))

        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(test, attr, getattr(margin, attr, None))
        test.margin = margin  # type: ignore[attr-defined]
        test.space = space  # type: ignore[attr-defined]
        return test

    return wrap
