"""The xiong-sym-vs-asym study: rate fits, every claim against measures that follow or contradict the
theory, validation before compiling, a reduced quick run end to end, and (slow) the paper size."""

from __future__ import annotations

import re

import numpy as np
import pytest

import overparam.study as study_api
from overparam.studies import xiong_sym_vs_asym as xiong

STUDY = xiong.STUDY
SETUP = STUDY.plan("quick")
STEPS = np.arange(0, 3001, 30)
CLAIMS = {"sublinear", "alpha-squared", "rate-constant", "population-tail", "balanced-flat", "balanced-faster",
          "curse-asymmetric-linear", "curse-symmetric-sublinear", "alpha-lower-bound", "alpha-example-rate",
          "exact-linear"}


def test_exponents_are_per_rank_and_seed():
    import xarray as xr

    alpha = np.array([0.2, 0.28, 0.4])
    rates = xr.DataArray(np.array([[[0.1, 0.3]]]) * alpha[None, :, None] ** np.array([2.0, 1.0]),
                         dims=("rank", "init_scale", "seed"), coords={"rank": [3], "init_scale": alpha, "seed": [0, 1]})
    np.testing.assert_allclose(xiong.measures._exponents(rates), [2.0, 1.0], rtol=1e-12)
    rates[0, 0, 1] = np.nan  # a run that never reached the tail is left out, not the seed
    np.testing.assert_allclose(xiong.measures._exponents(rates.transpose("seed", "init_scale", "rank")), [2.0, 1.0], rtol=1e-12)


def theory_measures() -> dict[str, object]:
    """Measures as the theory states them (values seen at quick size), for every claim to pass."""
    return {
        "sym_power": np.array([0.97, 0.96, 0.98]), "asym_exponent": np.array([2.0, 2.03]),
        "gn_exponent": np.array([2.0, 2.01]), "unbalanced_exponent": np.array([1.93, 1.95]),
        "balanced_exponent": np.array([0.02, 0.02]), "tail_over_gn": np.array([1.01, 1.03, np.nan]),
        "tail_over_d0": np.array([0.9, 0.88]), "balanced_over_gn": np.array([1.05, 1.1]),
        "balanced_slowest": 0.14, "unbalanced_fastest": 0.017, "exact_final": 5e-16,
        "population_over_theory": np.array([1.0, 1.001]), "population_over_d0": np.array([1.3, 1.33]),
        "curse_asym_final": np.array([7e-16, 2e-5]), "curse_sym_final": np.array([6e-4, 6e-4]),
        "curse_sym_over_law": np.array([1.2, 1.3]), "curse_tail_over_gn": np.array([1.006, 1.001]),
        "example_over_bound": 1.01, "example_drift": np.array([0.9, 0.92]),
        "example_rate_over_alpha2": np.array([0.222, 0.226]),
    }


def test_every_claim_passes_on_measures_that_follow_the_theory():
    claims = xiong.claims(theory_measures(), SETUP)
    assert {c.name for c in claims} == CLAIMS
    assert all(c.passed for c in claims), [c.name for c in claims if not c.passed]


@pytest.mark.parametrize(("key", "value", "name"), [
    ("sym_power", np.array([0.97, 1.6]), "sublinear"),  # one run converging linearly
    ("sym_power", np.array([0.5, 0.97]), "sublinear"),  # one run on 1/sqrt(t)
    ("asym_exponent", np.array([2.0, 1.0]), "alpha-squared"),  # rate ~ alpha
    ("asym_exponent", np.array([2.0, np.nan]), "alpha-squared"),  # a seed without two tail rates
    ("tail_over_gn", np.array([1.01, 0.9]), "rate-constant"),  # slower than the slowest mode
    ("tail_over_gn", np.array([1.01, 1.2]), "rate-constant"),  # eta lambda_min(D0)-sized errors
    ("tail_over_gn", np.array([np.nan, np.nan]), "rate-constant"),  # no run reached the tail
    ("population_over_theory", np.array([1.0, 1.02]), "population-tail"),
    ("balanced_exponent", np.array([0.02, 1.0]), "balanced-flat"),
    ("balanced_slowest", 0.01, "balanced-faster"),
    ("curse_tail_over_gn", np.array([1.0, 1.3]), "curse-asymmetric-linear"),
    ("curse_sym_over_law", np.array([1.2, 0.1]), "curse-symmetric-sublinear"),  # X X^T far below the 1/t law
    ("example_over_bound", 0.98, "alpha-lower-bound"),  # the proven bound violated
    ("example_drift", np.array([0.9, 1.5]), "alpha-example-rate"),
    ("example_drift", np.array([-0.5, 0.9]), "alpha-example-rate"),  # faster than the imbalance allows
    ("exact_final", 1e-6, "exact-linear"),
])
def test_each_claim_fails_on_measures_that_contradict_it(key, value, name):
    measures = theory_measures() | {key: value}
    failed = {c.name for c in xiong.claims(measures, SETUP) if not c.passed}
    assert failed == {name}


