"""More-is-better study on the study API: a tiny run whose every claim passes; one trial of the digits and of the
kernel sweeps rebuilt with NumPy solves (no SVD path); the theory and power-law results against direct calls of
the eigenframework and the closed forms; the claims' numbers recomputed from the stored sweeps; claims that fail
when their input is wrong; bad settings refused before anything compiles; the paper size (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

import overparam.store
import overparam.study as st
from overparam import sweep
from overparam.studies import more_is_better as study
from randfeat import features, fitting, powerlaw, tasks, theory

TINY = {"trial": list(range(6)), "width": [10, 39, 158], "samples": [10, 39, 158], "ridge": [1e-3, 1e-1, 10.0],
        "n_test": 400, "digits_width": [16, 64, 256], "digits_samples": [16, 64, 256],
        "digits_ridge": [1e-3, 1e-2, 1e-1, 1.0], "krr_samples": [50, 100], "relative_noise": [0.0, 1.0],
        "krr_ridge": list(np.geomspace(1e-6, 10.0, 15)), "ratio_noise": [0.0, 1.0], "ratio_n": 50,
        "ratio_modes": 16_000}
NAMES = ["optimal-risk-monotone-theory", "optimal-risk-monotone-experiment", "theory-matches-authors",
         "theory-matches-authors-tail", "experiment-matches-authors", "experiment-matches-theory",
         "digits-rf-matches-theory", "digits-rf-matches-theory-tail", "fitting-ratio-closed-form",
         "fitting-ratio-mode-convergence", "overfitting-threshold", "digits-power-law-class",
         "digits-overfitting-obligatory", "digits-fitting-ratio-theory", "digits-krr-matches-theory",
         "digits-krr-matches-theory-tail"]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("more-is-better")
    res = st.run_study(study.STUDY, out=out, overrides=TINY, progress=False)
    data = {s: overparam.store.load(out / f"{s}.zarr") for s in ("gaussian", "digits", "krr")}
    data.update({s: xr.open_dataset(out / f"{s}.nc", engine="h5netcdf").load()
                 for s in ("theory", "reference", "power_law")})
    return res, data, study.STUDY.plan("quick", TINY)


def test_every_claim_passes_at_a_tiny_size(result):
    res, _, _ = result
    assert [c.name for c in res.claims] == NAMES
    assert all(c.passed for c in res.claims), [c.claim.measured_text() for c in res.claims if not c.passed]
    stored = st.read_result(res.out)
    assert stored is not None and stored.passed
    assert [f["name"] for f in stored.figures] == ["reference_vs_theory", "optimal_risk", "fitting_ratio_vs_noise",
                                                   "digits_spectra"]


def _trial_key(name: str, trial: int) -> jax.Array:
    """The key a trial's point derives: the engine's run key (run index = trial here), then the trial's seed."""
    run_key = jax.random.fold_in(jax.random.key(study.STUDY.sweeps[name].seed), trial)
    return sweep.seed_key(run_key, trial)


def _ridge_numpy(phi, y, phi_test, y_test, ridge):
    """Primal ridge regression by a direct solve: test MSE of ``(Phi^T Phi + ridge I)^-1 Phi^T y``."""
    w = np.linalg.solve(phi.T @ phi + ridge * np.eye(phi.shape[1]), phi.T @ y)
    return np.mean((phi_test @ w - y_test) ** 2)


def test_digits_trial_equals_numpy_ridge_on_relu_features(result):
    """Trial 2: the same draws (training order, weights), ReLU features of the first k weights, fitted on the
    first n digits of the order and tested on all 1797; a direct solve per (size, ridge)."""
    _, data, setup = result
    ki, kw = jax.random.split(_trial_key("digits", 2))
    x, y = tasks.digits_data()
    order = np.asarray(jax.random.permutation(ki, x.shape[0]))
    w = np.asarray(features.gaussian_weights(kw, 256, x.shape[1]))
    run = data["digits"].sel(trial=2)
    for k in (16, 256):  # width sweep at n = digits_n = 256
        phi = np.maximum(x @ w[:k].T, 0.0) / np.sqrt(k)
        for r in (1e-3, 1.0):
            expect = _ridge_numpy(phi[order[:256]], y[order[:256]], phi, y, r)
            got = float(run["width_test"].sel(digits_width=k, digits_ridge=r))
            assert got == pytest.approx(expect, rel=1e-9)  # SVD path vs normal equations: conditioning, seen 1e-12
    phi = np.maximum(x @ w.T, 0.0) / np.sqrt(256)  # sample sweep at k = digits_k = 256
    for n in (16, 64):
        expect = _ridge_numpy(phi[order[:n]], y[order[:n]], phi, y, 1e-2)
        assert float(run["samples_test"].sel(digits_samples=n, digits_ridge=1e-2)) == pytest.approx(expect, rel=1e-9)


