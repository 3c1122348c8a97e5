"""A few steps of every algorithm, on every operator, against a plain NumPy loop.

The reference is written from the mathematics (docs/sensing.md, "Operators", "Losses", the
algorithm sections; the docstrings of sensing/operators.py and sensing/algorithms.py), not by
calling the functions it checks. Each problem is built by hand: the sensing matrices ``A_i`` are
drawn in NumPy as an explicit ``(m, n1, n2)`` tensor and handed to the operator in its documented
storage layout; every reference step forms ``r_i = <A_i, F G^T> - y_i`` and
``Z = (1/m) sum_i r_i A_i`` (``Q`` with ``sign(r_i)``) densely.

Four steps of ``alg.step`` are compared with it for every algorithm and operator, and
``sensing.run(..., record_every=1)`` for SubGM, undamped ScaledGD and PrecGD with a binding floor
on the Gaussian operators (factors, recorded relative error, objective and balance gap). The packed
operator that ``make_problem`` samples is compared with the symmetrised Gaussian built from its
own random draws.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sensing

N, N2, R, K, M, STEPS = 12, 10, 2, 4, 120, 4
N_POP, N2_POP = 10, 8
M_COMPLETION = 60  # below n1 n2 = 120 (asymmetric), so 1/p = n1 n2 / m is not 1
KEY = jax.random.key(31)
OPERATORS = ("gaussian", "rank_one", "completion", "population")
CASES = [(op, sym) for op in OPERATORS for sym in (True, False)]

# hyperparameters: 4 steps move the factors by 10 % to 110 % (checked below), so that a wrong
# factor, sign or index changes them by far more than rounding
ETA_GD = 0.1
SUBGM_ETA0, SUBGM_RHO = 0.05, 0.7  # rho far from 1: rho^t and rho^(t+1) differ by 30 %
SUBGM_NORM_ETA0 = 0.1
SCALED_ETA, SCALED_DAMPING = 0.2, 0.3
PREC_ETA, PREC_BIG_FLOOR = 0.2, 50.0  # the big floor is above sqrt(mean r^2) (checked): max(., floor) binds

ALGORITHMS = {
    "gd": sensing.gd(ETA_GD),
    "subgm": sensing.subgm(SUBGM_ETA0, SUBGM_RHO),
    "subgm_normalized": sensing.subgm(SUBGM_NORM_ETA0, SUBGM_RHO, normalize=True),
    "scaled_gd": sensing.scaled_gd(SCALED_ETA, SCALED_DAMPING),
    "precgd": sensing.precgd(PREC_ETA),
}
# through sensing.run on the Gaussian operators only (the floor and lambda = 0 do not depend on
# the operator): ScaledGD without damping, PrecGD with a floor that binds
RUN_ALGORITHMS = {
    "subgm": ALGORITHMS["subgm"],
    "scaled_gd_undamped": sensing.scaled_gd(SCALED_ETA, 0.0),
    "precgd_floor": sensing.precgd(PREC_ETA, floor=PREC_BIG_FLOOR),
}

# float64 rounding: every quantity below is a handful of dense products and (for ScaledGD/PrecGD)
# one k x k solve per step, all well conditioned; the largest relative difference seen over all
# cases is 4.3e-16 (factors) and 5.6e-16 (recorded error, objective and balance gap)
RTOL = 5e-15


# ----------------------------------------------------------------------------- the reference


def symmetrised_gaussian_from_draws(key: jax.Array, m: int, n: int) -> np.ndarray:
    """``A_i = (G_i + G_i^T)/2`` built entry by entry from the draws ``make_operator`` makes.

    The sampler draws one ``N(0, 1)`` number per upper-triangle position (``triu_indices`` order,
    row by row): the diagonal entry ``A_jj`` itself, and, off the diagonal, ``g`` with
    ``A_jl = A_lj = g / sqrt(2) ~ N(0, 1/2)`` (the law of ``(G_jl + G_lj)/2``).
    """
    _, k_op, _ = jax.random.split(key, 3)
    g = np.asarray(jax.random.normal(k_op, (m, n * (n + 1) // 2), jnp.float64))
    a = np.zeros((m, n, n))
    p = 0
    for j in range(n):
        for l in range(j, n):
            if j == l:
                a[:, j, j] = g[:, p]
            else:
                a[:, j, l] = a[:, l, j] = g[:, p] / np.sqrt(2.0)
            p += 1
    return a


def pack_symmetric(a: np.ndarray) -> np.ndarray:
    """The documented packed layout of symmetric ``A_i`` ``(m, n, n)``: ``triu_indices`` order, row by
    row, ``A_jj`` on the diagonal and ``2 A_jl`` off it (so that ``<A, S> = packed . triu(S)``)."""
    n = a.shape[1]
    cols = [a[:, j, l] * (1.0 if j == l else 2.0) for j in range(n) for l in range(j, n)]
    return np.stack(cols, axis=1)


def reference_problem(operator: str, symmetric: bool) -> tuple[sensing.Problem, np.ndarray, object]:
    """A problem built by hand from NumPy draws, its sensing matrices ``A_i`` ``(m, n1, n2)`` and a start.

    ``A_i``: symmetrised Gaussian ``(G + G^T)/2`` (symmetric ``"gaussian"``), iid ``N(0, 1)``
    (asymmetric), ``a_i b_i^T`` (rank one), ``sqrt(n1 n2) e_j e_l^T`` on ``m`` distinct entries
    (completion; all entries for the population operator), stored in each operator's documented
    layout. ``y = <A_i, M*> + 0.01 N(0, 1)``. The start is ``X0`` with ``N(0, 1/n)`` entries, or
    ``(F0, G0)`` with ``G0`` at scale 0.3, so ``F^T F`` and ``G^T G`` differ.
    """
    rng = np.random.default_rng([OPERATORS.index(operator), int(symmetric)])
    n1, n2 = (N_POP, N2_POP) if operator == "population" else (N, N2)
    if symmetric:
        n2 = n1
    m = {"gaussian": M, "rank_one": M, "completion": M_COMPLETION, "population": n1 * n2}[operator]
    if operator == "gaussian" and symmetric:
        g = rng.standard_normal((m, n1, n1))
        a = (g + np.swapaxes(g, 1, 2)) / 2
        op = sensing.PackedGaussian(jnp.asarray(pack_symmetric(a)))
    elif operator == "gaussian":
        a = rng.standard_normal((m, n1, n2))
        op = sensing.DenseGaussian(jnp.asarray(a.reshape(m, n1 * n2)))  # row-major vec(A_i)
    elif operator == "rank_one":
        left, right = rng.standard_normal((m, n1)), rng.standard_normal((m, n2))
        a = np.einsum("ij,ik->ijk", left, right)
        op = sensing.RankOne(jnp.asarray(left), jnp.asarray(right))
    else:
        idx = rng.choice(n1 * n2, m, replace=False) if operator == "completion" else np.arange(m)
        rows, cols = idx // n2, idx % n2
        a = np.zeros((m, n1, n2))
        a[np.arange(m), rows, cols] = np.sqrt(n1 * n2)
        op = sensing.Completion(jnp.asarray(rows), jnp.asarray(cols), jnp.asarray(np.sqrt(n1 * n2)))
    u = rng.standard_normal((n1, R)) / np.sqrt(n1)
    if symmetric:
        m_star = u @ u.T
        truth = sensing.SymmetricTruth(jnp.asarray(u), jnp.asarray(m_star))
        x0 = rng.standard_normal((n1, K)) / np.sqrt(n1)
    else:
        v = rng.standard_normal((n2, R)) / np.sqrt(n2)
        m_star = u @ v.T
        truth = sensing.Truth(jnp.asarray(u), jnp.asarray(v), jnp.asarray(m_star))
        x0 = (rng.standard_normal((n1, K)) / np.sqrt(n1), 0.3 * rng.standard_normal((n2, K)) / np.sqrt(n2))
    y = np.einsum("ijk,jk->i", a, m_star) + 0.01 * rng.standard_normal(m)
    return sensing.Problem(op, jnp.asarray(y), truth), a, x0


def _pair(x):
    return (x, x) if not isinstance(x, tuple) else x


def _residual(a, y, x):
    f, g = _pair(x)
    return np.einsum("ijk,jk->i", a, f @ g.T) - y


def _sym(z):
    return (z + z.T) / 2


def _reference_step(name: str, a: np.ndarray, y: np.ndarray, x, t: int):
    """One step of algorithm ``name`` at iteration ``t`` (0-based), from docs/sensing.md."""
    m = y.shape[0]
    symmetric = not isinstance(x, tuple)
    f, g = _pair(x)
    r = _residual(a, y, x)
    z = np.einsum("i,ijk->jk", r, a) / m
    if name == "gd":  # X - eta sym(Z) X;  (F - eta Z G, G - eta Z^T F)
        if symmetric:
            return x - ETA_GD * _sym(z) @ x
        return f - ETA_GD * z @ g, g - ETA_GD * z.T @ f
    if name in ("subgm", "subgm_normalized"):
        q = np.einsum("i,ijk->jk", np.sign(r), a) / m
        if name == "subgm":
            eta = SUBGM_ETA0 * SUBGM_RHO**t
        else:  # eta_t / ||Q||_F, ||sym(Q)||_F when symmetric
            eta = SUBGM_NORM_ETA0 * SUBGM_RHO**t / np.linalg.norm(_sym(q) if symmetric else q)
        if symmetric:  # X - eta_t (Q + Q^T) X
            return x - eta * (q + q.T) @ x
        return f - eta * q @ g, g - eta * q.T @ f
    if name.startswith("scaled_gd"):
        eta, lam = SCALED_ETA, (SCALED_DAMPING if name == "scaled_gd" else 0.0)
    elif name.startswith("precgd"):
        floor = PREC_BIG_FLOOR if name == "precgd_floor" else 1e-12
        eta, lam = PREC_ETA, max(np.sqrt(np.mean(r**2)), floor)
    else:
        raise AssertionError(name)
    eye = np.eye(f.shape[1])
    if symmetric:  # X - eta sym(Z) X (X^T X + lambda I)^{-1}
        return x - eta * (_sym(z) @ x) @ np.linalg.inv(x.T @ x + lam * eye)
    # Tong, Ma & Chi (ScaledGD): each factor is preconditioned by the OTHER factor's Gram matrix
    return (f - eta * (z @ g) @ np.linalg.inv(g.T @ g + lam * eye),
            g - eta * (z.T @ f) @ np.linalg.inv(f.T @ f + lam * eye))


def _reference_objective(name: str, a, y, x) -> float:
    """(1/4m) sum r^2 (symmetric), (1/2m) sum r^2 (asymmetric), (1/m) sum |r| (SubGM)."""
    r = _residual(a, y, x)
    if name.startswith("subgm"):
        return float(np.mean(np.abs(r)))
    return float(np.sum(r**2) / ((4.0 if not isinstance(x, tuple) else 2.0) * r.size))


def _reference_metrics(m_star, x) -> tuple[float, float]:
    """(||F G^T - M*||_F / ||M*||_F, ||F^T F - G^T G||_F)."""
    f, g = _pair(x)
    return (float(np.linalg.norm(f @ g.T - m_star) / np.linalg.norm(m_star)),
            float(np.linalg.norm(f.T @ f - g.T @ g)))


# ----------------------------------------------------------------------------- the project


@jax.jit
def _iterates(problem: sensing.Problem, x0):
    """``x_1 .. x_STEPS`` of every algorithm through ``alg.init`` / ``alg.step``; leaves ``(STEPS, n, k)``."""
    out = {}
    for name, alg in ALGORITHMS.items():
        def body(state, _, alg=alg):
            state = alg.step(state, problem)
            return state, (state.x, state.step)
        out[name] = jax.lax.scan(body, alg.init(x0), None, length=STEPS)[1]
    return out


def _relative(got, expected) -> float:
    got, expected = np.asarray(got), np.asarray(expected)
    return float(np.linalg.norm(got - expected) / np.linalg.norm(expected))


def _reference_iterates(name, a, y, x0):
    x = [x0]
    for t in range(STEPS):
        x.append(_reference_step(name, a, y, x[-1], t))
    return x


@pytest.mark.parametrize("operator,symmetric", CASES)
def test_every_algorithm_matches_the_numpy_loop(operator, symmetric):
    """GD, SubGM (plain, normalised), ScaledGD and PrecGD equal the dense NumPy loop at each of 4
    steps to float64 rounding."""
    problem, a, x0 = reference_problem(operator, symmetric)
    got = _iterates(problem, jax.tree.map(jnp.asarray, x0))
    y = np.asarray(problem.y)
    for name in ALGORITHMS:
        xs, counters = got[name]
        np.testing.assert_array_equal(counters, np.arange(1, STEPS + 1))
        ref = _reference_iterates(name, a, y, x0)
        for t in range(STEPS):
            for g, e in zip(jax.tree.leaves(xs), jax.tree.leaves(ref[t + 1])):
                assert _relative(g[t], e) < RTOL, (name, t)
        # the steps moved the factors by 10 % to 110 %, far beyond the tolerance: a wrong factor cannot hide
        moved = max(_relative(e, s) for e, s in zip(jax.tree.leaves(ref[-1]), jax.tree.leaves(ref[0])))
        assert moved > 0.05, name


@jax.jit
def _traces(problem: sensing.Problem, x0):
    return {name: sensing.run(alg, problem, x0, steps=STEPS, record_every=1) for name, alg in RUN_ALGORITHMS.items()}


@pytest.mark.parametrize("symmetric", [True, False])
def test_run_records_the_reference_metrics(symmetric):
    """sensing.run's trace: error ||F G^T - M*||_F / ||M*||_F, the objective ((1/4m) or (1/2m) sum r^2,
    (1/m) sum |r| for SubGM), the balance gap ||F^T F - G^T G||_F and the final factors, per step;
    ScaledGD with lambda = 0 and PrecGD whose floor binds, max(sqrt(mean r^2), floor) = floor."""
    problem, a, x0 = reference_problem("gaussian", symmetric)
    traces = _traces(problem, jax.tree.map(jnp.asarray, x0))
    y, m_star = np.asarray(problem.y), np.asarray(problem.truth.matrix)
    for name, trace in traces.items():
        assert not bool(trace.diverged), name
        np.testing.assert_array_equal(trace.steps, np.arange(STEPS + 1))
        ref = _reference_iterates(name, a, y, x0)
        if name == "precgd_floor":  # the floor is what binds, as intended
            assert all(np.sqrt(np.mean(_residual(a, y, x) ** 2)) < PREC_BIG_FLOOR for x in ref)
        for t, x in enumerate(ref):
            err, bal = _reference_metrics(m_star, x)
            assert float(trace.error[t]) == pytest.approx(err, rel=RTOL), (name, t)
            assert float(trace.loss[t]) == pytest.approx(_reference_objective(name, a, y, x), rel=RTOL), (name, t)
            if symmetric:
                assert float(trace.balance[t]) == 0.0
            else:
                assert float(trace.balance[t]) == pytest.approx(bal, rel=RTOL), (name, t)
        for g, e in zip(jax.tree.leaves(trace.final), jax.tree.leaves(x)):
            assert _relative(g, e) < RTOL, name


def test_packed_gaussian_is_the_symmetrised_gaussian_of_its_draws():
    """measure, adjoint_apply, adjoint_matrix, dense_matrices and the clean data y = <A_i, M*> of the
    packed operator equal the dense symmetrised Gaussian A_i = (G + G^T)/2 built from the same draws."""
    n, m = N, 300  # the sizes of test_sensing_gd.py (compiled sampler shared)
    problem = sensing.make_problem(KEY, n=n, rank=R, m=m)  # noiseless
    a = symmetrised_gaussian_from_draws(KEY, m, n)
    x = np.random.default_rng(0).standard_normal((n, K)) / np.sqrt(n)
    r = np.asarray(jax.random.normal(jax.random.key(5), (m,), jnp.float64))
    z = np.einsum("i,ijk->jk", r, a) / m
    op = problem.operator
    pairs = {
        "measure": (sensing.measure(op, jnp.asarray(x)), np.einsum("ijk,jk->i", a, x @ x.T)),
        "y": (problem.y, np.einsum("ijk,jk->i", a, np.asarray(problem.truth.matrix))),
        "adjoint_apply": (sensing.adjoint_apply(op, jnp.asarray(r), jnp.asarray(x)), z @ x),
        "adjoint_matrix": (sensing.adjoint_matrix(op, jnp.asarray(r), (n, n), True), z),
        "dense_matrices": (sensing.dense_matrices(op, (n, n)), a),
    }
    for name, (got, expected) in pairs.items():
        # sums of n^2 = 144 (measure) or m = 300 (adjoint) products of O(1) terms, compared in norm:
        # float64 rounding, seen <= 7.5e-16
        assert _relative(got, expected) < 5e-15, name
