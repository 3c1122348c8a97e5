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
# # Feder, Urbanke & Fogel 2025: regret follows the prior weight, not the number of parameters
#
# The over-parameterised Bernoulli class `p_theta = Bernoulli(mean(theta))`, `theta` uniform on a
# grid in `[0, 1]^D`. The Bayes mixture's expected regret `D_n` is computed exactly and held
# against the weight bound `n D_min + min_eps [n eps - log W_eps]`. Then SGLD chains sample the
# posterior and their ensembles are held against ensembles of exact posterior draws and the exact
# mixture. `OVERPARAM_SMOKE=1` shrinks the sizes; the code is the same.

# %%
import os

import overparam  # noqa: F401  (before JAX computes: the XLA:CPU deadlock workaround)
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np

import bounds
from overparam import plot, sweep

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
n, levels = (60, 8) if SMOKE else (200, 16)
num_params = [1, 2, 4, 8, 16] if SMOKE else [1, 2, 4, 8, 16, 32]
truths = [0.1, 0.5]
sgld_dim, n_batch, steps, step_size = 2, (8 if SMOKE else 20), (600 if SMOKE else 1500), 0.02
chains, members = (64, [1, 2, 4]) if SMOKE else (256, [1, 2, 4, 8, 16])

# %% [markdown]
# ## One class, one truth
# The prior pushed forward to the mean is the discrete Bates law; the weight of the truth's KL ball
# decides the regret.

# %%
cls = bounds.mean_of_uniforms_class(4, levels)
truth = np.array([0.5, 0.5])
kl = bounds.kl_to_truth(cls, truth)
wb = bounds.weight_bound(cls.log_prior, kl, n, agnostic=True)
d_n = float(bounds.expected_regret(cls, truth, n))
{"K": cls.num_hypotheses, "D_n": d_n, "bound": float(n * wb.min_kl + wb.minimum)}

# %% [markdown]
# ## Regret vs D for a simple and a complex truth

# %%
regret = np.zeros((len(num_params), len(truths)))
bound, neg_log_w = np.zeros_like(regret), np.zeros_like(regret)
for i, d in enumerate(num_params):
    c = bounds.mean_of_uniforms_class(d, levels)
    for j, p0 in enumerate(truths):
        k = bounds.kl_to_truth(c, [1 - p0, p0])
        w = bounds.weight_bound(c.log_prior, k, n, agnostic=True)
        regret[i, j] = float(bounds.expected_regret(c, [1 - p0, p0], n))
        bound[i, j] = float(n * w.min_kl + w.minimum)
        neg_log_w[i, j] = -float(bounds.log_weight_of_kl_ball(c.log_prior, k - w.min_kl, 1.0 / n))
regret.round(3), bound.round(3)

# %% [markdown]
# ## SGLD chains through the sweep engine, against the exact posterior
# Each chain runs on `phi` with `theta = sigmoid(phi)` for every success count `s` of `n_batch`
# observations; its final predictive `mean(theta)` is recorded.

# %%
def log_prior(phi):
    return jnp.sum(jax.nn.log_sigmoid(phi) + jax.nn.log_sigmoid(-phi))


def log_likelihood(phi, z):
    p = jnp.mean(jax.nn.sigmoid(phi))
    return z * jnp.log(p) + (1.0 - z) * jnp.log1p(-p)


kernel = bounds.sgld(bounds.minibatch_gradient(log_prior, log_likelihood, n_batch))


def point(config, key):
    def one(s):
        k_init, k_chain = jax.random.split(jax.random.fold_in(key, s))
        u = jax.random.uniform(k_init, (sgld_dim,), minval=1e-6, maxval=1 - 1e-6)
        data = (jnp.arange(n_batch) < s).astype(jnp.result_type(float))
        trace = bounds.sample_chain(kernel, k_chain, jnp.log(u) - jnp.log1p(-u),
                                    jnp.broadcast_to(data, (steps, n_batch)), jnp.full((steps,), step_size))
        return jnp.mean(jax.nn.sigmoid(trace[-1]))

    return {"mean_theta": jax.vmap(one)(jnp.arange(n_batch + 1))}


ds = sweep.run(point, {"chain": range(chains)}, key=jax.random.key(2025), out_dims={"mean_theta": ("successes",)})
q_chains = ds["mean_theta"].values.T  # (n_batch + 1, chains)
fine = bounds.mean_of_uniforms_class(sgld_dim, 64)
p, post = bounds.bernoulli_posterior(fine, n_batch)
q_exact = post @ p
z_mean = (q_chains.mean(axis=1) - q_exact) / (q_chains.std(axis=1, ddof=1) / np.sqrt(chains))
ensemble = np.array([[bounds.ensemble_batch_regret(q_chains, p0, n_batch, j)[:2] for p0 in truths] for j in members])
exact = np.array([[bounds.posterior_ensemble_regret(fine, p0, n_batch, j) for p0 in truths] for j in members])
mixture = np.array([float(bounds.batch_regret(fine, [1 - p0, p0], n_batch)) for p0 in truths])
z_mean.round(2), ensemble[..., 0].round(4), exact.round(4), mixture.round(4)

# %%
fig, axes = plot.figure(1, 2)
for j, p0 in enumerate(truths):
    plot.error_bars(axes[0, 0], num_params, regret[:, j], None, f"D_n, p0 = {p0:g}", color=f"C{j}")
    plot.theory_line(axes[0, 0], num_params, bound[:, j], "weight bound" if j == 0 else None, color=f"C{j}")
    plot.error_bars(axes[0, 1], members, ensemble[:, j, 0], ensemble[:, j, 1], f"SGLD, p0 = {p0:g}", color=f"C{j}")
    plot.theory_line(axes[0, 1], members, exact[:, j], "exact draws" if j == 0 else None, color=f"C{j}")
for ax in axes[0]:
    ax.set_xscale("log", base=2), ax.set_yscale("log"), ax.legend(fontsize=7)
axes[0, 0].set_xlabel("D"), axes[0, 0].set_ylabel("regret (nats)")
axes[0, 1].set_xlabel("ensemble size J"), axes[0, 1].set_ylabel("batch regret (nats)")
fig

# %% [markdown]
# ## Checks against the theory
# `0 <= D_n <= bound` and `D_n <= -log w(theta0)` for a truth in a finite class; the simple
# truth's regret falls and the complex one's rises with D, moving with `-log W`; the SGLD
# predictive mean is the exact posterior's within 4 standard errors; the SGLD ensembles match
# ensembles of exact posterior draws within 4 s.e., do not get worse with J, and stay above the
# mixture.

# %%
assert np.all(regret >= 0) and np.all(regret <= bound)
grid = bounds.bernoulli_grid(np.array([0.2, 0.5, 0.8]))
assert float(bounds.expected_regret(grid, [0.5, 0.5], n)) <= np.log(3)
assert np.all(np.diff(regret[:, 1]) < 0) and np.all(np.diff(regret[:, 0]) > 0)
assert np.all(np.diff(regret, axis=0) * np.diff(neg_log_w, axis=0) > 0)
assert np.all(np.abs(z_mean) <= 4)
assert np.all(np.abs(ensemble[..., 0] - exact) <= 4 * ensemble[..., 1])
assert np.all(np.diff(ensemble[..., 0], axis=0) <= 0) and np.all(exact > mixture)