def test_krr_trial_equals_numpy_kernel_ridge_regression(result):
    """Trial 1, ReLU NNGP kernel: f = K(., S)(K_SS + ridge I)^-1 y_S with noisy training labels, test MSE on all
    digits plus the fresh label noise sigma^2; sigma^2 = s times the eigenframework's ridgeless noiseless risk."""
    _, data, setup = result
    ki, ke = jax.random.split(_trial_key("krr", 1))
    x, y = tasks.digits_data()
    order = np.asarray(jax.random.permutation(ki, x.shape[0]))[:100]
    eps = np.asarray(jax.random.normal(ke, (100,)))
    kern = np.asarray(tasks.relu_nngp_kernel(x, x))
    clean = float(theory.krr_risk(tasks.kernel_task(x, y, tasks.relu_nngp_kernel), 50.0, 0.0).test)
    run = data["krr"].sel(trial=1, kernel=0, krr_samples=50)
    for s in (0.0, 1.0):
        sigma2 = s * clean
        idx, labels = order[:50], y[order[:50]] + np.sqrt(sigma2) * eps[:50]
        for r in (1e-4, 1e-1):
            ridge = run["krr_ridge"].values[np.argmin(np.abs(np.log(run["krr_ridge"].values / r)))]
            coef = np.linalg.solve(kern[np.ix_(idx, idx)] + ridge * np.eye(50), labels)
            test = np.mean((kern[:, idx] @ coef - y) ** 2) + sigma2
            train = np.mean((kern[np.ix_(idx, idx)] @ coef - labels) ** 2)
            got = run.sel(relative_noise=s, krr_ridge=ridge)
            assert float(got["test"]) == pytest.approx(test, rel=1e-7)  # eigh-clipped features vs K: seen 1e-10
            assert float(got["train"]) == pytest.approx(train, rel=1e-6)


def test_theory_and_power_law_results_are_the_library_at_those_points(result):
    _, data, setup = result
    th, pl = data["theory"], data["power_law"]
    task = tasks.power_law_task(*study.AUTHORS)
    assert float(th["gaussian_width_test"].sel(width=39, ridge=0.1)) == pytest.approx(
        float(theory.rf_risk(task, 256.0, 39.0, 0.1).test), rel=1e-12)
    assert float(th["gaussian_samples_optimal"].sel(samples=158)) == pytest.approx(
        float(theory.optimal_ridge(task, 158.0, 256.0).risk.test), rel=1e-12)
    a, b = study.PAIRS[1]
    got = pl["ratio"].sel(pair=f"{a:g},{b:g}", n=100, modes=16_000).values
    np.testing.assert_allclose(got, fitting.fitting_ratio(tasks.power_law_task(16_000, a, b), 100.0, [0.0, 1.0]).ratio,
                               rtol=1e-12)
    np.testing.assert_allclose(pl["closed_ratio"].sel(pair=f"{a:g},{b:g}").values,
                               [powerlaw.optimal_fitting_ratio_at_noise(a, b, s) for s in (0.0, 1.0)], rtol=1e-14)
    # the closed form at s = 0 is the paper's ((alpha - beta) / (beta (alpha - 1)))^2
    assert float(pl["closed_ratio"].sel(pair="3,2", ratio_noise=0.0)) == pytest.approx((1 / 4) ** 2, rel=1e-12)
    assert float(pl["closed_threshold"].sel(pair="2,3")) == pytest.approx(0.5, rel=1e-14)  # (3 - 2)/(2 * 1)


