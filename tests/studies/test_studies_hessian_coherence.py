"""Sagun / Chatterjee study: the Hessian against an independent dense Hessian and the Gauss-Newton split,
Weyl's bounds on the bulk and the outliers, Lanczos against eigvalsh, the coherence's closed forms
(identical, orthogonal, opposite gradients; the exact mean 1/n over all random label vectors), the
one-step decrease eta alpha mean ||g_i||^2 against the exact loss change, the early-GD traces against
the study's training loop, and a tiny end-to-end run whose claims are checked by value."""

from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import bounds
from overparam.studies import hessian_coherence as study

jax.config.update("jax_enable_x64", True)

TINY = study.SETUPS["quick"]._replace(dim=6, n_train=10, steps=600, newton_steps=16, label_draws=32, lanczos_iter=40,
                                      axes={"width": (8, 12), "clusters": (2, 3), "seed": (0, 1)})
WIDTH, CLUSTERS = 12, 3
SPECTRUM = jax.jit(study.hessian_spectrum, static_argnums=2)


@pytest.fixture(scope="module")
def trained():
    """One tiny network (P = 96, n = 10, K = 3): data, initial and trained parameters, training losses."""
    kd, ki = jax.random.split(jax.random.key(7))
    data = study.make_data(kd, TINY.n_train, TINY.dim, CLUSTERS, CLUSTERS, TINY.spread, TINY.radius)
    params0 = study.init_params(ki, WIDTH, TINY.dim)
    params, losses = jax.jit(study.train, static_argnums=(2, 4))(params0, data, TINY.steps, TINY.learning_rate,
                                                                 TINY.newton_steps)
    return data, params0, params, np.asarray(losses)


def _dense_hessian(params, data):
    """Independent dense Hessian: ``jax.hessian`` (jacfwd of jacrev) of the loss of the flat parameter vector."""
    flat, unravel = ravel_pytree(params)
    return np.asarray(jax.jit(jax.hessian(lambda v: study.squared_loss(unravel(v), data.x, data.y)))(flat))


def test_mirrored_init_outputs_zero(trained):
    data, params0, _, losses = trained
    assert np.max(np.abs(np.asarray(study.network(params0, data.x)))) <= 1e-14
    assert losses[0] == pytest.approx(0.5, rel=1e-12)  # L = mean(y^2)/2 with y = +-1
    assert study.num_params(WIDTH, TINY.dim) == ravel_pytree(params0)[0].size == 96


def test_hessian_equals_gauss_newton_plus_residual_term(trained):
    """Away from a minimum (at init, r = -y): H = J^T J / n + (1/n) sum_i r_i Hess f(x_i), each part independently."""
    data, params0, _, _ = trained
    flat, unravel = ravel_pytree(params0)
    hess = np.asarray(jax.jit(bounds.hessian_matrix, static_argnums=0)(
        lambda p: study.squared_loss(p, data.x, data.y), params0))
    np.testing.assert_allclose(hess, _dense_hessian(params0, data), atol=1e-12)
    out = lambda v: study.network(unravel(v), data.x)  # noqa: E731
    jac = np.asarray(jax.jacrev(out)(flat))
    r = np.asarray(out(flat)) - np.asarray(data.y)
    second = np.asarray(jax.jit(jax.vmap(lambda x: jax.hessian(lambda v: study.network(unravel(v), x))(flat)))(data.x))
    residual = np.einsum("i,ijk->jk", r, second) / TINY.n_train
    np.testing.assert_allclose(hess, jac.T @ jac / TINY.n_train + residual, atol=1e-12)
    spec = SPECTRUM(params0, data, CLUSTERS)
    assert float(spec.residual_norm) == pytest.approx(np.linalg.norm(residual, 2), rel=1e-10)


def test_trained_spectrum_bulk_and_outliers(trained):
    """At the minimum: >= P - n zero eigenvalues (rank of J^T J), exactly K above the Weyl edge,
    and the top K within the edge of the between-cluster eigenvalues."""
    data, _, params, losses = trained
    assert losses[-1] <= 1e-25
    spec = SPECTRUM(params, data, CLUSTERS)
    eig = np.asarray(spec.eigenvalues)
    dense = np.linalg.eigvalsh(_dense_hessian(params, data))[::-1]
    np.testing.assert_allclose(eig, dense, atol=1e-12 * dense[0])
    p, n = eig.size, TINY.n_train
    assert float(spec.residual_norm) <= 1e-10 * eig[0]
    assert np.sum(np.abs(eig) <= 1e-10 * eig[0]) >= p - n
    edge = float(spec.within_top + spec.residual_norm)
    assert np.sum(eig > edge) == CLUSTERS
    between = np.asarray(spec.between)
    assert np.all(np.abs(eig[:CLUSTERS] - between[:CLUSTERS]) <= edge + 1e-12)
    assert eig[CLUSTERS] <= edge + 1e-12


