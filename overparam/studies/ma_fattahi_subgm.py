"""Ma & Fattahi 2022: the sub-gradient method with small initialisation under outliers and noise.

Symmetric matrix sensing ``y_i = <A_i, M*> + s_i`` with a dense Gaussian operator, ``M* = U* U*^T``
of rank ``r``, fitted by SubGM on the l1 loss (MATH.md section 1)::

    X <- X - eta_t (Q + Q^T) X,   Q = (1/m) sum_i sign(<A_i, X X^T> - y_i) A_i,   eta_t = eta_0 rho^t

from ``X_0 = alpha B`` with ``k >= r`` columns (rank ``k`` is a zero-padding mask on ``k_max``
columns, so one compiled program serves every rank). Two sweeps run through
:func:`overparam.sweep.run`:

* outliers:  rank x init_scale x outliers (fraction p of measurements replaced by
  ``10 max|y| U(-1, 1)``) x seed;
* noise:     rank x noise (Gaussian ``s_i ~ N(0, nu^2)``) x seed, at the smallest init scale.

The operator and ``M*`` are shared by every run (one GEMM per step for the whole chunk); the seed
draws the direction ``B`` of the initialisation and the noise, and the same seed gives the same
``B`` and the same (nested) outlier positions at every rank, scale and fraction (common random
numbers), so the comparisons across the grid are paired.

Claims (from the paper, as MATH.md section 1 states them):

1. exact recovery for ``k = r`` for every outlier fraction up to 0.6;
2. with small init the iterations to reach a target error do not depend on ``k``;
3. for ``k > r`` the final error falls as ``alpha`` falls;
4. a large init stalls the over-parameterised run;
5. with Gaussian noise the error floor scales like ``nu sqrt(n r / m)`` and does not depend on ``k``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
import xarray as xr

import sensing
from overparam import plot
from overparam import sweep
from overparam.studies.base import SIZES, Claim, Produced, SetupStudy, Size, check_integers, merge_overrides
from sensing.problem import sample_noise

PAPER = "Ma & Fattahi 2022"
NAME = "ma-fattahi-subgm"


class Setup(NamedTuple):
    """The static part of the study at one size (shapes and schedule) plus its default grid."""

    n: int  # side of M*
    r: int  # rank of M*
    m: int  # measurements
    steps: int
    record_every: int
    step_size: float  # eta_0
    decay: float  # rho
    axes: dict[str, tuple[float, ...]]


SETUPS: dict[str, Setup] = {
    "quick": Setup(
        n=12, r=2, m=800, steps=2000, record_every=20, step_size=0.5, decay=0.99,
        axes={
            "rank": (2, 4, 8),
            "init_scale": (1e-7, 1e-5, 1e-3, 1e-1),
            "outliers": (0.0, 0.3, 0.6),
            "noise": (1e-3, 1e-2, 1e-1),
            "seed": (0, 1, 2),
        },
    ),
    "paper": Setup(
        n=40, r=3, m=2400, steps=4000, record_every=20, step_size=0.5, decay=0.995,
        axes={
            "rank": (3, 6, 12, 24),
            "init_scale": (1e-8, 1e-6, 1e-4, 1e-2, 1e-1),
            "outliers": (0.0, 0.2, 0.4, 0.6),
            "noise": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
            "seed": tuple(range(8)),
        },
    ),
}

TARGET_ERROR = 1e-3  # claim 2: iterations to reach this relative error
EXACT_ERROR = 1e-6  # claim 1: "exact" recovery threshold at the end of the run
ITERATION_SPREAD = 1.3  # claim 2: median paired ratio t(k) / t(r) of iterations to the target, either way
STALL_ERROR = 1e-3  # claim 4: a stalled run ends above this error
FLOOR_SPREAD = 1.25  # claim 5: max/min over k of the median noise floor, at each nu
FLOOR_SLOPE = (0.85, 1.15)  # claim 5: d log floor / d log nu
FLOOR_CONSTANT = (0.2, 5.0)  # claim 5: measured floor / (nu sqrt(n r / m) / ||M*||_F)
PROBLEM_SEED = 20220  # the shared operator and truth
INIT_SEED = 7  # root of the per-seed initialisation and noise keys


def noise_floor_theory(nu: np.ndarray | float, n: int, r: int, m: int) -> np.ndarray:
    """Predicted relative error floor ``nu sqrt(n r / m) / ||M*||_F`` with ``||M*||_F = sqrt(r)``.

    Ma & Fattahi (2022) bound the error of SubGM under Gaussian noise by ``nu sqrt(n r / m)`` up to
    constants and logarithms, independently of the search rank ``k``; the truth here has ``r``
    unit singular values (``cond = 1``), so ``||M*||_F = sqrt(r)``.
    """
    return np.asarray(nu, dtype=float) * np.sqrt(n * r / m) / np.sqrt(r)


def iterations_to(error: np.ndarray, steps: np.ndarray, target: float) -> np.ndarray:
    """First step at which ``error`` (..., T) falls to ``target``, interpolated in log error.

    Between the last record above the target and the first at or below it, the step is
    interpolated linearly in ``log(error)``; ``inf`` where the target is never reached.
    """
    error = np.asarray(error, dtype=float)
    steps = np.asarray(steps, dtype=float)
    below = np.isfinite(error) & (error <= target)
    hit = below.any(axis=-1)
    first = np.argmax(below, axis=-1)
    prev = np.maximum(first - 1, 0)
    e1 = np.take_along_axis(error, first[..., None], -1)[..., 0]
    e0 = np.take_along_axis(error, prev[..., None], -1)[..., 0]
    t1, t0 = steps[first], steps[prev]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(first > 0, (np.log(e0) - np.log(target)) / (np.log(e0) - np.log(e1)), 0.0)
    t = t0 + np.clip(np.nan_to_num(frac), 0.0, 1.0) * (t1 - t0)
    return np.where(hit, np.where(first > 0, t, t1), np.inf)


def build_run(setup: Setup, k_max: int, config: Mapping[str, jax.Array | float]) -> tuple[sensing.Problem, jax.Array]:
    """The problem and initial factor of one run: ``(problem, X0)`` with ``X0`` of shape ``(n, k_max)``.

    The operator and ``M*`` come from ``PROBLEM_SEED`` (shared by every run); the noise
    ``s = outliers(p) + N(0, nu^2)`` and the direction ``B`` of ``X0 = alpha B`` from
    ``fold_in(key(INIT_SEED), seed)``; columns ``rank..k_max`` of ``X0`` are zero. ``config`` holds
    ``rank``, ``init_scale``, ``outliers``, ``noise`` and ``seed`` (scalars, may be traced).
    """
    problem = sensing.make_problem(jax.random.key(PROBLEM_SEED), n=setup.n, rank=setup.r, m=setup.m)
    seed_key = jax.random.fold_in(jax.random.key(INIT_SEED), config["seed"])
    k_outliers, k_gauss, k_init = jax.random.split(seed_key, 3)
    s = sample_noise(k_outliers, sensing.outliers(config["outliers"]), problem.y)
    s = s + sample_noise(k_gauss, sensing.gaussian_noise(config["noise"]), problem.y)
    problem = problem._replace(y=problem.y + s)
    x0 = sensing.small_init(k_init, problem, k_max, config["init_scale"])
    return problem, x0 * sensing.rank_mask(k_max, config["rank"])


_POINTS: dict[tuple[Setup, int], Callable[[Mapping[str, jax.Array], jax.Array], dict[str, jax.Array]]] = {}


def _point(setup: Setup, k_max: int) -> Callable[[Mapping[str, jax.Array], jax.Array], dict[str, jax.Array]]:
    """The pure per-run function of both sweeps: config -> error trace ``(T,)`` and divergence flag.

    The config holds ``rank``, ``init_scale``, ``outliers`` (fraction p), ``noise`` (nu) and
    ``seed``; the noise is ``s = outliers(p) + N(0, nu^2)``, so the outlier sweep sets
    ``noise = 0`` and the noise sweep ``outliers = 0``. Factors have ``k_max`` columns, the last
    ``k_max - rank`` of them zero. One function object per ``(setup, k_max)``, so both sweeps
    share the engine's compiled program.
    """
    cache_key = (setup._replace(axes=None), k_max)
    if cache_key in _POINTS:
        return _POINTS[cache_key]
    algorithm = sensing.subgm(setup.step_size, setup.decay)

    def point(config: Mapping[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        del key  # common random numbers: the randomness of a run is a function of its seed only
        problem, x0 = build_run(setup, k_max, config)
        trace = sensing.run(algorithm, problem, x0, steps=setup.steps, record_every=setup.record_every)
        return {"error": trace.error, "diverged": trace.diverged}

    point.__name__ = point.__qualname__ = "ma_fattahi_subgm"
    _POINTS[cache_key] = point
    return point


def _check_axes(setup: Setup, overrides: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, ...]]:
    axes = merge_overrides(setup.axes, overrides)
    ranks = axes["rank"]
    if any(int(k) != k or k < 1 or k > setup.n for k in ranks):
        raise ValueError(f"rank={ranks!r} must be integers in [1, n={setup.n}]")
    if setup.r not in ranks or not any(k > setup.r for k in ranks):
        raise ValueError(f"rank={ranks!r} must contain r={setup.r} and at least one k > r")
    if any(not 0.0 <= p < 1.0 for p in axes["outliers"]):
        raise ValueError(f"outliers={axes['outliers']!r} must lie in [0, 1)")
    if any(not a > 0 for a in axes["init_scale"]) or len(axes["init_scale"]) < 2:
        raise ValueError(f"init_scale={axes['init_scale']!r} needs at least two values > 0")
    if any(not v > 0 for v in axes["noise"]) or len(axes["noise"]) < 2:
        raise ValueError(f"noise={axes['noise']!r} needs at least two values > 0")
    check_integers("seed", axes["seed"])
    return {k: tuple(sorted(v)) for k, v in axes.items()}


def run_sweeps(
    size: Size = "quick",
    overrides: Mapping[str, Sequence[float]] | None = None,
    *,
    store: Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> tuple[xr.Dataset, xr.Dataset, Setup]:
    """Run the outlier sweep and the noise sweep; return ``(outliers_ds, noise_ds, setup)``.

    ``outliers_ds["error"]`` has dims ``(rank, init_scale, outliers, seed, step)`` and
    ``noise_ds["error"]`` dims ``(rank, noise, seed, step)`` (relative error
    ``||X X^T - M*||_F / ||M*||_F`` every ``record_every`` steps, step 0 included).
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    setup = SETUPS[size]
    axes = _check_axes(setup, overrides)
    k_max = int(max(axes["rank"]))
    steps = np.arange(0, setup.steps + 1, setup.record_every)
    config = {"study": NAME, "size": size, **{f: v for f, v in setup._asdict().items() if f != "axes"}}
    grids = {
        "outliers": {"rank": axes["rank"], "init_scale": axes["init_scale"], "outliers": axes["outliers"],
                     "noise": (0.0,), "seed": axes["seed"]},
        "noise": {"rank": axes["rank"], "init_scale": (min(axes["init_scale"]),), "outliers": (0.0,),
                  "noise": axes["noise"], "seed": axes["seed"]},
    }
    # equal chunks for both grids: the second sweep reuses the first one's compiled program
    chunk = min(int(np.prod([len(v) for v in g.values()])) for g in grids.values())
    point = _point(setup, k_max)
    datasets = []
    for kind, grid in grids.items():
        path = None
        if store is not None:
            path = Path(store) / f"{kind}.zarr"
            if path.exists() and not resume:
                shutil.rmtree(path)
        ds = sweep.run(
            point, grid, key=jax.random.key(0), chunk_size=chunk, store=path, resume=resume, progress=progress,
            out_dims={"error": ("step",)}, out_coords={"step": steps},
            attrs={**config, "sweep": kind, "k_max": k_max},
        )
        fixed = [d for d in ("noise", "outliers", "init_scale") if ds.sizes[d] == 1 and (kind == "noise" or d == "noise")]
        datasets.append(ds.isel({d: 0 for d in fixed}))
    return datasets[0], datasets[1], setup


