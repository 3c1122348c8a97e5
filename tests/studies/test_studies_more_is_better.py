""""More is better" study: the ridge path against direct solves, the power-law closed forms against
the eigenframework, the packaged reference data against the theory, and a tiny end-to-end run whose
claims are checked by value."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from overparam.studies import more_is_better as study


@pytest.fixture(scope="module")
def ridge_path():
    return jax.jit(study.ridge_path_mse)


@given(seed=st.integers(0, 2**16), n_used=st.integers(3, 10), log_ridge=st.floats(-3.0, 1.0))
def test_ridge_path_matches_direct_solve(ridge_path, seed, n_used, log_ridge):
    """One eigendecomposition for all ridges == a direct solve on the unmasked rows, per ridge."""
    rng = np.random.default_rng(seed)
    f_tr, f_te = rng.normal(size=(10, 6)), rng.normal(size=(7, 6))
    y_tr, y_te = rng.normal(size=10), rng.normal(size=7)
    ridges = np.array([10.0**log_ridge, 2 * 10.0**log_ridge])
    mask = (np.arange(10) < n_used).astype(float)
    got = ridge_path(jnp.asarray(f_tr @ f_tr.T), jnp.asarray(f_te @ f_tr.T), jnp.asarray(y_tr), jnp.asarray(y_te),
                     jnp.asarray(mask), jnp.asarray(ridges))
    a, b = f_tr[:n_used], f_te
    for r, g in zip(ridges, np.asarray(got)):
        coef = np.linalg.solve(a @ a.T + r * np.eye(n_used), y_tr[:n_used])
        assert g == pytest.approx(np.mean((b @ a.T @ coef - y_te) ** 2), rel=1e-8)


@given(alpha=st.floats(1.2, 4.0), ratio=st.floats(0.3, 0.95))
def test_closed_form_noiseless_and_threshold(alpha, ratio):
    """s = 0: R* = ((alpha - beta)/(beta (alpha - 1)))^2 for beta < alpha; for beta > alpha, R* = 0 up to
    the threshold (beta - alpha)/(alpha (alpha - 1)) and > 0 beyond it."""
    beta = max(1.05, ratio * alpha)
    if beta < alpha:
        expect = ((alpha - beta) / (beta * (alpha - 1))) ** 2
        assert study.fitting_ratio_closed_form(alpha, beta, 0.0) == pytest.approx(expect, rel=1e-10, abs=1e-14)
    big = alpha + 1.0 / ratio
    thr = study.overfitting_threshold(alpha, big)
    assert study.fitting_ratio_closed_form(alpha, big, 0.999 * thr) == 0.0
    assert study.fitting_ratio_closed_form(alpha, big, 1.01 * thr) > 0.0


def test_eigenframework_matches_closed_form():
    """The discrete eigenframework at n = 200, M = 5e4 reproduces R*(s) and the threshold."""
    ratios, _ = study.measured_fitting_ratio(3.0, 2.0, 200, 50_000, np.array([0.0, 1.0]))
    for s, r in zip((0.0, 1.0), ratios):
        assert r == pytest.approx(study.fitting_ratio_closed_form(3.0, 2.0, s), abs=study.RATIO_TOLERANCE)
    _, thr = study.measured_fitting_ratio(2.0, 3.0, 200, 50_000, np.array([0.0]))
    assert thr == pytest.approx(study.overfitting_threshold(2.0, 3.0), rel=study.THRESHOLD_TOLERANCE)


def test_packaged_reference_matches_shared_copy():
    """The package data holds the authors' measured means of the tests' reference subset."""
    from pathlib import Path

    ref = study.load_reference()
    tests = json.loads((Path(__file__).parents[1] / "data" / "more_is_better_rf_gaussian_subset.json").read_text())
    for part in ("n256", "k256"):
        np.testing.assert_allclose(ref[part]["test_mse_mean"], tests[part]["test_mse_mean"], rtol=1e-5)
        assert ref[part]["trials"] == 45


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        study.fitting_ratio_closed_form(1.0, 2.0, 0.0)
    with pytest.raises(ValueError, match="relative_noise"):
        study.fitting_ratio_closed_form(2.0, 3.0, -1.0)
    with pytest.raises(ValueError, match="trial"):
        study.run_all("quick", {"trial": (0,)})


def test_tiny_run(tmp_path, monkeypatch):
    tiny = study.SETUPS["quick"]._replace(
        modes=200, n_ref=24, k_ref=24, widths=(8, 24, 64), samples=(8, 24, 64), ridges=(1e-2, 1e-1, 1.0),
        n_test=200, digits_widths=(8, 24, 64), digits_samples=(8, 24, 64), digits_ridges=(1e-3, 1e-2, 1e-1),
        ratio_pairs=((3.0, 2.0),), threshold_pairs=((2.0, 3.0),), ratio_n=200, ratio_modes=50_000,
        relative_noise=(0.0, 1.0), axes={"trial": (0, 1, 2, 3)})
    monkeypatch.setitem(study.SETUPS, "quick", tiny)
    result = study.STUDY.run(size="quick", out=tmp_path, progress=False)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert len(claims) == 5
    monotone, reference, _, ratio, threshold = claims
    assert reference["passed"] and ratio["passed"] and threshold["passed"]
    median = float(reference["measured"].split("= ")[1].split("%")[0]) / 100
    assert median <= study.REFERENCE_MEDIAN
    assert monotone["measured"].startswith("theory: max relative rise")
    assert {p.suffix for p in result.figures} == {".png", ".svg"} and len(result.figures) == 6
