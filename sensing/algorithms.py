"""First-order methods for matrix sensing as ``Algorithm(init, step)`` pairs of pure functions.

Conventions (docs/sensing.md#losses), with residuals ``r_i = <A_i, X X^T> - y_i`` (or ``<A_i, F G^T> - y_i``)
and ``Z = (1/m) sum_i r_i A_i``:

* symmetric least squares ``f(X) = (1/4m) sum r_i^2``, gradient ``sym(Z) X``;
* asymmetric least squares ``f(F, G) = (1/2m) sum r_i^2``, gradient ``(Z G, Z^T F)``;
* l1 loss ``(1/m) sum |r_i|`` with ``Q = (1/m) sum sign(r_i) A_i`` (``sign(0) = 0``).

The factors are ``X`` ``(n, k)`` (symmetric) or the tuple ``(F, G)`` ``(n1, k), (n2, k)``
(asymmetric). Hyperparameters may be traced arrays; they are cast to the factors' dtype.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.tree_util import Partial

from sensing import _validate
from sensing.operators import Factors, adjoint_apply, adjoint_matrix, measure
from sensing.problem import Problem, shape

Array = jax.Array


# ----------------------------------------------------------------------------- losses


def residual(problem: Problem, x: Factors) -> Array:
    """``r = A(X X^T) - y`` (or ``A(F G^T) - y``), shape ``(m,)``."""
    return measure(problem.operator, x) - problem.y


def least_squares_loss(problem: Problem, x: Factors) -> Array:
    """``(1/4m) sum r_i^2`` (symmetric) or ``(1/2m) sum r_i^2`` (asymmetric), a scalar."""
    r = residual(problem, x)
    c = 4.0 if not isinstance(x, tuple) else 2.0
    return jnp.sum(r * r) / (c * r.shape[0])


def l1_loss(problem: Problem, x: Factors) -> Array:
    """``(1/m) sum |r_i|``, the SubGM objective, a scalar."""
    return jnp.mean(jnp.abs(residual(problem, x)))


def least_squares_gradient(problem: Problem, x: Factors) -> Factors:
    """Gradient of ``least_squares_loss``: ``sym(Z) X`` or ``(Z G, Z^T F)``."""
    return adjoint_apply(problem.operator, residual(problem, x), x)


def _cast(value: Any, x: Factors) -> Array:
    dtype = (x[0] if isinstance(x, tuple) else x).dtype
    return jnp.asarray(value, dtype)


def _axpy(x: Factors, a: Array, d: Factors) -> Factors:
    """``x - a * d`` leaf-wise."""
    return jax.tree.map(lambda u, v: u - a * v, x, d)


# ----------------------------------------------------------------------------- containers


class Algorithm(NamedTuple):
    """A pair of pure functions ``init(x0) -> state`` and ``step(state, problem) -> state``.

    ``objective(problem, x)`` is the loss the method minimises; ``sensing.run`` records it as
    ``trace.loss``.
    """

    init: Callable[[Factors], Any]
    step: Callable[[Any, Problem], Any]
    objective: Callable[[Problem, Factors], Array] = least_squares_loss


def _algorithm(init: Callable, step: Callable, objective: Callable = least_squares_loss) -> Algorithm:
    """An ``Algorithm`` whose functions are ``jax.tree_util.Partial`` objects.

    The hyperparameters bound in a ``Partial`` are pytree leaves, so an ``Algorithm`` can be passed
    to a compiled function as an ordinary argument: changing a step size reuses the compiled program
    instead of baking the value in as a constant.
    """
    return Algorithm(*(f if isinstance(f, Partial) else Partial(f) for f in (init, step, objective)))


class GDState(NamedTuple):
    """State of GD / SubGM / ScaledGD / PrecGD: the factors ``x`` and the iteration counter ``step``."""

    x: Factors
    step: Array


class OptaxState(NamedTuple):
    """State of an optax-driven method: factors ``x``, the transform's state ``inner``, counter ``step``."""

    x: Factors
    inner: Any
    step: Array


def _init(x: Factors) -> GDState:
    return GDState(x, jnp.zeros((), jnp.int32))


def _check_step_size(step_size: Any) -> None:
    _validate.real("step_size", step_size, low=0.0)


# ----------------------------------------------------------------------------- GD


