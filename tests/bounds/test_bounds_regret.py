"""Exact mixture regret: chain rule, monotonicity, bounds, closed forms, Clarke-Barron (docs/bounds.md#exact-regret)."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special as sps

import bounds as B

probs = st.floats(0.02, 0.98)
seeds = st.integers(0, 2**31 - 1)


def random_bernoulli_class(seed: int, k: int = 40) -> B.FiniteAlphabetClass:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(k, 0.7))
    return B.bernoulli_grid(np.sort(rng.uniform(0.01, 0.99, k)), w)


def bern(p: float) -> np.ndarray:
    return np.array([1.0 - p, p])


@given(p0=probs, seed=seeds)
def test_chain_rule_and_monotonicity(p0, seed):
    """sum_t r_t = D_n, r_t >= 0 (so D_n is non-decreasing), r_{n+1} = D_{n+1} - D_n."""
    cls = random_bernoulli_class(seed)
    r = np.asarray(B.per_step_regret(cls, bern(p0), 30))
    d30 = float(B.expected_regret(cls, bern(p0), 30))
    d31 = float(B.expected_regret(cls, bern(p0), 31))
    assert r.min() >= -1e-14
    np.testing.assert_allclose(r.sum(), d30, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(B.batch_regret(cls, bern(p0), 30)), d31 - d30, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(float(B.batch_regret(cls, bern(p0), 0)), r[0], rtol=1e-10, atol=1e-14)


@given(p0=probs, seed=seeds)
def test_regret_between_zero_and_weight_bound(p0, seed):
    """0 <= D_n <= min_eps [n eps - log W_eps]; agnostic: D_n - n min D <= its own minimum."""
    cls = random_bernoulli_class(seed)
    kl = B.kl_to_truth(cls, bern(p0))
    for n in (1, 30):
        d = float(B.expected_regret(cls, bern(p0), n))
        realisable = B.weight_bound(cls.log_prior, kl, n)
        agnostic = B.weight_bound(cls.log_prior, kl, n, agnostic=True)
        assert 0.0 <= d <= float(realisable.minimum) + 1e-12
        assert d - n * float(agnostic.min_kl) <= float(agnostic.minimum) + 1e-12
        assert float(agnostic.minimum) <= float(realisable.minimum) - n * float(agnostic.min_kl) + 1e-9


@given(seed=seeds, index=st.integers(0, 4))
def test_truth_in_finite_class(seed, index):
    """D_n <= -log w(theta0) for every n, and D_n increases to it for a well-separated class."""
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(5))
    cls = B.bernoulli_grid([0.1, 0.3, 0.5, 0.7, 0.9], w)
    p0 = bern([0.1, 0.3, 0.5, 0.7, 0.9][index])
    bound = -math.log(w[index])
    values = [float(B.expected_regret(cls, p0, n)) for n in (1, 10, 100, 1500)]
    tol = 1e-10 * max(1.0, bound)  # rounding of sums of n + 1 terms of size n log(1/p)
    assert all(v <= bound + tol for v in values)
    assert all(a <= b + tol for a, b in zip(values, values[1:]))
    assert bound - values[-1] < 1e-6 * max(1.0, bound)


def test_categorical_enumeration_matches_brute_force():
    """Exact D_n over count vectors equals the sum over all A^n sequences (A = 3, n = 6)."""
    rng = np.random.default_rng(0)
    probs_ = rng.dirichlet(np.ones(3), size=7)
    w = rng.dirichlet(np.ones(7))
    p0 = np.array([0.5, 0.3, 0.2])
    cls = B.categorical_class(probs_, w)
    n = 6
    total = 0.0
    for seq in itertools.product(range(3), repeat=n):
        log_p0 = np.sum(np.log(p0[list(seq)]))
        log_q = sps.logsumexp(np.log(w) + np.sum(np.log(probs_[:, list(seq)]), axis=1))
        total += math.exp(log_p0) * (log_p0 - log_q)
    np.testing.assert_allclose(float(B.expected_regret(cls, p0, n)), total, rtol=1e-11)
    np.testing.assert_allclose(float(B.per_step_regret(cls, p0, n).sum()), total, rtol=1e-11)


def test_chunking_does_not_change_the_result():
    """Chunk size 7 (with padding) and chunk size K give the same D_n to rounding."""
    cls = random_bernoulli_class(3, k=50)
    a = float(B.expected_regret(cls, bern(0.37), 40, chunk_size=7))
    b = float(B.expected_regret(cls, bern(0.37), 40, chunk_size=64))
    np.testing.assert_allclose(a, b, rtol=1e-12)


# ----------------------------------------------------------------------------- closed forms


@given(p0=st.floats(0.0, 1.0), a=st.floats(0.2, 3.0), b=st.floats(0.2, 3.0))
def test_beta_bernoulli_closed_form_equals_predictive_sum(p0, a, b):
    """B(s+a, n-s+b)/B(a,b) regret = sum_t E KL(p0 || (s+a)/(t-1+a+b)) with s ~ Bin(t-1, p0)."""
    n = 25
    total = 0.0
    for t in range(1, n + 1):
        m = t - 1
        s = np.arange(m + 1)
        pmf = sps.comb(m, s) * p0**s * (1 - p0) ** (m - s)
        q = (s + a) / (m + a + b)
        kl = sps.xlogy(p0, p0) - sps.xlogy(p0, q) + sps.xlogy(1 - p0, 1 - p0) - sps.xlogy(1 - p0, 1 - q)
        total += float(np.sum(pmf * kl))
    np.testing.assert_allclose(float(B.beta_bernoulli_regret(p0, n, a, b)), total, rtol=1e-10, atol=1e-12)


@given(theta0=st.floats(-3.0, 3.0), sigma=st.floats(0.3, 3.0), tau=st.floats(0.3, 3.0))
def test_gaussian_location_closed_form(theta0, sigma, tau):
    """Closed form = KL(N(theta0 1, s^2 I) || N(0, s^2 I + t^2 11^T)) computed densely, and = sum r_t."""
    n = 7
    mean0 = np.full(n, theta0)
    cov0 = sigma**2 * np.eye(n)
    cov1 = cov0 + tau**2 * np.ones((n, n))
    inv1 = np.linalg.inv(cov1)
    dense = 0.5 * (np.trace(inv1 @ cov0) + mean0 @ inv1 @ mean0 - n + np.linalg.slogdet(cov1)[1]
                   - np.linalg.slogdet(cov0)[1])
    closed = float(B.gaussian_location_regret_closed_form(theta0, n, sigma, tau))
    np.testing.assert_allclose(closed, dense, rtol=1e-10)
    steps = B.gaussian_location_per_step_regret(theta0, n, sigma, tau)
    np.testing.assert_allclose(float(jnp.sum(steps)), closed, rtol=1e-10)


def test_beta_grid_tends_to_beta_mixture():
    """A fine midpoint grid with Beta cell masses reproduces the Beta mixture's regret."""
    cls = B.bernoulli_beta_grid(2000, 2.0, 3.0)
    exact = float(B.beta_bernoulli_regret(0.3, 200, 2.0, 3.0))
    np.testing.assert_allclose(float(B.expected_regret(cls, bern(0.3), 200)), exact, rtol=1e-4)


