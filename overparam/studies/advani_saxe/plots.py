"""The advani-saxe study's figures: the linear student against the theory, over-training and the best
early-stopping error against load; the two-layer student against width."""

from __future__ import annotations

import xarray as xr

import overparam.study as st
from overparam import plot


def figures(data, setup: st.Setup, m: dict) -> list[st.Figure]:
    """Linear: E_g and E_t vs time against theory, over-training and best E_g vs load; student: both vs width."""
    lin, th, ax_, p = data["linear"], data["theory"], setup.axes, setup.n_samples
    mid, v0, t = ax_["snr"][len(ax_["snr"]) // 2], ax_["init_var"][0], data["linear"]["time"].values
    j_mid, every, loads, widths = list(ax_["snr"]).index(mid), max(1, len(t) // 16), ax_["load"], ax_["width"]
    fig, axes = plot.figure(2, 2, width=5.0, height=4.0)
    for ax, var in ((axes[0, 0], "test_error"), (axes[0, 1], "train_error")):
        for j, a in enumerate(loads):
            mean, se = plot.mean_sem(lin[var].sel(load=a, snr=mid, init_var=v0), "seed")
            plot.error_bars(ax, t[::every], mean.values[::every], se.values[::every], f"a = {a:g}", color=f"C{j}",
                            markersize=3)
            plot.theory_line(ax, t, th[var].sel(load=a, snr=mid, init_var=v0).values, None, color=f"C{j}")
        plot.finish(ax, legend=6, xscale="log", yscale="log", xlabel="gradient-flow time t",
                    ylabel=var.replace("_", " "), title=f"linear student, snr = {mid:g}, init_var = {v0:g}")
    for k, (ax, key, cols, label) in enumerate(((axes[1, 0], "overtraining", ax_["snr"], "snr"),
                                                (axes[1, 1], "best", ax_["init_var"], "init_var"))):
        for j, c in enumerate(cols):
            sim, theo = (m[f"{key}_{w}"][:, j, 0] if k == 0 else m[f"{key}_{w}"][:, j_mid, j] for w in ("sim", "theory"))
            ax.plot(loads, sim, "o", color=f"C{j}", label=f"simulation {label} = {c:g}")
            plot.theory_line(ax, loads, theo, "theory" if j == 0 else None, color=f"C{j}")
        plot.finish(ax, legend=6, xscale="log", yscale="log" if k == 0 else "linear", xlabel="load a = P/N",
                    ylabel="over-training E_g(T) - min E_g" if k == 0 else f"best early-stopping E_g, snr = {mid:g}")
    fig2, axes2 = plot.figure(1, 2, width=5.0, height=4.0)
    for ax, values, label in ((axes2[0, 0], m["student_overtraining"][..., 0], "over-training"),
                              (axes2[0, 1], m["student_best"], f"best early-stopping E_g, init_var {v0:g}")):
        for j, s in enumerate(ax_["snr"]):
            ax.plot(widths, values[:, j], "o-", color=f"C{j}", label=f"snr = {s:g}")
        ax.axvline(p, color="black", linestyle=":", label=f"N_h = P = {p}")
        plot.finish(ax, legend=6, xscale="log", yscale="log", xlabel="hidden units N_h", ylabel=label,
                    title="two-layer student")
    dims = ("load", "snr", "init_var")
    lin_table = xr.Dataset({k: (dims, m[k]) for k in ("overtraining_sim", "overtraining_theory", "best_sim",
                                                       "best_theory")}, coords={k: list(ax_[k]) for k in dims})
    nl_table = xr.Dataset({"overtraining": (("width", "snr", "init_var"), m["student_overtraining"]),
                           "best_error": (("width", "snr"), m["student_best"])},
                          coords={"width": list(widths), "snr": list(ax_["snr"]), "init_var": list(ax_["init_var"])})
    return [st.Figure("linear_student", fig, f"Linear student (N = {setup.n_inputs}). Top: test and training error vs "
                      f"gradient-flow time (markers: mean +- s.e. over seeds) against the Marchenko-Pastur theory "
                      "(dashed), per load. Bottom left: over-training vs load per snr (init_var "
                      f"{v0:g}), simulation against theory, worst at a = 1. Bottom right: best early-stopping test "
                      "error vs load per initial variance, simulation against theory.", lin_table),
            st.Figure("two_layer_student", fig2, f"Two-layer ReLU student, output layer trained, P = {p} samples: "
                      "over-training (left) and the best early-stopping test error (right) vs hidden units, seed "
                      "means per snr; the dotted line is N_h = P.", nl_table)]
