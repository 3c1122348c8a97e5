"""Stochastic-gradient Langevin dynamics (Welling & Teh 2011) and ensembles built from its chains.

Convention (Welling & Teh; docs/bounds.md#sgld): with step size eps,

    theta <- theta + (eps / 2) g_hat(theta) + sqrt(eps) xi,   xi ~ N(0, I),
    g_hat(theta) = grad log w(theta) + (N / b) sum_{z in batch} grad log p_theta(z).

(blackjax's ``sgld`` writes ``theta + h g + sqrt(2 h) xi``: the same kernel with h = eps / 2.)

On a Gaussian target N(mu, v) with the exact gradient the chain is the AR(1) process
``theta' - mu = (1 - eps/(2v)) (theta - mu) + sqrt(eps) xi``, stable for 0 < eps < 4v, with
stationary variance ``eps / (1 - (1 - eps/(2v))^2) = v / (1 - eps/(4v))`` (see
:func:`gaussian_stationary_variance`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bounds import _validate

Array = jax.Array
PyTree = Any


class SGLDState(NamedTuple):
    """Position of one chain and its step counter."""

    position: PyTree
    step: Array


class SGLD(NamedTuple):
    """A pair of pure functions: ``init(position)`` and ``step(key, state, minibatch, step_size)``."""

    init: Callable[[PyTree], SGLDState]
    step: Callable[[Array, SGLDState, PyTree, Array], SGLDState]


def minibatch_gradient(
    log_prior: Callable[[PyTree], Array],
    log_likelihood: Callable[[PyTree, PyTree], Array],
    data_size: int,
) -> Callable[[PyTree, PyTree], PyTree]:
    """``g_hat(theta, batch) = grad log w(theta) + (N / b) sum_i grad log p_theta(z_i)``.

    ``log_likelihood(theta, z)`` is the log-likelihood of one example; ``batch`` has a leading
    axis b. Unbiased for the gradient of the log posterior when the batch is sampled uniformly.
    """
    n = _validate.positive_int("data_size", data_size)

    def log_density(theta, batch):
        ll = jax.vmap(log_likelihood, in_axes=(None, 0))(theta, batch)
        b = ll.shape[0]
        return log_prior(theta) + (n / b) * jnp.sum(ll)

    return jax.grad(log_density)


def sgld(gradient_estimate: Callable[[PyTree, PyTree], PyTree]) -> SGLD:
    """SGLD kernel in the Welling & Teh convention (module docstring).

    ``gradient_estimate(theta, minibatch)`` returns ``g_hat`` with the pytree structure of theta.
    """

    def init(position: PyTree) -> SGLDState:
        return SGLDState(position, jnp.asarray(0, jnp.int32))

    def step(key: Array, state: SGLDState, minibatch: PyTree, step_size: Array) -> SGLDState:
        g = gradient_estimate(state.position, minibatch)
        leaves, treedef = jax.tree_util.tree_flatten(state.position)
        keys = jax.random.split(key, len(leaves))
        noise = jax.tree_util.tree_unflatten(
            treedef, [jax.random.normal(k, jnp.shape(x), jnp.result_type(x)) for k, x in zip(keys, leaves)]
        )
        new = jax.tree_util.tree_map(
            lambda x, gx, nx: x + 0.5 * step_size * gx + jnp.sqrt(step_size) * nx, state.position, g, noise
        )
        return SGLDState(new, state.step + 1)

    return SGLD(init, step)


def sample_chain(algorithm: SGLD, key: Array, position: PyTree, minibatches: PyTree, step_sizes) -> PyTree:
    """Run one chain for T steps; returns the positions after each step (leading axis T).

    ``minibatches`` has a leading axis T (one minibatch per step; use a dummy array of shape
    (T, 0) for full-batch gradients that ignore it), ``step_sizes`` (T,).
    """
    _validate.positive("step_sizes", step_sizes)
    eps = jnp.asarray(step_sizes)

    def body(state, inp):
        k, batch, h = inp
        new = algorithm.step(k, state, batch, h)
        return new, new.position

    keys = jax.random.split(key, eps.shape[0])
    _, trace = jax.lax.scan(body, algorithm.init(position), (keys, minibatches, eps))
    return trace


def polynomial_step_sizes(a: float, b: float, gamma: float, num_steps: int) -> Array:
    """``eps_t = a (b + t)^(-gamma)``, t = 0..T-1; gamma in (1/2, 1] gives sum eps = inf, sum eps^2 < inf."""
    _validate.positive("a", a)
    _validate.positive("b", b)
    _validate.in_interval("gamma", gamma, 0.5, 1.0, open_low=True)
    t = _validate.positive_int("num_steps", num_steps)
    return a * (b + jnp.arange(t, dtype=jnp.result_type(float))) ** (-gamma)


def gaussian_stationary_variance(target_variance, step_size) -> Array:
    """Exact stationary variance of SGLD (exact gradients) on ``N(mu, v)``: ``v / (1 - eps/(4v))``.

    AR(1) with coefficient ``a = 1 - eps/(2v)`` and innovation variance eps: ``eps / (1 - a^2)``.
    Requires ``0 < eps < 4 v`` (otherwise the chain diverges).
    """
    _validate.positive("target_variance", target_variance)
    if _validate.is_concrete(step_size) and _validate.is_concrete(target_variance):
        _validate.in_interval("step_size", step_size, 0.0, 4.0 * float(jnp.max(jnp.asarray(target_variance))),
                              open_low=True, open_high=True)
    v = jnp.asarray(target_variance, jnp.result_type(float))
    return v / (1.0 - step_size / (4.0 * v))


def ensemble_log_predictive(member_log_probs) -> Array:
    """Ensemble predictive by averaging probabilities: ``logsumexp_j log p_j - log J`` over axis 0.

    ``member_log_probs`` (J, ...) holds each member's log-probability of the same outcomes.
    """
    lp = jnp.asarray(member_log_probs)
    if lp.shape[0] == 0:
        raise ValueError("member_log_probs must hold J >= 1 members, got J = 0")
    return jax.nn.logsumexp(lp, axis=0) - math.log(lp.shape[0])
