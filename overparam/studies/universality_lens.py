"""Feder, Urbanke & Fogel 2025 ("The Universality Lens"): the regret of a Bayes mixture follows the weight, not D.

The over-parameterised class (docs/bounds.md#mean-of-uniforms): ``theta`` uniform on a midpoint grid
of ``levels`` values in ``[0, 1]^D`` and ``p_theta = Bernoulli(mean(theta))``. For each D and truth
``p0`` the mixture's expected regret ``D_n`` (:func:`bounds.expected_regret`) is held against the
agnostic weight bound ``n D_min + min_eps [n eps - log W_eps]`` (docs/bounds.md#agnostic-weight-bound).
The class grows with D (``K = D (levels - 1) + 1``) for every truth, but the prior concentrates at
1/2: the simple truth ``p0 = 1/2`` gains weight and the others lose it.

SGLD (docs/bounds.md#sgld): chains on ``phi`` with ``theta = sigmoid(phi)`` (uniform prior on
theta) sample the posterior after ``s`` ones in ``n_batch`` observations, for every ``s``; an
ensemble of ``J`` chains averages their predictive ``mean(theta)``. The reference is exact: the
posterior of the fine grid (``fine_levels``), its ensembles of ``J`` exact draws
(:func:`bounds.posterior_ensemble_regret`) and the mixture (:func:`bounds.batch_regret`).

Sizes. The paper is theoretical and gives no experiment, so both sizes sit in the regime of its
theorem (docs/studies/universality-lens.md): a finite class, a truth inside the convex hull of the
class, and ``n`` large against the class's resolution at the simple truth. Paper size: ``n = 1000``,
D up to 128 (K = 3969 hypotheses) and three truths; 1024 SGLD chains, ensembles up to J = 64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy import stats

import bounds
import overparam.study as st
from overparam import plot, sweep

PAPER = "Feder, Urbanke & Fogel 2025"
LINK = "https://arxiv.org/abs/2506.07661"
Z_LIMIT = 4.0  # Monte Carlo claims: |measured - exact| <= 4 standard errors
MIN_ENSEMBLES = 16  # ensembles at the largest J, so that its standard error has >= 15 degrees of freedom
SGLD_SEED = 2025


def truth_probs(p0: float) -> np.ndarray:
    """The Bernoulli truth as probabilities over {0, 1}: ``(1 - p0, p0)``."""
    if not 0.0 < p0 < 1.0:
        raise ValueError(f"p0 = {p0!r} is out of range; allowed: 0 < p0 < 1")
    return np.array([1.0 - p0, p0])


def regret_table(setup: st.Setup) -> xr.Dataset:
    """Exact ``D_n``, the weight bound, ``-log W_{1/n}`` and K for every (D, truth); ``D_t`` curves at the extreme D."""
    ds_, truths, n = setup.axes["num_params"], setup.axes["truth"], setup.n
    shape = (len(ds_), len(truths))
    out = {k: np.zeros(shape) for k in ("regret", "weight_bound", "neg_log_weight", "class_size")}
    curves = np.zeros((2, len(truths), 2, n))  # (D in {min, max}, truth, {D_t, bound_t}, t)
    t = np.arange(1, n + 1, dtype=float)[:, None]
    for i, d in enumerate(ds_):
        cls = bounds.mean_of_uniforms_class(int(d), setup.levels)
        for j, p0 in enumerate(truths):
            kl = bounds.kl_to_truth(cls, truth_probs(p0))
            wb = bounds.weight_bound(cls.log_prior, kl, n, agnostic=True)
            out["regret"][i, j] = float(bounds.expected_regret(cls, truth_probs(p0), n))
            out["weight_bound"][i, j] = float(n * wb.min_kl + wb.minimum)
            out["neg_log_weight"][i, j] = -float(bounds.log_weight_of_kl_ball(cls.log_prior, kl - wb.min_kl, 1.0 / n))
            out["class_size"][i, j] = cls.num_hypotheses
            if i in (0, len(ds_) - 1):
                row = 0 if i == 0 else 1
                curves[row, j, 0] = np.cumsum(np.asarray(bounds.per_step_regret(cls, truth_probs(p0), n)))
                eps, lw = np.asarray(wb.eps)[None, :], np.asarray(wb.log_weight)[None, :]
                curves[row, j, 1] = t[:, 0] * float(wb.min_kl) + np.min(t * eps - lw, axis=1)
    dims = ("num_params", "truth")
    return xr.Dataset({**{k: (dims, v) for k, v in out.items()},
                       "curve_regret": (("curve_d", "truth", "t"), curves[:, :, 0]),
                       "curve_bound": (("curve_d", "truth", "t"), curves[:, :, 1])},
                      coords={"num_params": list(ds_), "truth": list(truths), "t": np.arange(1, n + 1),
                              "curve_d": [ds_[0], ds_[-1]]})


def reference(setup: st.Setup) -> xr.Dataset:
    """The exact fine-grid posterior (predictive and variance per s), its J-draw ensembles and the mixture."""
    fine = bounds.mean_of_uniforms_class(setup.sgld_dim, setup.fine_levels)
    p, post = bounds.bernoulli_posterior(fine, setup.n_batch)
    q = post @ p
    members, truths = setup.axes["members"], setup.axes["truth"]
    exact = [[bounds.posterior_ensemble_regret(fine, p0, setup.n_batch, int(j)) for p0 in truths] for j in members]
    mixture = [float(bounds.batch_regret(fine, truth_probs(p0), setup.n_batch)) for p0 in truths]
    return xr.Dataset({"predictive": ("successes", q), "variance": ("successes", post @ p**2 - q**2),
                       "exact_ensemble": (("members", "truth"), np.array(exact)),
                       "mixture": ("truth", np.array(mixture))},
                      coords={"successes": np.arange(setup.n_batch + 1), "members": list(members),
                              "truth": list(truths)})


def sgld_point(config, key, setup: st.Setup) -> dict:
    """One SGLD chain per success count s = 0..n_batch; returns each chain's final ``mean(theta)`` (n_batch + 1,)."""
    d, n, steps = setup.sgld_dim, setup.n_batch, setup.sgld_steps

    def log_prior(phi):  # uniform theta = sigmoid(phi): the log-Jacobian
        return jnp.sum(jax.nn.log_sigmoid(phi) + jax.nn.log_sigmoid(-phi))

    def log_likelihood(phi, z):
        p = jnp.mean(jax.nn.sigmoid(phi))
        return z * jnp.log(p) + (1.0 - z) * jnp.log1p(-p)

    kernel = bounds.sgld(bounds.minibatch_gradient(log_prior, log_likelihood, n))
    chain_key = sweep.seed_key(jax.random.key(SGLD_SEED), config["chain"])

    def one(s):
        k_init, k_chain = jax.random.split(jax.random.fold_in(chain_key, s))
        data = (jnp.arange(n) < s).astype(jnp.result_type(float))
        u = jax.random.uniform(k_init, (d,), minval=1e-6, maxval=1.0 - 1e-6)
        phi0 = jnp.log(u) - jnp.log1p(-u)  # a draw from the prior
        trace = bounds.sample_chain(kernel, k_chain, phi0, jnp.broadcast_to(data, (steps, n)),
                                    jnp.full((steps,), setup.sgld_step_size))
        return jnp.mean(jax.nn.sigmoid(trace[-1]))

    del key  # the chain's randomness comes from its seed alone
    return {"mean_theta": jax.vmap(one)(jnp.arange(n + 1))}


