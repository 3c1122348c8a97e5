"""Xiong, Ding & Du 2023: symmetric vs asymmetric gradient descent in over-parameterised matrix sensing.

Dense Gaussian sensing of a rank-``r`` matrix, fitted with ``k >= r`` columns from a small random
initialisation ``X0 = alpha B`` (MATH.md section 1):

* symmetric GD on ``M* = U* U*^T``:   ``X <- X - eta sym(Z) X``;
* asymmetric GD on ``M* = L* R*^T``:  ``F <- F - eta Z G``, ``G <- G - eta Z^T F``, with ``F0`` at
  scale ``alpha`` and ``G0`` at ``alpha / 3``;
* the same asymmetric run with one balancing step ``(F, G) <- (F (F^T F)^{-1/2}, G (F^T F)^{1/2})``
  (``sensing.rebalance``) at step ``rebalance_at``.

One sweep over rank x init_scale x seed runs through :func:`overparam.sweep.run`; rank ``k`` is a
zero-padding mask on ``k_max`` columns, so one compiled program serves every rank. The seed
draws the problem and the direction ``B`` of the initialisation, the same at every rank and
scale (paired comparisons).

Claims checked (MATH.md section 1, "What the theory says"):

1. symmetric over-parameterised GD is sublinear: in the tail the error halves when ``t`` doubles;
2. asymmetric over-parameterised GD is linear with a rate scaling like ``alpha^2``;
3. after one balancing step the rate no longer depends on ``alpha``;
4. the asymmetric rate is of the size of ``sensing.theory.asymmetric_rate``,
   ``eta lambda_min(F0^T F0 - G0^T G0)``, within a factor 2. That formula sets the scale, not the
   constant: in the population limit the tail rate is ``eta lambda_min(Q^T D Q)`` (``D`` the
   imbalance, ``Q`` a basis of the null space of ``G`` at the limit; evaluated from the final
   factors by ``sensing.theory.asymmetric_tail_rate``), at least ``eta lambda_min(D0)`` by
   interlacing and larger by a factor that depends on the draw (1.03 to 2.6 here); finite ``m``
   lowers it again (about 0.7 at ``m = 500``). The measured/predicted ratio therefore varies
   from run to run around 1.5;
5. exact parameterisation (``k = r``) converges linearly for both, to the float64 floor;
6. in the population limit (``operator="population"``) the asymmetric tail rate equals
   ``sensing.theory.asymmetric_tail_rate`` at the final factors, ``-log(1 - eta lambda_min(F^T F))``:
   worst ``|measured / predicted - 1|`` within 1 % over the two largest init scales of the default
   grid and two seeds at ``k = k_max`` (seen: 0.1 % at quick size, 0.35 % at paper size;
   ``eta lambda_min(D0)`` in its place is off by up to a factor 2.6). These runs are separate from
   the sweep (:func:`population_tail`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import sensing
from overparam import plot, store, sweep
from overparam.studies.base import SIZES, Claim, Produced, SetupStudy, Size, check_integers, merge_overrides

PAPER = "Xiong, Ding & Du 2023"
NAME = "xiong-sym-vs-asym"
PROBLEM_SEED = 2023
FLOOR = 1e-11  # errors below this are float64 round-off, excluded from rate fits

SUBLINEAR_RATIO = (0.4, 0.65)  # claim 1: e(T) / e(T/2); theory 1/2
ALPHA_EXPONENT = (1.6, 2.4)  # claim 2: d log rate / d log alpha; theory 2
FLAT_EXPONENT = 0.3  # claim 3: |d log rate / d log alpha| after balancing; theory 0
THEORY_RATIO = (0.5, 2.0)  # claim 4: median measured / predicted rate; the formula gives the scale
EXACT_ERROR = 1e-9  # claim 5: final error of the k = r runs
TAIL_TOLERANCE = 0.01  # claim 6: worst |measured / predicted - 1| of the population-limit tail rate
TAIL_CEILING = 1e-4  # claim 6: relative errors below this (and above FLOOR) are the tail


class Setup(NamedTuple):
    """Static shapes and schedule of the study at one size, plus its default grid."""

    n: int
    r: int
    m: int
    step_size: float
    steps: int
    record_every: int
    rebalance_at: int  # the balancing step is applied after this many steps
    after_steps: int  # steps recorded after the balancing step
    after_every: int
    axes: dict[str, tuple[float, ...]]


SETUPS: dict[str, Setup] = {
    "quick": Setup(n=12, r=1, m=500, step_size=0.25, steps=3000, record_every=30, rebalance_at=750,
                   after_steps=90, after_every=3,
                   axes={"rank": (1, 3), "init_scale": (0.1, 0.2, 0.4), "seed": (0, 1)}),
    "paper": Setup(n=50, r=3, m=3000, step_size=0.25, steps=20000, record_every=100, rebalance_at=5000,
                   after_steps=300, after_every=3,
                   axes={"rank": (3, 4, 6, 8), "init_scale": (0.05, 0.1, 0.2, 0.4), "seed": (0, 1, 2, 3, 4)}),
}


def _point(setup: Setup, k_max: int) -> Callable[[Mapping[str, jax.Array], jax.Array], dict[str, jax.Array]]:
    """Per-run function: errors of symmetric, asymmetric and balanced asymmetric GD, and the predicted rate.

    Outputs: ``sym_error``, ``asym_error`` ``(T,)`` every ``record_every`` steps;
    ``balanced_error`` ``(T2,)`` every ``after_every`` steps after the balancing step;
    ``predicted_rate`` ``()`` = ``eta lambda_min(F0^T F0 - G0^T G0)`` over the ``k`` active columns;
    ``diverged`` ``()``.
    """
    n, r, m, eta = setup.n, setup.r, setup.m, setup.step_size

    def point(config: Mapping[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        del key  # paired design: all randomness of a run is a function of its seed
        k_problem, k_sym, k_asym = jax.random.split(jax.random.fold_in(jax.random.key(PROBLEM_SEED), config["seed"]), 3)
        sym = sensing.make_problem(k_problem, n=n, rank=r, m=m, symmetric=True)
        asym = sensing.make_problem(k_problem, n=n, rank=r, m=m, symmetric=False)
        mask = sensing.rank_mask(k_max, config["rank"])
        x0 = sensing.small_init(k_sym, sym, k_max, config["init_scale"]) * mask
        f0, g0 = sensing.apply_mask(sensing.small_init(k_asym, asym, k_max, config["init_scale"]), mask)
        gd = sensing.gd(eta)
        t_sym = sensing.run(gd, sym, x0, steps=setup.steps, record_every=setup.record_every)
        t_asym = sensing.run(gd, asym, (f0, g0), steps=setup.steps, record_every=setup.record_every)
        t_before = sensing.run(gd, asym, (f0, g0), steps=setup.rebalance_at, record_every=setup.rebalance_at)
        balanced = sensing.rebalance(*t_before.final)
        t_after = sensing.run(gd, asym, balanced, steps=setup.after_steps, record_every=setup.after_every)
        # padded columns get a huge eigenvalue so lambda_min runs over the k active columns only
        d0 = sensing.theory.imbalance(f0, g0) + jnp.diag(1.0 - mask) * 1e6
        return {
            "sym_error": t_sym.error,
            "asym_error": t_asym.error,
            "balanced_error": t_after.error,
            "predicted_rate": eta * jnp.linalg.eigvalsh(d0)[0],
            "diverged": t_sym.diverged | t_asym.diverged | t_after.diverged,
        }

    point.__name__ = point.__qualname__ = "xiong_sym_vs_asym"
    return point


def _check_axes(setup: Setup, overrides: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, ...]]:
    axes = merge_overrides(setup.axes, overrides)
    ranks = axes["rank"]
    if any(int(k) != k or k < setup.r or k > setup.n for k in ranks):
        raise ValueError(f"rank={ranks!r} must be integers in [r={setup.r}, n={setup.n}]")
    if not any(k > setup.r for k in ranks):
        raise ValueError(f"rank={ranks!r} needs at least one over-parameterised value k > r={setup.r}")
    if any(not a > 0 for a in axes["init_scale"]):
        raise ValueError(f"init_scale={axes['init_scale']!r} must be > 0")
    check_integers("seed", axes["seed"])
    return {
        "rank": tuple(sorted(int(k) for k in ranks)),
        "init_scale": tuple(sorted(float(a) for a in axes["init_scale"])),
        "seed": tuple(sorted(int(s) for s in axes["seed"])),
    }


def run_sweep(
    size: Size = "quick",
    overrides: Mapping[str, Sequence[float]] | None = None,
    *,
    store_path: Path | None = None,
    resume: bool = False,
    progress: bool | None = False,
) -> tuple[xr.Dataset, Setup]:
    """Run the rank x init_scale x seed sweep; return ``(dataset, setup)``.

    Dataset variables: ``sym_error``, ``asym_error`` ``(rank, init_scale, seed, step)``,
    ``balanced_error`` ``(rank, init_scale, seed, step_after)``, ``predicted_rate`` and
    ``diverged`` ``(rank, init_scale, seed)``. Errors are ``||X X^T - M*||_F / ||M*||_F``.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    setup = SETUPS[size]
    axes = _check_axes(setup, overrides)
    k_max = max(axes["rank"])
    config = {"study": NAME, "size": size, "k_max": k_max,
              **{f: v for f, v in setup._asdict().items() if f != "axes"}}
    ds = sweep.run(
        _point(setup, k_max), axes, key=jax.random.key(0), store=store_path, resume=resume, progress=progress,
        out_dims={"sym_error": ("step",), "asym_error": ("step",), "balanced_error": ("step_after",)},
        out_coords={"step": np.arange(0, setup.steps + 1, setup.record_every),
                    "step_after": np.arange(0, setup.after_steps + 1, setup.after_every)},
        attrs=config,
    )
    return ds, setup


