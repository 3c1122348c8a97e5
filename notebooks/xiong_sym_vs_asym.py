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
# Over-parameterised matrix sensing: recover a rank-`r` matrix from `m` Gaussian measurements with
# `k > r` columns, from a small random start of scale `alpha`.
#
# * **symmetric** GD on `X X^T` converges *sublinearly*, like `sqrt(k - r) / (2 eta t)`;
# * **asymmetric** GD on `F G^T` (with `F0` at `alpha`, `G0` at `alpha / 3`) converges *linearly*,
#   at a rate `~ alpha^2`: `-log(1 - eta lambda_+)` with `lambda_+` the smallest non-zero
#   eigenvalue of the Gauss-Newton matrix at the limit (`sensing.theory.gauss_newton_tail_rate`);
# * the **curse of symmetry**: the same PSD target fitted as `F G^T` instead of `X X^T` is linear;
# * the `alpha^2` **cannot be removed**: a diagonal example never decays faster than
#   `(10/9) eta alpha^2` per step (`sensing.theory.spurious_mode_lower_bound`).
#
# We build the problems, run one configuration, sweep rank x init scale x seed with
# `overparam.sweep.run`, plot with `overparam.plot`, and check the numbers against the theory. With
# `OVERPARAM_SMOKE=1` the grid is smaller and the runs shorter; the code is the same.

# %%
import math
import os

import overparam  # noqa: F401  (before JAX computes: XLA:CPU scheduler workaround)
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # errors go down to 1e-15: float64

import sensing
import overparam.sweep as sweep
from overparam import plot
from sensing import theory
from sensing.problem import Problem, SymmetricTruth, Truth, make_truth

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
N, R, M = 12, 1, 500  # M* is N x N of rank R, M Gaussian measurements
ETA = 0.25  # step size (||M*||_2 = 1)
STEPS, EVERY = (4500 if SMOKE else 6000), 30
ALPHAS = (0.28, 0.4) if SMOKE else (0.2, 0.28, 0.4)
SEEDS = (0,) if SMOKE else (0, 1, 2)
K = 3  # columns: k > r
FLOOR, TAIL = 1e-11, 1e-9  # float64 round-off; tail fits use FLOOR < error < TAIL

# %% [markdown]
# ## The problems
# A PSD target `M* = U U^T` seen through one dense Gaussian operator, both as `X X^T` (the
# symmetric problem) and as `F G^T` (an asymmetric problem with `L* = R* = U`), and a general
# target `L R^T` with its own operator.

# %%
k_psd, k_gen = jax.random.split(jax.random.key(2023))
op = sensing.make_problem(k_psd, n=N, rank=R, m=M, symmetric=False).operator
u = make_truth(k_psd, N, R, True, 1.0, N, jnp.float64).factor
y = sensing.measure(op, u)
sym = Problem(op, y, SymmetricTruth(u, u @ u.T))
psd = Problem(op, y, Truth(u, u, u @ u.T))
gen = sensing.make_problem(k_gen, n=N, rank=R, m=M, symmetric=False)
print("y:", y.shape, " ||M*||_F =", float(jnp.linalg.norm(u @ u.T)))

# %% [markdown]
# ## One configuration: the curse of symmetry at k = 3, alpha = 0.4
# `F0` equals `X0`; `G0` is at a third of the scale.

# %%
gd = sensing.gd(ETA)
f0, g0 = sensing.small_init(jax.random.key(1), psd, K, 0.4)
t_sym = sensing.run(gd, sym, f0, steps=STEPS, record_every=EVERY)
t_asym = sensing.run(gd, psd, (f0, g0), steps=STEPS, record_every=EVERY)
steps = np.asarray(t_sym.steps, dtype=float)
law = np.asarray(theory.symmetric_overparam_tail(steps[1:], ETA, K - R)) / float(jnp.linalg.norm(u @ u.T))
rate = float(theory.gauss_newton_tail_rate(ETA, psd.operator, *t_asym.final, R))
print(f"Gauss-Newton tail rate {rate:.4g} per step; eta lambda_min(D0) = "
      f"{float(theory.asymmetric_rate(ETA, f0, g0)):.4g}")