def check(setup: st.Setup) -> None:
    """Cross-checks: the simple truth 1/2 is on the grid; J doubles; enough chains for the largest J."""
    if 0.5 not in setup.axes["truth"]:
        raise ValueError(f"axis truth={setup.axes['truth']} must contain the simple truth 0.5")
    members, chains = setup.axes["members"], len(setup.axes["chain"])
    if any(b % a for a, b in zip(members, members[1:])):
        raise ValueError(f"axis members={members} is not allowed; each value must divide the next")
    if chains < MIN_ENSEMBLES * members[-1] or chains % members[-1]:
        raise ValueError(f"axis chain has {chains} values; allowed: a multiple of members[-1] = {members[-1]} "
                         f"and at least {MIN_ENSEMBLES * members[-1]} ({MIN_ENSEMBLES} ensembles of the largest J)")


def measure(data, setup: st.Setup) -> dict:
    """Slack of the bound, monotonicity, rank agreement, SGLD moments and ensembles vs the exact reference."""
    r, ref, chains = data["regret"], data["reference"], data["sgld"]["mean_theta"].values  # chains (C, n_batch + 1)
    truths = list(setup.axes["truth"])
    simple = truths.index(0.5)
    regret, nlw = r["regret"].values, r["neg_log_weight"].values
    c = chains.shape[0]
    mean, var = chains.mean(axis=0), chains.var(axis=0, ddof=1)
    fourth = np.mean((chains - mean) ** 4, axis=0)
    ens = np.array([[bounds.ensemble_batch_regret(chains.T, p0, setup.n_batch, int(j))[:2] for p0 in truths]
                    for j in setup.axes["members"]])  # (J, truth, {mean, sem})
    return {
        "slack": (r["weight_bound"] - r["regret"]).values, "simple_diff": np.diff(regret[:, simple]),
        "complex_diff": np.delete(np.diff(regret, axis=0), simple, axis=1),
        "concordance": np.diff(regret, axis=0) * np.diff(nlw, axis=0),
        "spearman_weight": stats.spearmanr(regret.ravel(), nlw.ravel())[0],
        "spearman_size": stats.spearmanr(regret.ravel(), r["class_size"].values.ravel())[0],
        "mean_z": (mean - ref["predictive"].values) / np.sqrt(var / c),
        "var_z": (var - ref["variance"].values) / np.sqrt(np.maximum(fourth - var**2, 1e-300) / c),
        "ensemble": ens[..., 0], "ensemble_sem": ens[..., 1],
        "ensemble_z": (ens[..., 0] - ref["exact_ensemble"].values) / ens[..., 1],
        "ensemble_diff": np.diff(ens[..., 0], axis=0),
    }