def fit_rate(error: np.ndarray, steps: np.ndarray, *, start: float = 0.0, ceiling: float = np.inf) -> float:
    """Linear rate ``rho`` of ``error ~ C (1 - rho)^t ~ C exp(-rho t)``: minus the least-squares slope of log error.

    Fitted over records with ``step >= start`` and ``FLOOR < error < ceiling``; NaN with fewer than 4.
    """
    keep = (steps >= start) & (error > FLOOR) & (error < ceiling) & np.isfinite(error)
    if keep.sum() < 4:
        return float("nan")
    return float(-np.polyfit(steps[keep], np.log(error[keep]), 1)[0])


def measured_rates(ds: xr.Dataset, setup: Setup) -> xr.Dataset:
    """Per run: tail rate of asymmetric GD, rate after balancing, and symmetric ratio ``e(T) / e(T/2)``."""
    steps, after = ds.step.values, ds.step_after.values
    asym = np.apply_along_axis(lambda e: fit_rate(e, steps, start=setup.steps / 10, ceiling=1e-3), -1,
                               ds.asym_error.values)
    balanced = np.apply_along_axis(lambda e: fit_rate(e, after, start=after[1]), -1, ds.balanced_error.values)
    half = int(np.argmin(np.abs(steps - steps[-1] / 2)))
    ratio = ds.sym_error.values[..., -1] / ds.sym_error.values[..., half]
    dims = ("rank", "init_scale", "seed")
    return xr.Dataset({"asym_rate": (dims, asym), "balanced_rate": (dims, balanced), "sym_ratio": (dims, ratio)},
                      coords={d: ds[d] for d in dims})


