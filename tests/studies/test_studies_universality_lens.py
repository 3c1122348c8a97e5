"""Universality-lens study: the ensemble regret against the exact mixture's, and a tiny end-to-end run
whose claims (bound holds; regret follows -log W) are checked by value."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp

import bounds
from overparam.studies import universality_lens as study


def _posterior_predictive(cls, n):
    lp, lw = np.asarray(cls.log_probs), np.asarray(cls.log_prior)
    s = np.arange(n + 1)[:, None]
    joint = lw[None, :] + s * lp[None, :, 1] + (n - s) * lp[None, :, 0]
    return np.exp(logsumexp(joint + lp[None, :, 1], axis=1) - logsumexp(joint, axis=1))


@pytest.fixture(scope="module")
def small_class():
    return bounds.mean_of_uniforms_class(3, 8)


@given(p0=st.floats(0.05, 0.95), members=st.sampled_from([1, 2, 4]))
def test_exact_predictive_ensemble_equals_mixture(small_class, p0, members):
    """An ensemble whose members all predict the exact posterior predictive has exactly the
    mixture's batch regret (bounds.batch_regret, an independent computation)."""
    n = 12
    q = _posterior_predictive(small_class, n)
    mean_theta = np.repeat(q[:, None], 8, axis=1)
    regret, sem = study.ensemble_regret(mean_theta, p0, n, members)
    exact = float(bounds.batch_regret(small_class, study.truth_probs(p0), n))
    assert regret == pytest.approx(exact, rel=1e-9, abs=1e-13)
    assert sem == pytest.approx(0.0, abs=1e-12)


def test_finite_class_regret_below_log_weight():
    """D_n <= -log w(theta0) for a truth in a finite class, and the table's bound holds."""
    table = study.regret_table([1, 2], [0.5], 40, 2)  # D = 1, two levels: {1/4, 3/4}; D = 2 adds 1/2
    assert table.regret[1, 0] <= -np.log(0.5) + 1e-12  # weight of p = 1/2 is 1/2 for D = 2
    assert np.all(table.regret <= table.bound + 1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="p0"):
        study.truth_probs(1.0)
    with pytest.raises(ValueError, match="members"):
        study.ensemble_regret(np.full((3, 4), 0.5), 0.5, 2, 5)
    with pytest.raises(ValueError, match="num_params"):
        study.run_all("quick", {"num_params": (3,)})


def test_tiny_run(tmp_path, monkeypatch):
    tiny = study.SETUPS["quick"]._replace(n=50, levels=8, n_batch=8, sgld_steps=300, fine_levels=32,
                                          members=(1, 4), axes={"num_params": (1, 4, 16), "chain": tuple(range(16))})
    monkeypatch.setitem(study.SETUPS, "quick", tiny)
    result = study.STUDY.run(size="quick", out=tmp_path, progress=False)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert len(claims) == 3
    assert claims[0]["passed"] and claims[1]["passed"]
    rho = float(claims[1]["measured"].split("Spearman with -log W = ")[1].split(",")[0])
    assert study.RANK_CORRELATION <= rho <= 1.0
    import xarray as xr

    ds = xr.open_dataset(tmp_path / "regret.nc")
    regret, bound = ds["regret"].values, ds["weight_bound"].values
    assert np.all((0 <= regret) & (regret <= bound))
    assert regret[-1, 0] < regret[0, 0] and regret[-1, 1] > regret[0, 1]
    # one SGLD member is much worse than the mixture (Jensen), the ensemble of 4 is closer
    ens, mix = ds["ensemble_regret"].values, ds["mixture_batch_regret"].values
    assert np.all(ens[0] > mix) and np.all(ens[1] < ens[0])
    assert all(p.exists() for p in result.figures)
