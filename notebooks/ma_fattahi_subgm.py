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
# # Robust matrix sensing with the sub-gradient method (Ma & Fattahi 2022)
#
# Measurements `y_i = <A_i, M*> + s_i` where a fraction `p` of the `s_i` are huge outliers
# (up to `p = 0.6`), or `s_i ~ N(0, nu^2)`. SubGM minimises the l1 loss
# `(1/m) sum |<A_i, X X^T> - y_i|` from a small initialisation `X0 = alpha B` with geometric
# steps `eta_t = eta_0 rho^t`. The paper's claims, which this notebook measures:
#
# 1. with `k = r` columns it recovers `M*` exactly, despite the outliers;
# 2. with small `alpha` the over-parameterised run (`k > r`) needs the same number of
#    iterations to reach a given error as the exact one;
# 3. for `k > r` the final error falls as `alpha` falls; 4. a large `alpha` stalls;
# 5. with Gaussian noise the error floor is about `nu sqrt(n r / m)`, whatever `k`.
#
# The study `overparam run ma-fattahi-subgm` runs the full grid; here we walk through it.
# With `OVERPARAM_SMOKE=1` the grid is smaller (the test suite runs this notebook that way).

# %%
import os

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import sensing
from overparam import plot
from overparam.studies import ma_fattahi_subgm as study

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
setup = study.SETUPS["quick"]
print(setup._replace(axes="..."))

# %% [markdown]
# ## The problem: 30% of the measurements are outliers

# %%
P = 0.3
problem = sensing.make_problem(jax.random.key(0), n=setup.n, rank=setup.r, m=setup.m,
                               noise=sensing.outliers(P))
clean = sensing.measure(problem.operator, problem.truth.factor)
corrupted = np.asarray(problem.y != clean)
print(f"{corrupted.mean():.2f} of the measurements are corrupted; "
      f"largest |s_i| = {float(jnp.max(jnp.abs(problem.y - clean))):.1f}, typical |y_i| = {float(jnp.median(jnp.abs(clean))):.2f}")

# %% [markdown]
# ## One configuration: k = r and k = 4 r, alpha = 1e-6, same initial directions

# %%
K_MAX = 4 * setup.r
alg = sensing.subgm(setup.step_size, setup.decay)  # built once: one compile serves both runs
x0 = sensing.small_init(jax.random.key(1), problem, K_MAX, 1e-6)
runs = {k: sensing.run(alg, problem, x0 * sensing.rank_mask(K_MAX, k), steps=setup.steps, record_every=setup.record_every)
        for k in (setup.r, K_MAX)}

fig, axes = plot.figure(1, 1, width=5.5)
ax = axes[0, 0]
for k, trace in runs.items():
    ax.semilogy(trace.steps, trace.error, "o", markersize=2, label=f"k = {k}")
ax.axhline(study.TARGET_ERROR, color="grey", linestyle=":", linewidth=0.8)
ax.set_xlabel("step"), ax.set_ylabel("||XX^T - M*||_F / ||M*||_F"), ax.set_title(f"SubGM, outlier fraction {P}")
ax.legend()
steps = np.asarray(runs[setup.r].steps)
t_exact, t_over = (float(study.iterations_to(np.asarray(runs[k].error), steps, study.TARGET_ERROR))
                   for k in (setup.r, K_MAX))
print(f"iterations to {study.TARGET_ERROR:g}: k = r: {t_exact:.0f}, k = {K_MAX}: {t_over:.0f}")
fig

# %% [markdown]
# ## The sweep
# `run_sweeps` runs two grids through `overparam.sweep.run`: rank x alpha x outlier fraction x
# seed, and rank x noise level x seed. The rank is a zero-padding mask, so each grid is one
# compiled program; the operator is shared, so each step is one matrix-matrix product.

# %%
overrides = None
if SMOKE:
    overrides = {"rank": (2, 4), "init_scale": (1e-7, 1e-4, 1e-1), "outliers": (0.0, 0.6),
                 "noise": (1e-2, 1e-1), "seed": (0, 1)}
outliers_ds, noise_ds, setup = study.run_sweeps("quick", overrides)
outliers_ds

# %%
fig, axes = plot.figure(1, 2, width=5.0)
for ax, p in zip(axes[0], outliers_ds.outliers.values[[0, -1]]):
    plot.curves(ax, outliers_ds["error"].sel(outliers=p).isel(init_scale=0), hue="rank", label="k = {value}")
    ax.set_title(f"p = {p:g}, alpha = {outliers_ds.init_scale.values[0]:g}")
    ax.legend(fontsize=8)
fig

# %% [markdown]
# ## Compare with the theory
# Final error vs `alpha` (markers, error bars over seeds) and the noise floor vs `nu` against
# the line `nu sqrt(n r / m) / ||M*||_F`.

# %%
final = outliers_ds["error"].isel(step=-1).sel(outliers=outliers_ds.outliers.values[-1])
floor = noise_ds["error"].isel(step=-1)
nus = noise_ds.noise.values
fig, axes = plot.figure(1, 2, width=5.0)
for k in outliers_ds["rank"].values:
    mean, sem = plot.mean_sem(final.sel(rank=k), "seed")
    plot.error_bars(axes[0, 0], outliers_ds.init_scale.values, mean.values, sem.values, f"k = {k}")
    mean, sem = plot.mean_sem(floor.sel(rank=k), "seed")
    plot.error_bars(axes[0, 1], nus, mean.values, sem.values, f"k = {k}")
plot.theory_line(axes[0, 1], nus, study.noise_floor_theory(nus, setup.n, setup.r, setup.m), "nu sqrt(n r / m) / ||M*||_F")
axes[0, 0].set_xlabel("init scale alpha"), axes[0, 0].set_title(f"p = {outliers_ds.outliers.values[-1]:g}")
axes[0, 1].set_xlabel("Gaussian noise nu"), axes[0, 1].set_title("noise floor")
for ax in axes[0]:
    ax.set_xscale("log"), ax.set_yscale("log"), ax.set_ylabel("final relative error"), ax.legend(fontsize=8)
fig

# %%
claims = study.evaluate_claims(outliers_ds, noise_ds, setup)
for c in claims:
    print("pass" if c.passed else "FAIL", "|", c.claim, "|", c.measured, "|", c.expected)

# %%
assert float(runs[setup.r].error[-1]) < study.EXACT_ERROR  # exact recovery despite 30% outliers
assert abs(t_over / t_exact - 1) < 0.3, (t_exact, t_over)  # same iterations to the target
assert all(c.passed for c in claims), [c.claim for c in claims if not c.passed]
