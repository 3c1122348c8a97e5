"""The result store: a local zarr directory that a sweep fills chunk by chunk, and netCDF export.

On disk (zarr format 3, readable with ``zarr`` or ``xarray.open_zarr``) a sweep of ``N`` runs in
chunks of ``C`` runs holds

* one array per output, shape ``(N, *trailing)``, zarr-chunked ``(C, *trailing)`` along the flat
  ``run`` axis, so each sweep chunk is its own file(s) and processes never write the same file;
* ``chunk_record``, uint8 ``(ceil(N / C), 8 + 32 n_outputs)``, one file per chunk, written in
  one write after the chunk's outputs: bytes ``0:8`` the per-device batch the chunk was computed
  with (int64, little-endian; ``0`` = not done: this is the done flag, so a chunk killed while
  being written is never marked done), then for each output in the order of the ``outputs``
  attribute the SHA-256 of its chunk as written (its C-order bytes, valid runs x trailing
  shape, in the stored dtype). Results are bit-identical between chunks computed with the same
  batch (see :func:`overparam.sweep.run`). Format 1 stores had a bool ``chunk_done`` instead;
  they are read, checked for readability only;
* one coordinate array per grid axis and per trailing dimension that has coordinates;
* attributes: the sweep's fingerprint, checked on resume (grid, key, point name, SHA-256 of the
  point's lowered program, overparam and jax versions, outputs, chunk size, config), the
  ``store_format`` (2), and run metadata (versions, commit, x64, devices, wall time).

Every finished chunk is checked against its record when the store is read: :func:`verify`
reports damaged (unreadable or checksum mismatch) and missing (file deleted) chunks without
raising, :func:`load` refuses a store that has any, and ``sweep.run(..., resume=True)``
recomputes exactly those chunks and the unfinished ones.

:func:`load` turns a store back into the grid-shaped ``xarray.Dataset`` that ``sweep.run``
returns; :func:`to_netcdf` writes that dataset to a single netCDF file.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xarray as xr
import zarr

FINGERPRINT = "overparam_sweep"
RECORD = "chunk_record"  # format 2: per chunk, batch (int64 LE, 0 = not done) + SHA-256 of each output
DONE = "chunk_done"  # format 1: per chunk, bool done flag, no checksums
FORMAT = 2

# what a differing fingerprint entry means, for the refusal message
_CHANGED = {
    "program": "the point function's program differs: its code, a constant it closes over, the x64 setting "
               "or the jax version changed",
    "overparam_version": "the overparam version differs",
    "jax_version": "the jax version differs",
}


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


class Verification(NamedTuple):
    """What :func:`verify` found in a store.

    ``finished`` counts the chunks marked done whose data match their record; ``damaged`` lists
    the chunks marked done whose data cannot be read or do not match their SHA-256 (or whose
    record cannot be read), ``missing`` those marked done whose data file is gone. Both must be
    recomputed (``sweep.run(..., resume=True)`` does). ``sizes`` (dim -> length) and
    ``variables`` (output names) come from the metadata alone.
    """

    finished: int
    total: int
    damaged: tuple[int, ...]
    missing: tuple[int, ...]
    sizes: dict[str, int]
    variables: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Every chunk is finished and intact."""
        return self.finished == self.total


def _fill(dtype: np.dtype) -> Any:
    if np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating):
        return np.nan
    if np.issubdtype(dtype, np.bool_):
        return False
    return 0


def _canonical(obj: Any) -> Any:
    """JSON round trip, so fingerprints compare equal to what was read back from disk."""
    return json.loads(json.dumps(obj, sort_keys=True))


