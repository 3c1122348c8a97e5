"""Shared helpers for the benchmarks: wall-clock timing, the machine's matmul peak, machine facts.

Every benchmark is a script ``benchmarks/bench_<area>.py`` run from the repository root as
``python -m benchmarks.bench_<area> [--quick]``. It measures the project and its peers in the same
process and prints one JSON object per measurement through :func:`emit`.

Conventions
-----------
* :func:`timeit` returns wall-clock seconds (``min``, ``median``, ``max`` over ``repeats`` calls,
  after ``warmup`` untimed calls that absorb compilation). Results are blocked on
  (``jax.block_until_ready``) before the clock stops, so asynchronous dispatch is not mistaken for
  speed. NumPy and PyTorch (CPU) callables are synchronous and need nothing more; for a CUDA
  tensor the harness synchronises the device.
* Achieved throughput is ``flops / seconds``; :func:`matmul_flops` gives the flop count of a dense
  product, ``2 m k n`` (one multiply and one add per inner-product term).
* :func:`matmul_peak_gflops` measures the attainable matmul rate through jax on this machine, in
  the same process as the benchmark, so "fraction of peak" compares like with like.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "timeit",
    "timeit_interleaved",
    "matmul_flops",
    "gflops",
    "matmul_peak_gflops",
    "loglog_slope",
    "machine_info",
    "peak_rss_mb",
    "emit",
    "argument_parser",
]


def _block(result: Any) -> Any:
    """Wait until every array in ``result`` (any pytree) is computed.

    JAX arrays are blocked with ``jax.block_until_ready``; a CUDA torch tensor synchronises its
    device; NumPy arrays and Python values are already computed.
    """
    leaves = jax.tree_util.tree_leaves(result)
    jax_leaves = [leaf for leaf in leaves if isinstance(leaf, jax.Array)]
    if jax_leaves:
        jax.block_until_ready(jax_leaves)
    torch = sys.modules.get("torch")
    if torch is not None:
        for leaf in leaves:
            if isinstance(leaf, torch.Tensor) and leaf.is_cuda:
                torch.cuda.synchronize(leaf.device)
                break
    return result


def timeit(
    fn: Callable[..., Any], *args: Any, repeats: int = 5, warmup: int = 1, **kwargs: Any
) -> dict[str, Any]:
    """Wall-clock time of ``fn(*args, **kwargs)``.

    Calls ``fn`` ``warmup`` times untimed (compilation, caches), then ``repeats`` times timed with
    ``time.perf_counter``; each timed call includes waiting for its result (see :func:`_block`).

    Returns a dict with ``min``, ``median``, ``max`` (seconds), ``times`` (the ``repeats``
    individual timings, in call order), ``repeats`` and ``warmup``. ``min`` is the least disturbed
    by other load on the machine and is what ratios should use.

    Raises ``ValueError`` when ``repeats < 1`` or ``warmup < 0``.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    for _ in range(warmup):
        _block(fn(*args, **kwargs))
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        _block(fn(*args, **kwargs))
        times.append(time.perf_counter() - start)
    return {
        "min": min(times),
        "median": statistics.median(times),
        "max": max(times),
        "times": times,
        "repeats": repeats,
        "warmup": warmup,
    }


