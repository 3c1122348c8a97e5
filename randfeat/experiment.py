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

from randfeat import _checks
from randfeat.features import gaussian_projection, linear_features
from randfeat.ridge import ridge_weights, width_mask
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
