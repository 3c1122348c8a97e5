"""Ridge regression on random features along a whole ridge path for the cost of one
eigendecomposition.

With features ``Phi`` (n, k) and labels y (n,), ridge ``delta`` (not scaled by n), and the thin
singular value decomposition ``Phi = U diag(s) V^T`` (r = min(n, k) singular values):

    w(delta) = V diag(s / (s^2 + delta)) U^T y,     Phi w(delta) = U diag(s^2 / (s^2 + delta)) U^T y,

which is both the primal solution ``(Phi^T Phi + delta I)^{-1} Phi^T y`` and kernel ridge regression
``f(x) = K(x, X)(K + delta I)^{-1} y`` with ``K = Phi Phi^T``. Singular values at or below the
working precision's cutoff ``s_i <= eps * max(n, k) * s_1`` (the cutoff of ``numpy.linalg.lstsq``
with ``rcond=None``; ``eps`` of the features' dtype) are treated as zero for every ridge, so
``delta = 0`` gives the minimum-norm least-squares solution ``pinv(Phi) y`` at that tolerance.
Working on ``Phi`` itself, not on ``Phi^T Phi`` or ``Phi Phi^T``, keeps the relative error of the
fit near ``eps * s_1 / s_r`` (a Gram matrix's eigenvalues carry absolute error ``eps * s_1^2``,
which would square the condition number and, on a rank-deficient Gram, amplify round-off by
``s_1^2 / delta`` at tiny ridges). Widths are swept by masking: features normalised
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


def _svd(phi: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Thin SVD ``phi = u diag(s) vt`` (n, r), (r,), (r, k), r = min(n, k), with the singular values
    at or below ``eps * max(n, k) * s_1`` set to 0 (the ``lstsq`` cutoff; module docstring)."""
    u, s, vt = jnp.linalg.svd(phi, full_matrices=False)
    return u, _cut(s, max(phi.shape), phi.dtype), vt


def _cut(s: jax.Array, size: int, dtype) -> jax.Array:
    """``s`` (r,) with the entries ``<= eps * size * max(s)`` set to 0."""
    cutoff = jnp.finfo(dtype).eps * size * jnp.max(s)
    return jnp.where(s > cutoff, s, 0.0)


def _filter(s: jax.Array, ridges: jax.Array) -> jax.Array:
    """``s / (s^2 + delta)`` (r, R) for singular values s (r,) and ridges (R,); 0 where s = 0."""
    live = s[:, None] > 0
    den = s[:, None] ** 2 + ridges[None, :]
    return jnp.where(live, s[:, None] / jnp.where(live, den, 1.0), 0.0)


def _shrink(s: jax.Array, ridges: jax.Array) -> jax.Array:
    """``delta / (s^2 + delta)`` (r, R): the part of ``U^T y`` left in the training residual; 1 where
    s = 0 (a direction that is not fitted)."""
    live = s[:, None] > 0
    den = s[:, None] ** 2 + ridges[None, :]
    return jnp.where(live, ridges[None, :] / jnp.where(live, den, 1.0), 1.0)


def _train_mse(u: jax.Array, s: jax.Array, y: jax.Array, ridges: jax.Array) -> jax.Array:
    """Training MSE (R,) from the residual ``y - Phi w = U diag(delta / (s^2 + delta)) U^T y +
    (I - U U^T) y``, summed directly so that an interpolating fit (residual of order delta / s^2)
    keeps its relative accuracy instead of cancelling in ``y - prediction``. The second term is
    identically 0 when U is square (r = n) and is then left out."""
    c = u.T @ y
    resid = u @ (c[:, None] * _shrink(s, ridges))
    if u.shape[-1] < u.shape[-2]:
        resid = resid + (y - u @ c)[:, None]
    return jnp.mean(resid**2, axis=0)


def ridge_weights(phi: jax.Array, y: jax.Array, ridges: jax.Array) -> jax.Array:
    """Ridge solutions ``w(delta) = V diag(s / (s^2 + delta)) U^T y`` for all ridges from one SVD
    (module docstring; ``delta = 0`` is ``pinv(phi) y`` at the ``lstsq`` cutoff): phi (n, k),
    y (n,), ridges (R,) -> w (R, k)."""
    ridges = jnp.asarray(ridges, dtype=phi.dtype)
    u, s, vt = _svd(phi)
    return ((u.T @ y)[:, None] * _filter(s, ridges)).T @ vt


def _check_inputs(phi_train, y_train, phi_test, y_test, ridges) -> None:
    p, t = _checks.concrete(phi_train), _checks.concrete(phi_test)
    if p is not None and p.ndim != 2:
        raise ValueError(f"phi_train has shape {p.shape}; allowed: (n, k)")
    if p is not None and t is not None and (t.ndim != 2 or t.shape[1] != p.shape[1]):
        raise ValueError(f"phi_test has shape {t.shape}; allowed: (n_test, {p.shape[1]})")
    _checks.at_least("ridges", ridges, 0.0)


