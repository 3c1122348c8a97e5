"""Benchmark of a study's grid: the Ma & Fattahi SubGM outlier sweep, three ways, in one process.

* ``overparam``   -- ``overparam.sweep.run`` over the grid: one compiled, vmapped program per
  chunk; the shared operator makes each step one matrix-matrix product (warm: compiled once).
* ``jax_loop``    -- a Python loop over the configurations calling one jitted single run
  (``sensing.run`` on one config, compiled once and reused).
* ``numpy_loop``  -- SubGM as a paper's code writes it: a NumPy loop over configurations and
  steps with the dense ``(m, n*n)`` sensing matrix, ``r = A vec(X X^T) - y``,
  ``X <- X - eta_t (Q + Q^T) X`` with ``Q = (1/m) sum sign(r_i) A_i``.

All three run the same problems from the same initial factors (``build_run``); the final
errors are compared. Times are per run (seconds), ratios are peer / overparam.

    python -m benchmarks.bench_studies [--quick]
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import sensing  # noqa: E402
from benchmarks import harness  # noqa: E402
from overparam import sweep  # noqa: E402
from overparam.studies import ma_fattahi_subgm as study  # noqa: E402


def numpy_subgm(a: np.ndarray, y: np.ndarray, x0: np.ndarray, m_star: np.ndarray, *, steps: int,
                eta0: float, rho: float) -> float:
    """Final relative error of SubGM written with NumPy, one configuration, dense ``a`` ``(m, n*n)``."""
    x = x0.copy()
    m = a.shape[0]
    for t in range(steps):
        r = a @ (x @ x.T).reshape(-1) - y
        q = (a.T @ np.sign(r)).reshape(x.shape[0], x.shape[0]) / m
        x = x - eta0 * rho**t * (q + q.T) @ x
    return float(np.linalg.norm(x @ x.T - m_star) / np.linalg.norm(m_star))


def main() -> None:
    args = harness.argument_parser(__doc__.splitlines()[0]).parse_args()
    overrides = {"init_scale": (1e-12, 1e-1), "outliers": (0.0, 0.6), "seed": (0, 1)} if args.quick else {}
    setup = study.STUDY.plan("quick", overrides)
    grid = setup.grids["outliers"]
    k_max = int(max(grid["rank"]))
    point = study.STUDY.sweeps["outliers"].bind(setup)  # the study's own per-run function
    steps = np.arange(0, setup.steps + 1, setup.record_every)
    kwargs = dict(key=jax.random.key(0), out_dims={"error": ("step",)}, out_coords={"step": steps}, progress=False)
    n_runs = int(np.prod([len(v) for v in grid.values()]))
    load = os.getloadavg()

    t_sweep = harness.timeit(lambda: sweep.run(point, grid, **kwargs)["error"].values, repeats=2, warmup=1)
    final_sweep = sweep.run(point, grid, **kwargs)["error"].isel(step=-1).values.reshape(-1)

    configs = [dict(zip(grid, values)) for values in np.array(np.meshgrid(*grid.values(), indexing="ij")).reshape(len(grid), -1).T]
    algorithm = sensing.subgm(setup.step_size, setup.decay)

    @jax.jit
    def single(config):
        problem, x0 = study.build_run(setup, config)
        return sensing.run(algorithm, problem, x0, steps=setup.steps, record_every=setup.record_every).error[-1]

    as_arrays = [{k: jnp.asarray(int(v) if k in ("rank", "seed") else v) for k, v in c.items()} for c in configs]
    t_loop = harness.timeit(lambda: [single(c) for c in as_arrays], repeats=1, warmup=1)
    final_loop = np.array([float(single(c)) for c in as_arrays])

    n_numpy = 4 if args.quick else 12
    picks = np.linspace(0, n_runs - 1, n_numpy).astype(int)
    final_numpy, t_numpy = [], 0.0
    for i in picks:
        problem, x0 = study.build_run(setup, as_arrays[i])
        a = np.asarray(sensing.dense_matrices(problem.operator, (setup.n, setup.n))).reshape(setup.m, -1)
        args_np = (a, np.asarray(problem.y), np.asarray(x0), np.asarray(problem.truth.matrix))
        timing = harness.timeit(numpy_subgm, *args_np, steps=setup.steps, eta0=setup.step_size, rho=setup.decay,
                                repeats=1, warmup=0)
        t_numpy += timing["min"]
        final_numpy.append(numpy_subgm(*args_np, steps=setup.steps, eta0=setup.step_size, rho=setup.decay))
    final_numpy = np.array(final_numpy)

    def rel_gap(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.max(np.abs(np.log(x) - np.log(y))))

    per_run = {"overparam": t_sweep["min"] / n_runs, "jax_loop": t_loop["min"] / n_runs, "numpy_loop": t_numpy / n_numpy}
    harness.emit("studies.subgm_outlier_grid", {
        "quick": args.quick, "runs": n_runs, "steps": setup.steps, "n": setup.n, "m": setup.m, "k_max": k_max,
        "seconds_per_run": per_run,
        "ratio_jax_loop_over_overparam": per_run["jax_loop"] / per_run["overparam"],
        "ratio_numpy_loop_over_overparam": per_run["numpy_loop"] / per_run["overparam"],
        "max_log_gap_final_error_jax_loop": rel_gap(final_loop, final_sweep),
        "max_log_gap_final_error_numpy": rel_gap(final_numpy, final_sweep[picks]),
        "numpy_runs_timed": n_numpy,
        "loadavg_before": load, "loadavg_after": os.getloadavg(),
        "machine": harness.machine_info(),
    })


if __name__ == "__main__":
    main()
