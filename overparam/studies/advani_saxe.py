"""Advani & Saxe 2017: train and test error of a linear student vs gradient-flow time, theory over simulation.

Setup (MATH.md section 2, "Linear model dynamics"): inputs ``x ~ N(0, I_N / N)``, teacher
``y = w_bar . x + eps`` with ``w_bar`` uniform on the sphere ``||w_bar||^2 = N s_w^2`` (the theory
depends on the teacher only through ``||w_bar||^2 / N``; fixing it removes a needless source of
seed-to-seed variance), ``eps ~ N(0, s_eps^2)``, ``P = a N``
examples ``X`` (P, N); the student follows the gradient flow of ``(1/2) ||y - X w||^2``,

    dw/dt = X^T (y - X w),     w(0) ~ N(0, s_w0^2 I).

With ``X^T X = V diag(l) V^T`` the flow is solved exactly mode by mode,
``c_i(t) = c_i(0) e^{-l_i t} + b_i (1 - e^{-l_i t}) / l_i`` (``c = V^T w``, ``b = V^T X^T y``), so the
simulation is the exact finite-size gradient-flow curve of one data matrix. Measured:
``E_g(t) = ||w(t) - w_bar||^2 / N + s_eps^2`` (the expected error on a fresh noisy example) and
``E_t(t) = ||y - X w(t)||^2 / P``.

Theory (Advani & Saxe 2017, eqs. for the Marchenko-Pastur spectrum ``rho`` of ``X^T X`` with
edges ``(1 +- sqrt a)^2`` plus an atom ``(1 - a)_+`` at zero)::

    E_g(t) = (s_w^2 + s_w0^2) [ int rho e^{-2 l t} dl + (1 - a)_+ ] + s_eps^2 [ int rho (1 - e^{-l t})^2 / l dl + 1 ]
    E_t(t) = (1/a) int rho [ l (s_w^2 + s_w0^2) + s_eps^2 ] e^{-2 l t} dl + s_eps^2 (1 - 1/a)_+

The integrals are evaluated by :func:`randfeat.advani_saxe_curves`.

The runs are a grid ``load x seed`` through :func:`overparam.sweep.run` (the number of rows
``P = a N`` varies by masking rows of a ``P_max x N`` design: a zero row adds nothing to
``X^T X`` or ``X^T y``, so masking is exact).

Claims: over-training (the rise of ``E_g`` from its minimum to the end of training) is worst at
load ``a = 1``; simulation and theory agree within 3% (the paper's figure-level agreement, the
tolerance issue 4 states for N >= 400).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import randfeat
from overparam import plot, sweep
from overparam.studies.base import SIZES, Claim, Produced, SetupStudy, Size, check_integers, merge_overrides

PAPER = "Advani & Saxe 2017"
NAME = "advani-saxe"

AGREEMENT = 0.03  # relative agreement of simulation and theory (issue 4: within 3% for N >= 400)
SEED_ERRORS = 2.0  # ... plus this many standard errors of the seed mean (sampling noise of the check)


class Setup(NamedTuple):
    """Static part of the study at one size, plus its default grid (``load``, ``seed``)."""

    n_inputs: int  # N
    weight_var: float  # s_w^2
    init_var: float  # s_w0^2
    noise_var: float  # s_eps^2
    t_min: float
    t_max: float
    n_times: int
    axes: dict[str, tuple[float, ...]]


SETUPS: dict[str, Setup] = {
    "quick": Setup(n_inputs=400, weight_var=1.0, init_var=0.0, noise_var=0.25, t_min=0.05, t_max=200.0,
                   n_times=40, axes={"load": (0.5, 1.0, 2.0), "seed": tuple(range(16))}),
    "paper": Setup(n_inputs=1000, weight_var=1.0, init_var=0.0, noise_var=0.25, t_min=0.05, t_max=1000.0,
                   n_times=80, axes={"load": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0), "seed": tuple(range(50))}),
}


class Curves(NamedTuple):
    """Generalisation and training error vs time, each (..., T)."""

    generalization: np.ndarray
    training: np.ndarray


def theory_curves(load: float, times: np.ndarray, weight_var: float, init_var: float, noise_var: float) -> Curves:
    """Advani & Saxe's ``E_g(t)`` and ``E_t(t)`` (module docstring) at ``times`` (T,) -> (T,) each.

    Evaluated by :func:`randfeat.advani_saxe_curves` (Marchenko-Pastur quadrature:
    :func:`randfeat.dynamics.marchenko_pastur_quadrature`).
    """
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or np.any(~np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"times must be a 1-d array of finite values >= 0, got shape {t.shape}")
    curves = randfeat.advani_saxe_curves(t, load, weight_var, init_var, noise_var)
    return Curves(np.asarray(curves.generalization), np.asarray(curves.training))


def gradient_flow_errors(x: jax.Array, y: jax.Array, w_bar: jax.Array, w0: jax.Array, row_mask: jax.Array,
                         times: jax.Array, noise_var) -> tuple[jax.Array, jax.Array]:
    """Exact gradient-flow errors of the linear student on one data set.

    x (P_max, N), y (P_max,), w_bar (N,) teacher, w0 (N,) initial weights, row_mask (P_max,) 0/1
    (the rows in use), times (T,). Returns ``E_g(t) = ||w(t) - w_bar||^2 / N + s_eps^2`` and
    ``E_t(t) = ||y - X w(t)||^2 / P`` over the used rows, each (T,).
    """
    n = x.shape[1]
    xm = x * row_mask[:, None]
    ym = y * row_mask
    p = jnp.sum(row_mask)
    lam, v = jnp.linalg.eigh(xm.T @ xm)
    lam = jnp.maximum(lam, 0.0)
    b = v.T @ (xm.T @ ym)
    c0 = v.T @ w0
    target = v.T @ w_bar
    lt = jnp.outer(times, lam)  # (T, N)
    gain = jnp.where(lam > 1e-12, -jnp.expm1(-lt) / jnp.where(lam > 1e-12, lam, 1.0), times[:, None])
    c = c0 * jnp.exp(-lt) + b * gain  # (T, N)
    gen = jnp.sum((c - target) ** 2, axis=-1) / n + noise_var
    train = (ym @ ym - 2.0 * c @ b + jnp.sum(lam * c * c, axis=-1)) / p
    return gen, jnp.maximum(train, 0.0)


def _point(setup: Setup, p_max: int, times: np.ndarray):
    n = setup.n_inputs
    t = jnp.asarray(times)

    def point(config: Mapping[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        kx, kw, k0, ke = jax.random.split(key, 4)
        x = jax.random.normal(kx, (p_max, n)) / np.sqrt(n)
        g = jax.random.normal(kw, (n,))
        w_bar = np.sqrt(setup.weight_var * n) * g / jnp.linalg.norm(g)  # ||w_bar||^2 / N = s_w^2 exactly
        w0 = np.sqrt(setup.init_var) * jax.random.normal(k0, (n,))
        y = x @ w_bar + np.sqrt(setup.noise_var) * jax.random.normal(ke, (p_max,))
        rows = jnp.round(config["load"] * n)
        mask = (jnp.arange(p_max, dtype=x.dtype) < rows).astype(x.dtype)
        gen, train = gradient_flow_errors(x, y, w_bar, w0, mask, t, setup.noise_var)
        return {"test_error": gen, "train_error": train}

    point.__name__ = "linear_gradient_flow"
    return point


def _check_axes(setup: Setup, overrides: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, ...]]:
    axes = merge_overrides(setup.axes, overrides)
    if any(not (np.isfinite(a) and 0 < a <= 16) for a in axes["load"]):
        raise ValueError(f"load={axes['load']!r} is out of range; allowed: 0 < load <= 16")
    check_integers("seed", axes["seed"], 0, min_count=2)
    return {k: tuple(sorted(v)) for k, v in axes.items()}


def run_sweep(size: Size = "quick", overrides: Mapping[str, Sequence[float]] | None = None, *,
              setup: Setup | None = None, progress: bool = False) -> tuple[xr.Dataset, Setup]:
    """Simulate the grid ``load x seed``; the dataset has ``test_error``, ``train_error`` with dims
    ``(load, seed, time)`` and the theory curves ``theory_test_error``, ``theory_train_error``
    with dims ``(load, time)``. ``setup`` replaces the size's :class:`Setup` (smaller problems for
    notebooks and tests)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    setup = SETUPS[size] if setup is None else setup
    axes = _check_axes(setup, overrides)
    times = np.geomspace(setup.t_min, setup.t_max, setup.n_times)
    p_max = int(round(max(axes["load"]) * setup.n_inputs))
    ds = sweep.run(
        _point(setup, p_max, times), axes, key=jax.random.key(2017),
        out_dims={"test_error": ("time",), "train_error": ("time",)}, out_coords={"time": times},
        progress=progress, chunk_size=8,
        attrs={"study": NAME, "size": size, **{k: v for k, v in setup._asdict().items() if k != "axes"}},
    )
    theory = [theory_curves(a, times, setup.weight_var, setup.init_var, setup.noise_var) for a in axes["load"]]
    ds["theory_test_error"] = (("load", "time"), np.stack([c.generalization for c in theory]))
    ds["theory_train_error"] = (("load", "time"), np.stack([c.training for c in theory]))
    return ds, setup


