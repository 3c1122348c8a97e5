"""Advani & Saxe 2017: generalization dynamics of gradient descent, linear and two-layer students.

Both students (:mod:`randfeat.two_layer`, docs/randfeat.md#two-layer-student) are trained by exact
gradient flow on one data set per seed, over signal-to-noise ratios ``snr`` and initial weight
variances ``init_var``. The study is a package: this module declares it; :mod:`.experiments` holds
its points and theory, :mod:`.measures` its measurements and claims, :mod:`.plots` its figures.
Sweeps ``linear`` (every load ``a = P/N``), ``theory`` (Marchenko-Pastur) and ``student`` (a
two-layer ReLU student with its output layer trained, every width); setups, sizes and claims in
docs/studies/advani-saxe.md.
"""

from __future__ import annotations

import overparam.study as st
from overparam.studies.advani_saxe.experiments import DATA_SEED, _times, linear_point, student_point, theory
from overparam.studies.advani_saxe.measures import claims, measure
from overparam.studies.advani_saxe.plots import figures

__all__ = ["DATA_SEED", "STUDY", "claims", "figures", "measure"]
PAPER = "Advani & Saxe 2017"
LINK = "https://arxiv.org/abs/1710.03667"


def check(setup: st.Setup) -> None:
    """Load 1 and width P inside their grids; every load gives an integer number >= 1 of rows."""
    loads, widths, p = setup.axes["load"], setup.axes["width"], setup.n_samples
    if not (min(loads) < 1.0 < max(loads) and 1.0 in loads):
        raise ValueError(f"axis load={loads} is not allowed; allowed: loads that hold 1 and values below and above it")
    if not (min(widths) < p < max(widths) and p in widths):
        raise ValueError(f"axis width={widths} is not allowed; allowed: widths that hold n_samples = {p} and values "
                         "below and above it")
    rows = [a * setup.n_inputs for a in loads]
    if any(abs(r - round(r)) > 1e-9 or r < 1 for r in rows):
        raise ValueError(f"axis load={loads} is not allowed with n_inputs = {setup.n_inputs}; allowed: loads with "
                         "load * n_inputs an integer >= 1")
    if 2 * p > max(widths):
        raise ValueError(f"axis width={widths} is not allowed; allowed: a largest width >= 2 n_samples = {2 * p}")


STUDY = st.Study(
    name="advani-saxe", paper=PAPER, link=LINK,
    description="linear and two-layer students under gradient flow: over-training peaks at P = N and N_h = P, "
                "initial weights, frozen subspace",
    settings={
        "n_inputs": st.Setting(400, paper=1000, low=2, doc="input dimension N of the linear student"),
        "t_min": st.Setting(0.05, low=0.0, low_open=True, doc="first recorded time"),
        "t_max": st.Setting(200.0, paper=1000.0, low=0.0, low_open=True, doc="end of training, linear student"),
        "student_t_max": st.Setting(3000.0, low=0.0, low_open=True, doc="end of training, two-layer student"),
        "n_times": st.Setting(40, paper=80, low=2, doc="recorded times (geometric)"),
        "n_samples": st.Setting(100, paper=300, low=2, doc="training samples P of the two-layer student"),
        "student_inputs": st.Setting(50, paper=100, low=1, doc="input dimension of the two-layer student"),
        "teacher_hidden": st.Setting(30, low=1, doc="hidden ReLUs of the teacher"),
        "n_test": st.Setting(500, paper=1000, low=1, doc="test examples of the two-layer student"),
        "gd_steps": st.Setting(100, paper=200, low=1, doc="GD steps of the frozen-subspace check"),
    },
    axes={
        "load": st.Axis((0.5, 1.0, 2.0), paper=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0), low=0.0, low_open=True,
                        high=16.0, min_count=3, doc="load a = P/N of the linear student"),
        "snr": st.Axis((1.0, 4.0, 16.0), low=0.0, low_open=True, doc="signal-to-noise ratio (label noise 1/snr)"),
        "init_var": st.Axis((0.0, 1.0), paper=(0.0, 0.5, 1.0), low=0.0, min_count=2, doc="initial weight variance"),
        "width": st.Axis((10, 25, 50, 75, 90, 100, 110, 150, 200, 400, 800),
                         paper=(30, 75, 150, 225, 270, 300, 330, 400, 600, 1200, 2400), integer=True, low=1,
                         min_count=3, doc="hidden units N_h of the two-layer student"),
        "seed": st.seeds(16, 50),
    },
    sweeps={  # one seed per device per call: LAPACK runs inline (docs/architecture.md#known-xla-cpu-deadlock)
        "linear": st.Sweep(linear_point, axes=("seed",), runs_per_device=1,
                           out_dims={k: ("load", "snr", "init_var", "time") for k in ("test_error", "train_error")},
                           out_coords=lambda s: {"load": s.axes["load"], "snr": s.axes["snr"],
                                                 "init_var": s.axes["init_var"], "time": _times(s, s.t_max)}),
        "theory": st.Compute(theory),
        "student": st.Sweep(student_point, axes=("seed",), runs_per_device=1,
                            out_dims={"test_error": ("width", "snr", "init_var", "time"),
                                      "train_error": ("width", "snr", "init_var", "time"),
                                      "null_space_error": ("width",), "frozen_drift": ("width",)},
                            out_coords=lambda s: {"width": s.axes["width"], "snr": s.axes["snr"],
                                                  "init_var": s.axes["init_var"], "time": _times(s, s.student_t_max)}),
    },
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
