"""randfeat.two_layer: the exact flows against matrix exponentials and GD loops written in NumPy, the
frozen subspace against an SVD projector, the features' kernel and the teacher's scale by Monte Carlo."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from randfeat import relu_nngp_kernel
from randfeat import two_layer as tl

TIMES = np.array([0.0, 0.1, 1.0, 7.0, 60.0])


def _flow_reference(a: np.ndarray, g: np.ndarray, w0: np.ndarray, t: float) -> np.ndarray:
    """w(t) of dw/dt = g - A w from w0, by the exponential of the augmented matrix [[-A, g - A w0], [0, 0]]."""
    n = a.shape[0]
    m = np.zeros((n + 1, n + 1))
    m[:n, :n] = -a
    m[:n, n] = g - a @ w0
    return w0 + scipy.linalg.expm(m * t)[:n, n]


def _linear_data(p: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(p, n)) / np.sqrt(n)
    w_bar, w0 = rng.normal(size=n), 0.5 * rng.normal(size=n)
    return x, x @ w_bar + 0.5 * rng.normal(size=p), w_bar, w0


@pytest.mark.parametrize("p, n", [(7, 12), (12, 12), (20, 12)])  # dual side, square, primal side
def test_linear_flow_matches_matrix_exponential(p, n):
    """E_g = |w(t) - w_bar|^2 / N + noise, E_t = |y - X w(t)|^2 / P with w(t) from expm; dual and primal."""
    x, y, w_bar, w0 = _linear_data(p, n, p)
    got = tl.linear_flow_errors(x, y, w_bar, w0, TIMES, 0.25)
    ref = np.array([[np.sum((w - w_bar) ** 2) / n + 0.25, np.mean((y - x @ w) ** 2)]
                    for w in (_flow_reference(x.T @ x, x.T @ y, w0, t) for t in TIMES)])
    # two float64 routes (eigenbasis vs expm): observed 5.4e-15 relative (E_g), 1.6e-15 absolute (E_t)
    np.testing.assert_allclose(np.asarray(got.test), ref[:, 0], rtol=5e-14)
    np.testing.assert_allclose(np.asarray(got.train), ref[:, 1], rtol=5e-14, atol=1e-14)


def test_linear_flow_row_mask_equals_the_used_rows():
    """Masking rows of a padded design gives the curves of the unpadded design (both sides)."""
    x, y, w_bar, w0 = _linear_data(20, 12, 3)
    for rows in (5, 15):
        mask = (np.arange(20) < rows).astype(float)
        masked = tl.linear_flow_errors(x, y, w_bar, w0, TIMES, 0.1, row_mask=mask)
        sliced = tl.linear_flow_errors(x[:rows], y[:rows], w_bar, w0, TIMES, 0.1)
        # the primal (masked) and the dual (5 < N rows) routes: round-off, observed 1.2e-15 (E_g), 6.7e-16 abs (E_t)
        np.testing.assert_allclose(np.asarray(masked.test), np.asarray(sliced.test), rtol=1e-14)
        np.testing.assert_allclose(np.asarray(masked.train), np.asarray(sliced.train), rtol=1e-13, atol=5e-15)


@pytest.mark.parametrize("p", [7, 20])
def test_linear_flow_step_size_equals_a_gd_loop(p):
    """With step_size eta, the curves at t = k eta equal k steps of w <- w + eta X^T (y - X w)."""
    n, eta = 12, 0.3
    x, y, w_bar, w0 = _linear_data(p, n, 11)
    steps = np.array([0, 1, 5, 40])
    got = tl.linear_flow_errors(x, y, w_bar, w0, steps * eta, 0.0, step_size=eta)
    w, ref = w0.copy(), []
    for k in range(steps[-1] + 1):
        if k in steps:
            ref.append([np.sum((w - w_bar) ** 2) / n, np.mean((y - x @ w) ** 2)])
        w = w + eta * x.T @ (y - x @ w)
    ref = np.array(ref)
    # (1 - eta l)^k against k multiplications: round-off, observed 7e-15 relative, 2e-16 absolute (E_t)
    np.testing.assert_allclose(np.asarray(got.test), ref[:, 0], rtol=5e-14)
    np.testing.assert_allclose(np.asarray(got.train), ref[:, 1], rtol=1e-13, atol=2e-15)


def test_linear_teacher_on_the_sphere():
    w = np.asarray(tl.linear_teacher(jax.random.key(0), 50, 2.0))
    assert np.sum(w**2) == pytest.approx(100.0, rel=5e-15)  # |w|^2 = N s_w^2 up to round-off (observed 6e-16)


def _student(p: int, w: int, seed: int):
    """Features h = sqrt(2/W) relu(x W^T) of a ReLU teacher's data, drawn in NumPy: h, y, h_test, f_test, a0."""
    rng = np.random.default_rng(seed)
    x, xq = rng.normal(size=(p, 6)) / np.sqrt(6), rng.normal(size=(40, 6)) / np.sqrt(6)
    hidden, out = rng.normal(size=(4, 6)), rng.normal(size=4) * np.sqrt(0.5)
    weights = rng.normal(size=(w, 6))
    feats = lambda v: np.sqrt(2.0 / w) * np.maximum(v @ weights.T, 0.0)  # noqa: E731
    f, fq = np.maximum(x @ hidden.T, 0.0) @ out, np.maximum(xq @ hidden.T, 0.0) @ out
    return feats(x), f + 0.3 * rng.normal(size=p), feats(xq), fq, 0.7 * rng.normal(size=w)