def overtraining(test_error: np.ndarray) -> np.ndarray:
    """Rise of the test error from its minimum over time to its final value, ``E_g(T) - min_t E_g(t)``."""
    e = np.asarray(test_error)
    return e[..., -1] - e.min(axis=-1)


def evaluate_claims(ds: xr.Dataset, setup: Setup) -> list[Claim]:
    """Over-training worst at load 1 (theory and simulation); agreement within 3%."""
    loads = [float(a) for a in ds["load"].values]
    sim = ds["test_error"].mean("seed").values
    over_sim = overtraining(sim)
    over_th = overtraining(ds["theory_test_error"].values)
    claims = []
    worst_sim, worst_th = loads[int(np.argmax(over_sim))], loads[int(np.argmax(over_th))]
    claims.append(Claim(
        NAME, PAPER, "over-training (final minus minimal test error over GD time) is worst at load a = P/N = 1",
        "argmax over a: simulation a = {:g}, theory a = {:g}; rise {}".format(
            worst_sim, worst_th, ", ".join(f"a={a:g}: {o:.3f}" for a, o in zip(loads, over_sim))),
        "a = 1 for both", bool(1.0 in loads and worst_sim == 1.0 and worst_th == 1.0)))
    seeds = ds.sizes["seed"]
    th_g = ds["theory_test_error"].values
    sem_g = ds["test_error"].std("seed", ddof=1).values / np.sqrt(seeds)
    # excess of the deviation over the allowed 3% + 2 s.e., relative to the theory
    excess_g = (np.abs(sim - th_g) - SEED_ERRORS * sem_g) / th_g
    train_sim = ds["train_error"].mean("seed").values
    th_t = ds["theory_train_error"].values
    sem_t = ds["train_error"].std("seed", ddof=1).values / np.sqrt(seeds)
    scale_t = th_t[:, :1]  # training error goes to 0 below load 1: measure relative to E_t(0)
    excess_t = (np.abs(train_sim - th_t) - SEED_ERRORS * sem_t) / scale_t
    median_g = float(np.median(np.abs(sim / th_g - 1.0)))
    worst = float(max(excess_g.max(), excess_t.max()))
    claims.append(Claim(
        NAME, PAPER,
        f"simulation (N = {setup.n_inputs}, mean of {seeds} data sets) agrees with the theory within 3% "
        "for the test and the training error at every time and load",
        f"max (|sim - theory| - {SEED_ERRORS:g} s.e.) / theory = {worst:.2%} (E_g: {excess_g.max():.2%}, "
        f"E_t vs E_t(0): {excess_t.max():.2%}); median |sim/theory - 1| of E_g = {median_g:.2%}",
        f"<= {AGREEMENT:.0%} beyond {SEED_ERRORS:g} standard errors of the seed mean",
        bool(worst <= AGREEMENT)))
    return claims


