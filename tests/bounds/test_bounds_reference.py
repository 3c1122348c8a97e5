"""Every bounds formula against an independent computation written from its definition.

References: mpmath at 40 digits summing the definition ``D_n = sum_{x^n} P0(x^n) log(P0(x^n) /
Q(x^n))`` over count vectors (with their multinomial multiplicities) for the exact regrets;
mpmath / scipy quadrature for the closed forms; plain Python loops for the weight bound, the
divergences and the gradient coherence; ``scipy.optimize.brentq`` for the kl inversion; NumPy
finite differences (Richardson-extrapolated) for the Hessian tools.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.optimize
from jax.flatten_util import ravel_pytree
from scipy import special as sps
from scipy import stats

import bounds as B


@pytest.fixture(autouse=True)
def _forty_digits():
    """mpmath at 40 significant digits for this module's tests only (mpmath's precision is global)."""
    with mp.workdps(40):
        yield


# ----------------------------------------------------------------------------- exact regret


def _mp_log_q(probs: list[list[float]], weights: list[float], counts: tuple[int, ...]) -> mp.mpf:
    """log Q(x^n) of one sequence with these counts: log sum_k w_k prod_a p_k(a)^c_a (mpmath)."""
    return mp.log(mp.fsum(mp.mpf(w) * mp.fprod(mp.mpf(p) ** c for p, c in zip(row, counts))
                          for row, w in zip(probs, weights)))


def _mp_log_seq(p0: list[float], counts: tuple[int, ...]) -> mp.mpf:
    """log P0(x^n) of one sequence with these counts (-inf when it has probability 0)."""
    if any(c > 0 and p == 0 for p, c in zip(p0, counts)):
        return mp.ninf
    return mp.fsum(c * mp.log(p) for p, c in zip(p0, counts) if c > 0)


def _counts(n: int, a: int):
    """All count vectors of length a summing to n, with their multinomial coefficients."""
    for c in itertools.product(range(n + 1), repeat=a):
        if sum(c) == n:
            yield c, mp.factorial(n) / mp.fprod(mp.factorial(ci) for ci in c)


def _mp_regret(probs, weights, p0, n: int) -> mp.mpf:
    """D_n = sum_c multinom(c) P0(seq_c) [log P0(seq_c) - log Q(seq_c)]."""
    total = mp.mpf(0)
    for c, mult in _counts(n, len(p0)):
        ls = _mp_log_seq(p0, c)
        if ls != mp.ninf:
            total += mult * mp.exp(ls) * (ls - _mp_log_q(probs, weights, c))
    return total


def _mp_batch_regret(probs, weights, p0, m: int) -> mp.mpf:
    """r_{m+1} = sum_{c: |c| = m} multinom(c) P0(seq_c) KL(p0 || q(. | c)), q(a | c) = Q(c + e_a) / Q(c)."""
    total = mp.mpf(0)
    for c, mult in _counts(m, len(p0)):
        ls = _mp_log_seq(p0, c)
        if ls == mp.ninf:
            continue
        lq = _mp_log_q(probs, weights, c)
        kl = mp.mpf(0)
        for a, pa in enumerate(p0):
            if pa > 0:
                nxt = tuple(ci + (i == a) for i, ci in enumerate(c))
                kl += pa * (mp.log(pa) - (_mp_log_q(probs, weights, nxt) - lq))
        total += mult * mp.exp(ls) * kl
    return total


BERN_P = [0.15, 0.4, 0.55, 0.9]
BERN_W = [0.1, 0.2, 0.3, 0.4]
BERN_CLASS = B.bernoulli_grid(BERN_P, BERN_W)
BERN_ROWS = [[1 - p, p] for p in BERN_P]


@pytest.mark.parametrize("p0", [0.4, 0.3, 0.0])
def test_bernoulli_regret_against_mpmath(p0):
    """Truth in the class (0.4), outside it (0.3) and on the boundary (0): expected_regret,
    per_step_regret and batch_regret against the 40-digit definition (observed relative error
    <= 2e-15)."""
    truth = [1 - p0, p0]
    n = 30
    exact = float(_mp_regret(BERN_ROWS, BERN_W, truth, n))
    got = float(B.expected_regret(BERN_CLASS, np.array(truth), n))
    np.testing.assert_allclose(got, exact, rtol=1e-13)  # float64 sums of 31 terms (observed 1.5e-14)
    steps = np.asarray(B.per_step_regret(BERN_CLASS, np.array(truth), 8))
    ref = np.array([float(_mp_batch_regret(BERN_ROWS, BERN_W, truth, t)) for t in range(8)])
    # observed <= 3.0e-15, 2.4e-15, 2.8e-15
    np.testing.assert_allclose(steps, ref, rtol=3e-14)
    np.testing.assert_allclose(float(B.batch_regret(BERN_CLASS, np.array(truth), 5)), ref[5], rtol=3e-14)
    np.testing.assert_allclose(float(B.batch_regret(BERN_CLASS, np.array(truth), 0)), ref[0], rtol=3e-14)


def test_categorical_regret_against_mpmath():
    """A = 3 alphabet, K = 5, a truth with a zero entry: D_n, r_t and r_{n+1} against mpmath."""
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(3), size=5)
    weights = rng.dirichlet(np.ones(5))
    cls = B.categorical_class(probs, weights)
    rows, w = probs.tolist(), weights.tolist()
    truth = [0.6, 0.0, 0.4]
    exact = float(_mp_regret(rows, w, truth, 9))
    # observed relative errors 9.4e-16 (D_9), 1.2e-15 (r_t), 3.3e-16 (r_5), 2.4e-16 (second truth)
    np.testing.assert_allclose(float(B.expected_regret(cls, np.array(truth), 9)), exact, rtol=1e-14)
    ref = np.array([float(_mp_batch_regret(rows, w, truth, t)) for t in range(5)])
    np.testing.assert_allclose(np.asarray(B.per_step_regret(cls, np.array(truth), 5)), ref, rtol=1e-14)
    np.testing.assert_allclose(float(B.batch_regret(cls, np.array(truth), 4)), ref[4], rtol=1e-14)
    truth2 = [0.2, 0.5, 0.3]
    np.testing.assert_allclose(float(B.expected_regret(cls, np.array(truth2), 6)),
                               float(_mp_regret(rows, w, truth2, 6)), rtol=1e-14)


def test_hoeffding_window_against_mpmath():
    """n = 300: the full sum equals the definition to rounding; tail_mass = 1e-10 drops counts of
    total probability <= 1e-10 (Hoeffding), changing D_n by at most 1e-10 max |log P0 - log Q|."""
    n, p0 = 300, 0.55
    exact = float(_mp_regret(BERN_ROWS, BERN_W, [1 - p0, p0], n))
    full = float(B.expected_regret(BERN_CLASS, np.array([1 - p0, p0]), n))
    np.testing.assert_allclose(full, exact, rtol=5e-13)  # sums of 301 terms of size ~ n (observed 9.2e-14)
    got = float(B.expected_regret(BERN_CLASS, np.array([1 - p0, p0]), n, tail_mass=1e-10))
    # the bound above is <= 1e-10 * 300 log(1/0.1) = 7e-8; observed 2.4e-11
    assert abs(got - exact) < 2e-10
    assert B.binomial_window(n, 1e-10) == math.ceil(math.sqrt(n * math.log(2e10) / 2))


def test_gaussian_location_quadrature_against_mpmath():
    """K = 3 means: D_n = E_{xbar ~ N(theta0, s^2/n)} [-log sum_k w_k exp(-n((xbar - mu_k)^2
    - (xbar - theta0)^2) / (2 s^2))] by mpmath.quad; the code's trapezoid rule converges
    geometrically on this smooth integrand (observed relative error 3.8e-14)."""
    means, w, sigma, theta0, n = [-1.0, 0.2, 1.5], [0.5, 0.3, 0.2], 0.7, 0.4, 12
    cls = B.gaussian_location_grid(means, sigma, w)

    def integrand(z):
        xbar = theta0 + sigma * z / mp.sqrt(n)
        terms = [mp.mpf(wk) * mp.exp(-n * ((xbar - mk) ** 2 - (xbar - theta0) ** 2) / (2 * sigma**2))
                 for mk, wk in zip(means, w)]
        return mp.npdf(z) * -mp.log(mp.fsum(terms))

    exact = float(mp.quad(integrand, [-mp.inf, -3, 0, 3, mp.inf]))
    np.testing.assert_allclose(float(B.gaussian_location_regret(cls, theta0, n)), exact, rtol=3e-13)
    mc = B.gaussian_location_regret_mc(cls, theta0, n, jax.random.key(0), num_samples=4096)
    assert abs(float(mc.mean) - exact) < 4 * float(mc.standard_error)  # observed 1.5 SE


# ----------------------------------------------------------------------------- closed forms


def test_beta_bernoulli_marginal_and_regret_against_mpmath():
    """log Q(s) = log int theta^s (1 - theta)^(n - s) Beta(theta; a, b) dtheta (mpmath.quad), and
    the regret as the 40-digit binomial sum with the same marginal (a != b, so a swap fails)."""
    a, b, n = 2.5, 0.7, 40
    for s in (0, 7, 40):
        integral = mp.quad(lambda t: t ** (s + a - 1) * (1 - t) ** (n - s + b - 1), [0, 0.5, 1]) / mp.beta(a, b)
        # observed <= 4e-15 (gammaln rounding on arguments up to 43)
        np.testing.assert_allclose(float(B.beta_bernoulli_log_marginal(s, n, a, b)), float(mp.log(integral)),
                                   rtol=3e-14)
    for p0 in (0.3, 0.0, 1.0):
        total = mp.mpf(0)
        for s in range(n + 1):
            if (p0 == 0 and s > 0) or (p0 == 1 and s < n):
                continue
            log_seq = (s * mp.log(p0) if s else 0) + ((n - s) * mp.log(1 - p0) if n - s else 0)
            log_q = mp.log(mp.beta(s + a, n - s + b) / mp.beta(a, b))
            total += mp.binomial(n, s) * mp.exp(log_seq) * (log_seq - log_q)
        # observed 1.2e-14, 2.7e-15, 4.0e-15
        np.testing.assert_allclose(float(B.beta_bernoulli_regret(p0, n, a, b)), float(total), rtol=1e-13)


def test_gaussian_location_closed_form_against_quadrature():
    """d = 1: D_n = E_xbar[-log int N(theta; 0, t^2) exp(-n((xbar - theta)^2 - (xbar - theta0)^2)
    / (2 s^2)) dtheta], xbar ~ N(theta0, s^2/n), by a double trapezoid rule (geometrically
    convergent on these Gaussian integrands; |z| <= 12 and |theta| <= 10 leave tails < 1e-30);
    d = 2 is the sum over coordinates (independence); the per-step regrets are the increments
    D_t - D_{t-1} (chain rule)."""
    theta0, sigma, tau, n = 0.8, 1.3, 0.6, 5
    z = np.linspace(-12, 12, 601)
    theta = np.linspace(-10, 10, 2001)
    xbar = theta0 + sigma * z / math.sqrt(n)
    log_inner = (sps.logsumexp(stats.norm.logpdf(theta, 0, tau)[None, :]
                               - n * (xbar[:, None] - theta[None, :]) ** 2 / (2 * sigma**2), axis=1)
                 + math.log(theta[1] - theta[0]) + n * (xbar - theta0) ** 2 / (2 * sigma**2))
    exact = np.trapezoid(stats.norm.pdf(z) * -log_inner, z)
    closed = float(B.gaussian_location_regret_closed_form(theta0, n, sigma, tau))
    # rounding of the cancelling log terms (up to 70): observed 4e-14 here, 3e-13 on 4x finer grids
    np.testing.assert_allclose(closed, exact, rtol=3e-12)
    pair = float(B.gaussian_location_regret_closed_form(np.array([theta0, -0.3]), n, sigma, tau))
    np.testing.assert_allclose(
        pair, closed + float(B.gaussian_location_regret_closed_form(-0.3, n, sigma, tau)), rtol=1e-14)
    d_t = np.asarray(B.gaussian_location_regret_closed_form(np.array([theta0, -0.3]), np.arange(1.0, 9.0), sigma, tau))
    steps = np.asarray(B.gaussian_location_per_step_regret(np.array([theta0, -0.3]), 8, sigma, tau))
    np.testing.assert_allclose(steps, np.diff(d_t, prepend=0.0), rtol=3e-14)  # observed 3.7e-15


def test_clarke_barron_asymptote_formula():
    """(d/2) log(n / (2 pi e)) + (1/2) log det I - log w with every argument distinct."""
    got = float(B.clarke_barron_asymptote(500.0, 3, 0.7, -1.9))
    np.testing.assert_allclose(got, 1.5 * math.log(500 / (2 * math.pi * math.e)) + 0.35 + 1.9, rtol=1e-15)


# ----------------------------------------------------------------------------- weight bound


def _weight_bound_loop(w: np.ndarray, kl: np.ndarray, n: float, agnostic: bool):
    """For each hypothesis in KL order: radius, log W (ball = all with kl <= that kl), bound."""
    base = kl.min() if agnostic else 0.0
    rows = []
    for j in np.argsort(kl, kind="stable"):
        radius = kl[j] - base
        mass = sum(w[i] for i in range(len(w)) if kl[i] - base <= radius)
        rows.append((radius, math.log(mass), n * radius - math.log(mass)))
    return np.array(rows)


@pytest.mark.parametrize("agnostic", [False, True])
def test_weight_bound_against_a_loop_over_eps(agnostic):
    """The whole curve (eps, log W_eps, n eps - log W_eps), its minimum and argmin, min_kl, and
    log_weight_of_kl_ball at radii between the KL values, against Python loops."""
    rng = np.random.default_rng(11)
    k, n = 25, 37.0
    kl = np.round(0.05 + rng.exponential(0.2, k), 2)  # ties; min > 0 so agnostic differs
    w = rng.dirichlet(np.ones(k))
    wb = B.weight_bound(np.log(w), kl, n, agnostic=agnostic)
    ref = _weight_bound_loop(w, kl, n, agnostic)
    np.testing.assert_allclose(np.asarray(wb.eps), ref[:, 0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.asarray(wb.log_weight), ref[:, 1], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.asarray(wb.bound), ref[:, 2], rtol=1e-13, atol=1e-13)
    j = int(np.argmin(ref[:, 2]))
    np.testing.assert_allclose(float(wb.minimum), ref[j, 2], rtol=1e-13)
    np.testing.assert_allclose(float(wb.argmin_eps), ref[j, 0], rtol=1e-14)
    np.testing.assert_allclose(float(wb.min_kl), kl.min(), rtol=1e-15)
    radii = np.array([0.0, 0.07, 0.23, 0.5, 10.0])
    ball = np.array([math.log(w[kl <= e].sum()) if np.any(kl <= e) else -math.inf for e in radii])
    np.testing.assert_allclose(np.asarray(B.log_weight_of_kl_ball(np.log(w), kl, radii)), ball, rtol=1e-13,
                               atol=1e-15)


# ----------------------------------------------------------------------------- divergences, classes


def test_divergences_and_class_constructors_against_loops():
    """kl_to_truth, gaussian_kl_to_truth, bernoulli_logit_kl, logistic_kl_to_truth; the Bernoulli
    column order (log(1 - p), log p) and the Beta / normal cell masses of the grid constructors."""
    p = np.array([0.1, 0.35, 0.8])
    cls = B.bernoulli_grid(p, [0.2, 0.3, 0.5])
    np.testing.assert_allclose(np.asarray(cls.log_probs), np.stack([np.log(1 - p), np.log(p)], -1), rtol=1e-15)
    truth = np.array([0.7, 0.3])
    loop = [sum(t * math.log(t / q) for t, q in zip(truth, (1 - pk, pk))) for pk in p]
    np.testing.assert_allclose(np.asarray(B.kl_to_truth(cls, truth)), loop, rtol=5e-14)  # observed 7.4e-15
    np.testing.assert_allclose(np.asarray(B.kl_to_truth(cls, np.array([0.0, 1.0]))), -np.log(p), rtol=1e-14)

    beta = B.bernoulli_beta_grid(6, 2.0, 0.5)
    cells = np.diff(stats.beta.cdf(np.linspace(0, 1, 7), 2.0, 0.5))
    np.testing.assert_allclose(np.exp(np.asarray(beta.log_prior)), cells, rtol=3e-15)  # observed 3.1e-16
    np.testing.assert_allclose(np.exp(np.asarray(beta.log_probs[:, 1])), (np.arange(6) + 0.5) / 6, rtol=1e-14)
    normal = B.gaussian_location_normal_grid(5, 2.0, sigma=0.5, tau=1.5)
    edges = np.linspace(-2, 2, 6)
    mass = np.diff(stats.norm.cdf(edges, scale=1.5))
    np.testing.assert_allclose(np.exp(np.asarray(normal.log_prior)), mass / mass.sum(), rtol=2e-15)  # observed 1.2e-16
    np.testing.assert_allclose(np.asarray(normal.means[:, 0]), 0.5 * (edges[1:] + edges[:-1]), rtol=1e-15)

    g = B.gaussian_location_grid(np.array([[0.0, 1.0], [2.0, -1.0]]), sigma=0.5)
    theta0 = np.array([0.5, 0.25])
    loop = [sum((a - b) ** 2 for a, b in zip(theta0, mu)) / (2 * 0.25) for mu in ([0.0, 1.0], [2.0, -1.0])]
    np.testing.assert_allclose(np.asarray(B.gaussian_kl_to_truth(g, theta0)), loop, rtol=1e-14)

    z0, z = np.array([-3.0, 0.2, 5.0]), np.array([1.0, -0.7, 4.0])
    p0, q = sps.expit(z0), sps.expit(z)
    ref = p0 * np.log(p0 / q) + (1 - p0) * np.log((1 - p0) / (1 - q))
    got = np.asarray(B.bernoulli_logit_kl(jnp.asarray(z0), jnp.asarray(z)))
    np.testing.assert_allclose(got, ref, rtol=1e-13)  # observed 1.1e-14

    logistic = B.sampled_logistic_class(jax.random.key(0), 4, 2, num_features=3, activation="tanh")
    x = np.asarray(jax.random.normal(jax.random.key(1), (6, 2)))
    f, wts = np.asarray(logistic.feature_matrix), np.asarray(logistic.weights)
    w0 = np.array([0.3, -1.0, 0.5])
    loop = []
    for wk in wts:
        terms = []
        for xi in x:
            phi = np.tanh(f @ xi)
            a, b = sps.expit(phi @ w0), sps.expit(phi @ wk)
            terms.append(a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b)))
        loop.append(np.mean(terms))
    got = np.asarray(B.logistic_kl_to_truth(logistic, w0, x))
    np.testing.assert_allclose(got, loop, rtol=5e-15)  # observed 5.4e-16


def test_mixture_posterior_and_marginal_against_numpy():
    """log Q = log sum_k w_k exp(ll_k), log posterior = log w + ll - log Q, Gibbs F(rho) by a loop."""
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(6))
    ll = rng.normal(-30, 4, 6)
    log_q = math.log(sum(wk * math.exp(lk + 30) for wk, lk in zip(w, ll))) - 30
    # observed 1.3e-16 and 3.3e-14 (relative to log-posteriors near 0, which cancel two O(30) terms)
    np.testing.assert_allclose(float(B.log_marginal_likelihood(np.log(w), ll)), log_q, rtol=2e-15)
    np.testing.assert_allclose(np.asarray(B.log_posterior(np.log(w), ll)), np.log(w) + ll - log_q, rtol=3e-13)
    rho = rng.dirichlet(np.ones(6))
    rho[2] = 0.0
    rho /= rho.sum()
    with np.errstate(divide="ignore"):
        log_rho = np.log(rho)
    free = sum(r * (-lk) + r * math.log(r / wk) for r, lk, wk in zip(rho, ll, w) if r > 0)
    np.testing.assert_allclose(float(B.gibbs_free_energy(np.log(w), ll, log_rho)), free, rtol=1e-14)


# ----------------------------------------------------------------------------- PAC-Bayes-kl


def _kl_np(q: float, p: float) -> float:
    if p == q:
        return 0.0
    q, p = np.float64(q), np.float64(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(sps.xlogy(q, q / p) + sps.xlogy(1 - q, (1 - q) / (1 - p)))


def test_kl_bernoulli_against_mpmath():
    """kl(q || p) at ordinary points, near p = q (relative error ~ eps q (1 - q) / |p - q|, as
    documented, where the naive form has eps / kl), and the q = 0, q = 1 and p in {0, 1} limits."""
    # observed <= 3.4e-16, except 1.1e-14 at (0, 0.4): XLA:CPU's log1p(-0.4) is 50 ulp off (NumPy's is exact)
    cases = [(0.3, 0.6, 3e-15), (0.9, 0.2, 3e-15), (1e-3, 2e-3, 3e-15), (0.0, 0.4, 5e-14), (1.0, 0.7, 3e-15),
             # observed 7.4e-11 and 9.3e-5: the documented eps q (1 - q) / |p - q| = 3e-11, 3e-5
             (0.5, 0.5 + 1e-6, 5e-10), (0.5, 0.5 + 1e-12, 5e-4)]
    for q, p, rtol in cases:
        mq, mpp = mp.mpf(q), mp.mpf(p)
        exact = (mq * mp.log(mq / mpp) if q > 0 else 0) + ((1 - mq) * mp.log((1 - mq) / (1 - mpp)) if q < 1 else 0)
        np.testing.assert_allclose(float(B.kl_bernoulli(q, p)), float(exact), rtol=rtol)
    assert float(B.kl_bernoulli(0.3, 1.0)) == math.inf and float(B.kl_bernoulli(0.3, 0.0)) == math.inf
    assert float(B.kl_bernoulli(0.0, 0.0)) == 0.0
    # traced arguments are not checked (documented): the jitted function runs
    np.testing.assert_allclose(float(jax.jit(B.kl_bernoulli)(0.3, 0.6)), float(B.kl_bernoulli(0.3, 0.6)), rtol=1e-15)


def test_kl_inverse_and_pac_bayes_bound_against_brentq():
    """kl^{-1}(q, c) is the root of kl(q || p) = c in (q, 1) (brentq to 1e-15), or 1 when
    kl(q || 1) <= c; the PAC-Bayes right-hand side with KL > 0 and the bound built from them."""
    top = np.nextafter(1.0, 0.0)
    for q, c in ((0.0, 0.05), (0.1, 0.02), (0.37, 0.4), (0.9, 0.01), (0.999, 0.5), (1.0, 0.3)):
        if _kl_np(q, top) <= c:  # the root is above the largest float below 1 (q = 0.999, 1.0)
            expected = 1.0
        else:
            expected = scipy.optimize.brentq(lambda p: _kl_np(q, p) - c, q, top, xtol=1e-16, rtol=1e-15)
        # bisection to 2^-100 and brentq to 1e-15 relative (observed <= 2.8e-16)
        np.testing.assert_allclose(float(B.kl_inverse_upper(q, c)), expected, rtol=3e-15)
    kl, n, delta = np.array([0.0, 2.5, 40.0]), 250, 0.05
    rhs = (kl + math.log(2 * math.sqrt(n) / delta)) / n
    np.testing.assert_allclose(np.asarray(B.pac_bayes_kl_rhs(kl, n, delta)), rhs, rtol=1e-15)  # observed 0
    emp = np.array([0.02, 0.2, 0.6])
    ref = [scipy.optimize.brentq(lambda p, e=e, r=r: _kl_np(e, p) - r, e, 1 - 1e-15, xtol=1e-16, rtol=1e-15)
           for e, r in zip(emp, rhs)]
    np.testing.assert_allclose(np.asarray(B.pac_bayes_kl_bound(emp, kl, n, delta)), ref, rtol=2e-14)  # observed 1.8e-15


# ----------------------------------------------------------------------------- coherence


def test_gradient_coherence_against_a_loop():
    """Pytree parameters (a 2 x 3 matrix and a vector): per-example gradients of
    (1/2)(y - v . tanh(W x))^2 from the chain rule, coherence ||mean g||^2 / mean ||g||^2 by a loop."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=7)
    params = {"W": jnp.asarray(rng.normal(size=(2, 3))), "v": jnp.asarray(rng.normal(size=2))}

    def loss(p, z):
        xi, yi = z
        return 0.5 * (yi - p["v"] @ jnp.tanh(p["W"] @ xi)) ** 2

    g = B.per_example_gradients(loss, params, (jnp.asarray(x), jnp.asarray(y)))
    w_np, v_np = np.asarray(params["W"]), np.asarray(params["v"])
    flat = []
    for i in range(7):
        h = np.tanh(w_np @ x[i])
        r = v_np @ h - y[i]
        gw = r * np.outer(v_np * (1 - h**2), x[i])
        gv = r * h
        np.testing.assert_allclose(np.asarray(g["W"][i]), gw, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(g["v"][i]), gv, rtol=1e-12, atol=1e-14)
        flat.append(np.concatenate([gw.ravel(), gv]))
    mean = [sum(f[j] for f in flat) / 7 for j in range(8)]
    expected = sum(m * m for m in mean) / (sum(sum(fj * fj for fj in f) for f in flat) / 7)
    np.testing.assert_allclose(float(B.gradient_coherence(g)), expected, rtol=1e-12)


