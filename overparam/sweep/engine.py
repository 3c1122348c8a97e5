"""The sweep engine: evaluate a pure ``point(config, key)`` on every point of a grid.

The grid is flattened to a run axis (C order, see :mod:`overparam.sweep.grid`) and cut into
chunks of ``chunk_size`` runs. A chunk is one compiled, vmapped call whose run axis is sharded
over the local devices (``jax.make_mesh((n,), ("run",))``); the last partial chunk is padded to
the full chunk and trimmed, so every chunk reuses one compiled program. Run ``i`` draws its
randomness from ``jax.random.fold_in(key, i)`` inside the compiled function, so the numbers do
not depend on the chunk size, the number of devices or the number of processes.

Under ``jax.distributed.initialize`` with ``P`` processes, process ``p`` evaluates the chunks
``c`` with ``c % P == p`` on its own devices and writes them to the store; results are then read
back from the store (or all-gathered when there is none), so every process returns the full
dataset.
"""

from __future__ import annotations

import json
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from overparam import store as _store
from overparam.meta import run_metadata
from overparam.sweep.grid import Grid, make_grid

Point = Callable[[dict[str, jax.Array], jax.Array], Mapping[str, jax.Array]]

DEFAULT_CHUNK = 1024
CACHE_SIZE = 32  # jitted chunk evaluators kept (least recently used dropped first)

_COMPILED: OrderedDict[tuple[Any, ...], Callable[..., Any]] = OrderedDict()


