"""Trace measures (sensing.traces) and the SubGM noise-floor constant (docs/sensing.md#trace-measures,
docs/sensing.md#subgm-noise-floor), each against an independent computation: closed forms of
exponential decay, a plain loop over the records, the numerical rank of the tangent space, and the
least-absolute-deviation estimate solved as a linear programme by scipy."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sensing
from sensing import theory, traces

STEPS = np.arange(0, 2001, 20)


def _crossing_loop(error: np.ndarray, steps: np.ndarray, target: float) -> float:
    """The definition, record by record: first record at or below the target, log-linear in between."""
    for j, e in enumerate(error):
        if np.isfinite(e) and e <= target:
            if j == 0:
                return float(steps[0])
            e0 = error[j - 1]
            frac = (math.log(e0) - math.log(target)) / (math.log(e0) - math.log(e))
            return float(steps[j - 1] + frac * (steps[j] - steps[j - 1]))
    return math.inf


@given(rate=st.floats(1e-3, 5e-2), target=st.floats(1e-8, 0.5), scale=st.floats(0.5, 2.0))
def test_iterations_to_is_exact_for_exponential_decay(rate: float, target: float, scale: float) -> None:
    """e(t) = c exp(-a t): the crossing is log(c / target) / a (or 0 when c <= target), to rounding."""
    error = scale * np.exp(-rate * STEPS)
    expected = max(math.log(scale / target) / rate, 0.0)
    got = float(traces.iterations_to(error, STEPS, target))
    if expected > STEPS[-1]:
        assert got == math.inf
    else:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-7)  # float64 logs: observed error < 1e-10


def test_iterations_to_matches_a_loop_over_records_on_noisy_traces() -> None:
    """Random non-monotone traces (with NaN and inf records) against the record-by-record definition."""
    rng = np.random.default_rng(0)
    errors = np.exp(rng.normal(0.0, 1.0, (40, 30)).cumsum(axis=1) * 0.3 - np.linspace(0, 6, 30))
    errors[3, 5] = np.nan
    errors[4, :] = np.inf
    steps = np.cumsum(rng.integers(1, 9, 30))
    targets = np.array([1e-1, 1e-2])[:, None]
    got = np.asarray(traces.iterations_to(errors, steps, targets))
    assert got.shape == (2, 40)
    expected = np.array([[_crossing_loop(e, steps, float(t)) for e in errors] for t in targets[:, 0]])
    np.testing.assert_allclose(got, expected, rtol=1e-12)  # same formula in another order: rounding only
    assert np.isinf(got[:, 4]).all()


def test_iterations_to_first_record_and_never() -> None:
    steps = np.array([0, 10, 20])
    assert float(traces.iterations_to(np.array([1e-4, 1e-5, 1e-6]), steps, 1e-3)) == 0.0
    assert float(traces.iterations_to(np.array([1.0, 0.5, 0.2]), steps, 0.1)) == math.inf
    # between records 1 (1e-1) and 2 (1e-3): target 1e-2 is half way in log error
    assert float(traces.iterations_to(np.array([1.0, 1e-1, 1e-3]), steps, 1e-2)) == pytest.approx(15.0, rel=1e-12)


@given(rate=st.floats(2e-3, 5e-2))
def test_linear_rate_of_exponential_decay(rate: float) -> None:
    """Between two levels crossed by e(t) = exp(-a t) the rate is a; a decay that stops above low gives 0."""
    error = np.exp(-rate * STEPS)
    high, low = 1e-1, 1e-2
    got = float(traces.linear_rate(error, STEPS, high, low))
    if math.log(1 / low) / rate > STEPS[-1]:
        assert got == 0.0
    else:
        assert got == pytest.approx(rate, rel=1e-9)  # exact up to float64 logs (observed < 1e-12)


def test_linear_rate_of_a_geometric_step_size_is_minus_log_rho() -> None:
    """An error that tracks eta_0 rho^t (SubGM after escape) decays at -log rho per step."""
    rho = 0.995
    error = 3.0 * rho ** STEPS.astype(float)
    assert float(traces.linear_rate(error, STEPS, 1e-1, 1e-2)) == pytest.approx(-math.log(rho), rel=1e-9)
    stalled = np.maximum(error, 5e-2)
    assert float(traces.linear_rate(stalled, STEPS, 1e-1, 1e-2)) == 0.0
    assert float(traces.linear_rate(np.full(STEPS.shape, 0.5), STEPS, 1e-1, 1e-2)) == 0.0  # never reaches high
    assert float(traces.linear_rate(np.full(STEPS.shape, 1e-3), STEPS, 1e-1, 1e-2)) == math.inf  # starts below low


@given(rho=st.floats(1e-4, 0.02), c=st.floats(1e-6, 1.0))  # >= 4 records above the floor
def test_fitted_rate_recovers_a_geometric_rate(rho: float, c: float) -> None:
    e = c * (1.0 - rho) ** STEPS.astype(float)
    rate = float(traces.fitted_rate(e, STEPS, floor=1e-11))
    assert rate == pytest.approx(-math.log1p(-rho), rel=1e-8)  # an exact line; seen 1e-13


def test_fitted_rate_is_numpy_polyfit_over_the_window() -> None:
    """Noisy traces, several at once: each against np.polyfit on the records the window keeps."""
    rng = np.random.default_rng(3)
    e = np.exp(-0.01 * STEPS * rng.uniform(0.5, 2.0, (5, 1)) + 0.3 * rng.standard_normal((5, STEPS.size)))
    e[1, 40:] = np.nan  # a diverged run: its non-finite records are left out
    got = np.asarray(traces.fitted_rate(e, STEPS, floor=1e-6, ceiling=0.5, start=100.0))
    for row, g in zip(e, got):
        keep = np.isfinite(row) & (row > 1e-6) & (row < 0.5) & (STEPS >= 100)
        assert g == pytest.approx(-np.polyfit(STEPS[keep], np.log(row[keep]), 1)[0], rel=1e-10)  # seen 1e-14


def test_fitted_rate_ignores_the_floor_and_needs_enough_records() -> None:
    e = np.maximum(1e-2 * 0.5 ** STEPS.astype(float), 1e-16)
    assert np.isnan(traces.fitted_rate(e, STEPS, floor=1e-11))  # 1e-2 * 0.5^20 < 1e-11 after one record
    e = np.maximum(1e-2 * 0.9 ** (STEPS / 20.0), 1e-16)
    assert float(traces.fitted_rate(e, STEPS, floor=1e-11)) == pytest.approx(-math.log(0.9) / 20.0, rel=1e-10)
    assert np.isnan(traces.fitted_rate(e, STEPS, floor=3e-7, ceiling=4.2e-7))  # 3 records in the window
    assert float(traces.fitted_rate(e, STEPS, floor=3e-7, ceiling=4.2e-7, min_records=3)) == pytest.approx(
        -math.log(0.9) / 20.0, rel=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: traces.iterations_to(np.ones(3), np.arange(3), 0.0), "target"),
        (lambda: traces.iterations_to(np.ones(3), np.arange(4), 0.1), "steps has shape"),
        (lambda: traces.iterations_to(np.ones(3), np.array([0, 2, 1]), 0.1), "strictly increasing"),
        (lambda: traces.iterations_to(np.float64(1.0), np.arange(1), 0.1), "error has shape"),
        (lambda: traces.linear_rate(np.ones(3), np.arange(3), 1e-3, 1e-2), "smaller than high"),
        (lambda: traces.linear_rate(np.ones(3), np.arange(3), 1e-1, -1.0), "low"),
        (lambda: traces.fitted_rate(np.ones(3), np.arange(3), floor=-1.0), "floor"),
        (lambda: traces.fitted_rate(np.ones(3), np.arange(3), floor=1.0, ceiling=0.5), "ceiling"),
        (lambda: traces.fitted_rate(np.ones(3), np.arange(3), floor=0.0, min_records=1), "min_records"),
    ],
)
def test_trace_measures_reject_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("n, r", [(5, 1), (6, 2), (7, 3), (4, 4)])
def test_symmetric_rank_dimension_is_the_rank_of_the_tangent_space(n: int, r: int) -> None:
    """Numerical rank of {U W^T + W U^T} over a basis of W (n r generators) against n r - r(r-1)/2."""
    u = np.linalg.qr(np.random.default_rng(n + r).normal(size=(n, r)))[0]
    gens = []
    for j in range(n * r):
        w = np.zeros(n * r)
        w[j] = 1.0
        w = w.reshape(n, r)
        gens.append((u @ w.T + w @ u.T).ravel())
    assert theory.symmetric_rank_dimension(n, r) == np.linalg.matrix_rank(np.array(gens), tol=1e-10)


def test_symmetric_rank_dimension_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="rank"):
        theory.symmetric_rank_dimension(4, 5)
    with pytest.raises(ValueError, match="n"):
        theory.symmetric_rank_dimension(0, 1)


def _tangent_basis(u: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d, n, n) of the tangent space at U U^T (Frobenius inner product)."""
    n, r = u.shape
    gens = np.array([(u @ w.T + w @ u.T).ravel() for w in np.eye(n * r).reshape(n * r, n, r)])
    q, s, _ = np.linalg.svd(gens.T, full_matrices=False)
    return q[:, s > 1e-10 * s[0]].T.reshape(-1, n, n)


