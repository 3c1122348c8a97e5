"""The more-is-better study's measurements and claims (docs/studies/more-is-better.md#claims).

``measure`` reduces the six results to the numbers the claims compare: monotone optimal risks,
theory against the authors' data and against our experiments, the power-law R* and threshold
against their closed forms, and the measured R* on the digits.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

import overparam.study as st
from overparam import plot
from overparam.studies.more_is_better.experiments import KERNELS, PAIRS
from randfeat import fitting

MEDIAN, P90 = 0.02, 0.05  # theory vs measured: median and 90th percentile of |ratio - 1| off the peak
Z = 4.0  # |experiment - theory| in standard errors ...
Z_FRACTION = 0.9  # ... at this fraction of the (size, ridge) points
DIGITS_MEDIAN, DIGITS_P90 = 0.06, 0.15  # ReLU RF on digits vs theory, relative (seen 0.044-0.049, 0.123-0.124)
KRR_MEDIAN, KRR_P90 = 0.04, 0.12  # KRR test MSE on digits vs theory, relative (seen 0.016-0.023, 0.068-0.075)
RISE = 2.0  # the experiment's best-ridge risk may rise by at most this many standard errors
RATIO_TOL = 1e-4  # extrapolated R* vs closed form (seen <= 2e-5)
THRESHOLD_TOL = 1e-3  # extrapolated threshold, relative (seen <= 2e-4)
RATE_TOL = 0.15  # fitted mode-truncation exponent vs min(alpha, beta) - 1
OBLIGATORY = 0.05  # R* on digits without added noise
R_BAND = 0.05  # experiment R* vs eigenframework R* on digits (ridge-grid resolution), plus 3 s.e.


def best_ridge(da: xr.DataArray, ridge_dim: str) -> tuple[np.ndarray, np.ndarray, xr.DataArray]:
    """Trial mean at the ridge that minimises it, its standard error, and that ridge's index."""
    mean, sem = plot.mean_sem(da, "trial")
    best = mean.argmin(ridge_dim)
    return mean.isel({ridge_dim: best}).values, sem.isel({ridge_dim: best}).values, best


def _z(da: xr.DataArray, expect: xr.DataArray) -> np.ndarray:
    mean, sem = plot.mean_sem(da, "trial")
    return ((mean - expect) / sem).values.ravel()


