"""Feder, Urbanke & Fogel 2025 ("The Universality Lens"): regret of a Bayes mixture vs the number of parameters.

The over-parameterised class (MATH.md section 3): ``theta`` uniform on ``[0, 1]^D`` (a midpoint grid
of ``levels`` values per coordinate) and ``p_theta = Bernoulli(mean(theta))``; the prior pushed to
the mean is the (discrete) Bates law, :func:`bounds.mean_of_uniforms_class`. For a truth ``p0`` the
mixture's expected regret ``D_n = D(P0^n || Q)`` is computed exactly (:func:`bounds.expected_regret`)
and compared with the weight bound

    D_n <= n D_min + min_eps [ n eps - log W_eps ],   W_eps = w({theta : D(p0 || p_theta) - D_min <= eps})

(:func:`bounds.weight_bound`, agnostic form, since the grid need not contain ``p0`` exactly). A
simple truth ``p0 = 1/2`` gains prior weight as D grows (the Bates law concentrates at 1/2) and a
complex truth ``p0`` near 0 loses it, while the class grows (``K = D (levels - 1) + 1``) for both:
the regret follows ``-log W``, not the size of the class.

SGLD ensemble vs exact mixture: ``J`` SGLD chains (:func:`bounds.sgld`, Welling & Teh convention) on
``phi`` with ``theta = sigmoid(phi)`` (uniform prior on theta: ``log w(phi) = sum log sigmoid(phi_i)
+ log sigmoid(-phi_i)``) sample the posterior after ``n_batch`` observations; the ensemble predicts
``q(1) = mean_j mean(theta_j)`` (:func:`bounds.ensemble_log_predictive`). Its batch regret
``E_{x^n} D(p0 || q)`` is exact in the data (sum over the success count) and Monte Carlo in the
chains; the exact mixture's batch regret is :func:`bounds.batch_regret` on a fine grid. The chains
are a grid ``successes x chain`` run through :func:`overparam.sweep.run`.

Claims: the bound holds for every D and truth; regret falls with D for the simple truth and rises
for the complex one and ranks like ``-log W`` (Spearman >= 0.9), not like the class size; the
ensemble's regret is at least the mixture's and falls to it as J grows (Jensen: for exact posterior
samples ``E[-log mean_j p_j] >= -log q``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy import stats

import bounds
from overparam import plot, sweep
from overparam.studies.base import SIZES, Claim, Produced, SetupStudy, Size, check_integers, merge_overrides

PAPER = "Feder, Urbanke & Fogel 2025"
NAME = "universality-lens"

RANK_CORRELATION = 0.9  # claim 2: Spearman(D_n, -log W_{1/n}) over all (D, truth)
ENSEMBLE_SLACK = 3.0  # claim 3: ensemble regret >= mixture regret - ENSEMBLE_SLACK standard errors
ENSEMBLE_GAP = 0.25  # claim 3: (ensemble - mixture) / mixture at the largest J


class Setup(NamedTuple):
    """Static part of the study at one size plus its default grid axes."""

    n: int  # sample size of the regret D_n
    levels: int  # grid values per parameter
    truths: tuple[float, ...]  # p0: simple (1/2) first, then complex ones
    sgld_dim: int  # D of the SGLD experiment
    n_batch: int  # observations before the predicted symbol (batch regret r_{n+1})
    sgld_steps: int
    sgld_step_size: float
    fine_levels: int  # grid of the exact mixture the ensemble is compared with
    members: tuple[int, ...]  # ensemble sizes J
    axes: dict[str, tuple[float, ...]]


SETUPS: dict[str, Setup] = {
    "quick": Setup(n=200, levels=16, truths=(0.5, 0.1), sgld_dim=4, n_batch=20, sgld_steps=1500,
                   sgld_step_size=0.02, fine_levels=64, members=(1, 2, 4, 8, 16),
                   axes={"num_params": (1, 2, 4, 8, 16, 32), "chain": tuple(range(128))}),
    "paper": Setup(n=1000, levels=32, truths=(0.5, 0.2, 0.05), sgld_dim=8, n_batch=50, sgld_steps=5000,
                   sgld_step_size=0.01, fine_levels=128, members=(1, 2, 4, 8, 16, 32, 64),
                   axes={"num_params": (1, 2, 4, 8, 16, 32, 64, 128), "chain": tuple(range(1024))}),
}


class RegretTable(NamedTuple):
    """Exact regret and its weight bound for each (D, truth); every field (len(D), len(truths))."""

    regret: np.ndarray  # D_n
    bound: np.ndarray  # n D_min + min_eps [n eps - log W_eps]
    neg_log_weight: np.ndarray  # -log W_{1/n}, the weight of the KL ball of radius 1/n
    class_size: np.ndarray  # K


def truth_probs(p0: float) -> np.ndarray:
    """The Bernoulli truth as a probability vector over the alphabet {0, 1}: ``(1 - p0, p0)``."""
    if not 0.0 < p0 < 1.0:
        raise ValueError(f"p0 = {p0!r} is out of range; allowed: 0 < p0 < 1")
    return np.array([1.0 - p0, p0])


def regret_table(num_params: Sequence[int], truths: Sequence[float], n: int, levels: int) -> RegretTable:
    """Exact ``D_n`` of the mean-of-uniforms mixture and its weight bound for every D and truth."""
    shape = (len(num_params), len(truths))
    regret, bound, nlw, size = (np.zeros(shape) for _ in range(4))
    for i, d in enumerate(num_params):
        cls = bounds.mean_of_uniforms_class(int(d), levels)
        for j, p0 in enumerate(truths):
            truth = truth_probs(p0)
            kl = bounds.kl_to_truth(cls, truth)
            wb = bounds.weight_bound(cls.log_prior, kl, n, agnostic=True)
            regret[i, j] = float(bounds.expected_regret(cls, truth, n))
            bound[i, j] = float(n * wb.min_kl + wb.minimum)
            nlw[i, j] = -float(bounds.log_weight_of_kl_ball(cls.log_prior, kl - wb.min_kl, 1.0 / n))
            size[i, j] = cls.num_hypotheses
    return RegretTable(regret, bound, nlw, size)


def regret_curves(num_params: int, p0: float, n: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """``D_t`` (t = 1..n) of one class and truth, and the weight bound at every t, each (n,)."""
    cls = bounds.mean_of_uniforms_class(int(num_params), levels)
    truth = truth_probs(p0)
    d_t = np.cumsum(np.asarray(bounds.per_step_regret(cls, truth, n)))
    kl = bounds.kl_to_truth(cls, truth)
    wb = bounds.weight_bound(cls.log_prior, kl, n, agnostic=True)
    t = np.arange(1, n + 1, dtype=float)[:, None]
    eps, lw = np.asarray(wb.eps)[None, :], np.asarray(wb.log_weight)[None, :]
    return d_t, (t[:, 0] * float(wb.min_kl) + np.min(t * eps - lw, axis=1))


def _sgld_point(setup: Setup):
    """Per-run function: one SGLD chain on the posterior after ``successes`` ones in ``n_batch``
    observations; returns the chain's final predictive ``mean(theta)``."""
    d, n, steps = setup.sgld_dim, setup.n_batch, setup.sgld_steps

    def log_prior(phi):
        return jnp.sum(jax.nn.log_sigmoid(phi) + jax.nn.log_sigmoid(-phi))

    def log_likelihood(phi, z):
        p = jnp.mean(jax.nn.sigmoid(phi))
        return z * jnp.log(p) + (1.0 - z) * jnp.log1p(-p)

    kernel = bounds.sgld(bounds.minibatch_gradient(log_prior, log_likelihood, n))

    def point(config: Mapping[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        k_init, k_chain = jax.random.split(key)
        data = (jnp.arange(n) < config["successes"]).astype(jnp.result_type(float))
        u = jax.random.uniform(k_init, (d,), minval=1e-6, maxval=1.0 - 1e-6)
        phi0 = jnp.log(u) - jnp.log1p(-u)  # a draw from the prior
        batches = jnp.broadcast_to(data, (steps, n))
        trace = bounds.sample_chain(kernel, k_chain, phi0, batches, jnp.full((steps,), setup.sgld_step_size))
        return {"mean_theta": jnp.mean(jax.nn.sigmoid(trace[-1]))}

    point.__name__ = "sgld_chain"
    return point


def sgld_predictives(setup: Setup, chains: Sequence[int], progress: bool = False) -> xr.Dataset:
    """``mean_theta`` of every chain's final state, dims ``(successes, chain)``."""
    grid = {"successes": tuple(range(setup.n_batch + 1)), "chain": tuple(int(c) for c in chains)}
    return sweep.run(_sgld_point(setup), grid, key=jax.random.key(2025), progress=progress,
                     attrs={"study": NAME, "part": "sgld", "n_batch": setup.n_batch, "dim": setup.sgld_dim,
                            "steps": setup.sgld_steps, "step_size": setup.sgld_step_size})


def _kl_bernoulli(p0: float, q: np.ndarray) -> np.ndarray:
    return p0 * np.log(p0 / q) + (1.0 - p0) * np.log((1.0 - p0) / (1.0 - q))


def ensemble_regret(mean_theta: np.ndarray, p0: float, n: int, members: int) -> tuple[float, float]:
    """Batch regret ``sum_s Binom(s; n, p0) D(p0 || q_J(s))`` of J-member ensembles.

    ``mean_theta`` (n + 1, C): chain c's predictive after s successes. The C chains are split into
    ``C // J`` disjoint ensembles whose predictive is the average of their members' probabilities
    (``exp`` of :func:`bounds.ensemble_log_predictive`); returns the mean regret over ensembles and
    its standard error (0 for a single ensemble).
    """
    chains = mean_theta.shape[1]
    if not 1 <= members <= chains:
        raise ValueError(f"members = {members!r} is out of range; allowed: 1 <= members <= {chains}")
    groups = chains // members
    lp = np.log(mean_theta[:, : groups * members]).reshape(n + 1, groups, members)
    q = np.exp(np.asarray(bounds.ensemble_log_predictive(np.moveaxis(lp, -1, 0))))  # (n + 1, groups)
    pmf = stats.binom.pmf(np.arange(n + 1), n, p0)
    per_group = pmf @ _kl_bernoulli(p0, q)
    sem = per_group.std(ddof=1) / math.sqrt(groups) if groups > 1 else 0.0
    return float(per_group.mean()), float(sem)


def _check_axes(setup: Setup, overrides: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, ...]]:
    axes = merge_overrides(setup.axes, overrides)
    return {"num_params": check_integers("num_params", axes["num_params"], 1, min_count=2),
            "chain": check_integers("chain", axes["chain"], 0, min_count=max(setup.members))}


class Results(NamedTuple):
    """Everything the claims and figures need."""

    num_params: np.ndarray
    table: RegretTable
    curves: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]]
    members: np.ndarray
    ensemble: np.ndarray  # (len(members), len(truths)) mean batch regret
    ensemble_sem: np.ndarray
    mixture: np.ndarray  # (len(truths),) exact batch regret of the fine-grid mixture


