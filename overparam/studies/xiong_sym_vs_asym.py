"""Xiong, Ding & Du 2023: over-parameterisation slows GD in matrix sensing; asymmetry and imbalance restore it.

Sweeps ``main`` (symmetric ``X X^T``, asymmetric ``F G^T`` and balanced GD over rank x init_scale x
seed), ``curse`` (``F G^T`` on ``main``'s PSD target), ``population`` (the population operator) and
``example`` (the alpha lower bound); setups, sizes and claims in docs/studies/xiong-sym-vs-asym.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import overparam.study as st
import sensing
from overparam import analysis, plot
from overparam.sweep import seed_key
from sensing import theory, traces
from sensing.problem import Problem, SymmetricTruth, Truth, make_truth

FLOOR = 1e-11  # float64 round-off: errors below it are left out of every rate fit
TAIL = 1e-9  # tail-rate fits use FLOOR < error < TAIL, deep enough that the slowest mode dominates
RATE_WINDOW = (0.99, 1.06)  # measured / Gauss-Newton: >= 1 up to fit noise (the slowest mode); above it the
#   next slow modes of H still contribute a little (seen 1.001 to 1.044 at both sizes)
POP_TOL = 1e-3  # population tail vs asymmetric_tail_rate, exact in that limit: seen 2e-7 (quick), 1e-4 (paper)
EXPONENT_TOL = 0.2  # d log rate / d log alpha - 2: O(alpha^2) corrections (Gauss-Newton 1.99-2.1, seen 1.97-2.09)
FLAT_TOL = 0.25  # |d log rate / d log alpha| after balancing: seen <= 0.06 (both sizes)
POWER = (0.85, 1.0)  # local exponent p of e(t) ~ t^-p over the last doubling: the 1/t law gives
#   p = log2((1 + 2x) / (1 + x)) with x = eta s0 T, in [0.85, 1) once x >= 4


def _key(seed: jax.Array) -> jax.Array:
    """The start's key: a function of the seed alone (every bit of it), the same at every rank and scale."""
    return seed_key(jax.random.key(0), seed)


@functools.lru_cache(maxsize=4)
def _problems(n: int, r: int, m: int, seed: int, dtype: str) -> tuple[Problem, Problem, Problem, Problem]:
    """(sym, psd, gen, pop): ``U U^T`` as ``X X^T`` and ``F G^T`` through one Gaussian ``A``; ``L R^T``; its population."""
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


def _rates(da: xr.DataArray, dim: str, **window: float) -> xr.DataArray:
    """:func:`sensing.traces.fitted_rate` of every run's error (above the round-off FLOOR) along ``dim``."""
    return analysis.along(traces.fitted_rate, da, dim, floor=FLOOR, **window)


def gn_rates(ds: xr.Dataset, prefix: str, operator: object, setup: st.Setup) -> xr.DataArray:
    """``theory.gauss_newton_tail_rates`` at every run's final factors ``{prefix}_f``, ``{prefix}_g``."""
    grid = ds[f"{prefix}_f"].isel(row=0, col=0, drop=True)
    def stack(v: str) -> jax.Array:  # (runs, n, k_max)
        return jnp.asarray(ds[v].transpose(*grid.dims, "row", "col").values.reshape(grid.size, *ds[v].shape[-2:]))

    active = grid["rank"].broadcast_like(grid).values.ravel() if "rank" in grid.dims else None
    rates = theory.gauss_newton_tail_rates(setup.step_size, operator, stack(f"{prefix}_f"), stack(f"{prefix}_g"),
                                           setup.r, active)
    return grid.copy(data=np.asarray(rates).reshape(grid.shape))


def _exponents(rates: xr.DataArray) -> np.ndarray:
    """``d log rate / d log alpha`` per (rank, seed) of ``rates`` ``(rank, init_scale, seed)`` (paired starts)."""
    return analysis.log_slope(rates, "init_scale").transpose("rank", "seed").values.ravel()