def gd(step_size: Any) -> Algorithm:
    """Gradient descent on the least-squares loss.

    Symmetric: ``X <- X - eta sym(Z) X`` (population limit ``X <- X - eta (X X^T - M*) X``).
    Asymmetric, simultaneous: ``F <- F - eta Z G``, ``G <- G - eta Z^T F`` (Xiong, Ding & Du).
    """
    _check_step_size(step_size)
    return _algorithm(_init, Partial(_gd_step, step_size))


def _gd_step(step_size: Any, state: GDState, problem: Problem) -> GDState:
    g = least_squares_gradient(problem, state.x)
    return GDState(_axpy(state.x, _cast(step_size, state.x), g), state.step + 1)


# ----------------------------------------------------------------------------- SubGM


def geometric_schedule(step_size: Any, decay: Any) -> Callable[[Array], Array]:
    """``eta_t = eta_0 rho^t`` built on ``optax.schedules.exponential_decay``.

    The decay is written as ``(1/e)^(t * (-log rho))`` so that ``rho`` may be a traced array (optax
    branches on a concrete ``decay_rate``); the value is ``eta_0 rho^t`` exactly for ``rho`` in ``(0, 1]``.
    """
    base = optax.schedules.exponential_decay(
        init_value=step_size, transition_steps=1, decay_rate=math.exp(-1.0)
    )
    return lambda t: base(t * -jnp.log(decay))


def subgm(step_size: Any, decay: Any, normalize: bool = False) -> Algorithm:
    """Sub-gradient method on the l1 loss (Ma & Fattahi), geometric steps ``eta_t = eta_0 rho^t``.

    Symmetric: ``X <- X - eta_t (Q + Q^T) X``; asymmetric: ``F <- F - eta_t Q G``,
    ``G <- G - eta_t Q^T F``, with ``Q = (1/m) sum sign(r_i) A_i`` and ``sign(0) = 0``. With
    ``normalize=True`` the step is ``eta_t / ||Q||_F`` (``||sym(Q)||_F`` when symmetric; no step when
    ``Q = 0``); this forms the ``n1 x n2`` matrix ``Q``.
    """
    _check_step_size(step_size)
    _validate.real("decay", decay, low=0.0, high=1.0, low_open=True)
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize={normalize!r} must be a Python bool (True or False)")

    fn = _subgm_normalized_step if normalize else _subgm_step
    return _algorithm(_init, Partial(fn, step_size, decay), l1_loss)


def _subgm_direction(state: GDState, problem: Problem, step_size: Any, decay: Any):
    x = state.x
    symmetric = not isinstance(x, tuple)
    s = jnp.sign(residual(problem, x))
    d = adjoint_apply(problem.operator, s, x)
    if symmetric:
        d = 2.0 * d  # (Q + Q^T) X = 2 sym(Q) X
    t = state.step.astype(s.dtype)
    eta = geometric_schedule(_cast(step_size, x), _cast(decay, x))(t)
    return s, d, eta


def _subgm_step(step_size: Any, decay: Any, state: GDState, problem: Problem) -> GDState:
    _, d, eta = _subgm_direction(state, problem, step_size, decay)
    return GDState(_axpy(state.x, eta, d), state.step + 1)


def _subgm_normalized_step(step_size: Any, decay: Any, state: GDState, problem: Problem) -> GDState:
    s, d, eta = _subgm_direction(state, problem, step_size, decay)
    symmetric = not isinstance(state.x, tuple)
    q = jnp.linalg.norm(adjoint_matrix(problem.operator, s, shape(problem), symmetric))
    eta = jnp.where(q > 0, eta / jnp.where(q > 0, q, 1.0), jnp.zeros_like(eta))
    return GDState(_axpy(state.x, eta, d), state.step + 1)


# ----------------------------------------------------------------------------- ScaledGD / PrecGD


def _right_solve(g: Array, h: Array, damping: Array) -> Array:
    """``g (h^T h + damping I)^{-1}`` for ``g`` ``(n, k)``, ``h`` ``(n', k)``."""
    k = h.shape[1]
    p = h.T @ h + damping * jnp.eye(k, dtype=h.dtype)
    return jnp.linalg.solve(p, g.T).T


def _preconditioned_step(x: Factors, g: Factors, eta: Array, damping: Array) -> Factors:
    if isinstance(x, tuple):
        f, gg = x
        gf, gg_ = g
        return f - eta * _right_solve(gf, gg, damping), gg - eta * _right_solve(gg_, f, damping)
    return x - eta * _right_solve(g, x, damping)