def claims(m: dict, setup: st.Setup) -> list[st.Claim]:
    """The weight bound; the simple truth gains and the complex ones lose; SGLD and its ensembles vs exact."""
    truths = ", ".join(f"{p:g}" for p in setup.axes["truth"])
    dims = f"D = {', '.join(map(str, setup.axes['num_params']))}; p0 = {truths}"
    z = Z_LIMIT
    return [
        st.Claim("weight-bound", f"the weight bound D_n <= n D_min + min_eps [n eps - log W_eps] holds (n = {setup.n})",
                 m["slack"], ">=", 0.0, "nats", f"bound - D_n over {dims}; exact regret, no tolerance"),
        st.Claim("simple-truth-gains", "more parameters lower the regret of the simple truth p0 = 1/2, "
                 "although the class grows", m["simple_diff"], "<", 0.0, "nats", "D_n(next D) - D_n(D)"),
        st.Claim("complex-truth-loses", "more parameters raise the regret of every complex truth p0 != 1/2",
                 m["complex_diff"], ">", 0.0, "nats", "D_n(next D) - D_n(D), every truth but 1/2"),
        st.Claim("follows-weight", "the regret moves with -log W_{1/n}, the weight of the truth's KL ball: for every "
                 "truth and step in D both change in the same direction", m["concordance"], ">", 0.0, "nats^2",
                 f"(change of D_n) x (change of -log W); Spearman over all cells: with -log W "
                 f"{m['spearman_weight']:.3f}, with the class size K {m['spearman_size']:.2f}"),
        st.Claim("sgld-posterior-mean", f"SGLD samples the posterior: the mean predictive over chains equals the "
                 f"exact posterior predictive for every success count s (D = {setup.sgld_dim})", m["mean_z"], "in",
                 (-z, z), "s.e.", f"(chain mean - exact) / s.e., {len(setup.axes['chain'])} chains, "
                 f"{setup.sgld_steps} steps of size {setup.sgld_step_size:g}"),
        st.Claim("sgld-posterior-spread", "SGLD samples the posterior: the variance of the predictive over chains "
                 "equals the exact posterior variance for every s", m["var_z"], "in", (-z, z), "s.e.",
                 "(chain variance - exact) / s.e. from the fourth central moment"),
        st.Claim("ensemble-matches-posterior-draws", "an ensemble of J SGLD chains has the batch regret of an "
                 f"ensemble of J exact posterior draws, for every J and truth (n = {setup.n_batch})",
                 m["ensemble_z"], "in", (-z, z), "s.e.", "(SGLD - exact) / s.e. over disjoint ensembles"),
        st.Claim("ensemble-improves", "the ensemble's regret does not rise with J and falls towards the mixture's "
                 "(convexity of D(p0 || .))", m["ensemble_diff"], "<=", 0.0, "nats",
                 f"regret(next J) - regret(J), J = {', '.join(map(str, setup.axes['members']))}"),
    ]


