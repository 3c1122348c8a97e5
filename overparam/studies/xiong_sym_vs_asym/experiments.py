"""The experiments of the xiong-sym-vs-asym study: its problems and the points of its four sweeps.

``main`` (symmetric ``X X^T``, asymmetric ``F G^T`` and balanced GD at one rank, init scale and
seed), ``curse`` (``F G^T`` on ``main``'s PSD target), ``population`` (the population operator) and
``example`` (the diagonal example of docs/sensing.md#alpha-lower-bound).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp

import overparam.study as st
import sensing
from overparam.sweep import seed_key
from sensing import theory
from sensing.problem import Problem, SymmetricTruth, Truth, make_truth

FLOOR = 1e-11  # float64 round-off: errors below it are left out of every rate fit


def _key(seed: jax.Array) -> jax.Array:
    """The start's key: a function of the seed alone (every bit of it), the same at every rank and scale."""
    return seed_key(jax.random.key(0), seed)


@functools.lru_cache(maxsize=4)
def _problems(n: int, r: int, m: int, seed: int, dtype: str) -> tuple[Problem, Problem, Problem, Problem]:
    """(sym, psd, gen, pop): ``U U^T`` as ``X X^T`` and as ``F G^T`` through one Gaussian ``A``; ``L R^T``;
    the population operator on ``L R^T``."""
    with jax.ensure_compile_time_eval():  # concrete constants: every run of a chunk shares them (one GEMM)
        k_psd, k_gen = jax.random.split(jax.random.key(seed))
        gen = sensing.make_problem(k_gen, n=n, rank=r, m=m, symmetric=False, dtype=dtype)
        pop = sensing.make_problem(k_gen, n=n, rank=r, operator="population", symmetric=False, dtype=dtype)
        op = sensing.make_problem(k_psd, n=n, rank=r, m=m, symmetric=False, dtype=dtype).operator
        u = make_truth(k_psd, n, r, True, 1.0, n, jnp.dtype(dtype)).factor
        y = sensing.measure(op, u)
        return Problem(op, y, SymmetricTruth(u, u @ u.T)), Problem(op, y, Truth(u, u, u @ u.T)), gen, pop


def problems(setup: st.Setup) -> tuple[Problem, Problem, Problem, Problem]:
    """The study's four problems at ``setup`` (see ``_problems``), in the current precision."""
    return _problems(setup.n, setup.r, setup.m, setup.problem_seed, jnp.zeros(()).dtype.name)


def _kmax(setup: st.Setup) -> int:
    return int(max(setup.axes["rank"]))


def example_steps(setup: st.Setup) -> int:
    """Steps of the ``example`` sweep: the smallest alpha's mode falls from ``alpha^2/3`` to ``FLOOR``, plus 10 %."""
    a = min(setup.axes["init_scale"])
    t = math.log(a * a / 3 / FLOOR) / -math.log1p(-setup.step_size * a * a * 8 / 9)  # spurious_mode_rate, in Python
    return 200 * math.ceil(1.1 * t / 200)


def main_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """Symmetric, asymmetric and balanced GD at one (rank, init_scale, seed); the final factors for ``measure``."""
    sym, _, gen, _ = problems(setup)
    k_max, eta, every = _kmax(setup), setup.step_size, setup.record_every
    mask = sensing.rank_mask(k_max, config["rank"])
    k_sym, k_asym = jax.random.split(_key(config["seed"]))
    x0 = sensing.small_init(k_sym, sym, k_max, config["init_scale"]) * mask
    f0, g0 = sensing.apply_mask(sensing.small_init(k_asym, gen, k_max, config["init_scale"]), mask)
    gd = sensing.gd(eta)
    t_sym = sensing.run(gd, sym, x0, steps=setup.steps, record_every=every)
    t_one = sensing.run(gd, gen, (f0, g0), steps=setup.rebalance_at, record_every=every)
    t_two = sensing.run(gd, gen, t_one.final, steps=setup.steps - setup.rebalance_at, record_every=every)
    t_bal = sensing.run(gd, gen, sensing.rebalance(*t_one.final), steps=setup.after_steps,
                        record_every=setup.after_every)
    return {"sym_error": t_sym.error, "asym_error": jnp.concatenate([t_one.error, t_two.error[1:]]),
            "balanced_error": t_bal.error, "d0_rate": theory.masked_asymmetric_rate(eta, f0, g0, mask),
            "asym_f": t_two.final[0], "asym_g": t_two.final[1], "bal_f": t_bal.final[0], "bal_g": t_bal.final[1],
            "diverged": t_sym.diverged | t_one.diverged | t_two.diverged | t_bal.diverged}


def curse_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """``F G^T`` on the PSD target of ``main``'s symmetric runs, ``k = k_max``, ``F0`` equal to their ``X0``."""
    _, psd, _, _ = problems(setup)
    k_sym, _ = jax.random.split(_key(config["seed"]))
    f0, g0 = sensing.small_init(k_sym, psd, _kmax(setup), config["init_scale"])
    t = sensing.run(sensing.gd(setup.step_size), psd, (f0, g0), steps=setup.steps, record_every=setup.record_every)
    return {"curse_error": t.error, "curse_f": t.final[0], "curse_g": t.final[1], "diverged": t.diverged}


def population_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """Asymmetric GD with the population operator (``Z = F G^T - M*``) from ``main``'s start at ``k_max``."""
    _, _, _, pop = problems(setup)
    _, k_asym = jax.random.split(_key(config["seed"]))
    f0, g0 = sensing.small_init(k_asym, pop, _kmax(setup), config["init_scale"])
    t = sensing.run(sensing.gd(setup.step_size), pop, (f0, g0), steps=setup.steps, record_every=setup.record_every)
    return {"pop_error": t.error, "pop_rate": theory.asymmetric_tail_rate(setup.step_size, *t.final),
            "pop_d0_rate": theory.asymmetric_rate(setup.step_size, f0, g0)}


def example_point(config: Mapping[str, jax.Array], key: jax.Array, setup: st.Setup) -> dict[str, jax.Array]:
    """GD on ``theory.lower_bound_example(n, r, k_max, alpha)``: the relative error every ``example_steps / 200``."""
    problem, x0 = theory.lower_bound_example(setup.n, setup.r, _kmax(setup), config["init_scale"])
    steps = example_steps(setup)
    return {"example_error": sensing.run(sensing.gd(setup.step_size), problem, x0, steps=steps,
                                         record_every=steps // 200).error}
