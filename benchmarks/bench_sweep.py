"""Sweep-engine benchmark: peak memory bounded by the chunk, throughput against one bare vmapped call.

Run from the repository root::

    python -m benchmarks.bench_sweep           # 10^4 runs x 10^4 steps, recorded every 100 steps
    python -m benchmarks.bench_sweep --quick   # 10^3 runs x 10^3 steps

The problem is small on purpose (the engine's overhead is what is measured): per run, GD on the
symmetric factorisation ``X <- X - eta (X X^T - M) X`` with ``X`` ``(8, 2)`` and a random PSD
rank-2 target ``M`` drawn from the run's key; ``||X X^T - M||_F`` recorded every 100 steps
(a nested ``lax.scan``). The grid is eta (2) x init scale (50) x seed (runs / 100).

Each configuration runs in its own subprocess (so its peak RSS, ``getrusage`` ``ru_maxrss``, is
its own), on the process's default single CPU device, in float64:

* ``bare``: ``jax.jit(jax.vmap(point))`` over every run at once, keys ``fold_in(key, i)``, result
  copied to the host -- the peer: what one would write without the engine;
* ``sweep_256``, ``sweep_1024``: ``overparam.sweep.run`` with those chunk sizes (no store);
* ``sweep_256_quarter``: chunk 256 on a grid 4x smaller: same peak RSS shows memory is bounded
  by the chunk, not the grid.

A last child times the bare call and both sweeps alternately in one process (best of 5 rounds,
2000 runs x 2000 steps; 1000 x 1000 with ``--quick``), so that all three see the same background
load: the throughput ratio to trust on a busy machine.

The ``trust`` child measures what the result store's safeguards cost, as fractions of the
sweep's own time (chunk 256, same size as the interleaved child, best of 3): the fingerprint
(lowering the single-run program to StableHLO text and its SHA-256, first time and for a later
sweep of the same point; the trace it lowers is shared with the chunk evaluator, timed apart),
the per-chunk records (hashing every output byte once when written and once when read back,
plus the write of each chunk's record, which is also its done flag), ``store.verify`` of the finished store,
and a whole sweep into a zarr store against the same sweep in memory.

Each configuration child compiles first (the bare call ahead of time; the sweep by one chunk of the same shape),
times the best of ``repeats`` calls (3 with ``--quick``, 1 at full size), then checks three of its runs against the point evaluated alone. Reported: seconds, runs/s, peak RSS (MiB; also above the RSS after imports), and the ratios
sweep/bare. (``runs // 100`` seeds: the quarter grid of ``--quick`` has 200 runs.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

N_DIM, RANK, RECORD = 8, 2, 100


def _configs(runs: int) -> dict[str, list[float]]:
    import numpy as np

    return {"eta": [0.05, 0.1], "init_scale": np.geomspace(0.01, 1.0, 50).tolist(),
            "seed": list(range(max(1, runs // 100)))}


def _point(steps: int):
    import jax
    import jax.numpy as jnp

    def point(cfg: dict[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        k_target, k_init = jax.random.split(key)
        u = jax.random.normal(k_target, (N_DIM, RANK)) / jnp.sqrt(float(N_DIM))
        m = u @ u.T
        x0 = cfg["init_scale"] * jax.random.normal(k_init, (N_DIM, RANK)) / jnp.sqrt(float(N_DIM))

        def inner(x: jax.Array, _: Any) -> tuple[jax.Array, None]:
            return x - cfg["eta"] * (x @ x.T - m) @ x, None

        def outer(x: jax.Array, _: Any) -> tuple[jax.Array, jax.Array]:
            x = jax.lax.scan(inner, x, None, length=RECORD)[0]
            return x, jnp.linalg.norm(x @ x.T - m)

        return {"error": jax.lax.scan(outer, x0, None, length=steps // RECORD)[1]}

    return point


def child(mode: str, runs: int, steps: int, repeats: int) -> dict[str, Any]:
    """Run one configuration in this process; return timings and peak RSS."""
    import time

    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from benchmarks import harness
    import overparam.sweep as sweep

    grid = _configs(runs)
    point = _point(steps)
    key = jax.random.key(0)
    g = sweep.make_grid(grid)
    n = g.size
    baseline = harness.peak_rss_mb()  # after imports, before anything is compiled or allocated

    if mode == "bare":
        cfg = {k: jax.numpy.asarray(v) for k, v in g.configs(np.arange(n)).items()}
        index = jax.numpy.arange(n, dtype=jax.numpy.uint32)
        fn = jax.jit(jax.vmap(lambda i, c: point(c, jax.random.fold_in(key, i))))
        compiled = fn.lower(index, cfg).compile()

        def call() -> np.ndarray:
            return np.asarray(compiled(index, cfg)["error"])

        def warm() -> None:
            pass
    else:
        chunk = int(mode.split("_")[1])

        def call() -> np.ndarray:
            return sweep.run(point, grid, key=key, chunk_size=chunk, progress=False,
                             out_dims={"error": ("record",)})["error"].values.reshape(n, -1)

        def warm() -> None:  # one chunk of the same shape: compiles the program the timed call uses
            sweep.run(point, {"eta": [0.1], "init_scale": [0.5], "seed": list(range(chunk))}, key=key,
                      chunk_size=chunk, progress=False, out_dims={"error": ("record",)})

    warm()
    seconds = float("inf")
    for _ in range(repeats):  # best of `repeats` calls: the least disturbed by other load
        start = time.perf_counter()
        out = call()
        seconds = min(seconds, time.perf_counter() - start)
    # independent check of a few runs: point evaluated alone with fold_in(key, i)
    single = jax.jit(lambda i, c: point(c, jax.random.fold_in(key, i)))
    worst = 0.0
    for i in (0, n // 2, n - 1):
        c = {k: jax.numpy.asarray(v[0]) for k, v in g.configs(np.array([i])).items()}
        ref = np.asarray(single(jax.numpy.uint32(i), c)["error"])
        worst = max(worst, float(np.max(np.abs(out[i] - ref) / np.maximum(np.abs(ref), 1e-300))))
    return {"mode": mode, "runs": n, "steps": steps, "repeats": repeats, "seconds": seconds, "runs_per_s": n / seconds,
            "peak_rss_mb": harness.peak_rss_mb(), "peak_rss_above_imports_mb": harness.peak_rss_mb() - baseline,
            "max_rel_diff_vs_single_run": worst}


def interleaved(runs: int, steps: int, rounds: int) -> dict[str, Any]:
    """Bare call and sweeps (chunk 256, 1024) timed alternately in one process, best of ``rounds`` each.

    Alternating the three in one process exposes them to the same background load, which makes
    their ratio far more stable on a busy machine than separate processes run one after another.
    """
    import time

    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    import overparam.sweep as sweep

    grid, point, key = _configs(runs), _point(steps), jax.random.key(0)
    g = sweep.make_grid(grid)
    n = g.size
    cfg = {k: jax.numpy.asarray(v) for k, v in g.configs(np.arange(n)).items()}
    index = jax.numpy.arange(n, dtype=jax.numpy.uint32)
    bare = jax.jit(jax.vmap(lambda i, c: point(c, jax.random.fold_in(key, i)))).lower(index, cfg).compile()
    calls = {
        "bare": lambda: np.asarray(bare(index, cfg)["error"]),
        **{f"sweep_{c}": (lambda c=c: sweep.run(point, grid, key=key, chunk_size=c, progress=False,
                                                 out_dims={"error": ("record",)})["error"].values)
           for c in (256, 1024)},
    }
    for call in calls.values():  # compile and warm
        call()
    best = {name: float("inf") for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    return {"runs": n, "steps": steps, "rounds": rounds, "seconds_best": best,
            "throughput_ratio_sweep_256_vs_bare": best["bare"] / best["sweep_256"],
            "throughput_ratio_sweep_1024_vs_bare": best["bare"] / best["sweep_1024"]}


def trust(runs: int, steps: int, rounds: int) -> dict[str, Any]:
    """Cost of the store's fingerprint and per-chunk checksums, as fractions of the sweep's time."""
    import shutil
    import tempfile
    import time

    import jax

    jax.config.update("jax_enable_x64", True)

    import overparam.sweep as sweep
    from overparam import store
    from overparam.sweep import engine

    grid, point, key = _configs(runs), _point(steps), jax.random.key(0)
    g = sweep.make_grid(grid)
    start = time.perf_counter()
    traced = engine._Traced(point, g, key)  # noqa: SLF001 - the trace sweep.run shares with the chunk evaluator
    trace_cold = time.perf_counter() - start
    start = time.perf_counter()
    traced.program_sha256()  # what the fingerprint adds: lowering to StableHLO text and its SHA-256
    fingerprint_cold = time.perf_counter() - start
    warm = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        engine._Traced(point, g, key).program_sha256()  # noqa: SLF001 - a later sweep of the same point
        warm = min(warm, time.perf_counter() - start)

    def in_memory() -> Any:
        return sweep.run(point, grid, key=key, chunk_size=256, progress=False, out_dims={"error": ("record",)})

    start = time.perf_counter()
    ds = in_memory()  # the first sweep of this point compiles its chunk evaluator
    first_sweep = time.perf_counter() - start
    best = {"memory": float("inf"), "store": float("inf"), "sha256": float("inf")}
    folder = Path(tempfile.mkdtemp())
    try:
        for r in range(rounds):
            start = time.perf_counter()
            in_memory()
            best["memory"] = min(best["memory"], time.perf_counter() - start)
            start = time.perf_counter()
            sweep.run(point, grid, key=key, chunk_size=256, progress=False, out_dims={"error": ("record",)},
                      store=folder / f"s{r}")
            best["store"] = min(best["store"], time.perf_counter() - start)
        flat = ds["error"].values.reshape(g.size, -1)
        for _ in range(rounds):
            start = time.perf_counter()
            for c in range(0, g.size, 256):
                store.sha256(flat[c : c + 256])
            best["sha256"] = min(best["sha256"], time.perf_counter() - start)
        writer = store.Writer(folder / "s0", batch=256)
        n_chunks = -(-g.size // 256)
        best["records"] = best["verify"] = float("inf")
        for _ in range(rounds):  # the record's write per chunk (it replaces the former done flag's write)
            start = time.perf_counter()
            for c in range(n_chunks):
                writer.group[store.RECORD][c] = writer.group[store.RECORD][c]
            best["records"] = min(best["records"], time.perf_counter() - start)
            start = time.perf_counter()
            store.verify(folder / "s0")  # reads every finished chunk and its record, hashes it
            best["verify"] = min(best["verify"], time.perf_counter() - start)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"runs": g.size, "steps": steps, "rounds": rounds, "chunk_size": 256,
            "output_bytes": int(ds["error"].values.nbytes), "program_text_chars": len(traced.traced.lower().as_text()),
            "trace_cold_s": trace_cold, "fingerprint_cold_s": fingerprint_cold, "fingerprint_warm_s": warm, "sha256_all_outputs_s": best["sha256"],
            "first_sweep_with_compile_s": first_sweep, "sweep_in_memory_s": best["memory"],
            "sweep_into_store_s": best["store"], "record_writes_s": best["records"], "verify_s": best["verify"],
            "fingerprint_warm_fraction_of_sweep": warm / best["memory"],
            "fingerprint_cold_fraction_of_first_sweep": fingerprint_cold / first_sweep,
            "checksum_fraction_of_sweep": 2 * best["sha256"] / best["memory"],
            "store_overhead_fraction": best["store"] / best["memory"] - 1.0}


def main() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)  # the children run in float64; record it so
    from benchmarks import harness

    parser = harness.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--child", default=None, help=argparse_hidden())
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    if args.child == "interleaved":
        print(json.dumps(interleaved(args.runs, args.steps, args.repeats)))
        return
    if args.child == "trust":
        print(json.dumps(trust(args.runs, args.steps, args.repeats)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.runs, args.steps, args.repeats)))
        return
    runs, steps, repeats = (1000, 1000, 3) if args.quick else (10_000, 10_000, 1)
    results: dict[str, dict[str, Any]] = {}
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    for mode, n in (("bare", runs), ("sweep_256", runs), ("sweep_1024", runs), ("sweep_256_quarter", runs // 4)):
        cmd = [sys.executable, "-m", "benchmarks.bench_sweep", "--child", mode.replace("_quarter", ""),
               "--runs", str(n), "--steps", str(steps), "--repeats", str(repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    small = (1000, 1000) if args.quick else (2000, 2000)
    cmd = [sys.executable, "-m", "benchmarks.bench_sweep", "--child", "interleaved", "--runs", str(small[0]),
           "--steps", str(small[1]), "--repeats", "5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    alternating = json.loads(proc.stdout.strip().splitlines()[-1])
    cmd = [sys.executable, "-m", "benchmarks.bench_sweep", "--child", "trust", "--runs", str(small[0]),
           "--steps", str(small[1]), "--repeats", "3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    safeguards = json.loads(proc.stdout.strip().splitlines()[-1])
    bare = results["bare"]
    payload = {
        "runs": runs, "steps": steps, "record_every": RECORD, "quick": args.quick,
        "results": results,
        "throughput_ratio_sweep_256_vs_bare": results["sweep_256"]["runs_per_s"] / bare["runs_per_s"],
        "throughput_ratio_sweep_1024_vs_bare": results["sweep_1024"]["runs_per_s"] / bare["runs_per_s"],
        "peak_rss_ratio_sweep_256_vs_bare": results["sweep_256"]["peak_rss_mb"] / bare["peak_rss_mb"],
        "peak_rss_ratio_sweep_1024_vs_bare": results["sweep_1024"]["peak_rss_mb"] / bare["peak_rss_mb"],
        "peak_rss_above_imports_mb": {k: v["peak_rss_above_imports_mb"] for k, v in results.items()},
        "peak_rss_ratio_full_vs_quarter_grid_chunk_256":
            results["sweep_256"]["peak_rss_mb"] / results["sweep_256_quarter"]["peak_rss_mb"],
        "interleaved": alternating,
        "trust": safeguards,
        "machine": harness.machine_info(),
    }
    harness.emit("sweep", payload)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