def measure(data: Mapping[str, xr.Dataset], setup: st.Setup) -> dict[str, object]:
    """Fitted rates, their theory counterparts and the numbers every claim compares (arrays over the grid)."""
    main, curse, pop, ex = data["main"], data["curse"], data["population"], data["example"]
    over = main.sel(rank=[k for k in main["rank"].values if k > setup.r])
    alpha, steps, k_max = main.init_scale.values, main.step.values, _kmax(setup)
    _, psd, gen, _ = problems(setup)
    gn, gn_bal = gn_rates(over, "asym", gen.operator, setup), gn_rates(over, "bal", gen.operator, setup)
    asym = _rates(over.asym_error, "step", start=setup.steps / 10, ceiling=1e-3)  # the whole linear phase
    tail = _rates(over.asym_error, "step", ceiling=TAIL)  # NaN for runs that do not reach TAIL
    balanced = _rates(over.balanced_error, "step_after", start=over.step_after.values[1])
    half = int(np.argmin(np.abs(steps - steps[-1] / 2)))
    top = pop.sel(init_scale=sorted(alpha)[-2:]).isel(seed=slice(0, 2))
    pop_tail = _rates(top.pop_error, "step", ceiling=1e-4)
    curse_tail = _rates(curse.curse_error, "step", ceiling=TAIL)
    sym_kmax = main.sym_error.sel(rank=k_max)
    law = float(theory.symmetric_overparam_tail(steps[-1], setup.step_size, k_max - setup.r))
    law /= float(np.linalg.norm(problems(setup)[0].truth.matrix))
    ex_steps, a = ex.example_step.values, ex.init_scale.values[:, None]
    bound = math.sqrt((k_max - setup.r) / setup.r) * theory.spurious_mode_lower_bound(ex_steps, setup.step_size, a,
                                                                                       a / 3)
    ex_pred = np.asarray(theory.spurious_mode_rate(setup.step_size, a[:, 0], a[:, 0] / 3))
    ex_rate = np.asarray(traces.fitted_rate(ex.example_error.values, ex_steps, floor=FLOOR,
                                            ceiling=1e-3 * a * a / 3))  # once the mode fell 1000-fold
    exact = main.sel(rank=setup.r) if setup.r in main["rank"].values else None
    exact_final = max(exact.sym_error[..., -1].max(), exact.asym_error[..., -1].max()) if exact is not None else np.nan
    return {
        "sym_power": np.log2(over.sym_error[..., half] / over.sym_error[..., -1]).values,
        "asym_exponent": _exponents(tail), "gn_exponent": _exponents(gn),
        "unbalanced_exponent": _exponents(asym), "balanced_exponent": _exponents(balanced),
        "tail_over_gn": (tail / gn).values, "tail_over_d0": (tail / over.d0_rate).values,
        "balanced_over_gn": (balanced / gn_bal).values,
        "balanced_slowest": float(balanced.min()), "unbalanced_fastest": float(asym.max()),
        "exact_final": float(exact_final),
        "population_over_theory": (pop_tail / top.pop_rate).values,
        "population_over_d0": (pop_tail / top.pop_d0_rate).values,
        "curse_asym_final": curse.curse_error[..., -1].values, "curse_sym_final": sym_kmax[..., -1].values,
        "curse_sym_over_law": (sym_kmax[..., -1] / law).values,
        "curse_tail_over_gn": (curse_tail / gn_rates(curse, "curse", psd.operator, setup)).values,
        "example_over_bound": float(np.min(ex.example_error.values / bound)),
        "example_drift": (ex_pred - ex_rate) / (ex_pred * setup.step_size * a[:, 0] ** 2 / 16),
        "example_rate_over_alpha2": ex_rate / a[:, 0] ** 2,
        "gn_rate": gn.values, "gn_balanced_rate": gn_bal.values,
    }


