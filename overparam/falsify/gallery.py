"""A gallery of conjectures from the three research areas, true and false, each a margin and a space.

Every entry is a :class:`Conjecture`: a statement, its source, a pure margin (``>= 0`` where the
statement holds), the space it is claimed on, whether it holds, and the budget it is searched
with. The margins use the library (``sensing``, ``randfeat``, ``bounds``) at small, fixed sizes,
so a search compiles once per stage. Each margin function carries its space as ``.space``, so the
command line needs no ``--param``::

    overparam falsify overparam.falsify.gallery:monotone_error_margin --budget 1500

``CONJECTURES`` maps each name to its entry; ``docs/falsify.md`` shows them as examples and
``tests/falsify/test_gallery.py`` searches every one.

Sizes (module constants): mixtures ``K = 12`` Bernoulli hypotheses on the midpoint grid
``theta_k = (k + 1/2) / K`` and ``n <= 32`` samples; random features ``M = 200`` power-law modes;
sensing ``n = 8`` (``6`` for SubGM), rank-1 truth, ``m = 100`` (``80``) Gaussian measurements,
``k_max = 3`` columns, one problem drawn once and ``SEEDS = 8`` initial directions (and outlier
draws for SubGM): runs share the operator, so a vmapped chunk applies it as one GEMM.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import bounds
import randfeat
import sensing
from overparam.falsify.space import Integer, Real
from sensing.problem import sample_noise

__all__ = ["CONJECTURES", "Conjecture"]


class Conjecture(NamedTuple):
    """One gallery entry.

    name: identifier (the key in ``CONJECTURES``). area: ``"bounds"``, ``"randfeat"`` or
    ``"sensing"``. statement: the conjecture in words. source: where it comes from (a theorem, a
    paper, a folklore belief). margin: ``params -> scalar``, ``>= 0`` where it holds. space: the
    box it is claimed on. holds: ``True`` for a theorem (no counterexample exists), ``False``
    when a counterexample is known. budget: the search budget (a false one is found within it).
    settings: further keyword arguments of :func:`overparam.falsify.falsify`. note: what the
    counterexample or the search shows.
    """

    name: str
    area: str
    statement: str
    source: str
    margin: Callable[[dict[str, jax.Array]], jax.Array]
    space: dict[str, Any]
    holds: bool
    budget: int
    settings: dict[str, Any]
    note: str


CONJECTURES: dict[str, Conjecture] = {}


def _register(name: str, *, area: str, statement: str, source: str, space: dict[str, Any], holds: bool,
              budget: int, note: str, **settings: Any) -> Callable[[Callable], Callable]:
    def wrap(margin: Callable) -> Callable:
        margin.space = space  # type: ignore[attr-defined]
        CONJECTURES[name] = Conjecture(name, area, statement, source, margin, space, holds, budget, settings, note)
        return margin

    return wrap


# ============================================================================= bounds: mixture regret

K_HYPOTHESES = 12
N_SAMPLES = 32
THETA = (np.arange(K_HYPOTHESES) + 0.5) / K_HYPOTHESES
PRIOR_SPACE = {"a": Real(0.1, 10.0, log=True), "b": Real(0.1, 10.0, log=True)}


def _bernoulli_class(a: jax.Array, b: jax.Array) -> bounds.FiniteAlphabetClass:
    """Bernoulli(theta_k) on the midpoint grid with Beta-shaped prior ``w_k ~ theta_k^(a-1) (1-theta_k)^(b-1)``."""
    theta = jnp.asarray(THETA)
    log_w = (a - 1.0) * jnp.log(theta) + (b - 1.0) * jnp.log1p(-theta)
    log_probs = jnp.stack([jnp.log1p(-theta), jnp.log(theta)], axis=-1)
    return bounds.FiniteAlphabetClass(log_probs, log_w - jax.nn.logsumexp(log_w))


def _truth(p1: jax.Array) -> jax.Array:
    return jnp.stack([1.0 - p1, p1])


@_register(
    "weight_bound", area="bounds", holds=True, budget=100_000,
    statement="The exact mixture regret is at most the weight bound: D_n <= min_eps [n eps - log W_eps], "
              "W_eps the prior weight of the KL ball of radius eps around the truth",
    source="Barron's index of resolvability; Feder, Urbanke & Fogel 2025 (the universality lens); "
           "docs/bounds.md#weight-bound",
    space={**PRIOR_SPACE, "p0": Real(0.01, 0.99), "n": Integer(1, N_SAMPLES)},
    note="holds for any truth p0, inside the class or not; in 10^5 points the smallest margin, 0.018, "
         "is at a corner: n = 32, the prior piled up near theta = 1 (a = 10, b = 0.1), the truth p0 = 0.99")
def weight_bound_margin(p: dict[str, jax.Array]) -> jax.Array:
    """``min_eps [n eps - log W_eps] - D_n`` with ``D_n = sum_{t <= n} r_t`` (``bounds.per_step_regret``)."""
    cls = _bernoulli_class(p["a"], p["b"])
    truth = _truth(p["p0"])
    d_n = jnp.cumsum(bounds.per_step_regret(cls, truth, N_SAMPLES))[p["n"] - 1]
    bound = bounds.weight_bound(cls.log_prior, bounds.kl_to_truth(cls, truth), p["n"].astype(jnp.float64))
    return bound.minimum - d_n


@_register(
    "barron_prior_bound", area="bounds", holds=True, budget=100_000,
    statement="For a truth inside a finite class, D_n <= -log w(theta0)",
    source="Barron 1988; docs/bounds.md#finite-class-bound",
    space={**PRIOR_SPACE, "truth": Integer(0, K_HYPOTHESES - 1), "n": Integer(1, N_SAMPLES)},
    note="the bound is the n -> infinity limit of D_n; in 10^5 points the smallest margin, 0.11, is at "
         "n = 32 for the truth theta_0 = 1/24 under the prior piled up near 0 (a = 0.1, b = 10)")
def barron_prior_margin(p: dict[str, jax.Array]) -> jax.Array:
    """``-log w(theta_j) - D_n`` for the truth ``theta_j`` of the class."""
    cls = _bernoulli_class(p["a"], p["b"])
    truth = _truth(jnp.asarray(THETA)[p["truth"]])
    d_n = jnp.cumsum(bounds.per_step_regret(cls, truth, N_SAMPLES))[p["n"] - 1]
    return -cls.log_prior[p["truth"]] - d_n


@_register(
    "per_step_regret_monotone", area="bounds", holds=False, budget=2_000,
    statement="The per-step regret r_t = E D(p0 || q(.|x^{t-1})) of a fixed truth decreases in t",
    source="a folklore belief; only the Bayes average over the prior is monotone (docs/bounds.md#mixture-regret)",
    space={**PRIOR_SPACE, "p0": Real(0.01, 0.99)},
    note="false: with a U-shaped prior (a, b < 1) and a truth in the middle the predictive first "
         "moves toward the prior's mass, so r_t rises before it falls")
def per_step_regret_monotone_margin(p: dict[str, jax.Array]) -> jax.Array:
    """``min_t (r_t - r_{t+1})`` over ``t = 1..31``."""
    r = bounds.per_step_regret(_bernoulli_class(p["a"], p["b"]), _truth(p["p0"]), N_SAMPLES)
    return jnp.min(r[:-1] - r[1:])


# ============================================================================= randfeat: eigenframework risk

N_MODES = 200  # power-law modes; n, k <= 128 stay well below
N_MODES_RIDGELESS = 2000  # the obligatory-overfitting closed form is an M -> infinity statement: n << M
RF_SPACE = {"alpha": Real(1.2, 3.0), "beta": Real(1.2, 3.0), "noise": Real(0.0, 0.5)}
RIDGE_TOLERANCE = 1e-9  # relative; optimal_ridge's grid + golden-section search and rf_risk's root reach ~1e-12


def _power_law(p: dict[str, jax.Array], modes: int = N_MODES) -> randfeat.Task:
    """Power-law task ``lambda_i = i^-alpha``, ``v_i^2 = i^-beta``, noise variance ``sigma^2``, ``modes`` modes."""
    i = jnp.arange(1, modes + 1, dtype=jnp.float64)
    return randfeat.make_task(i ** (-p["alpha"]), i ** (-0.5 * p["beta"]), p["noise"])


@_register(
    "more_is_better", area="randfeat", holds=True, budget=100_000,
    statement="At the optimal ridge the predicted test risk does not increase with the number of samples n "
              "or of features k",
    source="Simon, Karkada, Ghosh & Belkin 2023 ('More is better'), Thm 1; docs/randfeat.md#more-is-better",
    space={**RF_SPACE, "n": Integer(8, 128), "k": Integer(8, 128)},
    note="relative margin min(R(n,k) - R(n+1,k), R(n,k) - R(n,k+1)) / R(n,k) plus 1e-9, the accuracy "
         "of optimal_ridge's grid and golden-section search")
def more_is_better_margin(p: dict[str, jax.Array]) -> jax.Array:
    """``min(R*(n, k) - R*(n + 1, k), R*(n, k) - R*(n, k + 1)) / R*(n, k) + 1e-9``, ``R*`` the
    risk at the optimal ridge (``randfeat.optimal_ridge``)."""
    n, k = p["n"].astype(jnp.float64), p["k"].astype(jnp.float64)
    risk = randfeat.optimal_ridge(_power_law(p), jnp.stack([n, n + 1.0, n]), jnp.stack([k, k, k + 1.0])).risk.test
    return jnp.minimum(risk[0] - risk[1], risk[0] - risk[2]) / risk[0] + RIDGE_TOLERANCE


RIDGES = np.concatenate([[0.0], np.logspace(-6, 2, 15)])


@_register(
    "ridgeless_never_optimal", area="randfeat", holds=False, budget=4_000,
    statement="Some positive ridge always beats the ridgeless (interpolating) kernel ridge regressor",
    source="the classical bias-variance intuition; refuted by 'More is better' Sec. 5 (overfitting is "
           "obligatory, docs/randfeat.md#overfitting-threshold)",
    space={**RF_SPACE, "n": Integer(16, 128)},
    note="false where beta > alpha and the noise is small: there the closed form "
         "randfeat.overfitting_threshold(alpha, beta) > sigma_rel^2 says interpolation is optimal")
def ridgeless_never_optimal_margin(p: dict[str, jax.Array]) -> jax.Array:
    """``(R(0) - min_delta R(delta)) / R(0) + 1e-9`` over ``delta`` in ``logspace(-6, 2, 15)`` (kernel
    ridge regression, k = inf, 2000 modes)."""
    task = _power_law(p, N_MODES_RIDGELESS)
    risk = randfeat.rf_risk(task, p["n"].astype(jnp.float64), jnp.inf, jnp.asarray(RIDGES)).test
    return (risk[0] - jnp.min(risk[1:])) / risk[0] + RIDGE_TOLERANCE


@_register(
    "more_features_never_hurt", area="randfeat", holds=False, budget=2_000,
    statement="At a fixed ridge, one more random feature never raises the predicted test risk",
    source="a folklore belief; false near interpolation (k close to n, small ridge), the double-descent peak",
    space={**RF_SPACE, "n": Integer(8, 128), "k": Integer(8, 128), "ridge": Real(1e-6, 1.0, log=True)},
    note="false below the interpolation peak k < n at a small ridge, where the variance factor E0 grows with k")
def more_features_never_hurt_margin(p: dict[str, jax.Array]) -> jax.Array:
    """``(R(n, k, delta) - R(n, k + 1, delta)) / R(n, k, delta)`` (``randfeat.rf_risk``)."""
    k = p["k"].astype(jnp.float64)
    risk = randfeat.rf_risk(_power_law(p), p["n"].astype(jnp.float64), jnp.stack([k, k + 1.0]), p["ridge"]).test
    return (risk[0] - risk[1]) / risk[0]


# ============================================================================= sensing: gradient methods

SEEDS = 8
SENSING_N, SENSING_M, K_MAX = 8, 100, 3
TAIL_FROM, SENSING_STEPS = 100, 200
RISE_TOLERANCE = 1e-12  # absolute; the relative error is computed to about 1e-15 (float64, entries of size 1)


def _per_seed(build: Callable[[jax.Array], Any]) -> Any:
    """``build(seed)`` for seed = 0..SEEDS-1, stacked leaf by leaf: one compiled call per seed, run
    concretely even when first asked for inside a trace (the margins close over the result)."""
    with jax.ensure_compile_time_eval():
        fn = jax.jit(build)
        return jax.tree.map(lambda *a: jnp.stack(a), *[fn(jnp.asarray(s)) for s in range(SEEDS)])


@functools.cache
def _gd_problem() -> tuple[sensing.Problem, jax.Array]:
    """The rank-1 problem of ``key(2023)`` and, per seed s (stacked), the direction B of an init
    drawn from ``fold_in(key(2024), s)``. Every run shares the operator, so a vmapped chunk applies
    it as one matrix-matrix product."""
    with jax.ensure_compile_time_eval():
        problem = jax.jit(lambda k: sensing.make_problem(k, n=SENSING_N, rank=1, m=SENSING_M))(jax.random.key(2023))
    directions = _per_seed(lambda s: sensing.small_init(jax.random.fold_in(jax.random.key(2024), s), problem, K_MAX, 1.0))
    return problem, directions


def _errors(alg: sensing.Algorithm, problem: sensing.Problem, x0: jax.Array, steps: int) -> jax.Array:
    """``(steps + 1,)`` relative errors ``||X_t X_t^T - M*||_F / ||M*||_F``, t = 0..steps (``alg.step``)."""
    def body(state, _):
        state = alg.step(state, problem)
        return state, sensing.relative_error(problem, state.x)

    _, errors = jax.lax.scan(body, alg.init(x0), None, length=steps)
    return jnp.concatenate([sensing.relative_error(problem, x0)[None], errors])


@_register(
    "monotone_error", area="sensing", holds=False, budget=1_500,
    statement="Symmetric over-parameterised GD (k > r) from a small init: the error ||X X^T - M*||_F decreases "
              "monotonically after the first 100 steps",
    source="a natural reading of Xiong, Ding & Du 2023 (the symmetric tail is sublinear but smooth; "
           "docs/sensing.md#symmetric-overparam-tail)",
    space={"seed": Integer(0, SEEDS - 1), "rank": Integer(2, K_MAX), "alpha": Real(1e-3, 1e-1, log=True),
           "eta": Real(0.05, 0.25)},
    steps=8, shrink_starts=2, shrink_passes=2,
    note="false: the error rises by up to ~1e-6 between steps 100 and 200 (a first report saw a rise of "
         "4e-8 at step 140 for seed 1, rank 2, alpha 6.7e-3, eta 0.135); GD descends the empirical loss, "
         "not the error to M*")
def monotone_error_margin(p: dict[str, jax.Array]) -> jax.Array:
    """``min_{100 <= t < 200} (e_t - e_{t+1}) + 1e-12`` for GD (``sensing.gd``) from ``alpha B_seed`` with
    ``rank`` columns of ``k_max = 3``, on the fixed problem of :func:`_gd_problem`."""
    problem, directions = _gd_problem()
    x0 = p["alpha"] * directions[p["seed"]] * sensing.rank_mask(K_MAX, p["rank"])
    tail = _errors(sensing.gd(p["eta"]), problem, x0, SENSING_STEPS)[TAIL_FROM:]
    return jnp.min(tail[:-1] - tail[1:]) + RISE_TOLERANCE


SUBGM_N, SUBGM_M, SUBGM_STEPS, SUBGM_TARGET, SUBGM_SPREAD = 6, 80, 300, 1e-2, 1.3


@functools.cache
def _subgm_problem() -> tuple[sensing.Problem, jax.Array, jax.Array]:
    """The clean rank-1 problem of ``key(2022)``; per seed (stacked) an init direction and the key
    of the outliers (``fold_in(key(2025), s)``, split in two)."""
    with jax.ensure_compile_time_eval():
        problem = jax.jit(lambda k: sensing.make_problem(k, n=SUBGM_N, rank=1, m=SUBGM_M))(jax.random.key(2022))

    def build(s: jax.Array) -> tuple[jax.Array, jax.Array]:
        k_init, k_noise = jax.random.split(jax.random.fold_in(jax.random.key(2025), s))
        return sensing.small_init(k_init, problem, K_MAX, 1.0), k_noise

    directions, keys = _per_seed(build)
    return problem, directions, keys


def _iterations_to(errors: jax.Array, target: float) -> jax.Array:
    """First step with ``error <= target`` (``len(errors)`` when never)."""
    hit = errors <= target
    return jnp.where(jnp.any(hit), jnp.argmax(hit), errors.shape[0]).astype(jnp.float64)


@_register(
    "subgm_rank_independence", area="sensing", holds=False, budget=2_000,
    statement="SubGM from a small init (alpha <= 1e-3) under outliers: for every problem and init, the "
              "iterations to reach error 1e-2 with k = 3 columns are within a factor 1.3 of those with k = r = 1",
    source="Ma & Fattahi 2022 (over-parameterised SubGM behaves like the exactly parameterised one, "
           "docs/sensing.md#subgm-claims); the ma-fattahi-subgm study bounds the median over seeds and outlier "
           "fractions of t(k) / t(r) (to error 1e-3) by 1.15",
    space={"seed": Integer(0, SEEDS - 1), "rank": Integer(2, K_MAX), "alpha": Real(1e-6, 1e-3, log=True),
           "eta": Real(0.1, 0.5), "decay": Real(0.98, 0.995), "outliers": Real(0.0, 0.2)},
    steps=8, shrink_starts=2, shrink_passes=2,
    note="false pointwise: the extra columns change how fast the init escapes, by a factor up to ~3; "
         "the paper's statement (and the study's claim) is about the typical, median run")
def subgm_rank_independence_margin(p: dict[str, jax.Array]) -> jax.Array:
    """``1.3 - max(t_k / t_r, t_r / t_k)``, ``t`` the iterations of ``sensing.subgm`` to error 1e-2."""
    problem, directions, keys = _subgm_problem()
    problem = problem._replace(y=problem.y + sample_noise(keys[p["seed"]], sensing.outliers(p["outliers"]), problem.y))
    alg = sensing.subgm(p["eta"], p["decay"])
    b = p["alpha"] * directions[p["seed"]]
    t_r = _iterations_to(_errors(alg, problem, b * sensing.rank_mask(K_MAX, 1), SUBGM_STEPS), SUBGM_TARGET)
    t_k = _iterations_to(_errors(alg, problem, b * sensing.rank_mask(K_MAX, p["rank"]), SUBGM_STEPS), SUBGM_TARGET)
    t_r, t_k = jnp.maximum(t_r, 1.0), jnp.maximum(t_k, 1.0)
    return SUBGM_SPREAD - jnp.maximum(t_k / t_r, t_r / t_k)
