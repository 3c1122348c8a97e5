"""Simon, Karkada, Ghosh & Belkin 2023 ("More is better"): random-feature ridge regression at the optimal ridge.

Everything is held against the eigenframework (docs/randfeat.md#eigenframework); the study's page is
docs/studies/more-is-better.md.

* ``gaussian`` (trials): the authors' Gaussian RF experiment (docs/randfeat.md#gaussian-rf-experiment):
  power-law task ``alpha = beta = 1.5``, 10^4 modes, noise 0.5; ``n = 256`` with the width k varied
  and ``k = 256`` with n varied; test MSE on 1000 fresh noisy points. The features are drawn by the
  exact shortcuts of docs/randfeat.md#gaussian-rf-sampling; widths and sizes are nested.
* ``digits`` (trials): ReLU random features on scikit-learn's digits, the training points drawn
  from the 1797 digits and the risk measured on all of them (the population of
  :func:`randfeat.tasks.digits_task`).
* ``krr`` (trials): kernel ridge regression on digits with the ReLU NNGP and an RBF kernel, label
  noise at several relative levels: the fitting ratio ``R = E_tr / E_te`` at the best ridge.
* ``theory`` and ``reference``: the eigenframework on every grid; the authors' stored measurements
  (package data) against it; the measured spectra of the digits kernels and their exponents
  (docs/randfeat.md#measured-exponents).
* ``power_law``: ``R*`` and the interpolation threshold of the discrete eigenframework at
  ``n, 2n`` samples and ``M/16, M/4, M`` modes, extrapolated to the continuum
  (docs/randfeat.md#finite-size-corrections) and held against the closed forms
  (docs/randfeat.md#noisy-fitting-ratio).

Sizes. ``paper`` is the authors' own Gaussian experiment (their ``rf-gaussian`` runs, the grids of
the reference data: 31 widths or sizes in [10, 10^4], 31 ridges in [1e-3, 1e2], 45 trials). The
digits and power-law parts have no grid in the paper (its real-data experiments use image data
sets and kernels that no package ships); they sit in the regime of its theorems: n up to 800 of
1797 digits, power laws with ``alpha > 1``, ``1 < beta < 2 alpha + 1`` and ``min(alpha, beta) >= 2``,
so that the mode count can be taken to convergence (10^5 modes at paper size).
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import overparam.study as st
from overparam import plot
from overparam import sweep as sweep_mod
from randfeat import experiment, features, fitting, powerlaw, ridge, spectra, tasks, theory

PAPER = "Simon, Karkada, Ghosh & Belkin 2023"
LINK = "https://arxiv.org/abs/2311.14646"
AUTHORS = (10_000, 1.5, 1.5, 0.5)  # their task: modes, alpha, beta, noise
N_REF = 256  # their n of the width sweep and k of the sample-size sweep
PAIRS = ((3.0, 2.0), (2.5, 2.0), (2.0, 3.0), (2.5, 3.5))  # (alpha, beta) of the R* claims
KERNELS = ("relu", "rbf")
REF_K = (10, 12, 15, 19, 25, 31, 39, 50, 63, 79, 100, 125, 158, 199, 251, 316, 398, 501, 630, 794, 1000, 1258,
         1584, 1995, 2511, 3162, 3981, 5011, 6309, 7943, 10000)  # the authors' widths and sizes
REF_RIDGE = tuple(float(r) for r in np.geomspace(1e-3, 1e2, 31))
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


def load_reference() -> dict:
    """The authors' measured test MSE (package data): parts ``n256`` and ``k256`` with ``n``, ``k``, ``ridge``,
    ``trials``, ``test_mse_mean`` and ``test_mse_std`` (sizes x ridges)."""
    data = resources.files("overparam.studies").joinpath("data", "more_is_better_reference.json")
    return json.loads(data.read_text())


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    return tasks.digits_data()


def _authors_task() -> tasks.Task:
    return _task_of(str(jnp.result_type(float)))


@functools.cache
def _task_of(dtype: str) -> tasks.Task:  # cached per float dtype; concrete even when built inside a traced point
    with jax.ensure_compile_time_eval():
        return tasks.power_law_task(*AUTHORS)


def _kernel(name: str, setup: st.Setup):
    return tasks.relu_nngp_kernel if name == "relu" else functools.partial(features.rbf_kernel,
                                                                          lengthscale=setup.rbf_lengthscale)


@functools.cache
def _krr_noise(setup: st.Setup) -> np.ndarray:
    """sigma^2 (kernel, samples, noise): relative noise times the ridgeless noiseless risk at each n."""
    x, y = _digits()
    with jax.ensure_compile_time_eval():  # may be first called while a point is traced
        clean = [[float(theory.krr_risk(tasks.kernel_task(x, y, _kernel(k, setup)), float(n), 0.0).test)
                  for n in setup.axes["krr_samples"]] for k in KERNELS]
    return np.asarray(clean)[:, :, None] * np.asarray(setup.axes["relative_noise"])[None, None, :]


def gaussian_point(config, key, setup: st.Setup) -> dict:
    """One trial: the width sweep at n = 256 and the sample sweep at k = 256 (train and test MSE)."""
    task = _authors_task()
    kw, ks = jax.random.split(sweep_mod.seed_key(key, config["trial"]))
    ridges, n, t = jnp.asarray(setup.axes["ridge"]), N_REF, setup.n_test
    widths, samples = setup.axes["width"], setup.axes["samples"]
    phi, y = experiment.gaussian_rf_data(kw, task, n + t, widths[-1])
    w = ridge.ridge_path_widths(phi[:n], y[:n], phi[n:], y[n:], ridges, widths)
    phi, y = experiment.gaussian_rf_data(ks, task, samples[-1] + t, N_REF)
    s = experiment.ridge_path_samples(phi[:-t], y[:-t], phi[-t:], y[-t:], ridges, samples)
    return {"width_test": w.test_mse, "width_train": w.train_mse, "samples_test": s.test_mse,
            "samples_train": s.train_mse}


def _digits_arrays() -> tuple[jax.Array, jax.Array]:
    """The digits as arrays that XLA does not constant-fold (``x x^T`` of a literal would be folded at compile time)."""
    return tuple(jax.lax.optimization_barrier(jnp.asarray(a)) for a in _digits())


def digits_point(config, key, setup: st.Setup) -> dict:
    """One trial: ReLU features; training points drawn uniformly (with replacement) from the 1797 digits, the
    test MSE on all of them (the population of :func:`randfeat.tasks.digits_task`)."""
    ki, kw = jax.random.split(sweep_mod.seed_key(key, config["trial"]))
    ridges, n, k = jnp.asarray(setup.axes["digits_ridge"]), setup.digits_n, setup.digits_k
    widths, samples = setup.axes["digits_width"], setup.axes["digits_samples"]
    k_max, n_max = max(widths[-1], k), max(samples[-1], n)
    x, y = _digits_arrays()
    idx = jax.random.permutation(ki, x.shape[0])[:n_max]  # nested in n: the first n of a random order
    phi_all = features.relu_features(features.gaussian_weights(kw, k_max, x.shape[1]), x)
    w = ridge.ridge_path_widths(phi_all[idx[:n]], y[idx[:n]], phi_all, y, ridges, widths)
    scale = math.sqrt(k_max / k)  # the first k features as a width-k model
    f = phi_all[:, :k] * scale
    s = experiment.ridge_path_samples(f[idx], y[idx], f, y, ridges, samples)
    return {"width_test": w.test_mse, "samples_test": s.test_mse}


def krr_point(config, key, setup: st.Setup) -> dict:
    """One trial per kernel: n digits drawn uniformly with replacement (nested in n), noisy labels at every
    relative noise, kernel ridge regression through :func:`randfeat.spectra.kernel_features`; test MSE on all
    1797 digits against fresh noisy labels (the population risk)."""
    ki, ke = jax.random.split(sweep_mod.seed_key(key, config["trial"]))
    samples, ridges, noise = setup.axes["krr_samples"], jnp.asarray(setup.axes["krr_ridge"]), _krr_noise(setup)
    x, y = _digits_arrays()
    idx = jax.random.permutation(ki, x.shape[0])[:samples[-1]]
    eps = jax.random.normal(ke, idx.shape)
    train, test = [], []
    for i, name in enumerate(KERNELS):
        f = spectra.kernel_features(x, _kernel(name, setup))  # the same for every trial: computed once
        for j, n in enumerate(samples):
            fit = jax.vmap(lambda s2: ridge.ridge_path(f[idx[:n]], y[idx[:n]] + jnp.sqrt(s2) * eps[:n], f, y, ridges))
            path = fit(jnp.asarray(noise[i, j]))
            train.append(path.train_mse)
            test.append(path.test_mse + jnp.asarray(noise[i, j])[:, None])  # fresh noisy labels
    shape = (len(KERNELS), len(samples), noise.shape[-1], len(setup.axes["krr_ridge"]))
    return {"train": jnp.stack(train).reshape(shape), "test": jnp.stack(test).reshape(shape)}


def theory_table(setup: st.Setup) -> xr.Dataset:
    """The eigenframework on the experiments' grids; the digits kernels' spectra, exponents and R*."""
    out, x, y = {}, *_digits()
    for name, task, (wa, sa, ra), (n, k) in (
            ("gaussian", tasks.power_law_task(*AUTHORS), ("width", "samples", "ridge"), (N_REF, N_REF)),
            ("digits", tasks.digits_task(), ("digits_width", "digits_samples", "digits_ridge"),
             (setup.digits_n, setup.digits_k))):
        w, s, r = (np.asarray(setup.axes[a], dtype=float) for a in (wa, sa, ra))
        out[f"{name}_width_test"] = ((wa, ra), theory.rf_risk(task, n, w[:, None], r).test)
        out[f"{name}_samples_test"] = ((sa, ra), theory.rf_risk(task, s[:, None], k, r).test)
        out[f"{name}_width_optimal"] = ((wa,), theory.optimal_ridge(task, n, w).risk.test)
        out[f"{name}_samples_optimal"] = ((sa,), theory.optimal_ridge(task, s, k).risk.test)
    noise, samples, ridges = _krr_noise(setup), setup.axes["krr_samples"], np.asarray(setup.axes["krr_ridge"])
    krr = {v: np.zeros(noise.shape + (ridges.size,)) for v in ("test", "train")}
    ratio, spectrum, exps = np.zeros(noise.shape), [], []
    for i, name in enumerate(KERNELS):
        task = tasks.kernel_task(x, y, _kernel(name, setup))
        for j, n in enumerate(samples):
            ratio[i, j] = fitting.fitting_ratio(task, float(n), setup.axes["relative_noise"]).ratio
            for q, s2 in enumerate(noise[i, j]):
                r = theory.krr_risk(task._replace(noise=jnp.asarray(s2)), float(n), ridges)
                krr["test"][i, j, q], krr["train"][i, j, q] = r.test, r.train
        fit = spectra.task_exponents(task, setup.spectrum_lo, setup.spectrum_hi)
        exps.append([fit.alpha.exponent, fit.beta.exponent, fit.alpha.rms, fit.beta.rms])
        v2 = np.asarray(task.coefficients) ** 2
        spectrum.append([np.asarray(task.eigenvalues), np.cumsum(v2[::-1])[::-1]])
    dims = ("kernel", "krr_samples", "relative_noise")
    out.update(krr_test=(dims + ("krr_ridge",), krr["test"]), krr_train=(dims + ("krr_ridge",), krr["train"]),
               krr_ratio=(dims, ratio), krr_noise=(dims, noise),
               eigenvalue=(("kernel", "mode"), np.asarray(spectrum)[:, 0]),
               target_tail=(("kernel", "mode"), np.asarray(spectrum)[:, 1]),
               exponents=(("kernel", "fit"), np.asarray(exps)))
    coords = {a: list(setup.axes[a]) for a in ("width", "samples", "ridge", "digits_width", "digits_samples",
                                               "digits_ridge", "krr_samples", "relative_noise", "krr_ridge")}
    return xr.Dataset({k: (d, np.asarray(v)) for k, (d, v) in out.items()},
                      coords={**coords, "kernel": list(range(len(KERNELS))), "mode": np.arange(1, x.shape[0] + 1),
                              "fit": ["alpha", "beta", "alpha_rms", "beta_rms"]})


def reference_table(setup: st.Setup) -> xr.Dataset:
    """The authors' measured means and standard errors on their grids, and the eigenframework there."""
    ref, task, out = load_reference(), tasks.power_law_task(*AUTHORS), {}
    for part, axis in (("n256", "width"), ("k256", "samples")):
        g = ref[part]
        sizes, r = np.asarray(g["k" if axis == "width" else "n"], dtype=float), np.asarray(REF_RIDGE)
        n, k = (float(g["n"][0]), sizes[:, None]) if axis == "width" else (sizes[:, None], float(g["k"][0]))
        dims = (f"ref_{axis}", "ref_ridge")
        out[f"ref_{axis}_measured"] = (dims, np.asarray(g["test_mse_mean"]))
        out[f"ref_{axis}_sem"] = (dims, np.asarray(g["test_mse_std"]) / math.sqrt(g["trials"]))
        out[f"ref_{axis}_theory"] = (dims, np.asarray(theory.rf_risk(task, n, k, r).test))
        out[f"ref_{axis}_peak"] = (dims, (np.abs(np.asarray(n / k) / 1.0 - 1.0) < 0.25) & (r < 1e-2))
    return xr.Dataset(out, coords={"ref_width": list(REF_K), "ref_samples": list(REF_K), "ref_ridge": list(REF_RIDGE)})


