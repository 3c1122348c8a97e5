"""Advani-Saxe study on the study API: a tiny run whose every claim passes; one seed of each sweep rebuilt from
other routes (randfeat.gd_curves for the linear student, a NumPy matrix exponential for the two-layer one); the
theory result against randfeat.advani_saxe_curves; the claims' numbers recomputed from the stored sweeps; claims
that fail when their input is wrong; bad axes and settings refused before anything compiles; the paper size
(slow). The sweeps run on one device (docs/architecture.md#known-xla-cpu-deadlock)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.linalg
import xarray as xr

import overparam.store
import overparam.study as st
import randfeat
from overparam import sweep
from overparam.studies import advani_saxe as study
from randfeat import two_layer as tl

TINY = {"n_inputs": 100, "n_times": 20, "t_max": 200.0, "load": [0.5, 1.0, 2.0], "snr": [1.0, 8.0],
        "init_var": [0.0, 1.0], "n_samples": 50, "student_inputs": 25, "n_test": 150, "gd_steps": 50,
        "width": [12, 25, 38, 50, 62, 100, 200], "seed": list(range(12))}
NAMES = ["overtraining-worst-at-load-1", "theory-agreement", "initial-weights-raise-best-error",
         "initial-weight-rise-matches-theory", "more-data-less-init-effect", "overtraining-worst-at-width-P",
         "large-student-stops-lower", "frozen-subspace", "null-space-error"]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("advani-saxe")
    res = st.run_study(study.STUDY, out=out, overrides=TINY, progress=False, devices=1)
    data = {"linear": overparam.store.load(out / "linear.zarr"), "student": overparam.store.load(out / "student.zarr"),
            "theory": xr.open_dataset(out / "theory.nc", engine="h5netcdf").load()}
    return res, data, study.STUDY.plan("quick", TINY)


def test_every_claim_passes_at_a_tiny_size(result):
    res, _, _ = result
    assert [c.name for c in res.claims] == NAMES
    assert all(c.passed for c in res.claims), [c.claim.measured_text() for c in res.claims if not c.passed]
    stored = st.read_result(res.out)
    assert stored is not None and stored.passed
    assert [f["name"] for f in stored.figures] == ["linear_student", "two_layer_student"]


def test_linear_seed_equals_gd_curves_on_its_rows(result):
    """Seed 3 at load 0.5 (the dual P x P route) and 2 (primal) against randfeat.gd_curves, another exact solver."""
    _, data, setup = result
    kx, kw, k0, ke = jax.random.split(sweep.seed_key(jax.random.key(study.DATA_SEED), 3), 4)
    x = tl.gaussian_inputs(kx, 200, 100)
    w_bar, z, eps = tl.linear_teacher(kw, 100), jax.random.normal(k0, (100,)), jax.random.normal(ke, (200,))
    times = data["linear"]["time"].values
    for load, snr, init in ((0.5, 8.0, 1.0), (2.0, 1.0, 0.0)):
        p = int(load * 100)
        ref = randfeat.gd_curves(x[:p], x[:p] @ w_bar + eps[:p] / np.sqrt(snr), w_bar, np.sqrt(init) * z, times,
                                 1.0 / snr)
        run = data["linear"].sel(seed=3, load=load, snr=snr, init_var=init)
        # two eigendecompositions (dual vs primal at load 0.5): round-off, observed 1.4e-15 (E_g), 2e-15 abs (E_t)
        np.testing.assert_allclose(run["test_error"].values, np.asarray(ref.generalization), rtol=1e-14)
        np.testing.assert_allclose(run["train_error"].values, np.asarray(ref.training), rtol=1e-14, atol=2e-14)


def test_student_seed_equals_a_numpy_matrix_exponential(result):
    """Seed 2 at widths 25 (< P) and 100 (> P): a(t) from expm of the primal flow, errors on the same test set."""
    _, data, setup = result
    kt, kx, kq, kw, ke, ka = jax.random.split(sweep.seed_key(jax.random.key(study.DATA_SEED + 1), 2), 6)
    teacher = tl.relu_teacher(kt, 25, setup.teacher_hidden)
    x, xq = np.asarray(tl.gaussian_inputs(kx, 50, 25)), np.asarray(tl.gaussian_inputs(kq, 150, 25))
    f, fq = (np.maximum(v @ np.asarray(teacher.hidden).T, 0.0) @ np.asarray(teacher.output) for v in (x, xq))
    weights = np.asarray(jax.random.normal(kw, (200, 25)))
    y, z = f + np.asarray(jax.random.normal(ke, (50,))), np.asarray(jax.random.normal(ka, (200,)))
    times = data["student"]["time"].values[[0, 7, 13, 19]]
    for width, snr in ((25, 1.0), (100, 8.0)):
        feats = lambda v: np.sqrt(2.0 / width) * np.maximum(v @ weights[:width].T, 0.0)  # noqa: E731
        h, hq, a0 = feats(x), feats(xq), z[:width]
        labels = f + (y - f) / np.sqrt(snr)
        m = np.zeros((width + 1, width + 1))
        m[:width, :width], m[:width, width] = -h.T @ h, h.T @ (labels - h @ a0)
        ref = [np.mean((fq - hq @ (a0 + scipy.linalg.expm(m * t)[:width, width])) ** 2) + 1 / snr for t in times]
        got = data["student"]["test_error"].sel(seed=2, width=width, snr=snr, init_var=1.0).values[[0, 7, 13, 19]]
        np.testing.assert_allclose(got, ref, rtol=2e-12)  # dual eigenbasis vs expm up to t = 3000: observed 2.3e-13


def test_theory_result_is_the_marchenko_pastur_curves(result):
    _, data, _ = result
    th = data["theory"].sel(load=0.5, snr=8.0, init_var=1.0)
    ref = randfeat.advani_saxe_curves(th["time"].values, 0.5, 1.0, 1.0, 1.0 / 8.0)
    np.testing.assert_array_equal(th["test_error"].values, np.asarray(ref.generalization))
    np.testing.assert_array_equal(th["train_error"].values, np.asarray(ref.training))
    # small t: E_g = S (1 - 2 t m1 + 2 t^2 m2 - 4/3 t^3 m3 + 2/3 t^4 m4) + s_eps^2 (1 + t^2 m1 - t^3 m2 + 7/12 t^4 m3),
    # S = s_w^2 + s_0^2, m_k the Marchenko-Pastur moments a, a + a^2, a + 3a^2 + a^3, a + 6a^2 + 6a^3 + a^4
    t, a = float(th["time"][0]), 0.5
    m1, m2, m3, m4 = a, a + a**2, a + 3 * a**2 + a**3, a + 6 * a**2 + 6 * a**3 + a**4
    series = 2.0 * (1 - 2 * t * m1 + 2 * t**2 * m2 - 4 / 3 * t**3 * m3 + 2 / 3 * t**4 * m4) + 0.125 * (
        1 + t**2 * m1 - t**3 * m2 + 7 / 12 * t**4 * m3)
    assert float(th["test_error"][0]) == pytest.approx(series, abs=5e-6)  # the t^5 term: observed 1.0e-6


def test_claim_numbers_from_the_stored_sweeps(result):
    """Over-training argmax, the best early-stopping rise and its z-score, the student's argmax and the frozen
    part, recomputed from the datasets with NumPy loops."""
    res, data, setup = result
    m = res.measures
    lin = data["linear"]["test_error"].values  # (seed, load, snr, init, time)
    th = data["theory"]["test_error"].values  # (load, snr, init, time)
    mean = lin.mean(axis=0)
    over = mean[..., -1] - mean.min(axis=-1)
    np.testing.assert_array_equal(m["load_argmax_sim"], np.asarray(TINY["load"])[over.argmax(axis=0)])
    assert np.all(m["load_argmax_sim"] == 1.0) and np.all(m["load_argmax_theory"] == 1.0)
    rise = np.empty((12, 3, 2))
    for s in range(12):
        for i in range(3):
            for j in range(2):
                rise[s, i, j] = (lin[s, i, j, 1, th[i, j, 1].argmin()] - lin[s, i, j, 0, th[i, j, 0].argmin()])
    rise_th = th[:, :, 1].min(axis=-1) - th[:, :, 0].min(axis=-1)
    se = rise.std(0, ddof=1) / np.sqrt(12)
    np.testing.assert_allclose(m["rise_z"], ((rise.mean(0) - rise_th) / se)[:2], rtol=1e-10)  # loads <= 1: rounding
    np.testing.assert_allclose(m["rise_excess"], ((np.abs(rise.mean(0) - rise_th) - 4 * se) / rise_th)[:2], rtol=1e-10)
    # the paper's quick check: best E_g 0.895 (init 0) vs 1.432 (init 1) at a = 0.5, snr = 4 in the theory
    best = [float(np.min(randfeat.advani_saxe_curves(np.geomspace(0.05, 200.0, 400), 0.5, 1.0, v, 0.25).generalization))
            for v in (0.0, 1.0)]
    np.testing.assert_allclose(best, [0.895, 1.432], atol=1e-3)  # the rounding; observed 0.8952, 1.4315
    nl = data["student"]
    smean = nl["test_error"].mean("seed").values  # (width, snr, init, time)
    np.testing.assert_array_equal(m["width_argmax"].ravel(),
                                  np.asarray(TINY["width"])[(smean[..., -1] - smean.min(-1)).argmax(axis=0)].ravel())
    assert np.all(m["width_argmax"] == setup.n_samples)
    final = nl["test_error"].values[..., -1]  # (seed, width, snr, init)
    frozen = final[..., 1] - final[..., 0] - nl["null_space_error"].values[..., None]
    z_frozen = frozen.mean(0) / (frozen.std(0, ddof=1) / np.sqrt(12))
    np.testing.assert_allclose(m["null_space_z"], z_frozen[-2:], rtol=1e-10)
    # no frozen subspace up to N_h = P: round-off, eps cond(K), observed 1.9e-15 below P and 8.7e-11 at N_h = P
    nse = nl["null_space_error"].values
    assert np.all(np.abs(nse[:, :3]) <= 2e-14) and np.all(np.abs(nse[:, 3]) <= 1e-9)
    assert np.all(np.diff(nse[:, 3:], axis=1) > 0)  # beyond P it grows with the width


def test_claims_fail_when_their_input_is_wrong(result):
    """Each wrong input fails its own claim and only that one."""
    res, _, setup = result
    good = {k: np.asarray(v) for k, v in res.measures.items()}
    for key, change, name in (
        ("load_argmax_sim", lambda v: np.where(np.arange(v.size).reshape(v.shape) == 0, 2.0, v),
         "overtraining-worst-at-load-1"),
        ("excess_test", lambda v: v + 0.05, "theory-agreement"),
        ("rise_sig", lambda v: np.minimum(v, 3.0), "initial-weights-raise-best-error"),
        ("rise_excess", lambda v: np.abs(v) + 0.02, "initial-weight-rise-matches-theory"),
        ("shrink_z", lambda v: -v, "more-data-less-init-effect"),
        ("width_argmax", lambda v: v + 12, "overtraining-worst-at-width-P"),
        ("gain_z", lambda v: v - 5.0, "large-student-stops-lower"),
        ("frozen_drift", lambda v: v + 1e-6, "frozen-subspace"),
        ("null_space_z", lambda v: v + 5.0, "null-space-error"),
    ):
        bad = dict(good, **{key: change(good[key])})
        verdict = {c.name: c.passed for c in study.claims(bad, setup)}
        assert not verdict[name] and sum(verdict.values()) == len(NAMES) - 1, (name, verdict)


def test_a_wrong_theory_fails_the_agreement(result):
    """measure() on the tiny data with the theory 10% high fails theory-agreement; with the initial variance's
    effect doubled in the theory it fails the rise (the simulation is the same)."""
    _, data, setup = result
    verdict = {c.name: c.passed for c in study.claims(study.measure(dict(data, theory=data["theory"] * 1.1), setup),
                                                       setup)}
    assert not verdict["theory-agreement"] and verdict["overtraining-worst-at-load-1"]
    th = data["theory"]
    doubled = th + (th - th.sel(init_var=0.0))  # E_g(s_0^2) - E_g(0) twice as large
    verdict = {c.name: c.passed for c in study.claims(study.measure(dict(data, theory=doubled), setup), setup)}
    assert not verdict["initial-weight-rise-matches-theory"]


@pytest.mark.parametrize("overrides, match", [
    ({"load": [0.5, 2.0]}, "load"),
    ({"load": [1.0, 2.0]}, "load"),
    ({"load": [0.5, 1.0, 2.005]}, "load"),
    ({"load": [0.5, 1.0, 17.0]}, "load"),
    ({"width": [12, 25, 100]}, "width"),
    ({"width": [12, 50, 80]}, "width"),
    ({"snr": [0.0, 1.0]}, "snr"),
    ({"init_var": [-1.0, 1.0]}, "init_var"),
    ({"init_var": [0.0]}, "init_var"),
    ({"seed": [-1]}, "seed"),
    ({"n_times": 1}, "n_times"),
    ({"t_max": 0.0}, "t_max"),
    ({"rank": [2]}, "rank"),
])
def test_bad_axes_and_settings_are_refused_before_compiling(overrides, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        study.STUDY.plan("quick", {**TINY, **overrides})
    with pytest.raises(ValueError, match=match):
        st.run_study(study.STUDY, out=tmp_path / "out", overrides={**TINY, **overrides}, devices=1)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_paper_size_passes_every_claim(tmp_path):
    res = st.run_study(study.STUDY, out=tmp_path, size="paper", progress=False, devices=1)
    assert [c.name for c in res.claims] == NAMES and all(c.passed for c in res.claims)
