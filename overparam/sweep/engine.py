"""The sweep engine: evaluate a pure ``point(config, key)`` on every point of a grid.

The grid is flattened to a run axis (C order, see :mod:`overparam.sweep.grid`) and cut into
chunks of ``chunk_size`` runs. A chunk is one compiled, vmapped call whose run axis is sharded
over the local devices (``jax.make_mesh((n,), ("run",))``), ``ceil(chunk_size / n)`` runs per
device (the per-device batch); the last partial chunk is padded to the full chunk and trimmed,
so every chunk reuses one compiled program. Run ``i`` draws its randomness from
``jax.random.fold_in(key, i)`` inside the compiled function, so which random numbers a run uses
does not depend on the chunk size, the number of devices or the number of processes (how the
floating-point arithmetic rounds can: see :func:`run`).

Before anything is compiled, the point is traced once with abstract scalars; the chunk
evaluator runs that very trace (its jaxpr), so the point is traced once per signature. A sweep
with a store also lowers the single-run program to StableHLO (for CPU, whatever the backend)
and records the SHA-256 of that text in the store's fingerprint. The text is printed without
debug info, so it holds no source locations or addresses: the same point gives the same hash in
any process, and the hash changes with the point's code and with every constant it closes
over. The fingerprint also holds the overparam and jax versions, grid, key, outputs, chunk size
and config; a resume whose fingerprint differs is refused (see
:func:`overparam.store.check_resumable`). The single-run program does not depend on the device
or process count, so a store may be resumed on another number of devices. Each chunk written
to the store is followed by its SHA-256 record and then its done flag (see
:mod:`overparam.store`); a resume recomputes unfinished, damaged and missing chunks.

SIGINT and SIGTERM during :func:`run` (main thread only) stop the sweep at the next chunk
boundary: the chunk in flight is finished and written, then :class:`Interrupted` is raised. A
second signal stops it at once, as it would without the sweep (the chunk in flight is lost,
the store stays consistent): a hung chunk can always be stopped.

Under ``jax.distributed.initialize`` with ``P`` processes, process ``p`` evaluates the chunks
``c`` with ``c % P == p`` on its own devices and writes them to the store; results are then read
back from the store (or all-gathered when there is none), so every process returns the full
dataset.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import NamedSharding, PartitionSpec
from tqdm.auto import tqdm

import overparam
from overparam import store as _store
from overparam.meta import run_metadata
from overparam.sweep import lapack
from overparam.sweep.grid import Grid, make_grid

Point = Callable[[dict[str, jax.Array], jax.Array], Mapping[str, jax.Array]]

DEFAULT_CHUNK = 1024  # the largest default chunk, in runs
TARGET_CHUNKS = 32  # default chunking: about this many chunks per sweep
MIN_PER_DEVICE = 16  # ... but at least this many runs per device and chunk (vmap efficiency)
CACHE_SIZE = 32  # jitted points and chunk evaluators kept (least recently used dropped first)

_JITTED: OrderedDict[Any, Callable[..., Any]] = OrderedDict()
_COMPILED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_PROGRAMS: OrderedDict[int, tuple[Any, str]] = OrderedDict()  # id(jaxpr) -> (jaxpr, SHA-256 of its lowering)


class Interrupted(KeyboardInterrupt):
    """A sweep stopped by SIGINT or SIGTERM at a chunk boundary; its finished chunks are in the store.

    A subclass of ``KeyboardInterrupt``, so that code which lets Ctrl-C through lets this
    through too and ``except Exception`` does not swallow it. ``str(error)`` is one line that
    says how to resume. Attributes: ``signal`` (name), ``store`` (path or ``None``),
    ``finished`` and ``total`` (chunks).
    """

    def __init__(self, message: str, *, signal: str, store: str | None, finished: int, total: int) -> None:
        super().__init__(message)
        self.signal, self.store, self.finished, self.total = signal, store, finished, total

    def __str__(self) -> str:
        return str(self.args[0])


def default_chunk_size(n_runs: int, n_devices: int) -> int:
    """The default number of runs per chunk: about ``n_runs / 32``, a multiple of the device count.

    First ``c = d * clip(ceil(n_runs / (32 d)), 16, max(1, 1024 // d))``, but never more than
    ``n_runs`` (then the whole sweep is one chunk). A chunk is what an interruption can lose
    (SIGINT and SIGTERM lose nothing: the chunk in flight is finished), so a killed sweep loses
    about 1/32 of its runs, or at most 16 runs per device for small sweeps, which finish in
    seconds. The floor keeps vmap efficient: on one CPU core a tiny point
    (benchmarks/bench_sweep.py) runs at 66 % of its best throughput with 16 runs per call, 74 %
    with 32, 94 % with 128. Then the same number of chunks, ``K = ceil(n_runs / c)``, is evened
    out: ``d * ceil(n_runs / (K d))`` runs each, so the last chunk's padding
    (docs/architecture.md#chunk-padding) is less than ``d`` runs per chunk instead of up to a whole
    chunk (45 runs on 2 devices: 2 chunks of 24, 48 evaluated, instead of 2 of 32, 64 evaluated).
    The result is at least half of ``c``.
    """
    if n_runs < 1 or n_devices < 1:
        raise ValueError(f"n_runs and n_devices must be >= 1, got {n_runs} and {n_devices}")
    per_device = -(-n_runs // (TARGET_CHUNKS * n_devices))
    per_device = min(max(per_device, MIN_PER_DEVICE), max(1, DEFAULT_CHUNK // n_devices))
    chunk = per_device * n_devices
    if chunk >= n_runs:
        return n_runs
    n_chunks = -(-n_runs // chunk)
    return n_devices * -(-n_runs // (n_chunks * n_devices))


def choose_chunk_size(n_runs: int, n_devices: int, *, chunk_size: int | None = None,
                      runs_per_device: int | None = None, stored: int | None = None) -> int:
    """The chunk size of a sweep: ``chunk_size`` if given, else the ``stored`` one of a resumed store,
    else ``runs_per_device`` times the device count (at most ``n_runs``), else :func:`default_chunk_size`."""
    if chunk_size is not None:
        return int(chunk_size)
    if stored is not None:
        return int(stored)
    if runs_per_device is not None:
        return min(n_runs, int(runs_per_device) * n_devices)
    return default_chunk_size(n_runs, n_devices)


def _lru(cache: OrderedDict[Any, Any], key: Any, make: Callable[[], Any]) -> Any:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    cache[key] = make()
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
    return cache[key]


def _jitted(point: Point) -> Callable[..., Any]:
    """``jax.jit(point)``, one per point, so that its trace cache serves every sweep of that point."""
    return _lru(_JITTED, point, lambda: jax.jit(point))


def runs_per_call(traced: _Traced, devices: Sequence[Any], per_device: int) -> int:
    """Runs of a device's ``per_device`` that one vmapped call holds: all of them, except on CPU for a point
    with large LAPACK calls (:func:`overparam.sweep.lapack.runs_per_call`)."""
    if not devices or devices[0].platform != "cpu":
        return per_device
    return lapack.runs_per_call(traced.jaxpr, per_device)


class Evaluation(NamedTuple):
    """How a chunk is evaluated (:mod:`overparam.sweep.lapack`): ``mode`` ``"vmap"`` (one vmapped call per
    device), ``"mapped"`` (vmapped, each large LAPACK call a loop over single matrices) or ``"groups"``
    (``lax.map`` over groups of ``group`` runs); ``group`` is :func:`runs_per_call`."""

    mode: str
    group: int


def evaluation(traced: _Traced, devices: Sequence[Any], per_device: int) -> Evaluation:
    """The :class:`Evaluation` of a chunk of ``per_device`` runs per device."""
    group = runs_per_call(traced, devices, per_device)
    if group >= per_device:
        return Evaluation("vmap", group)
    return Evaluation("mapped" if lapack.mappable(traced.jaxpr) else "groups", group)


def _compiled(traced: _Traced, mesh: jax.sharding.Mesh, per_device: int) -> Callable[..., Any]:
    """The jitted chunk evaluator ``out[b] = point(config[b], fold_in(key, index[b]))`` of a traced point.

    It evaluates the point's traced program (the jaxpr whose lowering is fingerprinted), so the
    point is traced once per signature, and what is fingerprinted is what runs. Each device
    vmaps the point over its ``per_device`` runs, or maps over groups of :func:`runs_per_call`
    of them. One evaluator per (program, mesh, runs per device), shared by every sweep of that
    point and signature.
    """
    def make() -> Callable[..., Any]:
        mode, group = evaluation(traced, list(mesh.devices.flat), per_device)
        if mode == "mapped":
            single = functools.partial(lapack.evaluate_mapped, traced.jaxpr)
        else:
            single = jax.extend.core.jaxpr_as_fun(traced.jaxpr)
        in_tree, out_tree = traced.in_tree, traced.out_tree

        def one(i: jax.Array, cfg: dict[str, jax.Array], key: jax.Array) -> Any:
            leaves, tree = jax.tree.flatten(((cfg, jax.random.fold_in(key, i)), {}))
            if tree != in_tree:  # cannot happen for configs made by Grid.configs
                raise ValueError(f"config structure {tree} differs from the traced {in_tree}")
            return jax.tree.unflatten(out_tree, single(*leaves))

        def evaluate(key: jax.Array, index: jax.Array, config: dict[str, jax.Array]) -> dict[str, jax.Array]:
            return dict(jax.vmap(lambda i, cfg: one(i, cfg, key))(index, config))

        def evaluate_in_groups(key: jax.Array, index: jax.Array, config: dict[str, jax.Array]) -> dict[str, jax.Array]:
            # each device maps over groups of its runs: LAPACK batches stay below jaxlib's pool threshold
            def local(key, index, config):
                return dict(jax.lax.map(lambda ic: one(ic[0], ic[1], key), (index, config), batch_size=group))

            return jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), PartitionSpec("run"),
                                                              PartitionSpec("run")), out_specs=PartitionSpec("run"),
                                 check_vma=False)(key, index, config)

        runs = NamedSharding(mesh, PartitionSpec("run"))
        fn = evaluate_in_groups if mode == "groups" else evaluate
        return jax.jit(fn, in_shardings=(NamedSharding(mesh, PartitionSpec()), runs, runs), out_shardings=runs)

    # jit's trace cache returns the same jaxpr object for the same point and signature; the entry
    # holds the jaxpr, so its id is not reused while cached
    return _lru(_COMPILED, (id(traced.jaxpr), mesh, per_device), lambda: (traced.jaxpr, make()))[1]


def _key_data(key: Any) -> list[int]:
    example = "a jax.random key such as jax.random.key(0)"
    if not isinstance(key, jax.Array):
        raise ValueError(f"key must be {example}, got {key!r}")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single key (shape ()), got shape {key.shape}")
        return np.asarray(jax.random.key_data(key)).ravel().tolist()
    if key.dtype != jnp.uint32 or key.shape != (2,):
        raise ValueError(f"key must be {example} (or a raw uint32 key of shape (2,)), got {key.dtype} array of "
                         f"shape {key.shape}")
    return np.asarray(key).tolist()


def _point_name(point: Point) -> str:
    name = getattr(point, "__qualname__", None) or type(point).__qualname__
    return f"{getattr(point, '__module__', '')}.{name}"


class _Traced:
    """The point traced once with abstract scalars: output shapes and the SHA-256 of its lowered program."""

    def __init__(self, point: Point, grid: Grid, key: jax.Array) -> None:
        config = {a: jax.ShapeDtypeStruct((), jax.dtypes.canonicalize_dtype(v.dtype))
                  for a, v in zip(grid.axes, grid.values)}
        run_key = jax.eval_shape(lambda k: jax.random.fold_in(k, 0), key)
        signature = (f"config {{{', '.join(f'{a}: {s.dtype}[]' for a, s in config.items())}}} and key "
                     f"{run_key.dtype}{list(run_key.shape)}")
        try:
            traced = _jitted(point).trace(config, run_key)
        except (TypeError, IndexError) as error:  # jax's tracer errors are TypeErrors
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(
                f"point could not be traced with abstract scalars ({signature}): {type(error).__name__}: {first}. "
                "A point must be pure and jit/vmap-able, and the shapes of its outputs must not depend on config "
                "values (pad to the largest value and mask, see overparam.sweep.width_mask)"
            ) from error
        shapes = traced.out_info
        if not isinstance(shapes, Mapping):
            kind = type(shapes).__name__ if not isinstance(shapes, jax.ShapeDtypeStruct) else "a single array"
            raise ValueError(f"point must return a dict name -> array, got {kind} ({shapes!r})")
        if not shapes:
            raise ValueError("point must return a non-empty dict name -> array, got an empty dict")
        for name, s in shapes.items():
            if not isinstance(s, jax.ShapeDtypeStruct):
                raise ValueError(f"output {name!r} of point must be an array, got {s!r}")
        if len(traced.jaxpr.jaxpr.invars) != traced.in_tree.num_leaves:  # constants hoisted to arguments
            raise NotImplementedError("this jax version hoists a traced point's constants to arguments")
        self.shapes: Mapping[str, jax.ShapeDtypeStruct] = shapes
        self.traced = traced
        self.jaxpr, self.in_tree, self.out_tree = traced.jaxpr, traced.in_tree, traced.out_tree

    def program_sha256(self) -> str:
        """SHA-256 of the single-run StableHLO text without debug info (code and closed-over constants).

        Lowered for CPU whatever the default backend, so the hash names the program, not the
        machine: like the device count, the platform changes only how results round. Cached
        per traced program (a later sweep of the same point and signature does not lower again).
        """

        def lower() -> tuple[Any, str]:
            text = self.traced.lower(lowering_platforms=("cpu",)).as_text(debug_info=False)
            return self.jaxpr, hashlib.sha256(text.encode()).hexdigest()

        return _lru(_PROGRAMS, id(self.jaxpr), lower)[1]


def _layout(
    shapes: Mapping[str, jax.ShapeDtypeStruct],
    grid: Grid,
    chunk: int,
    out_dims: Mapping[str, Sequence[str]],
    out_coords: Mapping[str, Sequence[Any]],
) -> _store.Layout:
    """The store layout from the point's per-run output shapes, checked against out_dims/out_coords."""
    unknown = sorted(set(out_dims) - set(shapes))
    if unknown:
        raise ValueError(f"out_dims names outputs {unknown} that point does not return; outputs are {sorted(shapes)}")
    outputs: dict[str, _store.Output] = {}
    sizes: dict[str, int] = {}
    for name, s in shapes.items():
        if not isinstance(name, str) or not name.isidentifier() or name in grid.axes:
            raise ValueError(f"output name {name!r} must be an identifier distinct from the grid axes {grid.axes}")
        trailing = tuple(s.shape)
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


class _Progress:
    """Progress at chunk boundaries: a tqdm bar on a terminal, or one plain line per chunk (a log file)."""

    def __init__(self, progress: bool | None, total_runs: int, done_runs: int, total_chunks: int,
                 done_chunks: int) -> None:
        tty = sys.stderr.isatty()
        if jax.process_index() != 0 or (progress is not None and not progress) or (progress is None and not tty):
            self.mode = None
        else:
            self.mode = "bar" if tty else "lines"
        self.total_runs, self.runs, self.total_chunks, self.chunks = total_runs, done_runs, total_chunks, done_chunks
        self.start_runs, self.t0 = done_runs, time.perf_counter()
        self.bar = (tqdm(total=total_runs, initial=done_runs, unit="run", desc="sweep", file=sys.stderr,
                         dynamic_ncols=True) if self.mode == "bar" else None)

    def update(self, runs: int) -> None:
        self.runs += runs
        self.chunks += 1
        if self.bar is not None:
            self.bar.update(runs)
        elif self.mode == "lines":
            elapsed = max(time.perf_counter() - self.t0, 1e-9)
            rate = (self.runs - self.start_runs) / elapsed
            eta = (self.total_runs - self.runs) / rate if rate > 0 else float("inf")
            print(f"sweep: chunk {self.chunks}/{self.total_chunks}, {self.runs}/{self.total_runs} runs, "
                  f"{rate:.1f} runs/s, eta {eta:.0f} s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _StopAtBoundary:
    """SIGINT / SIGTERM handlers for the duration of a sweep (main thread only): record, stop later.

    The first signal is recorded (the sweep stops at the next chunk boundary). A second one
    gets the handling it would have had without the sweep, at once: the previous handler is
    restored and called (``KeyboardInterrupt`` for SIGINT; for a default SIGTERM the signal is
    raised again and the process ends). The chunk in flight is then lost and the store stays
    consistent; XLA keeps computing it in the background, so a normal interpreter exit waits
    for it (a hung chunk: end the process with SIGTERM). The previous handlers are restored on
    exit.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.received: str | None = None
        self.previous: dict[int, Any] = {}

    @property
    def active(self) -> bool:
        """Whether the handlers are installed (only in the main thread)."""
        return bool(self.previous)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = name
            print(f"sweep: {name} received; stopping after the chunk in flight (send it again to stop at once)",
                  file=sys.stderr, flush=True)
            return
        previous = self.previous.get(signum, signal.SIG_DFL)
        signal.signal(signum, previous)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), signum)

    def __enter__(self) -> _StopAtBoundary:
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                num = getattr(signal, name)
                self.previous[num] = signal.signal(num, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for num, handler in self.previous.items():
            signal.signal(num, handler)


STALL_CHECK_S = 120.0  # a chunk that used under 1 % of one core for this long is reported, once


def _stalled_message(chunk: int, waited: float) -> str:
    return (f"sweep: chunk {chunk} has run for {waited:.0f} s and the process used almost no CPU in the last "
            f"{STALL_CHECK_S:.0f} s: it may be stuck in the XLA:CPU batched-LAPACK deadlock "
            "(docs/architecture.md#known-xla-cpu-deadlock); send SIGINT twice to stop, then run again with --resume")


def _wait(tree: Any, on_stall: Callable[[float], None] | None = None) -> None:
    """Block until every array of ``tree`` is computed, in a way that lets signal handlers run.

    A main thread blocked inside XLA cannot run Python signal handlers, so this polls
    ``is_ready`` (:func:`_poll`).
    """
    leaves = [x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)]
    _poll(lambda: all(x.is_ready() for x in leaves), on_stall)


def _poll(ready: Callable[[], bool], on_stall: Callable[[float], None] | None = None) -> None:
    """Wait until ``ready()``, sleeping 1/50 of the time waited so far (0.1 ms to 50 ms) between calls.

    The extra latency is at most 2 % of the wait, or 50 ms. Every :data:`STALL_CHECK_S` seconds it
    compares the process's CPU time with the wall time; a wait during which the process made no
    use of the CPU (a deadlock sleeps, a computation does not) is reported once through
    ``on_stall(seconds waited)``.
    """
    start = time.perf_counter()
    mark_wall, mark_cpu, warned = start, time.process_time(), False
    while not ready():
        time.sleep(min(0.05, max(1e-4, (time.perf_counter() - start) / 50)))
        now = time.perf_counter()
        if on_stall is not None and not warned and now - mark_wall >= STALL_CHECK_S:
            cpu = time.process_time()
            if cpu - mark_cpu < 0.01 * (now - mark_wall):
                on_stall(now - start)
                warned = True
            mark_wall, mark_cpu = now, cpu


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
    runs_per_device: int | None = None,
) -> xr.Dataset:
    """Evaluate ``point(config, fold_in(key, i))`` for every run ``i`` of ``grid``; return an xarray.Dataset.

    Args:
      point: pure, jit/vmap-able ``(config: dict axis -> scalar array, key) -> dict name -> array``
        whose output shapes do not depend on config values. It is traced once with abstract
        scalars before anything compiles; a point that cannot be traced, or that returns
        anything but a dict of arrays, is refused with a ``ValueError``.
      grid: axis -> non-empty sequence of distinct finite numbers. Integer axes stay integer.
      key: root PRNG key (``jax.random.key(0)``); run ``i`` (C-order index into the grid) uses
        ``jax.random.fold_in(key, i)``. Derive per-seed keys from a ``seed`` axis with
        :func:`overparam.sweep.seed_key`.
      chunk_size: runs per compiled call; peak memory scales with it. Default
        :func:`default_chunk_size` (about 1/32 of the sweep, at least 16 runs per device, at
        most 1024 runs, evened out over the chunks), or ``runs_per_device`` times the device
        count; when resuming, the store's chunk size. Each chunk is padded up to a multiple of
        the device count; the last partial chunk is padded to the full chunk and trimmed.
      runs_per_device: without ``chunk_size``, chunks of this many runs per device (of the
        devices the sweep runs on): for a point whose working set is so large that batching runs
        gains nothing, so that no device evaluates padding when the device count changes.
      out_dims: output name -> names of its trailing dims (default ``{name}_dim_{j}``).
      out_coords: trailing dim -> coordinate values.
      store: a zarr directory (see :mod:`overparam.store`); each chunk is written as soon as it
        is finished, then its SHA-256 record, then its done flag. ``None`` keeps results in memory.
      resume: continue a store made by the same sweep, skipping its finished, intact chunks and
        recomputing damaged or missing ones. A store made by a different point program (code
        or closed-over constants), grid, key, outputs, chunk size, ``attrs`` or package
        version is refused with a ``ValueError`` saying what differs; nothing is written.
        Another device or process count is allowed.
      progress: ``True``: a tqdm bar on a terminal, otherwise (a log file) one line per chunk
        ``sweep: chunk 3/12, 96/384 runs, 12.3 runs/s, eta 21 s``; ``None``: the bar on a
        terminal, nothing otherwise; ``False``: nothing.
      attrs: the caller's full configuration (JSON-serialisable); recorded in the dataset attrs
        (``config``) and part of the store fingerprint.
      devices: local devices to shard over. Default: all local devices, except that on CPU a
        point holding batched LAPACK calls (``eigh``, ``solve``, ``qr``, ``svd``, ...) uses at
        most half as many devices as cores, which avoids the XLA:CPU deadlock of
        :mod:`overparam.sweep.lapack` (the numbers do not depend on the device count). Devices
        given here are used as given.

    Returns:
      Dataset with dims ``(*grid axes, *trailing dims)``, one data variable per output,
      coordinates for every grid axis (and ``out_coords``), and attrs: ``grid`` and ``config``
      (JSON), versions, git commit, x64 flag, device kind/count, ``per_device_batch``,
      ``wall_time_s``.

    Raises:
      Interrupted: on SIGINT or SIGTERM, after the chunk in flight is finished and stored (a
        second signal: ``KeyboardInterrupt`` / the default SIGTERM at once).
      OSError: a store write failed (disk full, ...); the message names the store and chunk,
        the chunk is not marked done and a resume recomputes it.

    Reproducibility: run ``i`` always draws the same random numbers. The floating-point
    results are bit-identical between any two sweeps with the same per-device batch
    ``ceil(chunk_size / devices)`` (any device count, process count or resume), on the same
    CPU/accelerator type and jax version. A different per-device batch can change how XLA
    orders a batched dot or reduction (a batch of 1 drops the batch dimension altogether), so
    results then agree only to rounding: measured up to 1.6e-15 relative on a well-conditioned
    GD run (tests/sweep/test_sweep_engine.py), up to 4e-13 on a small-init matrix-sensing error
    curve whose dynamics amplify rounding. The batch each chunk was computed with is recorded
    (``per_device_batch`` attr; a JSON list when a resume on another device count mixed
    several).
    """
    t0 = time.perf_counter()
    if not callable(point):
        raise ValueError(f"point must be callable, got {point!r}")
    g = make_grid(grid)
    key_data = _key_data(key)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"chunk_size must be an int >= 1 or None, got {chunk_size!r}")
    if runs_per_device is not None and (isinstance(runs_per_device, bool)
                                        or not isinstance(runs_per_device, (int, np.integer)) or runs_per_device < 1):
        raise ValueError(f"runs_per_device must be an int >= 1 or None, got {runs_per_device!r}")
    if resume and store is None:
        raise ValueError("resume=True needs a store path; got store=None")
    try:
        config = _store._canonical(dict(attrs or {}))  # noqa: SLF001
    except (TypeError, ValueError) as error:
        raise ValueError(f"attrs must be a JSON-serialisable mapping (str, int, float, lists, dicts): {error}") from None
    devs = list(jax.local_devices() if devices is None else devices)
    if not devs or any(d not in jax.local_devices() for d in devs):
        raise ValueError(f"devices must be a non-empty list of local devices, got {devices!r}")
    traced = _Traced(point, g, key)
    if devices is None:  # batched LAPACK on CPU: keep half the intra-op pool free (overparam.sweep.lapack)
        devs = lapack.safe_cpu_devices(devs, traced.jaxpr)
    mesh = jax.make_mesh((len(devs),), ("run",), axis_types=(jax.sharding.AxisType.Auto,), devices=devs)
    n_runs = g.size
    stored = _store.stored_chunk_size(store) if (chunk_size is None and resume and store is not None) else None
    chunk = choose_chunk_size(n_runs, len(devs), chunk_size=chunk_size, runs_per_device=runs_per_device, stored=stored)
    per_device = -(-chunk // len(devs))
    padded = per_device * len(devs)
    layout = _layout(traced.shapes, g, chunk, out_dims or {}, out_coords or {})
    fingerprint = {
        "grid": g.as_dict(),
        "key": key_data,
        "point": _point_name(point),
        "program": traced.program_sha256() if store is not None else None,  # only a store is compared
        "overparam_version": overparam.__version__,
        "jax_version": jax.__version__,
        "outputs": {k: [list(o.shape), str(o.dtype), list(o.dims)] for k, o in layout.outputs.items()},
        "chunk_size": chunk,
        "config": config,
    }
    mode, group = evaluation(traced, devs, per_device)
    if mode == "groups":  # not the program of one vmapped call
        fingerprint["evaluation"] = f"lax.map over groups of {group} runs"
    elif mode == "mapped":
        fingerprint["evaluation"] = "vmap, each LAPACK call over single matrices"
    meta = {**run_metadata(devs), "grid": json.dumps(g.as_dict()), "config": json.dumps(config, sort_keys=True)}
    meta.update({k: v for k, v in config.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)
                 and k not in meta})

    nproc, pid = jax.process_count(), jax.process_index()
    owned = [c for c in range(layout.n_chunks) if c % nproc == pid]
    writer: _store.Writer | None = None
    done = np.zeros(layout.n_chunks, dtype=bool)
    if store is not None:
        exists = _store.check_resumable(store, fingerprint, resume)
        _barrier("overparam-sweep-checked")
        if not exists and pid == 0:
            _store.create(store, layout, fingerprint, meta)
        _barrier("overparam-sweep-created")
        writer = _store.Writer(store, batch=per_device)
        if exists:
            status = writer.status()
            done = status.intact
            writer.mark_unfinished([c for c in (*status.damaged, *status.missing) if c % nproc == pid])
        _barrier("overparam-sweep-verified")

    todo = [c for c in owned if not done[c]]
    results: dict[int, dict[str, np.ndarray]] = {}
    stop = _StopAtBoundary()
    key_dev = jax.device_put(key, NamedSharding(mesh, PartitionSpec()))
    evaluate = _compiled(traced, mesh, per_device)
    runs_sharding = NamedSharding(mesh, PartitionSpec("run"))

    def launch(c: int) -> tuple[int, int, Any]:
        start = c * chunk
        valid = min(chunk, n_runs - start)
        index = np.minimum(np.arange(start, start + padded), n_runs - 1)
        index[valid:] = start  # padding repeats the chunk's first run; trimmed below
        cfg = jax.device_put(g.configs(index), runs_sharding)
        return c, valid, evaluate(key_dev, jax.device_put(index.astype(np.uint32), runs_sharding), cfg)

    def finish(c: int, valid: int, out: Any) -> None:
        if stop.active:
            _wait(out, lambda waited: print(_stalled_message(c, waited), file=sys.stderr, flush=True))
        host = {name: np.asarray(v)[:valid] for name, v in out.items()}
        if writer is not None:
            writer.write_chunk(c, host)
        else:
            results[c] = host

    runs_of = lambda c: min(chunk, n_runs - c * chunk)  # noqa: E731
    bar = _Progress(progress, sum(runs_of(c) for c in owned), sum(runs_of(c) for c in owned if done[c]),
                    len(owned), len(owned) - len(todo))
    written = 0
    try:
        with stop:
            pending = None
            for c in todo:
                if stop.received:
                    break
                launched = launch(c)  # dispatch the next chunk before blocking on the previous one
                if pending is not None:
                    finish(*pending)
                    written += 1
                    bar.update(pending[1])
                pending = launched
            if pending is not None:
                finish(*pending)
                written += 1
                bar.update(pending[1])
    finally:
        bar.close()
    if stop.received:
        finished = len(owned) - len(todo) + written
        if store is None:
            where = "nothing was kept (no store): pass store= to make a sweep resumable, then run again with resume=True"
        elif finished == len(owned):
            where = (f"every chunk is finished and in the store {str(store)!r}; run again with resume=True "
                     "(or --resume) to read it back")
        else:
            where = (f"the {finished} finished chunks are in the store {str(store)!r}; run again with resume=True "
                     f"(or --resume) to compute the other {len(owned) - finished}")
        raise Interrupted(f"sweep interrupted by {stop.received} after {finished} of {len(owned)} chunks; {where}",
                          signal=stop.received, store=None if store is None else str(store), finished=finished,
                          total=len(owned))

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
    return _dataset(layout, flat, {**meta, "per_device_batch": per_device, "wall_time_s": wall})


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
