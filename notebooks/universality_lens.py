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
# The over-parameterised Bernoulli class `p_theta = Bernoulli(mean(theta))`, `theta` uniform on
# `[0, 1]^D`. The Bayes mixture's expected regret `D_n` is computed exactly and held against the
# weight bound `n D_min + min_eps [n eps - log W_eps]`. Then an ensemble of SGLD chains is compared
# with the exact mixture. `OVERPARAM_SMOKE=1` shrinks every size.

# %%
import os

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np

import bounds
from overparam import plot
from overparam.studies import universality_lens as study

SMOKE = os.environ.get("OVERPARAM_SMOKE") == "1"
setup = study.SETUPS["quick"]
if SMOKE:
    setup = setup._replace(n=60, levels=8, sgld_steps=1000, n_batch=10, fine_levels=32, members=(1, 4, 8),
                           axes={"num_params": (1, 4, 16), "chain": tuple(range(64))})
setup

# %% [markdown]
# ## One class, one truth
# The prior pushed forward to the mean is the discrete Bates law; its weight near a truth decides
# the regret.

# %%
cls = bounds.mean_of_uniforms_class(4, setup.levels)
truth = study.truth_probs(0.5)
kl = bounds.kl_to_truth(cls, truth)
wb = bounds.weight_bound(cls.log_prior, kl, setup.n, agnostic=True)
d_n = float(bounds.expected_regret(cls, truth, setup.n))
d_n, float(setup.n * wb.min_kl + wb.minimum)

# %% [markdown]
# ## Regret vs D, and the SGLD ensemble (the chains run through the sweep engine)

# %%
res, chains, setup = study.run_all("quick", setup=setup)
res.table.regret, res.table.bound

# %%
fig, axes = plot.figure(1, 2)
for j, p0 in enumerate(setup.truths):
    plot.error_bars(axes[0, 0], res.num_params, res.table.regret[:, j], None, f"D_n, p0 = {p0:g}", color=f"C{j}")
    plot.theory_line(axes[0, 0], res.num_params, res.table.bound[:, j], "bound" if j == 0 else None, color=f"C{j}")
    plot.error_bars(axes[0, 1], res.members, res.ensemble[:, j], res.ensemble_sem[:, j], f"ensemble p0 = {p0:g}",
                    color=f"C{j}")
    plot.theory_line(axes[0, 1], res.members, np.full(res.members.shape, res.mixture[j]), "mixture", color=f"C{j}")
for ax in axes[0]:
    ax.set_xscale("log", base=2), ax.set_yscale("log"), ax.legend(fontsize=7)
axes[0, 0].set_xlabel("D"), axes[0, 0].set_ylabel("regret (nats)")
axes[0, 1].set_xlabel("ensemble size J"), axes[0, 1].set_ylabel("batch regret (nats)")
fig

# %% [markdown]
# ## Checks against the theory
# `0 <= D_n <= bound`; the Beta-free check `D_n <= -log w(theta0)` for a truth in a finite class;
# simple truth falls and complex truth rises with D; the ensemble never beats the mixture by more
# than its Monte Carlo error and improves with J.

# %%
assert np.all(res.table.regret >= 0) and np.all(res.table.regret <= res.table.bound + 1e-9)
grid = bounds.bernoulli_grid(np.array([0.2, 0.5, 0.8]))
assert float(bounds.expected_regret(grid, study.truth_probs(0.5), setup.n)) <= np.log(3) + 1e-12
assert np.all(np.diff(res.table.regret[:, 0]) < 0) and np.all(np.diff(res.table.regret[:, 1]) > 0)
gap = res.ensemble - res.mixture[None, :]
assert np.all(gap >= -study.ENSEMBLE_SLACK * res.ensemble_sem - 1e-12)
assert np.all(res.ensemble[-1] < res.ensemble[0])
[(c.claim, c.measured, c.passed) for c in study.evaluate_claims(res, setup)]
