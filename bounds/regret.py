"""Exact expected regret of the Bayes mixture learner with log-loss (docs/bounds.md#mixture-regret).

The mixture ``Q(x^n) = sum_k w_k p_k(x^n)`` predicts ``q(x_t | x^{t-1})``; against a truth P its
expected regret is ``D_n = D(P^n || Q) = sum_{t=1}^n r_t`` with per-step (batch) regrets
``r_t = E_{x^{t-1}} D(P || q(. | x^{t-1}))`` (chain rule of KL).

How the expectation over x^n is computed:

* finite alphabet (Bernoulli, categorical, mean-of-uniforms): **exactly**, by enumerating the
  sufficient statistic -- the count vector c of x^n (binomial counts for A = 2) -- with its
  multinomial probability under the truth. ``log Q(c) = logsumexp_k (log w_k + c . log p_k)``.
* Gaussian location, d = 1: by deterministic quadrature (trapezoid rule on a uniform grid of the
  standardised sufficient statistic ``z = sqrt(n) (xbar - theta0) / sigma`` over [-L, L]); the
  error is that of the quadrature, which converges geometrically for smooth integrands.
  Any d: Monte Carlo over ``xbar ~ N(theta0, sigma^2 / n I)`` with its standard error returned.
* supervised logistic classes: Monte Carlo over (x^n, y^n) sequences, with the per-step KL in y
  computed exactly given the sampled past (Rao-Blackwellised); standard errors returned.

All mixtures are evaluated in log space and in chunks of ``chunk_size`` hypotheses with a running
``logsumexp`` (never a K x n matrix), so K = 10^6 and n = 10^4 run in bounded memory.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, xlogy

from bounds import _validate
from bounds.classes import (
    FiniteAlphabetClass,
    GaussianLocationClass,
    LogisticClass,
    bernoulli_logit_kl,
)

Array = jax.Array

DEFAULT_CHUNK = 256


# ----------------------------------------------------------------------------- chunked logsumexp


def chunked_logsumexp(
    terms: Callable[..., Array], arrays: tuple[Array, ...], pad_values: tuple[float, ...], chunk_size: int
) -> Array:
    """``logsumexp_k terms(a_k, b_k, ...)`` over the leading axis K of ``arrays``, chunk by chunk.

    ``terms(*chunk_arrays)`` maps a chunk (C, ...) of each array to log-terms (C, ...out). The
    arrays are padded to a multiple of ``chunk_size`` with ``pad_values`` (use -inf for the
    log-prior, so padded rows contribute nothing) and reduced with a ``lax.scan`` carrying the
    running logsumexp; peak memory is one chunk of terms.
    """
    k = arrays[0].shape[0]
    c = min(chunk_size, k)
    num = -(-k // c)
    pad = num * c - k
    padded = [
        jnp.concatenate([a, jnp.full((pad,) + a.shape[1:], v, a.dtype)]) if pad else a
        for a, v in zip(arrays, pad_values)
    ]
    stacked = [a.reshape((num, c) + a.shape[1:]) for a in padded]
    out_shape = jax.eval_shape(terms, *[s[0] for s in stacked])

    def body(acc, chunk):
        t = terms(*chunk)
        return jnp.logaddexp(acc, jax.nn.logsumexp(t, axis=0)), None

    init = jnp.full(out_shape.shape[1:], -jnp.inf, out_shape.dtype)
    acc, _ = jax.lax.scan(body, init, tuple(stacked))
    return acc


# ----------------------------------------------------------------------------- finite alphabet


def compositions(n: int, parts: int) -> np.ndarray:
    """All count vectors c in N^parts with sum n, (S, parts), S = binom(n + parts - 1, parts - 1)."""
    if parts == 1:
        return np.array([[n]], dtype=np.int64)
    if parts == 2:
        s = np.arange(n + 1)
        return np.stack([n - s, s], axis=-1)
    rows = [np.concatenate([np.full((sub.shape[0], 1), first), sub], axis=1)
            for first in range(n + 1) for sub in [compositions(n - first, parts - 1)]]
    return np.concatenate(rows, axis=0)


def _log_multinomial_pmf(counts: Array, truth: Array) -> tuple[Array, Array]:
    """(log pmf of counts under Mult(|c|, p0), log p0(x^n) of one sequence with these counts)."""
    n = jnp.sum(counts, axis=-1)
    log_seq = jnp.sum(xlogy(counts, truth), axis=-1)
    log_coef = gammaln(n + 1) - jnp.sum(gammaln(counts + 1), axis=-1)
    return log_coef + log_seq, log_seq


COUNT_BLOCK = 1024


def _over_count_blocks(fn: Callable[[Array], Array], counts: Array) -> Array:
    """Apply ``fn`` to blocks of ``COUNT_BLOCK`` count vectors (``lax.map``) and concatenate.

    Tiling the counts keeps each chunk of log-terms (chunk_size x COUNT_BLOCK) in cache; the
    result is identical to ``fn(counts)``. Padding rows repeat the last count vector.
    """
    s = counts.shape[0]
    if s <= COUNT_BLOCK:
        return fn(counts)
    nb = -(-s // COUNT_BLOCK)
    padded = jnp.concatenate([counts, jnp.broadcast_to(counts[-1:], (nb * COUNT_BLOCK - s, counts.shape[1]))])
    out = jax.lax.map(fn, padded.reshape(nb, COUNT_BLOCK, counts.shape[1]))
    return out.reshape((nb * COUNT_BLOCK,) + out.shape[2:])[:s]


def _mixture_and_predictive(cls: FiniteAlphabetClass, counts: Array, chunk_size: int) -> tuple[Array, Array]:
    """``log Q(c)`` (S,) and ``log Q(c + e_a)`` (S, A) for count vectors ``counts`` (S, A)."""
    out = _over_count_blocks(lambda c: _mixture_and_predictive_block(cls, c, chunk_size), counts)
    return out[:, 0], out[:, 1:]


def _mixture_and_predictive_block(cls: FiniteAlphabetClass, counts: Array, chunk_size: int) -> Array:
    def terms(lp, lw):
        base = lw[:, None] + lp @ counts.T  # (C, S)
        return jnp.concatenate([base[:, :, None], base[:, :, None] + lp[:, None, :]], axis=-1)

    return chunked_logsumexp(terms, (cls.log_probs, cls.log_prior), (0.0, -jnp.inf), chunk_size)


def _mixture(cls: FiniteAlphabetClass, counts: Array, chunk_size: int) -> Array:
    """``log Q(c) = logsumexp_k (log w_k + c . log p_k)`` (S,), tiled over counts and hypotheses."""

    def block(c):
        def terms(lp, lw):
            return lw[:, None] + lp @ c.T

        return chunked_logsumexp(terms, (cls.log_probs, cls.log_prior), (0.0, -jnp.inf), chunk_size)

    return _over_count_blocks(block, counts)


def _check_finite_class(cls: FiniteAlphabetClass, truth_probs, n: int, name_n: str = "n", minimum: int = 1):
    _validate.positive_int(name_n, n, minimum)
    _validate.log_prior("cls.log_prior", cls.log_prior)
    _validate.finite("cls.log_probs", cls.log_probs)
    _validate.probabilities("truth_probs", truth_probs)
    if np.shape(truth_probs) != (cls.log_probs.shape[1],):
        raise ValueError(f"truth_probs must have shape ({cls.log_probs.shape[1]},) (the alphabet size), "
                         f"got {np.shape(truth_probs)}")


def binomial_window(n: int, tail_mass: float) -> int:
    """Half-width h with ``P(|S - n p0| > h) <= tail_mass`` for every p0 (Hoeffding).

    Hoeffding: ``P(|S - n p0| >= h) <= 2 exp(-2 h^2 / n)``, so ``h = ceil(sqrt(n log(2/tail)/2))``.
    """
    return int(math.ceil(math.sqrt(n * math.log(2.0 / tail_mass) / 2.0)))


def expected_regret(
    cls: FiniteAlphabetClass, truth_probs, n: int, *, chunk_size: int = DEFAULT_CHUNK, tail_mass: float = 0.0
) -> Array:
    """Exact online regret ``D_n = D(P^n || Q) = sum_c Mult(c; n, p0) [c.log p0 - log Q(c)]``.

    The expectation is an exact finite sum over the count vectors c of x^n (binomial counts for
    Bernoulli), ``log Q(c) = logsumexp_k (log w_k + c . log p_k)`` evaluated in chunks of hypotheses.
    Cost O(K S A) with S = binom(n + A - 1, A - 1) (S = n + 1 for Bernoulli); memory O(chunk_size S).

    ``tail_mass > 0`` (Bernoulli only) sums only the counts s with ``|s - n p0| <= h``,
    ``h = sqrt(n log(2 / tail_mass) / 2)`` (:func:`binomial_window`): by Hoeffding the omitted counts
    have total probability <= tail_mass, so D_n changes by at most
    ``tail_mass * max_s |log P0(s) - log Q(s)|`` (below 1e-20 for tail_mass = 1e-30 and n <= 10^6
    with log-probabilities above -10^6 / n). S drops from n + 1 to 2 h + 1 (about 12 sqrt(n) for
    1e-30). ``tail_mass = 0`` (default) enumerates every count.

    Args:
      cls: the class (K, A). truth_probs: (A,) the truth p0 (inside the class or not).
      n: sample size >= 1.
    Returns: () the regret in nats.
    """
    _check_finite_class(cls, truth_probs, n)
    _validate.in_interval("tail_mass", tail_mass, 0.0, 1.0, open_high=True)
    width = n + 1
    if tail_mass > 0:
        if cls.log_probs.shape[1] != 2:
            raise ValueError(f"tail_mass > 0 needs a Bernoulli class (A = 2), got A = {cls.log_probs.shape[1]}")
        width = min(n + 1, 2 * binomial_window(n, tail_mass) + 1)
    return _expected_regret(cls, jnp.asarray(truth_probs, cls.log_probs.dtype), n, chunk_size, width)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _expected_regret(cls, truth, n, chunk_size, width):
    dtype = cls.log_probs.dtype
    if width == n + 1:
        counts = jnp.asarray(compositions(n, cls.log_probs.shape[1]), dtype)
    else:  # Bernoulli window [start, start + width) around n p0, inside [0, n]
        start = jnp.clip(jnp.round(n * truth[1]) - (width - 1) // 2, 0, n + 1 - width)
        ones = start + jnp.arange(width, dtype=dtype)
        counts = jnp.stack([n - ones, ones], axis=-1)
    log_pmf, log_seq = _log_multinomial_pmf(counts, truth)
    log_q = _mixture(cls, counts, chunk_size)
    return jnp.sum(jnp.where(log_pmf > -jnp.inf, jnp.exp(log_pmf) * (log_seq - log_q), 0.0))


def _kl_to_predictive(truth: Array, log_q_next: Array, log_q: Array) -> Array:
    log_pred = log_q_next - log_q[..., None]  # (S, A) log q(a | c)
    return jnp.sum(xlogy(truth, truth)) - jnp.sum(jnp.where(truth > 0, truth * log_pred, 0.0), axis=-1)


def batch_regret(cls: FiniteAlphabetClass, truth_probs, n: int, *, chunk_size: int = DEFAULT_CHUNK) -> Array:
    """Exact batch regret after n samples: ``r_{n+1} = E_{x^n} D(p0 || q(. | x^n))``.

    ``q(a | c) = Q(c + e_a) / Q(c)`` is the posterior predictive; the expectation is the exact sum
    over count vectors c of x^n (n >= 0; n = 0 gives ``D(p0 || sum_k w_k p_k)``). By the chain rule
    ``r_{n+1} = D_{n+1} - D_n``. Returns ().
    """
    _check_finite_class(cls, truth_probs, n, minimum=0)
    return _batch_regret(cls, jnp.asarray(truth_probs, cls.log_probs.dtype), n, chunk_size)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _batch_regret(cls, truth, n, chunk_size):
    counts = jnp.asarray(compositions(n, cls.log_probs.shape[1]), cls.log_probs.dtype)
    log_pmf, _ = _log_multinomial_pmf(counts, truth)
    log_q, log_q_next = _mixture_and_predictive(cls, counts, chunk_size)
    kl = _kl_to_predictive(truth, log_q_next, log_q)
    return jnp.sum(jnp.where(log_pmf > -jnp.inf, jnp.exp(log_pmf) * kl, 0.0))


def per_step_regret(cls: FiniteAlphabetClass, truth_probs, n: int, *, chunk_size: int = DEFAULT_CHUNK) -> Array:
    """Exact per-step regrets ``r_t = E_{x^{t-1}} D(p0 || q(. | x^{t-1}))`` for t = 1..n, (n,).

    One pass over the hypotheses with all count vectors of total < n (n (n + 1) / 2 of them for
    Bernoulli), so cost O(K n^2): meant for n up to a few thousand. ``cumsum`` gives D_1..D_n.
    r_t of a fixed truth need not be monotone in t.
    """
    _check_finite_class(cls, truth_probs, n)
    return _per_step_regret(cls, jnp.asarray(truth_probs, cls.log_probs.dtype), n, chunk_size)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _per_step_regret(cls, truth, n, chunk_size):
    a = cls.log_probs.shape[1]
    counts_np = np.concatenate([compositions(t, a) for t in range(n)], axis=0)
    totals = jnp.asarray(counts_np.sum(axis=1))
    counts = jnp.asarray(counts_np, cls.log_probs.dtype)
    log_pmf, _ = _log_multinomial_pmf(counts, truth)
    log_q, log_q_next = _mixture_and_predictive(cls, counts, chunk_size)
    kl = _kl_to_predictive(truth, log_q_next, log_q)
    contrib = jnp.where(log_pmf > -jnp.inf, jnp.exp(log_pmf) * kl, 0.0)
    return jax.ops.segment_sum(contrib, totals, num_segments=n)


# ----------------------------------------------------------------------------- Gaussian location


class MonteCarloEstimate(NamedTuple):
    """A Monte Carlo mean and its standard error (sample std / sqrt(number of samples))."""

    mean: Array
    standard_error: Array


def _gaussian_log_ratio(cls: GaussianLocationClass, theta0: Array, n: int, xbar: Array, chunk_size: int) -> Array:
    """``log p0(x^n) - log Q(x^n)`` as a function of the sample mean ``xbar`` (B, d) -> (B,).

    ``= -logsumexp_k [log w_k - n (||xbar - theta_k||^2 - ||xbar - theta0||^2) / (2 sigma^2)]``.
    """
    ref = jnp.sum((xbar - theta0) ** 2, axis=-1)

    def terms(mu, lw):
        sq = jnp.sum((xbar[None, :, :] - mu[:, None, :]) ** 2, axis=-1)  # (C, B)
        return lw[:, None] - n * (sq - ref[None, :]) / (2 * cls.sigma**2)

    return -chunked_logsumexp(terms, (cls.means, cls.log_prior), (0.0, -jnp.inf), chunk_size)


def _check_gaussian(cls: GaussianLocationClass, theta0, n: int):
    _validate.positive_int("n", n)
    _validate.log_prior("cls.log_prior", cls.log_prior)
    _validate.finite("theta0", theta0)
    d = cls.means.shape[1]
    if np.shape(np.atleast_1d(theta0)) != (d,):
        raise ValueError(f"theta0 must have shape ({d},), got {np.shape(theta0)}")


def gaussian_location_regret(
    cls: GaussianLocationClass,
    theta0,
    n: int,
    *,
    num_nodes: int = 2001,
    half_width: float = 12.0,
    chunk_size: int = DEFAULT_CHUNK,
) -> Array:
    """``D_n`` of a 1-d Gaussian location class by quadrature over the sufficient statistic.

    ``xbar ~ N(theta0, sigma^2 / n)``; with ``z = sqrt(n)(xbar - theta0)/sigma`` the regret is
    ``int phi(z) f(theta0 + sigma z / sqrt(n)) dz`` (f from ``_gaussian_log_ratio``), computed by
    the trapezoid rule on ``num_nodes`` points over [-half_width, half_width] (tail mass beyond 12
    is below 1e-32). Needs the grid spacing of the class to be small against ``sigma / sqrt(n)``
    or ``num_nodes`` large enough to resolve the kinks of f. Returns ().
    """
    _check_gaussian(cls, theta0, n)
    if cls.means.shape[1] != 1:
        raise ValueError(f"cls.means must be 1-dimensional for quadrature (d = 1), got d = {cls.means.shape[1]}; "
                         "use gaussian_location_regret_mc")
    _validate.positive_int("num_nodes", num_nodes, 3)
    return _gaussian_quadrature(cls, jnp.atleast_1d(jnp.asarray(theta0, cls.means.dtype)), n, num_nodes,
                                float(half_width), chunk_size)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _gaussian_quadrature(cls, theta0, n, num_nodes, half_width, chunk_size):
    z = jnp.linspace(-half_width, half_width, num_nodes, dtype=cls.means.dtype)
    xbar = theta0[None, :] + cls.sigma * z[:, None] / math.sqrt(n)
    f = _gaussian_log_ratio(cls, theta0, n, xbar, chunk_size)
    w = jnp.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    h = z[1] - z[0]
    g = f * w
    return h * (jnp.sum(g) - 0.5 * (g[0] + g[-1]))


def gaussian_location_regret_mc(
    cls: GaussianLocationClass, theta0, n: int, key: Array, *, num_samples: int = 4096,
    chunk_size: int = DEFAULT_CHUNK,
) -> MonteCarloEstimate:
    """``D_n`` of a d-dimensional Gaussian location class by Monte Carlo over ``xbar``.

    ``xbar ~ N(theta0, sigma^2 / n I_d)`` (the sufficient statistic), ``num_samples`` draws;
    returns the mean of ``log p0(x^n) - log Q(x^n)`` and its standard error.
    """
    _check_gaussian(cls, theta0, n)
    _validate.positive_int("num_samples", num_samples, 2)
    return _gaussian_mc(cls, jnp.atleast_1d(jnp.asarray(theta0, cls.means.dtype)), n, key, num_samples, chunk_size)


@functools.partial(jax.jit, static_argnums=(2, 4, 5))
def _gaussian_mc(cls, theta0, n, key, num_samples, chunk_size):
    d = cls.means.shape[1]
    z = jax.random.normal(key, (num_samples, d), cls.means.dtype)
    f = _gaussian_log_ratio(cls, theta0, n, theta0 + cls.sigma * z / math.sqrt(n), chunk_size)
    return MonteCarloEstimate(jnp.mean(f), jnp.std(f, ddof=1) / math.sqrt(num_samples))


# ----------------------------------------------------------------------------- supervised


class SupervisedRegret(NamedTuple):
    """Monte Carlo estimate of the supervised regret.

    Attributes:
      per_step: (n,) ``r_t = E D(p0(.|x_t) || q(.|x_t, data^{t-1}))`` averaged over sequences.
      per_step_se: (n,) its standard error.
      cumulative: (n,) ``D_t = sum_{s <= t} r_s``.
      total_se: () standard error of ``D_n`` (across sequences).
    """

    per_step: Array
    per_step_se: Array
    cumulative: Array
    total_se: Array


def supervised_regret(
    cls: LogisticClass,
    truth_weights,
    n: int,
    key: Array,
    *,
    num_sequences: int = 64,
    design=None,
    chunk_size: int = DEFAULT_CHUNK,
) -> SupervisedRegret:
    """Supervised regret ``D_n = E_{x^n} D(P0(y^n | x^n) || Q(y^n | x^n))`` by Monte Carlo.

    Inputs x_t are i.i.d. ``N(0, I_{d_in})`` or uniform over the rows of ``design`` (N, d_in);
    labels ``y_t ~ Bern(sigmoid(<w0, phi(x_t)>))``. For each of ``num_sequences`` sampled
    sequences the mixture's predictive ``q(y | x_t, data^{t-1})`` is computed exactly (chunked
    logsumexp over the K hypotheses of ``log w_k + sum_{s<t} log p_k(y_s|x_s)``) and the per-step
    KL in y is exact given the past; the average over sequences is the Monte Carlo part.
    """
    _validate.positive_int("n", n)
    _validate.positive_int("num_sequences", num_sequences, 2)
    _validate.log_prior("cls.log_prior", cls.log_prior)
    _validate.finite("truth_weights", truth_weights)
    dtype = cls.weights.dtype
    design_arr = None if design is None else jnp.asarray(design, dtype)
    if design_arr is not None:
        _validate.finite("design", design_arr)
    return _supervised(cls, jnp.asarray(truth_weights, dtype), n, key, num_sequences, design_arr, chunk_size)


@functools.partial(jax.jit, static_argnums=(2, 4, 6))
def _supervised(cls, w0, n, key, num_sequences, design, chunk_size):
    dtype = cls.weights.dtype
    d_in = cls.feature_matrix.shape[1]

    def one_sequence(k):
        kx, ky = jax.random.split(k)
        if design is None:
            x = jax.random.normal(kx, (n, d_in), dtype)
        else:
            x = design[jax.random.randint(kx, (n,), 0, design.shape[0])]
        phi = cls.features(x)  # (n, p)
        z0 = phi @ w0
        y = jax.random.bernoulli(ky, jax.nn.sigmoid(z0)).astype(dtype)

        def terms(w, lw):
            z = w @ phi.T  # (C, n)
            ll = y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z)
            past = jnp.cumsum(ll, axis=1) - ll + lw[:, None]
            return jnp.stack([past, past + jax.nn.log_sigmoid(z), past + jax.nn.log_sigmoid(-z)], axis=-1)

        lse = chunked_logsumexp(terms, (cls.weights, cls.log_prior), (0.0, -jnp.inf), chunk_size)
        log_q1 = lse[:, 1] - lse[:, 0]
        # KL(Bern(s(z0)) || Bern(q1)) in logit form: q1 = sigmoid(log_q1 - log(1 - q1))
        logit_q = log_q1 - jnp.log(-jnp.expm1(log_q1))
        return bernoulli_logit_kl(z0, logit_q)

    keys = jax.random.split(key, num_sequences)
    r = jax.lax.map(one_sequence, keys)  # (R, n)
    sqrt_r = math.sqrt(num_sequences)
    return SupervisedRegret(
        jnp.mean(r, axis=0),
        jnp.std(r, axis=0, ddof=1) / sqrt_r,
        jnp.cumsum(jnp.mean(r, axis=0)),
        jnp.std(jnp.sum(r, axis=1), ddof=1) / sqrt_r,
    )
