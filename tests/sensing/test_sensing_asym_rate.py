"""The tail rate of over-parameterised asymmetric GD, ``sensing.theory.asymmetric_tail_rate``
(docs/sensing.md#asymmetric-tail-rate).

Population limit, ``k > r``, ``F0`` at scale ``alpha`` and ``G0`` at ``alpha / 3``: the error
``||F G^T - M*||_F`` decays like ``(1 - eta lambda_min(F^T F))^t`` near convergence, and
``lambda_min(D) <= lambda_min(F^T F) <= lambda_min(Q^T D Q)`` (Weyl, Cauchy interlacing) with
``D = F^T F - G^T G`` and ``Q`` a basis of the null space of ``G``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sensing

ETA = 0.25
STEPS, EVERY = 9000, 10
SEEDS = jnp.arange(4)
ALPHAS = jnp.array([0.3, 0.45])
WINDOW = (1e-10, 1e-4)  # relative errors used to fit the tail rate


def _runs(n: int, n2: int, r: int, k: int):
    """Population asymmetric GD for every seed x alpha: errors ``(S, A, T)``, the predicted tail rate, ``eta lambda_min(D0)``."""
    problem = sensing.make_problem(jax.random.key(7), n=n, rank=r, operator="population", symmetric=False, n2=n2)

    def one(seed, alpha):
        f0, g0 = sensing.small_init(jax.random.fold_in(jax.random.key(3), seed), problem, k, alpha)
        tr = sensing.run(sensing.gd(ETA), problem, (f0, g0), steps=STEPS, record_every=EVERY)
        return tr.error, sensing.theory.asymmetric_tail_rate(ETA, *tr.final), sensing.theory.asymmetric_rate(ETA, f0, g0)

    return jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))(SEEDS, ALPHAS)


def _fitted_rate(e: np.ndarray) -> float:
    """Minus the least-squares slope of log error per step over the records inside ``WINDOW``."""
    keep = (e > WINDOW[0]) & (e < WINDOW[1])
    assert keep.sum() >= 20, "the tail was not reached"
    t = np.arange(e.size)[keep] * EVERY
    return float(-np.polyfit(t, np.log(e[keep]), 1)[0])


@pytest.mark.parametrize("n,n2,r,k", [(10, 8, 1, 3), (10, 10, 2, 4)])
def test_tail_rate_matches_population_gd(n, n2, r, k):
    """Measured tail rate / -log(1 - eta lambda_min(F^T F)) = 1 to 1 % (seen: 0.1 %); eta lambda_min(D0) is below it."""
    errors, predicted, old = (np.asarray(a) for a in _runs(n, n2, r, k))
    measured = np.vectorize(_fitted_rate, signature="(t)->()")(errors)
    np.testing.assert_allclose(measured / predicted, 1.0, rtol=0.01)
    # the tail rate is eta times lambda_min of D compressed onto the extra directions, >= lambda_min(D)
    # (1.0 to 7.8 times it here; one draw has lambda_min(D0) < 0, yet its tail is linear)
    assert np.all(measured >= 0.98 * old)
    # ... and it scales like alpha^2: (0.45 / 0.3)^2 = 2.25, up to the draw-dependent constant
    ratio = measured[:, 1] / measured[:, 0]
    assert np.all((ratio > 1.6) & (ratio < 3.0))


@settings(max_examples=20)
@given(seed=st.integers(0, 2**30), r=st.integers(1, 2), extra=st.integers(1, 3))
def test_tail_eigenvalue_lies_between_lambda_min_of_d_and_of_its_compression(seed, r, extra):
    """For G of rank r: lambda_min(D) <= lambda_min(F^T F) <= lambda_min(Q^T D Q), Q a basis of null(G)."""
    k = r + extra
    kf, kg, kh = jax.random.split(jax.random.key(seed), 3)
    f = jax.random.normal(kf, (9, k)) / 3.0  # eta lambda_min(F^T F) < 1
    g = jax.random.normal(kg, (7, r)) @ jax.random.normal(kh, (r, k))
    lam = -np.expm1(-float(sensing.theory.asymmetric_tail_rate(ETA, f, g))) / ETA  # rate = -log(1 - eta lambda)
    d = np.asarray(sensing.theory.imbalance(f, g))
    q = np.linalg.svd(np.asarray(g))[2][r:].T  # (k, k - r), orthonormal, G q = 0
    assert np.allclose(np.asarray(g) @ q, 0.0, atol=1e-10)
    assert lam == pytest.approx(np.linalg.eigvalsh(np.asarray(f).T @ np.asarray(f))[0], rel=1e-10)
    assert np.linalg.eigvalsh(d)[0] <= lam * (1 + 1e-10)
    assert lam <= np.linalg.eigvalsh(q.T @ d @ q)[0] * (1 + 1e-10)


def test_tail_rate_closed_form():
    """F = diag(2, 0.1) padded, any G: rate = -log(1 - eta 0.01)."""
    f = jnp.array([[2.0, 0.0], [0.0, 0.1], [0.0, 0.0]])
    g = jnp.array([[0.5, 0.0], [0.0, 0.0]])
    assert float(sensing.theory.asymmetric_tail_rate(ETA, f, g)) == pytest.approx(-np.log(1 - ETA * 0.01), rel=1e-12)


def test_tail_rate_rejects_bad_input():
    f, g = jnp.ones((4, 3)), jnp.ones((5, 3))
    with pytest.raises(ValueError, match="step_size"):
        sensing.theory.asymmetric_tail_rate(-0.1, f, g)
    with pytest.raises(ValueError, match="g has shape"):
        sensing.theory.asymmetric_tail_rate(ETA, f, jnp.ones((5, 2)))
    with pytest.raises(ValueError, match="f has shape"):
        sensing.theory.asymmetric_tail_rate(ETA, jnp.ones(4), g)