def _evaluate(point: Point, key: jax.Array, index: jax.Array, config: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """``out[b] = point(config[b], fold_in(key, index[b]))`` for every run ``b`` of a chunk."""

    def one(i: jax.Array, cfg: dict[str, jax.Array]) -> Mapping[str, jax.Array]:
        return point(cfg, jax.random.fold_in(key, i))

    return dict(jax.vmap(one)(index, config))


def _compiled(point: Point, mesh: jax.sharding.Mesh) -> Callable[..., Any]:
    """One jitted chunk evaluator per (point, mesh), shared by every sweep of that point."""
    cache_key = (point, mesh)
    if cache_key in _COMPILED:
        _COMPILED.move_to_end(cache_key)
        return _COMPILED[cache_key]
    runs = NamedSharding(mesh, PartitionSpec("run"))
    _COMPILED[cache_key] = jax.jit(
        lambda key, index, config: _evaluate(point, key, index, config),
        in_shardings=(NamedSharding(mesh, PartitionSpec()), runs, runs),
        out_shardings=runs,
    )
    while len(_COMPILED) > CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return _COMPILED[cache_key]


def _key_data(key: jax.Array) -> list[int]:
    if not isinstance(key, jax.Array):
        raise ValueError(f"key must be a jax.random key, got {key!r}")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single key (shape ()), got shape {key.shape}")
        return np.asarray(jax.random.key_data(key)).ravel().tolist()
    if key.dtype != jnp.uint32 or key.shape != (2,):
        raise ValueError(f"key must be a jax.random key (typed, or uint32 of shape (2,)), got {key.dtype} {key.shape}")
    return np.asarray(key).tolist()


def _point_name(point: Point) -> str:
    name = getattr(point, "__qualname__", None) or type(point).__qualname__
    return f"{getattr(point, '__module__', '')}.{name}"


def _layout(
    point: Point,
    mesh: jax.sharding.Mesh,
    grid: Grid,
    key: jax.Array,
    chunk: int,
    padded: int,
    out_dims: Mapping[str, Sequence[str]],
    out_coords: Mapping[str, Sequence[Any]],
) -> _store.Layout:
    """Output shapes by abstract evaluation (nothing is compiled), checked against out_dims/out_coords."""
    runs = NamedSharding(mesh, PartitionSpec("run"))
    config = {a: jax.ShapeDtypeStruct((padded,), jax.dtypes.canonicalize_dtype(v.dtype), sharding=runs)
              for a, v in zip(grid.axes, grid.values)}
    index = jax.ShapeDtypeStruct((padded,), jnp.uint32, sharding=runs)
    shapes = _compiled(point, mesh).eval_shape(key, index, config)  # shares the jit trace: one trace per sweep
    if not isinstance(shapes, Mapping) or not shapes:
        raise ValueError(f"point must return a non-empty dict of arrays, got {shapes!r}")
    unknown = sorted(set(out_dims) - set(shapes))
    if unknown:
        raise ValueError(f"out_dims names outputs {unknown} that point does not return; outputs are {sorted(shapes)}")
    outputs: dict[str, _store.Output] = {}
    sizes: dict[str, int] = {}
    for name, s in shapes.items():
        if not isinstance(name, str) or not name.isidentifier() or name in grid.axes:
            raise ValueError(f"output name {name!r} must be an identifier distinct from the grid axes {grid.axes}")
        if not isinstance(s, jax.ShapeDtypeStruct):
            raise ValueError(f"output {name!r} must be an array, got {s!r}")
        trailing = tuple(s.shape[1:])
        dims = tuple(out_dims.get(name, tuple(f"{name}_dim_{j}" for j in range(len(trailing)))))
        if len(dims) != len(trailing):
            raise ValueError(f"out_dims[{name!r}] = {dims} has {len(dims)} names but the output has trailing shape {trailing}")
        for d, n in zip(dims, trailing):
            if d in grid.axes or sizes.get(d, n) != n:
                raise ValueError(f"output dim {d!r} of {name!r} clashes with a grid axis or another output's size")
            sizes[d] = n
        outputs[name] = _store.Output(trailing, np.dtype(s.dtype), dims)
    coords: dict[str, np.ndarray] = {}
    for dim, vals in out_coords.items():
        vals = np.asarray(vals)
        if dim not in sizes or vals.shape != (sizes[dim],):
            raise ValueError(f"out_coords[{dim!r}] has shape {vals.shape}; output dims and sizes are {sizes}")
        coords[dim] = vals
    return _store.Layout(grid.axes, grid.values, chunk, outputs, coords)


def _dataset(layout: _store.Layout, flat: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> xr.Dataset:
    shape = tuple(len(v) for v in layout.values)
    data_vars = {
        name: ((*layout.axes, *out.dims), np.asarray(flat[name]).reshape(shape + out.shape))
        for name, out in layout.outputs.items()
    }
    coords = {**dict(zip(layout.axes, layout.values)), **layout.coords}
    return xr.Dataset(data_vars, coords=coords, attrs=dict(attrs))


def _barrier(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _show_progress(progress: bool | None) -> bool:
    if jax.process_index() != 0:
        return False
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)


def run(
    point: Point,
    grid: Mapping[str, Sequence[int | float]],
    *,
    key: jax.Array,
    chunk_size: int | None = None,
    out_dims: Mapping[str, Sequence[str]] | None = None,
    out_coords: Mapping[str, Sequence[Any]] | None = None,
    store: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
    attrs: Mapping[str, Any] | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> xr.Dataset:
    """Evaluate ``point(config, fold_in(key, i))`` for every run ``i`` of ``grid``; return an xarray.Dataset.

    Args:
      point: pure, jit/vmap-able ``(config: dict axis -> scalar array, key) -> dict name -> array``.
      grid: axis -> non-empty sequence of distinct finite numbers. Integer axes stay integer.
      key: root PRNG key; run ``i`` (C-order index into the grid) uses ``jax.random.fold_in(key, i)``.
      chunk_size: runs per compiled call (default ``min(runs, 1024)``); peak memory scales with
        it. Each chunk is padded up to a multiple of the device count; the last partial chunk
        is padded to the full chunk and trimmed.
      out_dims: output name -> names of its trailing dims (default ``{name}_dim_{j}``).
      out_coords: trailing dim -> coordinate values.
      store: a zarr directory (see :mod:`overparam.store`); each chunk is written as soon as it
        is finished. ``None`` keeps results in memory.
      resume: continue a store made by the same sweep, skipping its finished chunks. A store
        made by a different grid, key, point, outputs, chunk size or ``attrs`` is refused.
      progress: tqdm bar over chunks (runs/s); ``None`` shows it only when stderr is a terminal.
      attrs: the caller's full configuration (JSON-serialisable); recorded in the dataset attrs
        (``config``) and part of the store fingerprint.
      devices: local devices to shard over (default: all local devices).

    Returns:
      Dataset with dims ``(*grid axes, *trailing dims)``, one data variable per output,
      coordinates for every grid axis (and ``out_coords``), and attrs: ``grid`` and ``config``
      (JSON), versions, git commit, x64 flag, device kind/count, ``wall_time_s``.
    """
    t0 = time.perf_counter()
    if not callable(point):
        raise ValueError(f"point must be callable, got {point!r}")
    g = make_grid(grid)
    key_data = _key_data(key)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"chunk_size must be an int >= 1 or None, got {chunk_size!r}")
    if resume and store is None:
        raise ValueError("resume=True needs a store path; got store=None")
    try:
        config = _store._canonical(dict(attrs or {}))  # noqa: SLF001
    except (TypeError, ValueError) as error:
        raise ValueError(f"attrs must be a JSON-serialisable mapping (str, int, float, lists, dicts): {error}") from None
    devs = list(jax.local_devices() if devices is None else devices)
    if not devs or any(d not in jax.local_devices() for d in devs):
        raise ValueError(f"devices must be a non-empty list of local devices, got {devices!r}")
    mesh = jax.make_mesh((len(devs),), ("run",), axis_types=(jax.sharding.AxisType.Auto,), devices=devs)
    n_runs = g.size
    chunk = int(min(n_runs, DEFAULT_CHUNK) if chunk_size is None else chunk_size)
    padded = -(-chunk // len(devs)) * len(devs)
    key_dev = jax.device_put(key, NamedSharding(mesh, PartitionSpec()))
    layout = _layout(point, mesh, g, key_dev, chunk, padded, out_dims or {}, out_coords or {})
    fingerprint = {
        "grid": g.as_dict(),
        "key": key_data,
        "point": _point_name(point),
        "outputs": {k: [list(o.shape), str(o.dtype), list(o.dims)] for k, o in layout.outputs.items()},
        "chunk_size": chunk,
        "config": config,
    }
    meta = {**run_metadata(devs), "grid": json.dumps(g.as_dict()), "config": json.dumps(config, sort_keys=True)}
    meta.update({k: v for k, v in config.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)
                 and k not in meta})

    writer: _store.Writer | None = None
    done = np.zeros(layout.n_chunks, dtype=bool)
    if store is not None:
        exists = _store.check_resumable(store, fingerprint, resume)
        _barrier("overparam-sweep-checked")
        if not exists and jax.process_index() == 0:
            _store.create(store, layout, fingerprint, meta)
        _barrier("overparam-sweep-created")
        writer = _store.Writer(store)
        done = writer.finished()

    nproc, pid = jax.process_count(), jax.process_index()
    owned = [c for c in range(layout.n_chunks) if c % nproc == pid]
    todo = [c for c in owned if not done[c]]
    results: dict[int, dict[str, np.ndarray]] = {}
    evaluate = _compiled(point, mesh)
    runs_sharding = NamedSharding(mesh, PartitionSpec("run"))

    def launch(c: int) -> tuple[int, int, Any]:
        start = c * chunk
        valid = min(chunk, n_runs - start)
        index = np.minimum(np.arange(start, start + padded), n_runs - 1)
        index[valid:] = start  # padding repeats the chunk's first run; trimmed below
        cfg = jax.device_put(g.configs(index), runs_sharding)
        return c, valid, evaluate(key_dev, jax.device_put(index.astype(np.uint32), runs_sharding), cfg)

    def finish(c: int, valid: int, out: Any) -> None:
        host = {name: np.asarray(v)[:valid] for name, v in out.items()}
        if writer is not None:
            writer.write_chunk(c, host)
        else:
            results[c] = host

    n_owned_runs = sum(min(chunk, n_runs - c * chunk) for c in owned)
    n_done_runs = sum(min(chunk, n_runs - c * chunk) for c in owned if done[c])
    with tqdm(total=n_owned_runs, initial=n_done_runs, unit="run", desc="sweep",
              disable=not _show_progress(progress), file=sys.stderr, dynamic_ncols=True) as bar:
        pending = None
        for c in todo:
            launched = launch(c)  # dispatch the next chunk before blocking on the previous one
            if pending is not None:
                finish(*pending)
                bar.update(pending[1])
            pending = launched
        if pending is not None:
            finish(*pending)
            bar.update(pending[1])

    _barrier("overparam-sweep-finished")
    wall = time.perf_counter() - t0
    if writer is not None:
        if pid == 0:
            writer.update_attrs({"wall_time_s": wall})
        _barrier("overparam-sweep-attrs")
        ds = _store.load(store)
        ds.attrs["wall_time_s"] = wall
        return ds
    flat = _gather(layout, owned, results) if nproc > 1 else {
        name: np.concatenate([results[c][name] for c in range(layout.n_chunks)]) for name in layout.outputs
    }
    return _dataset(layout, flat, {**meta, "wall_time_s": wall})


def _gather(layout: _store.Layout, owned: list[int], results: dict[int, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """All-gather every process's chunks (no store): chunk c comes from process c % P, slot c // P."""
    from jax.experimental import multihost_utils

    nproc = jax.process_count()
    slots = -(-layout.n_chunks // nproc)
    flat = {}
    for name, out in layout.outputs.items():
        local = np.zeros((slots, layout.chunk_size, *out.shape), dtype=out.dtype)
        for c in owned:
            local[c // nproc, : results[c][name].shape[0]] = results[c][name]
        every = np.asarray(multihost_utils.process_allgather(local, tiled=False))
        chunks = [every[c % nproc, c // nproc] for c in range(layout.n_chunks)]
        flat[name] = np.concatenate(chunks)[: layout.n_runs]
    return flat