def test_lanczos_matches_dense_eigvalsh(trained):
    """40 Lanczos steps (< P = 96) give the extreme eigenvalues of the trained Hessian to 1e-8 lambda_max."""
    data, _, params, _ = trained
    dense = np.linalg.eigvalsh(_dense_hessian(params, data))
    matvec, dim = bounds.flat_hvp(lambda p: study.squared_loss(p, data.x, data.y), params)
    lo, hi = bounds.extreme_eigenvalues(matvec, jax.random.key(3), dim, TINY.lanczos_iter)
    assert abs(float(hi) - dense[-1]) <= 1e-8 * dense[-1]
    assert abs(float(lo) - dense[0]) <= 1e-8 * dense[-1]


def test_coherence_closed_forms():
    """Identical gradients -> 1; m orthogonal gradients of any norms -> 1/m; gradients summing to 0 -> 0."""
    rng = np.random.default_rng(0)
    g = rng.normal(size=7)
    assert float(bounds.gradient_coherence(jnp.tile(g, (5, 1)))) == pytest.approx(1.0, rel=1e-12)
    q, _ = np.linalg.qr(rng.normal(size=(9, 4)))
    orth = q.T * np.array([0.5, 1.0, 2.0, 3.0])[:, None]
    assert float(bounds.gradient_coherence({"w": jnp.asarray(orth)})) == pytest.approx(1 / 4, rel=1e-12)
    assert float(bounds.gradient_coherence(jnp.stack([g, -g]))) == pytest.approx(0.0, abs=1e-15)


def test_random_label_coherence_has_mean_one_over_n(trained):
    """With f(theta_0) = 0, the mean of alpha over all 2^n label vectors y in {+-1}^n is exactly 1/n;
    the real labels give a larger coherence."""
    data, params0, _, _ = trained
    n = TINY.n_train
    signs = jnp.asarray(list(itertools.product((1.0, -1.0), repeat=n)))
    alpha = jax.jit(jax.vmap(lambda y: bounds.gradient_coherence(
        bounds.per_example_gradients(study.example_loss, params0, (data.x, y)))))(signs)
    assert float(jnp.mean(alpha)) == pytest.approx(1 / n, rel=1e-10)
    real, sampled = jax.jit(study.coherence_at_init, static_argnums=3)(params0, data, jax.random.key(0), 16)
    assert float(real) == pytest.approx(float(alpha[_index(signs, data.y)]), rel=1e-12)
    assert float(real) >= 2 / n and sampled.shape == (16,)


def _index(signs, y) -> int:
    """Row of ``signs`` equal to ``y``."""
    return int(np.flatnonzero(np.all(np.asarray(signs) == np.asarray(y), axis=1))[0])