def run_all(size: Size = "quick", overrides: Mapping[str, Sequence[float]] | None = None, *,
            setup: Setup | None = None, progress: bool = False) -> tuple[Results, xr.Dataset, Setup]:
    """The regret table, the regret-vs-n curves, and the SGLD ensemble comparison. ``setup`` replaces
    the size's :class:`Setup` (smaller problems for notebooks and tests)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    setup = SETUPS[size] if setup is None else setup
    axes = _check_axes(setup, overrides)
    ds_ = np.asarray(axes["num_params"])
    table = regret_table(ds_, setup.truths, setup.n, setup.levels)
    curves = {(int(d), p0): regret_curves(int(d), p0, setup.n, setup.levels)
              for d in (ds_[0], ds_[-1]) for p0 in setup.truths}
    chains = sgld_predictives(setup, axes["chain"], progress)
    mean_theta = chains["mean_theta"].values
    fine = bounds.mean_of_uniforms_class(setup.sgld_dim, setup.fine_levels)
    mixture = np.array([float(bounds.batch_regret(fine, truth_probs(p0), setup.n_batch)) for p0 in setup.truths])
    members = np.array([j for j in setup.members if j <= mean_theta.shape[1]])
    ens = np.array([[ensemble_regret(mean_theta, p0, setup.n_batch, int(j)) for p0 in setup.truths]
                    for j in members])
    return Results(ds_, table, curves, members, ens[..., 0], ens[..., 1], mixture), chains, setup


def evaluate_claims(res: Results, setup: Setup) -> list[Claim]:
    """The three claims (module docstring)."""
    t = res.table
    claims = []
    slack = t.bound - t.regret
    claims.append(Claim(
        NAME, PAPER, f"the weight bound D_n <= n D_min + min_eps [n eps - log W_eps] holds (n = {setup.n}, "
        f"D = {', '.join(str(int(d)) for d in res.num_params)}, p0 = {', '.join(f'{p:g}' for p in setup.truths)})",
        f"min (bound - D_n) = {slack.min():.3f} nats; min D_n = {t.regret.min():.3f}",
        ">= 0 and D_n >= 0", bool(slack.min() >= 0 and t.regret.min() >= 0)))
    simple = t.regret[:, 0]
    complex_ = t.regret[:, 1:]
    falls = bool(np.all(np.diff(simple) < 0))
    rises = bool(np.all(np.diff(complex_, axis=0) > 0))
    rho = float(stats.spearmanr(t.regret.ravel(), t.neg_log_weight.ravel())[0])
    rho_size = float(stats.spearmanr(t.regret.ravel(), t.class_size.ravel())[0])
    claims.append(Claim(
        NAME, PAPER, "more parameters lower the regret of the simple truth (p0 = 1/2) and raise the complex "
        "ones'; regret ranks like -log W_{1/n}, not like the class size K",
        f"simple falls: {falls}; complex rise: {rises}; Spearman with -log W = {rho:.3f}, with K = {rho_size:.2f}",
        f"both true; Spearman with -log W >= {RANK_CORRELATION:g}",
        bool(falls and rises and rho >= RANK_CORRELATION)))
    gap = res.ensemble - res.mixture[None, :]
    above = bool(np.all(gap >= -ENSEMBLE_SLACK * res.ensemble_sem - 1e-12))
    improves = bool(np.all(np.diff(res.ensemble, axis=0) < 0))
    final_gap = float(np.max(gap[-1] / res.mixture))
    claims.append(Claim(
        NAME, PAPER, f"an ensemble of J SGLD chains (D = {setup.sgld_dim}) has batch regret at least the exact "
        f"mixture's and approaches it as J grows (n = {setup.n_batch})",
        "J = {}: ensemble/mixture - 1 = {}".format(
            ", ".join(str(int(j)) for j in res.members),
            "; ".join(", ".join(f"{g:.2f}" for g in col) for col in (gap / res.mixture[None, :]).T)),
        f">= -{ENSEMBLE_SLACK:g} s.e., decreasing in J, <= {ENSEMBLE_GAP:g} at J = {int(res.members[-1])}",
        bool(above and improves and final_gap <= ENSEMBLE_GAP)))
    return claims


def make_figures(res: Results, setup: Setup, out: Path) -> list[Path]:
    """Regret vs D with the bound and -log W; regret vs n; ensemble regret vs J."""
    figures: list[Path] = []
    t = res.table
    fig, axes = plot.figure(1, 2, width=4.8, height=3.8)
    ax = axes[0, 0]
    for j, p0 in enumerate(setup.truths):
        c = f"C{j}"
        plot.error_bars(ax, res.num_params, t.regret[:, j], None, f"D_n, p0 = {p0:g}", color=c)
        plot.theory_line(ax, res.num_params, t.bound[:, j], "weight bound" if j == 0 else None, color=c)
        ax.plot(res.num_params, t.neg_log_weight[:, j], ":", color=c, label="-log W_{1/n}" if j == 0 else None)
    ax.set_xscale("log", base=2), ax.set_yscale("log")
    ax.set_xlabel("number of parameters D"), ax.set_ylabel(f"regret D_n (nats), n = {setup.n}")
    ax.set_title("regret vs D: follows the weight, not K")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    n_axis = np.arange(1, setup.n + 1)
    for i, ((d, p0), (d_t, b_t)) in enumerate(res.curves.items()):
        c = f"C{i}"
        ax.plot(n_axis, d_t, "-", color=c, label=f"D_t, D = {d}, p0 = {p0:g}")
        ax.plot(n_axis, b_t, "--", color=c, linewidth=1.0)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_ylim(bottom=1e-3)  # D_1 = 0 for p0 = 1/2 (the prior predictive is exactly 1/2)
    ax.set_xlabel("sample size t"), ax.set_ylabel("regret D_t (nats); dashed: weight bound")
    ax.set_title("exact regret vs t with its bound")
    ax.legend(fontsize=7)
    figures += plot.save(fig, out, "regret_vs_parameters")

    fig, axes = plot.figure(1, 1)
    ax = axes[0, 0]
    for j, p0 in enumerate(setup.truths):
        c = f"C{j}"
        plot.error_bars(ax, res.members, res.ensemble[:, j], res.ensemble_sem[:, j], f"SGLD ensemble, p0 = {p0:g}",
                        color=c)
        plot.theory_line(ax, res.members, np.full(res.members.shape, res.mixture[j]),
                         f"exact mixture, p0 = {p0:g}", color=c)
    ax.set_xscale("log", base=2), ax.set_yscale("log")
    ax.set_xlabel("ensemble size J"), ax.set_ylabel(f"batch regret after n = {setup.n_batch} (nats)")
    ax.set_title(f"SGLD ensemble vs mixture, D = {setup.sgld_dim}")
    ax.legend(fontsize=7)
    figures += plot.save(fig, out, "ensemble_vs_mixture")
    return figures


class UniversalityLensStudy(SetupStudy):
    """Feder, Urbanke & Fogel 2025 as a study: mixture regret vs D, the weight bound, SGLD ensembles."""

    name = NAME
    paper = PAPER
    description = "Bayes mixture regret vs number of parameters for simple/complex truths; weight bound; SGLD ensembles"
    setups = SETUPS
    check_axes = staticmethod(_check_axes)

    def produce(self, *, size: Size, out: Path, overrides: Mapping[str, Sequence[float]] | None, resume: bool,
                progress: bool) -> Produced:
        del resume
        jax.config.update("jax_enable_x64", True)
        res, chains, setup = run_all(size, overrides, progress=progress)
        claims = evaluate_claims(res, setup)
        figures = make_figures(res, setup, out)
        ds = xr.Dataset(
            {"regret": (("num_params", "truth"), res.table.regret),
             "weight_bound": (("num_params", "truth"), res.table.bound),
             "neg_log_weight": (("num_params", "truth"), res.table.neg_log_weight),
             "ensemble_regret": (("members", "truth"), res.ensemble),
             "ensemble_regret_sem": (("members", "truth"), res.ensemble_sem),
             "mixture_batch_regret": (("truth",), res.mixture)},
            coords={"num_params": res.num_params, "truth": list(setup.truths), "members": res.members})
        paths = [out / "regret.nc", out / "sgld_chains.nc"]
        ds.to_netcdf(paths[0], engine="h5netcdf")
        chains.to_netcdf(paths[1], engine="h5netcdf")
        return Produced(claims, figures, paths, setup)


STUDY = UniversalityLensStudy()

__all__ = ["STUDY", "SETUPS", "RegretTable", "Results", "Setup", "UniversalityLensStudy", "ensemble_regret",
           "evaluate_claims", "make_figures", "regret_curves", "regret_table", "run_all", "sgld_predictives",
           "truth_probs"]
