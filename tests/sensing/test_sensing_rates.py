"""Convergence rates the theory predicts for GD, rebalanced GD and PrecGD (docs/sensing.md#theory).

The claims are about dynamics, not sampling, so most checks use the population operator
(every entry observed, Z = X X^T - M* exactly).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sensing

SYM_POP = sensing.make_problem(jax.random.key(0), n=10, rank=2, operator="population")
ASYM_POP = sensing.make_problem(jax.random.key(0), n=10, rank=2, operator="population", symmetric=False, n2=8)
ETA = 0.3


def _log_slope(e: np.ndarray, dt: float) -> float:
    """Least-squares decay rate -d log(e)/dt of a sequence sampled every dt steps."""
    t = np.arange(e.size) * dt
    return float(-np.polyfit(t, np.log(e), 1)[0])


@jax.jit
def _symmetric_overparam(scale):
    x0 = sensing.small_init(jax.random.key(1), SYM_POP, 4, scale)
    return sensing.run(sensing.gd(ETA), SYM_POP, x0, steps=8000, record_every=250)


def test_symmetric_overparameterised_error_halves_when_t_doubles():
    """k = 4 > r = 2: once t >> 1/(eta alpha^2) the error is sqrt(k - r) / (2 eta t) and halves as t doubles."""
    norm = float(jnp.linalg.norm(SYM_POP.truth.matrix))
    tr = _symmetric_overparam(0.2)
    steps = np.asarray(tr.steps)
    err = np.asarray(tr.error) * norm  # absolute error
    for t in (1000, 2000, 4000):
        i, j = np.searchsorted(steps, t), np.searchsorted(steps, 2 * t)
        assert err[j] / err[i] == pytest.approx(0.5, rel=0.05)
        predicted = float(sensing.theory.symmetric_overparam_tail(t, ETA, 2))
        assert err[i] == pytest.approx(predicted, rel=0.1)
    # with a smaller alpha, t = 250 < 1/(eta alpha^2) is still on the plateau, well below the 1/t law
    small = np.asarray(_symmetric_overparam(0.05).error) * norm
    assert small[1] < 0.5 * float(sensing.theory.symmetric_overparam_tail(250, ETA, 2))


@jax.jit
def _asymmetric_overparam(scale):
    x0 = sensing.small_init(jax.random.key(1), ASYM_POP, 4, scale)
    tr = sensing.run(sensing.gd(ETA), ASYM_POP, x0, steps=4000, record_every=20)
    return tr.error, sensing.theory.asymmetric_rate(ETA, *x0)


def _tail_rate(e: np.ndarray, dt: int, hi: float = 1e-4, lo: float = 1e-9) -> float:
    idx = np.where((e < hi) & (e > lo))[0]
    assert idx.size >= 5, "the linear phase was not reached"
    return _log_slope(e[idx[0]: idx[-1] + 1], dt)


def test_asymmetric_overparameterised_rate_scales_like_alpha_squared():
    """k > r asymmetric GD converges linearly at a rate proportional to eta lambda_min(F0^T F0 - G0^T G0) ~ alpha^2."""
    measured, predicted = [], []
    for scale in (0.1, 0.2, 0.4):
        e, rate = _asymmetric_overparam(scale)
        measured.append(_tail_rate(np.asarray(e), 20))
        predicted.append(float(rate))
    measured, predicted = np.array(measured), np.array(predicted)
    # doubling alpha multiplies the rate by about 4
    np.testing.assert_allclose(measured[1:] / measured[:-1], 4.0, rtol=0.15)
    # the ratio to the predicted rate is one constant of order one, whatever alpha
    ratio = measured / predicted
    assert np.ptp(ratio) / ratio.mean() < 0.1
    assert 0.5 < ratio.mean() < 2.0


@jax.jit
def _rebalanced_tail(scale):
    """Run GD until the error is 1e-3, then 60 more steps with and without one rebalancing step."""
    alg = sensing.gd(ETA)
    x0 = sensing.small_init(jax.random.key(1), ASYM_POP, 4, scale)
    state = jax.lax.while_loop(lambda s: sensing.relative_error(ASYM_POP, s.x) > 1e-3,
                               lambda s: alg.step(s, ASYM_POP), alg.init(x0))
    balanced = sensing.rebalance(*state.x)
    with_balance = sensing.run(alg, ASYM_POP, balanced, steps=60, record_every=2)
    without = sensing.run(alg, ASYM_POP, state.x, steps=60, record_every=2)
    product_change = jnp.linalg.norm(balanced[0] @ balanced[1].T - state.x[0] @ state.x[1].T)
    return with_balance.error, without.error, product_change


def test_rebalance_removes_the_alpha_dependence_of_the_rate():
    after, before = [], []
    for scale in (0.1, 0.2):
        e_bal, e_plain, change = _rebalanced_tail(scale)
        assert float(change) < 1e-12
        after.append(_log_slope(np.asarray(e_bal)[5:25], 2))
        before.append(_log_slope(np.asarray(e_plain)[5:25], 2))
    # after rebalancing F^T F = I: the spurious part contracts by (1 - eta) per step for every alpha
    np.testing.assert_allclose(after, -np.log(1 - ETA), rtol=0.05)
    # without it the rate grows with alpha (roughly like alpha^2)
    assert before[1] / before[0] > 2.5
    assert max(before) < 0.2 * min(after)


@jax.jit
def _precgd_overparam(key):
    problem = sensing.make_problem(key, n=12, rank=2, m=300)
    x0 = sensing.small_init(jax.random.fold_in(key, 1), problem, 5, 0.1)
    return sensing.run(sensing.precgd(0.5), problem, x0, steps=300, record_every=10).error


@pytest.mark.parametrize("seed", [0, 1])
def test_precgd_converges_linearly_when_overparameterised(seed):
    """k = 5 > r = 2: PrecGD keeps a linear rate (GD would be sublinear) down to 1e-12."""
    e = np.asarray(_precgd_overparam(jax.random.key(seed)))
    assert e[-1] < 1e-12
    tail = e[(e < 1e-3) & (e > 1e-12)]
    assert tail.size >= 3
    assert _log_slope(tail, 10) > 0.1  # at least 10 percent per step