def claims(m: Mapping[str, object], setup: st.Setup) -> list[st.Claim]:
    """The paper's statements as numbers (docs/studies/xiong-sym-vs-asym.md#claims)."""
    over = ", ".join(f"k={k}" for k in setup.axes["rank"] if k > setup.r)
    labels = tuple(f"k={k} seed={s}" for k in setup.axes["rank"] if k > setup.r for s in setup.axes["seed"])
    out = [
        st.Claim("sublinear", "symmetric over-parameterised GD is sublinear, e ~ 1/t: the error halves when t doubles",
                 m["sym_power"], "in", POWER,
                 detail=f"p = log2(e(T/2)/e(T)) per run ({over}); the 1/t law gives p -> 1 from below "
                        "(sensing.theory.symmetric_doubling_ratio); linear convergence gives p >> 1, "
                        "1/sqrt(t) p = 0.5"),
        st.Claim("alpha-squared", "asymmetric over-parameterised GD is linear at a rate ~ alpha^2",
                 m["asym_exponent"], "in", (2 - EXPONENT_TOL, 2 + EXPONENT_TOL), labels=labels,
                 detail="d log rate / d log alpha of the tail rates per rank and seed (the start's direction is "
                        f"the same at every alpha); Gauss-Newton prediction {analysis.span(m['gn_exponent'])}; rates "
                        f"fitted over the whole linear phase {analysis.span(m['unbalanced_exponent'])}"),
        st.Claim("rate-constant", "the asymmetric tail rate is -log(1 - eta lambda_+) of the Gauss-Newton matrix at "
                 "the limit (sensing.theory.gauss_newton_tail_rate)", analysis.finite(m["tail_over_gn"]), "in",
                 RATE_WINDOW, detail=f"measured / predicted per run reaching error < {TAIL:g}; "
                 f"eta lambda_min(D0) in its place: {analysis.span(m['tail_over_d0'])}"),
        st.Claim("population-tail", "in the population limit the tail rate is -log(1 - eta lambda_min(F^T F)) at the "
                 "final factors (sensing.theory.asymmetric_tail_rate)", m["population_over_theory"], "in",
                 (1 - POP_TOL, 1 + POP_TOL), detail="two largest alpha x two seeds, k = k_max; eta lambda_min(D0) "
                 f"in its place: {analysis.span(m['population_over_d0'])}"),
        st.Claim("balanced-flat", "after one balancing step the linear rate no longer depends on alpha",
                 m["balanced_exponent"], "in", (-FLAT_TOL, FLAT_TOL), labels=labels,
                 detail=f"d log rate / d log alpha after balancing, per rank and seed; rate / Gauss-Newton at the "
                        f"balanced limit {analysis.span(m['balanced_over_gn'])}"),
        st.Claim("balanced-faster", "the slowest balanced run is faster than the fastest unbalanced one",
                 m["balanced_slowest"] / m["unbalanced_fastest"], ">", 1.0, unit="x",
                 detail=f"slowest balanced rate {m['balanced_slowest']:.3g} / fastest unbalanced "
                        f"{m['unbalanced_fastest']:.3g} per step"),
        st.Claim("curse-asymmetric-linear", "F G^T fitted to a PSD target converges linearly, at the Gauss-Newton "
                 "tail rate", analysis.finite(m["curse_tail_over_gn"]), "in", RATE_WINDOW,
                 detail=f"tail rate / predicted per run reaching {TAIL:g} (k = k_max); final errors "
                        f"{analysis.span(m['curse_asym_final'])}"),
        st.Claim("curse-symmetric-sublinear", "X X^T on the same target, measurements, k and start is still on the 1/t "
                 "law: ||X X^T - M*||_F ~ sqrt(k - r) / (2 eta T)", m["curse_sym_over_law"], "in", (0.5, 2.0),
                 detail=f"final error / law (exact in the population limit; finite m lowers the curvature of the "
                        f"spurious directions); final errors {analysis.span(m['curse_sym_final'])} vs F G^T "
                        f"{analysis.span(m['curse_asym_final'])}"),
        st.Claim("alpha-lower-bound", "the alpha^2 in the rate cannot be removed: in the diagonal example the error "
                 "stays above sqrt((k-r)/r) (alpha^2/3) ((1 - eta alpha^2)(1 - eta alpha^2/9))^t",
                 m["example_over_bound"], ">=", 1.0, detail="smallest error / bound over every record and alpha "
                 "(sensing.theory.spurious_mode_lower_bound)"),
        st.Claim("alpha-example-rate", "the example's rate is -log(1 - eta (8/9) alpha^2) up to the proven drift of "
                 "the imbalance", m["example_drift"], "in", (-0.02, 1.02),
                 detail="(predicted - measured) / (predicted eta alpha^2 / 16), theory in [0, 1]; rate / alpha^2 "
                        + analysis.span(m["example_rate_over_alpha2"])),
    ]
    if np.isfinite(m["exact_final"]):
        out.append(st.Claim("exact-linear", "exact parameterisation (k = r) converges linearly, symmetric and "
                            "asymmetric", m["exact_final"], "<", 1e-9, unit="relative error",
                            detail="largest final error over k = r runs"))
    return out


