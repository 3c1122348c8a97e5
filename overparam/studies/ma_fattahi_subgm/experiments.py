"""The experiments of the ma-fattahi-subgm study: its problems and the points of its three sweeps.

``outliers`` (SubGM at one rank, init scale, outlier fraction and seed), ``noise`` (Gaussian noise,
the smallest init scale) and ``dense`` (dense outliers, from a small start or from ``M*``). One
problem per size; a run's randomness is a function of its seed only, so comparisons across the
grid are paired.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

import overparam.study as st
import sensing
from overparam.sweep import seed_key
from sensing.problem import sample_noise

PROBLEM_SEED, INIT_SEED = 20220, 7  # the shared operator and truth; the root of the per-seed keys


def _problem(setup: st.Setup, dense: bool, seed: jax.Array, p: jax.Array, nu: float = 0.0):
    """The problem of one run and its init key: shared ``A``, ``M*``; noise ``outliers(p) + N(0, nu^2)`` from ``seed``."""
    n, r, m = (setup.dense_n, setup.dense_r, setup.dense_m) if dense else (setup.n, setup.r, setup.m)
    problem = sensing.make_problem(jax.random.key(PROBLEM_SEED), n=n, rank=r, m=m)
    k_out, k_gauss, k_init, k_pert = jax.random.split(seed_key(jax.random.key(INIT_SEED), seed), 4)
    s = sample_noise(k_out, sensing.outliers(p), problem.y) + sample_noise(k_gauss, sensing.gaussian_noise(nu), problem.y)
    return problem._replace(y=problem.y + s), k_init, k_pert


def _subgm(setup: st.Setup, problem: sensing.Problem, x0: jax.Array) -> sensing.Trace:
    return sensing.run(sensing.subgm(setup.step_size, setup.decay), problem, x0, steps=setup.steps,
                       record_every=setup.record_every)


def build_run(setup: st.Setup, config: Mapping[str, jax.Array]) -> tuple[sensing.Problem, jax.Array]:
    """``(problem, X0)`` of one outlier run: ``X0 = alpha B`` ``(n, k_max)``, columns ``rank..k_max`` zero."""
    problem, k_init, _ = _problem(setup, False, config["seed"], config["outliers"])
    k_max = max(setup.axes["rank"])
    return problem, sensing.small_init(k_init, problem, k_max, config["init_scale"]) * sensing.rank_mask(k_max, config["rank"])


def outlier_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """SubGM at one (rank, init_scale, outliers, seed): the error trace ``(T,)``."""
    del key  # common random numbers: a run's randomness is a function of its seed only
    t = _subgm(setup, *build_run(setup, config))
    return {"error": t.error, "diverged": t.diverged}


def noise_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """SubGM at one (rank, noise, seed) from the smallest init scale, no outliers."""
    problem, k_init, _ = _problem(setup, False, config["seed"], 0.0, config["noise"])
    k_max = max(setup.axes["rank"])
    x0 = sensing.small_init(k_init, problem, k_max, min(setup.axes["init_scale"]))
    t = _subgm(setup, problem, x0 * sensing.rank_mask(k_max, config["rank"]))
    return {"error": t.error, "diverged": t.diverged}


def dense_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """The dense problem from a small start (``start = 0``) or from ``M*`` + perturbation (``start = 1``)."""
    problem, k_init, k_pert = _problem(setup, True, config["seed"], config["dense_outliers"])
    k_max, r = max(setup.axes["dense_rank"]), setup.dense_r
    truth = jnp.zeros((setup.dense_n, k_max), problem.y.dtype).at[:, :r].set(problem.truth.factor)
    at_truth = sensing.small_init(k_pert, problem, k_max, setup.perturbation).at[:, :r].set(problem.truth.factor)
    small = sensing.small_init(k_init, problem, k_max, setup.dense_init)
    x0 = jnp.where(config["start"] == 1, at_truth, small) * sensing.rank_mask(k_max, config["dense_rank"])
    t = _subgm(setup, problem, x0)
    return {"error": t.error, "loss": t.loss, "truth_loss": sensing.l1_loss(problem, truth), "diverged": t.diverged}
