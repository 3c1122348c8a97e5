"""Simon, Karkada, Ghosh & Belkin 2023 ("More is better"): random-feature ridge regression at the optimal ridge.

Everything is held against the eigenframework (docs/randfeat.md#eigenframework). The study is a
package: this module declares it; :mod:`.experiments` holds its points and computed tables,
:mod:`.measures` its measurements and claims, :mod:`.plots` its figures. Sweeps ``gaussian`` (the
authors' Gaussian RF experiment), ``digits`` (ReLU random features on scikit-learn's digits), ``krr``
(kernel ridge regression on the digits with label noise), ``theory``, ``reference`` (the authors'
stored measurements) and ``power_law`` (R* and the interpolation threshold in the continuum limit);
setups, sizes and claims in docs/studies/more-is-better.md.
"""

from __future__ import annotations

import numpy as np

import overparam.study as st
from overparam.studies.more_is_better.experiments import (AUTHORS, KERNELS, PAIRS, REF_K, REF_RIDGE, digits_point,
                                                         gaussian_point, krr_point, load_reference, power_law_table,
                                                         reference_table, theory_table)
from overparam.studies.more_is_better.measures import RISE, Z, claims, measure
from overparam.studies.more_is_better.plots import figures

__all__ = ["AUTHORS", "PAIRS", "RISE", "STUDY", "Z", "claims", "figures", "load_reference", "measure"]
PAPER = "Simon, Karkada, Ghosh & Belkin 2023"
LINK = "https://arxiv.org/abs/2311.14646"


def check(setup: st.Setup) -> None:
    """Cross-checks: mode counts divisible by 16; a fit window of at least three modes."""
    if setup.ratio_modes % 16:
        raise ValueError(f"setting ratio_modes={setup.ratio_modes} is not allowed; allowed: a multiple of 16")
    if setup.spectrum_hi <= setup.spectrum_lo + 2:
        raise ValueError(f"setting spectrum_hi={setup.spectrum_hi} is not allowed; allowed: above spectrum_lo + 2 = "
                         f"{setup.spectrum_lo + 2}")


STUDY = st.Study(
    name="more-is-better", paper=PAPER, link=LINK,
    description="random-feature ridge regression at the optimal ridge: more features and data help; R* vs noise",
    settings={
        "digits_n": st.Setting(256, low=1, doc="digits: samples of the width sweep"),
        "digits_k": st.Setting(256, low=1, doc="digits: features of the sample-size sweep"),
        "n_test": st.Setting(1000, low=1, doc="fresh test points of the Gaussian experiment (the authors' 1000)"),
        "ratio_n": st.Setting(50, paper=100, low=4, doc="n of the power-law R* (and 2n)"),
        "ratio_modes": st.Setting(32_000, paper=128_000, low=64, doc="M of the power-law R* (and M/4, M/16)"),
        "rbf_lengthscale": st.Setting(0.5, low=0.0, low_open=True, doc="RBF kernel on the unit-norm digits"),
        "spectrum_lo": st.Setting(10, low=1, high=1797, doc="first mode of the exponent fits"),
        "spectrum_hi": st.Setting(400, low=3, high=1797, doc="last mode of the exponent fits"),
    },
    axes={
        "trial": st.seeds(8, 45, doc="trial"),
        "width": st.Axis(REF_K[:22:3], paper=REF_K, integer=True, low=1, high=10_000, min_count=2, doc="k at n = 256"),
        "samples": st.Axis(REF_K[:25:3], paper=REF_K, integer=True, low=1, min_count=2, doc="n at k = 256"),
        "ridge": st.Axis(REF_RIDGE[::5], paper=REF_RIDGE, low=0.0, low_open=True, min_count=2, doc="ridge"),
        "digits_width": st.Axis((8, 16, 32, 64, 128, 256, 512), paper=tuple(int(v) for v in np.unique(np.geomspace(
            10, 4096, 21).astype(int))), integer=True, low=1, min_count=2, doc="digits: k at n = digits_n"),
        "digits_samples": st.Axis((8, 16, 32, 64, 128, 256, 512), paper=tuple(int(v) for v in np.unique(np.geomspace(
            10, 1000, 21).astype(int))), integer=True, low=1, min_count=2, doc="digits: n at k = digits_k"),
        "digits_ridge": st.Axis(tuple(np.geomspace(1e-4, 1e1, 11)), paper=tuple(np.geomspace(1e-5, 1e1, 31)), low=0.0,
                                low_open=True, min_count=2, doc="digits: ridge"),
        "krr_samples": st.Axis((100, 400), paper=(50, 100, 200, 400, 800), integer=True, low=1, doc="digits KRR: n"),
        "relative_noise": st.Axis((0.0, 0.5, 1.0, 2.0), paper=(0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0), low=0.0,
                                  doc="digits KRR: sigma^2 / E_te(ridgeless, noiseless)"),
        "krr_ridge": st.Axis(tuple(np.geomspace(1e-6, 1e1, 36)), paper=tuple(np.geomspace(1e-7, 1e1, 81)), low=0.0,
                             low_open=True, min_count=3, doc="digits KRR: ridge"),
        "ratio_noise": st.Axis((0.0, 0.5, 1.0, 2.0), paper=tuple(np.linspace(0.0, 3.0, 13)), low=0.0,
                               doc="power laws: relative noise"),
    },
    sweeps={  # one trial per device per call: a trial holds matrices up to 1256 x 10^4; batching trials is slower
        "gaussian": st.Sweep(gaussian_point, axes=("trial",), runs_per_device=1, out_dims={
            "width_test": ("width", "ridge"), "width_train": ("width", "ridge"), "samples_test": ("samples", "ridge"),
            "samples_train": ("samples", "ridge")},
            out_coords=lambda s: {a: list(s.axes[a]) for a in ("width", "samples", "ridge")}),
        "digits": st.Sweep(digits_point, axes=("trial",), runs_per_device=1, out_dims={
            "width_test": ("digits_width", "digits_ridge"), "samples_test": ("digits_samples", "digits_ridge")},
            out_coords=lambda s: {a: list(s.axes[a]) for a in ("digits_width", "digits_samples", "digits_ridge")}),
        "krr": st.Sweep(krr_point, axes=("trial",), runs_per_device=1, out_dims={
            v: ("kernel", "krr_samples", "relative_noise", "krr_ridge") for v in ("train", "test")},
            out_coords=lambda s: {"kernel": list(range(len(KERNELS))),
                                  **{a: list(s.axes[a]) for a in ("krr_samples", "relative_noise", "krr_ridge")}}),
        "theory": st.Compute(theory_table), "reference": st.Compute(reference_table),
        "power_law": st.Compute(power_law_table),
    },
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