def make_figures(ds: xr.Dataset, out: Path) -> list[Path]:
    """Test and training error vs time, one colour per load: theory lines, simulation markers."""
    fig, axes = plot.figure(1, 2, width=5.0, height=4.0)
    times = ds.time.values
    every = max(1, len(times) // 16)
    for ax, var, title in ((axes[0, 0], "test_error", "generalisation error E_g"),
                           (axes[0, 1], "train_error", "training error E_t")):
        for j, a in enumerate(ds["load"].values):
            color = f"C{j}"
            mean, sem = plot.mean_sem(ds[var].sel(load=a), "seed")
            plot.error_bars(ax, times[::every], mean.values[::every], sem.values[::every],
                            f"simulation a = {a:g}", color=color, markersize=4)
            plot.theory_line(ax, times, ds[f"theory_{var}"].sel(load=a).values,
                             "theory" if j == 0 else None, color=color)
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("gradient-flow time t"), ax.set_ylabel(title)
        ax.set_title(title + " vs time")
        ax.legend(fontsize=7)
    return plot.save(fig, out, "error_vs_time")


class AdvaniSaxeStudy(SetupStudy):
    """Advani & Saxe 2017 as a study: linear-student learning curves over GD time at several loads."""

    name = NAME
    paper = PAPER
    description = "linear student: train/test error vs gradient-flow time at loads 0.5, 1, 2, theory over simulation"
    setups = SETUPS
    check_axes = staticmethod(_check_axes)

    def produce(self, *, size: Size, out: Path, overrides: Mapping[str, Sequence[float]] | None, resume: bool,
                progress: bool) -> Produced:
        del resume  # one short sweep held in memory
        jax.config.update("jax_enable_x64", True)
        ds, setup = run_sweep(size, overrides, progress=progress)
        claims = evaluate_claims(ds, setup)
        figures = make_figures(ds, out)
        path = out / "curves.nc"
        ds.to_netcdf(path, engine="h5netcdf")
        return Produced(claims, figures, [path], setup)


STUDY = AdvaniSaxeStudy()

__all__ = ["STUDY", "SETUPS", "AdvaniSaxeStudy", "Curves", "Setup", "evaluate_claims", "gradient_flow_errors",
           "make_figures", "overtraining", "run_sweep", "theory_curves"]