def figures(data: Mapping[str, xr.Dataset], setup: st.Setup, measured: Mapping[str, object]) -> list[st.Figure]:
    """Errors against steps with their theory, rates against alpha, the curse of symmetry, the lower-bound example."""
    main, curse, ex = data["main"], data["curse"], data["example"]
    k_max, eta, r, rel = _kmax(setup), setup.step_size, setup.r, "||X X^T - M*||_F / ||M*||_F"
    sel, steps = main.sel(rank=k_max), main.step.values.astype(float)
    over = main.sel(rank=[k for k in main["rank"].values if k > r])
    gn = over.d0_rate.copy(data=np.asarray(measured["gn_rate"]))
    fig, axes = plot.figure(1, 3, width=4.6)
    for i, a in enumerate(main.init_scale.values):
        kw = {"label": f"alpha = {a:g}", "color": f"C{i}"}
        plot.log_band(axes[0, 0], sel.sym_error.sel(init_scale=a).isel(step=slice(1, None)), **kw)
        plot.log_band(axes[0, 1], sel.asym_error.sel(init_scale=a), **kw)
        plot.log_band(axes[0, 2], sel.balanced_error.sel(init_scale=a), x="step_after", **kw)
        centre = plot.geometric_mean_band(sel.asym_error.sel(init_scale=a))[0].values  # what log_band draws
        start = int(np.argmax(centre < 100 * TAIL))  # anchored where the tail starts; mean rate over seeds
        line = centre[start] * np.exp(-float(gn.sel(rank=k_max, init_scale=a).mean()) * (steps - steps[start]))
        keep = (steps >= steps[start]) & (line > FLOOR)
        plot.theory_line(axes[0, 1], steps[keep], line[keep], "", color=kw["color"])
    norm = float(np.linalg.norm(problems(setup)[0].truth.matrix))
    plot.theory_line(axes[0, 0], steps[1:], theory.symmetric_overparam_tail(steps[1:], eta, k_max - r) / norm,
                     "sqrt(k-r) / (2 eta t ||M*||_F)")
    plot.finish(axes[0, 0], title=f"symmetric X X^T, k = {k_max} > r = {r}", xlabel="step t", ylabel=rel, xscale="log")
    plot.finish(axes[0, 1], title=f"asymmetric F G^T, k = {k_max} (dashed: Gauss-Newton rate)", xlabel="step t",
                ylabel=rel)
    plot.finish(axes[0, 2], title=f"after balancing at t = {setup.rebalance_at}", xlabel="steps after balancing",
                ylabel=rel)
    out = [st.Figure("error_vs_step", fig, f"Relative error against GD step at k = {k_max} (geometric mean over "
                     "seeds, band: quartiles). Left: symmetric GD against the 1/t law sqrt(k-r)/(2 eta t). Middle: "
                     "asymmetric GD against exp(-rate t) at the Gauss-Newton tail rate. Right: after one balancing "
                     "step.", sel[["sym_error", "asym_error", "balanced_error"]].drop_vars("rank"))]
    fig, axes = plot.figure(1, 1, width=5.4)
    rates = xr.Dataset({"asym_rate": _rates(over.asym_error, "step", ceiling=TAIL),
                        "balanced_rate": _rates(over.balanced_error, "step_after", start=over.step_after.values[1]),
                        "gn_rate": gn, "d0_rate": over.d0_rate})
    alpha, mean = rates.init_scale.values, lambda v: plot.geometric_mean_band(v)[0]
    for j, k in enumerate(rates["rank"].values):
        c, at = f"C{j}", rates.sel(rank=k)
        plot.log_error_bars(axes[0, 0], alpha, at.asym_rate, f"asymmetric tail, k = {k}", color=c)
        plot.log_error_bars(axes[0, 0], alpha, at.balanced_rate, f"balanced, k = {k}", fmt="s", color=c)
        plot.theory_line(axes[0, 0], alpha, mean(at.gn_rate), f"Gauss-Newton, k = {k}", color=c)
        plot.theory_line(axes[0, 0], alpha, mean(at.d0_rate), "" if j else "eta lambda_min(D0)", color=c, linestyle=":")
    plot.finish(axes[0, 0], legend=6, xlabel="init scale alpha", ylabel="linear rate per step",
                title="rate ~ alpha^2; balanced: flat")
    out.append(st.Figure("rates", fig, "Linear rate per step against the init scale (geometric mean over seeds, "
                         "bars: quartiles): the tail rate of asymmetric GD (circles, errors below 1e-9) against "
                         "the Gauss-Newton tail rate (dashed) and eta lambda_min(D0) (dotted); after one balancing "
                         "step (squares).", rates))
    fig, axes = plot.figure(1, 1, width=5.4)
    for i, a in enumerate(curse.init_scale.values):
        plot.log_band(axes[0, 0], sel.sym_error.sel(init_scale=a), label=f"X X^T, alpha = {a:g}", color=f"C{i}",
                      linestyle="--")
        plot.log_band(axes[0, 0], curse.curse_error.sel(init_scale=a), label=f"F G^T, alpha = {a:g}", color=f"C{i}")
    plot.finish(axes[0, 0], xlabel="step t", ylabel="||. - M*||_F / ||M*||_F", title=f"PSD target, k = {k_max} > r = {r}")
    out.append(st.Figure("curse_of_symmetry", fig, "The curse of symmetry: the same PSD target, measurements, k and "
                         "start fitted as X X^T (dashed, sublinear) and as F G^T (solid, linear down to round-off).",
                         xr.Dataset({"sym_error": sel.sym_error, "curse_error": curse.curse_error})))
    fig, axes = plot.figure(1, 1, width=5.4)
    t = ex.example_step.values.astype(float)
    for i, a in enumerate(ex.init_scale.values):
        axes[0, 0].semilogy(t, ex.example_error.sel(init_scale=a), color=f"C{i}", label=f"alpha = {a:g}")
        bound = math.sqrt((k_max - r) / r) * theory.spurious_mode_lower_bound(t, eta, a, a / 3)
        plot.theory_line(axes[0, 0], t, bound, "", color=f"C{i}")
    plot.finish(axes[0, 0], xlabel="step t", ylabel="relative error", ylim=(FLOOR / 10, 2),
                title="diagonal example: error >= bound")
    out.append(st.Figure("alpha_lower_bound", fig, "The diagonal example (sensing.theory.lower_bound_example): "
                         "relative error against step (solid) and the lower bound sqrt((k-r)/r) (alpha^2/3) ((1 - eta "
                         "alpha^2)(1 - eta alpha^2/9))^t (dashed): no rate above (10/9) eta alpha^2.", ex))
    return out


