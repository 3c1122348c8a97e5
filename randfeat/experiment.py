"""The linear Gaussian random-feature experiment of "More is better" (their rf-gaussian
script), run by the sandbox: one trial draws data and a projection and returns the train MSE
and the population test MSE for every (width, ridge).

Trial: ``X ~ N(0, I_M)`` (n, M), ``y = X v + eps``, ``eps ~ N(0, sigma^2)``; projection
``A = G diag(sqrt(lambda)) / sqrt(k_max)`` (k_max, M); features ``Phi = X A^T``; width k keeps the
first k features rescaled by ``sqrt(k_max / k)`` (the same law as the authors' choice of k of
their M columns with kernel ``Phi_k Phi_k^T M / k``). The fitted function is linear,
``f(x) = x . beta``, ``beta = A^T w``, so the test MSE on a fresh noisy label is exactly
``|beta - v|^2 + sigma^2 = w^T (A A^T) w - 2 w^T A v + |v|^2 + sigma^2`` (no test set needed).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from randfeat import _checks
from randfeat.features import gaussian_projection, linear_features
from randfeat.ridge import RidgePath, ridge_path, ridge_weights, width_mask
from randfeat.tasks import Task


class TrialErrors(NamedTuple):
    """Train MSE and population test MSE (including the noise), each (W, R)."""

    train_mse: jax.Array
    test_mse: jax.Array


@partial(jax.jit, static_argnames=("n", "k_max"))
def _trial(key, task: Task, n: int, k_max: int, widths, ridges):
    kx, ke, kp = jax.random.split(key, 3)
    m = task.eigenvalues.shape[0]
    x = jax.random.normal(kx, (n, m), dtype=task.eigenvalues.dtype)
    y = x @ task.coefficients + jnp.sqrt(task.noise) * jax.random.normal(ke, (n,), dtype=x.dtype)
    proj = gaussian_projection(kp, task, k_max)
    phi = linear_features(proj, x)
    gram = proj @ proj.T
    cross = proj @ task.coefficients
    total = jnp.sum(task.coefficients**2) + task.noise

    def one_width(width):
        mask = width_mask(k_max, width)
        w = ridge_weights(phi * mask, y, ridges) * mask          # (R, k_max) in unmasked coordinates
        test = jnp.einsum("rk,kl,rl->r", w, gram, w) - 2.0 * w @ cross + total
        train = jnp.mean((y[:, None] - phi @ w.T) ** 2, axis=0)
        return train, test

    train, test = jax.vmap(one_width)(widths)
    return TrialErrors(train, test)


def gaussian_rf_trials(key: jax.Array, task: Task, n: int, widths, ridges, trials: int) -> TrialErrors:
    """``trials`` independent trials (run sequentially to bound memory), each (W, R):
    returns :class:`TrialErrors` with a leading (trials,) axis. Trial i uses ``fold_in(key, i)``."""
    n = _checks.int_at_least("n", n, 1)
    trials = _checks.int_at_least("trials", trials, 1)
    _checks.at_least("widths", widths, 1.0)
    _checks.at_least("ridges", ridges, 0.0)
    widths = jnp.asarray(widths, dtype=float)
    ridges = jnp.asarray(ridges, dtype=float)
    k_max = int(jnp.max(widths))
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(trials))
    return jax.lax.map(lambda k: _trial(k, task, n, k_max, widths, ridges), keys)


def _psd_root(c: jax.Array, definite: bool) -> jax.Array:
    """``B`` with ``B B^T = c`` for a symmetric PSD ``c`` (m, m): its Cholesky factor when ``c`` is positive
    definite (``definite``, known from the shapes), else from its eigendecomposition (eigenvalues clipped at 0)."""
    if definite:
        return jnp.linalg.cholesky(c)
    w, u = jnp.linalg.eigh(c)
    return u * jnp.sqrt(jnp.maximum(w, 0.0))


def _positive(task: Task) -> bool:
    """Whether every eigenvalue is known to be > 0 (then the covariances below are definite almost surely)."""
    lam = _checks.concrete(task.eigenvalues)
    return lam is not None and bool(np.all(lam > 0))


def _check_sample(task: Task, n_rows: int, k: int) -> tuple[int, int]:
    return _checks.int_at_least("n_rows", n_rows, 1), _checks.int_at_least("k", k, 1)


def gaussian_rf_rows(key: jax.Array, task: Task, n_rows: int, k: int) -> tuple[jax.Array, jax.Array]:
    """Features and labels of the linear Gaussian RF model, drawn row by row given the projection.

    The model (docs/randfeat.md#gaussian-rf-sampling): ``x ~ N(0, I_M)``, ``phi = A x`` with
    ``A = G diag(sqrt(lambda)) / sqrt(k)`` (:func:`randfeat.features.gaussian_projection`), ``y = x . v + eps``,
    ``eps ~ N(0, sigma^2)``. Given A, the rows ``(phi, x . v)`` are independent ``N(0, C)`` with
    ``C = [A; v^T] [A; v^T]^T`` (k + 1, k + 1), so they are drawn from C instead of forming x:
    the joint law of (phi, y) over draws of A and x is the model's exactly. Cost ``O(k^2 (M + n_rows))``
    instead of ``O(n_rows k M)``. Returns phi (n_rows, k) and y (n_rows,).
    """
    n_rows, k = _check_sample(task, n_rows, k)
    kp, kz, ke = jax.random.split(key, 3)
    proj = gaussian_projection(kp, task, k)
    stacked = jnp.concatenate([proj, task.coefficients[None, :]], axis=0)
    root = _psd_root(stacked @ stacked.T, definite=k + 1 <= proj.shape[1] and bool(_positive(task)))
    rows = jax.random.normal(kz, (n_rows, k + 1), dtype=proj.dtype) @ root.T
    eps = jnp.sqrt(task.noise) * jax.random.normal(ke, (n_rows,), dtype=proj.dtype)
    return rows[:, :k], rows[:, k] + eps


def gaussian_rf_columns(key: jax.Array, task: Task, n_rows: int, k: int) -> tuple[jax.Array, jax.Array]:
    """Features and labels of the linear Gaussian RF model, drawn feature by feature given the inputs.

    Same model as :func:`gaussian_rf_rows` (docs/randfeat.md#gaussian-rf-sampling). Given the inputs X
    (n_rows, M), the feature columns ``phi_{:, a} = X diag(sqrt(lambda)) g_a / sqrt(k)`` are independent
    ``N(0, X diag(lambda) X^T / k)``, so they are drawn from that (n_rows, n_rows) covariance instead of
    forming the (k, M) projection; ``y = X v + eps`` uses the same X. Cost ``O(n_rows^2 (M + k))``
    instead of ``O(n_rows k M)``. Returns phi (n_rows, k) and y (n_rows,).
    """
    n_rows, k = _check_sample(task, n_rows, k)
    kx, kz, ke = jax.random.split(key, 3)
    lam = task.eigenvalues
    x = jax.random.normal(kx, (n_rows, lam.shape[0]), dtype=lam.dtype)
    root = _psd_root((x * lam) @ x.T, definite=n_rows <= lam.shape[0] and bool(_positive(task)))
    phi = root @ jax.random.normal(kz, (n_rows, k), dtype=lam.dtype) / jnp.sqrt(float(k))
    eps = jnp.sqrt(task.noise) * jax.random.normal(ke, (n_rows,), dtype=lam.dtype)
    return phi, x @ task.coefficients + eps


def gaussian_rf_data(key: jax.Array, task: Task, n_rows: int, k: int) -> tuple[jax.Array, jax.Array]:
    """:func:`gaussian_rf_rows` or :func:`gaussian_rf_columns`, whichever costs less at these shapes.

    Both draw the same joint law of (phi, y) (docs/randfeat.md#gaussian-rf-sampling); rows cost about
    ``k^2 (M + n_rows)``, columns ``n_rows^2 (M + k)``. Returns phi (n_rows, k) and y (n_rows,).
    """
    n_rows, k = _check_sample(task, n_rows, k)
    m = task.eigenvalues.shape[0]
    if k * k * (m + n_rows) <= n_rows * n_rows * (m + k):
        return gaussian_rf_rows(key, task, n_rows, k)
    return gaussian_rf_columns(key, task, n_rows, k)


def ridge_path_samples(phi_train: jax.Array, y_train: jax.Array, phi_test: jax.Array, y_test: jax.Array,
                       ridges, samples) -> RidgePath:
    """:func:`randfeat.ridge.ridge_path` on the first n training rows for each n of ``samples``, (S, R) arrays.

    A nested sample-size sweep (docs/randfeat.md#ridge-path): the model fitted on n points is the
    one fitted on the first n rows of ``phi_train`` (n_max, k) and ``y_train`` (n_max,); every fit
    is evaluated on the same ``phi_test`` (t, k), ``y_test`` (t,). ``samples``: concrete,
    increasing integers in [1, n_max]. Returns :class:`randfeat.ridge.RidgePath` of (S, R) arrays.
    """
    s = np.asarray(samples)
    n_max = phi_train.shape[0]
    if s.ndim != 1 or s.size < 1 or np.any(np.diff(s) <= 0) or s[0] < 1 or s[-1] > n_max or np.any(s != np.round(s)):
        raise ValueError(f"samples = {s!r} is out of range; allowed: increasing integers in [1, {n_max}]")
    paths = [ridge_path(phi_train[:n], y_train[:n], phi_test, y_test, ridges) for n in s.astype(int)]
    return RidgePath(jnp.stack([p.train_mse for p in paths]), jnp.stack([p.test_mse for p in paths]))
