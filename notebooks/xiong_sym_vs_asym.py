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
# # Symmetric vs asymmetric gradient descent (Xiong, Ding & Du 2023)
#
# Over-parameterised matrix sensing: recover a rank-`r` matrix from `m` Gaussian measurements
# with `k > r` columns, starting from a small random initialisation of scale `alpha`.
#
# * **symmetric** GD on `X X^T` converges *sublinearly*: the error halves when `t` doubles;
# * **asymmetric** GD on `F G^T` (with `F0` at `alpha`, `G0` at `alpha/3`) converges *linearly*,
#   at the rate `eta * lambda_min(F0^T F0 - G0^T G0)`, which scales like `alpha^2`;
# * one **balancing** step `(F, G) <- (F (F^T F)^{-1/2}, G (F^T F)^{1/2})` removes the `alpha`
#   dependence.
#
# We build the problem, run one configuration, sweep rank x init scale x seed with
# `overparam.sweep.run`, plot, and check the numbers against the theory. With
# `OVERPARAM_SMOKE=1` the sweep is smaller (the test suite runs this notebook that way).

# %%
import os

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # errors go down to 1e-12: float64

import sensing
import overparam.sweep as sweep
from overparam import plot

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
N, R, M = 12, 1, 500  # M* is N x N of rank R, M measurements
ETA = 0.25  # step size
STEPS, EVERY = 3000, 30
ALPHAS = (0.1, 0.2, 0.4)
SEEDS = (0,) if SMOKE else (0, 1, 2)

# %% [markdown]
# ## The problem
# The symmetric problem has `M* = U* U*^T`, the asymmetric one `M* = L* R*^T`; both from the same key.

# %%
key = jax.random.key(0)
sym = sensing.make_problem(key, n=N, rank=R, m=M, symmetric=True)
asym = sensing.make_problem(key, n=N, rank=R, m=M, symmetric=False)
print("y:", sym.y.shape, " M*:", sym.truth.matrix.shape, " ||M*||_F =", float(jnp.linalg.norm(sym.truth.matrix)))

# %% [markdown]
# ## One configuration: k = 3, alpha = 0.2

# %%
K, ALPHA = 3, 0.2
gd = sensing.gd(ETA)
x0 = sensing.small_init(jax.random.key(1), sym, K, ALPHA)
f0, g0 = sensing.small_init(jax.random.key(2), asym, K, ALPHA)
t_sym = sensing.run(gd, sym, x0, steps=STEPS, record_every=EVERY)
t_asym = sensing.run(gd, asym, (f0, g0), steps=STEPS, record_every=EVERY)

# one balancing step at step 750, then GD again
REBALANCE_AT = 750
before = sensing.run(gd, asym, (f0, g0), steps=REBALANCE_AT, record_every=REBALANCE_AT)
t_bal = sensing.run(gd, asym, sensing.rebalance(*before.final), steps=90, record_every=3)

steps = np.asarray(t_sym.steps, dtype=float)
rate = float(sensing.theory.asymmetric_rate(ETA, f0, g0))
print(f"predicted asymmetric rate eta*lambda_min(D0) = {rate:.2e} per step")

fig, axes = plot.figure(1, 1, width=5.5)
ax = axes[0, 0]
ax.semilogy(steps, t_sym.error, "o", markersize=3, label="symmetric GD")
ax.semilogy(steps, t_asym.error, "s", markersize=3, label="asymmetric GD")
ax.semilogy(REBALANCE_AT + np.asarray(t_bal.steps), t_bal.error, "^", markersize=3, label="asymmetric, balanced at 750")
tail = steps[steps > 200]
norm_m = float(jnp.linalg.norm(sym.truth.matrix))
plot.theory_line(ax, tail, sensing.theory.symmetric_overparam_tail(tail, ETA, K - R) / norm_m, "sqrt(k-r)/(2 eta t)")
anchor = int(np.argmin(np.abs(steps - 1500)))
plot.theory_line(ax, steps, float(t_asym.error[anchor]) * (1 - rate) ** (steps - steps[anchor]),
                 "(1 - eta lambda_min(D0))^t", color="tab:red")
ax.set_ylim(1e-13, 3), ax.set_xlabel("step"), ax.set_ylabel("||XX^T - M*||_F / ||M*||_F")
ax.legend(fontsize=8)
fig

# %% [markdown]
# ## The sweep: rank x init scale x seed, one compiled program
# `point(config, key)` is a pure function of one grid point; the rank is a zero-padding mask on
# `k_max` columns (zero columns stay exactly zero under GD), so all ranks share one compile.

# %%
K_MAX = 3


