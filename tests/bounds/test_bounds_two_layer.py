"""bounds.two_layer: the network against a NumPy loop, the padded network against the unpadded one, the Hessian
against an independent dense Hessian and its Gauss-Newton split, Weyl's bounds at the minimum, the Gram-matrix
eigenvalues against dense ones, the coherence's exact random-label mean 1/n, the one-step decrease
eta alpha mean ||g_i||^2 against the exact loss change, early GD against the training loop, and bad input."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import bounds
from bounds import two_layer as tl

DIM, N, WIDTH, CLUSTERS, STEPS, NEWTON = 6, 10, 12, 3, 600, 16
TRAIN = jax.jit(tl.train, static_argnums=(2, 4))
SPECTRUM = jax.jit(tl.hessian_spectrum, static_argnums=2)
GD_STEP = jax.jit(tl.gd_step)
_, UNRAVEL = ravel_pytree(tl.init_params(jax.random.key(0), WIDTH, DIM))
DENSE_HESSIAN = jax.jit(lambda flat, x, y: jax.hessian(lambda v: tl.squared_loss(UNRAVEL(v), x, y))(flat))


@pytest.fixture(scope="module")
def trained():
    """One tiny network (P = 96, n = 10, K = 3): data, initial and trained parameters, training losses."""
    kd, ki = jax.random.split(jax.random.key(7))
    data = tl.cluster_data(kd, N, DIM, CLUSTERS, max_clusters=CLUSTERS, spread=0.15, radius=2.5)
    params0 = tl.init_params(ki, WIDTH, DIM)
    params, losses = TRAIN(params0, data, STEPS, 1.0, NEWTON)
    return data, params0, params, np.asarray(losses)


def _dense_hessian(params, data):
    """Independent dense Hessian: ``jax.hessian`` (jacfwd of jacrev) of the loss of the flat parameter vector."""
    return np.asarray(DENSE_HESSIAN(ravel_pytree(params)[0], data.x, data.y))


def _gd(params, data, y, steps):
    """``steps`` plain GD steps (eta = 1) and the loss before each, (steps,)."""
    losses = []
    for _ in range(steps):
        params, loss = GD_STEP(params, data.x, y, 1.0)
        losses.append(float(loss))
    return params, np.array(losses)


def test_network_matches_a_numpy_loop_and_the_mirrored_start_is_zero(trained):
    data, params0, params, losses = trained
    w, b, a, x = (np.asarray(v) for v in (*params, data.x))
    loop = np.array([sum(a[j] * np.tanh(w[j] @ xi + b[j]) for j in range(WIDTH)) / np.sqrt(WIDTH) for xi in x])
    np.testing.assert_allclose(np.asarray(tl.network(params, data.x)), loop, rtol=5e-15)  # observed 4.4e-16
    assert np.max(np.abs(np.asarray(tl.network(params0, data.x)))) <= 2e-16  # mirrored units cancel; observed 2e-17
    assert losses[0] == pytest.approx(0.5, rel=1e-15)  # L = mean(y^2)/2 with y = +-1; observed exactly 0.5
    assert tl.num_params(WIDTH, DIM) == ravel_pytree(params0)[0].size == 96


def test_cluster_data_has_orthogonal_means_parity_labels_and_does_not_depend_on_k():
    key = jax.random.key(3)
    spread, radius = 1e-9, 2.0  # tiny spread: every x_i is its cluster's mean to 1e-9
    d2 = tl.cluster_data(key, 12, 5, 2, max_clusters=4, spread=spread, radius=radius)
    d4 = tl.cluster_data(key, 12, 5, 4, max_clusters=4, spread=spread, radius=radius)
    np.testing.assert_array_equal(np.asarray(d4.cluster), np.arange(12) % 4)
    np.testing.assert_array_equal(np.asarray(d4.y), np.where(np.arange(12) % 4 % 2 == 0, 1.0, -1.0))
    means = np.asarray(d4.x)[:4]  # examples 0..3 are in clusters 0..3
    # orthogonal means of norm radius; observed error 4e-9 (the spread)
    np.testing.assert_allclose(means @ means.T, radius**2 * np.eye(4), atol=4e-8)
    np.testing.assert_allclose(np.asarray(d2.x)[:2], means[:2], atol=4e-8)  # cluster k's mean is the same for K = 2
    with pytest.raises(ValueError, match="max_clusters"):
        tl.cluster_data(key, 10, 4, 2, max_clusters=5, spread=0.1, radius=1.0)
    with pytest.raises(ValueError, match="clusters"):
        tl.cluster_data(key, 10, 4, 5, max_clusters=4, spread=0.1, radius=1.0)
    with pytest.raises(ValueError, match="spread"):
        tl.cluster_data(key, 10, 4, 2, max_clusters=4, spread=0.0, radius=1.0)


def _embed(params, max_width):
    """A width-12 network's units in arrays of width ``max_width``: halves at 0 and max_width / 2, zeros between."""
    half, h = max_width // 2, WIDTH // 2
    rows = np.r_[np.arange(h), half + np.arange(h)]
    return tl.TwoLayerParams(*(jnp.zeros((max_width,) + v.shape[1:]).at[rows].set(v) for v in params))


