"""Matrix-sensing benchmark: a vmapped GD sweep against a NumPy loop and hand-batched PyTorch.

Run from the repository root::

    python -m benchmarks.bench_sensing           # the issue's sizes (a few minutes on 2 cores)
    python -m benchmarks.bench_sensing --quick   # smoke version

Part 1, the dense-operator sweep. One symmetric Gaussian problem (``n = 50``, ``r = 3``,
``m = 2000``) and 32 configurations: 8 init scales x ranks 1, 3, 5, 10, each zero-padded to
``k_max = 10``; 200 GD steps ``X <- X - eta sym(Z) X`` with ``Z = (1/m) sum_i r_i A_i``
(docs/sensing.md#symmetric-gd); the relative error ``||X X^T - M*||_F / ||M*||_F`` recorded every 20 steps.
Three implementations, float32 and float64, in one process:

* ``overparam``: ``jax.jit(jax.vmap(...))`` of ``sensing.small_init`` + ``sensing.rank_mask`` +
  ``sensing.run(sensing.gd(eta), ...)`` over the 32 configurations; the operator is the packed upper
  triangle ``(m, n(n+1)/2)`` shared by all configurations.
* ``numpy``: a loop over configurations and steps as a paper's code writes it, with the full
  ``(m, n, n)`` tensor and ``np.einsum`` for ``A(X X^T)`` and ``sum_i r_i A_i``.
* ``torch``: the 32 configurations batched by hand (``(B, n, k)`` factors, the operator as an
  ``(m, n^2)`` matrix), one GD step compiled with ``torch.compile``; also reported eager. Skipped
  when torch is not installed.

The three are first checked to produce the same error trajectories, then timed (the jax and torch
programs round-robin, ``harness.timeit_interleaved``, so drifting machine load hits them alike; the
NumPy loop once, as it takes minutes). Useful flops are
``4 m n^2`` per configuration and step (``2 m n^2`` for ``A(X X^T)`` and as many for
``sum_i r_i A_i`` on the unpacked operator); the achieved rate is compared with the float32 matmul
peak measured in the same run (``harness.matmul_peak_gflops``).

Part 2, the rank-one operator ``A_i = a_i b_i^T`` (``sensing.RankOne``): GD cost per step for
``n = 250 .. 4000`` at ``m = 5 n r`` (``r = 3``, ``k = r``, float32), from the time of ``steps``
steps minus the time of zero steps. One step reads the ``2 m n`` operator entries a fixed number of
times and does ``O(m n k)`` flops, so the cost is linear in the operator's size ``m n`` and, per
measurement, linear in ``n``; with ``m`` growing like ``n`` the total grows like ``n^2`` (a dense
operator would grow like ``m n^2 ~ n^3``). The fitted log-log slopes are reported.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import sensing  # noqa: E402
from benchmarks import harness  # noqa: E402

RANKS = (1, 3, 5, 10)


class SweepSize(NamedTuple):
    """Sizes of the dense-operator sweep (all static)."""

    n: int
    rank: int
    m: int
    k_max: int
    num_scales: int
    steps: int
    record_every: int
    step_size: float


FULL = SweepSize(n=50, rank=3, m=2000, k_max=10, num_scales=8, steps=200, record_every=20, step_size=0.25)
QUICK = SweepSize(n=20, rank=3, m=400, k_max=10, num_scales=2, steps=20, record_every=10, step_size=0.25)
RANK_ONE_N_FULL = (250, 500, 1000, 2000, 4000)
RANK_ONE_N_QUICK = (100, 200, 400)


def sweep_grid(size: SweepSize) -> tuple[np.ndarray, np.ndarray]:
    """The configuration grid: init scales ``logspace(-4, -1)`` x ranks, flattened, shapes ``(B,)``."""
    scales = np.logspace(-4.0, -1.0, size.num_scales)
    s, r = np.meshgrid(scales, np.asarray(RANKS), indexing="ij")
    return s.reshape(-1), r.reshape(-1)


def cast_problem(problem: sensing.Problem, dtype: Any) -> sensing.Problem:
    """The same problem with every floating leaf cast to ``dtype`` (integer leaves untouched)."""
    return jax.tree.map(
        lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, problem
    )


# ----------------------------------------------------------------------------- overparam


def overparam_sweep(
    problem: sensing.Problem,
    scales: jax.Array,
    ranks: jax.Array,
    step_size: jax.Array,
    key: jax.Array,
    *,
    k_max: int,
    steps: int,
    record_every: int,
) -> jax.Array:
    """Errors ``(B, T)`` of GD from small init for each (scale, rank) configuration, one vmapped program.

    Configuration ``i`` starts from ``sensing.small_init(fold_in(key, i), problem, k_max, scale_i)``
    with columns beyond ``rank_i`` zeroed (``sensing.rank_mask``); all share ``problem``.
    """

    def one(index: jax.Array, scale: jax.Array, rank: jax.Array) -> jax.Array:
        x0 = initial_factor(problem, key, index, scale, rank, k_max)
        trace = sensing.run(sensing.gd(step_size), problem, x0, steps=steps, record_every=record_every)
        return trace.error

    return jax.vmap(one)(jnp.arange(scales.shape[0]), scales, ranks)


def initial_factor(
    problem: sensing.Problem, key: jax.Array, index: jax.Array, scale: jax.Array, rank: jax.Array, k_max: int
) -> jax.Array:
    """``X0`` ``(n, k_max)`` of configuration ``index``: small init at ``scale``, zero beyond ``rank``."""
    x0 = sensing.small_init(jax.random.fold_in(key, index), problem, k_max, scale)
    return x0 * sensing.rank_mask(k_max, rank).astype(x0.dtype)


# ----------------------------------------------------------------------------- NumPy peer


def numpy_gd_errors(
    a: np.ndarray, y: np.ndarray, m_star: np.ndarray, x0: np.ndarray, step_size: float, steps: int, record_every: int
) -> np.ndarray:
    """One configuration of GD as a paper's NumPy code writes it; errors ``(T,)``.

    ``a`` is the full ``(m, n, n)`` tensor of sensing matrices; each step forms
    ``r_i = <A_i, X X^T> - y_i`` and ``Z = (1/m) sum_i r_i A_i`` with ``np.einsum`` and sets
    ``X <- X - eta (Z + Z^T)/2 X``.
    """
    m = a.shape[0]
    x = x0.copy()
    norm = np.linalg.norm(m_star)
    errors = [np.linalg.norm(x @ x.T - m_star) / norm]
    for t in range(1, steps + 1):
        r = np.einsum("ijk,jk->i", a, x @ x.T) - y
        z = np.einsum("i,ijk->jk", r, a) / m
        x = x - step_size * ((z + z.T) / 2) @ x
        if t % record_every == 0:
            errors.append(np.linalg.norm(x @ x.T - m_star) / norm)
    return np.asarray(errors)


def numpy_sweep(
    a: np.ndarray, y: np.ndarray, m_star: np.ndarray, x0s: np.ndarray, step_size: float, steps: int, record_every: int
) -> np.ndarray:
    """The NumPy peer over all configurations: a Python loop, errors ``(B, T)``."""
    return np.stack([numpy_gd_errors(a, y, m_star, x0, step_size, steps, record_every) for x0 in x0s])


# ----------------------------------------------------------------------------- PyTorch peer


def torch_module() -> Any | None:
    """``torch`` when installed, else ``None`` (the peer is then skipped)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def make_torch_sweep(
    torch: Any, a: np.ndarray, y: np.ndarray, m_star: np.ndarray, steps: int, record_every: int, compile: bool
) -> Callable[[Any, Any], Any]:
    """Hand-batched PyTorch GD over ``B`` configurations: ``sweep(X0 (B, n, k), eta) -> errors (B, T)``.

    The operator is the ``(m, n^2)`` matrix of flattened ``A_i``; a step is
    ``r = vec(X X^T) A^T - y``, ``Z = r A / m``, ``X <- X - eta sym(Z) X``, batched over configurations.
    With ``compile=True`` the step and the error are ``torch.compile``-d.
    """
    m, n, _ = a.shape
    a_flat = torch.from_numpy(np.array(a.reshape(m, n * n), copy=True))
    y_t = torch.from_numpy(np.array(y, copy=True))
    m_star_t = torch.from_numpy(np.array(m_star, copy=True))
    norm = torch.linalg.norm(m_star_t)

    def step(x: Any, eta: Any) -> Any:
        b = x.shape[0]
        r = (x @ x.transpose(1, 2)).reshape(b, n * n) @ a_flat.T - y_t
        z = (r @ a_flat).reshape(b, n, n) / m
        return x - eta * (((z + z.transpose(1, 2)) / 2) @ x)

    def error(x: Any) -> Any:
        d = x @ x.transpose(1, 2) - m_star_t
        return torch.linalg.norm(d.reshape(x.shape[0], -1), dim=1) / norm

    if compile:
        step = torch.compile(step, dynamic=False)
        error = torch.compile(error, dynamic=False)

    def sweep(x0: Any, eta: Any) -> Any:
        with torch.inference_mode():
            x = x0
            errors = [error(x)]
            for t in range(1, steps + 1):
                x = step(x, eta)
                if t % record_every == 0:
                    errors.append(error(x))
            return torch.stack(errors, dim=1)

    return sweep


