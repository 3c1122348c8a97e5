"""Batch regret of ensembles on Bernoulli data: sampled members, and exact posterior samples.

After ``n`` observations with ``s`` ones, a predictor of the next symbol that gives probability
``q(s)`` to a one has batch regret ``sum_s Binom(s; n, p0) D(p0 || q(s))`` against a truth
``Bernoulli(p0)`` (docs/bounds.md#ensemble-regret). An ensemble of ``J`` members averages their
probabilities (:func:`bounds.ensemble_log_predictive`, docs/bounds.md#ensembles):

* :func:`ensemble_batch_regret` -- members given as samples (e.g. SGLD chains): ``C`` members are
  split into ``C // J`` disjoint ensembles of consecutive members; mean regret and standard error.
* :func:`posterior_ensemble_regret` -- members that are ``J`` independent exact draws from the
  posterior of a Bernoulli class whose success probabilities form an arithmetic progression (as
  :func:`bounds.mean_of_uniforms_class` does): the mean of ``J`` draws lies on a finer lattice and
  its law is the ``J``-fold convolution of the posterior, so the expectation is exact.
* :func:`bernoulli_posterior` -- the posterior of a Bernoulli class after every success count.

For exact posterior draws Jensen's inequality (``D(p0 || .)`` is convex) makes the expected regret
fall with ``J`` towards the mixture's (:func:`bounds.batch_regret`), with excess
``(1/J) sum_s Binom(s; n, p0) Var(p | s) [p0 / (2 q^2) + (1 - p0) / (2 (1 - q)^2)] + O(J^-2)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np
from scipy import stats
from scipy.special import logsumexp

from bounds import _validate
from bounds.classes import FiniteAlphabetClass
from bounds.pac_bayes import kl_bernoulli

Array = jax.Array


class EnsembleRegret(NamedTuple):
    """Mean batch regret over disjoint ensembles, its standard error, and each ensemble's regret (groups,)."""

    mean: float
    sem: float
    per_ensemble: np.ndarray


def _check_p0(p0: float) -> float:
    if not isinstance(p0, (int, float, np.floating)) or not 0.0 < float(p0) < 1.0:
        raise ValueError(f"p0 must lie in (0, 1), got {p0!r}")
    return float(p0)


def _bernoulli_probs(cls: FiniteAlphabetClass) -> np.ndarray:
    if cls.alphabet_size != 2:
        raise ValueError(f"cls must be a Bernoulli class (alphabet size 2), got alphabet size {cls.alphabet_size}")
    return np.exp(np.asarray(cls.log_probs, dtype=float)[:, 1])


def bernoulli_posterior(cls: FiniteAlphabetClass, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The success probabilities ``p_k`` (K,) of a Bernoulli class and its posterior after ``s`` ones in ``n``.

    ``w(k | s) ∝ w_k p_k^s (1 - p_k)^(n - s)`` for s = 0..n, computed in log space; returns
    ``(p, posterior)`` with posterior (n + 1, K), each row summing to 1.
    """
    n = _validate.positive_int("n", n, 0)
    p = _bernoulli_probs(cls)
    lp, lw = np.asarray(cls.log_probs, dtype=float), np.asarray(cls.log_prior, dtype=float)
    s = np.arange(n + 1, dtype=float)[:, None]
    log_post = lw[None, :] + s * lp[None, :, 1] + (n - s) * lp[None, :, 0]
    return p, np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))


def _binomial_weights(p0: float, n: int) -> np.ndarray:
    return stats.binom.pmf(np.arange(n + 1), n, p0)


def ensemble_batch_regret(member_predictive, p0: float, n: int, members: int) -> EnsembleRegret:
    """Batch regret of ensembles of ``members`` sampled predictors (docs/bounds.md#ensemble-regret).

    ``member_predictive`` (n + 1, C): member ``c``'s probability of a one after ``s`` ones in ``n``
    observations, in (0, 1). Members ``[g J, (g + 1) J)`` form ensemble ``g`` (``C // J`` of them,
    the remainder unused); its predictive is the average of its members' probabilities. Returns the
    mean of ``sum_s Binom(s; n, p0) D(p0 || q_g(s))`` over ensembles, its standard error
    (``std(ddof=1) / sqrt(groups)``, 0 for one ensemble) and every ensemble's value.
    """
    p0 = _check_p0(p0)
    n = _validate.positive_int("n", n, 0)
    q_members = np.asarray(member_predictive, dtype=float)
    if q_members.ndim != 2 or q_members.shape[0] != n + 1:
        raise ValueError(f"member_predictive must have shape (n + 1 = {n + 1}, C), got {q_members.shape}")
    _validate.in_interval("member_predictive", q_members, 0.0, 1.0, open_low=True, open_high=True)
    chains = q_members.shape[1]
    members = _validate.positive_int("members", members)
    if members > chains:
        raise ValueError(f"members must lie in [1, C = {chains}], got {members}")
    groups = chains // members
    # the average of the members' probabilities: exp of bounds.ensemble_log_predictive, taken directly
    q = q_members[:, : groups * members].reshape(n + 1, groups, members).mean(axis=-1)  # (n + 1, groups)
    per_group = _binomial_weights(p0, n) @ np.asarray(kl_bernoulli(p0, np.clip(q, 1e-300, 1.0 - 1e-16)))
    sem = float(per_group.std(ddof=1) / math.sqrt(groups)) if groups > 1 else 0.0
    return EnsembleRegret(float(per_group.mean()), sem, per_group)


def posterior_ensemble_regret(cls: FiniteAlphabetClass, p0: float, n: int, members: int) -> float:
    """Expected batch regret of an ensemble of ``members`` independent exact posterior draws, exactly.

    The class's success probabilities must be an arithmetic progression ``p_k = p_0 + k delta``
    (:func:`bounds.mean_of_uniforms_class` is one). Given ``s`` ones, the ensemble predicts the mean
    of ``J`` draws ``p_0 + delta S / J`` with ``S`` a sum of ``J`` independent indices from the
    posterior, whose law is the ``J``-fold convolution (by FFT; round-off ~1e-16 per lattice point)
    of the posterior. Returns ``sum_s Binom(s; n, p0) E D(p0 || p_0 + delta S / J)``
    (docs/bounds.md#ensemble-regret). J = 1 is ``E_theta D(p0 || p_theta)`` under the posterior;
    as J grows it falls to :func:`bounds.batch_regret`.
    """
    p0 = _check_p0(p0)
    members = _validate.positive_int("members", members)
    p, post = bernoulli_posterior(cls, n)
    k = p.size
    if k > 1:
        step = np.diff(p)
        if not np.allclose(step, step[0], rtol=1e-9, atol=0.0) or step[0] <= 0:
            raise ValueError("cls must have increasing success probabilities in arithmetic progression "
                             f"(p_k = p_0 + k delta), got steps {step[:4]}...")
        delta = float(step[0])
    else:
        delta = 0.0
    size = members * (k - 1) + 1
    fft_size = 1 << max(1, math.ceil(math.log2(size)))
    law = np.fft.irfft(np.fft.rfft(post, fft_size, axis=1) ** members, fft_size, axis=1)[:, :size]
    law = np.clip(law, 0.0, None)
    law /= law.sum(axis=1, keepdims=True)
    mean_of_draws = np.clip(p[0] + delta * np.arange(size) / members, p[0], p[-1])
    kl = np.asarray(kl_bernoulli(p0, mean_of_draws))
    return float(_binomial_weights(p0, n) @ (law @ kl))


__all__ = ["EnsembleRegret", "bernoulli_posterior", "ensemble_batch_regret", "posterior_ensemble_regret"]
