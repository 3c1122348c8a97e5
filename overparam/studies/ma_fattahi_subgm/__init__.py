"""Ma & Fattahi 2022: the sub-gradient method from a small start, under outliers and Gaussian noise.

SubGM on the l1 loss with geometric steps (docs/sensing.md#subgm) on symmetric Gaussian sensing of
a PSD rank-``r`` matrix, from ``X0 = alpha B`` with ``k >= r`` columns (a zero-padding mask). The
study is a package: this module declares it; :mod:`.experiments` holds its problems and points,
:mod:`.measures` its measurements and claims, :mod:`.plots` its figures. Sweeps ``outliers`` (rank x
init_scale x outliers x seed), ``noise`` (rank x noise x seed) and ``dense`` (dense outliers, from a
small start or from ``M*``); setups, sizes and claims in docs/studies/ma-fattahi-subgm.md.
"""

from __future__ import annotations

import numpy as np

import overparam.study as st
from overparam.studies.ma_fattahi_subgm.experiments import build_run, dense_point, noise_point, outlier_point
from overparam.studies.ma_fattahi_subgm.measures import TARGET, claims, floor_theory, measure
from overparam.studies.ma_fattahi_subgm.plots import figures

__all__ = ["STUDY", "TARGET", "build_run", "claims", "figures", "floor_theory", "measure"]


def check(setup: st.Setup) -> None:
    """Cross-checks of settings and axes, before anything compiles."""
    for ranks, n, r, what in ((setup.axes["rank"], setup.n, setup.r, "rank"),
                              (setup.axes["dense_rank"], setup.dense_n, setup.dense_r, "dense_rank")):
        if r > n or r not in ranks or any(k > n for k in ranks) or not any(k > r for k in ranks):
            raise ValueError(f"{what}={ranks} must contain r={r}, at least one k > r, and no k above n={n}")
    if setup.steps % setup.record_every:
        raise ValueError(f"steps={setup.steps} must be a multiple of record_every={setup.record_every}")


STEP = lambda s: {"step": np.arange(0, s.steps + 1, s.record_every)}  # noqa: E731
TRACE = {"error": ("step",)}
STUDY = st.Study(
    name="ma-fattahi-subgm", paper="Ma & Fattahi 2022", link="https://arxiv.org/abs/2202.08788",
    description="SubGM from a small init: exact under outliers (dense too), linear rate, k-independent, noise floor",
    settings={
        "n": st.Setting(12, paper=40, low=2, doc="M* is n x n"),
        "r": st.Setting(2, paper=3, low=1, doc="rank of M*"),
        "m": st.Setting(1600, paper=9600, low=1, doc="Gaussian measurements"),
        "steps": st.Setting(3000, low=1, doc="SubGM steps"),
        "record_every": st.Setting(20, low=1, doc="steps between records"),
        "step_size": st.Setting(0.5, low=0.0, low_open=True, doc="eta0 of eta_t = eta0 rho^t"),
        "decay": st.Setting(0.995, low=0.0, high=1.0, low_open=True, high_open=True, doc="rho"),
        "dense_n": st.Setting(12, paper=20, low=2, doc="side of the dense problem's M*"),
        "dense_r": st.Setting(1, low=1, doc="rank of the dense problem's M*"),
        "dense_m": st.Setting(1200, paper=2500, low=1, doc="measurements of the dense problem"),
        "dense_init": st.Setting(1e-14, low=0.0, low_open=True, doc="alpha of the dense problem's small start"),
        "perturbation": st.Setting(1e-3, low=0.0, low_open=True, doc="scale of the extra columns at M*"),
    },
    axes={
        "rank": st.Axis((2, 4, 12), paper=(3, 12, 40), integer=True, low=1, min_count=2, doc="columns k of X"),
        "init_scale": st.Axis((1e-12, 1e-6, 1e-1), low=0.0, low_open=True, min_count=2, doc="alpha of X0 = alpha B"),
        "outliers": st.Axis((0.0, 0.3, 0.6), low=0.0, high=1.0, high_open=True, doc="outlier fraction p"),
        "noise": st.Axis((1e-2, 3e-2, 1e-1), low=0.0, low_open=True, min_count=2, doc="Gaussian noise level nu"),
        "dense_outliers": st.Axis((0.7, 0.8), paper=(0.7, 0.75, 0.8), low=0.0, high=1.0, high_open=True,
                                  doc="outlier fraction of the dense problem"),
        "dense_rank": st.Axis((1, 12), paper=(1, 20), integer=True, low=1, min_count=2, doc="columns k, dense problem"),
        "start": st.Axis((0, 1), integer=True, low=0, high=1, min_count=2, doc="0: small init; 1: M* + perturbation"),
        "seed": st.seeds(4, paper=3, doc="draws B, the outlier positions and the noise"),
    },
    sweeps={
        "outliers": st.Sweep(outlier_point, axes=("rank", "init_scale", "outliers", "seed"), out_dims=TRACE,
                             out_coords=STEP),
        "noise": st.Sweep(noise_point, axes=("rank", "noise", "seed"), out_dims=TRACE, out_coords=STEP),
        "dense": st.Sweep(dense_point, axes=("dense_outliers", "dense_rank", "start", "seed"),
                          out_dims={"error": ("step",), "loss": ("step",)}, out_coords=STEP),
    },
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
