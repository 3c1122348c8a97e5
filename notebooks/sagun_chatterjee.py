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
# A two-layer tanh network (`bounds.two_layer`) fits `K` Gaussian clusters with labels `+-1`
# (squared loss). At the global minimum the exact Hessian is the Gauss-Newton matrix `J^T J / n`:
# at least `P - n` of its eigenvalues are zero (the bulk), and its between-cluster part has rank
# `K`, which gives `K` outliers above the bulk edge `lambda_1(G_within) + ||H - G||` (Weyl). At the
# start (`f = 0` by a mirrored initialisation) the per-example gradients are coherent with the
# cluster labels and not with random ones, whose mean coherence is exactly `1/n`; over the first
# GD steps the cluster labels are fitted far faster. `OVERPARAM_SMOKE=1` shrinks the sizes; the
# code is the same.

# %%
import os

import overparam  # noqa: F401  (before JAX computes: the XLA:CPU deadlock workaround)
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np

import bounds
from bounds import two_layer as tl
from overparam import plot, sweep

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
dim, n, steps, newton_steps = (6, 10, 600, 16) if SMOKE else (8, 24, 1000, 16)
widths, clusters, seeds = ([8, 12], [2, 3], [0, 1]) if SMOKE else ([8, 16, 32], [2, 3, 4], [0, 1, 2, 3])
early_steps, label_draws = steps // 10, (32 if SMOKE else 64)
spread, radius, lr = 0.15, 2.5, 1.0

# %% [markdown]
# ## One network
# Train one network on `K = 3` clusters, then compare the Hessian's top eigenvalues with those of
# the between-cluster part `G_b` of the Gauss-Newton matrix, and Lanczos with the dense spectrum.

# %%
width, k = max(widths), 3
kd, ki = jax.random.split(jax.random.key(0))
data = tl.cluster_data(kd, n, dim, k, max_clusters=k, spread=spread, radius=radius)
params0 = tl.init_params(ki, width, dim)
params, losses = jax.jit(tl.train, static_argnums=(2, 4))(params0, data, steps, lr, newton_steps)
spec = jax.jit(tl.hessian_spectrum, static_argnums=2)(params, data, k)
eig = np.asarray(spec.eigenvalues)
edge = float(spec.within_top + spec.residual_norm)
matvec, p = bounds.flat_hvp(lambda q: tl.squared_loss(q, data.x, data.y), params)
lo, hi = bounds.extreme_eigenvalues(matvec, jax.random.key(1), p, 40)
{"final loss": float(losses[-1]), "P": p, "top eigenvalues": eig[: k + 2].round(5),
 "between-cluster eigenvalues": np.asarray(spec.between).round(5), "bulk edge": edge,
 "Lanczos - dense (max, min)": (float(hi) - eig[0], float(lo) - eig[-1])}

# %% [markdown]
# ## Early GD: real vs random labels
# From the same start (`f = 0`, `L = 1/2` for any `+-1` labels) and step size, train on the
# cluster labels and on random labels, and compare the exact one-step decrease with
# `eta * alpha * mean_i ||g_i||^2` for a small step.

# %%
labels = jnp.concatenate([data.y[None], tl.random_signs(jax.random.key(2), 4, n)])
early = jax.jit(jax.vmap(lambda y: tl.early_training(params0, data.x, y, early_steps, lr, 5)))(labels)
flat, unravel = jax.flatten_util.ravel_pytree(params0)
loss0 = lambda v: tl.squared_loss(unravel(v), data.x, data.y)  # noqa: E731
grads = bounds.per_example_gradients(tl.example_loss, params0, (data.x, data.y))
norms = np.sum(np.asarray(jax.vmap(lambda g: jax.flatten_util.ravel_pytree(g)[0])(grads)) ** 2, axis=1)
first_order = float(early.coherence[0, 0]) * float(np.mean(norms))
eta = 1e-5
one_step = float(loss0(flat) - loss0(flat - eta * jax.grad(loss0)(flat))) / eta
{"loss after the early steps (real, random...)": np.asarray(early.loss[:, -1]).round(5),
 "one-step decrease / eta vs alpha mean ||g_i||^2": (one_step, first_order)}

# %% [markdown]
# ## The sweep: widths x clusters x seeds through the sweep engine
# Every width is stored at the largest width with a unit mask (`tl.unit_mask`), so one compiled
# program serves the grid; the data and the start depend on the seed only.

