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
# # Advani & Saxe 2017: generalization dynamics of gradient descent
#
# Two students trained by exact gradient flow (`randfeat.two_layer`, docs/randfeat.md#two-layer-student):
#
# * a **linear student** `y = w . x` on `P = a N` examples of a linear teacher with label noise
#   `1 / snr`, against the Marchenko-Pastur theory `randfeat.advani_saxe_curves`: over-training is
#   worst at load `a = 1`, and larger initial weights raise the best early-stopping error;
# * a **two-layer ReLU student** with a random, fixed first layer of `N_h` units and a trained output
#   layer, on `P` examples of a ReLU teacher: over-training peaks at `N_h = P`, and beyond it the
#   weights in the null space of the hidden activations (the frozen subspace) never move.
#
# `OVERPARAM_SMOKE=1` shrinks the sizes; the code is the same.

# %%
import os

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np

import randfeat
from overparam import plot, sweep
from randfeat import two_layer as tl

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
N = 80 if SMOKE else 300  # inputs of the linear student
LOADS = [0.5, 1.0, 2.0]
INIT_VARS = [0.0, 1.0]
SNR = 4.0
SEEDS = 6 if SMOKE else 16
TIMES = np.geomspace(0.05, 200.0, 24 if SMOKE else 40)
P, N_IN = (30, 15) if SMOKE else (100, 50)  # samples and inputs of the two-layer student
WIDTHS = [8, 15, 24, 30, 36, 60, 120] if SMOKE else [10, 25, 50, 80, 100, 120, 200, 400, 800]
STUDENT_TIMES = np.geomspace(0.05, 3000.0, 24 if SMOKE else 40)

# %% [markdown]
# ## One linear student
# One data set at load `a = 1` with small initial weights: the exact finite-`N` flow next to the theory.