# ----------------------------------------------------------------------------- HLO inspection


def operator_dots(hlo: str, dtype_name: str, m: int, width: int, batch: int) -> list[str]:
    """The dot instructions of a compiled module whose result is ``(batch, m)``/``(m, batch)`` or
    ``(batch, width)``/``(width, batch)``: the forward and adjoint products with the operator.

    With the configurations batched into a GEMM there is one such dot each way per step; a
    matrix-vector product per configuration would show result shapes ``(m,)`` or ``(width,)``.
    """
    short = {"float32": "f32", "float64": "f64"}[dtype_name]
    shapes = {f"{short}[{batch},{m}]", f"{short}[{m},{batch}]", f"{short}[{batch},{width}]", f"{short}[{width},{batch}]",
              f"{short}[{m}]", f"{short}[{width}]"}
    found = []
    for line in hlo.splitlines():
        match = re.search(r"=\s*(\w+\[[\d,]*\])\{?[^ ]*\s+(dot|fusion)\(", line)
        if match and match.group(1) in shapes and ("dot" in line):
            kind = "fusion" if match.group(2) == "fusion" else "dot"
            found.append(f"{kind} -> {match.group(1)}")
    return found


# ----------------------------------------------------------------------------- part 1


def useful_gflop(size: SweepSize, batch: int) -> float:
    """Useful GFLOP of the sweep: ``4 m n^2`` per configuration and step."""
    return 4.0 * size.m * size.n**2 * batch * size.steps / 1e9