def test_gaussian_grid_quadrature_and_monte_carlo():
    """Quadrature on a fine N(0,1)-weighted grid = closed form; Monte Carlo within 4 standard errors."""
    cls = B.gaussian_location_normal_grid(801, 6.0, 1.0, 1.0)
    for n in (1, 50):
        closed = float(B.gaussian_location_regret_closed_form(0.5, n))
        quad = float(B.gaussian_location_regret(cls, 0.5, n, num_nodes=801))
        np.testing.assert_allclose(quad, closed, rtol=1e-4)
        mc = B.gaussian_location_regret_mc(cls, 0.5, n, jax.random.key(n), num_samples=1024)
        assert abs(float(mc.mean) - closed) < 4 * float(mc.standard_error)


def test_gaussian_monte_carlo_in_two_dimensions():
    """d = 2 grid with N(0, I) cell masses: Monte Carlo regret within 4 SE of the closed form."""
    edges = np.linspace(-6, 6, 61)
    mid = 0.5 * (edges[1:] + edges[:-1])
    mass = np.diff(sps.ndtr(edges))
    grid = np.stack(np.meshgrid(mid, mid, indexing="ij"), -1).reshape(-1, 2)
    w = np.outer(mass, mass).ravel()
    cls = B.gaussian_location_grid(grid, 1.0, w / w.sum())
    theta0 = np.array([0.4, -0.7])
    mc = B.gaussian_location_regret_mc(cls, theta0, 3, jax.random.key(1), num_samples=4096)
    closed = float(B.gaussian_location_regret_closed_form(theta0, 3))
    assert abs(float(mc.mean) - closed) < 4 * float(mc.standard_error) + 2e-3


# ----------------------------------------------------------------------------- Clarke-Barron


def test_jeffreys_constant():
    """(1/2) log(1/(2 pi e)) + log pi = -0.2742."""
    assert abs(B.JEFFREYS_BERNOULLI_CONSTANT + 0.27421) < 1e-5
    np.testing.assert_allclose(float(B.jeffreys_bernoulli_asymptote(100.0)), 0.5 * math.log(100) - 0.274208,
                               atol=1e-6)


JEFFREYS_GRID = B.bernoulli_beta_grid(1000, 0.5, 0.5)


