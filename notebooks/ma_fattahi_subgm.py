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
# Measurements `y_i = <A_i, M*> + s_i` where a fraction `p` of the `s_i` are huge outliers, or
# `s_i ~ N(0, nu^2)`. SubGM minimises the l1 loss `(1/m) sum |<A_i, X X^T> - y_i|` from a small
# start `X0 = alpha B` with geometric steps `eta_t = eta0 rho^t` (docs/sensing.md#subgm). What the
# paper says, and what this notebook measures with the library alone:
#
# 1. with `k = r` columns SubGM recovers `M*` exactly despite the outliers;
# 2. from a small start the over-parameterised run (`k > r`) needs the same iterations to a given
#    error, and converges linearly at the schedule's rate `-log rho`; from a large start it stalls;
# 3. under Gaussian noise the error floor is `C nu sqrt(n r / m)` whatever `k`, with the
#    least-absolute-deviation constant `C = sqrt(pi d / (2 n r))` (docs/sensing.md#subgm-noise-floor).
#
# The study `overparam run ma-fattahi-subgm` runs the full grid, the dense-outlier problem and the
# paper size. `OVERPARAM_SMOKE=1` shrinks the grids here (the test suite runs the notebook that way);
# the code path is the same.

# %%
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

jax.config.update("jax_enable_x64", True)

import sensing
from overparam import plot
from overparam import sweep
from sensing import theory, traces
from sensing.problem import sample_noise

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
N, R, M = 12, 2, 1600
ETA0, RHO, STEPS, EVERY = 0.5, 0.995, 3000, 20
RANKS = (2, 12) if SMOKE else (2, 4, 12)
ALPHAS = (1e-12, 1e-1) if SMOKE else (1e-12, 1e-6, 1e-1)
NUS = (1e-2, 1e-1) if SMOKE else (1e-2, 3e-2, 1e-1)
SEEDS = range(2) if SMOKE else range(4)
P = 0.3
K_MAX = max(RANKS)
ALGORITHM = sensing.subgm(ETA0, RHO)  # built once: its hyperparameters are array leaves

# %% [markdown]
# ## The problem: 30% of the measurements are outliers

# %%
base = sensing.make_problem(jax.random.key(20220), n=N, rank=R, m=M)


def noisy(seed, p, nu):
    """The shared operator and M*, with outliers(p) + N(0, nu^2) noise and an init key drawn from the seed."""
    k_out, k_gauss, k_init = jax.random.split(sweep.seed_key(jax.random.key(7), seed), 3)
    s = sample_noise(k_out, sensing.outliers(p), base.y) + sample_noise(k_gauss, sensing.gaussian_noise(nu), base.y)
    return base._replace(y=base.y + s), k_init


problem, k_init = noisy(0, P, 0.0)
corrupted = np.asarray(problem.y != base.y)
print(f"{corrupted.mean():.2f} of the measurements are corrupted; largest |s_i| = "
      f"{float(jnp.max(jnp.abs(problem.y - base.y))):.1f}, typical |y_i| = {float(jnp.median(jnp.abs(base.y))):.2f}")

# %% [markdown]
# ## One configuration: k = r and k = K_MAX from the same small start

# %%
x0 = sensing.small_init(k_init, problem, K_MAX, ALPHAS[0])
runs = {k: sensing.run(ALGORITHM, problem, x0 * sensing.rank_mask(K_MAX, k), steps=STEPS, record_every=EVERY)
        for k in (R, K_MAX)}
steps = np.asarray(runs[R].steps)
t_exact, t_over = (float(traces.iterations_to(runs[k].error, steps, 1e-3)) for k in (R, K_MAX))
rates = {k: float(traces.linear_rate(runs[k].error, steps, 1e-3, 1e-6)) / -math.log(RHO) for k in runs}
print(f"iterations to 1e-3: k = r: {t_exact:.0f}, k = {K_MAX}: {t_over:.0f}; rate / -log rho: {rates}")
fig, axes = plot.figure(1, 1, width=5.5)
ax = axes[0, 0]
for k, trace in runs.items():
    ax.semilogy(trace.steps, trace.error, label=f"k = {k}")
tail = steps[steps >= t_exact]
plot.theory_line(ax, tail, 1e-3 * RHO ** (tail - t_exact), "rate -log rho")
ax.set(xlabel="step", ylabel="||XX^T - M*||_F / ||M*||_F", title=f"SubGM, outlier fraction {P}, alpha = {ALPHAS[0]:g}")
ax.legend()
fig

# %% [markdown]
# ## The sweeps
# Rank x init scale x seed under outliers, and rank x noise level x seed under Gaussian noise, each
# through `overparam.sweep.run`. The rank is a zero-padding mask, so each grid is one compiled
# program; the operator is shared, so one step of a chunk is one matrix-matrix product.


