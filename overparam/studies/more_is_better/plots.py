"""The more-is-better study's figures: the authors' data and ours against the eigenframework, the risk at the
best ridge against k and n, R* against the noise (power laws and digits), and the digits kernels' spectra."""

from __future__ import annotations

import numpy as np
import xarray as xr

import overparam.study as st
from overparam import plot
from overparam.studies.more_is_better.experiments import KERNELS, PAIRS
from overparam.studies.more_is_better.measures import best_ridge
from randfeat import powerlaw


def figures(data: dict, setup: st.Setup, m: dict) -> list[st.Figure]:
    """Authors' data and ours vs theory; best-ridge risk vs k and n; R* vs noise (power laws and digits); spectra."""
    g, d, k, th, ref, pl = (data[s] for s in ("gaussian", "digits", "krr", "theory", "reference", "power_law"))
    out = []
    fig, axes = plot.figure(1, 2, width=5.2, height=4.0)
    for ax, a, label in zip(axes[0], ("width", "samples"), ("features k (n = 256)", "samples n (k = 256)")):
        ours, sem = plot.mean_sem(g[f"{a}_test"], "trial")
        for j, r in enumerate((1e-3, 1e-1, 10.0)):
            c, x = f"C{j}", ref[f"ref_{a}"].values
            plot.error_bars(ax, x, ref[f"ref_{a}_measured"].sel(ref_ridge=r, method="nearest"),
                            ref[f"ref_{a}_sem"].sel(ref_ridge=r, method="nearest"), f"authors, ridge {r:g}",
                            color=c, markersize=3)
            plot.theory_line(ax, x, ref[f"ref_{a}_theory"].sel(ref_ridge=r, method="nearest"),
                             "eigenframework" if j == 0 else None, color=c)
            plot.error_bars(ax, g[a].values, ours.sel(ridge=r, method="nearest"), sem.sel(ridge=r, method="nearest"),
                            "ours" if j == 0 else None, color=c, fmt="x", markersize=5)
        ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel(label), ax.set_ylabel("test MSE")
        ax.legend(fontsize=7)
    out.append(st.Figure("reference_vs_theory", fig, "Test MSE of the Gaussian RF experiment (alpha = beta = 1.5, "
                         "noise 0.5) vs k at n = 256 (left) and vs n at k = 256 (right) at three ridges: the authors' "
                         "45-trial means (dots, +- 1 s.e.), our trials (crosses) and the eigenframework (dashed).",
                         ref[["ref_width_measured", "ref_width_theory", "ref_samples_measured", "ref_samples_theory"]]))
    fig, axes = plot.figure(2, 2, width=4.6, height=3.6)
    for row, (name, ds, rd) in enumerate((("gaussian", g, "ridge"), ("digits", d, "digits_ridge"))):
        for col, a in enumerate(("width", "samples")):
            ax, dim = axes[row, col], a if name == "gaussian" else f"digits_{a}"
            mean, sem, _ = best_ridge(ds[f"{a}_test"], rd)
            plot.error_bars(ax, ds[dim].values, mean, sem, "experiment, best ridge")
            plot.theory_line(ax, ds[dim].values, th[f"{name}_{a}_optimal"].values, "theory, optimal ridge")
            ax.set_xscale("log"), ax.set_yscale("log"), ax.set_ylabel("test MSE"), ax.legend(fontsize=7)
            ax.set_xlabel(("features k" if a == "width" else "samples n") + f" ({name})")
    out.append(st.Figure("optimal_risk", fig, "Test risk at the best ridge of the grid (markers, +- 1 s.e.) and at the "
                         "eigenframework's optimal ridge (dashed) vs the number of features and of samples: more is "
                         "better for the Gaussian power-law task (top) and for ReLU features on digits (bottom).",
                         th[["gaussian_width_optimal", "gaussian_samples_optimal"]]))
    fig, axes = plot.figure(1, 2, width=5.2, height=4.0)
    ax, rel = axes[0, 0], pl["ratio_noise"].values
    limit = pl["limit_ratio"]
    fine = np.linspace(0.0, rel.max(), 120)
    for j, (a, b) in enumerate(PAIRS):
        plot.error_bars(ax, rel, limit.isel(pair=j), None, f"eigenframework, alpha={a:g}, beta={b:g}", color=f"C{j}")
        plot.theory_line(ax, fine, [powerlaw.optimal_fitting_ratio_at_noise(a, b, s) for s in fine],
                         "closed form" if j == 0 else None, color=f"C{j}")
        if b > a:
            ax.axvline(powerlaw.overfitting_threshold(a, b), color=f"C{j}", linestyle=":", linewidth=1.0)
    ax.set_xlabel("relative noise s"), ax.set_ylabel("R* = E_tr / E_te"), ax.legend(fontsize=6)
    ax.set_title("power laws (dotted: threshold)")
    ax, rn = axes[0, 1], k["relative_noise"].values
    for i, name in enumerate(KERNELS):
        for j, n in enumerate(k["krr_samples"].values):
            c = f"C{i * len(k['krr_samples']) + j}"
            plot.error_bars(ax, rn, m["krr_ratio"][i, j], m["krr_ratio_sem"][i, j], f"{name}, n = {n}", color=c)
            plot.theory_line(ax, rn, th["krr_ratio"].values[i, j], None, color=c)
        a, b = m["exponents"][i, :2]
        ax.plot(fine, [powerlaw.optimal_fitting_ratio_at_noise(a, b, s) for s in fine], ":", color=f"C{i * 5}",
                label=f"power law a={a:.2f}, b={b:.2f}")
    ax.set_xlabel("relative noise s"), ax.set_ylabel("R* = E_tr / E_te"), ax.legend(fontsize=6)
    ax.set_title("digits KRR (dashed: eigenframework)")
    out.append(st.Figure("fitting_ratio_vs_noise", fig, "Optimal fitting ratio R* vs relative noise. Left: the "
                         "eigenframework on power-law tasks extrapolated to n, M -> inf (markers) against the closed "
                         "form (dashed). Right: KRR on digits, measured at the best ridge (markers, +- 1 s.e.), "
                         "the "
                         "eigenframework of the measured spectrum (dashed) and the power-law closed form with the "
                         "fitted exponents (dotted).", xr.Dataset({"limit": limit, "closed": pl["closed_ratio"]})))
    fig, axes = plot.figure(1, 2, width=5.2, height=4.0)
    for ax, var, label in zip(axes[0], ("eigenvalue", "target_tail"), ("eigenvalue lambda_i", "sum_{j>=i} v_j^2")):
        i = th["mode"].values
        for j, name in enumerate(KERNELS):
            ax.plot(i, th[var].values[j], color=f"C{j}", label=name)
            e = m["exponents"][j, 0 if var == "eigenvalue" else 1] - (0.0 if var == "eigenvalue" else 1.0)
            lo = setup.spectrum_lo
            ax.plot(i, th[var].values[j, lo - 1] * (i / lo) ** -e, "--", color=f"C{j}", linewidth=1.0)
        ax.axvspan(setup.spectrum_lo, setup.spectrum_hi, color="0.9")
        ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel("mode i"), ax.set_ylabel(label), ax.legend(fontsize=7)
    out.append(st.Figure("digits_spectra", fig, "Kernel eigenvalues (left) and target tail power (right) of the digits "
                         "task for the ReLU NNGP and RBF kernels, with the power laws fitted over the shaded window.",
                         th[["eigenvalue", "target_tail"]]))
    return out