def power_law_table(setup: st.Setup) -> xr.Dataset:
    """R* and the interpolation threshold of the discrete eigenframework at (pair, n, modes) and the closed forms."""
    ns, ms = (setup.ratio_n, 2 * setup.ratio_n), tuple(setup.ratio_modes // f for f in (16, 4, 1))
    rel = setup.axes["ratio_noise"]
    ratio, thr = np.zeros((len(PAIRS), 2, 3, len(rel))), np.zeros((len(PAIRS), 2, 3))
    for p, (a, b) in enumerate(PAIRS):
        for j, m in enumerate(ms):
            task = tasks.power_law_task(m, a, b)
            for i, n in enumerate(ns):
                ratio[p, i, j] = fitting.fitting_ratio(task, float(n), rel).ratio
                thr[p, i, j] = fitting.interpolation_threshold(task, float(n))
    closed = [[powerlaw.optimal_fitting_ratio_at_noise(a, b, s) for s in rel] for a, b in PAIRS]
    return xr.Dataset({"ratio": (("pair", "n", "modes", "ratio_noise"), ratio),
                       "threshold": (("pair", "n", "modes"), thr),
                       "closed_ratio": (("pair", "ratio_noise"), np.asarray(closed)),
                       "closed_threshold": (("pair",), [powerlaw.overfitting_threshold(a, b) for a, b in PAIRS])},
                      coords={"pair": [f"{a:g},{b:g}" for a, b in PAIRS], "alpha": ("pair", [a for a, _ in PAIRS]),
                              "beta": ("pair", [b for _, b in PAIRS]), "n": list(ns), "modes": list(ms),
                              "ratio_noise": list(rel)})


def _best(da: xr.DataArray, ridge_dim: str) -> tuple[np.ndarray, np.ndarray, xr.DataArray]:
    """Trial mean at the ridge that minimises it, its standard error, and that ridge's index."""
    mean, sem = plot.mean_sem(da, "trial")
    best = mean.argmin(ridge_dim)
    return mean.isel({ridge_dim: best}).values, sem.isel({ridge_dim: best}).values, best


def _z(da: xr.DataArray, expect: xr.DataArray) -> np.ndarray:
    mean, sem = plot.mean_sem(da, "trial")
    return ((mean - expect) / sem).values.ravel()


def _extrapolate(v: xr.DataArray, p: np.ndarray) -> tuple[xr.DataArray, xr.DataArray]:
    """:func:`randfeat.fitting.continuum_limit` over the ``n`` and ``modes`` dims; ``p`` per pair."""
    arr = v.transpose("pair", ..., "n", "modes")
    limit, in_n = fitting.continuum_limit(arr.values, np.reshape(p, (-1,) + (1,) * (arr.ndim - 3)))
    dims = arr.dims[:-2]
    return (xr.DataArray(limit, dims=dims, coords={d: arr[d] for d in dims}),
            xr.DataArray(in_n, dims=dims + ("modes",), coords={**{d: arr[d] for d in dims}, "modes": arr["modes"]}))


def measure(data: dict, setup: st.Setup) -> dict:
    """Monotone optimal risks; theory vs the authors' data and vs our experiments; R* and thresholds; digits R*."""
    g, d, k, th, ref, pl = (data[s] for s in ("gaussian", "digits", "krr", "theory", "reference", "power_law"))
    m: dict = {"theory_rise": np.concatenate([np.diff(v) / v[:-1] for v in (th[f"{e}_{a}_optimal"].values for e in (
        "gaussian", "digits") for a in ("width", "samples"))])}
    rises, z, digits_rel = [], [], []
    for name, ds, rd in (("gaussian", g, "ridge"), ("digits", d, "digits_ridge")):
        for a in ("width", "samples"):
            mean, sem, _ = _best(ds[f"{a}_test"], rd)
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
    p = np.minimum(pl["alpha"], pl["beta"]).values - 1.0
    limit, in_n = _extrapolate(pl["ratio"], p)
    m["ratio_error"] = (limit - pl["closed_ratio"]).values
    d1, d2 = in_n.isel(modes=0) - in_n.isel(modes=1), in_n.isel(modes=1) - in_n.isel(modes=2)
    live = (pl["closed_ratio"] > 1e-3).values
    shrink = np.where(live, (d1 / d2).values, 4.0)  # successive differences shrink by 4^p where R* > 1e-3
    m["mode_rate"] = (np.log(shrink) / np.log(4.0) - p[:, None])[live]
    m["truncation"] = np.abs((in_n.isel(modes=2) - limit).values)  # what the largest M alone would miss
    t_limit, _ = _extrapolate(pl["threshold"], p)
    m["threshold_error"] = (t_limit / pl["closed_threshold"] - 1.0).values
    mean_tr, mean_te = k["train"].mean("trial"), k["test"].mean("trial")
    best = mean_te.argmin("krr_ridge")
    tr, te = k["train"].isel(krr_ridge=best), k["test"].isel(krr_ridge=best)
    ratio = tr.mean("trial") / te.mean("trial")
    t = k.sizes["trial"]
    var = (tr / tr.mean("trial") - te / te.mean("trial")).var("trial", ddof=1)  # delta method for a ratio of means
    m.update(krr_ratio=ratio.values, krr_ratio_sem=(ratio * np.sqrt(var / t)).values,
             krr_ratio_gap=(np.abs(ratio - th["krr_ratio"]) - 3.0 * ratio * np.sqrt(var / t)).values,
             krr_test_rel=np.abs(mean_te / th["krr_test"] - 1.0).values.ravel(),
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
            mean, sem, _ = _best(ds[f"{a}_test"], rd)
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
    limit, _ = _extrapolate(pl["ratio"], np.minimum(pl["alpha"], pl["beta"]).values - 1.0)
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


def check(setup: st.Setup) -> None:
    """Cross-checks: mode counts divisible by 16; a fit window of at least three modes."""
    if setup.ratio_modes % 16:
        raise ValueError(f"setting ratio_modes={setup.ratio_modes} is not allowed; allowed: a multiple of 16")
    if setup.spectrum_hi <= setup.spectrum_lo + 2:
        raise ValueError(f"setting spectrum_hi={setup.spectrum_hi} is not allowed; allowed: above spectrum_lo + 2 = "
                         f"{setup.spectrum_lo + 2}")


STUDY = st.Study(
    name="more-is-better", paper=PAPER, link=LINK,
    description="random-feature ridge regression at the optimal ridge: more features and data help; R* vs noise",
    settings={
        "digits_n": st.Setting(256, low=1, doc="digits: samples of the width sweep"),
        "digits_k": st.Setting(256, low=1, doc="digits: features of the sample-size sweep"),
        "n_test": st.Setting(1000, low=1, doc="fresh test points of the Gaussian experiment (the authors' 1000)"),
        "ratio_n": st.Setting(50, paper=100, low=4, doc="n of the power-law R* (and 2n)"),
        "ratio_modes": st.Setting(32_000, paper=128_000, low=64, doc="M of the power-law R* (and M/4, M/16)"),
        "rbf_lengthscale": st.Setting(0.5, low=0.0, low_open=True, doc="RBF kernel on the unit-norm digits"),
        "spectrum_lo": st.Setting(10, low=1, high=1797, doc="first mode of the exponent fits"),
        "spectrum_hi": st.Setting(400, low=3, high=1797, doc="last mode of the exponent fits"),
    },
    axes={
        "trial": st.seeds(8, 45, doc="trial"),
        "width": st.Axis(REF_K[:22:3], paper=REF_K, integer=True, low=1, high=10_000, min_count=2, doc="k at n = 256"),
        "samples": st.Axis(REF_K[:25:3], paper=REF_K, integer=True, low=1, min_count=2, doc="n at k = 256"),
        "ridge": st.Axis(REF_RIDGE[::5], paper=REF_RIDGE, low=0.0, low_open=True, min_count=2, doc="ridge"),
        "digits_width": st.Axis((8, 16, 32, 64, 128, 256, 512), paper=tuple(int(v) for v in np.unique(np.geomspace(
            10, 4096, 21).astype(int))), integer=True, low=1, min_count=2, doc="digits: k at n = digits_n"),
        "digits_samples": st.Axis((8, 16, 32, 64, 128, 256, 512), paper=tuple(int(v) for v in np.unique(np.geomspace(
            10, 1000, 21).astype(int))), integer=True, low=1, min_count=2, doc="digits: n at k = digits_k"),
        "digits_ridge": st.Axis(tuple(np.geomspace(1e-4, 1e1, 11)), paper=tuple(np.geomspace(1e-5, 1e1, 31)), low=0.0,
                                low_open=True, min_count=2, doc="digits: ridge"),
        "krr_samples": st.Axis((100, 400), paper=(50, 100, 200, 400, 800), integer=True, low=1, doc="digits KRR: n"),
        "relative_noise": st.Axis((0.0, 0.5, 1.0, 2.0), paper=(0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0), low=0.0,
                                  doc="digits KRR: sigma^2 / E_te(ridgeless, noiseless)"),
        "krr_ridge": st.Axis(tuple(np.geomspace(1e-6, 1e1, 36)), paper=tuple(np.geomspace(1e-7, 1e1, 81)), low=0.0,
                             low_open=True, min_count=3, doc="digits KRR: ridge"),
        "ratio_noise": st.Axis((0.0, 0.5, 1.0, 2.0), paper=tuple(np.linspace(0.0, 3.0, 13)), low=0.0,
                               doc="power laws: relative noise"),
    },
    sweeps={
        "gaussian": st.Sweep(gaussian_point, axes=("trial",), out_dims={
            "width_test": ("width", "ridge"), "width_train": ("width", "ridge"), "samples_test": ("samples", "ridge"),
            "samples_train": ("samples", "ridge")},
            out_coords=lambda s: {a: list(s.axes[a]) for a in ("width", "samples", "ridge")}),
        "digits": st.Sweep(digits_point, axes=("trial",), out_dims={
            "width_test": ("digits_width", "digits_ridge"), "samples_test": ("digits_samples", "digits_ridge")},
            out_coords=lambda s: {a: list(s.axes[a]) for a in ("digits_width", "digits_samples", "digits_ridge")}),
        "krr": st.Sweep(krr_point, axes=("trial",), out_dims={
            v: ("kernel", "krr_samples", "relative_noise", "krr_ridge") for v in ("train", "test")},
            out_coords=lambda s: {"kernel": list(range(len(KERNELS))),
                                  **{a: list(s.axes[a]) for a in ("krr_samples", "relative_noise", "krr_ridge")}}),
        "theory": st.Compute(theory_table), "reference": st.Compute(reference_table),
        "power_law": st.Compute(power_law_table),
    },
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