# %%
def point(config, key):
    mask = tl.unit_mask(config["width"], max(widths))
    kd, ki = jax.random.split(sweep.seed_key(jax.random.key(2017), config["seed"]))
    d = tl.cluster_data(kd, n, dim, config["clusters"], max_clusters=max(clusters), spread=spread, radius=radius)
    p0 = tl.init_params(ki, config["width"], dim, max_width=max(widths))
    real, rand = tl.coherence_at_init(p0, d, key, label_draws, mask)
    trained, loss = tl.train(p0, d, steps, lr, newton_steps, mask)
    s = tl.hessian_spectrum(trained, d, max(clusters), mask)
    return {"eigenvalues": s.eigenvalues, "edge": s.within_top + s.residual_norm, "num_params": s.num_params,
            "final_loss": loss[-1], "coherence_real": real, "coherence_random": jnp.mean(rand),
            "coherence_random_sem": jnp.std(rand, ddof=1) / np.sqrt(label_draws)}


ds = sweep.run(point, {"width": widths, "clusters": clusters, "seed": seeds}, key=jax.random.key(3),
               out_dims={"eigenvalues": ("index",)}, devices=jax.devices()[:1])
eigs = ds["eigenvalues"].values
outliers = np.sum(np.nan_to_num(eigs, nan=-np.inf) > ds["edge"].values[..., None], axis=-1)
near_zero = np.sum(np.abs(np.nan_to_num(eigs, nan=np.inf)) <= 1e-6 * eigs[..., :1], axis=-1) / ds["num_params"].values
ds

# %%
fig, axes = plot.figure(1, 2)
for i, w in enumerate(widths):
    e = eigs[i, -1, 0]
    e = e[np.isfinite(e)]
    axes[0, 0].plot(np.arange(1, e.size + 1), np.maximum(np.abs(e), 1e-18), ".", color=f"C{i}",
                    label=f"h = {w}, P = {e.size}")
axes[0, 0].set_xscale("log"), axes[0, 0].set_yscale("log"), axes[0, 0].legend()
axes[0, 0].set_xlabel("index"), axes[0, 0].set_ylabel("|eigenvalue of H|")
for j, kk in enumerate(clusters):
    for var, fmt in (("coherence_real", "o"), ("coherence_random", "s")):
        mean, sem = plot.mean_sem(ds[var].sel(clusters=kk), "seed")
        plot.error_bars(axes[0, 1], widths, mean.values, sem.values, f"{var[10:]}, K = {kk}", color=f"C{j}", fmt=fmt)
plot.theory_line(axes[0, 1], widths, np.full(len(widths), 1 / n), "1/n")
axes[0, 1].set_yscale("log"), axes[0, 1].legend(fontsize=7)
axes[0, 1].set_xlabel("width h"), axes[0, 1].set_ylabel("gradient coherence at the start")
fig

# %% [markdown]
# ## Checks against the theory
# The one network: a global minimum, at least `P - n` zero eigenvalues, exactly `K` above the Weyl
# edge, each within the edge of a between-cluster eigenvalue, Lanczos on the dense extremes, the
# first-order one-step decrease, and the real labels fitted first. The sweep: the same counts in
# every run, the near-zero fraction at least `1 - n/P` and growing with `P`, the random-label
# coherence at `1/n` within 4 standard errors and the real-label coherence above it.

# %%
assert float(losses[-1]) <= 1e-25 and float(spec.residual_norm) <= 1e-10 * eig[0]
assert np.sum(np.abs(eig) <= 1e-10 * eig[0]) >= p - n
assert np.sum(eig > edge) == k and np.all(np.abs(eig[:k] - np.asarray(spec.between)) <= edge + 1e-12)
assert abs(float(hi) - eig[0]) <= 1e-8 * eig[0] and abs(float(lo) - eig[-1]) <= 1e-8 * eig[0]
assert abs(one_step - first_order) <= 1e-3 * first_order
assert float(early.loss[0, -1]) < float(np.min(np.asarray(early.loss[1:, -1])))
assert np.all(ds["final_loss"].values <= 1e-25)
assert np.all(outliers == np.asarray(clusters)[None, :, None])
assert np.all(near_zero >= 1 - n / ds["num_params"].values) and np.all(np.diff(near_zero.mean(axis=(1, 2))) > 0)
rand = ds["coherence_random"].values
sem = np.sqrt(np.sum(ds["coherence_random_sem"].values ** 2)) / rand.size
assert abs(rand.mean() - 1 / n) <= 4 * sem
assert np.all(ds["coherence_real"].values - rand >= 4 * ds["coherence_random_sem"].values)