class PopulationTail(NamedTuple):
    """Tail rates of population-limit asymmetric GD, each ``(A, S)`` over ``init_scale`` x ``seed``."""

    k: int  # columns of F and G
    init_scale: tuple[float, ...]  # (A,)
    seed: tuple[int, ...]  # (S,)
    measured: np.ndarray  # rate fitted by ``fit_rate`` to the error below TAIL_CEILING
    predicted: np.ndarray  # sensing.theory.asymmetric_tail_rate at the final factors
    initial: np.ndarray  # sensing.theory.asymmetric_rate, eta lambda_min(F0^T F0 - G0^T G0)


def population_tail(
    setup: Setup, k: int, init_scale: Sequence[float] | None = None, seed: Sequence[int] | None = None
) -> PopulationTail:
    """Asymmetric GD on the population operator (``Z <- F G^T - M*``), and its tail rate against the theory.

    For every ``init_scale`` x ``seed``: the problem (``n x n``, rank ``r``, ``operator="population"``)
    and ``(F0, G0) = small_init(k, init_scale)`` from ``seed`` as in the sweep; ``setup.steps`` GD
    steps of size ``setup.step_size``, recorded every ``setup.record_every``. ``measured`` is
    :func:`fit_rate` on the records with ``FLOOR < error < TAIL_CEILING``; ``predicted`` is
    ``-log(1 - eta lambda_min(F^T F))`` at the final factors (``sensing.theory.asymmetric_tail_rate``,
    exact in this limit, MATH.md section 1); ``initial`` is ``eta lambda_min(D0)``. Defaults: the two
    largest init scales and the first two seeds of ``setup.axes`` (smaller scales may not reach the
    tail within ``setup.steps``). One jitted, vmapped program; wants float64.
    """
    init_scale = tuple(sorted(setup.axes["init_scale"])[-2:]) if init_scale is None else tuple(init_scale)
    seed = tuple(setup.axes["seed"][:2]) if seed is None else tuple(seed)
    if int(k) != k or not setup.r < k <= setup.n:
        raise ValueError(f"k={k!r} must be an integer in (r={setup.r}, n={setup.n}]")
    if not init_scale or any(not (np.isfinite(a) and a > 0) for a in init_scale):
        raise ValueError(f"init_scale={init_scale!r} must be a non-empty sequence of finite numbers > 0")
    check_integers("seed", seed)
    n, r, k, eta = setup.n, setup.r, int(k), setup.step_size

    def one(alpha: jax.Array, s: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        k_problem, _, k_asym = jax.random.split(jax.random.fold_in(jax.random.key(PROBLEM_SEED), s), 3)
        problem = sensing.make_problem(k_problem, n=n, rank=r, operator="population", symmetric=False)
        f0, g0 = sensing.small_init(k_asym, problem, k, alpha)
        trace = sensing.run(sensing.gd(eta), problem, (f0, g0), steps=setup.steps, record_every=setup.record_every)
        return (trace.error, sensing.theory.asymmetric_tail_rate(eta, *trace.final),
                sensing.theory.asymmetric_rate(eta, f0, g0))

    runs = jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))
    error, predicted, initial = (np.asarray(a) for a in runs(jnp.asarray(init_scale), jnp.asarray(seed)))
    steps = np.arange(0, setup.steps + 1, setup.record_every)
    measured = np.apply_along_axis(lambda e: fit_rate(e, steps, ceiling=TAIL_CEILING), -1, error)
    return PopulationTail(k, tuple(float(a) for a in init_scale), tuple(int(s) for s in seed),
                          measured, predicted, initial)


