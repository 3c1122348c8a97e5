"""A two-layer tanh network on Gaussian clusters: data, initialisation, training, Hessian spectrum.

The model of docs/bounds.md#two-layer-network (Sagun et al. 2017; Chatterjee & Zielinski 2022):

* :func:`cluster_data` -- ``K`` Gaussian clusters in ``R^d`` with orthogonal means of norm
  ``radius``; example ``i`` is in cluster ``c_i = i mod K``, ``x_i = mu_{c_i} + spread xi_i`` and
  its label is ``+1`` for even clusters, ``-1`` for odd ones.
* :func:`network` -- ``f(theta; x) = h^{-1/2} sum_j a_j tanh(w_j . x + b_j)`` (NTK scaling) with
  ``theta = (W (h, d), b (h,), a (h,))``, ``P = h (d + 2)`` parameters (:func:`num_params`).
* :func:`init_params` -- the mirrored start (units ``j`` and ``j + h/2`` share ``w_j, b_j`` and
  have opposite ``a_j``), so ``f(theta_0; .) = 0`` exactly.
* :func:`train` -- full-batch GD on ``L = (1/2n) sum_i (f(x_i) - y_i)^2``, then minimum-norm
  Gauss-Newton steps ``theta <- theta - J^T (J J^T)^{-1} r`` to a global minimum.
* :func:`hessian_spectrum` -- the exact Hessian's eigenvalues and the Gauss-Newton split
  ``H = G + R``, ``G = G_b + G_w`` (docs/bounds.md#gauss-newton-split).
* :func:`coherence_at_init`, :func:`early_training` -- gradient coherence with real and random
  labels and the loss and coherence along early GD (docs/bounds.md#coherence-and-gd-speed).

Padding. Every function takes an optional ``mask`` (max_width,) from :func:`unit_mask`: the
network then uses only the units where ``mask = 1`` and divides by ``sqrt(sum(mask))``, so a
network of width ``h`` stored in arrays of width ``max_width`` computes exactly the width-``h``
network, its gradients and Hessian vanish on the unused units, and networks of several widths share
one compiled program (the width may be a traced value). :func:`init_params` draws unit ``j`` from
``fold_in(key, j)``, so the units of a width-``h`` network are the same whatever ``max_width``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from bounds import _validate
from bounds.coherence import gradient_coherence, per_example_gradients
from bounds.hessian import hessian_matrix

Array = jax.Array


class ClusterData(NamedTuple):
    """Inputs ``x`` (n, d), labels ``y`` (n,) in {+1, -1} and cluster index ``cluster`` (n,) in [0, K)."""

    x: Array
    y: Array
    cluster: Array


class TwoLayerParams(NamedTuple):
    """Weights of the two-layer network: ``w`` (h, d), ``b`` (h,), ``a`` (h,)."""

    w: Array
    b: Array
    a: Array


class EarlyTrace(NamedTuple):
    """Loss and gradient coherence at steps ``0, T/R, ..., T`` of GD: ``loss`` (R + 1,), ``coherence`` (R + 1,)."""

    loss: Array
    coherence: Array


class HessianSpectrum(NamedTuple):
    """The exact Hessian's spectrum and its Gauss-Newton split (docs/bounds.md#gauss-newton-split).

    eigenvalues (max_P,): eigenvalues of ``H`` in decreasing order, then NaN for the unused
    parameters of a padded network; residual_norm (): ``||H - G||_2``; within_top ():
    ``lambda_1(G_w)``; between (max_clusters,): eigenvalues of ``G_b``, decreasing; num_params ():
    ``P``, the number of parameters in use.
    """

    eigenvalues: Array
    residual_norm: Array
    within_top: Array
    between: Array
    num_params: Array


def num_params(width: int, dim: int) -> int:
    """``P = h (d + 2)``: the number of parameters of a width-``h`` network on ``R^d``."""
    return _validate.positive_int("width", width) * (_validate.positive_int("dim", dim) + 2)


def _check_width(width, max_width: int) -> None:
    if not _validate.is_concrete(width):
        return
    w = np.asarray(width)
    if w.ndim or float(w) != int(w) or int(w) < 2 or int(w) % 2 or int(w) > max_width:
        raise ValueError(f"width must be an even integer in [2, max_width = {max_width}], got {width!r}")


def unit_mask(width, max_width: int) -> Array:
    """The units a width-``h`` network uses in arrays of width ``max_width``, (max_width,) of 0/1.

    The two mirrored halves of the arrays (:func:`init_params`) each use their first ``h/2`` units.
    ``width`` may be traced (then it is not checked); ``max_width`` is static and even.
    """
    max_width = _validate.positive_int("max_width", max_width, 2)
    if max_width % 2:
        raise ValueError(f"max_width must be an even integer >= 2, got {max_width}")
    _check_width(width, max_width)
    half = max_width // 2
    position = jnp.arange(max_width) % half
    return (position < jnp.asarray(width) // 2).astype(jnp.result_type(float))


def parameter_mask(mask: Array, dim: int) -> Array:
    """``mask`` (h,) spread over the flat parameter vector (h (d + 2),), in ``ravel_pytree`` order."""
    mask = jnp.asarray(mask)
    flat, _ = ravel_pytree(TwoLayerParams(jnp.broadcast_to(mask[:, None], (mask.shape[0], dim)), mask, mask))
    return flat


def cluster_data(key: Array, n: int, dim: int, clusters, *, max_clusters: int, spread: float,
                 radius: float) -> ClusterData:
    """``n`` examples of ``clusters`` Gaussian clusters in ``R^dim`` (docs/bounds.md#two-layer-network).

    The means of the ``max_clusters <= dim`` possible clusters are ``radius`` times orthonormal
    vectors of a random frame (equally separated clusters); example ``i`` lies in cluster
    ``i mod clusters``, so for a given key the means and the noise do not depend on ``clusters``.
    ``clusters`` may be traced (1 <= clusters <= max_clusters). Returns x (n, dim), y (n,), cluster (n,).
    """
    n = _validate.positive_int("n", n)
    dim = _validate.positive_int("dim", dim)
    max_clusters = _validate.positive_int("max_clusters", max_clusters)
    if max_clusters > dim:
        raise ValueError(f"max_clusters must lie in [1, dim = {dim}], got {max_clusters}")
    _validate.in_interval("clusters", clusters, 1, max_clusters)
    _validate.positive("spread", spread)
    _validate.positive("radius", radius)
    km, kx = jax.random.split(key)
    frame, _ = jnp.linalg.qr(jax.random.normal(km, (dim, dim)))
    means = radius * frame.T[:max_clusters]
    cluster = jnp.arange(n) % jnp.asarray(clusters)
    x = means[cluster] + spread * jax.random.normal(kx, (n, dim))
    y = jnp.where(cluster % 2 == 0, 1.0, -1.0)
    return ClusterData(x, y, cluster)


def init_params(key: Array, width, dim: int, *, max_width: int | None = None) -> TwoLayerParams:
    """Mirrored start of a width-``h`` network, in arrays of width ``max_width`` (default ``h``).

    Unit ``j < h/2`` draws ``w_j ~ N(0, I/d)``, ``b_j ~ N(0, 0.01)``, ``a_j ~ N(0, 1)`` from
    ``fold_in(key, j)``; unit ``j + max_width/2`` copies ``w_j, b_j`` and negates ``a_j``, so
    ``f(theta_0; .) = 0``. Unused units (:func:`unit_mask`) are zero. ``width`` may be traced when
    ``max_width`` is given. Returns w (max_width, d), b (max_width,), a (max_width,).
    """
    dim = _validate.positive_int("dim", dim)
    if max_width is None:
        if not _validate.is_concrete(width):
            raise ValueError("max_width is required when width is traced")
        max_width = int(width)
    mask = unit_mask(width, max_width)
    half = max_width // 2

    def unit(j):
        kw, kb, ka = jax.random.split(jax.random.fold_in(key, j), 3)
        return (jax.random.normal(kw, (dim,)) / np.sqrt(dim), 0.1 * jax.random.normal(kb, ()),
                jax.random.normal(ka, ()))

    w, b, a = jax.vmap(unit)(jnp.arange(half))
    w, b, a = jnp.concatenate([w, w]), jnp.concatenate([b, b]), jnp.concatenate([a, -a])
    return TwoLayerParams(w * mask[:, None], b * mask, a * mask)


def network(params: TwoLayerParams, x: Array, mask: Array | None = None) -> Array:
    """``f(theta; x) = h^{-1/2} sum_j m_j a_j tanh(w_j . x + b_j)`` for x (..., d) -> (...).

    ``h = sum_j m_j`` (the full width when ``mask`` is None).
    """
    hidden = jnp.tanh(x @ params.w.T + params.b)
    if mask is None:
        return hidden @ params.a / np.sqrt(params.a.shape[0])
    return hidden @ (mask * params.a) / jnp.sqrt(jnp.sum(mask))


def squared_loss(params: TwoLayerParams, x: Array, y: Array, mask: Array | None = None) -> Array:
    """``L = (1/2n) sum_i (f(x_i) - y_i)^2`` for x (n, d), y (n,) -> ()."""
    return 0.5 * jnp.mean((network(params, x, mask) - y) ** 2)


def example_loss(params: TwoLayerParams, example: tuple[Array, Array], mask: Array | None = None) -> Array:
    """Per-example loss ``(1/2) (f(x) - y)^2`` of one example ``(x (d,), y ())``."""
    x, y = example
    return 0.5 * (network(params, x, mask) - y) ** 2


def gd_step(params: TwoLayerParams, x: Array, y: Array, learning_rate, mask: Array | None = None
            ) -> tuple[TwoLayerParams, Array]:
    """One full-batch GD step ``theta <- theta - eta grad L(theta)``; returns the new parameters and ``L(theta)``."""
    value, grad = jax.value_and_grad(squared_loss)(params, x, y, mask)
    return jax.tree.map(lambda u, g: u - learning_rate * g, params, grad), value


def train(params: TwoLayerParams, data: ClusterData, steps: int, learning_rate, newton_steps: int,
          mask: Array | None = None) -> tuple[TwoLayerParams, Array]:
    """``steps`` GD steps, then ``newton_steps`` minimum-norm Gauss-Newton steps.

    A Gauss-Newton step is ``theta <- theta - J^T (J J^T + delta I)^{-1} r`` with ``J`` the (n, P)
    Jacobian of the outputs, ``r = f(x) - y`` and ``delta = 1e-14 tr(J J^T) / n`` (a guard against
    round-off, far below the eigenvalues of ``J J^T``); for ``P >= n`` and ``J`` of full row rank it
    converges quadratically to a zero of ``r`` near the GD point. Returns the final parameters and
    the loss before every step plus the final loss, (steps + newton_steps + 1,).
    """
    steps = _validate.positive_int("steps", steps, 0)
    newton_steps = _validate.positive_int("newton_steps", newton_steps, 0)
    params, gd_losses = jax.lax.scan(lambda p, _: gd_step(p, data.x, data.y, learning_rate, mask), params, None,
                                     length=steps)
    flat, unravel = ravel_pytree(params)
    n = data.x.shape[0]

    def newton(v, _):
        outputs = lambda u: network(unravel(u), data.x, mask)  # noqa: E731
        r = outputs(v) - data.y
        jac = jax.jacfwd(outputs)(v)
        gram = jac @ jac.T
        gram = gram + 1e-14 * jnp.trace(gram) / n * jnp.eye(n, dtype=gram.dtype)
        return v - jac.T @ jnp.linalg.solve(gram, r), 0.5 * jnp.mean(r**2)

    flat, newton_losses = jax.lax.scan(newton, flat, None, length=newton_steps)
    params = unravel(flat)
    final = squared_loss(params, data.x, data.y, mask)
    return params, jnp.concatenate([gd_losses, newton_losses, final[None]])


def random_signs(key: Array, draws: int, n: int) -> Array:
    """``draws`` vectors of ``n`` independent uniform labels in {+1, -1}, (draws, n)."""
    return jnp.where(jax.random.bernoulli(key, 0.5, (draws, n)), 1.0, -1.0)


def label_coherence(params: TwoLayerParams, x: Array, y: Array, mask: Array | None = None) -> Array:
    """Coherence ``||mean_i g_i||^2 / mean_i ||g_i||^2`` of the per-example loss gradients for labels ``y`` (n,).

    docs/bounds.md#gradient-coherence; returns ().
    """
    grads = per_example_gradients(lambda p, z: example_loss(p, z, mask), params, (x, y))
    return gradient_coherence(grads)


def coherence_at_init(params: TwoLayerParams, data: ClusterData, key: Array, label_draws: int,
                      mask: Array | None = None) -> tuple[Array, Array]:
    """Gradient coherence with the real labels () and with ``label_draws`` random label vectors (label_draws,).

    At the mirrored start ``f = 0``, so ``g_i = -y_i grad f(x_i)``: for independent uniform signs
    ``E ||sum_i y_i u_i||^2 = sum_i ||u_i||^2`` and the mean coherence of random labels is exactly
    ``1/n`` (docs/bounds.md#coherence-and-gd-speed). The random labels are :func:`random_signs` of ``key``.
    """
    draws = _validate.positive_int("label_draws", label_draws)
    signs = random_signs(key, draws, data.x.shape[0])
    one = lambda labels: label_coherence(params, data.x, labels, mask)  # noqa: E731
    return one(data.y), jax.vmap(one)(signs)


def early_training(params: TwoLayerParams, x: Array, y: Array, steps: int, learning_rate, records: int,
                   mask: Array | None = None) -> EarlyTrace:
    """``steps`` GD steps on labels ``y`` (n,) from ``params``, recording the loss and the coherence.

    Both are recorded every ``steps / records`` steps: ``records + 1`` values from step 0 (``steps``
    a positive multiple of ``records``). One
    step lowers the loss by ``eta ||g||^2 - (eta^2/2) g^T H g + O(eta^3) = eta alpha mean_i ||g_i||^2
    + O(eta^2)`` (docs/bounds.md#coherence-and-gd-speed).
    """
    records = _validate.positive_int("records", records)
    steps = _validate.positive_int("steps", steps)
    if steps % records:
        raise ValueError(f"steps must be a positive multiple of records = {records}, got {steps}")

    def measure(p):
        return squared_loss(p, x, y, mask), label_coherence(p, x, y, mask)

    def block(p, _):
        p, _ = jax.lax.scan(lambda q, _: gd_step(q, x, y, learning_rate, mask), p, None, length=steps // records)
        return p, measure(p)

    _, (loss, coherence) = jax.lax.scan(block, params, None, length=records)
    loss0, coherence0 = measure(params)
    return EarlyTrace(jnp.concatenate([loss0[None], loss]), jnp.concatenate([coherence0[None], coherence]))


def hessian_spectrum(params: TwoLayerParams, data: ClusterData, max_clusters: int,
                     mask: Array | None = None) -> HessianSpectrum:
    """Eigenvalues of the exact Hessian of :func:`squared_loss` and of the parts of ``G = J^T J / n``.

    ``H`` is :func:`bounds.hessian_matrix` (assembled from Hessian-vector products), ``J`` the (n, P)
    Jacobian of the outputs. ``G_b = (1/n) sum_k n_k gbar_k gbar_k^T`` (``gbar_k`` the mean row of
    ``J`` over cluster ``k``) and ``G_w = G - G_b`` are PSD; their nonzero eigenvalues are computed
    from the (max_clusters, max_clusters) and (n, n) Gram matrices of their factors
    (docs/bounds.md#gauss-newton-split). With a ``mask``, the rows and columns of unused parameters
    (exactly zero) are moved below the spectrum before ``eigvalsh`` and reported as NaN.
    """
    max_clusters = _validate.positive_int("max_clusters", max_clusters)
    x, n = data.x, data.x.shape[0]
    hess = hessian_matrix(lambda p: squared_loss(p, x, data.y, mask), params)
    hess = 0.5 * (hess + hess.T)
    flat, unravel = ravel_pytree(params)
    jac = jax.jacfwd(lambda u: network(unravel(u), x, mask))(flat)  # (n, P)
    gauss_newton = jac.T @ jac / n
    used = jnp.ones_like(flat) if mask is None else parameter_mask(mask, x.shape[1])
    # unused parameters: zero rows and columns; put them on the diagonal below every eigenvalue
    below = -2.0 * jnp.max(jnp.sum(jnp.abs(hess), axis=1)) - 1.0
    shifted = hess + jnp.diag(below * (1.0 - used))
    member = (data.cluster[None, :] == jnp.arange(max_clusters)[:, None]).astype(jac.dtype)  # (K_max, n)
    counts = member.sum(axis=1)
    means = member @ jac / jnp.maximum(counts, 1.0)[:, None]  # (K_max, P)
    between_factor = means * jnp.sqrt(counts / n)[:, None]  # G_b = F^T F
    within_factor = (jac - means[data.cluster]) / np.sqrt(n)  # G_w = C^T C
    grams = (between_factor @ between_factor.T, within_factor @ within_factor.T)
    # the eigvalsh calls one after the other (optimization barriers): batched LAPACK calls that run at
    # once can deadlock XLA:CPU's thread pool (docs/architecture.md#known-xla-cpu-deadlock)
    both = jnp.linalg.eigvalsh(jnp.stack([shifted, hess - gauss_newton]))
    both, grams = jax.lax.optimization_barrier((both, grams))
    between = jnp.linalg.eigvalsh(grams[0])[::-1]
    between, within_gram = jax.lax.optimization_barrier((between, grams[1]))
    within_top = jnp.linalg.eigvalsh(within_gram)[-1]
    count = jnp.sum(used)
    eig = both[0][::-1]
    eig = jnp.where(jnp.arange(eig.shape[0], dtype=count.dtype) < count, eig, jnp.nan)
    return HessianSpectrum(eig, jnp.max(jnp.abs(both[1])), within_top, between, count)


__all__ = [
    "ClusterData",
    "EarlyTrace",
    "HessianSpectrum",
    "TwoLayerParams",
    "cluster_data",
    "coherence_at_init",
    "early_training",
    "example_loss",
    "gd_step",
    "hessian_spectrum",
    "init_params",
    "label_coherence",
    "network",
    "num_params",
    "parameter_mask",
    "random_signs",
    "squared_loss",
    "train",
    "unit_mask",
]
