# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Simon et al. 2023, "More is better": random-feature regression at the optimal ridge
#
# The eigenframework predicts the test and train risk of random-feature ridge regression from a
# task's kernel eigenvalues and target coefficients. We run the authors' Gaussian random-feature
# experiment (a power-law task, `alpha = beta = 1.5`, 10^4 modes, noise 0.5, `n = 256` samples, the
# width `k` varied) through the sweep engine and hold it against the theory and against the authors'
# own stored measurements; then the optimal fitting ratio `R* = E_tr / E_te` of power-law kernel
# regression against its closed form. `OVERPARAM_SMOKE=1` shrinks the sizes; the code is the same.

# %%
import json
import os
from importlib import resources

import overparam  # noqa: F401  (before JAX computes: the XLA:CPU deadlock workaround)
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np

from overparam import plot, sweep
from randfeat import experiment, fitting, powerlaw, ridge, tasks, theory

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
N, N_TEST = 256, (300 if SMOKE else 1000)
WIDTHS = (10, 39, 158, 630) if SMOKE else (10, 19, 39, 79, 158, 316, 630, 1258)
RIDGES = np.geomspace(1e-3, 1e2, 31)[::10 if SMOKE else 5]
TRIALS = 4 if SMOKE else 8
PAIR, MODES, N_RATIO = (3.0, 2.0), (4000, 16000) if SMOKE else (8000, 32000), 50
NOISE = np.array([0.0, 1.0]) if SMOKE else np.array([0.0, 0.5, 1.0, 2.0])

# %% [markdown]
# ## The task and one theory point
# The effective ridge gamma solves `gamma (1 - z/n)(1 - z/k) = delta / n`; the risk follows from it.

# %%
task = tasks.power_law_task(10_000, 1.5, 1.5, 0.5)
r = theory.rf_risk(task, float(N), 256.0, 0.1)
{"E_te": float(r.test), "E_tr": float(r.train), "gamma": float(r.gamma)}

# %% [markdown]
# ## One trial: every width from one draw
# `gaussian_rf_data` draws the features `phi = A x` and labels `y = x . v + eps` of the model
# exactly, without forming the `(k, 10^4)` projection; `ridge_path_widths` fits every nested width
# and ridge.

# %%
def trial(config, key):
    phi, y = experiment.gaussian_rf_data(sweep.seed_key(key, config["trial"]), task, N + N_TEST, WIDTHS[-1])
    path = ridge.ridge_path_widths(phi[:N], y[:N], phi[N:], y[N:], jnp.asarray(RIDGES), WIDTHS)
    return {"test": path.test_mse}


one = trial({"trial": jnp.asarray(0)}, jax.random.key(0))["test"]
predicted = theory.rf_risk(task, float(N), np.asarray(WIDTHS, dtype=float)[:, None], RIDGES).test
np.round(np.asarray(one / predicted), 2)

# %% [markdown]
# ## The trials as a sweep, against the theory at the optimal ridge

# %%
ds = sweep.run(trial, {"trial": list(range(TRIALS))}, key=jax.random.key(2023),
               out_dims={"test": ("width", "ridge")}, out_coords={"width": list(WIDTHS), "ridge": list(RIDGES)})
mean, sem = plot.mean_sem(ds["test"], "trial")
best = mean.argmin("ridge")
optimal = theory.optimal_ridge(task, float(N), np.asarray(WIDTHS, dtype=float)).risk.test
fig, axes = plot.figure(1, 2)
ax = axes[0, 0]
plot.error_bars(ax, WIDTHS, mean.isel(ridge=best), sem.isel(ridge=best), "experiment, best ridge")
plot.theory_line(ax, WIDTHS, optimal, "theory, optimal ridge")
ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel("features k (n = 256)"), ax.set_ylabel("test MSE")
ax.legend(fontsize=7)

# %% [markdown]
# ## The authors' measurements
# Their 45-trial means of the same experiment (package data) against the theory, away from the
# interpolation peak `n ~ k` at small ridge.

# %%
ref = json.loads(resources.files("overparam.studies").joinpath("data", "more_is_better_reference.json").read_text())
part = ref["n256"]
k_ref, ridge_ref = np.asarray(part["k"], dtype=float), np.geomspace(1e-3, 1e2, 31)
measured = np.asarray(part["test_mse_mean"])
pred = np.asarray(theory.rf_risk(task, 256.0, k_ref[:, None], ridge_ref).test)
peak = (np.abs(256.0 / k_ref[:, None] - 1) < 0.25) & (ridge_ref < 1e-2)
rel = np.abs(pred / measured - 1)[~peak]
{"median": float(np.median(rel)), "90th percentile": float(np.percentile(rel, 90))}

# %% [markdown]
# ## The optimal fitting ratio of a power law, extrapolated to the continuum
# `R*(n, M)` approaches the closed form like `1/n` and like `M^-(min(alpha, beta) - 1)` in the
# number of modes; two values of each remove both.

# %%
alpha, beta = PAIR
values = np.array([[fitting.fitting_ratio(tasks.power_law_task(m, alpha, beta), float(n), NOISE).ratio for m in MODES]
                   for n in (N_RATIO, 2 * N_RATIO)])  # (n, modes, noise)
limit, _ = fitting.continuum_limit(np.moveaxis(values, -1, 0), min(alpha, beta) - 1)
closed = np.array([powerlaw.optimal_fitting_ratio_at_noise(alpha, beta, s) for s in NOISE])
ax = axes[0, 1]
plot.error_bars(ax, NOISE, limit, None, "eigenframework, extrapolated")
plot.theory_line(ax, NOISE, closed, "closed form (1 - t*)^2")
ax.set_xlabel("relative noise s"), ax.set_ylabel("R* = E_tr / E_te"), ax.legend(fontsize=7)
fig

# %% [markdown]
# ## Checks against the theory
# The optimal-ridge risk never rises with k; the trial means agree with the theory within 4
# standard errors at most (width, ridge) points; the authors' data agree with the theory to 2% in
# the median; the extrapolated `R*` equals the closed form to 1e-4 (seen 1e-5).

# %%
z = np.abs((mean - theory.rf_risk(task, float(N), np.asarray(WIDTHS, dtype=float)[:, None], RIDGES).test) / sem)
assert np.all(np.diff(np.asarray(optimal)) <= 1e-9 * np.asarray(optimal)[:-1])
assert float((z <= 4).mean()) >= 0.8
assert np.median(rel) <= 0.02 and np.percentile(rel, 90) <= 0.05
assert np.max(np.abs(limit - closed)) <= 1e-4