def test_exact_claim_is_left_out_without_k_equal_r():
    setup = STUDY.plan("quick", {"rank": (2, 3)})  # two over-parameterised ranks x two seeds: four exponents
    four = {k: np.tile(theory_measures()[k], 2) for k in ("asym_exponent", "balanced_exponent")}
    claims = xiong.claims(theory_measures() | four | {"exact_final": np.nan}, setup)
    assert {c.name for c in claims} == CLAIMS - {"exact-linear"} and all(c.passed for c in claims)


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"rank": (1,)}, "at least one k > r"),
    ({"rank": (1, 13)}, "rank=(1, 13)"),
    ({"rank": (0, 3)}, "axis rank value 0"),
    ({"init_scale": (0.2,)}, "axis init_scale has 1 value"),
    ({"init_scale": (0.0, 0.2)}, "axis init_scale value 0.0"),
    ({"init_scale": (0.2, 1.5)}, "axis init_scale value 1.5"),
    ({"steps": 6010}, "steps=6010 must be a multiple of record_every=30"),
    ({"rebalance_at": 6000}, "rebalance_at=6000 must be below steps=6000"),
    ({"after_steps": 91}, "after_steps=91 must be a multiple of after_every=3"),
    ({"step_size": 0.6}, "setting step_size=0.6 is out of range"),
    ({"r": 13}, "rank="),
    ({"seed": (-1, 0)}, "axis seed value -1"),
    ({"sample_size": 3}, "unknown axis or setting 'sample_size'"),
])
def test_bad_axes_and_settings_are_refused_before_anything_runs(tmp_path, overrides, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        STUDY.plan("quick", overrides)
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=re.escape(fragment)):
        study_api.run_study(STUDY, out=out, overrides=overrides)
    assert not out.exists()


REDUCED = {"seed": (0,), "init_scale": (0.28, 0.4), "steps": 4500}  # quick size with one seed and two scales


def test_reduced_quick_run_passes_every_claim(tmp_path):
    """The whole study at quick size with one seed and alpha in {0.28, 0.4}, 4500 steps (about 30 s on 2 cores)."""
    result = study_api.run_study(STUDY, out=tmp_path / "xiong", overrides=REDUCED, progress=False)
    assert {c.name for c in result.claims} == CLAIMS
    assert result.passed, [(c.name, c.claim.measured_text()) for c in result.claims if not c.passed]
    assert [f["name"] for f in result.figures] == ["error_vs_step", "rates", "curse_of_symmetry", "alpha_lower_bound"]
    assert all(f["caption"] and "csv" in f for f in result.figures)
    m = result.measures
    # the headline of the curse: F G^T reaches round-off where X X^T, same target and start, is at ~1e-3
    assert np.min(m["curse_asym_final"]) < 1e-13 and np.min(m["curse_sym_final"]) > 1e-4
    # eta lambda_min(D0) sets the scale of the rate but is off by more than the Gauss-Newton window
    assert np.nanmax(np.abs(np.asarray(m["tail_over_d0"]) - 1)) > 0.05


@pytest.mark.slow
def test_paper_size_passes_every_claim(tmp_path):
    result = study_api.run_study(STUDY, out=tmp_path / "xiong-paper", size="paper", progress=False)
    assert {c.name for c in result.claims} == CLAIMS
    assert result.passed, [(c.name, c.claim.measured_text()) for c in result.claims if not c.passed]