def scaled_gd(step_size: Any, damping: Any) -> Algorithm:
    """ScaledGD(lambda): ``X <- X - eta grad(X) (X^T X + lambda I)^{-1}``.

    Asymmetric: ``F <- F - eta Z G (G^T G + lambda I)^{-1}``, ``G <- G - eta Z^T F (F^T F + lambda I)^{-1}``.
    ``damping = lambda >= 0`` is fixed.
    """
    _check_step_size(step_size)
    _validate.real("damping", damping, low=0.0)
    return _algorithm(_init, Partial(_scaled_gd_step, step_size, damping))


def _scaled_gd_step(step_size: Any, damping: Any, state: GDState, problem: Problem) -> GDState:
    g = least_squares_gradient(problem, state.x)
    x = _preconditioned_step(state.x, g, _cast(step_size, state.x), _cast(damping, state.x))
    return GDState(x, state.step + 1)


def precgd(step_size: Any, floor: Any = 1e-12) -> Algorithm:
    """PrecGD: ScaledGD with damping from the current residual, ``lambda_t = max(sqrt((1/m) sum r_i^2), floor)``.

    With ``E[A^*A] = I``, ``sqrt((1/m) sum r_i^2)`` estimates ``||X X^T - M*||_F`` (Zhang, Fattahi &
    Zhang: damping proportional to the square root of the loss).
    """
    _check_step_size(step_size)
    _validate.real("floor", floor, low=0.0, low_open=True)
    return _algorithm(_init, Partial(_precgd_step, step_size, floor))


def _precgd_step(step_size: Any, floor: Any, state: GDState, problem: Problem) -> GDState:
    x = state.x
    r = residual(problem, x)
    g = adjoint_apply(problem.operator, r, x)
    lam = jnp.maximum(jnp.sqrt(jnp.mean(r * r)), _cast(floor, x))
    return GDState(_preconditioned_step(x, g, _cast(step_size, x), lam), state.step + 1)


# ----------------------------------------------------------------------------- optax


def from_optax(tx: optax.GradientTransformation) -> Algorithm:
    """Drive the least-squares sensing loss with any optax ``GradientTransformation``.

    Each step feeds ``least_squares_gradient`` to ``tx.update`` and applies the updates, so e.g.
    ``from_optax(optax.sgd(eta))`` equals ``gd(eta)``.
    """
    if not hasattr(tx, "init") or not hasattr(tx, "update"):
        raise ValueError(f"tx={tx!r} must be an optax GradientTransformation (with init and update)")

    def init(x: Factors) -> OptaxState:
        with jax.numpy_dtype_promotion("standard"):
            inner = tx.init(x)
        return OptaxState(x, inner, jnp.zeros((), jnp.int32))

    def step(state: OptaxState, problem: Problem) -> OptaxState:
        g = least_squares_gradient(problem, state.x)
        # optax mixes int32 step counts with floats internally (e.g. Adam's bias correction)
        with jax.numpy_dtype_promotion("standard"):
            updates, inner = tx.update(g, state.inner, state.x)
            x = optax.apply_updates(state.x, updates)
        return OptaxState(x, inner, state.step + 1)

    return _algorithm(init, step)


# ----------------------------------------------------------------------------- balancing


def rebalance(f: Array, g: Array, eps: float = 0.0) -> tuple[Array, Array]:
    """One-step balancing of asymmetric factors keeping ``F G^T`` (docs/sensing.md#rebalance).

    ``F <- F (F^T F)^{-1/2}``, ``G <- G (F^T F)^{1/2}``: any invertible ``P`` with ``(F P, G P^{-T})``
    leaves the product unchanged; this one makes ``F^T F = I``. Directions where ``F^T F`` has an
    eigenvalue ``<= eps * max eigenvalue`` (e.g. zero-padded columns) are left as they are.
    Shapes ``(n1, k), (n2, k)`` in and out.
    """
    w, v = jnp.linalg.eigh(f.T @ f)
    keep = w > eps * jnp.max(w) if eps > 0 else w > 0
    safe = jnp.where(keep, w, jnp.ones_like(w))
    inv_root = jnp.where(keep, 1.0 / jnp.sqrt(safe), jnp.ones_like(w))
    root = jnp.where(keep, jnp.sqrt(safe), jnp.ones_like(w))
    return f @ ((v * inv_root) @ v.T), g @ ((v * root) @ v.T)
