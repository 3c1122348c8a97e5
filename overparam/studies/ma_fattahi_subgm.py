"""Ma & Fattahi 2022: the sub-gradient method from a small start, under outliers and Gaussian noise.

SubGM on the l1 loss with geometric steps (docs/sensing.md#subgm) on symmetric Gaussian sensing of
a PSD rank-``r`` matrix, from ``X0 = alpha B`` with ``k >= r`` columns (a zero-padding mask). Sweeps
``outliers`` (rank x init_scale x outliers x seed), ``noise`` (rank x noise x seed) and ``dense``
(dense outliers, from a small start or from ``M*``); setups, sizes and claims in
docs/studies/ma-fattahi-subgm.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import overparam.study as st
import sensing
from overparam import analysis, plot
from overparam.sweep import seed_key
from sensing import theory, traces
from sensing.problem import sample_noise

PROBLEM_SEED, INIT_SEED = 20220, 7  # the shared operator and truth; the root of the per-seed keys
EXACT = 1e-6  # "exact" recovery: final relative error below this (rho^steps ~ 3e-7 at the end)
TARGET = 1e-3  # iterations to this error (claim k-independent)
ITER_TOL = 1.15  # paired t(k) / t(r) within this factor either way: seen 0.984-1.000 (paper), 0.988-0.999 (quick)
RATE_BAND = (1e-3, 1e-6)  # the linear rate is measured while the error falls from 1e-3 to 1e-6 (past the wiggles)
RATE_TOL = 0.05  # |rate / -log rho - 1| of the median: single runs 0.979-1.015, medians within 0.004 (quick)
LARGE_RATE = 0.1  # large init, k > r: rate / -log rho at most this (seen 0: stalled above 1e-6)
K_TOL = 0.01  # paired floor(k) / floor(r) - 1: same noise, the spurious part adds O(alpha) only; seen <= 1e-3
SLOPE_TOL = 0.04  # d log floor / d log nu - 1: the same noise direction at every nu; seen 0.004 (quick)


def floor_tolerance(setup: st.Setup) -> float:
    """3 standard errors of the seed RMS of ||X X^T - M*||_F / theory: ``3 / sqrt(2 d S)``, ``S`` seeds.

    ``||D||_F^2`` is a sum of ``d`` comparable squares (docs/sensing.md#subgm-noise-floor), so its mean
    over ``S`` seeds has relative s.e. ``sqrt(2 / (d S))`` and its root half that.
    """
    return 3.0 / math.sqrt(2.0 * theory.symmetric_rank_dimension(setup.n, setup.r) * len(setup.axes["seed"]))


def _problem(setup: st.Setup, dense: bool, seed: jax.Array, p: jax.Array, nu: float = 0.0):
    """The problem of one run and its init key: shared ``A``, ``M*``; noise ``outliers(p) + N(0, nu^2)`` from ``seed``."""
    n, r, m = (setup.dense_n, setup.dense_r, setup.dense_m) if dense else (setup.n, setup.r, setup.m)
    problem = sensing.make_problem(jax.random.key(PROBLEM_SEED), n=n, rank=r, m=m)
    k_out, k_gauss, k_init, k_pert = jax.random.split(seed_key(jax.random.key(INIT_SEED), seed), 4)
    s = sample_noise(k_out, sensing.outliers(p), problem.y) + sample_noise(k_gauss, sensing.gaussian_noise(nu), problem.y)
    return problem._replace(y=problem.y + s), k_init, k_pert


def _subgm(setup: st.Setup, problem: sensing.Problem, x0: jax.Array) -> sensing.Trace:
    return sensing.run(sensing.subgm(setup.step_size, setup.decay), problem, x0, steps=setup.steps,
                       record_every=setup.record_every)


def build_run(setup: st.Setup, config: Mapping[str, jax.Array]) -> tuple[sensing.Problem, jax.Array]:
    """``(problem, X0)`` of one outlier run: ``X0 = alpha B`` ``(n, k_max)``, columns ``rank..k_max`` zero."""
    problem, k_init, _ = _problem(setup, False, config["seed"], config["outliers"])
    k_max = max(setup.axes["rank"])
    return problem, sensing.small_init(k_init, problem, k_max, config["init_scale"]) * sensing.rank_mask(k_max, config["rank"])


def outlier_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """SubGM at one (rank, init_scale, outliers, seed): the error trace ``(T,)``."""
    del key  # common random numbers: a run's randomness is a function of its seed only
    t = _subgm(setup, *build_run(setup, config))
    return {"error": t.error, "diverged": t.diverged}


def noise_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """SubGM at one (rank, noise, seed) from the smallest init scale, no outliers."""
    problem, k_init, _ = _problem(setup, False, config["seed"], 0.0, config["noise"])
    k_max = max(setup.axes["rank"])
    x0 = sensing.small_init(k_init, problem, k_max, min(setup.axes["init_scale"]))
    t = _subgm(setup, problem, x0 * sensing.rank_mask(k_max, config["rank"]))
    return {"error": t.error, "diverged": t.diverged}


def dense_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """The dense problem from a small start (``start = 0``) or from ``M*`` + perturbation (``start = 1``)."""
    problem, k_init, k_pert = _problem(setup, True, config["seed"], config["dense_outliers"])
    k_max, r = max(setup.axes["dense_rank"]), setup.dense_r
    truth = jnp.zeros((setup.dense_n, k_max), problem.y.dtype).at[:, :r].set(problem.truth.factor)
    at_truth = sensing.small_init(k_pert, problem, k_max, setup.perturbation).at[:, :r].set(problem.truth.factor)
    small = sensing.small_init(k_init, problem, k_max, setup.dense_init)
    x0 = jnp.where(config["start"] == 1, at_truth, small) * sensing.rank_mask(k_max, config["dense_rank"])
    t = _subgm(setup, problem, x0)
    return {"error": t.error, "loss": t.loss, "truth_loss": sensing.l1_loss(problem, truth), "diverged": t.diverged}


def _rate(err: xr.DataArray, setup: st.Setup) -> xr.DataArray:
    """Rate per step from RATE_BAND[0] to RATE_BAND[1] (sensing.traces.linear_rate) over -log rho."""
    return analysis.along(traces.linear_rate, err, "step", *RATE_BAND) / -math.log(setup.decay)


def floor_theory(nu: np.ndarray, setup: st.Setup) -> np.ndarray:
    """Relative noise floor ``C nu sqrt(n r / m) / sqrt(r)``, C = sensing.theory.subgm_floor_constant(n, r)."""
    c = theory.subgm_floor_constant(setup.n, setup.r)
    return np.asarray(theory.subgm_noise_floor(np.asarray(nu), setup.n, setup.r, setup.m, c)) / math.sqrt(setup.r)


def measure(data: Mapping[str, xr.Dataset], setup: st.Setup) -> dict[str, object]:
    """Every number the claims compare (docs/studies/ma-fattahi-subgm.md#claims)."""
    out, noise, dense, r = data["outliers"], data["noise"], data["dense"], setup.r
    over = [k for k in out["rank"].values if k > r]
    final = out.error.isel(step=-1)
    small, large = out.error.isel(init_scale=0), out.error.isel(init_scale=-1)
    iters = analysis.along(traces.iterations_to, small, "step", TARGET)
    medians = final.sel(rank=over).median("seed").transpose("rank", "outliers", "init_scale").values
    steps_up = (medians[..., 1:] / medians[..., :-1])[np.maximum(medians[..., 1:], medians[..., :-1]) > EXACT]
    floor = noise.error.isel(step=-1)
    ratio = floor / xr.DataArray(floor_theory(noise.noise.values, setup), dims="noise", coords={"noise": noise.noise})
    d_final, p_top, k_top = dense.error.isel(step=-1), dense.dense_outliers.values.max(), dense.dense_rank.values.max()
    walk = dense.sel(dense_outliers=p_top, dense_rank=k_top, start=1)
    return {
        "exact_final": float(final.sel(rank=r).max()),
        "iteration_ratio": (iters.sel(rank=over) / iters.sel(rank=r)).median(["seed", "outliers"]).values,
        "iterations_exact": float(iters.sel(rank=r).median()),
        "alpha_step_ratio": float(np.min(steps_up, initial=np.inf)) if steps_up.size else float("nan"),
        "rate_small": _rate(small, setup).median(["seed", "outliers"]).values,
        "rate_large": _rate(large.sel(rank=over), setup).median(["seed", "outliers"]).values,
        "final_large": float(large.sel(rank=over).isel(step=-1).median()),
        "final_small": float(small.sel(rank=over).isel(step=-1).median()),
        "floor_over_theory": np.sqrt((ratio**2).mean("seed")).values,  # the theory is for E||D||^2
        "floor_k_ratio": (floor.sel(rank=over) / floor.sel(rank=r)).median("seed").values,
        "floor_slope": analysis.log_slope(floor.median("seed"), "noise").values,
        "dense_final": d_final.sel(start=0).max(["dense_rank", "seed"]).values,
        "dense_loss_change": ((walk.loss.isel(step=-1) - walk.truth_loss) / walk.truth_loss).values,
        "dense_walk_error": float(walk.error.isel(step=-1).min()),
    }


def claims(m: Mapping[str, object], setup: st.Setup) -> list[st.Claim]:
    """The paper's statements as numbers (docs/studies/ma-fattahi-subgm.md#claims)."""
    ranks, r, a = setup.axes["rank"], setup.r, setup.axes["init_scale"]
    over = tuple(f"k={k}" for k in ranks if k > r)
    ps = setup.axes["outliers"]
    return [
        st.Claim("exact", f"SubGM recovers M* exactly for k = r, outlier fraction up to {max(ps):g}, every alpha",
                 m["exact_final"], "<", EXACT, unit="relative error", detail="largest final error over k = r runs"),
        st.Claim("k-independent", f"from a small init the iterations to error {TARGET:g} do not depend on k",
                 m["iteration_ratio"], "in", (1 / ITER_TOL, ITER_TOL), labels=over,
                 detail=f"paired t(k) / t(r) at alpha = {a[0]:g}, median over seeds and p; t(r) = "
                        f"{m['iterations_exact']:.0f} steps"),
        st.Claim("alpha-monotone", "for k > r the final error falls as the init scale falls", m["alpha_step_ratio"],
                 ">", 1.0, unit="x", detail=f"smallest ratio of successive seed-median final errors over alpha = "
                 f"{', '.join(f'{v:g}' for v in a)}, every k > r and p, unless both are below {EXACT:g}"),
        st.Claim("linear-rate", "from a small init the error converges linearly at the step schedule's rate -log rho, "
                 "for every k", m["rate_small"], "in", (1 - RATE_TOL, 1 + RATE_TOL), labels=tuple(f"k={k}" for k in ranks),
                 detail=f"rate from {RATE_BAND[0]:g} to {RATE_BAND[1]:g} / -log rho (sensing.traces.linear_rate), "
                        "median over seeds and p"),
        st.Claim("large-init-slow", "from a large init the over-parameterised run loses the linear rate (the "
                 "exponential improvement of small init)", m["rate_large"], "<=", LARGE_RATE, labels=over,
                 detail=f"same rate at alpha = {a[-1]:g} (0: stalled above {RATE_BAND[1]:g}); median final error "
                        f"{m['final_large']:.2g} vs {m['final_small']:.2g} at alpha = {a[0]:g}"),
        st.Claim("noise-floor-constant", "the error floor under N(0, nu^2) noise is C nu sqrt(n r / m) with the "
                 "least-absolute-deviation constant C = sqrt(pi d / (2 n r))", m["floor_over_theory"], "in",
                 (1 - floor_tolerance(setup), 1 + floor_tolerance(setup)), detail="seed RMS of final error / "
                 f"sensing.theory.subgm_floor_constant theory, C = {float(theory.subgm_floor_constant(setup.n, r)):.3f}, "
                 "every k and nu"),
        st.Claim("noise-floor-k", "the noise floor does not depend on k", m["floor_k_ratio"], "in",
                 (1 - K_TOL, 1 + K_TOL), detail="paired floor(k) / floor(r), seed median, every k > r and nu"),
        st.Claim("noise-floor-slope", "the noise floor is linear in nu", m["floor_slope"], "in",
                 (1 - SLOPE_TOL, 1 + SLOPE_TOL), labels=tuple(f"k={k}" for k in ranks),
                 detail="d log floor / d log nu of the seed medians"),
        st.Claim("dense-outliers", "SubGM recovers M* from a small init under dense outliers, for k = r and k > r",
                 m["dense_final"], "<", EXACT, unit="relative error",
                 labels=tuple(f"p={p:g}" for p in setup.axes["dense_outliers"]),
                 detail=f"largest final error at n = {setup.dense_n}, r = {setup.dense_r}, m = {setup.dense_m}, "
                        f"alpha = {setup.dense_init:g}, k in {setup.axes['dense_rank']}"),
        st.Claim("truth-not-minimiser", "at the densest p, M* is not a global minimiser of the over-parameterised l1 "
                 "loss: SubGM started at M* finds lower loss (started small it recovers M*: dense-outliers)",
                 m["dense_loss_change"], "<", 0.0,
                 detail=f"(final loss - loss at M*) / loss at M* of SubGM started at M* + {setup.perturbation:g} in "
                        f"the extra columns, per seed; it ends at error >= {m['dense_walk_error']:.2g}"),
    ]


def figures(data: Mapping[str, xr.Dataset], setup: st.Setup) -> list[st.Figure]:
    """Error against step, final error against alpha, iterations against k, the noise floor, the dense problem."""
    out, noise, dense, r, rel = data["outliers"], data["noise"], data["dense"], setup.r, "||X X^T - M*||_F / ||M*||_F"
    ps, a0, steps, ks = out.outliers.values, out.init_scale.values[0], out.step.values.astype(float), out["rank"].values
    final = out.error.isel(step=-1)
    iters = analysis.along(traces.iterations_to, out.error.isel(init_scale=0), "step", TARGET)
    fig, axes = plot.figure(2, len(ps), width=4.4)
    for j, p in enumerate(ps):
        sel = out.error.sel(outliers=p, init_scale=a0)
        for i, k in enumerate(ks):
            plot.log_band(axes[0, j], sel.sel(rank=k), label=f"k = {k}", color=f"C{i}")
            plot.log_error_bars(axes[1, j], out.init_scale.values, final.sel(outliers=p, rank=k), f"k = {k}",
                                color=f"C{i}")
        t0 = float(np.median(traces.iterations_to(sel.values, steps, RATE_BAND[0])))
        tail = steps[steps >= t0]
        plot.theory_line(axes[0, j], tail, RATE_BAND[0] * setup.decay ** (tail - t0), "rate -log rho")
        axes[1, j].axhline(EXACT, color="grey", linewidth=0.8, linestyle=":")
        plot.finish(axes[0, j], title=f"p = {p:g}, alpha = {a0:g}", xlabel="step t", ylabel=rel)
        plot.finish(axes[1, j], title=f"p = {p:g}", xlabel="init scale alpha", ylabel="final relative error")
    figs = [st.Figure("error_vs_step", fig, f"Top: relative error of SubGM against step from alpha = {a0:g} (geometric "
                      "mean over seeds, band: quartiles) against the linear rate -log rho of the step schedule (dashed). "
                      "Bottom: final error against alpha (bars: quartiles), exact for k = r, falling with alpha for "
                      f"k > r; dotted: {EXACT:g}. One column per outlier fraction p.", out.error)]
    floor, nus = noise.error.isel(step=-1), noise.noise.values
    fig, axes = plot.figure(1, 2, width=5.0)
    for j, p in enumerate(ps):
        plot.log_error_bars(axes[0, 0], ks.astype(float), iters.sel(outliers=p), f"p = {p:g}", color=f"C{j}")
        ref = float(plot.geometric_mean_band(iters.sel(outliers=p, rank=r))[0])
        plot.theory_line(axes[0, 0], ks, np.full(len(ks), ref), "k = r" if j == 0 else "", color=f"C{j}")
    for k in noise["rank"].values:
        plot.log_error_bars(axes[0, 1], nus, floor.sel(rank=k), f"k = {k}")
    grid = np.geomspace(nus.min(), nus.max(), 50)
    plot.theory_line(axes[0, 1], grid, floor_theory(grid, setup), "C nu sqrt(n r / m) / ||M*||_F")
    plot.finish(axes[0, 0], title=f"alpha = {a0:g}", xlabel="search rank k", ylabel=f"iterations to error {TARGET:g}")
    plot.finish(axes[0, 1], title="noise floor", xlabel="Gaussian noise level nu", ylabel="final relative error")
    figs.append(st.Figure("iterations_and_floor", fig, f"Left: iterations to error {TARGET:g} against k (geometric mean "
                          "over seeds, bars: quartiles) against the k = r value (dashed: no dependence on k). Right: "
                          "final error under N(0, nu^2) noise against nu, against the least-absolute-deviation floor "
                          "C nu sqrt(n r / m) / ||M*||_F, C = sqrt(pi d / (2 n r)) (dashed).",
                          xr.Dataset({"iterations": iters, "floor": floor})))
    p_top, k_top = dense.dense_outliers.values.max(), dense.dense_rank.values.max()
    top = dense.sel(dense_outliers=p_top)
    change = (top.loss - top.truth_loss) / top.truth_loss
    fig, axes = plot.figure(1, 2, width=5.0)
    for i, (k, s, label) in enumerate([(setup.dense_r, 0, "small init, k = r"), (k_top, 0, f"small init, k = {k_top}"),
                                       (k_top, 1, f"from M*, k = {k_top}")]):
        plot.log_band(axes[0, 0], top.error.sel(dense_rank=k, start=s), label=label, color=f"C{i}")
        axes[0, 1].plot(top.step.values, change.sel(dense_rank=k, start=s).median("seed"), color=f"C{i}", label=label)
    axes[0, 1].axhline(0.0, color="black", linewidth=0.8)
    axes[0, 1].set_yscale("symlog", linthresh=1e-6)
    plot.finish(axes[0, 0], title=f"p = {p_top:g}, n = {setup.dense_n}, r = {setup.dense_r}", xlabel="step t",
                ylabel=rel)
    plot.finish(axes[0, 1], title="below 0: lower loss than at M*", xlabel="step t",
                ylabel="(l1 loss - loss at M*) / loss at M*")
    figs.append(st.Figure("dense", fig, f"The dense problem at p = {p_top:g}: relative error (left; geometric mean over "
                          "seeds, band: quartiles) and l1 loss relative to that at M* (right; seed median) against step, "
                          "for SubGM from a small init (k = r and k > r) and from M* plus a small perturbation: started "
                          "at M* it finds lower loss away from M*, started small it recovers M*.", top))
    return figs


def check(setup: st.Setup) -> None:
    """Cross-checks of settings and axes, before anything compiles."""
    for ranks, n, r, what in ((setup.axes["rank"], setup.n, setup.r, "rank"),
                              (setup.axes["dense_rank"], setup.dense_n, setup.dense_r, "dense_rank")):
        if r > n or r not in ranks or any(k > n for k in ranks) or not any(k > r for k in ranks):
            raise ValueError(f"{what}={ranks} must contain r={r}, at least one k > r, and no k above n={n}")
    if setup.steps % setup.record_every:
        raise ValueError(f"steps={setup.steps} must be a multiple of record_every={setup.record_every}")


STEP = lambda s: {"step": np.arange(0, s.steps + 1, s.record_every)}  # noqa: E731
TRACE = {"error": ("step",)}
STUDY = st.Study(
    name="ma-fattahi-subgm", paper="Ma & Fattahi 2022", link="https://arxiv.org/abs/2202.08788",
    description="SubGM from a small init: exact under outliers (dense too), linear rate, k-independent, noise floor",
    settings={
        "n": st.Setting(12, paper=40, low=2, doc="M* is n x n"),
        "r": st.Setting(2, paper=3, low=1, doc="rank of M*"),
        "m": st.Setting(1600, paper=9600, low=1, doc="Gaussian measurements"),
        "steps": st.Setting(3000, low=1, doc="SubGM steps"),
        "record_every": st.Setting(20, low=1, doc="steps between records"),
        "step_size": st.Setting(0.5, low=0.0, low_open=True, doc="eta0 of eta_t = eta0 rho^t"),
        "decay": st.Setting(0.995, low=0.0, high=1.0, low_open=True, high_open=True, doc="rho"),
        "dense_n": st.Setting(12, paper=20, low=2, doc="side of the dense problem's M*"),
        "dense_r": st.Setting(1, low=1, doc="rank of the dense problem's M*"),
        "dense_m": st.Setting(1200, paper=2500, low=1, doc="measurements of the dense problem"),
        "dense_init": st.Setting(1e-14, low=0.0, low_open=True, doc="alpha of the dense problem's small start"),
        "perturbation": st.Setting(1e-3, low=0.0, low_open=True, doc="scale of the extra columns at M*"),
    },
    axes={
        "rank": st.Axis((2, 4, 12), paper=(3, 12, 40), integer=True, low=1, min_count=2, doc="columns k of X"),
        "init_scale": st.Axis((1e-12, 1e-6, 1e-1), low=0.0, low_open=True, min_count=2, doc="alpha of X0 = alpha B"),
        "outliers": st.Axis((0.0, 0.3, 0.6), low=0.0, high=1.0, high_open=True, doc="outlier fraction p"),
        "noise": st.Axis((1e-2, 3e-2, 1e-1), low=0.0, low_open=True, min_count=2, doc="Gaussian noise level nu"),
        "dense_outliers": st.Axis((0.7, 0.8), paper=(0.7, 0.75, 0.8), low=0.0, high=1.0, high_open=True,
                                  doc="outlier fraction of the dense problem"),
        "dense_rank": st.Axis((1, 12), paper=(1, 20), integer=True, low=1, min_count=2, doc="columns k, dense problem"),
        "start": st.Axis((0, 1), integer=True, low=0, high=1, min_count=2, doc="0: small init; 1: M* + perturbation"),
        "seed": st.seeds(4, paper=3, doc="draws B, the outlier positions and the noise"),
    },
    sweeps={
        "outliers": st.Sweep(outlier_point, axes=("rank", "init_scale", "outliers", "seed"), out_dims=TRACE,
                             out_coords=STEP),
        "noise": st.Sweep(noise_point, axes=("rank", "noise", "seed"), out_dims=TRACE, out_coords=STEP),
        "dense": st.Sweep(dense_point, axes=("dense_outliers", "dense_rank", "start", "seed"),
                          out_dims={"error": ("step",), "loss": ("step",)}, out_coords=STEP),
    },
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
