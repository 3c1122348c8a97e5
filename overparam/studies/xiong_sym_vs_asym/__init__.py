"""Xiong, Ding & Du 2023: over-parameterisation slows GD in matrix sensing; asymmetry and imbalance restore it.

The study is a package: this module declares it; :mod:`.experiments` holds its problems and points,
:mod:`.measures` its measurements and claims, :mod:`.plots` its figures. Sweeps ``main`` (symmetric
``X X^T``, asymmetric ``F G^T`` and balanced GD over rank x init_scale x seed), ``curse`` (``F G^T``
on ``main``'s PSD target), ``population`` (the population operator) and ``example`` (the alpha
lower bound); setups, sizes and claims in docs/studies/xiong-sym-vs-asym.md.
"""

from __future__ import annotations

import numpy as np

import overparam.study as st
from overparam.studies.xiong_sym_vs_asym.experiments import (curse_point, example_point, example_steps, main_point,
                                                            population_point, problems)
from overparam.studies.xiong_sym_vs_asym.measures import claims, measure
from overparam.studies.xiong_sym_vs_asym.plots import figures

__all__ = ["STUDY", "claims", "figures", "measure", "problems"]


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
