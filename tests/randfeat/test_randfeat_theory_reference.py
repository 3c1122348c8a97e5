"""rf_risk against an independent implementation of the eigenframework written from its equations
(randfeat.theory module docstring; "More is better", Sec. 4): gamma by scipy's brentq on the scalar
equation, then E0, E_te and E_tr by NumPy sums over the modes. Includes the regime n > number of
modes at small ridge, where gamma ~ delta / (n - M) is tiny."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from randfeat.tasks import Task
from randfeat.theory import krr_risk, rf_risk

M = 300
I = np.arange(1, M + 1, dtype=float)
LAM = I**-1.4
V2 = I**-1.1 + 0.05 * np.cos(I) ** 2 / I     # not proportional to lambda: n and k enter asymmetrically
NOISE = 0.3
TASK = Task(jnp.asarray(LAM), jnp.asarray(np.sqrt(V2)), jnp.asarray(NOISE))
RTOL = 4 * np.finfo(float).eps                 # brentq's smallest relative tolerance


def _z(g):
    return float(np.sum(LAM / (LAM + g)))


def reference(n: float, k: float, ridge: float) -> dict[str, float]:
    """gamma: root of F(gamma) = gamma (1 - z/n)(1 - z/k) - delta/n above gamma_min, the point where
    z = min(n, k) (gamma_min = 0 when min(n, k) >= M: then every mode is learned at delta = 0);
    delta = 0 is gamma = gamma_min. Brent's method in u = log gamma, brackets from 1e-300 to 1e300."""
    m = min(n, k)
    inv_k = 0.0 if math.isinf(k) else 1.0 / k
    if m >= M:
        g_min = 0.0
    else:
        g_min = math.exp(brentq(lambda u: _z(math.exp(u)) - m, math.log(1e-300), math.log(1e300),
                                xtol=1e-300, rtol=RTOL, maxiter=2000))
    if ridge == 0:
        g = g_min
    else:
        def f(u):
            g = math.exp(u)
            z = _z(g)
            return g * (1 - z / n) * (1 - z * inv_k) - ridge / n
        lo = math.log(g_min * (1 + 1e-14)) if g_min > 0 else math.log(1e-300)
        g = math.exp(brentq(f, lo, math.log(1e300), xtol=1e-300, rtol=RTOL, maxiter=2000))
    ell = LAM / (LAM + g)
    z, q = ell.sum(), (ell**2).sum()
    ratio = (z - q) * inv_k / (1 - q * inv_k)                 # (z - q) / (k - q)
    e0 = 1 / (1 - q / n - (z - q) * ratio / n)
    test = e0 * (np.sum(((1 - ell) ** 2 + ell * (1 - ell) * ratio) * V2) + NOISE)
    kappa = g * (1 - z * inv_k)
    train = (ridge / (n * kappa)) ** 2 * test if ridge > 0 else (1 - z / n) ** 2 * test
    return dict(gamma=g, kappa=kappa, e0=e0, test=test, train=train, z=z, q=q)


POINTS = [
    (100.0, 30.0, 1e-2),     # k < n
    (30.0, 100.0, 1e-2),     # k > n (not the mirror image: delta / n differs and v^2 is not ~ lambda)
    (100.0, 30.0, 0.0),      # ridgeless, k < n
    (30.0, 100.0, 0.0),      # ridgeless, k > n
    (64.0, 64.0, 1e-3),      # n = k with a ridge
    (50.0, math.inf, 1e-1),  # kernel ridge regression
    (50.0, math.inf, 0.0),   # ridgeless KRR
    (250.0, 2000.0, 3.0),    # large ridge
    (1000.0, math.inf, 1e-8),   # n > M = 300 modes, small ridge
    (1000.0, 5000.0, 1e-8),     # n > M, k > M
    (5000.0, 1000.0, 1e-6),     # k > M, n > M
    (1000.0, math.inf, 0.0),    # n > M, ridgeless: gamma = 0, E_te = n / (n - M) sigma^2
]


@pytest.fixture(scope="module")
def ours():
    n, k, ridge = (np.array(c) for c in zip(*POINTS))
    return rf_risk(TASK, n, k, ridge)


@pytest.mark.parametrize("index", range(len(POINTS)), ids=[f"n{p[0]:g}-k{p[1]:g}-ridge{p[2]:g}" for p in POINTS])
def test_rf_risk_matches_brentq_reference(ours, index):
    """Every field against the reference. Observed max relative difference 2.4e-14 (kappa, whose
    factor 1 - z/k cancels), <= 1.4e-14 for the others: both solvers converge to round-off (the
    project's stops at |du| <= 1e-12 (1 + |u|) in u = log gamma, after a Halley step that is cubically
    convergent). Tolerance 2e-13. Ridgeless kappa = 0 (k <= n: z = k) and E_tr = 0 (n <= k: z = n)
    are round-off in both, so they are compared at 1e-13 of gamma and of E_te."""
    ref = reference(*POINTS[index])
    got = {name: float(np.asarray(getattr(ours, name))[index]) for name in ref}
    scale = dict(kappa=ref["gamma"], train=ref["test"])
    for name, value in ref.items():
        assert got[name] == pytest.approx(value, rel=2e-13, abs=1e-13 * scale.get(name, 0.0)), (name, got[name], value)
    assert bool(np.asarray(ours.converged)[index])


def test_more_samples_than_modes_is_not_the_null_predictor():
    """n = 1000 > M = 300 modes, KRR at delta = 1e-8: gamma ~ delta / (n - M) ~ 1.4e-11 and nearly every
    mode is learned; the test risk is close to the noise-only interpolation risk n/(n - M) sigma^2
    = 0.4286, far from the null predictor's sum v^2 + sigma^2 = 5.38 (which a bisection whose bracket
    does not reach this gamma returns)."""
    out = krr_risk(TASK, 1000.0, 1e-8)
    ref = reference(1000.0, math.inf, 1e-8)
    assert float(out.gamma) == pytest.approx(ref["gamma"], rel=2e-13)     # observed 3.6e-15
    # first order: z = M - gamma sum 1/lambda_i + ..., so gamma = delta / (n - M) up to a relative
    # gamma sum(1/lambda) / (n - M) ~ 7e-9 (observed -7.5e-9), and E_te = n/(n - M) sigma^2 up to
    # ~2e-8 (observed -1.5e-8); tolerance 1e-7
    assert float(out.gamma) == pytest.approx(1e-8 / (1000.0 - M), rel=1e-7)
    assert float(out.test) == pytest.approx(1000.0 / (1000.0 - M) * NOISE, rel=1e-7)
    assert float(out.test) < 0.1 * (V2.sum() + NOISE)      # the null predictor's risk is 5.38