def _exponent(alpha: np.ndarray, rate: np.ndarray) -> float:
    keep = np.isfinite(rate) & (rate > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(alpha[keep]), np.log(rate[keep]), 1)[0])


def evaluate_claims(ds: xr.Dataset, setup: Setup, tail: PopulationTail | None = None) -> list[Claim]:
    """The claims of the module docstring: 1-5 measured on ``ds`` (5 when ``k = r`` is in the grid), 6 on ``tail``."""
    rates = measured_rates(ds, setup)
    over = [k for k in ds["rank"].values if k > setup.r]
    alpha = ds.init_scale.values
    claims: list[Claim] = []

    def claim(text: str, measured: str, expected: str, passed: bool) -> None:
        claims.append(Claim(NAME, PAPER, text, measured, expected, bool(passed)))

    ratio = float(np.nanmedian(rates.sym_ratio.sel(rank=over).values))
    final = float(np.nanmedian(ds.sym_error.sel(rank=over).values[..., -1]))
    claim("symmetric over-parameterised GD is sublinear: the error halves when t doubles",
          f"median e(T)/e(T/2) = {ratio:.3f}, final error {final:.2e}",
          f"ratio in [{SUBLINEAR_RATIO[0]}, {SUBLINEAR_RATIO[1]}] (theory 1/2), final error > 1e-8",
          SUBLINEAR_RATIO[0] <= ratio <= SUBLINEAR_RATIO[1] and final > 1e-8)

    asym_exp = [_exponent(alpha, rates.asym_rate.sel(rank=k).median("seed").values) for k in over]
    claim("asymmetric over-parameterised GD is linear with a rate scaling like alpha^2",
          "d log rate / d log alpha = " + ", ".join(f"{e:.2f} (k={k})" for e, k in zip(asym_exp, over)),
          f"in [{ALPHA_EXPONENT[0]}, {ALPHA_EXPONENT[1]}] (theory 2)",
          len(alpha) >= 2 and all(ALPHA_EXPONENT[0] <= e <= ALPHA_EXPONENT[1] for e in asym_exp))

    bal_exp = [_exponent(alpha, rates.balanced_rate.sel(rank=k).median("seed").values) for k in over]
    bal_min = float(np.nanmin(rates.balanced_rate.sel(rank=over).values))
    asym_max = float(np.nanmax(rates.asym_rate.sel(rank=over).values))
    claim("one balancing step makes the linear rate independent of alpha",
          "d log rate / d log alpha = " + ", ".join(f"{e:.2f} (k={k})" for e, k in zip(bal_exp, over))
          + f"; slowest balanced rate {bal_min:.3g} vs fastest unbalanced {asym_max:.3g}",
          f"|exponent| <= {FLAT_EXPONENT} (theory 0), balanced faster than every unbalanced run",
          len(alpha) >= 2 and all(abs(e) <= FLAT_EXPONENT for e in bal_exp) and bal_min > asym_max)

    ratio_theory = (rates.asym_rate / ds.predicted_rate).sel(rank=over).values
    med = float(np.nanmedian(ratio_theory))
    claim("the asymmetric rate is of the size eta * lambda_min(F0^T F0 - G0^T G0) (sensing.theory.asymmetric_rate)",
          f"median measured / predicted = {med:.3f} over {int(np.isfinite(ratio_theory).sum())} runs",
          f"in [{THEORY_RATIO[0]}, {THEORY_RATIO[1]}] (the formula is a lower bound in the population limit, "
          "exact up to a draw-dependent factor; see sensing.theory.asymmetric_tail_rate)",
          THEORY_RATIO[0] <= med <= THEORY_RATIO[1])

    exact = ds.sel(rank=setup.r) if setup.r in ds["rank"].values else None
    if exact is not None:
        worst = float(max(exact.sym_error.values[..., -1].max(), exact.asym_error.values[..., -1].max()))
        claim("exact parameterisation (k = r) converges linearly for symmetric and asymmetric GD",
              f"largest final error {worst:.2e}", f"< {EXACT_ERROR:g}", worst < EXACT_ERROR)

    if tail is not None:
        off = float(np.max(np.abs(tail.measured / tail.predicted - 1.0)))  # NaN (tail not reached) fails
        off_d0 = float(np.max(np.abs(tail.measured / tail.initial - 1.0)))
        claim("in the population limit the asymmetric tail rate equals sensing.theory.asymmetric_tail_rate "
              "at the final factors, -log(1 - eta lambda_min(F^T F))",
              f"worst |measured / predicted - 1| = {off:.2e} over {tail.measured.size} runs (k = {tail.k}, "
              f"alpha = {', '.join(f'{a:g}' for a in tail.init_scale)}, seeds {', '.join(map(str, tail.seed))}); "
              f"with eta lambda_min(D0) as the prediction: {off_d0:.2f}",
              f"<= {TAIL_TOLERANCE:g}", off <= TAIL_TOLERANCE)
    return claims