def point(config, key):
    del key  # paired design: the problem and the init directions depend on the seed only
    k_init = jax.random.fold_in(jax.random.key(1), config["seed"])
    k_sym, k_asym = jax.random.split(k_init)
    mask = sensing.rank_mask(K_MAX, config["rank"])
    x0 = sensing.small_init(k_sym, sym, K_MAX, config["init_scale"]) * mask
    f0, g0 = sensing.apply_mask(sensing.small_init(k_asym, asym, K_MAX, config["init_scale"]), mask)
    d0 = sensing.theory.imbalance(f0, g0) + jnp.diag(1.0 - mask) * 1e6  # lambda_min over active columns
    return {
        "sym_error": sensing.run(gd, sym, x0, steps=STEPS, record_every=EVERY).error,
        "asym_error": sensing.run(gd, asym, (f0, g0), steps=STEPS, record_every=EVERY).error,
        "predicted_rate": ETA * jnp.linalg.eigvalsh(d0)[0],
    }


ds = sweep.run(
    point, {"rank": (1, 3), "init_scale": ALPHAS, "seed": SEEDS}, key=jax.random.key(0),
    out_dims={"sym_error": ("step",), "asym_error": ("step",)}, out_coords={"step": steps.astype(int)},
    progress=False,
)
ds

# %%
fig, axes = plot.figure(1, 2, width=5.0)
plot.curves(axes[0, 0], ds["sym_error"].sel(rank=3), hue="init_scale", label="alpha = {value}", logx=True)
axes[0, 0].set_title("symmetric, k = 3 > r")
plot.curves(axes[0, 1], ds["asym_error"].sel(rank=3), hue="init_scale", label="alpha = {value}")
axes[0, 1].set_title("asymmetric, k = 3 > r")
for ax in axes[0]:
    ax.legend(fontsize=8)
fig

# %% [markdown]
# ## Compare with the theory
# * symmetric: `e(T) / e(T/2)` should be about 1/2;
# * asymmetric: fit the linear rate in the tail, compare with `eta lambda_min(D0)`, and fit the
#   exponent of `rate ~ alpha^p` (theory: p = 2);
# * balancing: the rate after the balancing step is far faster than the unbalanced rate at the
#   same `alpha`.
#
# The theory fixes the asymmetric rate up to a constant factor (it bounds the decay of the
# spurious directions of `F` and `G`; the error of `F G^T` is their product), so the check is
# the `alpha^2` scaling and a measured / predicted ratio between 0.5 and 3.


# %%
def fit_rate(error, steps, floor=1e-11, ceiling=1e-3):
    keep = (steps >= steps[-1] / 10) & (error > floor) & (error < ceiling)
    return -np.polyfit(steps[keep], np.log(error[keep]), 1)[0]


over = ds.sel(rank=3)
half = int(np.argmin(np.abs(steps - steps[-1] / 2)))
sym_ratio = float(np.median(over.sym_error.values[..., -1] / over.sym_error.values[..., half]))
rates = np.apply_along_axis(fit_rate, -1, over.asym_error.values, steps)  # (alpha, seed)
ratio_to_theory = float(np.median(rates / over.predicted_rate.values))
exponent = float(np.polyfit(np.log(ALPHAS), np.log(np.median(rates, axis=-1)), 1)[0])
balanced_rate = fit_rate(np.asarray(t_bal.error), np.asarray(t_bal.steps, dtype=float), ceiling=np.inf)
unbalanced_rate = float(np.median(rates[ALPHAS.index(ALPHA)]))  # same alpha as the balanced run
exact_final = float(max(ds.sym_error.sel(rank=1).values[..., -1].max(), ds.asym_error.sel(rank=1).values[..., -1].max()))

fig, axes = plot.figure(1, 1, width=5.0)
ax = axes[0, 0]
sem = rates.std(axis=-1, ddof=1) / np.sqrt(rates.shape[-1]) if rates.shape[-1] > 1 else None
plot.error_bars(ax, ALPHAS, rates.mean(axis=-1), sem, "measured asymmetric rate")
plot.theory_line(ax, ALPHAS, over.predicted_rate.values.mean(axis=-1), "eta lambda_min(F0^T F0 - G0^T G0)")
ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel("init scale alpha"), ax.set_ylabel("linear rate per step")
ax.legend(fontsize=8)
print(f"symmetric e(T)/e(T/2) = {sym_ratio:.3f} (theory 0.5)")
print(f"asymmetric rate / theory = {ratio_to_theory:.3f} (the formula sets the scale: a population-limit lower bound, see sensing.theory.asymmetric_tail_rate); exponent in alpha = {exponent:.2f} (theory 2)")
print(f"balanced rate {balanced_rate:.3g} vs unbalanced {unbalanced_rate:.3g} at alpha = {ALPHA}")
print(f"exact-rank (k = r) final error {exact_final:.1e}")
fig

# %%
assert 0.4 <= sym_ratio <= 0.65, sym_ratio
assert 0.5 <= ratio_to_theory <= 3.0, ratio_to_theory
assert 1.6 <= exponent <= 2.4, exponent
assert balanced_rate > 10 * unbalanced_rate, (balanced_rate, unbalanced_rate)
assert exact_final < 1e-9, exact_final
