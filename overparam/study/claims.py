"""Claims as data: a statement, the measured number(s), a comparison and a bound; pass/fail is computed.

A study's ``claims`` function returns :class:`Claim` objects. Nothing in a claim says whether it
passed: :attr:`Claim.passed` compares ``measured`` against ``bound`` with ``comparison``, every
measured value must satisfy it, and a NaN never passes. The engine adds the study's name and
paper and stores the numbers in ``claims.json`` (:func:`claim_record`); the report and
``overparam show``/``compare`` format them (docs/studies.md#claims).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

COMPARISONS = ("<=", "<", ">=", ">", "==", "in")
CLAIMS_FILE = "claims.json"

Number = float | int | bool


def _numbers(value: Any) -> tuple[Number, ...]:
    if isinstance(value, (bool, np.bool_)):
        return (bool(value),)
    arr = np.asarray(value)
    if arr.dtype == bool:
        return tuple(bool(v) for v in arr.ravel())
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"claim values must be numbers or booleans, got {value!r}")
    return tuple(float(v) for v in arr.astype(float).ravel())


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checked statement of a paper, as numbers.

    Args:
      name: short stable identifier within the study (``"sublinear"``), used by ``compare``.
      statement: what the paper says, in words.
      measured: the measured value, or several (each must satisfy the comparison).
      comparison: one of ``<=``, ``<``, ``>=``, ``>``, ``==``, ``in``.
      bound: a number (or bool for ``==``), or ``(low, high)`` for ``in`` (inclusive).
      unit: unit of ``measured`` and ``bound`` (``"steps"``, ``"relative error"``), or ``""``.
      detail: how it was measured, in words (the runs, the fit), shown beside the numbers.
      labels: optional names for several measured values (``("k=4", "k=8")``).
    """

    name: str
    statement: str
    measured: Any
    comparison: str
    bound: Any
    unit: str = ""
    detail: str = ""
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"claim {self.name!r}: comparison must be one of {COMPARISONS}, got {self.comparison!r}")
        values = _numbers(self.measured)
        if not values:
            raise ValueError(f"claim {self.name!r}: measured holds no value")
        object.__setattr__(self, "measured", values)
        if self.comparison == "in":
            bound = tuple(float(b) for b in self.bound)
            if len(bound) != 2 or not bound[0] <= bound[1]:
                raise ValueError(f"claim {self.name!r}: 'in' needs bound = (low, high) with low <= high, got {self.bound!r}")
        else:
            (bound,) = _numbers(self.bound)
        object.__setattr__(self, "bound", bound)
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.labels and len(self.labels) != len(values):
            raise ValueError(f"claim {self.name!r}: {len(self.labels)} labels for {len(values)} measured values")

    @property
    def passed(self) -> bool:
        """Whether every measured value satisfies ``comparison`` against ``bound`` (NaN fails)."""
        return all(_holds(v, self.comparison, self.bound) for v in self.measured)

    def measured_text(self) -> str:
        """The measured values as text (labelled when there are labels)."""
        shown = [_fmt(v) for v in self.measured]
        if self.labels:
            shown = [f"{v} ({lab})" for v, lab in zip(shown, self.labels)]
        if len(shown) > 8:
            shown = shown[:4] + [f"... {len(shown) - 6} more ..."] + shown[-2:]
        text = ", ".join(shown) + (f" {self.unit}" if self.unit else "")
        return text + (f"; {self.detail}" if self.detail else "")

    def expected_text(self) -> str:
        """The comparison and bound as text (``"in [0.4, 0.65]"``, ``"<= 1e-09"``)."""
        if self.comparison == "in":
            text = f"in [{_fmt(self.bound[0])}, {_fmt(self.bound[1])}]"
        else:
            text = f"{self.comparison} {_fmt(self.bound)}"
        return text + (f" {self.unit}" if self.unit else "")


def _holds(v: Number, comparison: str, bound: Any) -> bool:
    if isinstance(v, float) and math.isnan(v):
        return False
    if comparison == "in":
        return bound[0] <= v <= bound[1]
    if comparison == "==":
        return v == bound
    if isinstance(bound, float) and math.isnan(bound):
        return False
    return {"<=": v <= bound, "<": v < bound, ">=": v >= bound, ">": v > bound}[comparison]


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def _json_number(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    v = float(v)
    return v if math.isfinite(v) else str(v)  # JSON has no NaN/inf: "nan", "inf", "-inf"


def _from_json(v: Any) -> Any:
    return float(v) if isinstance(v, str) else v


def claim_record(claim: Claim, study: str, paper: str) -> dict[str, Any]:
    """The JSON record of ``claim`` in ``claims.json``: its numbers, the study and the computed result."""
    bound = [_json_number(b) for b in claim.bound] if claim.comparison == "in" else _json_number(claim.bound)
    return {
        "study": study, "paper": paper, "name": claim.name, "statement": claim.statement,
        "measured": [_json_number(v) for v in claim.measured], "comparison": claim.comparison, "bound": bound,
        "unit": claim.unit, "detail": claim.detail, "labels": list(claim.labels), "passed": claim.passed,
    }


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """A claim as stored: the :class:`Claim` plus the study and paper it belongs to."""

    study: str
    paper: str
    claim: Claim

    @property
    def passed(self) -> bool:
        return self.claim.passed

    @property
    def name(self) -> str:
        return self.claim.name

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ClaimResult:
        bound = record["bound"]
        bound = tuple(_from_json(b) for b in bound) if isinstance(bound, list) else _from_json(bound)
        claim = Claim(record["name"], record["statement"], [_from_json(v) for v in record["measured"]],
                      record["comparison"], bound, record.get("unit", ""), record.get("detail", ""),
                      tuple(record.get("labels", ())))
        return cls(record["study"], record.get("paper", ""), claim)

    def record(self) -> dict[str, Any]:
        return claim_record(self.claim, self.study, self.paper)


def failure(study: str, paper: str, error: BaseException) -> ClaimResult:
    """The failed claim that stands for a study that raised ``error``."""
    text = " ".join(f"{type(error).__name__}: {error}".split())[:500]
    return ClaimResult(study, paper, Claim("completes", "the study runs to completion", False, "==", True,
                                           detail=text))


def dumps(results: Sequence[ClaimResult]) -> str:
    """``claims.json`` text for ``results``."""
    return json.dumps([r.record() for r in results], indent=2) + "\n"


def read(folder: str | Path) -> list[ClaimResult]:
    """The claims stored in ``folder/claims.json`` (and, for a reproduction, its study folders)."""
    folder = Path(folder)
    files = [folder / CLAIMS_FILE] if (folder / CLAIMS_FILE).is_file() else sorted(folder.glob(f"*/{CLAIMS_FILE}"))
    out: list[ClaimResult] = []
    for f in files:
        out.extend(ClaimResult.from_record(r) for r in json.loads(f.read_text()))
    return out
