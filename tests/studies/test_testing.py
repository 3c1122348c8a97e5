"""overparam.testing: the strategies draw valid parameters, and the README theorem example holds."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given

from overparam import testing
from overparam.testing import bernoulli_classes

# ---- the README example, verbatim ------------------------------------------------------------
K, N_MAX = 16, 64  # fixed shapes: one compile serves every example

TRACES = []


@jax.jit
def regret(c):  # exact D_n of the Bayes mixture of Bernoulli(theta_j), truth theta_{c.truth}
    TRACES.append(1)  # (not in the README) count compilations
    k = jnp.arange(N_MAX + 1.0)  # number of ones in x^n (terms with k > n have weight 0)
    log_p = lambda th: k * jnp.log(th) + (c.n - k) * jnp.log1p(-th)  # noqa: E731
    log_mix = jax.nn.logsumexp(c.log_prior[:, None] + jax.vmap(log_p)(c.theta), axis=0)
    p0 = c.theta[c.truth]
    return jnp.sum(jax.scipy.stats.binom.pmf(k, c.n, p0) * (log_p(p0) - log_mix))


@given(bernoulli_classes(K, n_max=N_MAX))
def test_regret_at_most_minus_log_prior(c):  # Barron: 0 <= D_n <= -log w(theta0)
    assert 0.0 <= regret(c) + 1e-12 and regret(c) <= -c.log_prior[c.truth] + 1e-12


# ---------------------------------------------------------------------------------------------


def test_example_compiles_once_and_matches_scipy() -> None:
    """The jitted regret equals an independent SciPy computation and is traced once for many draws."""
    rng = np.random.default_rng(1)
    for n in (1, 7, 64):
        theta = np.sort(rng.uniform(0.05, 0.95, K))
        log_prior = scipy.special.log_softmax(rng.normal(size=K))
        c = testing.BernoulliClass(theta=theta, log_prior=log_prior, truth=int(rng.integers(K)), n=n)
        ones = np.arange(n + 1)
        log_lik = ones[None] * np.log(theta[:, None]) + (n - ones[None]) * np.log1p(-theta[:, None])
        log_mix = scipy.special.logsumexp(log_prior[:, None] + log_lik, axis=0)
        expected = np.sum(scipy.stats.binom.pmf(ones, n, theta[c.truth]) * (log_lik[c.truth] - log_mix))
        assert float(regret(c)) == pytest.approx(expected, rel=1e-10, abs=1e-13)
    assert len(TRACES) == 1  # one trace in this process, including the hypothesis examples


@given(bernoulli_classes(5, n_max=10, theta_margin=0.1, prior_spread=2.0))
def test_bernoulli_classes_are_valid(c: testing.BernoulliClass) -> None:
    assert c.theta.shape == c.log_prior.shape == (5,)
    assert np.all(np.diff(c.theta) > 0) and c.theta[0] >= 0.1 - 1e-15 and c.theta[-1] <= 0.9 + 1e-15
    assert abs(scipy.special.logsumexp(c.log_prior)) < 1e-12
    assert np.max(c.log_prior) - np.min(c.log_prior) <= 4.0 + 1e-12  # logits within [-2, 2]
    assert 0 <= c.truth < 5 and 1 <= c.n <= 10


@given(testing.sensing_params(rank=(2, 5), init_scale=(1e-8, 1e-2), outlier_fraction=(0.0, 0.6), noise=(0, 0.1)))
def test_sensing_params_in_range(p: testing.SensingParams) -> None:
    assert 2 <= p.rank <= 5 and isinstance(p.rank, int)
    assert 1e-8 <= p.init_scale <= 1e-2 and 0.05 <= p.step_size <= 0.25
    assert 0.0 <= p.outlier_fraction <= 0.6 and 0.0 <= p.noise <= 0.1 and p.cond == 1.0
    assert 0 <= p.seed < 2**31


@given(testing.rf_tasks(n=(4, 9), k=(100, 100), ridge=(1e-4, 1e-2)))
def test_rf_tasks_in_range(t: testing.RFTaskParams) -> None:
    assert 1.2 <= t.alpha <= 3.0 and 1.2 <= t.beta <= 3.0 and 0.0 <= t.noise <= 0.5
    assert 4 <= t.n <= 9 and t.k == 100 and 1e-4 <= t.ridge <= 1e-2


def test_log_uniform_covers_decades() -> None:
    """A log-uniform draw reaches each decade about equally often (a uniform draw would not)."""
    from hypothesis import find

    for decade in range(-6, 0):
        x = find(testing.log_uniform(1e-6, 1.0), lambda v, d=decade: 10.0**d <= v < 10.0 ** (d + 1))
        assert math.floor(math.log10(x) + 1e-12) == decade


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: testing.sensing_params(outlier_fraction=(0.0, 1.0)), r"outlier_fraction=\(0.0, 1.0\) must lie in \[0, 1\)"),
        (lambda: testing.sensing_params(rank=(0, 3)), r"rank=\(0, 3\) must lie in"),
        (lambda: testing.sensing_params(init_scale=(0.0, 1.0)), r"init_scale=\(0.0, 1.0\) must lie in \(0, inf\]"),
        (lambda: testing.sensing_params(cond=(0.5, 2.0)), r"cond=\(0.5, 2.0\) must lie in \[1.0, inf\]"),
        (lambda: testing.sensing_params(step_size=(0.3, 0.1)), r"step_size must be a finite \(low, high\) pair"),
        (lambda: testing.rf_tasks(alpha=(1.0, 2.0)), r"alpha=\(1.0, 2.0\) must lie in \(1, inf\)"),
        (lambda: testing.rf_tasks(ridge=(-1.0, 1.0)), r"ridge=\(-1.0, 1.0\) must lie in"),
        (lambda: testing.bernoulli_classes(0), r"num_hypotheses must be an integer >= 1, got 0"),
        (lambda: testing.bernoulli_classes(4, theta_margin=0.5), r"theta_margin must lie in \(0, 0.5\), got 0.5"),
        (lambda: testing.log_uniform(0.0, 1.0), r"must lie in \(0, inf\]"),
    ],
)
def test_bad_ranges_raise(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# ---- a sensing theorem stated with sensing_params: one compile serves every drawn example -----
import sensing  # noqa: E402

N, M, R, K_PAD = 12, 500, 2, 4


@jax.jit
def subgm_final_error(p: testing.SensingParams) -> jax.Array:
    problem = sensing.make_problem(jax.random.key(p.seed), n=N, rank=R, m=M, noise=sensing.outliers(p.outlier_fraction))
    x0 = sensing.small_init(jax.random.key(p.seed + 1), problem, K_PAD, p.init_scale)
    x0 = x0 * sensing.rank_mask(K_PAD, p.rank)  # rank drawn as a value: the shape stays K_PAD
    return sensing.run(sensing.subgm(0.5, 0.99), problem, x0, steps=2000, record_every=2000).error[-1]


@given(testing.sensing_params(rank=(R, R), init_scale=(1e-6, 1e-2), outlier_fraction=(0.0, 0.4)))
def test_subgm_recovers_exact_rank_under_outliers(p: testing.SensingParams) -> None:
    """Ma & Fattahi: SubGM with k = r from a small init recovers M* exactly with up to 40% outliers."""
    assert subgm_final_error(p) < 1e-6