@pytest.mark.parametrize("p, w", [(15, 6), (10, 10), (8, 25)])  # under-, exactly and over-parameterised
def test_output_flow_matches_matrix_exponential(p, w):
    """a(t) from expm of the primal flow da/dt = H^T (y - H a): test error on the test set, training residual."""
    h, y, hq, fq, a0 = _student(p, w, p + w)
    got = tl.output_flow_errors(h, y, hq, fq, a0, TIMES, 0.09)
    ref = np.array([[np.mean((fq - hq @ a) ** 2) + 0.09, np.mean((y - h @ a) ** 2)]
                    for a in (_flow_reference(h.T @ h, h.T @ y, a0, t) for t in TIMES)])
    # dual eigenbasis vs primal expm (cond up to 9e4 at W = P): observed 6e-15 (E_g), 8e-14 and 1.2e-15 abs (E_t)
    np.testing.assert_allclose(np.asarray(got.test), ref[:, 0], rtol=5e-14)
    np.testing.assert_allclose(np.asarray(got.train), ref[:, 1], rtol=5e-13, atol=1e-14)


@pytest.mark.parametrize("p, w", [(15, 6), (8, 25)])
def test_output_flow_step_size_equals_the_trainer(p, w):
    """GD in closed form (step_size) equals train_output_layer's iteration; both equal a NumPy loop."""
    h, y, hq, fq, a0 = _student(p, w, 5)
    eta, steps = 0.5 / np.linalg.eigvalsh(h @ h.T).max(), 30
    a = np.asarray(tl.train_output_layer(h, y, a0, eta, steps))
    ref = a0.copy()
    for _ in range(steps):
        ref = ref + eta * h.T @ (y - h @ ref)
    np.testing.assert_allclose(a, ref, rtol=1e-14, atol=5e-15)  # the same iteration: observed 4.4e-16
    got = tl.output_flow_errors(h, y, hq, fq, a0, np.array([steps * eta]), 0.0, step_size=eta)
    # closed form (1 - eta s)^k vs the loop: observed 2.5e-15 relative
    assert float(got.test[0]) == pytest.approx(np.mean((fq - hq @ a) ** 2), rel=2e-14)
    assert float(got.train[0]) == pytest.approx(np.mean((y - h @ a) ** 2), rel=2e-14)


def test_frozen_subspace_against_an_svd_projector():
    """P_null from an SVD of H: GD never moves a's null component; null_space_component and null_space_error agree."""
    p, w = 8, 25
    h, y, hq, fq, a0 = _student(p, w, 9)
    _, sv, vt = np.linalg.svd(h)
    null = vt[int(np.sum(sv > 1e-12 * sv[0])):]  # (W - rank, W)
    assert null.shape[0] == w - p  # the frozen subspace has dimension W - P
    proj = null.T @ null
    a = np.asarray(tl.train_output_layer(h, y, a0, 0.5 / sv[0] ** 2, 200))
    assert np.linalg.norm(proj @ (a - a0)) <= 5e-15 * np.linalg.norm(a - a0)  # frozen: round-off, observed 5e-16
    v = a0 + 3.0
    np.testing.assert_allclose(np.asarray(tl.null_space_component(h, v)), proj @ v, atol=1e-13)  # observed 1.8e-14
    expect = np.mean(np.sum((hq @ proj) ** 2, axis=-1))
    assert float(tl.null_space_error(h, hq)) == pytest.approx(expect, rel=2e-14)  # observed 3.2e-15
    narrow, _, narrow_test, _, _ = _student(15, 6, 9)
    assert float(tl.null_space_error(narrow, narrow_test)) == pytest.approx(0.0, abs=1e-15)  # W < P: none (seen 3e-17)