def measure(data: dict, setup: st.Setup) -> dict:
    """Monotone optimal risks; theory vs the authors' data and vs our experiments; R* and thresholds; digits R*."""
    g, d, k, th, ref, pl = (data[s] for s in ("gaussian", "digits", "krr", "theory", "reference", "power_law"))
    m: dict = {"theory_rise": np.concatenate([np.diff(v) / v[:-1] for v in (th[f"{e}_{a}_optimal"].values for e in (
        "gaussian", "digits") for a in ("width", "samples"))])}
    rises, z, digits_rel = [], [], []
    for name, ds, rd in (("gaussian", g, "ridge"), ("digits", d, "digits_ridge")):
        for a in ("width", "samples"):
            mean, sem, _ = best_ridge(ds[f"{a}_test"], rd)
            rises.append((mean[1:] - mean[:-1]) / np.hypot(sem[1:], sem[:-1]))
            if name == "gaussian":
                z.append(_z(ds[f"{a}_test"], th[f"{name}_{a}_test"]))
            else:
                digits_rel.append(np.abs(ds[f"{a}_test"].mean("trial") / th[f"{name}_{a}_test"] - 1.0).values.ravel())
    digits_rel = np.concatenate(digits_rel)
    m.update(experiment_rise=np.concatenate(rises), theory_z_fraction=np.mean(np.abs(np.concatenate(z)) <= Z),
             digits_median=np.median(digits_rel), digits_p90=np.percentile(digits_rel, 90))
    rel, zs = [], []
    for a in ("width", "samples"):
        peak = ref[f"ref_{a}_peak"].values
        rel.append(np.abs(ref[f"ref_{a}_theory"] / ref[f"ref_{a}_measured"] - 1.0).values[~peak])
        ours, sem = plot.mean_sem(g[f"{a}_test"], "trial")
        common = {f"ref_{a}": [v for v in ref[f"ref_{a}"].values if v in g[a].values],
                  "ref_ridge": [r for r in ref["ref_ridge"].values
                                if np.isclose(g["ridge"].values, r, rtol=1e-9).any()]}
        sub = ref.sel(common)
        o = ours.sel({a: common[f"ref_{a}"]}).sel(ridge=sub["ref_ridge"].values, method="nearest").values
        s = sem.sel({a: common[f"ref_{a}"]}).sel(ridge=sub["ref_ridge"].values, method="nearest").values
        keep = ~sub[f"ref_{a}_peak"].values
        zs.append(((o - sub[f"ref_{a}_measured"].values) / np.hypot(s, sub[f"ref_{a}_sem"].values))[keep])
    rel = np.concatenate(rel)
    m.update(reference_median=np.median(rel), reference_p90=np.percentile(rel, 90), authors_z=np.concatenate(zs))
    in_n, live = pl["ratio_in_n"], (pl["closed_ratio"] > 1e-3).values
    m["ratio_error"] = (pl["limit_ratio"] - pl["closed_ratio"]).values
    d1, d2 = in_n.isel(modes=0) - in_n.isel(modes=1), in_n.isel(modes=1) - in_n.isel(modes=2)
    shrink = np.where(live, (d1 / d2).values, 4.0)  # successive differences shrink by 4^p where R* > 1e-3
    m["mode_rate"] = (np.log(shrink) / np.log(4.0) - pl["exponent"].values[:, None])[live]
    m["truncation"] = np.abs((in_n.isel(modes=-1) - pl["limit_ratio"]).values)  # what the largest M alone misses
    m["threshold_error"] = (pl["limit_threshold"] / pl["closed_threshold"] - 1.0).values
    dims = ("trial", "kernel", "krr_samples", "relative_noise", "krr_ridge")
    r = fitting.measured_fitting_ratio(k["train"].transpose(*dims).values, k["test"].transpose(*dims).values)
    m.update(krr_ratio=r.ratio, krr_ratio_sem=r.sem,
             krr_ratio_gap=np.abs(r.ratio - th["krr_ratio"].values) - 3.0 * r.sem,
             krr_test_rel=np.abs(k["test"].mean("trial") / th["krr_test"] - 1.0).values.ravel(),
             exponents=th["exponents"].values)
    return m