fig, axes = plot.figure(1, 1, width=5.5)
ax = axes[0, 0]
ax.semilogy(steps, t_sym.error, label="X X^T (symmetric)")
ax.semilogy(steps, t_asym.error, label="F G^T (asymmetric)")
plot.theory_line(ax, steps[1:], law, "sqrt(k - r) / (2 eta t ||M*||_F)")
start = int(np.argmax(np.asarray(t_asym.error) < 1e-4))
line = float(t_asym.error[start]) * np.exp(-rate * (steps - steps[start]))
plot.theory_line(ax, steps[start:][line[start:] > FLOOR], line[start:][line[start:] > FLOOR],
                 "exp(-rate t), Gauss-Newton", color="tab:red")
ax.set(xlabel="step", ylabel="relative error", ylim=(1e-16, 3))
ax.legend(fontsize=8)

# %% [markdown]
# ## The sweep: rank x init scale x seed, one compiled program
# `point(config, key)` is a pure function of one grid point; rank is a zero-padding mask on
# `K` columns (zero columns stay exactly zero under GD), so all ranks share one compile. The seed
# draws the direction of the start, the same at every rank and scale. The final factors come back
# too: the Gauss-Newton rate is computed from them afterwards, one eigenproblem at a time.


# %%
def point(config, key):
    del key  # paired design: the start depends on the seed only
    mask = sensing.rank_mask(K, config["rank"])
    k_sym, k_asym = jax.random.split(sweep.seed_key(jax.random.key(0), config["seed"]))
    x0 = sensing.small_init(k_sym, sym, K, config["init_scale"]) * mask
    f0, g0 = sensing.apply_mask(sensing.small_init(k_asym, gen, K, config["init_scale"]), mask)
    t_sym = sensing.run(gd, sym, x0, steps=STEPS, record_every=EVERY)
    t_asym = sensing.run(gd, gen, (f0, g0), steps=STEPS, record_every=EVERY)
    return {"sym_error": t_sym.error, "asym_error": t_asym.error, "f": t_asym.final[0], "g": t_asym.final[1],
            "d0_rate": theory.masked_asymmetric_rate(ETA, f0, g0, mask)}


ds = sweep.run(
    point, {"rank": (1, K), "init_scale": ALPHAS, "seed": SEEDS}, key=jax.random.key(0),
    out_dims={"sym_error": ("step",), "asym_error": ("step",), "f": ("row", "col"), "g": ("row", "col")},
    out_coords={"step": steps.astype(int)}, progress=False,
)
gn_rate = jax.jit(theory.gauss_newton_tail_rate, static_argnums=(4,))
over = ds.sel(rank=K)
predicted = np.array([[float(gn_rate(ETA, gen.operator, jnp.asarray(over.f.sel(init_scale=a, seed=s).values),
                                     jnp.asarray(over.g.sel(init_scale=a, seed=s).values), R, K))
                       for s in SEEDS] for a in ALPHAS])
ds

# %%
fig, axes = plot.figure(1, 2, width=5.0)
plot.curves(axes[0, 0], over["sym_error"].isel(step=slice(1, None)), hue="init_scale", label="alpha = {value}",
            logx=True)
axes[0, 0].set_title(f"symmetric, k = {K} > r (geometric mean, quartiles)")
plot.curves(axes[0, 1], over["asym_error"], hue="init_scale", label="alpha = {value}")
axes[0, 1].set_title(f"asymmetric, k = {K} > r")
for ax in axes[0]:
    ax.legend(fontsize=8)


# %% [markdown]
# ## Compare with the theory
# * symmetric: the local exponent `p = log2(e(T/2) / e(T))` of `e ~ t^-p` is 1 on the `1/t` law;
# * asymmetric: the tail rate is the Gauss-Newton rate (to a few per cent: the next slow modes still
#   contribute), and `d log rate / d log alpha = 2` for each seed;
# * the curse: `F G^T` on the PSD target ends at round-off, `X X^T` on the `1/t` law;
# * the diagonal example stays above its bound, and its rate is `-log(1 - eta (8/9) alpha^2)` up
#   to the proven drift `eta alpha^2 / 16` of the imbalance.


# %%
def fit_rate(error, steps, ceiling=TAIL):
    keep = (error > FLOOR) & (error < ceiling)
    return -np.polyfit(steps[keep], np.log(error[keep]), 1)[0] if keep.sum() >= 4 else np.nan