# %%
def outlier_point(config, key):
    prob, k0 = noisy(config["seed"], P, 0.0)
    x = sensing.small_init(k0, prob, K_MAX, config["init_scale"]) * sensing.rank_mask(K_MAX, config["rank"])
    return {"error": sensing.run(ALGORITHM, prob, x, steps=STEPS, record_every=EVERY).error}


def noise_point(config, key):
    prob, k0 = noisy(config["seed"], 0.0, config["noise"])
    x = sensing.small_init(k0, prob, K_MAX, ALPHAS[0]) * sensing.rank_mask(K_MAX, config["rank"])
    return {"error": sensing.run(ALGORITHM, prob, x, steps=STEPS, record_every=EVERY).error}


coords = {"out_dims": {"error": ("step",)}, "out_coords": {"step": steps}}
outl = sweep.run(outlier_point, {"rank": RANKS, "init_scale": ALPHAS, "seed": SEEDS}, key=jax.random.key(0), **coords)
noise = sweep.run(noise_point, {"rank": RANKS, "noise": NUS, "seed": SEEDS}, key=jax.random.key(0), **coords)
outl

# %% [markdown]
# ## Compare with the theory
# Left: error against step at the smallest alpha (geometric mean over seeds, band: quartiles).
# Middle: final error against alpha. Right: the noise floor against `C nu sqrt(n r / m) / ||M*||_F`
# (markers: geometric means over seeds).

# %%
final = outl.error.isel(step=-1)
floor = noise.error.isel(step=-1)
c = theory.subgm_floor_constant(N, R)
norm = float(jnp.linalg.norm(base.truth.matrix))
predicted = np.asarray(theory.subgm_noise_floor(np.asarray(NUS), N, R, M, c)) / norm
fig, axes = plot.figure(1, 3, width=4.4)
for k in RANKS:
    plot.log_band(axes[0, 0], outl.error.sel(rank=k, init_scale=ALPHAS[0]), label=f"k = {k}")
    axes[0, 1].loglog(ALPHAS, np.exp(np.log(final.sel(rank=k)).mean("seed")), "o", label=f"k = {k}")
    axes[0, 2].loglog(NUS, np.exp(np.log(floor.sel(rank=k)).mean("seed")), "o", label=f"k = {k}")
plot.theory_line(axes[0, 2], NUS, predicted, "C nu sqrt(n r / m) / ||M*||_F")
axes[0, 0].set(xlabel="step", ylabel="relative error", title=f"p = {P}, alpha = {ALPHAS[0]:g}")
axes[0, 1].set(xlabel="init scale alpha", ylabel="final relative error", title=f"p = {P}")
axes[0, 2].set(xlabel="Gaussian noise nu", ylabel="final relative error", title="noise floor")
for ax in axes[0]:
    ax.legend(fontsize=8)
fig

# %%
small, large = outl.error.sel(init_scale=ALPHAS[0]), outl.error.sel(init_scale=ALPHAS[-1])
iters = np.asarray(traces.iterations_to(small.values, steps, 1e-3))  # (rank, seed)
ratio = np.median(iters[1:] / iters[0], axis=-1)
rate_small = np.median(np.asarray(traces.linear_rate(small.values, steps, 1e-3, 1e-6)), axis=-1) / -math.log(RHO)
rate_large = np.median(np.asarray(traces.linear_rate(large.values[1:], steps, 1e-3, 1e-6)), axis=-1) / -math.log(RHO)
rms = np.sqrt(((floor / xr.DataArray(predicted, dims="noise", coords={"noise": floor.noise})) ** 2).mean("seed"))
tolerance = 3 / math.sqrt(2 * theory.symmetric_rank_dimension(N, R) * len(SEEDS))  # 3 s.e. of the seed RMS
print(f"t(k)/t(r) {ratio}; rate / -log rho small {rate_small}, large {rate_large}; floor RMS / theory "
      f"{rms.values.round(3)} (tolerance {tolerance:.2f})")

# %%
assert float(final.sel(rank=R).max()) < 1e-6  # exact recovery for k = r, despite 30% outliers, every alpha
assert np.all(np.abs(ratio - 1) < 0.15), ratio  # the same iterations to 1e-3 for every k > r
assert np.all(np.abs(rate_small - 1) < 0.05), rate_small  # linear at -log rho (single runs: within 0.025)
assert np.all(rate_large <= 0.1), rate_large  # a large start stalls the over-parameterised run
assert np.all(np.abs(rms.values - 1) < tolerance), rms.values  # the floor constant sqrt(pi d / (2 n r))
assert float(np.max(np.abs(floor.sel(rank=list(RANKS[1:])) / floor.sel(rank=R) - 1))) < 0.01  # the floor ignores k