def claims(m: dict, setup: st.Setup) -> list[st.Claim]:
    """Monotonicity, agreement with the authors and with our experiments, R* and the threshold, digits R*."""
    trials, pairs = len(setup.axes["trial"]), ", ".join(f"({a:g}, {b:g})" for a, b in PAIRS)
    kr = ", ".join(f"{k}" for k in KERNELS)
    return [
        st.Claim("optimal-risk-monotone-theory", "at the optimal ridge the predicted test risk does not rise with the "
                 "number of features k or of samples n (Gaussian power-law task and digits)", m["theory_rise"], "<=",
                 1e-9, "relative", "relative change between neighbouring sizes of optimal_ridge's risk"),
        st.Claim("optimal-risk-monotone-experiment",
                 "the measured test risk at the best ridge does not rise with k or n",
                 m["experiment_rise"], "<=", RISE, "s.e.", f"rise between neighbouring sizes, {trials} trials"),
        st.Claim("theory-matches-authors", "the eigenframework matches the authors' measured RF test MSE "
                 "(alpha = beta = 1.5, 10^4 modes, noise 0.5, 45 trials) away from the interpolation peak",
                 m["reference_median"], "<=", MEDIAN, "relative", "median |theory/measured - 1|"),
        st.Claim("theory-matches-authors-tail", "... and at 90% of their (size, ridge) points within 5%",
                 m["reference_p90"], "<=", P90, "relative", "90th percentile of |theory/measured - 1|"),
        st.Claim("experiment-matches-authors", "our run of the authors' experiment (drawn by the exact sampling "
                 "shortcuts) agrees with their stored means", np.mean(np.abs(m["authors_z"]) <= Z), ">=", 0.95,
                 "fraction", f"points with |ours - theirs| <= {Z:g} combined s.e., {m['authors_z'].size} common "
                 f"(size, ridge) points off the peak; max |z| {np.max(np.abs(m['authors_z'])):.2f}"),
        st.Claim("experiment-matches-theory", "our Gaussian RF experiment matches the eigenframework",
                 m["theory_z_fraction"], ">=", Z_FRACTION, "fraction", f"(size, ridge) points within {Z:g} s.e."),
        st.Claim("digits-rf-matches-theory", "ReLU random features on digits follow the eigenframework of the "
                 "digits' ReLU NNGP spectrum", m["digits_median"], "<=", DIGITS_MEDIAN, "relative",
                 f"median |measured/theory - 1| over the (size, ridge) points, {trials} trials (the features are not "
                 "Gaussian, so the framework is approximate here)"),
        st.Claim("digits-rf-matches-theory-tail", "... and at 90% of the points within 15%", m["digits_p90"], "<=",
                 DIGITS_P90, "relative", "90th percentile of |measured/theory - 1|"),
        st.Claim("fitting-ratio-closed-form", "the optimal fitting ratio R* = E_tr/E_te of power-law KRR follows "
                 "the closed form (1 - t*)^2 at every noise level, in the limit n, M -> inf", m["ratio_error"], "in",
                 (-RATIO_TOL, RATIO_TOL), "", f"eigenframework at n = {setup.ratio_n}, {2 * setup.ratio_n} and M = "
                 f"{setup.ratio_modes // 4}, {setup.ratio_modes} modes, extrapolated in 1/n and M^-(min(a, b) - 1); "
                 f"(alpha, beta) = {pairs}; without the mode extrapolation the error reaches "
                 f"{np.max(m['truncation']):.1e}"),
        st.Claim("fitting-ratio-mode-convergence", "R* converges in the number of modes M at the rate the truncated "
                 "tails give, M^-(min(alpha, beta) - 1)", m["mode_rate"], "in", (-RATE_TOL, RATE_TOL), "",
                 f"fitted exponent minus min(alpha, beta) - 1, from M = {setup.ratio_modes // 16}, "
                 f"{setup.ratio_modes // 4}, {setup.ratio_modes} (where R* > 1e-3)"),
        st.Claim("overfitting-threshold", "interpolation is optimal iff the relative noise is below "
                 "(beta - alpha)/(alpha (alpha - 1)) (overfitting is obligatory)", m["threshold_error"], "in",
                 (-THRESHOLD_TOL, THRESHOLD_TOL), "relative", "noise where dE_te/d ridge at 0 changes sign, "
                 "extrapolated as R*"),
        st.Claim("digits-power-law-class", "the digits kernels' spectra are power laws in the theory's class: "
                 "alpha > 1 and 1 < beta < 2 alpha + 1",
                 np.concatenate([m["exponents"][:, 0] - 1.0, m["exponents"][:, 1] - 1.0,
                 2 * m["exponents"][:, 0] + 1 - m["exponents"][:, 1]]), ">", 0.0, "",
                 f"alpha - 1, beta - 1, 2 alpha + 1 - beta for {kr}; fitted over modes {setup.spectrum_lo}.."
                 f"{setup.spectrum_hi}: alpha = {', '.join(f'{v:.2f}' for v in m['exponents'][:, 0])}, "
                 f"beta = {', '.join(f'{v:.2f}' for v in m['exponents'][:, 1])}"),
        st.Claim("digits-overfitting-obligatory", "on real data near-zero training error is needed for the best "
                 "test error: without added noise R* is small once n is large", m["krr_ratio"][:, -1, 0], "<=",
                 OBLIGATORY, "", f"measured E_tr/E_te at the best ridge, n = {setup.axes['krr_samples'][-1]}; "
                 f"at n = {setup.axes['krr_samples'][0]}: {', '.join(f'{v:.3g}' for v in m['krr_ratio'][:, 0, 0])} "
                 "(the eigenframework's R* also falls with n)", labels=KERNELS),
        st.Claim("digits-fitting-ratio-theory", "the measured R* on digits follows the eigenframework's R* at every "
                 "noise level", m["krr_ratio_gap"], "<=", R_BAND, "", "|measured - theory| - 3 s.e.; the ridge grid "
                 f"({len(setup.axes['krr_ridge'])} ridges) resolves R* to about {R_BAND:g}"),
        st.Claim("digits-krr-matches-theory", "the test MSE of KRR on digits matches the eigenframework",
                 np.median(m["krr_test_rel"]), "<=", KRR_MEDIAN, "relative", "median |measured/theory - 1| over "
                 f"(kernel, n, noise, ridge), {trials} trials"),
        st.Claim("digits-krr-matches-theory-tail", "... and at 90% of the points within 12%",
                 np.percentile(m["krr_test_rel"], 90), "<=", KRR_P90, "relative",
                 "90th percentile of |measured/theory - 1|"),
    ]
