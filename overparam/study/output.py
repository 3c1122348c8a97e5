"""A study's result folder: atomic writes, figures with their data, and who owns what is in it.

Every file is written to a temporary name in the same folder and renamed into place, so an
interruption or a full disk leaves either the old file or the new one, never a truncated one
(docs/studies.md#the-result-folder). ``run.json`` marks a folder as a result folder of one study
and lists what the engine wrote there; a folder that holds anything else is refused, and only
the files it lists are removed by ``overwrite``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

RUN_FILE = "run.json"
RESULT_FILE = "result.json"
MEASURES_FILE = "measures.json"


class FolderError(ValueError):
    """A result folder that cannot be used as asked (foreign content, an earlier run, not writable)."""


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {obj!r}")


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


@dataclasses.dataclass
class Figure:
    """A figure a study produces: the matplotlib figure, a caption and the data it plots.

    ``caption`` says what is plotted against what theory. ``data`` (an ``xarray.Dataset``, a
    ``DataArray`` or a mapping of equal-length 1-D arrays) is written beside the figure as CSV.
    """

    name: str
    figure: Any
    caption: str = ""
    data: xr.Dataset | xr.DataArray | Mapping[str, Any] | None = None


def _csv(data: xr.Dataset | xr.DataArray | Mapping[str, Any]) -> str:
    if isinstance(data, xr.DataArray):
        data = data.to_dataset(name=data.name or "value")
    if isinstance(data, xr.Dataset):
        frame = data.to_dataframe()
        return frame.to_csv()
    columns = {k: np.asarray(v).ravel() for k, v in data.items()}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"figure data columns must have equal lengths, got {({k: len(v) for k, v in columns.items()})}")
    buf = io.StringIO()
    buf.write(",".join(columns) + "\n")
    for row in zip(*columns.values()):
        buf.write(",".join(repr(float(x)) if np.issubdtype(type(x), np.number) else str(x) for x in row) + "\n")
    return buf.getvalue()


def save_figure(fig: Figure, out: Path, dpi: int = 130) -> dict[str, Any]:
    """Write ``fig`` as ``name.png``, ``name.svg`` (and ``name.csv`` with its data) into ``out``.

    Returns the record kept in ``result.json``: name, caption and the file names.
    """
    files = {}
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.figure.savefig(buf, format=ext, dpi=dpi, bbox_inches="tight")
        write_bytes(out / f"{fig.name}.{ext}", buf.getvalue())
        files[ext] = f"{fig.name}.{ext}"
    if fig.data is not None:
        write_text(out / f"{fig.name}.csv", _csv(fig.data))
        files["csv"] = f"{fig.name}.csv"
    close = getattr(fig.figure, "_overparam_close", None)
    if callable(close):
        close()
    return {"name": fig.name, "caption": fig.caption, **files}


def _listed(marker: Mapping[str, Any]) -> set[str]:
    return set(marker.get("files", [])) | {RUN_FILE}


def prepare(out: Path, identity: Mapping[str, Any], *, resume: bool, overwrite: bool,
            same: Callable[[Mapping[str, Any]], bool]) -> bool:
    """Check that ``out`` may receive this run; return whether an earlier run of it is there to resume.

    ``out`` may be new or empty; or hold an earlier run (its ``run.json``) for which ``same`` is
    true, continued with ``resume`` or cleared with ``overwrite`` (only the files that run listed
    are removed). Anything else raises :class:`FolderError` and touches nothing.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FolderError(f"--out {str(out)!r} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return False
    marker = read_json(out / RUN_FILE)
    if not isinstance(marker, dict):
        raise FolderError(f"--out {str(out)!r} is not empty and holds no overparam result; choose another folder")
    if not same(marker):
        raise FolderError(f"--out {str(out)!r} holds a result of {marker.get('study')!r} "
                          f"(size {marker.get('size')!r}), not of {identity.get('study')!r} at size "
                          f"{identity.get('size')!r}; choose another folder")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in _listed(marker) and not p.name.startswith("."))
    if overwrite:
        for name in _listed(marker):
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        return False
    if not resume:
        state = marker.get("status", "unknown")
        raise FolderError(f"--out {str(out)!r} already holds a {state} run of {marker.get('study')!r}; "
                          "pass --resume to continue it or --overwrite to start afresh")
    del foreign  # files a user added are left alone on resume
    return True


def check_writable(out: Path) -> None:
    """Create ``out`` (and parents) or raise :class:`FolderError` saying why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".overparam-probe-", delete=True)
        probe.close()
    except OSError as error:
        raise FolderError(f"--out {str(out)!r} cannot be written: {error.strerror or error}") from None