def _median(da: xr.DataArray, dims: Sequence[str]) -> xr.DataArray:
    return da.median(dim=[d for d in dims if d in da.dims])


def evaluate_claims(outliers_ds: xr.Dataset, noise_ds: xr.Dataset, setup: Setup) -> list[Claim]:
    """The five claims, measured on the two sweeps (thresholds are the module constants)."""
    r = setup.r
    final = outliers_ds["error"].isel(step=-1)
    ranks = [int(k) for k in outliers_ds["rank"].values]
    over = [k for k in ranks if k > r]
    alphas = outliers_ds.init_scale.values
    p_max = float(outliers_ds.outliers.values.max())
    claims: list[Claim] = []

    def claim(text: str, measured: str, expected: str, passed: bool) -> None:
        claims.append(Claim(NAME, PAPER, text, measured, expected, bool(passed)))

    # 1. exact recovery for k = r, every outlier fraction and init scale
    exact = final.sel(rank=r)
    worst = float(exact.max())
    claim(
        f"SubGM recovers M* exactly for k = r (outlier fraction up to {p_max:g})",
        f"max final error {worst:.2e}",
        f"< {EXACT_ERROR:g}",
        np.isfinite(worst) and worst < EXACT_ERROR,
    )

    # 2. iterations to the target error, at the smallest init, do not depend on k
    small = outliers_ds["error"].isel(init_scale=0)
    iters = xr.DataArray(
        iterations_to(small.values, outliers_ds.step.values, TARGET_ERROR),
        dims=small.dims[:-1], coords={d: small[d] for d in small.dims[:-1]},
    )
    # paired: the same seed gives the same initial directions and outliers at every k
    paired = (iters.sel(rank=over) / iters.sel(rank=r)).median(["seed", "outliers"])  # (rank,)
    worst_spread = float(np.max(np.maximum(paired.values, 1.0 / paired.values)))
    claim(
        f"iterations to error {TARGET_ERROR:g} do not depend on k (alpha = {alphas[0]:g})",
        "median over seeds and p of t(k) / t(r): "
        + ", ".join(f"{v:.2f} (k={k})" for v, k in zip(paired.values, over))
        + f"; t(r) = {float(iters.sel(rank=r).median()):.0f} steps",
        f"within a factor {ITERATION_SPREAD:g} of 1",
        np.isfinite(worst_spread) and worst_spread <= ITERATION_SPREAD,
    )

    # 3. for k > r the final error falls with alpha, over the small-init range (all but the largest)
    f_over = final.sel(rank=over).isel(init_scale=slice(0, -1)).median("seed")  # (rank, alpha, p)
    log_f = np.log(f_over.transpose("rank", "outliers", "init_scale").values)
    monotone = bool(np.all(np.diff(log_f, axis=-1) > 0))
    small_alphas = alphas[:-1]
    slope = float(np.median(np.polyfit(np.log(small_alphas), log_f.reshape(-1, len(small_alphas)).T, 1)[0]))
    claim(
        f"for k > r the final error falls as the init scale falls (alpha <= {small_alphas[-1]:g})",
        f"increasing in alpha for every k > r and p: {monotone}; median log-log slope {slope:.2f}",
        "strictly increasing in alpha",
        monotone,
    )

    # 4. a large init stalls the over-parameterised run while k = r still recovers
    big = final.isel(init_scale=-1)
    stall = float(_median(big.sel(rank=max(over)), ["seed", "outliers"]))
    exact_big = float(_median(big.sel(rank=r), ["seed", "outliers"]))
    claim(
        f"a large init (alpha = {alphas[-1]:g}) stalls the over-parameterised run (k = {max(over)})",
        f"median final error {stall:.2e} (k = r: {exact_big:.1e})",
        f">= {STALL_ERROR:g}",
        stall >= STALL_ERROR and exact_big < STALL_ERROR,
    )

    # 5. Gaussian noise: floor ~ nu sqrt(n r / m), independent of k
    floor = _median(noise_ds["error"].isel(step=-1), ["seed"])  # (rank, noise)
    nus = noise_ds.noise.values
    k_spread = float(np.max((floor.max("rank") / floor.min("rank")).values))
    nu_slope = float(np.polyfit(np.log(nus), np.log(floor.median("rank").values), 1)[0])
    constant = float(np.median(floor.values / noise_floor_theory(nus, setup.n, r, setup.m)))
    ok = (k_spread <= FLOOR_SPREAD and FLOOR_SLOPE[0] <= nu_slope <= FLOOR_SLOPE[1]
          and FLOOR_CONSTANT[0] <= constant <= FLOOR_CONSTANT[1])
    claim(
        "with Gaussian noise the error floor scales like nu sqrt(n r / m) and does not depend on k",
        f"max/min over k {k_spread:.2f}; slope in nu {nu_slope:.2f}; floor / theory {constant:.2f}",
        f"<= {FLOOR_SPREAD:g}; {FLOOR_SLOPE[0]:g}..{FLOOR_SLOPE[1]:g}; {FLOOR_CONSTANT[0]:g}..{FLOOR_CONSTANT[1]:g}",
        ok,
    )
    return claims