@pytest.mark.parametrize("p0", [0.2, 0.5, 0.7])
def test_clarke_barron_jeffreys_bernoulli(p0):
    """Jeffreys mixture: D_n = (1/2) log n - 0.2742 + c2 / n + O(1/n^2), c2 = -(1 - 2p)^2 / (24 p (1 - p)).

    c2 comes from Stirling's series in log Q(s) = log B(s + 1/2, n - s + 1/2) - log pi
    (log Gamma(x + 1/2) = x log x - x + log(2 pi)/2 - 1/(24 x) + ...) and the binomial central
    moments E d^2 = pq/n, E d^3 = pq(q - p)/n^2, E d^4 = 3 (pq)^2/n^2 + O(n^-3) in the Taylor series
    of n kl(s/n || p): n E kl = 1/2 + (1 - pq)/(12 pq n), E[1/(24 s) + 1/(24 (n - s))] = 1/(24 pq n).
    So the o(1) term of Clarke-Barron shrinks like 1/n (like 1/n^2 at p = 1/2, where c2 = 0).
    """
    c2 = -((1 - 2 * p0) ** 2) / (24 * p0 * (1 - p0))
    for n in (100, 1000, 10_000):
        gap = float(B.beta_bernoulli_regret(p0, n, 0.5, 0.5)) - float(B.jeffreys_bernoulli_asymptote(float(n)))
        # observed n^2 |gap - c2/n| = 0.92, 0.85, 0.85 (p = 0.2), 0.17 (p = 0.5), 0.37, 0.35, 0.36 (p = 0.7)
        assert abs(gap - c2 / n) < 1.2 / n**2, (n, gap, c2 / n)
        # the 1/n term is really there: the gap without it is much larger (except at p = 1/2)
        if p0 != 0.5:
            assert abs(gap) > 0.5 * abs(c2) / n
    grid = float(B.expected_regret(JEFFREYS_GRID, bern(p0), 1000))
    # K = 1000 midpoint cells with Jeffreys masses vs the continuous Jeffreys mixture at n = 1000:
    # observed |grid - closed| = 7.2e-7 (p = 0.2), 1.7e-7 (0.5), 3.2e-7 (0.7)
    assert abs(grid - float(B.beta_bernoulli_regret(p0, 1000, 0.5, 0.5))) < 3e-6


@given(theta0=st.floats(-2.0, 2.0), tau=st.floats(0.5, 3.0))
def test_clarke_barron_gaussian_location(theta0, tau):
    """N(0, tau^2) prior, unit noise: D_n - [(1/2) log(n/(2 pi e)) - log w(theta0)] = c1/n + O(1/n^2)."""
    log_w = -0.5 * math.log(2 * math.pi * tau**2) - theta0**2 / (2 * tau**2)
    # exact gap, x = 1/(n t^2): (1/2) log(1 + x) + (1 - theta0^2/t^2) (x/2) / (1 + x)
    #   = (1 - theta0^2/(2 t^2)) x + (-3/4 + theta0^2/(2 t^2)) x^2 + R3,
    # |R3| <= (1/6 + |1 - theta0^2/t^2| / 2) x^3 (alternating series, x <= 0.04 here)
    s = theta0**2 / tau**2
    for n in (1e2, 1e4, 1e6):
        x = 1.0 / (n * tau**2)
        asym = float(B.clarke_barron_asymptote(n, 1, 0.0, log_w))
        closed = float(B.gaussian_location_regret_closed_form(theta0, n, 1.0, tau))
        series = (1 - s / 2) * x + (-0.75 + s / 2) * x**2
        # observed |R3| up to 0.999 of its bound at n = 100; 4e-15: float64 rounding of D_n - asym (observed 2.4e-15)
        assert abs(closed - asym - series) <= (1 / 6 + abs(1 - s) / 2) * x**3 + 4e-15


def test_padding_is_exact():
    """Zero-weight padding leaves D_n and the weight bound unchanged."""
    cls = random_bernoulli_class(5, k=40)
    padded = B.pad_hypotheses(cls, 64)
    np.testing.assert_allclose(float(B.expected_regret(padded, bern(0.2), 30)),
                               float(B.expected_regret(cls, bern(0.2), 30)), rtol=1e-12)
    a = B.weight_bound(padded.log_prior, B.kl_to_truth(padded, bern(0.2)), 30).minimum
    b = B.weight_bound(cls.log_prior, B.kl_to_truth(cls, bern(0.2)), 30).minimum
    np.testing.assert_allclose(float(a), float(b), rtol=1e-12)


@given(p0=st.floats(0.0, 1.0))
def test_hoeffding_window_matches_full_enumeration(p0):
    """Summing only |s - n p0| <= sqrt(n log(2/tail)/2) changes D_n by rounding only (tail 1e-30)."""
    cls = B.bernoulli_beta_grid(300, 0.5, 0.5)
    full = float(B.expected_regret(cls, bern(p0), 2000))
    window = float(B.expected_regret(cls, bern(p0), 2000, tail_mass=1e-30))
    np.testing.assert_allclose(window, full, rtol=1e-10)