def ridge_path(phi_train: jax.Array, y_train: jax.Array, phi_test: jax.Array, y_test: jax.Array,
               ridges: jax.Array, width=None) -> RidgePath:
    """Train and test MSE of ridge regression for every ridge, from one SVD of ``phi_train``.

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
    u, s, vt = _svd(phi_train)
    coef = (u.T @ y_train)[:, None] * _filter(s, ridges)         # (r, R): w = vt^T coef
    pred_test = (phi_test @ vt.T) @ coef
    test = jnp.mean((pred_test - y_test[:, None]) ** 2, axis=0)
    return RidgePath(_train_mse(u, s, y_train, ridges), test)


def ridge_path_widths(phi_train: jax.Array, y_train: jax.Array, phi_test: jax.Array, y_test: jax.Array,
                      ridges: jax.Array, widths) -> RidgePath:
    """:func:`ridge_path` for every width of a nested sweep, (W, R) arrays.

    Equal to ``vmap(ridge_path(..., width=w))`` over ``widths`` (the same masked model, the same
    SVD formulas and cutoff; module docstring) but cheaper. Widths ``w <= n`` take the SVD of
    ``Phi_w = sqrt(k_max / w) Phi[:, :w]`` ((n, w), cost ``n w^2``). Wider ones never form an
    (n, w) factorisation: the lower-triangular factor ``L_w`` (n, n) of ``Phi[:, :w] = L_w Q_w``
    (``Q_w`` with orthonormal rows) is updated block by block, ``L_w`` from the QR factorisation of
    ``[L_{w'}, Phi[:, w':w]]^T`` for the previous width ``w'``; ``Phi_w`` and ``sqrt(k_max / w) L_w``
    share their singular values and left singular vectors ``U``, so one SVD of size n per width
    gives the fit ``U diag(s^2 / (s^2 + delta)) U^T y``, and the test predictions are
    ``C_w U diag(1 / (s^2 + delta)) U^T y`` with the cross kernel ``C_w = (k_max / w)
    Phi_test[:, :w] Phi[:, :w]^T`` built as prefix sums over the same column blocks. All widths
    cost one pass over the k_max features (about ``(2 n + t) n k_max`` flops) plus one size-n
    QR and SVD per width. The singular values and the training MSE are as accurate as in
    :func:`ridge_path`; the wide widths' test MSE carries relative error about ``eps * s_1 / s_r``
    times a modest factor (the cross kernel's round-off ``eps |Phi_test| s_1`` is divided by
    ``s_i^2``; 7e-8 at ``s_1 / s_r = 9e6`` ridgeless), where :func:`ridge_path` gets ``eps``-level
    agreement with ``lstsq``. ``widths`` must be concrete, increasing integers in [1, k_max].
    """
    _check_inputs(phi_train, y_train, phi_test, y_test, ridges)
    w = np.asarray(widths)
    n, k_max = phi_train.shape
    if w.ndim != 1 or w.size < 1 or np.any(np.diff(w) <= 0) or w[0] < 1 or w[-1] > k_max or np.any(w != np.round(w)):
        raise ValueError(f"widths = {w!r} is out of range; allowed: increasing integers in [1, {k_max}]")
    w = w.astype(int)
    ridges = jnp.asarray(ridges, dtype=phi_train.dtype)

    def mse(u, s, pred_test):
        return _train_mse(u, s, y_train, ridges), jnp.mean((pred_test - y_test[:, None]) ** 2, axis=0)

    results = []
    for width in w[w <= n]:
        scale = jnp.sqrt(k_max / width)
        u, s, vt = _svd(phi_train[:, :width] * scale)
        coef = (u.T @ y_train)[:, None] * _filter(s, ridges)
        results.append(mse(u, s, (phi_test[:, :width] * scale @ vt.T) @ coef))
    wide = w[w > n]
    if wide.size:
        edges = np.concatenate([[0], wide])
        factors, cross, tri = [], [], None
        for a, b in zip(edges[:-1], edges[1:]):
            block = phi_train[:, a:b]
            stacked = block if tri is None else jnp.concatenate([tri, block], axis=1)
            tri = jnp.linalg.qr(stacked.T, mode="r").T            # (n, n): tri tri^T = Phi_b Phi_b^T
            factors.append(tri)
            cross.append(phi_test[:, a:b] @ block.T)
        scale = (k_max / wide.astype(float))[:, None, None]
        cross = jnp.cumsum(jnp.stack(cross), axis=0) * scale
        # one SVD per width, not one of the stack (docs/architecture.md#known-xla-cpu-deadlock)
        u, s = (jnp.stack(v) for v in zip(*(jnp.linalg.svd(f * jnp.sqrt(c), full_matrices=False)[:2]
                                            for f, c in zip(factors, scale))))

        def one(u, s, kx, width):
            s = _cut(s, width, phi_train.dtype)
            c = (u.T @ y_train)[:, None]
            live = s[:, None] > 0
            inv = jnp.where(live, 1.0 / jnp.where(live, s[:, None] ** 2 + ridges[None, :], 1.0), 0.0)
            return mse(u, s, (kx @ u) @ (inv * c))

        train, test = jax.vmap(one)(u, s, cross, jnp.asarray(wide, dtype=phi_train.dtype))
        results.extend(zip(train, test))
    return RidgePath(jnp.stack([r[0] for r in results]), jnp.stack([r[1] for r in results]))