# ----------------------------------------------------------------------------- Hessian tools


def _f_np(flat: np.ndarray) -> float:
    """The test function on the flat layout [b (2,), w (2, 2) row-major] (ravel_pytree's order)."""
    b, w = flat[:2], flat[2:].reshape(2, 2)
    return float(np.sum(np.log1p(np.exp(w @ b))) + 0.25 * np.sum(w**2) * b[0] + np.sin(b[1]) * w[0, 1] ** 3)


def _f_jax(p):
    b, w = p["b"], p["w"]
    return jnp.sum(jnp.log1p(jnp.exp(w @ b))) + 0.25 * jnp.sum(w**2) * b[0] + jnp.sin(b[1]) * w[0, 1] ** 3


def _fd_hessian(f, x: np.ndarray, h: float) -> np.ndarray:
    """Central 4-point second differences, Richardson-extrapolated: error O(h^4) + O(eps / h^2)."""

    def raw(step):
        d = x.size
        out = np.empty((d, d))
        for i, j in itertools.product(range(d), repeat=2):
            ei, ej = np.eye(d)[i] * step, np.eye(d)[j] * step
            out[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * step**2)
        return out

    return (4 * raw(h / 2) - raw(h)) / 3


def test_hessian_tools_against_finite_differences():
    """hessian_matrix, flat_hvp and hvp (on the pytree) against NumPy finite differences of the
    same function written in NumPy (h = 3e-3: observed max error 5e-11 on entries up to 4.9;
    2.3e-10 at h = 1e-2, 1.9e-8 at h = 3e-2, the h^4 law)."""
    params = {"b": jnp.array([0.3, -0.8]), "w": jnp.array([[0.5, 1.2], [-0.4, 0.9]])}
    flat, unravel = ravel_pytree(params)
    np.testing.assert_array_equal(np.asarray(flat), [0.3, -0.8, 0.5, 1.2, -0.4, 0.9])  # the layout _f_np reads
    fd = _fd_hessian(_f_np, np.asarray(flat), 3e-3)
    h = np.asarray(jax.jit(lambda p: B.hessian_matrix(_f_jax, p))(params))  # jit: one compile, not one per op
    np.testing.assert_allclose(h, fd, atol=5e-10)
    matvec, dim = B.flat_hvp(_f_jax, params)
    assert dim == 6
    v = np.array([1.0, -2.0, 0.5, 0.0, 3.0, -1.0])
    np.testing.assert_allclose(np.asarray(jax.jit(matvec)(jnp.asarray(v))), fd @ v, atol=2e-9)
    tree = jax.jit(lambda p, t: B.hvp(_f_jax, p, t))(params, unravel(jnp.asarray(v)))
    np.testing.assert_allclose(np.asarray(ravel_pytree(tree)[0]), fd @ v, atol=2e-9)
