"""The xiong-sym-vs-asym study's measurements and claims (docs/studies/xiong-sym-vs-asym.md#claims)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import overparam.study as st
from overparam import analysis
from overparam.studies.xiong_sym_vs_asym.experiments import FLOOR, _kmax, problems
from sensing import theory, traces

TAIL = 1e-9  # tail-rate fits use FLOOR < error < TAIL, deep enough that the slowest mode dominates
RATE_WINDOW = (0.99, 1.06)  # measured / Gauss-Newton: >= 1 up to fit noise (the slowest mode); above it the
#   next slow modes of H still contribute a little (seen 1.001 to 1.044 at both sizes)
POP_TOL = 1e-3  # population tail vs asymmetric_tail_rate, exact in that limit: seen 2e-7 (quick), 1e-4 (paper)
EXPONENT_TOL = 0.2  # d log rate / d log alpha - 2: O(alpha^2) corrections (Gauss-Newton 1.99-2.1, seen 1.97-2.09)
FLAT_TOL = 0.25  # |d log rate / d log alpha| after balancing: seen <= 0.06 (both sizes)
POWER = (0.85, 1.0)  # local exponent p of e(t) ~ t^-p over the last doubling: the 1/t law gives
#   p = log2((1 + 2x) / (1 + x)) with x = eta s0 T, in [0.85, 1) once x >= 4


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
