"""The ma-fattahi-subgm study's measurements and claims (docs/studies/ma-fattahi-subgm.md#claims)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import xarray as xr

import overparam.study as st
from overparam import analysis
from sensing import theory, traces

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
