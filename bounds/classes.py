"""Hypothesis classes as pytrees: log-likelihood tables or parameter arrays plus log-prior weights.

Three kinds of class, one per way the data enter the likelihood:

* :class:`FiniteAlphabetClass` -- i.i.d. symbols from an alphabet of size A; hypothesis k is a
  probability vector ``p_k`` stored as ``log_probs[k]`` (K, A). Bernoulli grids (A = 2), the
  categorical family, and the over-parameterised "mean of D uniform parameters" class.
* :class:`GaussianLocationClass` -- i.i.d. ``N(theta_k, sigma^2 I_d)``, ``means`` (K, d).
* :class:`LogisticClass` -- supervised ``p_w(y = 1 | x) = sigmoid(<w, phi(x)>)`` with a fixed feature
  map ``phi(x) = act(F x)`` (``act`` = identity gives logistic regression, ``relu``/``tanh`` a
  random-feature network); ``weights`` (K, p).

Every class carries ``log_prior`` (K,) with ``logsumexp(log_prior) = 0``. Constructors check
their input on the host and raise ``ValueError`` for negative probabilities, priors that do not
normalise, K = 0 and so on.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special as sps

from bounds import _validate

Array = jax.Array


class FiniteAlphabetClass(NamedTuple):
    """i.i.d. models on the alphabet {0, ..., A-1}.

    Attributes:
      log_probs: (K, A) ``log p_k(a)``, finite.
      log_prior: (K,) ``log w(k)``, normalised.
    """

    log_probs: Array
    log_prior: Array

    @property
    def num_hypotheses(self) -> int:
        return self.log_probs.shape[0]

    @property
    def alphabet_size(self) -> int:
        return self.log_probs.shape[1]


class GaussianLocationClass(NamedTuple):
    """i.i.d. ``N(theta_k, sigma^2 I_d)`` models.

    Attributes:
      means: (K, d) locations ``theta_k``.
      log_prior: (K,) normalised log-weights.
      sigma: () known noise standard deviation.
    """

    means: Array
    log_prior: Array
    sigma: Array


@dataclasses.dataclass(frozen=True)
class LogisticClass:
    """Supervised models ``p_w(y = 1 | x) = sigmoid(<w, phi(x)>)``, ``phi(x) = act(F x)``.

    Attributes:
      weights: (K, p) parameter vectors ``w_k``.
      log_prior: (K,) normalised log-weights.
      feature_matrix: (p, d_in) the fixed first layer ``F`` (identity for logistic regression).
      activation: ``"linear"``, ``"relu"`` or ``"tanh"`` (static).
    """

    weights: Array
    log_prior: Array
    feature_matrix: Array
    activation: str = "linear"

    def features(self, x: Array) -> Array:
        """``phi(x)`` for inputs ``x`` (..., d_in) -> (..., p)."""
        return _ACTIVATIONS[self.activation](x @ self.feature_matrix.T)

    def logits(self, x: Array, weights: Array | None = None) -> Array:
        """Logits ``<w_k, phi(x)>`` (..., K) (or (...,) for one weight vector ``weights``)."""
        w = self.weights if weights is None else weights
        return self.features(x) @ w.T


jax.tree_util.register_dataclass(
    LogisticClass, data_fields=["weights", "log_prior", "feature_matrix"], meta_fields=["activation"]
)

_ACTIVATIONS = {"linear": lambda z: z, "relu": jax.nn.relu, "tanh": jnp.tanh}


def _float(x) -> Array:
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _log_prior_from(prior, k: int, name: str = "prior") -> Array:
    if k == 0:
        raise ValueError("the class must hold K >= 1 hypotheses, got K = 0")
    if prior is None:
        return jnp.full((k,), -math.log(k), dtype=jnp.result_type(float))
    _validate.probabilities(name, prior)
    p = np.asarray(prior, dtype=float)
    if p.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},) to match the hypotheses, got {p.shape}")
    with np.errstate(divide="ignore"):
        return _float(np.log(p))


# ----------------------------------------------------------------------------- finite alphabet


def categorical_class(probs, prior=None) -> FiniteAlphabetClass:
    """Categorical class from probability vectors ``probs`` (K, A), entries in (0, 1], rows sum 1.

    ``prior`` (K,) are the prior weights (uniform when None); they must be >= 0 and sum to 1.
    """
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"probs must have shape (K, A) with K >= 1, got {p.shape}")
    _validate.probabilities("probs", p, axis=-1, strictly_positive=True)
    return FiniteAlphabetClass(_float(np.log(p)), _log_prior_from(prior, p.shape[0]))


def bernoulli_grid(probs, prior=None) -> FiniteAlphabetClass:
    """Bernoulli class ``{Bernoulli(p_k)}`` on a grid ``probs`` (K,) in (0, 1).

    Symbol 1 has probability ``p_k``: ``log_probs[k] = (log(1 - p_k), log p_k)``.
    """
    p = np.asarray(probs, dtype=float).reshape(-1)
    if p.size == 0:
        raise ValueError("probs must hold K >= 1 hypotheses, got K = 0")
    _validate.in_interval("probs", p, 0.0, 1.0, open_low=True, open_high=True)
    return FiniteAlphabetClass(
        _float(np.stack([np.log1p(-p), np.log(p)], axis=-1)), _log_prior_from(prior, p.size)
    )


def bernoulli_beta_grid(num_hypotheses: int, a: float = 0.5, b: float = 0.5) -> FiniteAlphabetClass:
    """Bernoulli class on the midpoint grid ``p_k = (k + 1/2) / K`` with Beta(a, b) cell masses.

    Weight ``w_k = I_{(k+1)/K}(a, b) - I_{k/K}(a, b)`` (regularised incomplete beta), the exact
    Beta(a, b) probability of cell k; a = b = 1/2 is the Jeffreys prior. As K grows the mixture
    tends to the Beta mixture of :func:`bounds.closed_forms.beta_bernoulli_regret`.
    """
    k = _validate.positive_int("num_hypotheses", num_hypotheses)
    _validate.positive("a", a)
    _validate.positive("b", b)
    edges = np.linspace(0.0, 1.0, k + 1)
    cdf = sps.betainc(a, b, edges)
    mass = np.diff(cdf)
    mass = mass / mass.sum()
    return bernoulli_grid((np.arange(k) + 0.5) / k, mass)


def mean_of_uniforms_log_weights(num_params: int, levels: int) -> np.ndarray:
    """Log-probabilities of ``J = sum_i j_i`` for ``j_i`` i.i.d. uniform on {0, ..., m-1}, i = 1..D.

    The D-fold convolution of the discrete uniform, computed exactly in log space (each step is a
    ``logsumexp`` of m shifted copies), so every weight is positive down to the extreme tails
    ``m^{-D}``. Returns (D (m - 1) + 1,) with ``logsumexp = 0``. As m grows, the law of
    ``(J + D/2) / (D m)`` tends to the Bates(D) distribution (mean of D uniforms on [0, 1]).
    """
    d = _validate.positive_int("num_params", num_params)
    m = _validate.positive_int("levels", levels)
    base = np.full(m, -math.log(m))
    lw = base.copy()
    for _ in range(d - 1):
        out = np.full((m, lw.size + m - 1), -np.inf)
        for i in range(m):
            out[i, i : i + lw.size] = lw + base[i]
        lw = sps.logsumexp(out, axis=0)
    return lw - sps.logsumexp(lw)


def mean_of_uniforms_class(num_params: int, levels: int = 16) -> FiniteAlphabetClass:
    """Over-parameterised Bernoulli class: ``p_theta = Bernoulli(mean(theta))``, theta uniform.

    Each of the D parameters is uniform on the midpoint grid ``{(j + 1/2) / m : j < m}``, so
    ``mean(theta) = (J + D/2) / (D m)`` with ``J`` the sum of D discrete uniforms. Hypotheses with
    the same mean give the same likelihood, so the class is the pushforward of the prior to the
    mean: K = D (m - 1) + 1 Bernoulli parameters with the exact convolution weights of
    :func:`mean_of_uniforms_log_weights` (the discrete Bates law; no FFT, positive tails).
    """
    lw = mean_of_uniforms_log_weights(num_params, levels)
    d, m = num_params, levels
    p = (np.arange(lw.size) + d / 2) / (d * m)
    return FiniteAlphabetClass(_float(np.stack([np.log1p(-p), np.log(p)], axis=-1)), _float(lw))


def pad_hypotheses(cls: FiniteAlphabetClass, num_hypotheses: int) -> FiniteAlphabetClass:
    """Pad a class to K' >= K hypotheses with zero prior weight (``log w = -inf``).

    Padding rows copy the first hypothesis' (finite) log-probabilities and contribute nothing to
    any mixture, so regrets and bounds are unchanged exactly; classes of different sizes padded to
    a common K' share one compiled program.
    """
    k = cls.log_probs.shape[0]
    total = _validate.positive_int("num_hypotheses", num_hypotheses, k)
    pad = total - k
    return FiniteAlphabetClass(
        jnp.concatenate([cls.log_probs, jnp.broadcast_to(cls.log_probs[:1], (pad, cls.log_probs.shape[1]))]),
        jnp.concatenate([cls.log_prior, jnp.full((pad,), -jnp.inf, cls.log_prior.dtype)]),
    )


# ----------------------------------------------------------------------------- Gaussian location


def gaussian_location_grid(means, sigma: float = 1.0, prior=None) -> GaussianLocationClass:
    """Gaussian location class ``{N(theta_k, sigma^2 I_d)}``; ``means`` (K,) or (K, d)."""
    mu = np.asarray(means, dtype=float)
    if mu.ndim == 1:
        mu = mu[:, None]
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise ValueError(f"means must have shape (K,) or (K, d) with K >= 1, got {np.shape(means)}")
    _validate.finite("means", mu)
    _validate.positive("sigma", sigma)
    return GaussianLocationClass(_float(mu), _log_prior_from(prior, mu.shape[0]), _float(sigma))


def gaussian_location_normal_grid(
    num_hypotheses: int, half_width: float, sigma: float = 1.0, tau: float = 1.0
) -> GaussianLocationClass:
    """1-d grid of K cell midpoints on [-L, L] with the N(0, tau^2) mass of each cell as weight.

    As K and L grow the mixture tends to the Gaussian-prior mixture of
    :func:`bounds.closed_forms.gaussian_location_regret`.
    """
    k = _validate.positive_int("num_hypotheses", num_hypotheses)
    _validate.positive("half_width", half_width)
    _validate.positive("tau", tau)
    edges = np.linspace(-half_width, half_width, k + 1)
    cdf = sps.ndtr(edges / tau)
    mass = np.diff(cdf)
    mass = mass / mass.sum()
    return gaussian_location_grid(0.5 * (edges[1:] + edges[:-1]), sigma, mass)


# ----------------------------------------------------------------------------- supervised


def sampled_logistic_class(
    key: Array,
    num_hypotheses: int,
    input_dim: int,
    *,
    num_features: int | None = None,
    activation: str = "linear",
    weight_scale: float = 1.0,
) -> LogisticClass:
    """Sampled expansive class: M parameter vectors ``w_k ~ N(0, weight_scale^2 I_p)``, prior 1/M.

    ``activation="linear"`` and ``num_features=None``: logistic regression on x (F = I, p = d_in).
    Otherwise a random-feature network: ``F`` (p, d_in) has i.i.d. ``N(0, 1/d_in)`` entries and
    ``phi(x) = act(F x)``. The prior is the empirical measure of the sample (uniform weights).
    """
    m = _validate.positive_int("num_hypotheses", num_hypotheses)
    d = _validate.positive_int("input_dim", input_dim)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    _validate.positive("weight_scale", weight_scale)
    k_feat, k_w = jax.random.split(key)
    dtype = jnp.result_type(float)
    if num_features is None and activation == "linear":
        feature_matrix = jnp.eye(d, dtype=dtype)
    else:
        p = _validate.positive_int("num_features", num_features if num_features is not None else d)
        feature_matrix = jax.random.normal(k_feat, (p, d), dtype) / math.sqrt(d)
    p = feature_matrix.shape[0]
    weights = weight_scale * jax.random.normal(k_w, (m, p), dtype)
    return LogisticClass(weights, jnp.full((m,), -math.log(m), dtype), feature_matrix, activation)


# ----------------------------------------------------------------------------- divergences to a truth


def kl_to_truth(cls: FiniteAlphabetClass, truth_probs) -> Array:
    """``D(p0 || p_k) = sum_a p0(a) log(p0(a) / p_k(a))`` for every hypothesis, (K,).

    ``truth_probs`` (A,) is any probability vector (zeros allowed).
    """
    _validate.probabilities("truth_probs", truth_probs)
    p0 = _float(truth_probs)
    return jnp.sum(jax.scipy.special.xlogy(p0, p0)) - cls.log_probs @ p0


def gaussian_kl_to_truth(cls: GaussianLocationClass, theta0) -> Array:
    """``D(N(theta0, s^2 I) || N(theta_k, s^2 I)) = ||theta0 - theta_k||^2 / (2 s^2)``, (K,)."""
    t0 = jnp.atleast_1d(_float(theta0))
    return jnp.sum((cls.means - t0) ** 2, axis=-1) / (2 * cls.sigma**2)


def logistic_kl_to_truth(cls: LogisticClass, truth_weights, inputs) -> Array:
    """``E_x D(Bern(s(<w0, phi(x)>)) || Bern(s(<w_k, phi(x)>)))`` averaged over ``inputs`` (N, d_in).

    With ``inputs`` a sample from the input law this is the Monte Carlo estimate of the
    supervised KL (docs/bounds.md#supervised-regret: the KL averaged over x); with ``inputs`` the whole support of a
    uniform finite design it is exact. Returns (K,).
    """
    z0 = cls.logits(inputs, _float(truth_weights))  # (N,)
    z = cls.logits(inputs)  # (N, K)
    return jnp.mean(bernoulli_logit_kl(z0[:, None], z), axis=0)


def bernoulli_logit_kl(z0: Array, z: Array) -> Array:
    """``D(Bern(sigmoid(z0)) || Bern(sigmoid(z)))`` from logits, stable for large |z|."""
    p0 = jax.nn.sigmoid(z0)
    ls0, ls0m = jax.nn.log_sigmoid(z0), jax.nn.log_sigmoid(-z0)
    return p0 * (ls0 - jax.nn.log_sigmoid(z)) + (1 - p0) * (ls0m - jax.nn.log_sigmoid(-z))
