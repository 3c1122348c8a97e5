"""bounds.ensemble_regret: the posterior against Bayes' rule in plain NumPy; ensembles of exact predictives against
bounds.batch_regret; the exact J-draw ensemble against brute-force enumeration, its 1/J approach to the mixture
(delta method) and its monotonicity; the sampled ensembles' convexity ordering; bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hst
from scipy import stats

import bounds


@pytest.fixture(scope="module")
def small_class():
    return bounds.mean_of_uniforms_class(3, 4)  # K = 10, p_k = (k + 3/2) / 12


def _kl(p0, q):
    return p0 * np.log(p0 / q) + (1 - p0) * np.log((1 - p0) / (1 - q))


def test_posterior_is_bayes_rule(small_class):
    n = 9
    p, post = bounds.bernoulli_posterior(small_class, n)
    np.testing.assert_allclose(p, (np.arange(10) + 1.5) / 12, rtol=1e-14)
    w = np.exp(np.asarray(small_class.log_prior))
    for s in range(n + 1):
        joint = w * p**s * (1 - p) ** (n - s)
        np.testing.assert_allclose(post[s], joint / joint.sum(), rtol=4e-14)  # observed 3.8e-15


@given(p0=hst.floats(0.05, 0.95), members=hst.sampled_from([1, 2, 4]))
def test_ensemble_of_exact_predictives_is_the_mixture(small_class, p0, members):
    """Members that all predict the exact posterior predictive give exactly bounds.batch_regret, with zero spread."""
    n = 12
    p, post = bounds.bernoulli_posterior(small_class, n)
    q = np.repeat((post @ p)[:, None], 8, axis=1)
    result = bounds.ensemble_batch_regret(q, p0, n, members)
    exact = float(bounds.batch_regret(small_class, [1 - p0, p0], n))
    assert result.mean == pytest.approx(exact, rel=3e-14, abs=1e-16)  # observed 3e-15 relative
    assert result.sem == pytest.approx(0.0, abs=1e-14) and result.per_ensemble.shape == (8 // members,)


def test_exact_draw_ensemble_against_enumeration(small_class):
    """J = 1, 2, 3 exact posterior draws: the expectation over all K^J tuples of draws, by brute force."""
    n, p0 = 7, 0.3
    p, post = bounds.bernoulli_posterior(small_class, n)
    pmf = stats.binom.pmf(np.arange(n + 1), n, p0)
    for members in (1, 2, 3):
        brute = 0.0
        for idx in itertools.product(range(p.size), repeat=members):
            weight = np.prod(post[:, list(idx)], axis=1)  # (n + 1,)
            brute += pmf @ (weight * _kl(p0, p[list(idx)].mean()))
        exact = bounds.posterior_ensemble_regret(small_class, p0, n, members)
        assert exact == pytest.approx(brute, rel=4e-14)  # FFT round-off; observed 4e-15


def test_exact_draw_ensemble_falls_to_the_mixture_like_one_over_j():
    """excess(J) = regret(J) - mixture: decreasing in J, and J excess(J) -> the delta-method constant as O(1/J)."""
    cls = bounds.mean_of_uniforms_class(4, 32)
    n, p0 = 20, 0.2
    p, post = bounds.bernoulli_posterior(cls, n)
    q, var = post @ p, post @ p**2 - (post @ p) ** 2
    pmf = stats.binom.pmf(np.arange(n + 1), n, p0)
    constant = pmf @ (var * (p0 / (2 * q**2) + (1 - p0) / (2 * (1 - q) ** 2)))
    mixture = float(bounds.batch_regret(cls, [1 - p0, p0], n))
    members = [1, 2, 4, 8, 16, 32, 64, 128]
    excess = np.array([bounds.posterior_ensemble_regret(cls, p0, n, j) for j in members]) - mixture
    assert np.all(excess > 0) and np.all(np.diff(excess) < 0)  # Jensen, strictly
    error = np.abs(np.array(members) * excess / constant - 1)
    # the O(1/J) remainder: observed J x relative error 0.064, 0.063, 0.062, 0.062, 0.061, 0.061, 0.061, 0.061
    assert np.all(error <= 0.1 / np.array(members))
    assert error[-1] <= 1e-3  # observed 4.8e-4 at J = 128


def test_sampled_ensembles_do_not_get_worse_with_j():
    """For any members, mean regret over ensembles of 2J is at most that over ensembles of J (convexity of D(p0||.))."""
    rng = np.random.default_rng(0)
    n = 6
    q = rng.uniform(0.02, 0.98, size=(n + 1, 64))
    values = [bounds.ensemble_batch_regret(q, 0.4, n, j).mean for j in (1, 2, 4, 8, 16, 32, 64)]
    assert np.all(np.diff(values) <= 1e-15)
    # one member: the plain average of each member's batch regret
    pmf = stats.binom.pmf(np.arange(n + 1), n, 0.4)
    one = bounds.ensemble_batch_regret(q, 0.4, n, 1)
    np.testing.assert_allclose(one.per_ensemble, pmf @ _kl(0.4, q), rtol=1e-12)
    assert one.sem == pytest.approx(np.std(pmf @ _kl(0.4, q), ddof=1) / 8, rel=1e-12)


def test_bad_input(small_class):
    with pytest.raises(ValueError, match="p0"):
        bounds.ensemble_batch_regret(np.full((3, 4), 0.5), 1.0, 2, 1)
    with pytest.raises(ValueError, match="members"):
        bounds.ensemble_batch_regret(np.full((3, 4), 0.5), 0.5, 2, 5)
    with pytest.raises(ValueError, match="member_predictive"):
        bounds.ensemble_batch_regret(np.full((4, 4), 0.5), 0.5, 2, 1)
    with pytest.raises(ValueError, match="member_predictive"):
        bounds.ensemble_batch_regret(np.full((3, 4), 1.0), 0.5, 2, 1)
    with pytest.raises(ValueError, match="arithmetic"):
        bounds.posterior_ensemble_regret(bounds.bernoulli_grid(np.array([0.1, 0.2, 0.7])), 0.5, 4, 2)
    with pytest.raises(ValueError, match="Bernoulli"):
        bounds.bernoulli_posterior(bounds.categorical_class(np.full((2, 3), 1 / 3)), 3)
    with pytest.raises(ValueError, match="n"):
        bounds.bernoulli_posterior(small_class, -1)