def timeit_interleaved(
    calls: Mapping[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1
) -> dict[str, dict[str, Any]]:
    """Time several zero-argument callables round-robin: round ``j`` calls each once, in order.

    On a machine shared with other work the load drifts; interleaving exposes every competitor to
    the same drift, so ratios of their ``min`` times are fairer than with back-to-back
    :func:`timeit` calls. Each callable first gets ``warmup`` untimed calls. Returns
    ``{name: timing}`` with the same fields as :func:`timeit`.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    if not calls:
        raise ValueError("calls must name at least one callable, got an empty mapping")
    for fn in calls.values():
        for _ in range(warmup):
            _block(fn())
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            _block(fn())
            times[name].append(time.perf_counter() - start)
    return {
        name: {
            "min": min(t),
            "median": statistics.median(t),
            "max": max(t),
            "times": t,
            "repeats": repeats,
            "warmup": warmup,
        }
        for name, t in times.items()
    }


def matmul_flops(m: int, k: int, n: int) -> int:
    """Floating-point operations of a dense product of an (m, k) and a (k, n) matrix: ``2 m k n``.

    Each of the ``m n`` outputs is an inner product of length ``k``: ``k`` multiplies and ``k``
    adds (counting the first add into zero, the usual convention of GEMM benchmarks).
    """
    for name, value in (("m", m), ("k", k), ("n", n)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return 2 * int(m) * int(k) * int(n)


def gflops(flops: float, seconds: float) -> float:
    """Throughput in GFLOP/s: ``flops / seconds / 1e9``. ``seconds`` must be positive."""
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    if flops < 0:
        raise ValueError(f"flops must be >= 0, got {flops!r}")
    return flops / seconds / 1e9


def _check_dtype(dtype: str) -> jnp.dtype:
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype='float64' needs jax_enable_x64; enable it before timing float64")
    return jnp.dtype(dtype)


def matmul_peak_gflops(
    dtype: str = "float32",
    n: int | Sequence[int] = (512, 1024, 2048),
    repeats: int = 5,
) -> float:
    """The machine's measured dense-matmul rate through jax, in GFLOP/s (best of several).

    Times a jitted ``(n, n) @ (n, n)`` product for each size in ``n`` (``repeats`` timed calls each,
    after one warm-up) and returns the largest ``2 n^3 / t_min / 1e9``. This is the attainable
    peak of this process on this machine under its current load, the yardstick for the
    "fraction of peak" of a benchmark measured in the same run.
    """
    dt = _check_dtype(dtype)
    sizes = [n] if isinstance(n, (int, np.integer)) else list(n)
    if not sizes:
        raise ValueError("n must name at least one matrix size, got an empty sequence")
    for size in sizes:
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"n must be integers >= 1, got {size!r}")
    product = jax.jit(jnp.matmul)
    best = 0.0
    for size in sizes:
        rng = np.random.default_rng(int(size))
        a = jnp.asarray(rng.standard_normal((size, size)), dtype=dt)
        b = jnp.asarray(rng.standard_normal((size, size)), dtype=dt)
        t = timeit(product, a, b, repeats=repeats, warmup=1)["min"]
        best = max(best, gflops(matmul_flops(size, size, size), t))
    return best


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``: the exponent ``p`` of ``y ~ c x^p``."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape or xa.ndim != 1 or xa.size < 2:
        raise ValueError(
            f"x and y must be 1-d of equal length >= 2, got shapes {xa.shape} and {ya.shape}"
        )
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya)) and xa.min() > 0 and ya.min() > 0):
        raise ValueError(f"x and y must be positive and finite, got x={xa}, y={ya}")
    lx, ly = np.log(xa), np.log(ya)
    slope, _ = np.polyfit(lx, ly, 1)
    return float(slope)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """Facts to record beside every number: machine, load, versions, jax configuration, date.

    Keys: ``cpu_model``, ``cpu_count``, ``load_average`` (1, 5, 15 minutes, as ``uptime`` shows),
    ``platform``, ``python``, ``jax``, ``jaxlib``, ``numpy``, ``torch`` (``None`` when not
    installed; read from package metadata, torch is not imported), ``x64`` (the
    ``jax_enable_x64`` flag), ``device_kind``, ``device_count``, ``xla_flags``,
    ``omp_num_threads``, ``git_commit``, ``date_utc``.
    """
    devices = jax.devices()
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "numpy": np.__version__,
        "torch": _version("torch"),
        "x64": bool(jax.config.jax_enable_x64),
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "git_commit": _git_commit(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (``getrusage`` ``ru_maxrss``)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)):
        return _jsonable(np.asarray(value).tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def emit(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Print one JSON object ``{"benchmark": name, **payload}`` on one line of stdout; return it.

    NumPy and jax scalars and arrays become plain numbers and lists; non-finite floats become the
    strings ``"nan"``, ``"inf"``, ``"-inf"`` so the line stays valid JSON.
    """
    record = {"benchmark": str(name), **_jsonable(dict(payload))}
    print(json.dumps(record, sort_keys=False), flush=True)
    return record


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The common command line of a benchmark: ``--quick`` for a small smoke version."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="small smoke version (seconds, not minutes)"
    )
    return parser