half = int(np.argmin(np.abs(steps - steps[-1] / 2)))
power = np.log2(over.sym_error.values[..., half] / over.sym_error.values[..., -1])  # (alpha, seed)
measured = np.apply_along_axis(fit_rate, -1, over.asym_error.values, steps)  # (alpha, seed)
ratio = measured / predicted
exponents = []  # per seed, over the scales whose run reached the tail
for j in range(len(SEEDS)):
    keep = np.isfinite(measured[:, j])
    if keep.sum() >= 2:
        exponents.append(np.polyfit(np.log(np.asarray(ALPHAS)[keep]), np.log(measured[keep, j]), 1)[0])
exact = ds.sel(rank=1)
exact_final = float(max(exact.sym_error.values[..., -1].max(), exact.asym_error.values[..., -1].max()))

example, ex_steps = [], 1400 if SMOKE else 2600
for a in ALPHAS:
    problem, x0 = theory.lower_bound_example(N, R, K, a)
    trace = sensing.run(gd, problem, x0, steps=ex_steps, record_every=10)
    t = np.asarray(trace.steps, dtype=float)
    bound = math.sqrt((K - R) / R) * np.asarray(theory.spurious_mode_lower_bound(t, ETA, a, a / 3))
    rate_ex = fit_rate(np.asarray(trace.error), t, ceiling=1e-3 * a * a / 3)
    predicted_ex = float(theory.spurious_mode_rate(ETA, a, a / 3))
    example.append((t, np.asarray(trace.error), bound, (predicted_ex - rate_ex) / (predicted_ex * ETA * a * a / 16)))

fig, axes = plot.figure(1, 2, width=5.0)
ax = axes[0, 0]
plot.log_error_bars(ax, ALPHAS, over.d0_rate.copy(data=measured), "measured tail rate")
plot.theory_line(ax, ALPHAS, np.exp(np.log(predicted).mean(axis=-1)), "Gauss-Newton")
plot.theory_line(ax, ALPHAS, np.exp(np.log(over.d0_rate.values).mean(axis=-1)), "eta lambda_min(D0)", linestyle=":")
ax.set(xlabel="init scale alpha", ylabel="linear rate per step")
ax.legend(fontsize=8)
ax = axes[0, 1]
for i, (t, error, bound, _) in enumerate(example):
    ax.semilogy(t, error, color=f"C{i}", label=f"alpha = {ALPHAS[i]:g}")
    plot.theory_line(ax, t, bound, "", color=f"C{i}")
ax.set(xlabel="step", ylabel="relative error", ylim=(1e-12, 2), title="diagonal example vs its bound")
ax.legend(fontsize=8)
print(f"symmetric p = {power.min():.3f} to {power.max():.3f} (theory: 1 from below)")
print(f"tail rate / Gauss-Newton = {np.nanmin(ratio):.4f} to {np.nanmax(ratio):.4f}; "
      f"eta lambda_min(D0) in its place: {np.nanmin(measured / over.d0_rate.values):.3f} to "
      f"{np.nanmax(measured / over.d0_rate.values):.3f}")
print(f"d log rate / d log alpha per seed: {np.round(exponents, 3)} (theory 2)")
print(f"curse: F G^T final {float(t_asym.error[-1]):.1e}, X X^T final {float(t_sym.error[-1]):.1e} "
      f"= {float(t_sym.error[-1]) / law[-1]:.2f} x the 1/t law")
print(f"example: error / bound >= {min(np.min(e / b) for _, e, b, _ in example):.4f}; "
      f"drift {[round(float(d), 3) for *_, d in example]} (theory in [0, 1])")
print(f"exact-rank (k = r) final error {exact_final:.1e}")

# %%
assert np.all((power >= 0.85) & (power <= 1.0)), power
assert np.all((ratio[np.isfinite(ratio)] >= 0.99) & (ratio[np.isfinite(ratio)] <= 1.06)), ratio
assert np.isfinite(ratio).sum() >= len(SEEDS), ratio
assert exponents and np.all(np.abs(np.asarray(exponents) - 2.0) <= 0.2), exponents
assert float(t_asym.error[-1]) < 1e-12 and 0.5 <= float(t_sym.error[-1]) / law[-1] <= 2.0
assert all(np.all(e >= b) for _, e, b, _ in example)
assert all(-0.02 <= d <= 1.02 for *_, d in example)
assert exact_final < 1e-9, exact_final