# %%
kx, kw, ke = jax.random.split(jax.random.key(0), 3)
x = tl.gaussian_inputs(kx, N, N)
w_bar = tl.linear_teacher(kw, N)
y = x @ w_bar + jax.random.normal(ke, (N,)) / np.sqrt(SNR)
one = tl.linear_flow_errors(x, y, w_bar, jnp.zeros(N), TIMES, 1.0 / SNR)
theory_one = randfeat.advani_saxe_curves(TIMES, 1.0, 1.0, 0.0, 1.0 / SNR)
np.c_[TIMES, one.test, theory_one.generalization][:: max(1, len(TIMES) // 8)]

# %% [markdown]
# ## The sweep: load x initial variance x seed
# The loads use one padded design of `2 N` rows with a row mask (exact: a zero row adds nothing), so
# the grid is one compiled program. The grid runs as one chunk: one batched eigendecomposition in
# flight at a time (docs/architecture.md#known-xla-cpu-deadlock).

# %%
P_MAX = int(max(LOADS) * N)


def linear_point(config, key):
    kx, kw, k0, ke = jax.random.split(sweep.seed_key(jax.random.key(1), config["seed"]), 4)
    x = tl.gaussian_inputs(kx, P_MAX, N)
    w_bar = tl.linear_teacher(kw, N)
    y = x @ w_bar + jax.random.normal(ke, (P_MAX,)) / np.sqrt(SNR)
    mask = (jnp.arange(P_MAX) < jnp.round(config["load"] * N)).astype(x.dtype)
    w0 = jnp.sqrt(config["init_var"]) * jax.random.normal(k0, (N,))
    e = tl.linear_flow_errors(x, y, w_bar, w0, TIMES, 1.0 / SNR, row_mask=mask)
    return {"test_error": e.test, "train_error": e.train}


grid = {"load": LOADS, "init_var": INIT_VARS, "seed": range(SEEDS)}
ds = sweep.run(linear_point, grid, key=jax.random.key(2), chunk_size=len(LOADS) * len(INIT_VARS) * SEEDS,
               out_dims={"test_error": ("time",), "train_error": ("time",)}, out_coords={"time": TIMES})
theory = np.array([[np.asarray(randfeat.advani_saxe_curves(TIMES, a, 1.0, v, 1.0 / SNR).generalization)
                    for v in INIT_VARS] for a in LOADS])  # (load, init_var, time)
ds

# %%
fig, axes = plot.figure(1, 2)
for j, a in enumerate(LOADS):
    mean, sem = plot.mean_sem(ds["test_error"].sel(load=a, init_var=0.0), "seed")
    plot.error_bars(axes[0, 0], TIMES, mean.values, sem.values, f"a = {a:g}", color=f"C{j}", markersize=3)
    plot.theory_line(axes[0, 0], TIMES, theory[j, 0], "theory" if j == 0 else None, color=f"C{j}")
axes[0, 0].set_xscale("log"), axes[0, 0].set_yscale("log"), axes[0, 0].legend(fontsize=7)
axes[0, 0].set_xlabel("gradient-flow time t"), axes[0, 0].set_ylabel("test error E_g")
for i, v in enumerate(INIT_VARS):
    best = ds["test_error"].sel(init_var=v).mean("seed").min("time")
    axes[0, 1].plot(LOADS, best.values, "o", color=f"C{i}", label=f"simulation, init_var = {v:g}")
    plot.theory_line(axes[0, 1], LOADS, theory[:, i].min(axis=-1), "theory" if i == 0 else None, color=f"C{i}")
axes[0, 1].set_xscale("log"), axes[0, 1].set_xlabel("load a"), axes[0, 1].set_ylabel("best early-stopping E_g")
axes[0, 1].legend(fontsize=7)
fig

# %% [markdown]
# ## The two-layer student: a sweep over width x seed
# Widths are a unit mask on one first layer of `max(WIDTHS)` units (`student_features(weights, x, width)`),
# so the whole grid is one program too. GD (`train_output_layer`) from random output weights shows
# the frozen subspace: its displacement has no component in the null space of the hidden activations.

# %%
W_MAX = max(WIDTHS)


def student_point(config, key):
    kt, kx, kq, kw, ke, ka = jax.random.split(sweep.seed_key(jax.random.key(3), config["seed"]), 6)
    teacher = tl.relu_teacher(kt, N_IN, 30)
    x, xq = tl.gaussian_inputs(kx, P, N_IN), tl.gaussian_inputs(kq, 4 * P, N_IN)
    weights = jax.random.normal(kw, (W_MAX, N_IN))
    h, hq = tl.student_features(weights, x, config["width"]), tl.student_features(weights, xq, config["width"])
    f = tl.teacher_outputs(teacher, x)
    y = f + jax.random.normal(ke, (P,)) / np.sqrt(SNR)
    spec = tl.gram_spectrum(h)
    e = tl.output_flow_errors(h, y, hq, tl.teacher_outputs(teacher, xq), jnp.zeros(W_MAX), STUDENT_TIMES, 1.0 / SNR,
                              spectrum=spec)
    a0 = jax.random.normal(ka, (W_MAX,)) * (jnp.arange(W_MAX) < config["width"])
    moved = tl.train_output_layer(h, y, a0, 1.0 / jnp.sum(h * h), 50) - a0
    frozen = jnp.linalg.norm(tl.null_space_component(h, moved, spectrum=spec)) / jnp.linalg.norm(moved)
    return {"test_error": e.test, "frozen_drift": frozen, "null_space_error": tl.null_space_error(h, hq, spectrum=spec)}


student = sweep.run(student_point, {"width": WIDTHS, "seed": range(SEEDS)}, key=jax.random.key(4),
                    chunk_size=len(WIDTHS) * SEEDS, out_dims={"test_error": ("time",)},
                    out_coords={"time": STUDENT_TIMES})
mean = student["test_error"].mean("seed")
overtraining = mean.isel(time=-1) - mean.min("time")
fig, axes = plot.figure(1, 2)
axes[0, 0].plot(WIDTHS, overtraining.values, "o-", label="over-training E_g(T) - min_t E_g")
axes[0, 0].axvline(P, color="black", linestyle=":", label=f"N_h = P = {P}")
axes[0, 0].set_xscale("log"), axes[0, 0].set_yscale("log"), axes[0, 0].set_xlabel("hidden units N_h")
axes[0, 0].legend(fontsize=7)
axes[0, 1].plot(WIDTHS, student["null_space_error"].mean("seed").values, "o-", label="mean |P_null h(x)|^2")
axes[0, 1].axvline(P, color="black", linestyle=":")
axes[0, 1].set_xscale("log"), axes[0, 1].set_xlabel("hidden units N_h"), axes[0, 1].legend(fontsize=7)
fig

# %% [markdown]
# ## Checks against the theory
# Over-training is worst at load 1 (simulation and theory) and at `N_h = P`; the simulated test error
# follows the theory (within 10% + 2 s.e. at the smoke size `N = 80`, 5% at `N = 300`); larger initial
# weights raise the best early-stopping error at loads <= 1 (theory and simulation); the frozen
# subspace does not move (round-off) and is empty up to `N_h = P`.

# %%
sim_mean = ds["test_error"].mean("seed").values  # (load, init_var, time)
sem = (ds["test_error"].std("seed", ddof=1) / np.sqrt(SEEDS)).values
over_sim = sim_mean[..., -1] - sim_mean.min(axis=-1)
over_th = theory[..., -1] - theory.min(axis=-1)
assert all(LOADS[int(k)] == 1.0 for k in over_sim.argmax(axis=0))
assert all(LOADS[int(k)] == 1.0 for k in over_th.argmax(axis=0))
assert float(((np.abs(sim_mean - theory) - 2 * sem) / theory).max()) <= (0.10 if SMOKE else 0.05)
rise_th = theory[:, 1].min(axis=-1) - theory[:, 0].min(axis=-1)
rise_sim = sim_mean[:, 1].min(axis=-1) - sim_mean[:, 0].min(axis=-1)
assert np.all(rise_th[:2] > 0.15) and np.all(rise_sim[:2] > 0.5 * rise_th[:2])
assert WIDTHS[int(overtraining.argmax("width"))] == P
assert float(student["frozen_drift"].sel(width=[w for w in WIDTHS if w > P]).max()) <= 1e-10
assert float(np.abs(student["null_space_error"].sel(width=[w for w in WIDTHS if w < P])).max()) <= 1e-12
