"""The result store: a local zarr directory that a sweep fills chunk by chunk, and netCDF export.

On disk (zarr format 3, readable with ``zarr`` or ``xarray.open_zarr``) a sweep of ``N`` runs in
chunks of ``C`` runs holds

* one array per output, shape ``(N, *trailing)``, zarr-chunked ``(C, *trailing)`` along the flat
  ``run`` axis, so each sweep chunk is its own file(s) and processes never write the same file;
* ``chunk_done``, shape ``(ceil(N / C),)``, one file per entry, set only after a chunk's outputs
  are written: a killed sweep resumes from the chunks that are marked done;
* one coordinate array per grid axis and per trailing dimension that has coordinates;
* attributes: the sweep's fingerprint (grid, key, point, outputs, chunk size, config) checked on
  resume, and run metadata (versions, commit, x64, devices, wall time).

:func:`load` turns it back into the grid-shaped ``xarray.Dataset`` that ``sweep.run`` returns;
:func:`to_netcdf` writes that dataset to a single netCDF file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xarray as xr
import zarr

FINGERPRINT = "overparam_sweep"
DONE = "chunk_done"


class Output(NamedTuple):
    """One output of a point function: trailing shape, dtype and names of the trailing dims."""

    shape: tuple[int, ...]
    dtype: np.dtype
    dims: tuple[str, ...]


class Layout(NamedTuple):
    """Everything needed to lay out a store: grid axes and values, chunk size, outputs, coordinates."""

    axes: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    chunk_size: int
    outputs: dict[str, Output]
    coords: dict[str, np.ndarray]

    @property
    def n_runs(self) -> int:
        return math.prod(len(v) for v in self.values)

    @property
    def n_chunks(self) -> int:
        return -(-self.n_runs // self.chunk_size)


def _fill(dtype: np.dtype) -> Any:
    if np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating):
        return np.nan
    if np.issubdtype(dtype, np.bool_):
        return False
    return 0


def _canonical(obj: Any) -> Any:
    """JSON round trip, so fingerprints compare equal to what was read back from disk."""
    return json.loads(json.dumps(obj, sort_keys=True))


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a sweep store written by this module."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        return False
    try:
        return FINGERPRINT in zarr.open_group(str(path), mode="r").attrs
    except Exception:  # noqa: BLE001 - any unreadable folder is simply not a store
        return False


def check_resumable(path: str | Path, fingerprint: Mapping[str, Any], resume: bool) -> bool:
    """Read-only check before a sweep writes to ``path``; returns whether a matching store exists.

    Raises ``ValueError`` (and touches nothing) when ``path`` holds something that is not a
    store, when it holds a store and ``resume`` is false, or when the store was made by a
    different sweep (grid, key, point, outputs, chunk size or config differ).
    """
    path = Path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return False
    if not is_store(path):
        raise ValueError(f"store {str(path)!r} exists and is not a sweep store; choose an empty or new directory")
    if not resume:
        raise ValueError(f"store {str(path)!r} already holds a sweep; pass resume=True to continue it")
    stored = json.loads(zarr.open_group(str(path), mode="r").attrs[FINGERPRINT])
    wanted = _canonical(dict(fingerprint))
    differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if differ:
        details = "; ".join(f"{k}: store has {stored.get(k)!r}, this sweep has {wanted.get(k)!r}" for k in differ)
        raise ValueError(f"cannot resume {str(path)!r}: it was made by a different sweep ({details})")
    return True


def create(path: str | Path, layout: Layout, fingerprint: Mapping[str, Any], attrs: Mapping[str, Any]) -> None:
    """Create an empty store at ``path`` for ``layout`` (outputs filled with NaN / 0 / False)."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    n, c = layout.n_runs, layout.chunk_size
    for name, out in layout.outputs.items():
        group.create_array(
            name,
            shape=(n, *out.shape),
            chunks=(c, *out.shape),
            dtype=out.dtype,
            fill_value=_fill(out.dtype),
            dimension_names=("run", *out.dims),
        )
    for axis, vals in zip(layout.axes, layout.values):
        arr = group.create_array(axis, shape=vals.shape, dtype=vals.dtype, dimension_names=(axis,))
        arr[...] = vals
    for dim, vals in layout.coords.items():
        vals = np.asarray(vals)
        arr = group.create_array(dim, shape=vals.shape, dtype=vals.dtype, dimension_names=(dim,))
        arr[...] = vals
    group.create_array(DONE, shape=(layout.n_chunks,), chunks=(1,), dtype=bool, fill_value=False,
                       dimension_names=("chunk",))
    group.attrs.update(
        {
            **dict(attrs),
            FINGERPRINT: json.dumps(_canonical(dict(fingerprint)), sort_keys=True),
            "axes": json.dumps(list(layout.axes)),
            "outputs": json.dumps({k: list(o.dims) for k, o in layout.outputs.items()}),
            "chunk_size": c,
            "n_runs": n,
        }
    )


