"""Sagun-Chatterjee study on the study API: a tiny run whose every claim passes, with one run of the grid recomputed
from the unpadded library (bounds.two_layer) and an independent dense Hessian, the claims' numbers recomputed from
the stored sweep, claims that fail when their input is wrong, bad axes and settings refused before anything
compiles, and the paper size (slow). The sweeps run on one device: on a 2-core machine more CPU devices than
half the cores can deadlock batched LAPACK calls (docs/architecture.md#known-xla-cpu-deadlock)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import overparam.store
import overparam.study as st
from bounds import two_layer as tl
from overparam import sweep
from overparam.studies import sagun_chatterjee as study

TINY = {"dim": 6, "n_train": 10, "steps": 600, "newton_steps": 16, "label_draws": 32, "lanczos_iter": 40,
        "early_steps": 60, "early_draws": 4, "width": [8, 12], "clusters": [2, 3], "seed": [0, 1]}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("sagun-chatterjee")
    res = st.run_study(study.STUDY, out=out, overrides=TINY, progress=False, devices=1)
    ds = overparam.store.load(out / "main.zarr")
    return res, ds, study.STUDY.plan("quick", TINY)


def test_every_claim_passes_at_a_tiny_size(result):
    res, _, _ = result
    assert [c.name for c in res.claims] == ["global-minimum", "bulk-rank", "bulk-fraction", "bulk-grows-with-width",
                                            "outliers-equal-clusters", "lanczos-matches-dense",
                                            "random-label-coherence", "real-label-coherence",
                                            "real-labels-fit-faster"]
    assert all(c.passed for c in res.claims), [c.claim.measured_text() for c in res.claims if not c.passed]
    stored = st.read_result(res.out)
    assert stored is not None and stored.passed and [f["name"] for f in stored.figures] == ["hessian_coherence"]


def test_one_run_equals_the_unpadded_library_and_a_dense_hessian(result):
    """Run (width 8 of max 12, K = 3, seed 1) rebuilt without padding: same loss, spectrum and coherence; the
    spectrum against eigvalsh of jax.hessian (claims global-minimum, bulk-rank, outliers-equal-clusters)."""
    _, ds, setup = result
    kd, ki, _ = jax.random.split(sweep.seed_key(jax.random.key(study.DATA_SEED), 1), 3)
    data = tl.cluster_data(kd, setup.n_train, setup.dim, 3, max_clusters=3, spread=setup.spread, radius=setup.radius)
    params, losses = jax.jit(tl.train, static_argnums=(2, 4))(tl.init_params(ki, 8, setup.dim), data, setup.steps,
                                                              setup.learning_rate, setup.newton_steps)
    run = ds.sel(width=8, clusters=3, seed=1)
    assert float(run["final_loss"]) <= 1e-30 and float(losses[-1]) <= 1e-30  # both at round-off: 1.2e-32, 2.9e-32
    flat, unravel = ravel_pytree(params)
    dense = np.linalg.eigvalsh(np.asarray(jax.hessian(lambda v: tl.squared_loss(unravel(v), data.x, data.y))(flat)))
    eig = run["eigenvalues"].values
    p = tl.num_params(8, setup.dim)
    assert np.all(np.isnan(eig[p:])) and int(run["num_params"]) == p == 64
    np.testing.assert_allclose(eig[:p], dense[::-1], atol=1e-12 * dense[-1])  # observed 3e-15 lambda_max
    edge = float(run["within_top"] + run["residual_norm"])
    assert np.sum(dense > edge) == 3 and np.sum(np.abs(dense) <= 1e-10 * dense[-1]) >= p - setup.n_train


def test_claim_numbers_from_the_stored_sweep(result):
    """bulk-fraction, bulk-grows-with-width, lanczos, the coherences and early GD recomputed from the dataset."""
    res, ds, setup = result
    m, n = res.measures, setup.n_train
    eig = ds["eigenvalues"].values
    top = eig[..., 0]
    p = np.sum(np.isfinite(eig), axis=-1)
    near = np.sum(np.abs(np.nan_to_num(eig, nan=np.inf)) <= 1e-6 * top[..., None], axis=-1) / p
    np.testing.assert_allclose(m["bulk_margin"], near - (1 - n / p), atol=1e-15)  # the same, up to rounding
    np.testing.assert_allclose(m["mean_near_zero"], near.mean(axis=(1, 2)), atol=1e-15)
    np.testing.assert_array_equal(m["num_params"], [64, 96])
    lanczos = np.maximum(np.abs(ds["lanczos_max"].values - top), np.abs(ds["lanczos_min"].values - np.nanmin(eig, -1)))
    np.testing.assert_allclose(m["lanczos_error"], lanczos / top, rtol=1e-12)
    rand, sem = ds["coherence_random"].values, ds["coherence_random_sem"].values
    assert m["random_mean"] == pytest.approx(rand.mean(), rel=1e-14)
    assert m["random_sem"] == pytest.approx(np.sqrt(np.sum(sem**2)) / rand.size, rel=1e-14)
    np.testing.assert_allclose(m["real_z"], (ds["coherence_real"].values - rand) / sem, rtol=1e-12)
    early = ds["early_loss_random"].values[..., -1, :].min(axis=-1) / ds["early_loss_real"].values[..., -1]
    np.testing.assert_allclose(m["early_ratio"], early, rtol=1e-12)
    np.testing.assert_array_equal(ds["record"].values, [0, 12, 24, 36, 48, 60])
    np.testing.assert_allclose(ds["early_loss_real"].values[..., 0], 0.5, rtol=1e-13)  # f = 0: L = mean(y^2)/2
    np.testing.assert_allclose(ds["early_loss_random"].values[..., 0, :], 0.5, rtol=1e-13)


def test_claims_fail_when_their_input_is_wrong(result):
    """A residual of 1e-6, one zero eigenvalue short, a fraction below 1 - n/P, a shrinking bulk, a missing
    outlier, a Lanczos error of 1e-6, a random coherence 5 s.e. off 1/n, a real coherence within 1 s.e. of the
    random one, or a real-label loss above a random one: each fails its own claim and only that one."""
    res, _, setup = result
    good = {k: np.asarray(v) for k, v in res.measures.items()}
    sem = float(good["random_sem"])
    for key, change, name in (("relative_residual", lambda v: v + 1e-6, "global-minimum"),
                              ("bulk_surplus", lambda v: v - 1, "bulk-rank"),
                              ("bulk_margin", lambda v: v - 0.1, "bulk-fraction"),
                              ("mean_near_zero", lambda v: v[::-1], "bulk-grows-with-width"),
                              ("outlier_excess", lambda v: v - (np.arange(v.size).reshape(v.shape) == 0),
                               "outliers-equal-clusters"),
                              ("lanczos_error", lambda v: v + 1e-6, "lanczos-matches-dense"),
                              ("random_mean", lambda v: 1 / setup.n_train + 5 * sem, "random-label-coherence"),
                              ("real_z", lambda v: np.minimum(v, 1.0), "real-label-coherence"),
                              ("early_ratio", lambda v: v.ravel() * (np.arange(v.size) > 0), "real-labels-fit-faster")):
        bad = dict(good, **{key: change(good[key])})
        verdict = {c.name: c.passed for c in study.claims(bad, setup)}
        assert not verdict[name] and sum(verdict.values()) == 8, (name, verdict)


@pytest.mark.parametrize("overrides, match", [
    ({"width": [7, 12]}, "width"),
    ({"width": [2, 12], "n_train": 20}, "P = 16 < n_train = 20"),
    ({"width": [8]}, "width"),
    ({"clusters": [2, 7]}, "clusters"),
    ({"seed": [-1]}, "seed"),
    ({"lanczos_iter": 65}, "lanczos_iter"),
    ({"early_steps": 62}, "early_steps"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"depth": [2]}, "depth"),
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
    assert len(res.claims) == 9 and all(c.passed for c in res.claims)
