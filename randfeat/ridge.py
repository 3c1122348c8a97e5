"""Ridge regression on random features along a whole ridge path for the cost of one
eigendecomposition.

With features ``Phi`` (n, k) and labels y (n,), ridge ``delta`` (not scaled by n):

* primal (k <= n): ``Phi^T Phi = V diag(s) V^T``, ``w(delta) = V diag(1/(s + delta)) V^T Phi^T y``;
* dual (k > n):    ``Phi Phi^T = U diag(s) U^T``, ``w(delta) = Phi^T U diag(1/(s + delta)) U^T y``
  (kernel ridge regression ``f(x) = K(x, X)(K + delta I)^{-1} y`` with ``K = Phi Phi^T``).

At ``delta = 0`` the pseudo-inverse (minimum-norm) solution is used. Which side is
decomposed is chosen from the static shapes. Widths are swept by masking: features normalised
as ``phi / sqrt(k_max)`` (as every map in :mod:`randfeat.features` returns) become the width-k
model by keeping the first k columns scaled by ``sqrt(k_max / k)``; the width is an array, so
a sweep over widths is one ``vmap`` and one compilation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from randfeat import _checks


class RidgePath(NamedTuple):
    """Train and test mean squared errors per ridge, each (R,) (plus any vmapped axes)."""

    train_mse: jax.Array
    test_mse: jax.Array


def width_mask(k_max: int, width) -> jax.Array:
    """Column weights (k_max,): ``sqrt(k_max / width)`` on the first ``width`` columns, 0 after."""
    width = jnp.asarray(width, dtype=float)
    return jnp.where(jnp.arange(k_max, dtype=width.dtype) < width, jnp.sqrt(k_max / width), 0.0)


def _inverse_spectrum(s: jax.Array, ridges: jax.Array) -> jax.Array:
    den = s[:, None] + ridges[None, :]
    return jnp.where(den > 1e-12 * jnp.max(s), 1.0 / jnp.where(den > 0, den, 1.0), 0.0)   # (r, R)


def _primal(phi, y):
    s, v = jnp.linalg.eigh(phi.T @ phi)
    return jnp.maximum(s, 0.0), v, v.T @ (phi.T @ y)


def ridge_weights(phi: jax.Array, y: jax.Array, ridges: jax.Array) -> jax.Array:
    """Ridge solutions for all ridges from one eigendecomposition: phi (n, k), y (n,),
    ridges (R,) -> w (R, k)."""
    ridges = jnp.asarray(ridges, dtype=phi.dtype)
    n, k = phi.shape
    if k <= n:
        s, v, c = _primal(phi, y)
        return (v @ (c[:, None] * _inverse_spectrum(s, ridges))).T
    s, u = jnp.linalg.eigh(phi @ phi.T)
    s = jnp.maximum(s, 0.0)
    d = u.T @ y
    return (phi.T @ (u @ (d[:, None] * _inverse_spectrum(s, ridges)))).T


def _check_inputs(phi_train, y_train, phi_test, y_test, ridges) -> None:
    p, t = _checks.concrete(phi_train), _checks.concrete(phi_test)
    if p is not None and p.ndim != 2:
        raise ValueError(f"phi_train has shape {p.shape}; allowed: (n, k)")
    if p is not None and t is not None and (t.ndim != 2 or t.shape[1] != p.shape[1]):
        raise ValueError(f"phi_test has shape {t.shape}; allowed: (n_test, {p.shape[1]})")
    _checks.at_least("ridges", ridges, 0.0)


def ridge_path(phi_train: jax.Array, y_train: jax.Array, phi_test: jax.Array, y_test: jax.Array,
               ridges: jax.Array, width=None) -> RidgePath:
    """Train and test MSE of ridge regression for every ridge, from one eigendecomposition.

    phi_train (n, k), y_train (n,), phi_test (t, k), y_test (t,), ridges (R,) -> :class:`RidgePath`
    of (R,) arrays. ``width`` (optional, may be traced) restricts to the first ``width`` columns
    with the ``sqrt(k / width)`` rescaling (see module docstring). Works under ``jit``/``vmap``:
    vmap over trials (leading axes of the arrays) and over widths.
    """
    _check_inputs(phi_train, y_train, phi_test, y_test, ridges)
    if width is not None:
        _checks.at_least("width", width, 1.0)
        mask = width_mask(phi_train.shape[1], width)
        phi_train, phi_test = phi_train * mask, phi_test * mask
    ridges = jnp.asarray(ridges, dtype=phi_train.dtype)
    n, k = phi_train.shape
    if k <= n:
        s, v, c = _primal(phi_train, y_train)
        coef = c[:, None] * _inverse_spectrum(s, ridges)            # (k, R) in the eigenbasis
        pred_train = (phi_train @ v) @ coef
        pred_test = (phi_test @ v) @ coef
    else:
        s, u = jnp.linalg.eigh(phi_train @ phi_train.T)
        s = jnp.maximum(s, 0.0)
        coef = (u.T @ y_train)[:, None] * _inverse_spectrum(s, ridges)   # (n, R)
        pred_train = (u * s) @ coef
        pred_test = ((phi_test @ phi_train.T) @ u) @ coef
    train = jnp.mean((pred_train - y_train[:, None]) ** 2, axis=0)
    test = jnp.mean((pred_test - y_test[:, None]) ** 2, axis=0)
    return RidgePath(train, test)


def ridge_path_widths(phi_train: jax.Array, y_train: jax.Array, phi_test: jax.Array, y_test: jax.Array,
                      ridges: jax.Array, widths) -> RidgePath:
    """:func:`ridge_path` for every width of a nested sweep, (W, R) arrays.

    Equal to ``vmap(ridge_path(..., width=w))`` over ``widths`` (the same masked model) but
    cheaper: widths ``w <= n`` use the primal form on the leading ``w x w`` block of one feature
    covariance ``Phi^T Phi`` (eigendecompositions of size w); wider ones use the kernel form with
    Gram matrices ``K_w = (k_max / w) Phi[:, :w] Phi[:, :w]^T`` built as prefix sums over the column
    blocks between consecutive widths, so all widths cost one pass over the k_max features
    (``(n + t) n k_max`` flops) plus one eigendecomposition per width. ``widths`` must be concrete,
    increasing integers in [1, k_max].
    """
    _check_inputs(phi_train, y_train, phi_test, y_test, ridges)
    w = np.asarray(widths)
    n, k_max = phi_train.shape
    if w.ndim != 1 or w.size < 1 or np.any(np.diff(w) <= 0) or w[0] < 1 or w[-1] > k_max or np.any(w != np.round(w)):
        raise ValueError(f"widths = {w!r} is out of range; allowed: increasing integers in [1, {k_max}]")
    w = w.astype(int)
    ridges = jnp.asarray(ridges, dtype=phi_train.dtype)

    def mse(pred_train, pred_test):
        return (jnp.mean((pred_train - y_train[:, None]) ** 2, axis=0),
                jnp.mean((pred_test - y_test[:, None]) ** 2, axis=0))

    results = []
    narrow = w[w <= n]
    if narrow.size:
        top = int(narrow[-1])
        cov = phi_train[:, :top].T @ phi_train[:, :top]
        proj = phi_train[:, :top].T @ y_train
        for width in narrow:
            scale = k_max / width
            s, v = jnp.linalg.eigh(cov[:width, :width] * scale)
            coef = (v.T @ proj[:width])[:, None] * jnp.sqrt(scale) * _inverse_spectrum(jnp.maximum(s, 0.0), ridges)
            results.append(mse((phi_train[:, :width] @ v) @ coef * jnp.sqrt(scale),
                               (phi_test[:, :width] @ v) @ coef * jnp.sqrt(scale)))
    wide = w[w > n]
    if wide.size:
        edges = np.concatenate([[0], wide])
        blocks_train = jnp.stack([phi_train[:, a:b] @ phi_train[:, a:b].T for a, b in zip(edges[:-1], edges[1:])])
        blocks_test = jnp.stack([phi_test[:, a:b] @ phi_train[:, a:b].T for a, b in zip(edges[:-1], edges[1:])])
        scale = (k_max / wide.astype(float))[:, None, None]
        grams = jnp.cumsum(blocks_train, axis=0) * scale
        cross = jnp.cumsum(blocks_test, axis=0) * scale

        def one(gram, kx):
            s, u = jnp.linalg.eigh(gram)
            s = jnp.maximum(s, 0.0)
            coef = (u.T @ y_train)[:, None] * _inverse_spectrum(s, ridges)
            return mse((u * s) @ coef, (kx @ u) @ coef)

        train, test = jax.vmap(one)(grams, cross)
        results.extend(zip(train, test))
    return RidgePath(jnp.stack([r[0] for r in results]), jnp.stack([r[1] for r in results]))
