"""Universality-lens study on the study API: a tiny run whose every claim passes and whose numbers are recomputed
independently (the regret and the weight bound by plain NumPy sums over the success count, the posterior by Bayes'
rule, the SGLD z-scores and ensembles from the stored chains); claims that fail when their input is wrong; bad axes
and settings refused before anything compiles; the paper size (slow)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import bounds
import overparam.study as st
from overparam.studies import universality_lens as study

TINY = {"n": 40, "levels": 8, "sgld_dim": 2, "n_batch": 6, "sgld_steps": 1500, "fine_levels": 32,
        "num_params": [1, 2, 4, 8], "truth": [0.1, 0.5], "members": [1, 2, 4], "chain": list(range(128))}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("universality-lens")
    res = st.run_study(study.STUDY, out=out, overrides=TINY, progress=False)
    return res, st.read_result(out), study.STUDY.plan("quick", TINY)


def _regret_and_bound(d: int, levels: int, p0: float, n: int) -> tuple[float, float, float]:
    """D_n, the agnostic weight bound and -log W_{1/n}, by plain sums (the binomial coefficient cancels in D_n)."""
    cls = bounds.mean_of_uniforms_class(d, levels)
    p, lw = np.exp(np.asarray(cls.log_probs)[:, 1]), np.asarray(cls.log_prior)
    s = np.arange(n + 1)[:, None]
    log_p0 = s * np.log(p0) + (n - s) * np.log1p(-p0)
    log_mix = logsumexp(lw[None] + s * np.log(p) + (n - s) * np.log1p(-p), axis=1, keepdims=True)
    regret = float(stats.binom.pmf(s[:, 0], n, p0) @ (log_p0 - log_mix)[:, 0])
    kl = p0 * np.log(p0 / p) + (1 - p0) * np.log((1 - p0) / (1 - p))
    excess = kl - kl.min()
    bound = n * kl.min() + min(n * e - logsumexp(lw[excess <= e]) for e in excess)
    return regret, bound, -float(logsumexp(lw[excess <= 1.0 / n]))


def test_every_claim_passes_at_a_tiny_size(result):
    res, stored, _ = result
    assert [c.name for c in res.claims] == ["weight-bound", "simple-truth-gains", "complex-truth-loses",
                                            "follows-weight",
                                            "sgld-posterior-mean", "sgld-posterior-spread",
                                            "ensemble-matches-posterior-draws", "ensemble-improves"]
    assert all(c.passed for c in res.claims), [c.claim.measured_text() for c in res.claims if not c.passed]
    assert stored is not None and stored.passed and len(stored.claims) == 8
    assert {f["name"] for f in stored.figures} == {"regret_vs_parameters", "ensemble_vs_mixture"}


def test_regret_bound_and_weight_against_plain_sums(result):
    """Claims weight-bound, simple-truth-gains, complex-truth-loses, follows-weight: their numbers recomputed."""
    res, _, setup = result
    m = res.measures
    ref = np.array([[_regret_and_bound(d, setup.levels, p0, setup.n) for p0 in setup.axes["truth"]]
                    for d in setup.axes["num_params"]])  # (D, truth, {regret, bound, -log W})
    np.testing.assert_allclose(m["slack"], ref[..., 1] - ref[..., 0], rtol=1e-9, atol=1e-12)  # observed 1e-14
    np.testing.assert_allclose(m["simple_diff"], np.diff(ref[:, 1, 0]), rtol=1e-9)
    np.testing.assert_allclose(m["complex_diff"], np.diff(ref[:, :1, 0], axis=0), rtol=1e-9)
    np.testing.assert_allclose(m["concordance"], np.diff(ref[..., 0], axis=0) * np.diff(ref[..., 2], axis=0), rtol=1e-9)


def test_sgld_and_ensemble_numbers_from_the_stored_chains(result):
    """Claims sgld-posterior-mean/spread, ensemble-matches-posterior-draws, ensemble-improves: recomputed in NumPy."""
    res, _, setup = result
    m = res.measures
    import overparam.store

    chains = overparam.store.load(res.out / "sgld.zarr")["mean_theta"].values  # (C, n_batch + 1)
    n, c = setup.n_batch, chains.shape[0]
    fine = bounds.mean_of_uniforms_class(setup.sgld_dim, setup.fine_levels)
    p, w = np.exp(np.asarray(fine.log_probs)[:, 1]), np.exp(np.asarray(fine.log_prior))
    s = np.arange(n + 1)[:, None]
    post = w * p**s * (1 - p) ** (n - s)
    post /= post.sum(axis=1, keepdims=True)
    q = post @ p
    np.testing.assert_allclose(m["mean_z"], (chains.mean(0) - q) / (chains.std(0, ddof=1) / np.sqrt(c)), rtol=1e-8)
    for i, j in enumerate(setup.axes["members"]):
        for t, p0 in enumerate(setup.axes["truth"]):
            ens = chains.T.reshape(n + 1, c // j, j).mean(axis=-1)
            per = stats.binom.pmf(s[:, 0], n, p0) @ (p0 * np.log(p0 / ens) + (1 - p0) * np.log((1 - p0) / (1 - ens)))
            assert m["ensemble"][i][t] == pytest.approx(per.mean(), rel=1e-10)  # observed 1e-15
            assert m["ensemble_sem"][i][t] == pytest.approx(per.std(ddof=1) / np.sqrt(c // j), rel=1e-10)
    assert np.all(np.asarray(m["ensemble_diff"]) <= 0)


def test_claims_fail_when_their_input_is_wrong(result):
    """A bound below the regret, regrets moving the wrong way, a biased SGLD mean or variance, ensembles off by 5 s.e.
    or rising with J: each fails its own claim and only that one."""
    res, _, setup = result
    good = {k: np.asarray(v) for k, v in res.measures.items()}
    for key, change, name in (("slack", lambda v: v - 10.0, "weight-bound"),
                              ("simple_diff", lambda v: -v, "simple-truth-gains"),
                              ("complex_diff", lambda v: -v, "complex-truth-loses"),
                              ("concordance", lambda v: -v, "follows-weight"),
                              ("mean_z", lambda v: v + 5.0, "sgld-posterior-mean"),
                              ("var_z", lambda v: v - 9.0, "sgld-posterior-spread"),
                              ("ensemble_z", lambda v: v + 5.0, "ensemble-matches-posterior-draws"),
                              ("ensemble_diff", lambda v: -v, "ensemble-improves")):
        bad = dict(good, **{key: change(good[key])})
        verdict = {c.name: c.passed for c in study.claims(bad, setup)}
        assert not verdict[name] and sum(verdict.values()) == 7, (name, verdict)


@pytest.mark.parametrize("overrides, match", [
    ({"truth": [0.1, 0.3]}, "simple truth"),
    ({"truth": [0.5, 1.0]}, "truth"),
    ({"num_params": [4]}, "num_params"),
    ({"members": [2, 3]}, "divide"),
    ({"chain": list(range(60))}, "chain"),
    ({"sgld_step_size": 0.0}, "sgld_step_size"),
    ({"levels": 1}, "levels"),
    ({"depth": [2]}, "depth"),
])
def test_bad_axes_and_settings_are_refused_before_compiling(overrides, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        study.STUDY.plan("quick", {**TINY, **overrides})
    with pytest.raises(ValueError, match=match):
        st.run_study(study.STUDY, out=tmp_path / "out", overrides={**TINY, **overrides})
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="p0"):
        study.truth_probs(1.0)


@pytest.mark.slow
def test_paper_size_passes_every_claim(tmp_path):
    res = st.run_study(study.STUDY, out=tmp_path, size="paper", progress=False)
    assert len(res.claims) == 8 and all(c.passed for c in res.claims)