def test_claim_numbers_from_the_stored_sweeps(result):
    res, data, setup = result
    m, d, th = res.measures, data["digits"], data["theory"]
    rel = np.concatenate([np.abs(d[f"{a}_test"].mean("trial").values / th[f"digits_{a}_test"].values - 1).ravel()
                          for a in ("width", "samples")])
    assert m["digits_median"] == pytest.approx(np.median(rel), rel=1e-12)
    assert m["digits_p90"] == pytest.approx(np.percentile(rel, 90), rel=1e-12)
    g = data["gaussian"]
    z = [((g[f"{a}_test"].mean("trial") - th[f"gaussian_{a}_test"]) / (g[f"{a}_test"].std("trial", ddof=1)
          / np.sqrt(g.sizes["trial"]))).values.ravel() for a in ("width", "samples")]
    assert m["theory_z_fraction"] == pytest.approx(np.mean(np.abs(np.concatenate(z)) <= study.Z), abs=1e-12)
    k = data["krr"]
    best = k["test"].mean("trial").argmin("krr_ridge")
    ratio = k["train"].isel(krr_ridge=best).mean("trial") / k["test"].isel(krr_ridge=best).mean("trial")
    np.testing.assert_allclose(m["krr_ratio"], ratio.values, rtol=1e-12)
    ref = json.loads((Path(__file__).parents[1] / "data" / "more_is_better_rf_gaussian_subset.json").read_text())
    np.testing.assert_allclose(data["reference"]["ref_width_measured"].values, ref["n256"]["test_mse_mean"],
                               rtol=1e-5)  # the package data are the authors' stored means


def test_claims_fail_when_their_input_is_wrong(result):
    res, _, setup = result
    good = {k: np.asarray(v) for k, v in res.measures.items()}
    changes = (("theory_rise", lambda v: np.where(np.arange(v.size) == 0, 1e-6, v), "optimal-risk-monotone-theory"),
               ("experiment_rise", lambda v: np.where(np.arange(v.size) == 0, study.RISE + 0.1, v),
                "optimal-risk-monotone-experiment"),
               ("reference_median", lambda v: v * 0 + 0.03, "theory-matches-authors"),
               ("reference_p90", lambda v: v * 0 + 0.06, "theory-matches-authors-tail"),
               ("authors_z", lambda v: v + 10.0, "experiment-matches-authors"),
               ("theory_z_fraction", lambda v: v * 0 + 0.8, "experiment-matches-theory"),
               ("digits_median", lambda v: v * 0 + 0.07, "digits-rf-matches-theory"),
               ("digits_p90", lambda v: v * 0 + 0.2, "digits-rf-matches-theory-tail"),
               ("ratio_error", lambda v: v + 2e-4, "fitting-ratio-closed-form"),
               ("mode_rate", lambda v: v + 0.3, "fitting-ratio-mode-convergence"),
               ("threshold_error", lambda v: v + 2e-3, "overfitting-threshold"),
               ("exponents", lambda v: v * np.array([0.5, 1.0, 1.0, 1.0]), "digits-power-law-class"),
               ("krr_ratio", lambda v: v + (np.arange(v.shape[1]) == v.shape[1] - 1)[:, None] * 0.06,
                "digits-overfitting-obligatory"),
               ("krr_ratio_gap", lambda v: v + 0.1, "digits-fitting-ratio-theory"),
               ("krr_test_rel", lambda v: v * 0 + 0.05, "digits-krr-matches-theory"),
               ("krr_test_rel", lambda v: np.where(v >= np.percentile(v, 80), 0.2, v),
                "digits-krr-matches-theory-tail"))
    for key, change, name in changes:
        bad = dict(good, **{key: change(good[key])})
        verdict = {c.name: c.passed for c in study.claims(bad, setup)}
        assert not verdict[name] and sum(verdict.values()) == len(NAMES) - 1, (name, verdict)


@pytest.mark.parametrize("overrides, match", [
    ({"ratio_modes": 1000}, "ratio_modes"),
    ({"spectrum_lo": 10, "spectrum_hi": 12}, "spectrum_hi"),
    ({"trial": [-1]}, "trial"),
    ({"width": [10, 20_000]}, "width"),
    ({"ridge": [0.0, 1.0]}, "ridge"),
    ({"n_test": 0}, "n_test"),
])
def test_bad_settings_are_refused_before_compiling(overrides, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        study.STUDY.plan("quick", {**TINY, **overrides})
    with pytest.raises(ValueError, match=match):
        st.run_study(study.STUDY, out=tmp_path / "out", overrides={**TINY, **overrides})
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_paper_size_passes_every_claim(tmp_path):
    res = st.run_study(study.STUDY, out=tmp_path, size="paper", progress=False)
    assert len(res.claims) == len(NAMES) and all(c.passed for c in res.claims)
