"""The record of one planted bug, shared by the per-area tables (``tests/mutation/<area>.py``)."""

from __future__ import annotations

from typing import NamedTuple

KINDS: tuple[str, ...] = (
    "factor",
    "sign",
    "exponent",
    "index",
    "transpose",
    "swap",
    "constant",
    "off-by-one",
)


class Mutation(NamedTuple):
    """One planted formula bug.

    name:  identifier, unique within its area, e.g. ``"scaled_gd_swapped_preconditioners"``.
    file:  path relative to the repository root, e.g. ``"sensing/algorithms.py"``.
    old:   exact source text; must occur exactly once in ``file``.
    new:   the replacement (the planted bug).
    tests: pytest node ids or paths, relative to the repository root, that should kill it.
    kind:  one of ``KINDS``.
    """

    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    kind: str
