"""The ma-fattahi-subgm study's figures: error against step and final error against alpha per outlier
fraction, iterations against k and the noise floor, and the dense problem."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

import overparam.study as st
from overparam import analysis, plot
from overparam.studies.ma_fattahi_subgm.measures import EXACT, RATE_BAND, TARGET, floor_theory
from sensing import traces


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
