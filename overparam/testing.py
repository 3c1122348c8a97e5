"""Hypothesis strategies for stating theorems of the sandbox as property tests.

Each strategy draws the *parameters* of a problem -- seeds, scales, step sizes, noise levels,
ranks to be applied as masks, prior weights -- never its shapes. Shapes (``n``, ``m``, the
maximal rank, the number of hypotheses) are fixed by the caller, so a test that jits its
check once serves every drawn example without recompiling:

.. code-block:: python

    import jax, jax.numpy as jnp
    from hypothesis import given
    from overparam.testing import bernoulli_classes

    K, N_MAX = 16, 64  # fixed shapes: one compile serves every example

    @jax.jit
    def regret(c):  # exact D_n of the Bayes mixture of Bernoulli(theta_j), truth theta_{c.truth}
        k = jnp.arange(N_MAX + 1.0)  # number of ones in x^n (terms with k > n have weight 0)
        log_p = lambda th: k * jnp.log(th) + (c.n - k) * jnp.log1p(-th)
        log_mix = jax.nn.logsumexp(c.log_prior[:, None] + jax.vmap(log_p)(c.theta), axis=0)
        p0 = c.theta[c.truth]
        return jnp.sum(jax.scipy.stats.binom.pmf(k, c.n, p0) * (log_p(p0) - log_mix))

    @given(bernoulli_classes(K, n_max=N_MAX))
    def test_regret_at_most_minus_log_prior(c):  # Barron: 0 <= D_n <= -log w(theta0)
        assert 0.0 <= regret(c) + 1e-12 and regret(c) <= -c.log_prior[c.truth] + 1e-12

(``tests/studies/test_testing.py`` runs exactly this example.)

Drawn values are plain Python numbers or NumPy float64 arrays; passed to a jitted function
they become traced arguments with fixed dtypes, so every example reuses one compiled program.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

__all__ = [
    "BernoulliClass",
    "RFTaskParams",
    "SensingParams",
    "bernoulli_classes",
    "log_uniform",
    "rf_tasks",
    "seeds",
    "sensing_params",
]

Range = tuple[float, float]


def _check_range(name: str, rng: Range, lo: float, hi: float, *, positive: bool = False) -> tuple[float, float]:
    try:
        a, b = float(rng[0]), float(rng[1])
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {rng!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)) or a > b:
        raise ValueError(f"{name} must be a finite (low, high) pair with low <= high, got {rng!r}")
    if a < lo or b > hi or (positive and a <= 0):
        bound = f"(0, {hi}]" if positive else f"[{lo}, {hi}]"
        raise ValueError(f"{name}={rng!r} must lie in {bound}")
    return a, b


def seeds(max_seed: int = 2**31 - 1) -> st.SearchStrategy[int]:
    """Integer seeds in ``[0, max_seed]``, for ``jax.random.key(seed)`` inside a jitted check."""
    if max_seed < 0:
        raise ValueError(f"max_seed must be >= 0, got {max_seed}")
    return st.integers(0, max_seed)


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats ``exp(u)`` with ``u`` uniform in ``[log low, log high]`` (``0 < low <= high``).

    Scales, step sizes and ridges range over decades; a uniform draw would almost never reach
    the small end.
    """
    a, b = _check_range("(low, high)", (low, high), 0.0, math.inf, positive=True)
    if a == b:
        return st.just(a)
    return st.floats(math.log(a), math.log(b)).map(lambda u: float(min(max(math.exp(u), a), b)))


def _scalar(name: str, rng: Range, lo: float, hi: float, *, log: bool = False) -> st.SearchStrategy[float]:
    a, b = _check_range(name, rng, lo, hi, positive=log)
    if a == b:
        return st.just(a)
    return log_uniform(a, b) if log else st.floats(a, b)


class SensingParams(NamedTuple):
    """Parameters of one matrix-sensing run; shapes (n, m, k_max) are the caller's.

    ``rank`` is applied as a mask (``x0 * sensing.rank_mask(k_max, rank)``), so it is a value,
    not a shape. ``outlier_fraction`` is the probability p of an outlier measurement and ``noise``
    the Gaussian noise level nu (docs/sensing.md#noise).
    """

    seed: int
    rank: int
    init_scale: float
    step_size: float
    outlier_fraction: float
    noise: float
    cond: float


def sensing_params(
    *,
    rank: tuple[int, int] = (1, 4),
    init_scale: Range = (1e-6, 1e-2),
    step_size: Range = (0.05, 0.25),
    outlier_fraction: Range = (0.0, 0.0),
    noise: Range = (0.0, 0.0),
    cond: Range = (1.0, 1.0),
) -> st.SearchStrategy[SensingParams]:
    """Valid :class:`SensingParams` with each field drawn from its range.

    Ranges: ``rank`` integers in ``[1, ...]``; ``init_scale`` and ``step_size`` log-uniform in
    ``(0, inf)``; ``outlier_fraction`` in ``[0, 1)``; ``noise`` in ``[0, inf)``; ``cond`` in
    ``[1, inf)``. A range outside these raises ``ValueError`` naming it.
    """
    r_lo, r_hi = _check_range("rank", rank, 1, math.inf)
    if r_lo != int(r_lo) or r_hi != int(r_hi):
        raise ValueError(f"rank must be a pair of integers, got {rank!r}")
    p_lo, p_hi = _check_range("outlier_fraction", outlier_fraction, 0.0, 1.0)
    if p_hi >= 1.0:
        raise ValueError(f"outlier_fraction={outlier_fraction!r} must lie in [0, 1)")
    return st.builds(
        SensingParams,
        seed=seeds(),
        rank=st.integers(int(r_lo), int(r_hi)),
        init_scale=_scalar("init_scale", init_scale, 0.0, math.inf, log=True),
        step_size=_scalar("step_size", step_size, 0.0, math.inf, log=True),
        outlier_fraction=_scalar("outlier_fraction", (p_lo, p_hi), 0.0, 1.0),
        noise=_scalar("noise", noise, 0.0, math.inf),
        cond=_scalar("cond", cond, 1.0, math.inf),
    )