def test_subgm_floor_constant_is_the_lad_error_of_a_linear_programme() -> None:
    """Least-absolute-deviation fit on the tangent space, solved exactly (scipy HiGHS LP), over trials.

    y_i = <A_i, D_true = 0> + s_i with s ~ N(0, nu^2); minimise sum |<A_i, D> - s_i| over D in T.
    The theory (docs/sensing.md#subgm-noise-floor) says E||D||_F^2 -> pi nu^2 d / (2 m), i.e. the
    root mean square ||D||_F equals subgm_floor_constant(n, r) nu sqrt(n r / m).
    """
    linprog = pytest.importorskip("scipy.optimize").linprog
    sparse = pytest.importorskip("scipy.sparse")
    n, r, m, nu, trials = 6, 1, 400, 0.1, 40
    problem = sensing.make_problem(jax.random.key(3), n=n, rank=r, m=m)
    a = np.asarray(sensing.dense_matrices(problem.operator, (n, n)))  # (m, n, n), E[A^* A] = I on symmetric
    basis = _tangent_basis(np.asarray(problem.truth.factor))
    d = basis.shape[0]
    assert d == theory.symmetric_rank_dimension(n, r)
    b = np.einsum("mij,dij->md", a, basis)  # <A_i, T_j>
    rng = np.random.default_rng(1)
    sq = []
    # variables (w (d), t (m)): min sum t  s.t.  B w - t <= s,  -B w - t <= -s  (sparse: the t block is -I)
    eye = sparse.identity(m, format="csr")
    a_ub = sparse.bmat([[sparse.csr_matrix(b), -eye], [sparse.csr_matrix(-b), -eye]], format="csr")
    cost = np.concatenate([np.zeros(d), np.ones(m)])
    bounds = [(None, None)] * d + [(0, None)] * m
    for _ in range(trials):
        s = nu * rng.normal(size=m)
        res = linprog(cost, A_ub=a_ub, b_ub=np.concatenate([s, -s]), bounds=bounds, method="highs-ds")
        assert res.status == 0
        sq.append(np.sum(res.x[:d] ** 2))
    rms = math.sqrt(np.mean(sq))
    predicted = float(theory.subgm_noise_floor(nu, n, r, m, constant=theory.subgm_floor_constant(n, r)))
    assert predicted == pytest.approx(nu * math.sqrt(math.pi * d / (2 * m)), rel=1e-12)
    # mean of 40 chi^2_6-like draws: relative s.e. of the mean square sqrt(2 / (6 * 40)) = 9.1%, 4.6% on the root,
    # plus O(d / m) = 1.5% finite-m bias; observed rms / predicted = 1.025. 0.14 is 3 standard errors; sqrt(2/pi)
    # or 1 in place of sqrt(pi/2) moves the root by >= 20%.
    assert rms / predicted == pytest.approx(1.0, abs=0.14), rms / predicted
