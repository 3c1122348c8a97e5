"""What a study is: one paper claim turned into a grid, runs, a theory overlay, figures and checks.

A study module in ``overparam/studies/`` defines a module-level ``STUDY`` object that satisfies
:class:`Study`. The registry (:func:`overparam.studies.registry`) discovers such modules, so a
new study is a new file and nothing else changes.

A study's ``run`` writes into its output folder:

* ``claims.json``   -- the list of :class:`Claim` (written with :func:`write_claims`);
* the figures it lists in :class:`StudyResult` (PNG and SVG);
* its dataset(s) (zarr directories or netCDF files).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

Size = Literal["quick", "paper"]
SIZES: tuple[str, ...] = ("quick", "paper")

CLAIMS_FILE = "claims.json"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checked statement: what the paper says, what the sandbox measured, pass or fail."""

    study: str
    paper: str
    claim: str
    measured: str
    expected: str
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class StudyResult:
    """What a study run produced; all paths are inside the study's output folder."""

    name: str
    out: Path
    claims: list[Claim]
    figures: list[Path] = dataclasses.field(default_factory=list)
    datasets: list[Path] = dataclasses.field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.claims)


@runtime_checkable
class Study(Protocol):
    """The interface every study satisfies."""

    name: str  # command-line name, e.g. "xiong-sym-vs-asym"
    paper: str  # short citation, e.g. "Xiong, Ding & Du 2023"
    description: str  # one line for `overparam list`

    def axes(self, size: Size) -> Mapping[str, Sequence[float]]:
        """The grid axes (name -> values) this study sweeps at ``size``; `--set` may override them."""
        ...

    def run(
        self,
        *,
        size: Size,
        out: Path,
        overrides: Mapping[str, Sequence[float]] | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> StudyResult:
        """Run the study at ``size`` into ``out`` and return what it produced."""
        ...


def write_claims(out: Path, claims: Sequence[Claim]) -> Path:
    """Write ``claims`` to ``out/claims.json`` and return the path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CLAIMS_FILE
    path.write_text(json.dumps([c.as_dict() for c in claims], indent=2) + "\n")
    return path


def read_claims(out: Path) -> list[Claim]:
    """Read the claims a study wrote into ``out`` (searching one level of sub-folders too)."""
    out = Path(out)
    files = [out / CLAIMS_FILE] if (out / CLAIMS_FILE).exists() else sorted(out.glob(f"*/{CLAIMS_FILE}"))
    claims: list[Claim] = []
    for f in files:
        claims.extend(Claim(**d) for d in json.loads(f.read_text()))
    return claims


class Produced(NamedTuple):
    """What :meth:`SetupStudy.produce` hands back: the checked claims, the figure and dataset paths, the setup."""

    claims: list[Claim]
    figures: list[Path]
    datasets: list[Path]
    setup: Any  # the study's Setup NamedTuple, recorded in setup.json


def check_size(size: str) -> None:
    """Raise ``ValueError`` unless ``size`` is one of :data:`SIZES`."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")


def merge_overrides(
    axes: Mapping[str, Sequence[float]], overrides: Mapping[str, Sequence[float]] | None
) -> dict[str, tuple[float, ...]]:
    """``axes`` with each axis named in ``overrides`` replaced by the given values (``--set``).

    Raises ``ValueError`` for an axis the study does not have or an empty list of values; the
    study then checks the values' ranges.
    """
    merged = {name: tuple(values) for name, values in axes.items()}
    for name, values in (overrides or {}).items():
        if name not in merged:
            raise ValueError(f"overrides: unknown axis {name!r}; this study's axes are {sorted(merged)}")
        values = tuple(values)
        if not values:
            raise ValueError(f"overrides: axis {name!r} needs at least one value")
        merged[name] = values
    return merged


def check_integers(name: str, values: Sequence[float], low: int = 0, min_count: int = 1) -> tuple[int, ...]:
    """``values`` as integers, sorted; ``ValueError`` unless there are ``min_count`` or more, all integers ``>= low``."""
    if len(values) < min_count or any(int(v) != v or v < low for v in values):
        raise ValueError(f"{name}={tuple(values)!r} must hold at least {min_count} integer(s) >= {low}")
    return tuple(sorted(int(v) for v in values))


class SetupStudy:
    """A study whose grid at each size is a ``Setup`` NamedTuple with an ``axes`` mapping.

    Subclasses set ``name``, ``paper``, ``description`` and ``setups`` (size -> Setup) and implement
    :meth:`produce`; ``run`` does the shared part: the output folder, ``claims.json``,
    ``setup.json`` and the wall time.
    """

    name: str
    paper: str
    description: str
    setups: Mapping[str, Any]
    # (setup, overrides) -> the validated grid; a study sets it to its own axis checks
    check_axes: Callable[[Any, Mapping[str, Sequence[float]] | None], dict[str, tuple[float, ...]]]

    def axes(self, size: Size) -> Mapping[str, Sequence[float]]:
        check_size(size)
        return dict(self.setups[size].axes)

    def grid(self, size: Size, overrides: Mapping[str, Sequence[float]] | None = None) -> dict[str, tuple[float, ...]]:
        """The grid a run at ``size`` with ``overrides`` would sweep, validated; nothing is computed.

        Raises ``ValueError`` (naming the axis, its values and what is allowed) for a bad size,
        an unknown axis or values out of the study's range.
        """
        check_size(size)
        return dict(type(self).check_axes(self.setups[size], overrides))

    def produce(
        self, *, size: Size, out: Path, overrides: Mapping[str, Sequence[float]] | None, resume: bool, progress: bool
    ) -> Produced:
        """Run the grid into ``out``, write figures and datasets, and return the claims."""
        raise NotImplementedError

    def run(
        self,
        *,
        size: Size,
        out: Path,
        overrides: Mapping[str, Sequence[float]] | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> StudyResult:
        start = time.perf_counter()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        produced = self.produce(size=size, out=out, overrides=overrides, resume=resume, progress=progress)
        write_claims(out, produced.claims)
        (out / "setup.json").write_text(json.dumps({**produced.setup._asdict(), "size": size}, indent=2) + "\n")
        return StudyResult(self.name, out, list(produced.claims), list(produced.figures), list(produced.datasets),
                           time.perf_counter() - start)