def make_figures(ds: xr.Dataset, setup: Setup, out: Path) -> list[Path]:
    """``error_vs_step`` (three panels, k = k_max) and ``rates`` (rates vs alpha with theory), PNG + SVG."""
    rates = measured_rates(ds, setup)
    k = int(ds["rank"].values.max())
    sel = ds.sel(rank=k)
    fig, axes = plot.figure(1, 3, width=4.4)
    steps = ds.step.values
    marks = slice(1, None, max(1, len(steps) // 12))
    tail = steps[steps >= setup.steps / 10].astype(float)
    for i, a in enumerate(ds.init_scale.values):
        color = f"C{i}"
        for ax, var in ((axes[0, 0], "sym_error"), (axes[0, 1], "asym_error")):
            mean, sem = plot.mean_sem(sel[var].sel(init_scale=a))
            plot.error_bars(ax, steps[marks], mean.values[marks], sem.values[marks], f"alpha = {a:g}", color=color)
        pred = float(sel.predicted_rate.sel(init_scale=a).median())
        anchor = float(sel.asym_error.sel(init_scale=a).median("seed").interp(step=tail[0]))
        plot.theory_line(axes[0, 1], tail, anchor * (1.0 - pred) ** (tail - tail[0]), "", color=color)
        after = ds.step_after.values
        mean, sem = plot.mean_sem(sel.balanced_error.sel(init_scale=a))
        plot.error_bars(axes[0, 2], after, mean.values, sem.values, f"alpha = {a:g}", color=color)
    t = steps[1:].astype(float)
    theory = np.sqrt(k - setup.r) / (2.0 * setup.step_size * t) / np.sqrt(setup.r)
    plot.theory_line(axes[0, 0], t, theory, "sqrt(k-r) / (2 eta t ||M*||)")
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_title(f"symmetric GD, k = {k} > r = {setup.r}")
    axes[0, 1].set_title(f"asymmetric GD, k = {k} (dashed: (1 - eta lambda_min(D0))^t)")
    axes[0, 2].set_title(f"after one balancing step at t = {setup.rebalance_at}")
    for ax, xlabel in zip(axes[0], ("step t", "step t", "steps after balancing")):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("||X X^T - M*||_F / ||M*||_F")
        ax.legend(fontsize=7)
    figures = plot.save(fig, out, "error_vs_step")

    fig, axes = plot.figure(1, 1, width=5.0)
    ax = axes[0, 0]
    alpha = ds.init_scale.values
    for j, kk in enumerate(k for k in ds["rank"].values if k > setup.r):
        for var, marker, label in (("asym_rate", "o", "asymmetric"), ("balanced_rate", "s", "balanced")):
            mean, sem = plot.mean_sem(rates[var].sel(rank=kk))
            plot.error_bars(ax, alpha, mean.values, sem.values, f"{label}, k = {kk}", fmt=marker, color=f"C{j}")
        pred = ds.predicted_rate.sel(rank=kk).median("seed").values
        plot.theory_line(ax, alpha, pred, f"eta lambda_min(D0), k = {kk}", color=f"C{j}")
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("init scale alpha"), ax.set_ylabel("linear rate per step")
    ax.set_title("asymmetric GD: rate ~ alpha^2; balanced: flat")
    ax.legend(fontsize=7)
    figures += plot.save(fig, out, "rates")
    return figures


class XiongStudy(SetupStudy):
    """Xiong, Ding & Du 2023 as a study: symmetric vs asymmetric GD over rank and init scale."""

    name = NAME
    paper = PAPER
    description = "symmetric vs asymmetric GD over rank x init scale: sublinear vs linear ~ alpha^2, balancing"
    setups = SETUPS
    check_axes = staticmethod(_check_axes)

    def produce(self, *, size: Size, out: Path, overrides: Mapping[str, Sequence[float]] | None, resume: bool,
                progress: bool) -> Produced:
        path = out / "sweep.zarr"
        if path.exists() and not resume:
            shutil.rmtree(path)
        ds, setup = run_sweep(size, overrides, store_path=path, resume=resume, progress=progress)
        tail = population_tail(setup, int(ds["rank"].values.max()))
        claims = evaluate_claims(ds, setup, tail)
        figures = make_figures(ds, setup, out)
        nc = store.to_netcdf(ds, out / "sweep.nc")
        return Produced(claims, figures, [path, nc], setup)


STUDY = XiongStudy()

__all__ = ["SETUPS", "STUDY", "PopulationTail", "Setup", "XiongStudy", "evaluate_claims", "fit_rate",
           "make_figures", "measured_rates", "population_tail", "run_sweep"]