def executed_gflop(size: SweepSize, batch: int) -> float:
    """GFLOP the packed operator's two GEMMs execute: ``4 m n(n+1)/2`` per configuration and step.

    The packed upper triangle has ``n(n+1)/2`` columns instead of ``n^2``, so the project executes
    about half the useful flops; this count (which ignores the ``O(n^2 k)`` work outside the
    operator) gives the fraction of the peak the GEMMs actually run at.
    """
    return 4.0 * size.m * (size.n * (size.n + 1) // 2) * batch * size.steps / 1e9


def torch_matmul_peak_gflops(torch: Any, dtype_name: str, sizes: tuple[int, ...] = (512, 1024, 2048)) -> float:
    """The float matmul rate of ``torch.matmul`` on this machine (best over ``sizes``), GFLOP/s.

    The same yardstick as ``harness.matmul_peak_gflops`` but through torch's own BLAS, so that a
    gap between the two implementations can be told apart from a gap between their BLAS libraries.
    """
    tdt = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, dtype=tdt)
        b = torch.randn(n, n, dtype=tdt)
        t = harness.timeit(torch.matmul, a, b, repeats=5, warmup=1)["min"]
        best = max(best, harness.gflops(harness.matmul_flops(n, n, n), t))
    return best


def dense_sweep(size: SweepSize, dtype_name: str, repeats: int, info: dict[str, Any]) -> dict[str, Any]:
    """Check agreement, then time the three implementations for one dtype; returns the JSON record."""
    dtype = jnp.dtype(dtype_name)
    key = jax.random.key(0)
    problem64 = sensing.make_problem(jax.random.key(1), n=size.n, rank=size.rank, m=size.m, operator="gaussian",
                                     dtype=jnp.float64)
    problem = cast_problem(problem64, dtype)
    scales_np, ranks_np = sweep_grid(size)
    batch = scales_np.size
    scales = jnp.asarray(scales_np, dtype)
    ranks = jnp.asarray(ranks_np, jnp.int32)
    eta = jnp.asarray(size.step_size, dtype)
    statics = dict(k_max=size.k_max, steps=size.steps, record_every=size.record_every)

    program = jax.jit(lambda p, s, r, e, k: overparam_sweep(p, s, r, e, k, **statics))
    x0s = jax.jit(jax.vmap(lambda i, s, r: initial_factor(problem, key, i, s, r, size.k_max)))(
        jnp.arange(batch), scales, ranks)
    x0s_np = np.asarray(x0s)
    a_np = np.asarray(sensing.dense_matrices(problem.operator, (size.n, size.n)))
    y_np, m_star_np = np.asarray(problem.y), np.asarray(problem.truth.matrix)

    start = time.perf_counter()
    compiled = program.lower(problem, scales, ranks, eta, key).compile()
    compile_s = time.perf_counter() - start
    hlo_dots = operator_dots(compiled.as_text(), dtype_name, size.m, size.n * (size.n + 1) // 2, batch)
    errors_op = np.asarray(compiled(problem, scales, ranks, eta, key))

    # NumPy: the single timed run is also the agreement run (it takes the longest)
    box: dict[str, np.ndarray] = {}

    def numpy_run() -> np.ndarray:
        box["errors"] = numpy_sweep(a_np, y_np, m_star_np, x0s_np, size.step_size, size.steps, size.record_every)
        return box["errors"]

    t_numpy = harness.timeit(numpy_run, repeats=1, warmup=0)
    errors_np = box["errors"]

    tol = {"float32": 2e-4, "float64": 1e-9}[dtype_name]
    agreement = {"numpy_max_abs_diff": float(np.max(np.abs(errors_op - errors_np)))}

    torch = torch_module()
    t_torch = t_torch_eager = None
    torch_compile_s = None
    if torch is not None:
        tdt = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
        x0_t = torch.from_numpy(x0s_np.copy()).to(tdt)
        eta_t = torch.full((batch, 1, 1), size.step_size, dtype=tdt)
        eager = make_torch_sweep(torch, a_np, y_np, m_star_np, size.steps, size.record_every, compile=False)
        compiled_t = make_torch_sweep(torch, a_np, y_np, m_star_np, size.steps, size.record_every, compile=True)
        start = time.perf_counter()
        errors_t = compiled_t(x0_t, eta_t).numpy()
        torch_compile_s = time.perf_counter() - start
        errors_te = eager(x0_t, eta_t).numpy()
        agreement["torch_max_abs_diff"] = float(np.max(np.abs(errors_op - errors_t)))
        agreement["torch_eager_max_abs_diff"] = float(np.max(np.abs(errors_op - errors_te)))
    agreement["tolerance"] = tol
    agreement["agree"] = all(v <= tol for k, v in agreement.items() if k.endswith("diff"))
    if not agreement["agree"]:
        raise AssertionError(f"implementations disagree ({dtype_name}): {agreement}")

    # timing (after the agreement check); the matmul peak right before the project's timing
    peak32 = harness.matmul_peak_gflops("float32")
    peak_own = peak32 if dtype_name == "float32" else harness.matmul_peak_gflops(dtype_name)
    torch_peak32 = None if torch is None else torch_matmul_peak_gflops(torch, "float32")
    calls: dict[str, Callable[[], Any]] = {"overparam": lambda: compiled(problem, scales, ranks, eta, key)}
    if torch is not None:
        calls["torch_compile"] = lambda: compiled_t(x0_t, eta_t)
        calls["torch_eager"] = lambda: eager(x0_t, eta_t)
    timings = harness.timeit_interleaved(calls, repeats=repeats, warmup=1)
    t_op = timings["overparam"]
    t_torch = timings.get("torch_compile")
    t_torch_eager = timings.get("torch_eager")

    gflop = useful_gflop(size, batch)
    rate = gflop / t_op["min"]
    record: dict[str, Any] = {
        "dtype": dtype_name,
        "sizes": size._asdict() | {"configurations": batch, "ranks": list(RANKS)},
        "seconds": {
            "overparam": t_op,
            "numpy": t_numpy,
            "torch_compile": t_torch,
            "torch_eager": t_torch_eager,
        },
        "overparam_compile_s": compile_s,
        "torch_first_call_s": torch_compile_s,
        "speedup_vs_numpy": t_numpy["min"] / t_op["min"],
        "speedup_vs_torch_compile": None if t_torch is None else t_torch["min"] / t_op["min"],
        "speedup_vs_torch_eager": None if t_torch_eager is None else t_torch_eager["min"] / t_op["min"],
        "useful_gflop": gflop,
        "useful_gflops": {
            "overparam": rate,
            "numpy": gflop / t_numpy["min"],
            "torch_compile": None if t_torch is None else gflop / t_torch["min"],
        },
        "matmul_peak_gflops_float32": peak32,
        f"matmul_peak_gflops_{dtype_name}": peak_own,
        "fraction_of_float32_peak": rate / peak32,
        "executed_gflop_packed_operator": executed_gflop(size, batch),
        "executed_fraction_of_float32_peak": executed_gflop(size, batch) / t_op["min"] / peak32,
        "torch_matmul_peak_gflops_float32": torch_peak32,
        "torch_fraction_of_own_float32_peak": None if t_torch is None else gflop / t_torch["min"] / torch_peak32,
        "fraction_of_own_dtype_peak": rate / peak_own,
        "targets_met": {
            "10x_numpy": t_numpy["min"] / t_op["min"] >= 10.0,
            "1.5x_torch_compile": None if t_torch is None else t_torch["min"] / t_op["min"] >= 1.5,
            "60pct_float32_peak": rate / peak32 >= 0.6,
        },
        "agreement": agreement,
        "final_error_range": [float(errors_op[:, -1].min()), float(errors_op[:, -1].max())],
        "operator_dots_in_hlo": hlo_dots,
        "torch_installed": torch is not None,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "peak_rss_mb": harness.peak_rss_mb(),
    }
    return record


# ----------------------------------------------------------------------------- part 2


def rank_one_scaling(ns: tuple[int, ...], rank: int, repeats: int) -> dict[str, Any]:
    """Seconds per GD step with the rank-one operator for each ``n`` (``m = 5 n r``, ``k = r``, float32)."""
    per_step, steps_used, ms = [], [], []
    for n in ns:
        m = 5 * n * rank
        problem = sensing.make_problem(jax.random.key(n), n=n, rank=rank, m=m, operator="rank_one", dtype=jnp.float32)
        x0 = sensing.small_init(jax.random.key(n + 1), problem, rank, 0.1)
        eta = jnp.asarray(0.1, jnp.float32)
        steps = int(np.clip(4e8 // (m * n), 2, 400))

        def program(p: sensing.Problem, x: jax.Array, e: jax.Array, s: int = steps) -> jax.Array:
            return sensing.run(sensing.gd(e), p, x, steps=s, record_every=max(s, 1)).error

        def program0(p: sensing.Problem, x: jax.Array, e: jax.Array) -> jax.Array:
            return sensing.run(sensing.gd(e), p, x, steps=0, record_every=1).error

        run_s = jax.jit(program).lower(problem, x0, eta).compile()
        run_0 = jax.jit(program0).lower(problem, x0, eta).compile()
        t_s = harness.timeit(run_s, problem, x0, eta, repeats=repeats, warmup=1)["min"]
        t_0 = harness.timeit(run_0, problem, x0, eta, repeats=repeats, warmup=1)["min"]
        per_step.append(max(t_s - t_0, 1e-12) / steps)
        steps_used.append(steps)
        ms.append(m)
        del problem, run_s, run_0
    ns_arr, ms_arr, t_arr = np.asarray(ns, float), np.asarray(ms, float), np.asarray(per_step)
    return {
        "dtype": "float32",
        "rank": rank,
        "k": rank,
        "n": list(ns),
        "m": ms,
        "steps_timed": steps_used,
        "seconds_per_step": per_step,
        "seconds_per_step_per_measurement": list(t_arr / ms_arr),
        "slope_total_vs_n": harness.loglog_slope(ns_arr, t_arr),
        "slope_per_measurement_vs_n": harness.loglog_slope(ns_arr, t_arr / ms_arr),
        "slope_vs_operator_size_mn": harness.loglog_slope(ms_arr * ns_arr, t_arr),
        "expected": "per measurement ~ n^1 (O(n k) each); total ~ m n k ~ n^2 since m = 5 n r; "
                    "a dense operator would cost m n^2 ~ n^3",
        "gflops_model_8mnk": list(8.0 * ms_arr * ns_arr * rank / t_arr / 1e9),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "peak_rss_mb": harness.peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run both parts and print one JSON line per record."""
    args = harness.argument_parser(__doc__.splitlines()[0]).parse_args(argv)
    size = QUICK if args.quick else FULL
    repeats = 2 if args.quick else 3
    info = harness.machine_info()
    harness.emit("sensing.machine", info)
    for dtype_name in ("float32", "float64"):
        harness.emit("sensing.dense_sweep", dense_sweep(size, dtype_name, repeats, info))
    ns = RANK_ONE_N_QUICK if args.quick else RANK_ONE_N_FULL
    harness.emit("sensing.rank_one_scaling", rank_one_scaling(ns, 3, repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
