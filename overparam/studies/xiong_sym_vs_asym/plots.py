"""The xiong-sym-vs-asym study's figures: errors against steps with their theory, rates against alpha, the
curse of symmetry and the lower-bound example."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import xarray as xr

import overparam.study as st
from overparam import plot
from overparam.studies.xiong_sym_vs_asym.experiments import FLOOR, _kmax, problems
from overparam.studies.xiong_sym_vs_asym.measures import TAIL, _rates
from sensing import theory


def figures(data: Mapping[str, xr.Dataset], setup: st.Setup, measured: Mapping[str, object]) -> list[st.Figure]:
    """Errors against steps with their theory, rates against alpha, the curse of symmetry, the lower-bound example."""
    main, curse, ex = data["main"], data["curse"], data["example"]
    k_max, eta, r, rel = _kmax(setup), setup.step_size, setup.r, "||X X^T - M*||_F / ||M*||_F"
    sel, steps = main.sel(rank=k_max), main.step.values.astype(float)
    over = main.sel(rank=[k for k in main["rank"].values if k > r])
    gn = over.d0_rate.copy(data=np.asarray(measured["gn_rate"]))
    fig, axes = plot.figure(1, 3, width=4.6)
    for i, a in enumerate(main.init_scale.values):
        kw = {"label": f"alpha = {a:g}", "color": f"C{i}"}
        plot.log_band(axes[0, 0], sel.sym_error.sel(init_scale=a).isel(step=slice(1, None)), **kw)
        plot.log_band(axes[0, 1], sel.asym_error.sel(init_scale=a), **kw)
        plot.log_band(axes[0, 2], sel.balanced_error.sel(init_scale=a), x="step_after", **kw)
        centre = plot.geometric_mean_band(sel.asym_error.sel(init_scale=a))[0].values  # what log_band draws
        start = int(np.argmax(centre < 100 * TAIL))  # anchored where the tail starts; mean rate over seeds
        line = centre[start] * np.exp(-float(gn.sel(rank=k_max, init_scale=a).mean()) * (steps - steps[start]))
        keep = (steps >= steps[start]) & (line > FLOOR)
        plot.theory_line(axes[0, 1], steps[keep], line[keep], "", color=kw["color"])
    norm = float(np.linalg.norm(problems(setup)[0].truth.matrix))
    plot.theory_line(axes[0, 0], steps[1:], theory.symmetric_overparam_tail(steps[1:], eta, k_max - r) / norm,
                     "sqrt(k-r) / (2 eta t ||M*||_F)")
    plot.finish(axes[0, 0], title=f"symmetric X X^T, k = {k_max} > r = {r}", xlabel="step t", ylabel=rel, xscale="log")
    plot.finish(axes[0, 1], title=f"asymmetric F G^T, k = {k_max} (dashed: Gauss-Newton rate)", xlabel="step t",
                ylabel=rel)
    plot.finish(axes[0, 2], title=f"after balancing at t = {setup.rebalance_at}", xlabel="steps after balancing",
                ylabel=rel)
    out = [st.Figure("error_vs_step", fig, f"Relative error against GD step at k = {k_max} (geometric mean over "
                     "seeds, band: quartiles). Left: symmetric GD against the 1/t law sqrt(k-r)/(2 eta t). Middle: "
                     "asymmetric GD against exp(-rate t) at the Gauss-Newton tail rate. Right: after one balancing "
                     "step.", sel[["sym_error", "asym_error", "balanced_error"]].drop_vars("rank"))]
    fig, axes = plot.figure(1, 1, width=5.4)
    rates = xr.Dataset({"asym_rate": _rates(over.asym_error, "step", ceiling=TAIL),
                        "balanced_rate": _rates(over.balanced_error, "step_after", start=over.step_after.values[1]),
                        "gn_rate": gn, "d0_rate": over.d0_rate})
    alpha, mean = rates.init_scale.values, lambda v: plot.geometric_mean_band(v)[0]
    for j, k in enumerate(rates["rank"].values):
        c, at = f"C{j}", rates.sel(rank=k)
        plot.log_error_bars(axes[0, 0], alpha, at.asym_rate, f"asymmetric tail, k = {k}", color=c)
        plot.log_error_bars(axes[0, 0], alpha, at.balanced_rate, f"balanced, k = {k}", fmt="s", color=c)
        plot.theory_line(axes[0, 0], alpha, mean(at.gn_rate), f"Gauss-Newton, k = {k}", color=c)
        plot.theory_line(axes[0, 0], alpha, mean(at.d0_rate), "" if j else "eta lambda_min(D0)", color=c, linestyle=":")
    plot.finish(axes[0, 0], legend=6, xlabel="init scale alpha", ylabel="linear rate per step",
                title="rate ~ alpha^2; balanced: flat")
    out.append(st.Figure("rates", fig, "Linear rate per step against the init scale (geometric mean over seeds, "
                         "bars: quartiles): the tail rate of asymmetric GD (circles, errors below 1e-9) against "
                         "the Gauss-Newton tail rate (dashed) and eta lambda_min(D0) (dotted); after one balancing "
                         "step (squares).", rates))
    fig, axes = plot.figure(1, 1, width=5.4)
    for i, a in enumerate(curse.init_scale.values):
        plot.log_band(axes[0, 0], sel.sym_error.sel(init_scale=a), label=f"X X^T, alpha = {a:g}", color=f"C{i}",
                      linestyle="--")
        plot.log_band(axes[0, 0], curse.curse_error.sel(init_scale=a), label=f"F G^T, alpha = {a:g}", color=f"C{i}")
    plot.finish(axes[0, 0], xlabel="step t", ylabel="||. - M*||_F / ||M*||_F",
                title=f"PSD target, k = {k_max} > r = {r}")
    out.append(st.Figure("curse_of_symmetry", fig, "The curse of symmetry: the same PSD target, measurements, k and "
                         "start fitted as X X^T (dashed, sublinear) and as F G^T (solid, linear down to round-off).",
                         xr.Dataset({"sym_error": sel.sym_error, "curse_error": curse.curse_error})))
    fig, axes = plot.figure(1, 1, width=5.4)
    t = ex.example_step.values.astype(float)
    for i, a in enumerate(ex.init_scale.values):
        axes[0, 0].semilogy(t, ex.example_error.sel(init_scale=a), color=f"C{i}", label=f"alpha = {a:g}")
        bound = math.sqrt((k_max - r) / r) * theory.spurious_mode_lower_bound(t, eta, a, a / 3)
        plot.theory_line(axes[0, 0], t, bound, "", color=f"C{i}")
    plot.finish(axes[0, 0], xlabel="step t", ylabel="relative error", ylim=(FLOOR / 10, 2),
                title="diagonal example: error >= bound")
    out.append(st.Figure("alpha_lower_bound", fig, "The diagonal example (sensing.theory.lower_bound_example): "
                         "relative error against step (solid) and the lower bound sqrt((k-r)/r) (alpha^2/3) ((1 - eta "
                         "alpha^2)(1 - eta alpha^2/9))^t (dashed): no rate above (10/9) eta alpha^2.", ex))
    return out