@pytest.mark.parametrize("which", ["real", "random"])
def test_one_step_decrease_is_eta_times_coherence_times_mean_norm(trained, which):
    """L(theta) - L(theta - eta g) = eta alpha mean_i ||g_i||^2 - (eta^2/2) g^T H g + O(eta^3), checked against the
    exact loss change for small eta at init (both label sets) and after 30 GD steps; the second-order term against
    an independent Hessian-vector product."""
    data, params0, _, _ = trained
    y = data.y if which == "real" else jnp.where(jax.random.bernoulli(jax.random.key(5), 0.5, data.y.shape), 1.0, -1.0)
    for params in (params0, jax.jit(study.train, static_argnums=(2, 4))(params0, data._replace(y=y), 30,
                                                                         TINY.learning_rate, 0)[0]):
        flat, unravel = ravel_pytree(params)
        loss = jax.jit(lambda v: study.squared_loss(unravel(v), data.x, y))  # noqa: B023
        grads = bounds.per_example_gradients(study.example_loss, params, (data.x, y))
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
    for real and random labels are in the ratio alpha_real / alpha_random."""
    data, params0, _, _ = trained
    real, sampled = jax.jit(study.coherence_at_init, static_argnums=3)(params0, data, jax.random.key(0), 4)
    signs = jnp.where(jax.random.bernoulli(jax.random.key(0), 0.5, (4, TINY.n_train)), 1.0, -1.0)
    eta = 1e-5
    flat, unravel = ravel_pytree(params0)

    def decrease(y):
        loss = lambda v: study.squared_loss(unravel(v), data.x, y)  # noqa: E731
        return loss(flat) - loss(flat - eta * jax.grad(loss)(flat))

    ratios = np.asarray(jax.vmap(decrease)(signs)) / float(decrease(data.y))
    np.testing.assert_allclose(ratios, np.asarray(sampled) / float(real), rtol=1e-3)


def test_early_training_matches_the_training_loop(trained):
    """The early trace's losses are those of the study's GD loop at the recorded steps, its step-0 coherence is
    coherence_at_init's, and on the real labels the loss at T is below that of random labels."""
    data, params0, _, _ = trained
    steps = study.early_steps(TINY)
    assert steps == TINY.steps // study.EARLY_FRACTION == 60
    early = jax.jit(study.early_training, static_argnums=(3, 5))(params0, data.x, data.y, steps, TINY.learning_rate,
                                                                   study.EARLY_RECORDS)
    _, losses = jax.jit(study.train, static_argnums=(2, 4))(params0, data, steps + 1, TINY.learning_rate, 0)
    record = np.arange(study.EARLY_RECORDS + 1) * steps // study.EARLY_RECORDS
    np.testing.assert_allclose(np.asarray(early.loss), np.asarray(losses)[record], rtol=1e-10)
    real, _ = jax.jit(study.coherence_at_init, static_argnums=3)(params0, data, jax.random.key(0), 2)
    assert float(early.coherence[0]) == pytest.approx(float(real), rel=1e-12)
    signs = jnp.where(jax.random.bernoulli(jax.random.key(1), 0.5, (4, TINY.n_train)), 1.0, -1.0)
    rand = jax.jit(jax.vmap(lambda y: study.early_training(params0, data.x, y, steps, TINY.learning_rate,
                                                           study.EARLY_RECORDS)))(signs)
    assert np.all(np.asarray(rand.loss[:, 0]) == pytest.approx(0.5, rel=1e-12))
    assert float(early.loss[-1]) < float(jnp.min(rand.loss[:, -1]))
    with pytest.raises(ValueError, match="steps"):
        study.early_training(params0, data.x, data.y, 7, TINY.learning_rate, 5)


def test_bad_input():
    with pytest.raises(ValueError, match="width"):
        study.check_axes(TINY, {"width": (7,)})
    with pytest.raises(ValueError, match="clusters"):
        study.check_axes(TINY, {"clusters": (TINY.dim + 1,)})
    with pytest.raises(ValueError, match="seed"):
        study.check_axes(TINY, {"seed": (0,)})
    with pytest.raises(ValueError, match="unknown axis"):
        study.check_axes(TINY, {"depth": (2,)})
    with pytest.raises(ValueError, match="size"):
        study.run_sweep("huge")
    with pytest.raises(ValueError, match="max_clusters"):
        study.make_data(jax.random.key(0), 10, 4, 2, 5, 0.1, 1.0)


def test_tiny_run(tmp_path, monkeypatch):
    """The public run at a tiny size writes claims, figures and data; the claims hold by value."""
    monkeypatch.setitem(study.SETUPS, "quick", TINY)
    result = study.STUDY.run(size="quick", out=tmp_path, progress=False)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["passed"] for c in claims] == [True] * 7
    assert "T = steps/10 = 60 GD steps" in claims[6]["claim"]
    assert "8/8 runs have exactly K outliers" in claims[2]["measured"]
    assert all(p.exists() for p in result.figures) and {p.suffix for p in result.figures} == {".png", ".svg"}
    import xarray as xr

    ds = xr.open_dataset(result.datasets[0])
    s = study.summarize(ds)
    np.testing.assert_array_equal(s.num_params[:, 0, 0], [64, 96])
    assert np.all(s.null_count >= s.num_params - TINY.n_train)
    assert np.all(s.outliers == ds["clusters"].values[None, :, None])
    assert float(np.max(study.lanczos_errors(ds) / ds["eigenvalues"].values[..., 0])) <= 1e-8
    np.testing.assert_array_equal(ds["record"].values, [0, 12, 24, 36, 48, 60])
    np.testing.assert_allclose(ds["early_loss_real"].values[..., 0], 0.5, rtol=1e-12)
    np.testing.assert_allclose(ds["early_loss_random"].values[..., 0, :], 0.5, rtol=1e-12)
    assert np.all(ds["early_loss_random"].values[..., -1, :].min(axis=-1) > ds["early_loss_real"].values[..., -1])