class Writer:
    """An open store that a process writes its finished chunks into."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.group = zarr.open_group(str(path), mode="r+")
        self.chunk_size = int(self.group.attrs["chunk_size"])

    def finished(self) -> np.ndarray:
        """Which chunks are complete, bool ``(n_chunks,)``."""
        return np.asarray(self.group[DONE][...], dtype=bool)

    def write_chunk(self, chunk: int, outputs: Mapping[str, np.ndarray]) -> None:
        """Write the outputs of chunk ``chunk`` (runs ``chunk*C ...``), then mark it done."""
        start = chunk * self.chunk_size
        for name, vals in outputs.items():
            self.group[name][start : start + vals.shape[0]] = vals
        self.group[DONE][chunk] = True

    def update_attrs(self, attrs: Mapping[str, Any]) -> None:
        self.group.attrs.update(dict(attrs))


def _dataset(group: zarr.Group) -> xr.Dataset:
    attrs = dict(group.attrs)
    axes = json.loads(attrs["axes"])
    outputs: dict[str, list[str]] = json.loads(attrs["outputs"])
    values = {a: np.asarray(group[a][...]) for a in axes}
    shape = tuple(len(values[a]) for a in axes)
    data_vars = {}
    trailing: set[str] = set()
    for name, dims in outputs.items():
        arr = np.asarray(group[name][...])
        data_vars[name] = ((*axes, *dims), arr.reshape(shape + arr.shape[1:]))
        trailing.update(dims)
    coords: dict[str, Any] = dict(values)
    for dim in sorted(trailing):
        if dim in group:
            coords[dim] = np.asarray(group[dim][...])
    keep = {k: v for k, v in attrs.items() if k not in (FINGERPRINT, "axes", "outputs")}
    keep["grid"] = json.dumps({a: values[a].tolist() for a in axes})
    fp = json.loads(attrs[FINGERPRINT])
    keep["config"] = json.dumps(fp.get("config", {}), sort_keys=True)
    return xr.Dataset(data_vars, coords=coords, attrs=keep)


def completion(path: str | Path) -> tuple[int, int]:
    """(finished chunks, total chunks) of the store at ``path``."""
    done = np.asarray(zarr.open_group(str(path), mode="r")[DONE][...], dtype=bool)
    return int(done.sum()), int(done.size)


def load(path: str | Path, *, allow_partial: bool = False) -> xr.Dataset:
    """The grid-shaped dataset held by the store at ``path`` (dims: grid axes + trailing dims).

    Raises ``ValueError`` if ``path`` is not a store, or if some chunks are unfinished and
    ``allow_partial`` is false (unfinished runs read as NaN / 0 / False when allowed).
    """
    if not is_store(path):
        raise ValueError(f"path {str(path)!r} is not a sweep store")
    done, total = completion(path)
    if done < total and not allow_partial:
        raise ValueError(f"store {str(path)!r} is unfinished ({done} of {total} chunks); resume the sweep first")
    return _dataset(zarr.open_group(str(path), mode="r"))


def to_netcdf(source: xr.Dataset | str | Path, file: str | Path) -> Path:
    """Write a sweep result (a dataset or a store path) to the single netCDF file ``file``.

    NetCDF-4 through h5netcdf when h5py is installed; otherwise netCDF-3 through scipy (integers
    narrowed to int32). Booleans are stored as int8 and read back as bool by xarray.
    """
    ds = source if isinstance(source, xr.Dataset) else load(source)
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        import h5py  # noqa: F401

        ds.to_netcdf(file, engine="h5netcdf")
    except ImportError:
        ds.to_netcdf(file, engine="scipy")
    return file