def check(setup: st.Setup) -> None:
    """Cross-checks of settings and axes, before anything compiles."""
    ranks, n, r = setup.axes["rank"], setup.n, setup.r
    if r > n or any(not r <= k <= n for k in ranks) or not any(k > r for k in ranks):
        raise ValueError(f"rank={ranks} must lie in [r={r}, n={n}] with at least one k > r (over-parameterised)")
    for name, every in (("steps", "record_every"), ("rebalance_at", "record_every"), ("after_steps", "after_every")):
        if setup[name] % setup[every]:
            raise ValueError(f"{name}={setup[name]} must be a multiple of {every}={setup[every]}")
    if setup.rebalance_at >= setup.steps:
        raise ValueError(f"rebalance_at={setup.rebalance_at} must be below steps={setup.steps}")


STEPS = {"step": lambda s: np.arange(0, s.steps + 1, s.record_every)}


def factors(*prefixes: str) -> dict[str, tuple[str, str]]:
    """Output dims of final factors ``{prefix}_f``, ``{prefix}_g``: ``(row, col)`` matrices ``(n, k_max)``."""
    return {f"{p}_{x}": ("row", "col") for p in prefixes for x in "fg"}
STUDY = st.Study(
    name="xiong-sym-vs-asym", paper="Xiong, Ding & Du 2023", link="https://arxiv.org/abs/2310.01769",
    description="symmetric GD sublinear, asymmetric linear ~ alpha^2 at the Gauss-Newton rate, balancing, curse "
                "of symmetry, alpha lower bound",
    settings={
        "n": st.Setting(12, paper=30, low=2, doc="M* is n x n"),
        "r": st.Setting(1, paper=2, low=1, doc="rank of M*"),
        "m": st.Setting(500, paper=1500, low=1, doc="Gaussian measurements"),
        "step_size": st.Setting(0.25, low=0.0, low_open=True, high=0.5, doc="GD step eta (||M*||_2 = 1)"),
        "steps": st.Setting(6000, paper=8000, low=1, doc="GD steps"),
        "record_every": st.Setting(30, paper=50, low=1, doc="steps between records"),
        "rebalance_at": st.Setting(600, low=1, doc="the balancing step follows this many steps"),
        "after_steps": st.Setting(90, paper=150, low=1, doc="steps recorded after balancing"),
        "after_every": st.Setting(3, low=1, doc="steps between records after balancing"),
        "problem_seed": st.Setting(2023, low=0, high=st.spec.SEED_LIMIT, doc="draws M* and the measurements"),
    },
    axes={"rank": st.Axis((1, 3), paper=(2, 3, 4, 6), integer=True, low=1, doc="columns k of the factors"),
          "init_scale": st.Axis((0.2, 0.28, 0.4), paper=(0.14, 0.2, 0.28, 0.4), low=0.0, low_open=True,
                                high=1.0, min_count=2, doc="alpha: F0 at alpha, G0 at alpha / 3"),
          "seed": st.seeds(2, paper=4, doc="draws the start")},
    sweeps={
        "main": st.Sweep(main_point, out_dims={"sym_error": ("step",), "asym_error": ("step",),
                                               "balanced_error": ("step_after",), **factors("asym", "bal")},
                         out_coords=lambda s: {"step": STEPS["step"](s),
                                               "step_after": np.arange(0, s.after_steps + 1, s.after_every)}),
        "curse": st.Sweep(curse_point, axes=("init_scale", "seed"), out_dims={"curse_error": ("step",),
                                                                              **factors("curse")},
                          out_coords=lambda s: {"step": STEPS["step"](s)}),
        "population": st.Sweep(population_point, axes=("init_scale", "seed"), out_dims={"pop_error": ("step",)},
                               out_coords=lambda s: {"step": STEPS["step"](s)}),
        "example": st.Sweep(example_point, axes=("init_scale",), out_dims={"example_error": ("example_step",)},
                            out_coords=lambda s: {"example_step": np.arange(0, example_steps(s) + 1,
                                                                            example_steps(s) // 200)}),
    },
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
