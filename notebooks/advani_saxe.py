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
# # Advani & Saxe 2017: learning curves of a linear student over gradient-descent time
#
# A teacher `y = w_bar . x + eps` with `x ~ N(0, I_N / N)` and a linear student trained by gradient
# flow on `P = a N` examples. The theory writes the test error `E_g(t)` and training error `E_t(t)`
# as integrals over the Marchenko-Pastur spectrum of `X^T X`; here we hold them against the exact
# gradient-flow curves of sampled data sets. `OVERPARAM_SMOKE=1` shrinks every size.

# %%
import os

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np

from overparam import plot
from overparam.studies import advani_saxe as study

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
setup = study.SETUPS["quick"]
if SMOKE:
    setup = setup._replace(n_inputs=120, n_times=16, axes={"load": (0.5, 1.0, 2.0), "seed": tuple(range(6))})
setup

# %% [markdown]
# ## One data set
# The exact gradient flow of one data matrix at load a = 1, next to the theory.

# %%
times = np.geomspace(setup.t_min, setup.t_max, setup.n_times)
n = setup.n_inputs
kx, kw, ke = jax.random.split(jax.random.key(0), 3)
x = jax.random.normal(kx, (n, n)) / np.sqrt(n)
w_bar = jax.random.normal(kw, (n,))
w_bar = np.sqrt(n * setup.weight_var) * w_bar / jax.numpy.linalg.norm(w_bar)
y = x @ w_bar + np.sqrt(setup.noise_var) * jax.random.normal(ke, (n,))
gen, train = study.gradient_flow_errors(x, y, w_bar, jax.numpy.zeros(n), jax.numpy.ones(n),
                                        jax.numpy.asarray(times), setup.noise_var)
th = study.theory_curves(1.0, times, setup.weight_var, setup.init_var, setup.noise_var)
np.c_[times, gen, th.generalization][:: max(1, len(times) // 8)]

# %% [markdown]
# ## The sweep: loads x seeds through the sweep engine

# %%
ds, setup = study.run_sweep("quick", setup=setup)
ds

# %%
fig, axes = plot.figure(1, 2)
for j, a in enumerate(ds["load"].values):
    mean, sem = plot.mean_sem(ds["test_error"].sel(load=a), "seed")
    plot.error_bars(axes[0, 0], times, mean.values, sem.values, f"a = {a:g}", color=f"C{j}", markersize=3)
    plot.theory_line(axes[0, 0], times, ds["theory_test_error"].sel(load=a).values, None, color=f"C{j}")
axes[0, 0].set_xscale("log"), axes[0, 0].set_yscale("log"), axes[0, 0].legend()
axes[0, 0].set_xlabel("time t"), axes[0, 0].set_ylabel("E_g")
for j, a in enumerate(ds["load"].values):
    mean, sem = plot.mean_sem(ds["train_error"].sel(load=a), "seed")
    plot.error_bars(axes[0, 1], times, mean.values, sem.values, f"a = {a:g}", color=f"C{j}", markersize=3)
    plot.theory_line(axes[0, 1], times, ds["theory_train_error"].sel(load=a).values, None, color=f"C{j}")
axes[0, 1].set_xscale("log"), axes[0, 1].set_yscale("log")
axes[0, 1].set_xlabel("time t"), axes[0, 1].set_ylabel("E_t")
fig

# %% [markdown]
# ## Checks against the theory
# Over-training is worst at load 1, in the theory and in the simulation; the theory's limits
# (`E_g(0) = s_w^2 + s_eps^2`, `E_t(0) = s_w^2 + s_eps^2`) hold; and the simulation agrees with the
# theory (10% + 2 standard errors at the smoke size N = 120, where finite-N effects are larger).

# %%
over_sim = study.overtraining(ds["test_error"].mean("seed").values)
over_th = study.overtraining(ds["theory_test_error"].values)
loads = list(ds["load"].values)
assert loads[int(np.argmax(over_th))] == 1.0 and loads[int(np.argmax(over_sim))] == 1.0
t0 = study.theory_curves(0.5, np.zeros(1), 1.0, 0.0, 0.25)
assert abs(t0.generalization[0] - 1.25) < 1e-9 and abs(t0.training[0] - 1.25) < 1e-9
sem = ds["test_error"].std("seed", ddof=1) / np.sqrt(ds.sizes["seed"])
dev = np.abs(ds["test_error"].mean("seed") - ds["theory_test_error"]) - 2 * sem
tol = 0.10 if SMOKE else study.AGREEMENT
assert float((dev / ds["theory_test_error"]).max()) <= tol
claims = study.evaluate_claims(ds, setup)
[(c.claim, c.measured, c.passed) for c in claims]