def sha256(values: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """SHA-256 of the C-order bytes of ``values`` (cast to ``dtype`` first), as uint8 ``(32,)``."""
    arr = np.ascontiguousarray(values, dtype=dtype)
    return np.frombuffer(hashlib.sha256(arr.tobytes()).digest(), dtype=np.uint8)


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a sweep store written by this module."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        return False
    try:
        return FINGERPRINT in zarr.open_group(str(path), mode="r").attrs
    except Exception:  # noqa: BLE001 - any unreadable folder is simply not a store
        return False


def _differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    differ.sort(key=lambda k: k != "program")  # what the point computes first
    out = []
    for k in differ:
        if k in _CHANGED:
            out.append(f"{_CHANGED[k]} (store has {str(stored.get(k))[:16]!r}, this sweep has {str(wanted.get(k))[:16]!r})")
        else:
            out.append(f"{k}: store has {stored.get(k)!r}, this sweep has {wanted.get(k)!r}")
    return out


def stored_chunk_size(path: str | Path) -> int | None:
    """The chunk size of the store at ``path``, or ``None`` when ``path`` is not a store."""
    if not is_store(path):
        return None
    return int(zarr.open_group(str(path), mode="r").attrs["chunk_size"])


def check_resumable(path: str | Path, fingerprint: Mapping[str, Any], resume: bool) -> bool:
    """Read-only check before a sweep writes to ``path``; returns whether a matching store exists.

    Raises ``ValueError`` (and touches nothing) when ``path`` holds something that is not a
    store, when it holds a store and ``resume`` is false, or when the store was made by a
    different sweep: the message says which fingerprint entries differ (the point's program,
    grid, key, outputs, chunk size, config, versions) and how to start afresh.
    """
    path = Path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return False
    if not is_store(path):
        raise ValueError(f"store {str(path)!r} exists and is not a sweep store; choose an empty or new directory")
    if not resume:
        raise ValueError(f"store {str(path)!r} already holds a sweep; pass resume=True to continue it")
    stored = json.loads(zarr.open_group(str(path), mode="r").attrs[FINGERPRINT])
    details = _differences(stored, _canonical(dict(fingerprint)))
    if details:
        raise ValueError(f"cannot resume {str(path)!r}: it was made by a different sweep ({'; '.join(details)}); "
                         f"nothing was written. To start afresh, delete {str(path)!r} or choose another store path")
    return True


def _os_error(error: OSError, what: str, path: Path) -> OSError:
    return OSError(error.errno, f"{what} the store {str(path)!r} failed ({error.strerror or error})")


def create(path: str | Path, layout: Layout, fingerprint: Mapping[str, Any], attrs: Mapping[str, Any]) -> None:
    """Create an empty store at ``path`` for ``layout`` (outputs filled with NaN / 0 / False)."""
    try:
        _create(path, layout, fingerprint, attrs)
    except OSError as error:
        raise _os_error(error, "creating", Path(path)) from error


def _create(path: str | Path, layout: Layout, fingerprint: Mapping[str, Any], attrs: Mapping[str, Any]) -> None:
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
    width = 8 + 32 * len(layout.outputs)
    group.create_array(RECORD, shape=(layout.n_chunks, width), chunks=(1, width), dtype=np.uint8, fill_value=0,
                       dimension_names=("chunk", "record_byte"))
    group.attrs.update(
        {
            **dict(attrs),
            FINGERPRINT: json.dumps(_canonical(dict(fingerprint)), sort_keys=True),
            "axes": json.dumps(list(layout.axes)),
            "outputs": json.dumps({k: list(o.dims) for k, o in layout.outputs.items()}),
            "chunk_size": c,
            "n_runs": n,
            "store_format": FORMAT,
        }
    )


class Writer:
    """An open store that a process writes its finished chunks into.

    ``batch`` is the per-device batch this process computes chunks with; it is recorded with
    every chunk it writes.
    """

    def __init__(self, path: str | Path, batch: int = 0) -> None:
        self.path = Path(path)
        self.group = zarr.open_group(str(path), mode="r+")
        self.chunk_size = int(self.group.attrs["chunk_size"])
        self.names = list(json.loads(self.group.attrs["outputs"]))
        self.batch = int(batch)

    def finished(self) -> np.ndarray:
        """Which chunks are finished and intact, bool ``(n_chunks,)``: marked done and matching their record."""
        return _status(self.path, self.group).intact

    def status(self) -> _Status:
        """Finished-and-intact mask, damaged and missing chunks (see :func:`verify`)."""
        return _status(self.path, self.group)

    def mark_unfinished(self, chunks: Sequence[int]) -> None:
        """Clear the done flag of ``chunks`` (damaged or missing ones, before they are recomputed)."""
        try:
            for c in chunks:
                self.group[RECORD][int(c)] = 0
        except OSError as error:
            raise _os_error(error, "writing to", self.path) from error

    def write_chunk(self, chunk: int, outputs: Mapping[str, np.ndarray]) -> None:
        """Write the outputs of chunk ``chunk`` (runs ``chunk*C ...``), then its record, which marks it done.

        An ``OSError`` (disk full, ...) leaves the chunk not marked done, so a resume recomputes
        it; it is raised again with a message naming the store and the chunk.
        """
        start = chunk * self.chunk_size
        try:
            digests = []
            for name in self.names:
                arr = self.group[name]
                vals = np.asarray(outputs[name])
                arr[start : start + vals.shape[0]] = vals
                digests.append(sha256(vals, arr.dtype))
            self.group[RECORD][chunk] = _pack(max(self.batch, 1), digests)
        except OSError as error:
            raise OSError(error.errno, f"writing chunk {chunk} to the store {str(self.path)!r} failed "
                          f"({error.strerror or error}); the chunk is not marked done: make room and run "
                          f"again with resume=True to compute it") from error

    def update_attrs(self, attrs: Mapping[str, Any]) -> None:
        try:
            self.group.attrs.update(dict(attrs))
        except OSError as error:
            raise _os_error(error, "writing to", self.path) from error


def _pack(batch: int, digests: Sequence[np.ndarray]) -> np.ndarray:
    """A chunk's record: batch as int64 little-endian, then the SHA-256 of each output, uint8 ``(8 + 32 n,)``."""
    return np.concatenate([np.frombuffer(np.int64(batch).astype("<i8").tobytes(), dtype=np.uint8), *digests])


def _unpack(record: np.ndarray) -> tuple[int, np.ndarray]:
    """(batch, SHA-256 digests ``(n, 32)``) of a record; batch 0: the chunk is not done."""
    record = np.asarray(record, dtype=np.uint8)
    return int(np.frombuffer(record[:8].tobytes(), dtype="<i8")[0]), record[8:].reshape(-1, 32)


def _records(group: zarr.Group, k: int) -> tuple[list[int | None], list[np.ndarray | None]]:
    """Per chunk: the batch (0: not done) and the digests, or ``None`` where the record cannot be read."""
    if RECORD not in group:  # format 1: a done flag, no record
        flags = _per_chunk(group[DONE], k)
        return [None if f is None else int(bool(f)) for f in flags], [None] * k
    batches: list[int | None] = []
    digests: list[np.ndarray | None] = []
    for rec in _per_chunk(group[RECORD], k):
        batch, digest = (None, None) if rec is None else _unpack(rec)
        batches.append(batch)
        digests.append(digest)
    return batches, digests


class _Status(NamedTuple):
    intact: np.ndarray  # bool (n_chunks,): marked done and matching the record
    damaged: tuple[int, ...]
    missing: tuple[int, ...]
    data: dict[str, np.ndarray] | None  # every output read whole, when that succeeded


def _read(arr: Any, sel: Any = Ellipsis) -> np.ndarray | None:
    """``arr[sel]`` as an array, or ``None`` when it cannot be read (damaged file, codec error)."""
    try:
        return np.asarray(arr[sel])
    except Exception:  # noqa: BLE001 - zstd, truncated or foreign bytes: reported, never raised
        return None


def _per_chunk(arr: Any, k: int) -> list[np.ndarray | None]:
    whole = _read(arr)
    if whole is not None:
        return list(whole)
    return [_read(arr, c) for c in range(k)]


def _read_whole(arr: Any, chunk: int, k: int) -> tuple[np.ndarray, set[int]]:
    """Every run of ``arr``, and the chunks that could not be read (filled with NaN / 0 / False)."""
    whole = _read(arr)
    if whole is not None:
        return whole, set()
    out = np.full(arr.shape, _fill(arr.dtype), dtype=arr.dtype)
    bad = set()
    for c in range(k):
        part = _read(arr, slice(c * chunk, (c + 1) * chunk))
        if part is None:
            bad.add(c)
        else:
            out[c * chunk : c * chunk + part.shape[0]] = part
    return out, bad


def _status(path: Path, group: zarr.Group, read_all: bool = False) -> _Status:
    """Check every chunk marked done against its record (legacy stores: readability only).

    With ``read_all`` every output is read once, whole (chunks that cannot be read are filled
    with NaN / 0 / False), and returned in ``data``; otherwise only finished chunks are read.
    """
    attrs = group.attrs
    chunk, n_runs = int(attrs["chunk_size"]), int(attrs["n_runs"])
    names = list(json.loads(attrs["outputs"]))
    k = -(-n_runs // chunk)
    flags, records = _records(group, k)
    has_record = RECORD in group
    data: dict[str, np.ndarray] | None = None
    unreadable: dict[str, set[int]] = {}
    if read_all:
        data = {}
        for name in names:
            data[name], unreadable[name] = _read_whole(group[name], chunk, k)
    intact = np.zeros(k, dtype=bool)
    damaged: list[int] = []
    missing: list[int] = []
    for c in range(k):
        flag = flags[c]
        if flag is None:  # the record (or done flag) itself is unreadable: recompute the chunk
            damaged.append(c)
            continue
        if not flag:
            continue
        start, stop = c * chunk, min(n_runs, (c + 1) * chunk)
        state = "ok"
        for j, name in enumerate(names):
            arr = group[name]
            if data is not None:
                vals = None if c in unreadable[name] else data[name][start:stop]
            else:
                vals = _read(arr, slice(start, stop))
            if vals is None:
                state = "damaged"
                break
            if has_record and not np.array_equal(sha256(vals, arr.dtype), records[c][j]):
                key = arr.metadata.encode_chunk_key((c,) + (0,) * (arr.ndim - 1))
                state = "missing" if not (path / name / key).is_file() else "damaged"
                break
        if state == "ok":
            intact[c] = True
        else:
            (missing if state == "missing" else damaged).append(c)
    return _Status(intact, tuple(damaged), tuple(missing), data)


def _sizes(group: zarr.Group) -> tuple[dict[str, int], tuple[str, ...]]:
    axes = json.loads(group.attrs["axes"])
    outputs: dict[str, list[str]] = json.loads(group.attrs["outputs"])
    sizes = {a: int(group[a].shape[0]) for a in axes}
    for name, dims in outputs.items():
        sizes.update({d: int(n) for d, n in zip(dims, group[name].shape[1:])})
    return sizes, tuple(outputs)


def verify(path: str | Path) -> Verification:
    """Check every finished chunk of the store at ``path`` against its SHA-256 record.

    Never raises on a damaged chunk: unreadable files (zstd errors, truncation, foreign bytes),
    checksum mismatches and deleted files are all reported. Raises ``ValueError`` only when
    ``path`` is not a sweep store. Stores written before the record existed (format 1) are
    checked for readability only.
    """
    if not is_store(path):
        raise ValueError(f"path {str(path)!r} is not a sweep store")
    group = zarr.open_group(str(path), mode="r")
    status = _status(Path(path), group)
    sizes, variables = _sizes(group)
    return Verification(int(status.intact.sum()), int(status.intact.size), status.damaged, status.missing,
                        sizes, variables)


def _dataset(group: zarr.Group, data: Mapping[str, np.ndarray] | None = None) -> xr.Dataset:
    attrs = dict(group.attrs)
    axes = json.loads(attrs["axes"])
    outputs: dict[str, list[str]] = json.loads(attrs["outputs"])
    values = {a: np.asarray(group[a][...]) for a in axes}
    shape = tuple(len(values[a]) for a in axes)
    data_vars = {}
    trailing: set[str] = set()
    for name, dims in outputs.items():
        arr = np.asarray(group[name][...]) if data is None else data[name]
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
    if RECORD in group:
        batches = sorted({b for b in _records(group, -(-int(attrs["n_runs"]) // int(attrs["chunk_size"])))[0] if b})
        if batches:
            keep["per_device_batch"] = batches[0] if len(batches) == 1 else json.dumps(batches)
    return xr.Dataset(data_vars, coords=coords, attrs=keep)


def completion(path: str | Path) -> tuple[int, int]:
    """(chunks marked done, total chunks) of the store at ``path``; :func:`verify` also checks their data."""
    group = zarr.open_group(str(path), mode="r")
    k = -(-int(group.attrs["n_runs"]) // int(group.attrs["chunk_size"]))
    flags = _records(group, k)[0]
    return sum(1 for f in flags if f), k


def _chunk_list(chunks: Sequence[int]) -> str:
    shown = ", ".join(map(str, chunks[:20]))
    return shown + (f" and {len(chunks) - 20} more" if len(chunks) > 20 else "")


def load(path: str | Path, *, allow_partial: bool = False, verify: bool = True) -> xr.Dataset:
    """The grid-shaped dataset held by the store at ``path`` (dims: grid axes + trailing dims).

    Every finished chunk is checked against its SHA-256 record first (``verify=False`` skips
    that; a damaged file may then raise from zarr). Raises ``ValueError`` if ``path`` is not a
    store, if a finished chunk is damaged or missing (the message names the chunks; resume the
    sweep to recompute them), or if some chunks are unfinished and ``allow_partial`` is false
    (unfinished runs read as NaN / 0 / False when allowed).
    """
    if not is_store(path):
        raise ValueError(f"path {str(path)!r} is not a sweep store")
    group = zarr.open_group(str(path), mode="r")
    data = None
    if verify:
        status = _status(Path(path), group, read_all=True)
        if status.damaged or status.missing:
            parts = []
            if status.damaged:
                parts.append(f"chunks {_chunk_list(status.damaged)} are damaged (unreadable or not matching "
                             f"their checksum)")
            if status.missing:
                parts.append(f"chunks {_chunk_list(status.missing)} are missing (their files were deleted)")
            raise ValueError(f"store {str(path)!r}: {' and '.join(parts)}; run the sweep again with resume=True "
                             f"(or --resume) to recompute them")
        data = status.data
        done, total = int(status.intact.sum()), int(status.intact.size)
    else:
        done, total = completion(path)
    if done < total and not allow_partial:
        raise ValueError(f"store {str(path)!r} is unfinished ({done} of {total} chunks); resume the sweep first")
    return _dataset(group, data)


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