def test_padded_network_is_the_unpadded_network(trained):
    """Width 12 stored at width 20 with a mask: the same start, outputs, loss gradient (zero on the unused units,
    so GD and Gauss-Newton steps are the same), Hessian spectrum and coherence."""
    data, params0, params, _ = trained
    mask = tl.unit_mask(WIDTH, 20)
    np.testing.assert_array_equal(np.asarray(mask), np.r_[np.ones(6), np.zeros(4), np.ones(6), np.zeros(4)])
    padded0 = tl.init_params(jax.random.split(jax.random.key(7))[1], WIDTH, DIM, max_width=20)
    for a, b in zip(padded0, _embed(params0, 20)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # unit j from fold_in(key, j), zeros elsewhere
    padded = _embed(params, 20)
    np.testing.assert_allclose(np.asarray(tl.network(padded, data.x, mask)), np.asarray(tl.network(params, data.x)),
                               rtol=1e-15, atol=1e-17)  # observed: identical
    grad = jax.grad(tl.squared_loss)(params0, data.x, data.y)  # at the start, where the gradient is O(1)
    grad_p = jax.grad(tl.squared_loss)(padded0, data.x, data.y, mask)
    for a, b in zip(grad_p, _embed(grad, 20)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-15, atol=0)  # observed: identical
    spec = SPECTRUM(params, data, CLUSTERS)
    spec_p = jax.jit(lambda p: tl.hessian_spectrum(p, data, CLUSTERS, mask))(padded)
    eig, eig_p = np.asarray(spec.eigenvalues), np.asarray(spec_p.eigenvalues)
    assert eig_p.shape == (20 * (DIM + 2),) and np.all(np.isnan(eig_p[96:])) and float(spec_p.num_params) == 96
    np.testing.assert_allclose(eig_p[:96], eig, atol=5e-14 * eig[0])  # observed 4.7e-15 lambda_max
    np.testing.assert_allclose(np.asarray(spec_p.between), np.asarray(spec.between), rtol=1e-14)  # observed: identical
    real, rand = tl.coherence_at_init(params0, data, jax.random.key(0), 4)
    real_p, rand_p = tl.coherence_at_init(padded0, data, jax.random.key(0), 4, mask)
    np.testing.assert_allclose([real_p, *rand_p], [real, *rand], rtol=2e-15)  # observed 2.2e-16


def test_hessian_equals_gauss_newton_plus_residual_term(trained):
    """Away from a minimum (at the start, r = -y): H = J^T J / n + (1/n) sum_i r_i Hess f(x_i), each part
    computed independently."""
    data, params0, _, _ = trained
    flat, unravel = ravel_pytree(params0)
    hess = np.asarray(jax.jit(bounds.hessian_matrix, static_argnums=0)(
        lambda p: tl.squared_loss(p, data.x, data.y), params0))
    np.testing.assert_allclose(hess, _dense_hessian(params0, data), atol=2e-15)  # observed 1.7e-16, |H| <= 0.5
    out = lambda v: tl.network(unravel(v), data.x)  # noqa: E731
    jac = np.asarray(jax.jacrev(out)(flat))
    r = np.asarray(out(flat)) - np.asarray(data.y)
    second = np.asarray(jax.jit(jax.vmap(lambda x: jax.hessian(lambda v: tl.network(unravel(v), x))(flat)))(data.x))
    residual = np.einsum("i,ijk->jk", r, second) / N
    np.testing.assert_allclose(hess, jac.T @ jac / N + residual, atol=2e-15)  # observed 1.8e-16
    spec = SPECTRUM(params0, data, CLUSTERS)
    assert float(spec.residual_norm) == pytest.approx(np.linalg.norm(residual, 2), rel=2e-15)  # observed 2.2e-16


def test_gauss_newton_split_from_gram_matrices_equals_the_dense_parts(trained):
    """between and within_top (from K x K and n x n Gram matrices) against eigvalsh of the P x P matrices G_b, G_w."""
    data, _, params, _ = trained
    flat, unravel = ravel_pytree(params)
    jac = np.asarray(jax.jacfwd(lambda v: tl.network(unravel(v), data.x))(flat))
    c = np.asarray(data.cluster)
    means = np.stack([jac[c == k].mean(axis=0) for k in range(CLUSTERS)])
    counts = np.bincount(c, minlength=CLUSTERS)
    g_b = sum(counts[k] * np.outer(means[k], means[k]) for k in range(CLUSTERS)) / N
    g_w = sum(np.outer(jac[i] - means[c[i]], jac[i] - means[c[i]]) for i in range(N)) / N
    np.testing.assert_allclose(g_b + g_w, jac.T @ jac / N, atol=1e-16)  # the variance decomposition; observed 1.4e-17
    spec = SPECTRUM(params, data, CLUSTERS)
    top = np.linalg.eigvalsh(jac.T @ jac / N)[-1]
    np.testing.assert_allclose(np.asarray(spec.between), np.linalg.eigvalsh(g_b)[::-1][:CLUSTERS], atol=1.5e-15 * top)
    assert float(spec.within_top) == pytest.approx(np.linalg.eigvalsh(g_w)[-1], abs=2e-16 * top)  # observed 1.8e-17 top


def test_trained_spectrum_bulk_and_outliers(trained):
    """At the minimum: >= P - n zero eigenvalues (rank of J^T J), exactly K above the Weyl edge,
    and the top K within the edge of the between-cluster eigenvalues."""
    data, _, params, losses = trained
    assert losses[-1] <= 5e-32  # Gauss-Newton converges quadratically; observed 5.1e-33
    spec = SPECTRUM(params, data, CLUSTERS)
    eig = np.asarray(spec.eigenvalues)
    dense = np.linalg.eigvalsh(_dense_hessian(params, data))[::-1]
    np.testing.assert_allclose(eig, dense, atol=6e-15 * dense[0])  # observed 5.6e-16 lambda_max
    p = eig.size
    assert float(spec.residual_norm) <= 2e-15 * eig[0]  # R = (1/n) sum r_i Hess f_i, r ~ 1e-16; observed 1.6e-16
    assert np.sum(np.abs(eig) <= 1e-12 * eig[0]) >= p - N  # observed exactly P - n = 86
    edge = float(spec.within_top + spec.residual_norm)
    assert np.sum(eig > edge) == CLUSTERS
    between = np.asarray(spec.between)
    assert np.all(np.abs(eig[:CLUSTERS] - between[:CLUSTERS]) <= edge + 1e-12)  # Weyl
    assert eig[CLUSTERS] <= edge + 1e-12


def test_lanczos_matches_dense_eigvalsh(trained):
    """40 Lanczos steps (< P = 96) give the extreme eigenvalues of the trained Hessian to 1e-15 lambda_max."""
    data, _, params, _ = trained
    dense = np.linalg.eigvalsh(_dense_hessian(params, data))
    matvec, dim = bounds.flat_hvp(lambda p: tl.squared_loss(p, data.x, data.y), params)
    lo, hi = bounds.extreme_eigenvalues(matvec, jax.random.key(3), dim, 40)
    assert abs(float(hi) - dense[-1]) <= 1e-15 * dense[-1]  # observed 0
    assert abs(float(lo) - dense[0]) <= 1e-15 * dense[-1]  # observed 1.1e-16


def test_random_label_coherence_has_mean_one_over_n(trained):
    """With f(theta_0) = 0, the mean of alpha over all 2^n label vectors y in {+-1}^n is exactly 1/n;
    the real labels give a larger coherence."""
    data, params0, _, _ = trained
    signs = jnp.asarray(list(itertools.product((1.0, -1.0), repeat=N)))
    alpha = jax.jit(jax.vmap(lambda y: tl.label_coherence(params0, data.x, y)))(signs)
    assert float(jnp.mean(alpha)) == pytest.approx(1 / N, rel=2e-15)  # observed 2.2e-16
    real, sampled = jax.jit(tl.coherence_at_init, static_argnums=3)(params0, data, jax.random.key(0), 16)
    row = int(np.flatnonzero(np.all(np.asarray(signs) == np.asarray(data.y), axis=1))[0])
    assert float(real) == pytest.approx(float(alpha[row]), rel=1e-12)
    assert float(real) >= 2 / N and sampled.shape == (16,)
    np.testing.assert_array_equal(np.abs(np.asarray(tl.random_signs(jax.random.key(0), 3, 5))), np.ones((3, 5)))


@pytest.mark.parametrize("which", ["real", "random"])
def test_one_step_decrease_is_eta_times_coherence_times_mean_norm(trained, which):
    """L(theta) - L(theta - eta g) = eta alpha mean_i ||g_i||^2 - (eta^2/2) g^T H g + O(eta^3), against the exact loss
    change for small eta at the start and after 30 GD steps; the second-order term against a Hessian-vector product."""
    data, params0, _, _ = trained
    y = data.y if which == "real" else tl.random_signs(jax.random.key(5), 1, N)[0]
    for params in (params0, _gd(params0, data, y, 30)[0]):
        flat, unravel = ravel_pytree(params)
        loss = jax.jit(lambda v: tl.squared_loss(unravel(v), data.x, y))  # noqa: B023
        grads = bounds.per_example_gradients(tl.example_loss, params, (data.x, y))
        alpha = float(bounds.gradient_coherence(grads))
        mean_norm = float(np.mean(np.sum(np.asarray(jax.vmap(lambda g: ravel_pytree(g)[0])(grads)) ** 2, axis=1)))
        first = alpha * mean_norm
        g = jax.grad(loss)(flat)
        assert float(g @ g) == pytest.approx(first, rel=1e-12)  # ||mean_i g_i||^2 = alpha mean_i ||g_i||^2
        curvature = float(g @ jax.jvp(jax.grad(loss), (flat,), (g,))[1])  # g^T H g
        for eta in (1e-3, 1e-4):
            decrease = float(loss(flat) - loss(flat - eta * g))
            assert decrease / eta == pytest.approx(first, rel=eta * abs(curvature) / first)
            second = (first - decrease / eta) / eta  # -> g^T H g / 2, up to O(eta) and round-off eps L / eta^2
            assert second == pytest.approx(curvature / 2, rel=0.02, abs=1e-14 * float(loss(flat)) / eta**2)


def test_first_step_decreases_are_in_the_ratio_of_coherences(trained):
    """At f = 0 the per-example gradient norms do not depend on +-1 labels, so the first-order one-step decreases
    for real and random labels are in the ratio alpha_random / alpha_real."""
    data, params0, _, _ = trained
    real, sampled = tl.coherence_at_init(params0, data, jax.random.key(0), 4)
    signs = tl.random_signs(jax.random.key(0), 4, N)  # the labels coherence_at_init drew
    eta = 1e-5
    flat, unravel = ravel_pytree(params0)

    def decrease(y):
        loss = lambda v: tl.squared_loss(unravel(v), data.x, y)  # noqa: E731
        return loss(flat) - loss(flat - eta * jax.grad(loss)(flat))

    ratios = np.asarray(jax.vmap(decrease)(signs)) / float(decrease(data.y))
    # second-order term eta g^T H g / 2 relative to the first: O(eta); observed relative error 1.3e-6
    np.testing.assert_allclose(ratios, np.asarray(sampled) / float(real), rtol=1e-5)


def test_early_training_matches_the_training_loop(trained):
    """The early trace's losses are those of the GD loop at the recorded steps, its step-0 coherence is
    coherence_at_init's, and on the real labels the loss after 60 steps is below that of random labels."""
    data, params0, _, _ = trained
    early = jax.jit(tl.early_training, static_argnums=(3, 5))(params0, data.x, data.y, 60, 1.0, 5)
    _, losses = _gd(params0, data, data.y, 61)
    np.testing.assert_allclose(np.asarray(early.loss), losses[::12][:6], rtol=1e-10)  # observed 0
    real, _ = tl.coherence_at_init(params0, data, jax.random.key(0), 2)
    assert float(early.coherence[0]) == pytest.approx(float(real), rel=1e-12)
    signs = tl.random_signs(jax.random.key(1), 4, N)
    rand = jax.jit(jax.vmap(lambda y: tl.early_training(params0, data.x, y, 60, 1.0, 5)))(signs)
    np.testing.assert_allclose(np.asarray(rand.loss[:, 0]), 0.5, rtol=1e-15)  # observed exactly 0.5
    assert float(early.loss[-1]) < float(jnp.min(rand.loss[:, -1]))


def test_bad_input(trained):
    data, params0, _, _ = trained
    with pytest.raises(ValueError, match="steps"):
        tl.early_training(params0, data.x, data.y, 7, 1.0, 5)
    with pytest.raises(ValueError, match="width"):
        tl.unit_mask(7, 16)
    with pytest.raises(ValueError, match="width"):
        tl.unit_mask(18, 16)
    with pytest.raises(ValueError, match="max_width"):
        tl.unit_mask(4, 9)
    with pytest.raises(ValueError, match="width"):
        tl.num_params(0, 4)
    with pytest.raises(ValueError, match="label_draws"):
        tl.coherence_at_init(params0, data, jax.random.key(0), 0)
    with pytest.raises(ValueError, match="newton_steps"):
        tl.train(params0, data, 3, 1.0, -1)
