"""The eigenframework risk of random-feature ridge regression (and its k -> infinity limit, kernel
ridge regression).

Simon, Karkada, Ghosh & Belkin, "More is better" (ICLR 2024), Sec. 4; docs/randfeat.md#eigenframework. With
learnabilities ``L_i = lambda_i / (lambda_i + gamma)``, ``z = sum L_i``, ``q = sum L_i^2``, the
effective ridge ``gamma`` solves the scalar equation

    gamma (1 - z/n) (1 - z/k) = delta / n,        (z < min(n, k))

``kappa = gamma (1 - z/k)`` and

    E0   = 1 / (1 - q/n - (z - q)^2 / (n (k - q)))
    E_te = E0 ( sum_i [(1 - L_i)^2 + L_i (1 - L_i) (z - q)/(k - q)] v_i^2 + sigma^2 )
    E_tr = (delta / (n kappa))^2 E_te = (1 - z/n)^2 E_te.

The root is found in ``u = log gamma`` by safeguarded Halley steps (falling back to Newton, then
to bisection) inside a bracket. The bracket's lower end ``gamma_min`` (where ``z = min(n, k)``,
which is also the ridgeless solution) depends on (n, k) only and is solved once per (n, k) and
shared by all ridges. ``k = inf`` is allowed everywhere and gives kernel ridge regression.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from randfeat import _checks
from randfeat.tasks import Task


class RFRisk(NamedTuple):
    """Eigenframework predictions on a broadcast grid of (n, k, ridge); every field has the grid's
    shape except ``learnabilities`` (grid + (M,), or ``None`` unless asked for).

    test: E_te (includes the noise); train: E_tr; gamma, kappa: effective ridges; e0: E0;
    z = sum L_i; q = sum L_i^2; iterations: root-finder iterations used; converged: bool.
    """

    test: jax.Array
    train: jax.Array
    gamma: jax.Array
    kappa: jax.Array
    e0: jax.Array
    z: jax.Array
    q: jax.Array
    iterations: jax.Array
    converged: jax.Array
    learnabilities: jax.Array | None = None


def learnabilities(task: Task, gamma) -> jax.Array:
    """``L_i = lambda_i / (lambda_i + gamma)``; gamma (...,) -> (..., M). ``gamma = 0`` gives 1 on
    modes with ``lambda_i > 0`` and 0 on null modes."""
    lam = task.eigenvalues
    g = jnp.asarray(gamma, dtype=lam.dtype)[..., None]
    return jnp.where(lam > 0, lam / jnp.where(lam > 0, lam + g, 1.0), 0.0)


def _sums(*terms: jax.Array) -> tuple[jax.Array, ...]:
    """Several sums over the mode axis in one variadic reduction (one fused pass over the modes
    instead of one pass, and one materialised temporary, per sum)."""
    zero = tuple(jnp.zeros((), t.dtype) for t in terms)
    return jax.lax.reduce(terms, zero, lambda a, b: tuple(x + y for x, y in zip(a, b)), (terms[0].ndim - 1,))


def _moments(lam: jax.Array, g: jax.Array):
    """z = sum L, q = sum L^2, c3 = sum L (1 - L)(1 - 2 L) = z - 3 q + 2 sum L^3 at gamma = g > 0."""
    ell = lam / (lam + g)
    ell2 = ell * ell
    z, q, r = _sums(ell, ell2, ell2 * ell)
    return z, q, z - 3.0 * q + 2.0 * r


def _safeguarded_root(fun, lo, hi, u0, max_iter: int, tol: float):
    """Root of an increasing scalar function of u in [lo, hi] (one point; vmap for many).

    ``fun(u) -> (h, h', h'', valid)``; invalid points count as ``h < 0``. Halley step when it
    stays strictly inside the current bracket, else Newton, else bisection. Returns (u, iters, ok).
    """

    def body(state):
        u, lo, hi, it, done = state
        h, h1, h2, valid = fun(u)
        neg = jnp.logical_or(~valid, h < 0)
        lo = jnp.where(neg, u, lo)
        hi = jnp.where(neg, hi, u)
        den = 2.0 * h1 * h1 - h * h2
        halley = u - 2.0 * h * h1 / jnp.where(den > 0, den, 1.0)
        newton = u - h / jnp.where(h1 > 0, h1, 1.0)
        inside = lambda c: (c > lo) & (c < hi)  # noqa: E731
        cand = jnp.where(valid & (den > 0) & inside(halley), halley,
                         jnp.where(valid & (h1 > 0) & inside(newton), newton, 0.5 * (lo + hi)))
        scale = 1.0 + jnp.abs(u)
        now_done = valid & ((jnp.abs(cand - u) <= tol * scale) | (h == 0))
        now_done = now_done | ((hi - lo) <= tol * scale)
        u_next = jnp.where(done | (h == 0), u, cand)
        return u_next, lo, hi, it + jnp.where(done, 0, 1), done | now_done

    def cond(state):
        return (~state[4]) & (state[3] < max_iter)

    u, _, _, it, done = jax.lax.while_loop(cond, body, (u0, lo, hi, jnp.zeros((), jnp.int32),
                                                        jnp.zeros((), bool)))
    return u, it, done


def _log_gamma_floor(lam, total, n_pos, n, inv_k, max_iter, tol):
    """log gamma_min with z(gamma_min) = m = min(n, k) (-inf when m >= number of modes > 0), the
    iterations, a convergence flag and ``s = z - q`` at gamma_min (0 when infeasible)."""
    m = jnp.minimum(n, jnp.where(inv_k > 0, 1.0 / jnp.where(inv_k > 0, inv_k, 1.0), jnp.inf))
    lam_pos_min = jnp.min(jnp.where(lam > 0, lam, jnp.inf))
    feasible = m < n_pos
    m_safe = jnp.where(feasible, m, 0.5 * n_pos)
    lo = jnp.log(lam_pos_min * (n_pos - m_safe) / m_safe)
    hi = jnp.log(total / m_safe)

    def fun(u):
        z, q, c3 = _moments(lam, jnp.exp(u))
        s = z - q
        return jnp.log(m_safe) - jnp.log(z), s / z, (c3 * z - s * s) / (z * z), jnp.asarray(True)

    u, it, ok = _safeguarded_root(fun, lo, hi, hi, max_iter, tol)
    z, q, _ = _moments(lam, jnp.exp(u))
    return jnp.where(feasible, u, -jnp.inf), it, ok | ~feasible, jnp.where(feasible, z - q, 0.0)


def _log_gamma(lam, total, n, inv_k, ridge, u_min, s_min, max_iter, tol):
    """log gamma solving gamma (1 - z/n)(1 - z/k) = ridge/n, for ridge > 0 (ridge = 0: u_min).

    The unknown is ``t = log(gamma - gamma_min)``: near ``gamma_min`` the left side vanishes
    linearly in ``gamma - gamma_min`` and far above it grows like ``gamma``, so in ``t`` the
    log of the equation is close to linear at both ends and Halley steps converge in a few
    iterations from the first-order guess ``gamma - gamma_min = delta / (n s |1/n - 1/k|)``
    (``s = z - q`` at ``gamma_min``).
    """
    m = jnp.where(inv_k > 0, jnp.minimum(n, 1.0 / jnp.where(inv_k > 0, inv_k, 1.0)), n)
    pos = ridge > 0
    r = jnp.where(pos, ridge, 1.0) / n
    log_r = jnp.log(r)
    g_min = jnp.exp(u_min)
    slope = jnp.where(g_min > 0, s_min * jnp.abs(1.0 - n * inv_k), 0.0)
    tiny = 1e-16 * g_min + 1e-300
    lo = jnp.log(jnp.maximum(r - g_min, tiny))
    hi = jnp.log(4.0 * r + 2.0 * total / m)
    guess = jnp.where(slope > 0, r * n / jnp.where(slope > 0, slope, 1.0), r)
    t0 = jnp.clip(jnp.log(guess), lo, hi)

    def fun(t):
        e = jnp.exp(t)
        g = g_min + e
        rho = e / g                               # du/dt
        z, q, c3 = _moments(lam, g)
        s = z - q
        a = n - z                 # n (1 - z/n)
        b = 1.0 - z * inv_k       # 1 - z/k
        valid = (a > 0) & (b > 0)
        a_ = jnp.where(valid, a, 1.0)
        b_ = jnp.where(valid, b, 1.0)
        h = jnp.log(g) + jnp.log(a_ / n) + jnp.log(b_) - log_r
        h1 = 1.0 + s / a_ + s * inv_k / b_
        h2 = -(c3 / a_ + (s / a_) ** 2) - (c3 * inv_k / b_ + (s * inv_k / b_) ** 2)
        return h, h1 * rho, h2 * rho * rho + h1 * rho * (1.0 - rho), valid

    t, it, ok = _safeguarded_root(fun, lo, hi, t0, max_iter, tol)
    u = jnp.log(g_min + jnp.exp(t))
    return jnp.where(pos, u, u_min), jnp.where(pos, it, 0), jnp.where(pos, ok, True)


def _risk_at_gamma(lam, v2, noise, n, inv_k, gamma):
    """All eigenframework quantities at a given effective ridge (one point)."""
    ell = jnp.where(lam > 0, lam / jnp.where(lam > 0, lam + gamma, 1.0), 0.0)
    one = 1.0 - ell
    z, q, bias, var = _sums(ell, ell * ell, one * one * v2, ell * one * v2)
    s = z - q
    ratio = s * inv_k / (1.0 - q * inv_k)            # (z - q) / (k - q)
    den = 1.0 - q / n - s * ratio / n
    e0 = jnp.where(den > 0, 1.0 / jnp.where(den > 0, den, 1.0), jnp.inf)   # diverges at n = k
    test = e0 * (bias + ratio * var + noise)
    train = (1.0 - z / n) ** 2 * test
    return test, train, gamma * (1.0 - z * inv_k), e0, z, q, ell


def _inverse_width(k) -> jax.Array:
    k = jnp.asarray(k, dtype=float)
    return jnp.where(jnp.isinf(k), 0.0, 1.0 / k)


def _bucket(size: int) -> int:
    """Padded length for a flat batch: the next power of two >= 16, so that grids of nearby
    sizes share one compiled program."""
    return max(16, 1 << (max(size, 1) - 1).bit_length())


def _flat_padded(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    flat = jnp.broadcast_to(x, shape).ravel()
    return jnp.pad(flat, (0, _bucket(flat.size) - flat.size), mode="edge")


@partial(jax.jit, static_argnames=("max_iter",))
def _solve_flat(task: Task, n_nk, ik_nk, index, ridge, max_iter: int, tol: float = 1e-12):
    """Core on flat padded arrays: floors on the (n, k) points, then one root per full point."""
    lam = task.eigenvalues
    v2 = task.coefficients ** 2
    total = jnp.sum(lam)
    n_pos = jnp.sum(lam > 0).astype(lam.dtype)
    floor = jax.vmap(lambda a, b: _log_gamma_floor(lam, total, n_pos, a, b, max_iter, tol))
    u_min, it_min, ok_min, s_min = (x[index] for x in floor(n_nk, ik_nk))
    nf, ikf = n_nk[index], ik_nk[index]
    solve = jax.vmap(lambda a, b, c, d, e: _log_gamma(lam, total, a, b, c, d, e, max_iter, tol))
    u, it, ok = solve(nf, ikf, ridge, u_min, s_min)
    gamma = jnp.exp(u)
    out = jax.vmap(lambda a, b, g: _risk_at_gamma(lam, v2, task.noise, a, b, g)[:6])(nf, ikf, gamma)
    test, train, kappa, e0, z, q = out
    return test, train, gamma, kappa, e0, z, q, it + it_min, ok & ok_min


def _rf_risk(task: Task, n, inv_k, ridge, modes: bool, max_iter: int) -> RFRisk:
    nk_shape = jnp.broadcast_shapes(n.shape, inv_k.shape)
    shape = jnp.broadcast_shapes(nk_shape, ridge.shape)
    size = int(np.prod(shape, dtype=int))
    n_nk, ik_nk = _flat_padded(n, nk_shape), _flat_padded(inv_k, nk_shape)
    index = _flat_padded(jnp.arange(int(np.prod(nk_shape, dtype=int))).reshape(nk_shape), shape)
    out = _solve_flat(task, n_nk, ik_nk, index, _flat_padded(ridge, shape), max_iter)
    fields = [x[:size].reshape(shape) for x in out]
    ell = learnabilities(task, fields[2]) if modes else None
    return RFRisk(*fields, learnabilities=ell)


def _validate_task(task: Task) -> None:
    lam = _checks.concrete(task.eigenvalues)
    if lam is not None:
        _checks.finite("task.eigenvalues", lam)
        _checks.at_least("task.eigenvalues", lam, 0.0)
        _checks.check("task.eigenvalues", lam, lam.max() > 0, "at least one eigenvalue > 0")
    _checks.finite("task.coefficients", task.coefficients)
    _checks.at_least("task.noise", task.noise, 0.0)


def _broadcastable(**arrays) -> None:
    """Raise ``ValueError`` naming the arguments and their shapes unless they broadcast together."""
    shapes = {name: tuple(np.shape(value)) for name, value in arrays.items()}
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        names = list(shapes)
        raise ValueError(f"{', '.join(names[:-1])} and {names[-1]} do not broadcast against each other: "
                         f"shapes {listed}; allowed: shapes that broadcast (NumPy rules)") from None


def rf_risk(task: Task, n, k, ridge, *, modes: bool = False, max_iter: int = 64) -> RFRisk:
    """Eigenframework test and train risk of random-feature ridge regression.

    task: :class:`~randfeat.tasks.Task` with M modes; n (samples, >= 1), k (features, >= 1 or
    ``inf``) and ridge (``delta >= 0``, not scaled by n) broadcast against each other to a grid
    of any shape (10^4 points is one call). ``ridge = 0`` is the ridgeless limit (``z = min(n, k)``).
    ``modes=True`` adds the per-mode learnabilities (grid + (M,)). Equations: module docstring.
    Returns :class:`RFRisk`. Shapes that do not broadcast raise ``ValueError`` before anything compiles.

    More samples than modes (``n > M``) at a small ridge is handled: there ``z`` tends to M instead
    of n, ``gamma ~ delta / (n - M)`` is tiny (1.4e-11 at ``delta = 1e-8``, n = 1000, M = 300), and
    the bracket, which starts at ``log(delta / n - gamma_min)``, contains it. A bisection on a fixed
    bracket that does not reach that far silently returns the null predictor, risk
    ``sum v_i^2 + sigma^2``, instead (the "More is better" authors' theory code, whose bisection
    bracket ends at 1e15, does).
    """
    _validate_task(task)
    _checks.at_least("n", n, 1.0)
    _checks.at_least("k", k, 1.0, allow_inf=True)
    _checks.at_least("ridge", ridge, 0.0)
    _checks.int_at_least("max_iter", max_iter, 1)
    _broadcastable(n=n, k=k, ridge=ridge)
    n = jnp.asarray(n, dtype=float)
    ridge = jnp.asarray(ridge, dtype=float)
    return _rf_risk(task, n, _inverse_width(k), ridge, modes, max_iter)


def krr_risk(task: Task, n, ridge, *, modes: bool = False, max_iter: int = 64) -> RFRisk:
    """Kernel ridge regression risk: :func:`rf_risk` at ``k = inf``, where the equation becomes
    ``gamma (1 - z/n) = delta/n``, ``E0 = n / (n - q)``, ``E_te = E0 (sum (1-L_i)^2 v_i^2 + sigma^2)``
    (Simon et al. 2021 "eigenlearning"; docs/randfeat.md#limits). Shapes as in :func:`rf_risk`."""
    return rf_risk(task, n, jnp.inf, ridge, modes=modes, max_iter=max_iter)


def ridgeless_risk(task: Task, n, k=np.inf) -> RFRisk:
    """The ``delta -> 0`` limit: :func:`rf_risk` at ridge 0 (``z = min(n, k)``; for ``k < n``
    ``E_te = n/(n - k) (sum (1 - L_i) v_i^2 + sigma^2)``). Diverges at ``n = k``."""
    return rf_risk(task, n, k, 0.0)


class OptimalRidge(NamedTuple):
    """The ridge minimising the predicted test risk and the predictions there (grid-shaped)."""

    ridge: jax.Array
    risk: RFRisk


def _ridge_of_gamma(n, inv_k, gamma, z):
    return n * gamma * (1.0 - z / n) * (1.0 - z * inv_k)


@partial(jax.jit, static_argnames=("num_grid", "num_refine"))
def _optimal_flat(task: Task, nf, ikf, num_grid: int, num_refine: int):
    lam = task.eigenvalues
    v2 = task.coefficients ** 2
    total = jnp.sum(lam)
    n_pos = jnp.sum(lam > 0).astype(lam.dtype)
    lam_pos_min = jnp.min(jnp.where(lam > 0, lam, jnp.inf))
    u_top = jnp.log(jnp.max(lam)) + jnp.log(1e8)

    def one(nn, ik):
        u_min = _log_gamma_floor(lam, total, n_pos, nn, ik, 64, 1e-12)[0]
        u_lo = jnp.where(jnp.isfinite(u_min), u_min, jnp.log(lam_pos_min) - 20.0)
        risk = lambda u: _risk_at_gamma(lam, v2, task.noise, nn, ik, jnp.exp(u))[0]  # noqa: E731
        ts = jnp.linspace(0.0, 1.0, num_grid)
        us = u_lo + ts * (u_top - u_lo)
        vals = jax.vmap(risk)(us)
        vals = jnp.where(jnp.isnan(vals), jnp.inf, vals)
        j = jnp.argmin(vals)
        a = us[jnp.maximum(j - 1, 0)]
        b = us[jnp.minimum(j + 1, num_grid - 1)]
        phi = 0.5 * (jnp.sqrt(5.0) - 1.0)

        def golden(_, ab):
            a, b = ab
            c, d = b - phi * (b - a), a + phi * (b - a)
            left = risk(c) < risk(d)
            return jnp.where(left, a, c), jnp.where(left, d, b)

        a, b = jax.lax.fori_loop(0, num_refine, golden, (a, b))
        u_mid = 0.5 * (a + b)
        u_best = jnp.where(risk(u_mid) < vals[j], u_mid, us[j])
        g = jnp.where((u_best == u_lo) & ~jnp.isfinite(u_min), 0.0, jnp.exp(u_best))
        test, train, kappa, e0, z, q, _ = _risk_at_gamma(lam, v2, task.noise, nn, ik, g)
        ridge = jnp.where(u_best == u_lo, 0.0, _ridge_of_gamma(nn, ik, g, z))
        return ridge, RFRisk(test, train, g, kappa, e0, z, q, jnp.asarray(num_grid + 2 * num_refine),
                             jnp.asarray(True))

    return jax.vmap(one)(nf, ikf)


def _optimal(task: Task, n, inv_k, num_grid: int, num_refine: int) -> OptimalRidge:
    shape = jnp.broadcast_shapes(n.shape, inv_k.shape)
    size = int(np.prod(shape, dtype=int))
    ridge, risk = _optimal_flat(task, _flat_padded(n, shape), _flat_padded(inv_k, shape), num_grid, num_refine)
    rs = lambda x: x[:size].reshape(shape)  # noqa: E731
    return OptimalRidge(rs(ridge), jax.tree.map(rs, risk))


def optimal_ridge(task: Task, n, k=np.inf, *, num_grid: int = 64, num_refine: int = 40) -> OptimalRidge:
    """The ridge ``delta* >= 0`` minimising the predicted test risk of :func:`rf_risk`, and the
    risk there, on a broadcast grid of (n, k).

    Because ``delta = n gamma (1 - z/n)(1 - z/k)`` is an increasing function of ``gamma`` above
    ``gamma_min`` (ridgeless point), the search runs over ``log gamma`` with explicit risk
    evaluations (no root solves): a ``num_grid``-point grid from ``gamma_min`` to ``1e8 lambda_1``,
    then ``num_refine`` golden-section steps around the best grid point. ``delta* = 0`` is
    reported when the ridgeless end is optimal. Returns :class:`OptimalRidge`.
    """
    _validate_task(task)
    _checks.at_least("n", n, 1.0)
    _checks.at_least("k", k, 1.0, allow_inf=True)
    _checks.int_at_least("num_grid", num_grid, 3)
    _checks.int_at_least("num_refine", num_refine, 0)
    _broadcastable(n=n, k=k)
    return _optimal(task, jnp.asarray(n, dtype=float), _inverse_width(k), num_grid, num_refine)
