"""The experiments of the more-is-better study: its task constants, sweep points and computed tables.

Points: ``gaussian`` (the authors' Gaussian RF experiment, docs/randfeat.md#gaussian-rf-experiment),
``digits`` (ReLU random features on the digits) and ``krr`` (kernel ridge regression on the digits at
several label-noise levels). Tables: ``theory`` (the eigenframework on every grid, the digits
kernels' spectra and exponents), ``reference`` (the authors' stored measurements against it) and
``power_law`` (:func:`randfeat.fitting.power_law_limit` for each (alpha, beta)).
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
from overparam import sweep as sweep_mod
from randfeat import experiment, features, fitting, powerlaw, ridge, spectra, tasks, theory

AUTHORS = (10_000, 1.5, 1.5, 0.5)  # their task: modes, alpha, beta, noise
N_REF = 256  # their n of the width sweep and k of the sample-size sweep
PAIRS = ((3.0, 2.0), (2.5, 2.0), (2.0, 3.0), (2.5, 3.5))  # (alpha, beta) of the R* claims
KERNELS = ("relu", "rbf")
REF_K = (10, 12, 15, 19, 25, 31, 39, 50, 63, 79, 100, 125, 158, 199, 251, 316, 398, 501, 630, 794, 1000, 1258,
         1584, 1995, 2511, 3162, 3981, 5011, 6309, 7943, 10000)  # the authors' widths and sizes
REF_RIDGE = tuple(float(r) for r in np.geomspace(1e-3, 1e2, 31))


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
    """One trial: ReLU features; training points the first n of a random order of the 1797 digits (without
    replacement), the test MSE on all of them (the population of :func:`randfeat.tasks.digits_task`)."""
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
    """One trial per kernel: the first n digits of a random order (nested in n), noisy labels at every
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
    """:func:`randfeat.fitting.power_law_limit` for each (alpha, beta) of PAIRS, and the closed forms."""
    rel = setup.axes["ratio_noise"]
    lim = [fitting.power_law_limit(a, b, rel, setup.ratio_n, setup.ratio_modes) for a, b in PAIRS]
    pm, grid = ("pair", "modes"), ("pair", "n", "modes")
    return xr.Dataset(
        {"ratio": (grid + ("ratio_noise",), np.stack([v.ratio_grid for v in lim])),
         "threshold": (grid, np.stack([v.threshold_grid for v in lim])),
         "ratio_in_n": (pm + ("ratio_noise",), np.stack([v.ratio_in_n for v in lim])),
         "threshold_in_n": (pm, np.stack([v.threshold_in_n for v in lim])),
         "limit_ratio": (("pair", "ratio_noise"), np.stack([v.ratio for v in lim])),
         "limit_threshold": (("pair",), [float(v.threshold) for v in lim]),
         "closed_ratio": (("pair", "ratio_noise"), [[powerlaw.optimal_fitting_ratio_at_noise(a, b, s) for s in rel]
                                                     for a, b in PAIRS]),
         "closed_threshold": (("pair",), [powerlaw.overfitting_threshold(a, b) for a, b in PAIRS])},
        coords={"pair": [f"{a:g},{b:g}" for a, b in PAIRS], "alpha": ("pair", [a for a, _ in PAIRS]),
                "beta": ("pair", [b for _, b in PAIRS]), "exponent": ("pair", [v.exponent for v in lim]),
                "n": [setup.ratio_n, 2 * setup.ratio_n], "modes": list(lim[0].modes), "ratio_noise": list(rel)})