def figures(data, setup: st.Setup, m: dict) -> list[st.Figure]:
    """Regret vs D with the bound and -log W; D_t vs t; ensemble regret vs J against exact draws and the mixture."""
    r, ref = data["regret"], data["reference"]
    ds_, truths, members = np.asarray(setup.axes["num_params"]), setup.axes["truth"], np.asarray(setup.axes["members"])
    fig, axes = plot.figure(1, 2, width=5.2, height=4.0)
    ax = axes[0, 0]
    for j, p0 in enumerate(truths):
        c = f"C{j}"
        plot.error_bars(ax, ds_, r["regret"].values[:, j], None, f"D_n, p0 = {p0:g}", color=c)
        plot.theory_line(ax, ds_, r["weight_bound"].values[:, j], "weight bound" if j == 0 else None, color=c)
        ax.plot(ds_, r["neg_log_weight"].values[:, j], ":", color=c, label="-log W_{1/n}" if j == 0 else None)
    ax.set_xscale("log", base=2), ax.set_yscale("log")
    ax.set_xlabel("number of parameters D"), ax.set_ylabel(f"regret D_n (nats), n = {setup.n}")
    ax.set_title("regret vs D follows the weight, not K"), ax.legend(fontsize=7)
    ax = axes[0, 1]
    for i, d in enumerate(r["curve_d"].values):
        for j, p0 in enumerate(truths):
            c = f"C{i * len(truths) + j}"
            ax.plot(r["t"], r["curve_regret"].values[i, j], "-", color=c, label=f"D_t, D = {int(d)}, p0 = {p0:g}")
            ax.plot(r["t"], r["curve_bound"].values[i, j], "--", color=c, linewidth=1.0)
    ax.set_xscale("log"), ax.set_yscale("log"), ax.set_ylim(bottom=1e-3)  # D_1 = 0 at p0 = 1/2
    ax.set_xlabel("sample size t"), ax.set_ylabel("regret D_t (nats); dashed: weight bound")
    ax.set_title("exact regret vs t with its bound"), ax.legend(fontsize=6)
    regret_fig = st.Figure("regret_vs_parameters", fig, "Left: exact mixture regret D_n (markers) against the agnostic "
                           "weight bound (dashed) and -log W_{1/n} (dotted) vs the number of parameters D. Right: D_t "
                           "vs t at the smallest and largest D with the weight bound at every t (dashed).",
                           r[["regret", "weight_bound", "neg_log_weight", "class_size"]])
    fig, axes = plot.figure(1, 1, width=5.2, height=4.0)
    ax = axes[0, 0]
    for j, p0 in enumerate(truths):
        c = f"C{j}"
        plot.error_bars(ax, members, m["ensemble"][:, j], m["ensemble_sem"][:, j], f"SGLD ensemble, p0 = {p0:g}",
                        color=c)
        plot.theory_line(ax, members, ref["exact_ensemble"].values[:, j], "J exact posterior draws" if j == 0 else None,
                         color=c)
        ax.axhline(float(ref["mixture"].values[j]), color=c, linestyle=":", label="mixture" if j == 0 else None)
    ax.set_xscale("log", base=2), ax.set_yscale("log")
    ax.set_xlabel("ensemble size J"), ax.set_ylabel(f"batch regret after n = {setup.n_batch} (nats)")
    ax.set_title(f"SGLD ensembles vs exact posterior draws, D = {setup.sgld_dim}"), ax.legend(fontsize=7)
    table = xr.Dataset({"sgld": (("members", "truth"), m["ensemble"]), "sgld_sem": (("members", "truth"),
                        m["ensemble_sem"]), "exact_draws": ref["exact_ensemble"], "mixture": ref["mixture"]})
    return [regret_fig, st.Figure("ensemble_vs_mixture", fig, "Batch regret of ensembles of J SGLD chains (markers, "
                                  "+- 1 s.e. over disjoint ensembles) against ensembles of J exact posterior draws "
                                  "(dashed, exact) and the Bayes mixture (dotted), vs J.", table)]


STUDY = st.Study(
    name="universality-lens", paper=PAPER, link=LINK,
    description="Bayes mixture regret vs number of parameters for simple/complex truths; weight bound; SGLD ensembles",
    settings={
        "n": st.Setting(200, paper=1000, low=1, doc="sample size of the regret D_n"),
        "levels": st.Setting(16, paper=32, low=2, doc="grid values per parameter"),
        "sgld_dim": st.Setting(4, paper=8, low=1, doc="D of the SGLD experiment"),
        "n_batch": st.Setting(20, paper=50, low=1, doc="observations before the predicted symbol"),
        "sgld_steps": st.Setting(1500, paper=5000, low=1, doc="SGLD steps per chain"),
        "sgld_step_size": st.Setting(0.02, paper=0.01, low=0.0, low_open=True, doc="constant SGLD step size"),
        "fine_levels": st.Setting(64, paper=128, low=2, doc="grid of the exact posterior the chains are held against"),
    },
    axes={
        "num_params": st.Axis((1, 2, 4, 8, 16, 32), paper=(1, 2, 4, 8, 16, 32, 64, 128), integer=True, low=1,
                              min_count=2, doc="D"),
        "truth": st.Axis((0.1, 0.5), paper=(0.05, 0.2, 0.5), low=0.0, high=1.0, low_open=True, high_open=True,
                         min_count=2, doc="p0"),
        "members": st.Axis((1, 2, 4, 8, 16), paper=(1, 2, 4, 8, 16, 32, 64), integer=True, low=1, min_count=2,
                           doc="ensemble sizes J"),
        "chain": st.seeds(256, 1024, doc="SGLD chain"),
    },
    sweeps={"regret": st.Compute(regret_table), "reference": st.Compute(reference),
            "sgld": st.Sweep(sgld_point, axes=("chain",), out_dims={"mean_theta": ("successes",)},
                             out_coords=lambda s: {"successes": list(range(s.n_batch + 1))})},
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
