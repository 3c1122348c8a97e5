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
# # Sagun et al. 2017 and Chatterjee & Zielinski 2022: Hessian bulk and outliers, gradient coherence
#
# A two-layer tanh network fits `K` Gaussian clusters with labels `+-1` (squared loss). At the
# global minimum the exact Hessian is the Gauss-Newton matrix `J^T J / n`: at least `P - n` of its
# eigenvalues are zero (the bulk), and its between-cluster part has rank `K`, which gives `K`
# outliers above the bulk edge `lambda_1(G_within) + ||H - G||` (Weyl). At initialisation
# (`f = 0` by a mirrored start) the per-example gradients are coherent with the cluster labels and
# not with random ones, whose mean coherence is exactly `1/n`; one GD step lowers the loss by
# `eta * alpha * mean_i ||g_i||^2` to first order, and over the first tenth of training GD fits the
# cluster labels far faster than random ones. `OVERPARAM_SMOKE=1` shrinks every size.

# %%
import os

import jax
import jax.flatten_util

jax.config.update("jax_enable_x64", True)

import numpy as np

import bounds
from overparam import plot
from overparam.studies import hessian_coherence as study

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
setup = study.SETUPS["quick"]
if SMOKE:
    setup = setup._replace(dim=6, n_train=10, steps=600, label_draws=32, lanczos_iter=40,
                           axes={"width": (8, 12), "clusters": (2, 3), "seed": (0, 1)})
setup

# %% [markdown]
# ## One network
# Train one network on `K = 3` clusters, then compare the Hessian's top eigenvalues with those of
# the between-cluster part `G_b` of the Gauss-Newton matrix, and Lanczos with the dense spectrum.

# %%
width, k = max(setup.axes["width"]), 3
kd, ki = jax.random.split(jax.random.key(0))
data = study.make_data(kd, setup.n_train, setup.dim, k, k, setup.spread, setup.radius)
params0 = study.init_params(ki, width, setup.dim)
params, losses = jax.jit(study.train, static_argnums=(2, 4))(params0, data, setup.steps, setup.learning_rate,
                                                             setup.newton_steps)
spec = jax.jit(study.hessian_spectrum, static_argnums=2)(params, data, k)
eig = np.asarray(spec.eigenvalues)
edge = float(spec.within_top + spec.residual_norm)
matvec, dim = bounds.flat_hvp(lambda p: study.squared_loss(p, data.x, data.y), params)
lo, hi = bounds.extreme_eigenvalues(matvec, jax.random.key(1), dim, min(setup.lanczos_iter, dim))
{"final loss": float(losses[-1]), "P": dim, "top eigenvalues": eig[: k + 2].round(5),
 "between-cluster eigenvalues": np.asarray(spec.between).round(5), "bulk edge": edge,
 "Lanczos - dense (max, min)": (float(hi) - eig[0], float(lo) - eig[-1])}

# %% [markdown]
# ## Early GD: real vs random labels
# From the same start (`f = 0`, `L = 1/2` for any `+-1` labels) and step size, train `T = steps / 10`
# steps on the cluster labels and on random labels, and compare the exact one-step decrease with
# `eta * alpha * mean_i ||g_i||^2` for a small step.

# %%
T = study.early_steps(setup)
signs = jax.numpy.where(jax.random.bernoulli(jax.random.key(2), 0.5, (4, setup.n_train)), 1.0, -1.0)
labels = jax.numpy.concatenate([data.y[None], signs])
early = jax.jit(jax.vmap(lambda y: study.early_training(params0, data.x, y, T, setup.learning_rate,
                                                        study.EARLY_RECORDS)))(labels)
flat, unravel = jax.flatten_util.ravel_pytree(params0)
loss0 = lambda v: study.squared_loss(unravel(v), data.x, data.y)  # noqa: E731
grads = bounds.per_example_gradients(study.example_loss, params0, (data.x, data.y))
first_order = float(early.coherence[0, 0]) * float(np.mean(np.sum(
    np.asarray(jax.vmap(lambda g: jax.flatten_util.ravel_pytree(g)[0])(grads)) ** 2, axis=1)))
