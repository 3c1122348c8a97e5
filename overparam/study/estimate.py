"""A run-time estimate for ``overparam run --dry-run``: compile and time one chunk of each sweep.

Nothing is written. The chunk is the engine's first chunk (the first runs of the grid in C order),
evaluated by the same compiled program a real run uses, so the estimate includes the compile time
once and the per-chunk time ``chunks`` times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from overparam.study.spec import Setup, Study, Sweep


def estimate(study: Study, setup: Setup, *, devices: Sequence[Any], chunk_size: int | None = None) -> dict[str, dict]:
    """Per sweep: chunk size, number of chunks, compile seconds, seconds per chunk, total seconds."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    from overparam.sweep import engine, grid as grid_mod, lapack

    out: dict[str, dict] = {}
    for name, sw in study.sweeps.items():
        if not isinstance(sw, Sweep):
            continue
        g = grid_mod.make_grid(setup.grids[name])
        traced = engine._Traced(sw.bind(setup), g, jax.random.key(sw.seed))  # noqa: SLF001 - the engine's own chunk program
        devs = lapack.safe_cpu_devices(devices, traced.jaxpr)  # as the engine does: batched LAPACK on CPU deadlocks
        mesh = jax.make_mesh((len(devs),), ("run",), axis_types=(jax.sharding.AxisType.Auto,), devices=list(devs))
        runs_sharding = NamedSharding(mesh, PartitionSpec("run"))
        chunk = engine.choose_chunk_size(g.size, len(devs), chunk_size=chunk_size or sw.chunk_size,
                                         runs_per_device=sw.runs_per_device)
        padded = -(-chunk // len(devs)) * len(devs)
        index = np.minimum(np.arange(padded), g.size - 1)
        key = jax.device_put(jax.random.key(sw.seed), NamedSharding(mesh, PartitionSpec()))
        evaluate = engine._compiled(traced, mesh, padded // len(devs))  # noqa: SLF001
        cfg = jax.device_put(g.configs(index), runs_sharding)
        idx = jax.device_put(index.astype(np.uint32), runs_sharding)
        t0 = time.perf_counter()
        compiled = evaluate.lower(key, idx, cfg).compile()
        t1 = time.perf_counter()
        jax.block_until_ready(compiled(key, idx, cfg))
        t2 = time.perf_counter()
        chunks = math.ceil(g.size / chunk)
        out[name] = {"chunk_size": chunk, "chunks": chunks, "compile_s": t1 - t0, "chunk_s": t2 - t1,
                     "total_s": (t1 - t0) + chunks * (t2 - t1)}
    return out