def make_figures(outliers_ds: xr.Dataset, noise_ds: xr.Dataset, setup: Setup, out: Path) -> list[Path]:
    """Error vs step per outlier fraction, final error vs alpha, iterations vs k, noise floor vs nu."""
    r = setup.r
    figures: list[Path] = []
    fractions = outliers_ds.outliers.values
    alpha0 = float(outliers_ds.init_scale.values[0])

    fig, axes = plot.figure(1, len(fractions))
    for ax, p in zip(axes[0], fractions):
        plot.curves(ax, outliers_ds["error"].sel(outliers=p).isel(init_scale=0), x="step", hue="rank",
                    label="k = {value}", ylabel="relative error ||XX^T - M*||_F / ||M*||_F")
        ax.axhline(TARGET_ERROR, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(f"outlier fraction p = {p:g}, alpha = {alpha0:g}")
        ax.legend(fontsize=8)
    figures += plot.save(fig, out, "error_vs_step")

    final = outliers_ds["error"].isel(step=-1)
    fig, axes = plot.figure(1, len(fractions))
    for ax, p in zip(axes[0], fractions):
        for k in outliers_ds["rank"].values:
            mean, sem = plot.mean_sem(final.sel(outliers=p, rank=k), "seed")
            plot.error_bars(ax, outliers_ds.init_scale.values, mean.values, sem.values, f"k = {int(k)}")
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("init scale alpha"), ax.set_ylabel("final relative error")
        ax.set_title(f"p = {p:g}: final error vs alpha")
        ax.legend(fontsize=8)
    figures += plot.save(fig, out, "final_error_vs_alpha")

    small = outliers_ds["error"].isel(init_scale=0)
    iters = iterations_to(small.values, outliers_ds.step.values, TARGET_ERROR)  # (rank, outliers, seed)
    fig, axes = plot.figure(1, 1)
    ax = axes[0, 0]
    ranks = outliers_ds["rank"].values.astype(float)
    for j, p in enumerate(fractions):
        vals = xr.DataArray(iters[:, j, :], dims=("rank", "seed"))
        mean, sem = plot.mean_sem(vals, "seed")
        plot.error_bars(ax, ranks, mean.values, sem.values, f"p = {p:g}")
        ref = float(mean.values[list(outliers_ds["rank"].values).index(r)])
        plot.theory_line(ax, ranks, np.full_like(ranks, ref), f"independent of k (p = {p:g})" if j == 0 else None,
                         color=ax.lines[-1].get_color() if ax.lines else "black")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("search rank k"), ax.set_ylabel(f"iterations to error {TARGET_ERROR:g}")
    ax.set_title(f"alpha = {alpha0:g}")
    ax.legend(fontsize=8)
    figures += plot.save(fig, out, "iterations_vs_rank")

    floor = noise_ds["error"].isel(step=-1)
    nus = noise_ds.noise.values
    fig, axes = plot.figure(1, 1)
    ax = axes[0, 0]
    for k in noise_ds["rank"].values:
        mean, sem = plot.mean_sem(floor.sel(rank=k), "seed")
        plot.error_bars(ax, nus, mean.values, sem.values, f"k = {int(k)}")
    grid = np.geomspace(nus.min(), nus.max(), 50)
    plot.theory_line(ax, grid, noise_floor_theory(grid, setup.n, r, setup.m), "nu sqrt(n r / m) / ||M*||_F")
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("Gaussian noise level nu"), ax.set_ylabel("final relative error")
    ax.set_title("noise floor vs nu")
    ax.legend(fontsize=8)
    figures += plot.save(fig, out, "noise_floor")
    return figures


class SubGMStudy(SetupStudy):
    """Ma & Fattahi 2022 as a study: SubGM with small init under outliers and noise, over k and alpha."""

    name = NAME
    paper = PAPER
    description = "SubGM with small init under outliers (p <= 0.6) and Gaussian noise, over rank and init scale"
    setups = SETUPS
    check_axes = staticmethod(_check_axes)

    def produce(self, *, size: Size, out: Path, overrides: Mapping[str, Sequence[float]] | None, resume: bool,
                progress: bool) -> Produced:
        outliers_ds, noise_ds, setup = run_sweeps(size, overrides, store=out, resume=resume, progress=progress)
        claims = evaluate_claims(outliers_ds, noise_ds, setup)
        figures = make_figures(outliers_ds, noise_ds, setup, out)
        return Produced(claims, figures, [out / "outliers.zarr", out / "noise.zarr"], setup)


STUDY = SubGMStudy()

__all__ = ["STUDY", "SETUPS", "Setup", "SubGMStudy", "build_run", "evaluate_claims", "iterations_to", "make_figures",
           "noise_floor_theory", "run_sweeps"]
