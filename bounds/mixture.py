"""The Bayes mixture of a finite class on one sample: posterior, marginal likelihood, Gibbs identity."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bounds import _validate

Array = jax.Array


def log_marginal_likelihood(log_prior, log_likelihood) -> Array:
    """``log Q(x^n) = logsumexp_k (log w_k + log p_k(x^n))``; inputs (K,), returns ()."""
    _validate.log_prior("log_prior", log_prior)
    return jax.nn.logsumexp(jnp.asarray(log_prior) + jnp.asarray(log_likelihood))


def log_posterior(log_prior, log_likelihood) -> Array:
    """``log w(k | x^n) = log w_k + log p_k(x^n) - log Q(x^n)``, (K,)."""
    _validate.log_prior("log_prior", log_prior)
    joint = jnp.asarray(log_prior) + jnp.asarray(log_likelihood)
    return joint - jax.nn.logsumexp(joint)


def gibbs_free_energy(log_prior, log_likelihood, log_rho) -> Array:
    """``F(rho) = E_rho[-log p_k(x^n)] + KL(rho || w)`` for a distribution rho on the class.

    Gibbs variational identity (docs/bounds.md#gibbs-identity): ``-log Q(x^n) = min_rho F(rho)``, attained at
    the posterior. Inputs (K,) each; ``log_rho`` normalised (entries -inf allowed). Returns ().
    """
    _validate.log_prior("log_prior", log_prior)
    _validate.log_prior("log_rho", log_rho)
    lr = jnp.asarray(log_rho)
    rho = jnp.exp(lr)
    kl = jnp.sum(jnp.where(rho > 0, rho * (lr - jnp.asarray(log_prior)), 0.0))
    energy = -jnp.sum(jnp.where(rho > 0, rho * jnp.asarray(log_likelihood), 0.0))
    return energy + kl