eta = 1e-5
one_step = float(loss0(flat) - loss0(flat - eta * jax.grad(loss0)(flat))) / eta
{"T": T, "loss at T (real, random...)": np.asarray(early.loss[:, -1]).round(5),
 "coherence along T (real)": np.asarray(early.coherence[0]).round(4),
 "one-step decrease / eta vs alpha mean ||g_i||^2": (one_step, first_order)}

# %% [markdown]
# ## The sweep: widths x clusters x seeds through the sweep engine

# %%
ds, setup = study.run_sweep("quick", setup=setup)
summary = study.summarize(ds)
ds

# %%
fig, axes = plot.figure(1, 2)
for i, w in enumerate(ds["width"].values):
    e = ds["eigenvalues"].sel(width=w).isel(clusters=-1, seed=0).values
    e = e[np.isfinite(e)]
    axes[0, 0].plot(np.arange(1, e.size + 1), np.maximum(np.abs(e), 1e-18), ".", color=f"C{i}",
                    label=f"h = {int(w)}, P = {e.size}")
axes[0, 0].set_xscale("log"), axes[0, 0].set_yscale("log"), axes[0, 0].legend()
axes[0, 0].set_xlabel("rank"), axes[0, 0].set_ylabel("|eigenvalue of H|")
ks = ds["clusters"].values
for j, kk in enumerate(ks):
    for var, fmt in (("coherence_real", "o"), ("coherence_random", "s")):
        mean, sem = plot.mean_sem(ds[var].sel(clusters=kk), "seed")
        plot.error_bars(axes[0, 1], ds["width"].values, mean.values, sem.values, f"{var[10:]}, K = {int(kk)}",
                        color=f"C{j}", fmt=fmt)
plot.theory_line(axes[0, 1], ds["width"].values, np.full(ds.sizes["width"], 1 / setup.n_train), "1/n")
axes[0, 1].set_yscale("log"), axes[0, 1].legend(fontsize=7)
axes[0, 1].set_xlabel("width h"), axes[0, 1].set_ylabel("gradient coherence at init")
fig

# %% [markdown]
# ## Checks against the theory
# The one network: the loss is at a global minimum, at least `P - n` eigenvalues vanish, exactly `K`
# lie above the Weyl edge and each is within the edge of a between-cluster eigenvalue, and Lanczos
# matches the dense extremes. The sweep: the same counts in every run, the near-zero fraction at
# least `1 - n/P` and growing with `P`, the random-label coherence at `1/n` within 4 standard errors
# and the real-label coherence at least twice it; the first-order one-step decrease and the real labels'
# lower loss after `T` steps, for the one network and in every run of the sweep; then the study's claims.

# %%
n = setup.n_train
assert float(losses[-1]) <= 1e-25 and float(spec.residual_norm) <= 1e-10 * eig[0]
assert np.sum(np.abs(eig) <= 1e-10 * eig[0]) >= dim - n
assert np.sum(eig > edge) == k and np.all(np.abs(eig[:k] - np.asarray(spec.between)) <= edge + 1e-12)
assert abs(float(hi) - eig[0]) <= 1e-8 * eig[0] and abs(float(lo) - eig[-1]) <= 1e-8 * eig[0]
assert np.all(summary.null_count >= summary.num_params - n)
assert np.all(summary.outliers == ks[None, :, None])
frac = summary.near_zero.mean(axis=(1, 2))
assert np.all(summary.near_zero >= 1 - n / summary.num_params - 1e-12) and np.all(np.diff(frac) > 0)
rand = ds["coherence_random"].values
sem = np.sqrt(np.sum(ds["coherence_random_sem"].values ** 2)) / rand.size
assert abs(rand.mean() - 1 / n) <= 4 * sem
assert np.all(ds["coherence_real"].values >= 2 * rand)
assert abs(one_step - first_order) <= 1e-3 * first_order
assert float(early.loss[0, -1]) < float(np.min(np.asarray(early.loss[1:, -1])))
assert np.all(ds["early_loss_random"].values[..., -1, :].min(axis=-1) > ds["early_loss_real"].values[..., -1])
claims = study.evaluate_claims(ds, setup)
assert len(claims) == 7 and all(c.passed for c in claims)
[(c.claim, c.measured, c.passed) for c in claims]
