"""``run``: drive any ``Algorithm`` with a nested ``lax.scan`` and record scalar metrics only."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from sensing import _validate
from sensing.algorithms import Algorithm, _algorithm
from sensing.operators import Factors
from sensing.problem import Problem, is_symmetric, shape

Array = jax.Array


class Trace(NamedTuple):
    """Metrics recorded every ``record_every`` steps, including step 0: ``T = steps // record_every + 1``.

    error            ``(T,)`` ``||X X^T - M*||_F / ||M*||_F`` (``F G^T`` when asymmetric)
    loss             ``(T,)`` the algorithm's objective (least squares, or l1 for SubGM)
    balance          ``(T,)`` ``||F^T F - G^T G||_F`` (0 for the symmetric problem)
    singular_values  ``(T, k)`` singular values of the estimate ``X X^T`` (``F G^T``), descending
    diverged         ``()`` bool: some step produced a non-finite state (or one beyond
                     ``finfo.max ** (1/4)``); the state was frozen before that step
    steps            ``(T,)`` step index of each record
    final            the factors after the last step (or at the freeze)
    """

    error: Array
    loss: Array
    balance: Array
    singular_values: Array
    diverged: Array
    steps: Array
    final: Factors


def relative_error(problem: Problem, x: Factors) -> Array:
    """``||X X^T - M*||_F / ||M*||_F`` (or with ``F G^T``), formed explicitly so it resolves 1e-12."""
    f, g = x if isinstance(x, tuple) else (x, x)
    m_star = problem.truth.matrix
    return jnp.linalg.norm(f @ g.T - m_star) / jnp.linalg.norm(m_star)


def balance_gap(x: Factors) -> Array:
    """``||F^T F - G^T G||_F`` for ``x = (F, G)``; 0 for a symmetric factor."""
    if not isinstance(x, tuple):
        return jnp.zeros((), x.dtype)
    f, g = x
    return jnp.linalg.norm(f.T @ f - g.T @ g)


def estimate_singular_values(x: Factors) -> Array:
    """Singular values ``(k,)`` of ``X X^T`` (``sigma(X)^2``) or of ``F G^T`` (via ``R_F R_G^T`` of thin QRs)."""
    if not isinstance(x, tuple):
        # the singular values of X X^T are the eigenvalues of the k x k Gram matrix X^T X:
        # a k x k symmetric eigenproblem, much cheaper under vmap than an SVD of the n x k factor
        return jnp.maximum(jnp.linalg.eigvalsh(x.T @ x)[::-1], 0.0)
    f, g = x
    rf = jnp.linalg.qr(f, mode="r")
    rg = jnp.linalg.qr(g, mode="r")
    return jnp.linalg.svd(rf @ rg.T, compute_uv=False)


def _all_bounded(tree: Any) -> Array:
    """True when every float leaf is finite and below ``finfo.max ** (1/4)`` in magnitude.

    The bound keeps products of factors (``X X^T``, ``F^T F``) finite, so the metrics of a frozen
    state are finite numbers.
    """
    leaves = [
        jnp.all(jnp.abs(a) < jnp.finfo(a.dtype).max ** 0.25)  # NaN compares false
        for a in jax.tree.leaves(tree)
        if jnp.issubdtype(a.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _check_factors(problem: Problem, x0: Factors) -> None:
    n1, n2 = shape(problem)
    dtype = problem.y.dtype
    if is_symmetric(problem):
        if isinstance(x0, tuple) or not hasattr(x0, "shape") or x0.ndim != 2 or x0.shape[0] != n1:
            got = getattr(x0, "shape", type(x0).__name__)
            raise ValueError(f"x0 has shape {got}; the symmetric problem needs an array of shape ({n1}, k), k >= 1")
        leaves = [x0]
    else:
        ok = isinstance(x0, tuple) and len(x0) == 2 and all(hasattr(a, "shape") and a.ndim == 2 for a in x0)
        if not ok or x0[0].shape[0] != n1 or x0[1].shape[0] != n2 or x0[0].shape[1] != x0[1].shape[1]:
            got = tuple(getattr(a, "shape", None) for a in x0) if isinstance(x0, tuple) else getattr(x0, "shape", x0)
            raise ValueError(
                f"x0 has shapes {got}; the asymmetric problem needs a tuple (F, G) of shapes ({n1}, k), ({n2}, k)"
            )
        leaves = list(x0)
    for a in leaves:
        if a.shape[1] < 1:
            raise ValueError(f"x0 has {a.shape[1]} columns; allowed range is k in [1, inf)")
        if a.dtype != dtype:
            raise ValueError(f"x0 has dtype {a.dtype}; it must match the problem's dtype {dtype}")
        _validate.finite("x0", a)


def run(algorithm: Algorithm, problem: Problem, x0: Factors, steps: int = 1000, record_every: int = 10) -> Trace:
    """Run ``steps`` iterations of ``algorithm`` from ``x0`` and record metrics every ``record_every`` steps.

    A nested ``lax.scan`` (outer over records, inner over ``record_every`` steps) keeps only the
    current state: the iterate history is never stored. Once a step produces a non-finite state (or an
entry beyond ``finfo(dtype).max ** (1/4)``, where products of factors would overflow) the
    previous state is kept (``jnp.where``) for the rest of the run and ``diverged`` is set, so a
    vmapped sweep carries on. ``steps`` and ``record_every`` are static Python ints with
    ``steps % record_every == 0``. Works under ``jit`` and ``vmap``.
    """
    steps = _validate.integer("steps", steps, low=0)
    record_every = _validate.integer("record_every", record_every, low=1)
    if steps % record_every:
        raise ValueError(
            f"steps={steps} must be a multiple of record_every={record_every}; allowed: steps in {{0, "
            f"{record_every}, {2 * record_every}, ...}}"
        )
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"algorithm={algorithm!r} must be a sensing.Algorithm (e.g. sensing.gd(0.1))")
    _check_factors(problem, x0)
    _validate.finite("y", problem.y)
    return _run(_algorithm(*algorithm), problem, x0, steps, record_every)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _run(algorithm: Algorithm, problem: Problem, x0: Factors, steps: int, record_every: int) -> Trace:
    """The compiled body of ``run``; ``algorithm`` is a pytree whose leaves are its hyperparameters."""

    def metrics(x: Factors) -> tuple[Array, Array, Array, Array]:
        return (
            relative_error(problem, x),
            algorithm.objective(problem, x),
            balance_gap(x),
            estimate_singular_values(x),
        )

    def inner(carry, _):
        state, diverged = carry
        new = algorithm.step(state, problem)
        diverged = diverged | ~_all_bounded(new)
        state = jax.tree.map(lambda a, b: jnp.where(diverged, a, b), state, new)
        return (state, diverged), None

    def outer(carry, _):
        carry, _ = jax.lax.scan(inner, carry, None, length=record_every)
        return carry, metrics(carry[0].x)

    state0 = algorithm.init(x0)
    (state, diverged), recs = jax.lax.scan(
        outer, (state0, jnp.asarray(False)), None, length=steps // record_every
    )
    first = metrics(x0)
    error, loss, balance, sv = (jnp.concatenate([a[None], b]) for a, b in zip(first, recs))
    return Trace(
        error=error,
        loss=loss,
        balance=balance,
        singular_values=sv,
        diverged=diverged,
        steps=jnp.arange(0, steps + 1, record_every, dtype=jnp.int32),
        final=state.x,
    )
