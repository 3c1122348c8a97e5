"""Predictions of the theory that studies overlay on experiments (docs/sensing.md#theory).

All functions are pure ``jax.numpy`` expressions of their arguments (jit/vmap-able).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from sensing import _validate
from sensing.operators import Completion, PackedGaussian, dense_matrices, measure
from sensing.problem import Problem, Truth

Array = jax.Array


def imbalance(f0: Array, g0: Array) -> Array:
    """``D0 = F0^T F0 - G0^T G0`` ``(k, k)``; under asymmetric GD it changes only by ``O(eta^2)`` per step."""
    return f0.T @ f0 - g0.T @ g0


def asymmetric_rate(step_size: Any, f0: Array, g0: Array) -> Array:
    """Linear rate ``eta * lambda_min(F0^T F0 - G0^T G0)`` of over-parameterised asymmetric GD.

    Xiong, Ding & Du: with ``F0`` at scale ``alpha`` and ``G0`` at ``alpha/3`` the imbalance is
    about ``(8/9) alpha^2`` times a Gram matrix, so the rate scales like ``alpha^2``. The error then
    behaves like ``(1 - rate)^t`` (see ``linear_error``).

    This is the scaling, not the constant: the tail rate is ``eta`` times the smallest eigenvalue
    of ``D`` compressed onto the ``(k - r)``-dimensional subspace of ``R^k`` outside the signal
    (see ``asymmetric_tail_rate``), which by Cauchy interlacing is ``>= lambda_min(D)``; the ratio
    depends on the draw of ``F0, G0`` (between about 1 and 6 in small population runs, k - r = 2
    or 3). ``f0`` ``(n1, k)``, ``g0`` ``(n2, k)``.
    """
    return step_size * jnp.linalg.eigvalsh(imbalance(f0, g0))[0]


def asymmetric_tail_rate(step_size: Any, f: Array, g: Array) -> Array:
    """Tail rate ``-log(1 - eta lambda_min(F^T F))`` per step of over-parameterised asymmetric GD (population limit).

    The relative error ``||F G^T - M*||_F / ||M*||_F`` decays like ``exp(-rate t)`` once it is
    small; ``f`` ``(n1, k)``, ``g`` ``(n2, k)`` are factors near convergence (e.g. ``trace.final``
    of a run whose error is below about ``1e-3``); returns a scalar. Unlike ``asymmetric_rate``
    (``eta lambda_min(D0)``, which only gives the ``alpha^2`` scaling) this fixes the constant.

    Derivation (population GD, ``Z = F G^T - M*``; ``U, V`` the singular vectors of ``M* = U S V^T``,
    ``F_perp = U_perp^T F``, ``G_perp = V_perp^T G``): as ``U_perp^T M* = 0`` and ``M* V_perp = 0``,
    exactly ``F_perp <- F_perp (I - eta G^T G)`` and ``G_perp <- G_perp (I - eta F^T F)``. Near the
    limit ``G^T G`` has ``r`` eigenvalues about ``S`` and ``k - r`` tending to 0, and
    ``F^T F = D + G^T G`` with ``D = F^T F - G^T G`` (conserved up to ``O(eta^2)``): ``r`` eigenvalues
    about ``S`` and ``k - r`` equal to those of ``Q^T D Q`` up to ``O(alpha^4)``, ``Q`` an orthonormal
    basis of the null space of ``G`` (positive when ``F0`` is the larger factor, as in
    ``small_init``). ``F_perp`` keeps its part in that null space, which adds ``F_perp G^T = 0`` to
    the error; ``G_perp`` decays mode by mode at ``1 - eta lambda_j(F^T F)``; so the dominant error
    block ``Z V_perp = F G_perp^T`` and ``||Z||_F`` decay like ``(1 - eta lambda_min(F^T F))^t`` (the
    signal block is driven at ``O(||G_perp||^2)``). The rate, ``eta lambda_min(Q^T D Q)``, is
    ``>= eta lambda_min(D)`` by interlacing: that is the constant in ``asymmetric_rate``.

    In the population limit the slow mode is ``(n2 - r)``-fold (``G_perp = w q^T``, any ``w``). A
    Gaussian operator with ``m`` measurements splits it, down to about ``(1 - sqrt((n2 - r) / m))^2``
    times the rate (the exact tail is then the smallest non-zero eigenvalue of the Gauss-Newton
    matrix at the limit); the formula holds for ``m >> n2`` (measured / predicted 0.98 to 1.01 at
    ``n = 10``, ``m = 20000``; 0.6 to 0.8 at ``n = 12``, ``m = 500``). Needs
    ``0 <= eta lambda_min(F^T F) < 1``.
    """
    _validate.real("step_size", step_size, low=0.0)
    _check_factor_pair(f, g)
    lam = jnp.linalg.eigvalsh(f.T @ f)[0]
    return -jnp.log1p(-step_size * lam)


def _check_factor_pair(f: Array, g: Array) -> None:
    """``f`` ``(n1, k)`` and ``g`` ``(n2, k)``: two matrices with the same number of columns."""
    fs, gs = jnp.shape(f), jnp.shape(g)
    if len(fs) != 2:
        raise ValueError(f"f has shape {fs}; allowed: a matrix (n1, k)")
    if len(gs) != 2 or gs[1] != fs[1]:
        raise ValueError(f"g has shape {gs}; allowed: a matrix (n2, k) with k = {fs[1]} columns, like f")


def balance_increment(step_size: Any, zg: Array, ztf: Array) -> Array:
    """Exact one-step change of ``F^T F - G^T G`` under asymmetric GD: ``eta^2 (G^T Z^T Z G - F^T Z Z^T F)``.

    ``zg = Z G`` ``(n1, k)`` and ``ztf = Z^T F`` ``(n2, k)``; holds for any operator (docs/sensing.md#balance-identity).
    """
    return step_size**2 * (zg.T @ zg - ztf.T @ ztf)


def linear_error(e0: Any, rate: Any, t: Any) -> Array:
    """``e0 (1 - rate)^t``: the error of a method converging linearly at ``rate`` per step."""
    return e0 * jnp.power(1.0 - rate, t)


def spurious_eigenvalue(t: Any, step_size: Any, s0: Any) -> Array:
    """Eigenvalue ``s_t`` of ``X X^T`` in a direction outside the range of ``M*`` (population GD).

    ``s_{t+1} = s_t (1 - eta s_t)^2`` gives ``1/s_{t+1} = 1/s_t + 2 eta + O(eta^2 s_t)``, hence
    ``s_t = s0 / (1 + 2 eta s0 t)``: a plateau at ``s0`` (about ``alpha^2``) until
    ``t ~ 1/(2 eta s0)``, then ``1/(2 eta t)``.
    """
    return s0 / (1.0 + 2.0 * step_size * s0 * t)


def symmetric_overparam_tail(t: Any, step_size: Any, excess_rank: Any) -> Array:
    """Absolute error ``||X X^T - M*||_F ~ sqrt(k - r) / (2 eta t)`` of symmetric over-parameterised GD.

    The ``k - r`` spurious eigenvalues each follow ``spurious_eigenvalue``; for
    ``t >> 1/(eta alpha^2)`` they are ``1/(2 eta t)``, so the error halves when ``t`` doubles
    (Xiong, Ding & Du: ``||X X^T - M*||_F^2 = Omega(1/T^2)``). Population limit (``E[A^*A] = I``).
    """
    return jnp.sqrt(jnp.asarray(excess_rank, jnp.result_type(float))) / (2.0 * step_size * t)


def subgm_noise_floor(nu: Any, n: Any, rank: Any, m: Any, constant: Any = 1.0) -> Array:
    """Final error of SubGM under Gaussian noise, ``C nu sqrt(n r / m)`` (Ma & Fattahi); independent of ``k``.

    The constant ``C`` is not fixed by the theory; studies fit it once and test the scaling.
    """
    return constant * nu * jnp.sqrt(jnp.asarray(n * rank / m, jnp.result_type(float)))


def phi(e_norm: Any, s: Array) -> Array:
    """Monte-Carlo ``phi(E) = sqrt(2/pi) E_s exp(-s^2 / (2 ||E||_F^2))`` over noise samples ``s`` ``(N,)``."""
    return math.sqrt(2.0 / math.pi) * jnp.mean(jnp.exp(-(s**2) / (2.0 * e_norm**2)))


def phi_gaussian(e_norm: Any, nu: Any) -> Array:
    """``phi`` for ``s ~ N(0, nu^2)``: ``sqrt(2/pi) ||E|| / sqrt(||E||^2 + nu^2)`` (Gaussian integral)."""
    return math.sqrt(2.0 / math.pi) * e_norm / jnp.sqrt(e_norm**2 + nu**2)


def phi_outliers(e_norm: Any, p: Any, magnitude: Any) -> Array:
    """``phi`` for outliers ``s = magnitude * U(-1, 1)`` with probability ``p`` (else 0).

    ``E_s exp(-s^2/2e^2) = (1 - p) + p (e/a) sqrt(pi/2) erf(a / (sqrt(2) e))`` with ``a = magnitude``.
    """
    a = magnitude
    tail = (e_norm / a) * math.sqrt(math.pi / 2.0) * erf(a / (math.sqrt(2.0) * e_norm))
    return math.sqrt(2.0 / math.pi) * ((1.0 - p) + p * tail)


def sign_gradient_expectation(e: Array, phi_value: Any) -> Array:
    """``E[sign(<A, E> - s) A] = phi(E) E / ||E||_F`` for Gaussian ``A`` independent of the noise ``s``.

    ``<A, E> ~ N(0, ||E||_F^2)`` and the component of ``A`` along ``E`` is ``<A, E> E / ||E||^2``;
    ``E[sign(g - s) g] = sqrt(2/pi) ||E|| exp(-s^2 / 2||E||^2)`` for ``g ~ N(0, ||E||^2)``.
    """
    return phi_value * e / jnp.linalg.norm(e)


# ------------------------------------------------------------------- over-parameterised GD: masks, finite m, alpha bound


def masked_asymmetric_rate(step_size: Any, f0: Array, g0: Array, mask: Array) -> Array:
    """``eta lambda_min(D0)`` over the active columns, ``D0 = F0^T F0 - G0^T G0`` (docs/sensing.md#asymmetric-rate).

    A rank-``k`` start zero-padded to ``k_max`` columns (``f0 * sensing.rank_mask(k_max, k)``) has
    zero rows and columns in ``D0`` at the padded positions, so the plain ``asymmetric_rate`` would
    return 0. Here the padded block is replaced by ``c I`` with ``c = 2 ||D0||_F`` (above every
    eigenvalue of the active block), so ``lambda_min`` runs over the ``k`` active columns exactly:
    the result equals ``asymmetric_rate(step_size, f0[:, :k], g0[:, :k])``. ``f0`` ``(n1, k_max)``,
    ``g0`` ``(n2, k_max)``, ``mask`` ``(k_max,)`` of zeros and ones (any real dtype, may be traced, at
    least one 1); returns a scalar.
    """
    _validate.real("step_size", step_size, low=0.0)
    _check_factor_pair(f0, g0)
    if jnp.shape(mask) != (jnp.shape(f0)[1],):
        raise ValueError(f"mask has shape {jnp.shape(mask)}; allowed: ({jnp.shape(f0)[1]},), one entry per column")
    _validate.real("mask", mask, low=0.0, high=1.0)
    d = imbalance(f0, g0)
    w = jnp.asarray(mask, d.dtype)
    c = 2.0 * jnp.linalg.norm(d)
    restricted = d * jnp.outer(w, w) + jnp.diag((1.0 - w) * c)
    return step_size * jnp.linalg.eigvalsh(restricted)[0]


def gauss_newton_tail_rate(step_size: Any, operator: Any, f: Array, g: Array, rank: int,
                           active: Any = None) -> Array:
    """Tail rate ``-log(1 - eta lambda_+)`` of asymmetric GD, finite operator (docs/sensing.md#gauss-newton-tail-rate).

    ``lambda_+`` is the smallest non-zero eigenvalue of the Gauss-Newton matrix
    ``H = (1/m) J^T J`` at factors ``f`` ``(n1, k_cols)``, ``g`` ``(n2, k_cols)`` near the limit, where
    row ``i`` of ``J`` is the gradient ``(vec(A_i G), vec(A_i^T F))`` of ``<A_i, F G^T>``. At a
    noiseless limit (``F G^T = M*``, zero residual) ``H`` is the Hessian of the loss
    ``(1/2m) sum_i r_i^2``, GD moves a perturbation by ``I - eta H``, and the directions along the set
    of minimisers are the null space of ``H``; the error therefore decays like
    ``(1 - eta lambda_+)^t``. The null space has dimension ``n1 (k - r) + k r`` when ``F`` has full
    column rank ``k`` and ``G`` rank ``r`` (the limit of over-parameterised GD from a small start,
    whose imbalance ``F^T F - G^T G`` stays positive definite), plus ``(n1 + n2)`` for every
    zero-padded column: ``k = active`` columns are active (default: all ``k_cols``; may be traced).

    With ``operator="population"`` this equals ``asymmetric_tail_rate`` (``lambda_+ = lambda_min(F^T
    F)``); with ``m`` Gaussian measurements it includes the finite-``m`` splitting of the slow mode,
    about ``(1 - sqrt((n2 - r) / m))^2`` times the population rate. Any operator that measures an
    asymmetric ``F G^T`` (not ``PackedGaussian``); forms all ``m`` sensing matrices
    (``dense_matrices``, memory ``m n1 n2``) and one symmetric eigenproblem of size
    ``(n1 + n2) k_cols``. Needs ``0 <= eta lambda_+ < 1``. Returns a scalar.
    """
    _validate.real("step_size", step_size, low=0.0)
    _check_factor_pair(f, g)
    if isinstance(operator, PackedGaussian):
        raise ValueError("operator is a PackedGaussian, which measures only sym(F G^T); allowed: an operator of an "
                         "asymmetric problem (DenseGaussian, RankOne, Completion)")
    n1, k_cols = jnp.shape(f)
    n2 = jnp.shape(g)[0]
    rank = _validate.integer("rank", rank, low=1, high=min(n1, n2, k_cols))
    if active is None:
        active = k_cols
    else:
        _validate.real("active", active, low=float(rank), high=float(k_cols))
    a = dense_matrices(operator, (n1, n2)).astype(f.dtype)
    m = a.shape[0]
    jf = jnp.einsum("mij,jc->mic", a, g).reshape(m, n1 * k_cols)
    jg = jnp.einsum("mij,ic->mjc", a, f).reshape(m, n2 * k_cols)
    jac = jnp.concatenate([jf, jg], axis=1)
    lam = jnp.linalg.eigvalsh(jac.T @ jac / m)
    k = jnp.asarray(active).astype(jnp.int32)
    nullity = (n1 + n2) * k_cols - (n1 * rank + k * n2 - k * rank)
    return -jnp.log1p(-step_size * lam[nullity])


def gauss_newton_tail_rates(step_size: Any, operator: Any, f: Array, g: Array, rank: int,
                            active: Any = None) -> Array:
    """``gauss_newton_tail_rate`` for stacks of factors ``f`` ``(B, n1, k)``, ``g`` ``(B, n2, k)``: ``(B,)``.

    ``active`` ``(B,)`` (default: every column) is each pair's number of active columns. The
    eigenproblems run one after another (``lax.map``), never as one batched ``eigh``: a batched
    ``eigh`` of this size inside a program sharded over several XLA:CPU devices can deadlock
    (docs/architecture.md#known-xla-cpu-deadlock).
    """
    if jnp.ndim(f) != 3 or jnp.ndim(g) != 3 or jnp.shape(f)[0] != jnp.shape(g)[0]:
        raise ValueError(f"f has shape {jnp.shape(f)} and g {jnp.shape(g)}; allowed: stacks (B, n1, k) and (B, n2, k)")
    _check_factor_pair(f[0], g[0])
    k_cols = jnp.shape(f)[2]
    active = jnp.full(jnp.shape(f)[:1], k_cols) if active is None else jnp.asarray(active)
    if jnp.shape(active) != jnp.shape(f)[:1]:
        raise ValueError(f"active has shape {jnp.shape(active)}; allowed: ({jnp.shape(f)[0]},), one per pair")
    _validate.real("active", active, low=float(rank), high=float(k_cols))
    one = lambda x: gauss_newton_tail_rate(step_size, operator, x[0], x[1], rank, x[2])  # noqa: E731
    return jax.lax.map(one, (f, g, active))


def symmetric_doubling_ratio(t: Any, step_size: Any, s0: Any) -> Array:
    """Predicted ``e(t) / e(t/2)`` of symmetric over-parameterised GD: ``(1 + eta s0 t) / (1 + 2 eta s0 t)``.

    The ratio ``spurious_eigenvalue(t) / spurious_eigenvalue(t/2)`` of the plateau law
    ``s_t = s0 / (1 + 2 eta s0 t)`` (docs/sensing.md#symmetric-overparam-tail): above ``1/2`` at
    every finite ``t`` and tending to ``1/2`` (the ``1/t`` tail) once ``eta s0 t >> 1``; a linear
    method has a ratio that tends to 0. Broadcasts over its arguments.
    """
    x = step_size * s0 * jnp.asarray(t, jnp.result_type(float))  # integer steps are fine
    return (1.0 + x) / (1.0 + 2.0 * x)


def spurious_mode_lower_bound(t: Any, step_size: Any, f0: Any, g0: Any) -> Array:
    """Lower bound ``f0 g0 ((1 - eta f0^2)(1 - eta g0^2))^t`` on a spurious mode ``f_t g_t`` of asymmetric GD.

    A scalar mode fitted to 0 (docs/sensing.md#alpha-lower-bound) follows exactly
    ``f <- f (1 - eta g^2)``, ``g <- g (1 - eta f^2)``. With ``0 < g0 <= f0`` and ``eta f0^2 < 1``
    both factors stay positive and shrink, so ``f_t^2 <= f0^2`` and ``g_t^2 <= g0^2`` and, by
    induction, ``f_t g_t >= f0 g0 ((1 - eta f0^2)(1 - eta g0^2))^t``: no rate above
    ``-log(1 - eta f0^2) - log(1 - eta g0^2)``, which is ``(10/9) eta alpha^2`` for ``f0 = alpha``,
    ``g0 = alpha / 3``. Broadcasts over its arguments.
    """
    t = jnp.asarray(t, jnp.result_type(float))  # integer steps are fine
    return f0 * g0 * jnp.power((1.0 - step_size * f0**2) * (1.0 - step_size * g0**2), t)


def spurious_mode_rate(step_size: Any, f0: Any, g0: Any) -> Array:
    """Limit rate ``-log(1 - eta (f0^2 - g0^2))`` per step of a spurious mode (docs/sensing.md#alpha-lower-bound).

    As ``g_t -> 0`` the mode contracts by ``(1 - eta g^2)(1 - eta f^2) -> 1 - eta D`` with
    ``D = f^2 - g^2``, which one step multiplies by exactly ``1 - eta^2 (f g)^2`` (the
    ``balance_increment`` of a scalar mode). Summing the geometric tail, the limit ``D_inf`` is
    below ``D0`` by a relative amount at most ``eta (f0 g0)^2 / (2 D_inf)`` (``eta alpha^2 / 16`` for
    ``g0 = alpha / 3``): this function, evaluated at ``D0``, overestimates the rate by at most that.
    """
    return -jnp.log1p(-step_size * (f0**2 - g0**2))


def lower_bound_example(n: int, rank: int, k: int, alpha: Any, right_scale: Any = None,
                        dtype: Any = None) -> tuple[Problem, tuple[Array, Array]]:
    """The example behind "the alpha dependence of the asymmetric rate cannot be removed": a problem and its start.

    Population operator on ``M* = diag(1, ..., 1, 0, ..., 0)`` (``n x n``, ``rank`` ones;
    ``L* = R* = [I_r; 0]``) and ``F0 = alpha [I_k; 0]``, ``G0 = beta [I_k; 0]`` with ``beta = alpha / 3``
    (default, as ``small_init``). Everything stays diagonal under GD, so the ``k - r`` columns beyond
    the rank are independent scalar modes fitted to 0 with ``(f0, g0) = (alpha, beta)``: the
    relative error obeys ``||F_t G_t^T - M*||_F / ||M*||_F >= sqrt((k - r) / r) f_t g_t >=
    sqrt((k - r) / r) spurious_mode_lower_bound(t, eta, alpha, beta)`` and its tail rate is
    ``spurious_mode_rate(eta, alpha, beta)``, about ``eta (8/9) alpha^2`` (docs/sensing.md#alpha-lower-bound).
    Returns ``(problem, (F0, G0))``; ``F0, G0`` ``(n, k)``. Needs ``rank < k <= n``.
    """
    n = _validate.integer("n", n, low=2)
    rank = _validate.integer("rank", rank, low=1, high=n - 1)
    k = _validate.integer("k", k, low=rank + 1, high=n)
    _validate.real("alpha", alpha, low=0.0, low_open=True)
    if right_scale is not None:
        _validate.real("right_scale", right_scale, low=0.0, low_open=True)
    dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
    alpha = jnp.asarray(alpha, dtype)
    beta = alpha / 3.0 if right_scale is None else jnp.asarray(right_scale, dtype)
    factor = jnp.eye(n, rank, dtype=dtype)
    idx = jnp.arange(n * n)
    op = Completion(idx // n, idx % n, jnp.asarray(float(n), dtype))
    problem = Problem(op, measure(op, (factor, factor)), Truth(factor, factor, factor @ factor.T))
    basis = jnp.eye(n, k, dtype=dtype)
    return problem, (alpha * basis, beta * basis)


def symmetric_rank_dimension(n: int, rank: int) -> int:
    """Dimension ``n r - r (r - 1) / 2`` of the manifold of ``n x n`` PSD matrices of rank ``r``.

    ``{U W^T + W U^T : W in R^(n x r)}`` is its tangent space at ``M* = U U^T``: ``n r`` parameters
    less the ``r (r - 1) / 2`` of the rotations ``U -> U R`` (docs/sensing.md#subgm-noise-floor).
    """
    n = _validate.integer("n", n, low=1)
    rank = _validate.integer("rank", rank, low=1, high=n)
    return n * rank - rank * (rank - 1) // 2


def subgm_floor_constant(n: int, rank: int) -> Array:
    """The constant ``C`` of ``subgm_noise_floor`` for Gaussian noise: ``sqrt(pi d / (2 n r))``, ``d`` as below.

    Derived in this project (docs/sensing.md#subgm-noise-floor): near ``M*`` the l1 loss
    ``(1/m) sum |<A_i, D> - s_i|`` on the tangent space (dimension
    ``d = symmetric_rank_dimension(n, r)``) is, in expectation over the noise density ``f``,
    ``E|s| + f(0) ||D||_F^2`` with the linear term ``-(1/m) sum sign(s_i) <A_i, D>``; its minimiser
    is ``D = P_T((1/m) sum sign(s_i) A_i) / (2 f(0))`` (the least-absolute-deviation estimate), and
    as ``E||P_T A||_F^2 = d`` (``E[A^* A] = I``), ``E||D||_F^2 = d / (4 f(0)^2 m)``. For
    ``s ~ N(0, nu^2)``, ``f(0) = 1 / (sqrt(2 pi) nu)``, so ``||X X^T - M*||_F -> nu sqrt(pi d / (2 m))``
    ``= C nu sqrt(n r / m)``. Holds for ``m >> d`` and small ``nu`` (the quadratic expansion);
    ``||D||_F^2`` is a sum of ``d`` comparable squares, so one run deviates from it by about
    ``1 / sqrt(2 d)`` relative. ``C -> sqrt(pi / 2) = 1.2533`` for ``n >> r``.
    """
    d = symmetric_rank_dimension(n, rank)
    return jnp.sqrt(jnp.asarray(math.pi * d / (2.0 * n * rank), jnp.result_type(float)))