class RFTaskParams(NamedTuple):
    """A power-law random-feature task and one (n, k, ridge) point (docs/randfeat.md#power-law-task).

    Eigenvalues ``lambda_i = i^-alpha``, target coefficients ``v_i^2 = i^-beta``, label noise
    variance ``noise``; ``n`` samples, ``k`` features, ridge ``ridge``. ``n`` and ``k`` enter the
    theory as numbers; empirical checks apply them as masks up to a fixed maximum.
    """

    seed: int
    alpha: float
    beta: float
    noise: float
    n: int
    k: int
    ridge: float


def rf_tasks(
    *,
    alpha: Range = (1.2, 3.0),
    beta: Range = (1.2, 3.0),
    noise: Range = (0.0, 0.5),
    n: tuple[int, int] = (8, 512),
    k: tuple[int, int] = (8, 512),
    ridge: Range = (1e-6, 1.0),
) -> st.SearchStrategy[RFTaskParams]:
    """Valid :class:`RFTaskParams`: ``alpha > 1`` (trace-class kernel), ``beta > 1`` (finite target
    norm), ``noise >= 0``, ``n, k >= 1``, ``ridge > 0`` (log-uniform)."""
    a_lo, _ = _check_range("alpha", alpha, 1.0, math.inf)
    b_lo, _ = _check_range("beta", beta, 1.0, math.inf)
    if a_lo <= 1.0:
        raise ValueError(f"alpha={alpha!r} must lie in (1, inf)")
    if b_lo <= 1.0:
        raise ValueError(f"beta={beta!r} must lie in (1, inf)")
    n_lo, n_hi = _check_range("n", n, 1, math.inf)
    k_lo, k_hi = _check_range("k", k, 1, math.inf)
    return st.builds(
        RFTaskParams,
        seed=seeds(),
        alpha=_scalar("alpha", alpha, 1.0, math.inf),
        beta=_scalar("beta", beta, 1.0, math.inf),
        noise=_scalar("noise", noise, 0.0, math.inf),
        n=st.integers(int(n_lo), int(n_hi)),
        k=st.integers(int(k_lo), int(k_hi)),
        ridge=_scalar("ridge", ridge, 0.0, math.inf, log=True),
    )


class BernoulliClass(NamedTuple):
    """A finite class of Bernoulli(theta_j) hypotheses with a prior, a truth, and a sample size.

    ``theta`` (K,) distinct parameters in (0, 1), sorted; ``log_prior`` (K,) with
    ``logsumexp(log_prior) = 0``; ``truth`` an index into ``theta`` (a truth inside the class);
    ``n`` the number of samples, at most the ``n_max`` given to :func:`bernoulli_classes` (a
    static bound, so checks can sum over ``0..n_max`` with a fixed shape).
    """

    theta: np.ndarray
    log_prior: np.ndarray
    truth: int
    n: int


def bernoulli_classes(
    num_hypotheses: int,
    *,
    n_max: int = 64,
    theta_margin: float = 0.02,
    prior_spread: float = 4.0,
) -> st.SearchStrategy[BernoulliClass]:
    """Valid :class:`BernoulliClass` draws with ``num_hypotheses`` members (a fixed shape).

    Parameters are distinct and lie in ``[theta_margin, 1 - theta_margin]``; the prior is
    ``softmax(z)`` with logits ``z_j`` in ``[-prior_spread, prior_spread]``; ``n`` in ``[1, n_max]``.
    """
    if not isinstance(num_hypotheses, int) or num_hypotheses < 1:
        raise ValueError(f"num_hypotheses must be an integer >= 1, got {num_hypotheses!r}")
    if not isinstance(n_max, int) or n_max < 1:
        raise ValueError(f"n_max must be an integer >= 1, got {n_max!r}")
    if not 0.0 < theta_margin < 0.5:
        raise ValueError(f"theta_margin must lie in (0, 0.5), got {theta_margin!r}")
    if not (math.isfinite(prior_spread) and prior_spread >= 0):
        raise ValueError(f"prior_spread must be finite and >= 0, got {prior_spread!r}")
    lo, hi = theta_margin, 1.0 - theta_margin

    @st.composite
    def draw(draw_: st.DrawFn) -> BernoulliClass:
        # distinct parameters on a fine grid, so duplicates cannot make the class degenerate
        grid = draw_(st.lists(st.integers(0, 10_000), min_size=num_hypotheses, max_size=num_hypotheses, unique=True))
        theta = np.sort(lo + (hi - lo) * np.asarray(grid, dtype=np.float64) / 10_000)
        logits = np.asarray(
            draw_(st.lists(st.floats(-prior_spread, prior_spread), min_size=num_hypotheses, max_size=num_hypotheses)),
            dtype=np.float64,
        )
        shifted = logits - logits.max()
        log_prior = shifted - np.log(np.sum(np.exp(shifted)))
        truth = draw_(st.integers(0, num_hypotheses - 1))
        n = draw_(st.integers(1, n_max))
        return BernoulliClass(theta=theta, log_prior=log_prior, truth=truth, n=n)

    return draw()