def test_null_space_error_is_the_frozen_part_of_the_final_error():
    """E over a0 ~ N(0, s0^2 I) of E_g(infinity; a0) - E_g(infinity; 0) = s0^2 null_space_error (200 draws, 4 s.e.)."""
    h, y, hq, fq, _ = _student(8, 25, 4)
    big = np.array([1e7])
    base = float(tl.output_flow_errors(h, y, hq, fq, np.zeros(25), big).test[0])
    draws = jax.random.normal(jax.random.key(1), (200, 25)) * 0.8
    rises = np.asarray(jax.vmap(lambda a: tl.output_flow_errors(h, y, hq, fq, a, big).test[0])(draws)) - base
    expect = 0.64 * float(tl.null_space_error(h, hq))
    assert abs(rises.mean() - expect) <= 4 * rises.std(ddof=1) / np.sqrt(rises.size)  # observed z = -0.39


def test_student_features_width_mask_and_kernel():
    """Masked width = the first units rescaled; <h(x), h(y)> -> 2 relu_nngp_kernel (Monte Carlo, 4 s.e.)."""
    k = jax.random.split(jax.random.key(3), 2)
    weights = jax.random.normal(k[0], (20000, 5))
    x = tl.gaussian_inputs(k[1], 3, 5)
    masked = np.asarray(tl.student_features(weights, x, 7))
    np.testing.assert_allclose(masked[:, :7], np.asarray(tl.student_features(weights[:7], x)), rtol=1e-14)
    assert np.all(masked[:, 7:] == 0.0)
    h = np.asarray(tl.student_features(weights, x))
    relu = np.maximum(np.asarray(x @ weights.T), 0.0)
    prod = 2.0 * np.einsum("iu,ju->iju", relu, relu)  # per-unit terms: <h(x), h(y)> is their mean
    np.testing.assert_allclose(h @ h.T, prod.mean(axis=-1), rtol=3e-15)  # the sqrt(2 / W) scale: observed 3e-16
    se = prod.std(axis=-1, ddof=1) / np.sqrt(prod.shape[-1])
    assert np.all(np.abs(h @ h.T - 2.0 * np.asarray(relu_nngp_kernel(x, x))) <= 4 * se)  # observed max |z| = 1.4


def test_relu_teacher_has_unit_signal_on_average():
    """E f*(x)^2 = 1 over teachers and inputs (Monte Carlo over 400 teachers x 200 inputs, 4 s.e.)."""
    keys = jax.random.split(jax.random.key(5), 400)

    def power(key):
        kt, kx = jax.random.split(key)
        f = tl.teacher_outputs(tl.relu_teacher(kt, 20, 10), tl.gaussian_inputs(kx, 200, 20))
        return jnp.mean(f * f)

    values = np.asarray(jax.vmap(power)(keys))
    assert abs(values.mean() - 1.0) <= 4 * values.std(ddof=1) / np.sqrt(values.size)  # observed z = 1.1


def test_bad_input_raises_before_compiling():
    x, y, w_bar, w0 = _linear_data(5, 4, 0)
    with pytest.raises(ValueError, match="times"):
        tl.linear_flow_errors(x, y, w_bar, w0, np.array([-1.0]))
    with pytest.raises(ValueError, match="noise_var"):
        tl.linear_flow_errors(x, y, w_bar, w0, TIMES, -0.1)
    with pytest.raises(ValueError, match="x has shape"):
        tl.linear_flow_errors(x[0], y, w_bar, w0, TIMES)
    with pytest.raises(ValueError, match="step_size"):
        tl.output_flow_errors(x, y, x, y, w0, TIMES, step_size=0.0)
    with pytest.raises(ValueError, match="width"):
        tl.student_features(np.ones((3, 4)), x, 4)
    with pytest.raises(ValueError, match="steps"):
        tl.train_output_layer(x, y, w0, 0.1, -1)
    with pytest.raises(ValueError, match="n_hidden"):
        tl.relu_teacher(jax.random.key(0), 3, 0)
    with pytest.raises(ValueError, match="signal_var"):
        tl.linear_teacher(jax.random.key(0), 3, 0.0)
