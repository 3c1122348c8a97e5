"""Gradient coherence of per-example gradients (Chatterjee & Zielinski).

``alpha = ||mean_i g_i||^2 / mean_i ||g_i||^2`` lies in [0, 1] (Cauchy-Schwarz / Jensen):
identical gradients give 1, m orthonormal ones give 1/m.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
PyTree = Any


def per_example_gradients(loss: Callable[[PyTree, PyTree], Array], params: PyTree, batch: PyTree) -> PyTree:
    """``g_i = grad_theta loss(theta, z_i)`` for every example: a pytree with leading axis m."""
    return jax.vmap(jax.grad(loss), in_axes=(None, 0))(params, batch)


def _flatten_leading(grads: PyTree) -> Array:
    leaves = jax.tree_util.tree_leaves(grads)
    m = leaves[0].shape[0]
    return jnp.concatenate([jnp.reshape(x, (m, -1)) for x in leaves], axis=1)


def gradient_coherence(per_example: PyTree) -> Array:
    """``||mean_i g_i||^2 / mean_i ||g_i||^2`` for per-example gradients (leading axis m >= 1).

    Returns () in [0, 1]; 0/0 (all gradients zero) is reported as NaN.
    """
    g = _flatten_leading(per_example)
    if g.shape[0] == 0:
        raise ValueError("per_example must hold m >= 1 gradients, got m = 0")
    mean = jnp.mean(g, axis=0)
    return jnp.sum(mean**2) / jnp.mean(jnp.sum(g**2, axis=1))
