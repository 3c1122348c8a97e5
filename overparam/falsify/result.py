"""What a search returns: plain data (NamedTuples of numbers, dicts and tuples), JSON-ready."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Histogram", "NonFinite", "Result", "margin_histogram"]

Params = dict[str, Any]


class Histogram(NamedTuple):
    """Counts of the finite margins between ``edges`` (``len(counts) == len(edges) - 1``).

    Edges are signed decades: ``-10^hi, ..., -10^lo, 0, 10^lo, ..., 10^hi`` spanning the margins
    seen, so the bins show how close to zero the margin came on either side. A margin exactly 0
    falls in the bin ``[0, 10^lo)``; the last bin includes its right edge.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]


class NonFinite(NamedTuple):
    """Points where the margin was NaN or infinite: how many, and the first ``examples`` of them as
    ``(params, value)`` pairs (value ``nan``, ``inf`` or ``-inf``). Never counterexamples."""

    count: int
    examples: tuple[tuple[Params, float], ...]


class Result(NamedTuple):
    """The outcome of :func:`overparam.falsify.falsify`.

    found: a point with a finite margin ``< 0`` was seen and its margin, re-evaluated alone in
      float64 (one jitted call, not batched), is ``< 0``.
    counterexample, counterexample_margin: the most violating point of stages 1 and 2 (name ->
      value) and its re-evaluated margin (``None`` when not found). Shrinking may pass through
      points more violating still; ``min_margin`` counts them.
    shrunk, shrunk_margin: the simplest violating point that shrinking reached (smaller integers,
      fewer significant digits, the box's corners), re-evaluated the same way.
    evaluated: margin evaluations per stage, ``{"design": N1, "refine": N2, "shrink": N3}`` (a
      gradient step counts as one evaluation of the margin).
    min_margin, argmin: the smallest finite margin seen in every stage and where.
    violations: how many evaluated points had a finite margin ``< 0``.
    histogram: :class:`Histogram` of all finite margins evaluated.
    nonfinite: :class:`NonFinite` (NaN and infinite margins, counted apart).
    seconds: wall-clock seconds per stage.
    gradient: how stage 2 moved the continuous coordinates: ``"reverse"`` (``jax.grad``),
      ``"forward"`` (``jax.jacfwd``) or ``"none"`` (compass moves: chosen when reverse mode
      cannot trace the margin, e.g. a ``while_loop``, or when there is no continuous parameter).
    space: the space searched (JSON form of :meth:`Box.describe`).
    """

    found: bool
    counterexample: Params | None
    counterexample_margin: float | None
    shrunk: Params | None
    shrunk_margin: float | None
    evaluated: dict[str, int]
    min_margin: float
    argmin: Params | None
    violations: int
    histogram: Histogram
    nonfinite: NonFinite
    seconds: dict[str, float]
    gradient: str
    space: dict[str, Any]

    @property
    def total_evaluated(self) -> int:
        """Margin evaluations over all stages."""
        return int(sum(self.evaluated.values()))

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"``)."""
        return _jsonable(self._asdict())

    def summary(self) -> str:
        """A few lines for a terminal: the verdict, the shrunk counterexample, the counts."""
        lines = []
        if self.found:
            lines.append(f"counterexample found: margin {self.shrunk_margin:.6g} at {_fmt(self.shrunk)}")
            lines.append(f"  most violating seen: margin {self.counterexample_margin:.6g} at {_fmt(self.counterexample)}")
        else:
            lines.append(f"no counterexample in {self.total_evaluated} points; smallest margin "
                         f"{self.min_margin:.6g} at {_fmt(self.argmin)}")
        stages = ", ".join(f"{k} {v}" for k, v in self.evaluated.items())
        lines.append(f"  evaluated: {stages}; violations {self.violations}; non-finite {self.nonfinite.count}")
        for params, value in self.nonfinite.examples[:3]:
            lines.append(f"  non-finite margin {value} at {_fmt(params)}")
        return "\n".join(lines)


def _fmt(params: Params | None) -> str:
    if params is None:
        return "-"
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return _jsonable(value._asdict())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def margin_histogram(margins: np.ndarray) -> Histogram:
    """:class:`Histogram` of the finite values of ``margins`` (any shape) on signed decades."""
    m = np.asarray(margins, dtype=np.float64).ravel()
    m = m[np.isfinite(m)]
    if m.size == 0:
        return Histogram((), ())
    mags = np.abs(m[m != 0])
    if mags.size == 0:
        lo = hi = 0
    else:
        lo = int(np.floor(np.log10(mags.min())))
        hi = int(np.ceil(np.log10(mags.max())))
        hi = max(hi, lo + 1)
    decades = np.asarray([float(f"1e{k}") for k in range(lo, hi + 1)])  # exact decimal edges
    edges = np.concatenate([-decades[::-1], [0.0], decades]) if m.min() < 0 else np.concatenate([[0.0], decades])
    if m.max() <= 0:
        edges = np.concatenate([-decades[::-1], [0.0], decades[:1]])
    counts, _ = np.histogram(np.clip(m, edges[0], edges[-1]), bins=edges)
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))
