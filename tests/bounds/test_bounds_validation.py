"""Bad input raises ValueError naming the argument, its value and the allowed range."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bounds as B

GRID = B.bernoulli_grid([0.2, 0.5, 0.8])
TRUTH = np.array([0.6, 0.4])
BAD_PRIOR = B.FiniteAlphabetClass(GRID.log_probs, jnp.log(jnp.array([0.5, 0.3, 0.1])))

CASES = [
    ("negative probability", lambda: B.bernoulli_grid([0.2, -0.1]), r"probs must lie in \(0.0, 1.0\), got .*-0\.1"),
    ("negative categorical", lambda: B.categorical_class([[1.2, -0.2]]), r"probs must hold probabilities in \[0, 1\]"),
    ("rows not summing to 1", lambda: B.categorical_class([[0.5, 0.4]]), r"probs must sum to 1 .* got sums \[0\.9\]"),
    ("prior not normalised", lambda: B.bernoulli_grid([0.2, 0.8], [0.5, 0.6]), r"prior must sum to 1 .*1\.1"),
    ("negative prior", lambda: B.bernoulli_grid([0.2, 0.8], [1.5, -0.5]), r"prior must hold probabilities in \[0, 1\]"),
    ("log prior not normalised", lambda: B.expected_regret(BAD_PRIOR, TRUTH, 5),
     r"cls\.log_prior must normalise: .* got -0\.1053"),
    ("n = 0", lambda: B.expected_regret(GRID, TRUTH, 0), r"n must be an integer >= 1, got 0"),
    ("n < 1 per step", lambda: B.per_step_regret(GRID, TRUTH, -3), r"n must be an integer >= 1, got -3"),
    ("K = 0 grid", lambda: B.bernoulli_grid([]), r"K >= 1 hypotheses, got K = 0"),
    ("K = 0 weight bound", lambda: B.weight_bound(np.zeros(0), np.zeros(0), 5), r"K >= 1 hypotheses\), got shape \(0,\)"),
    ("K = 0 sampled class", lambda: B.sampled_logistic_class(jax.random.key(0), 0, 2),
     r"num_hypotheses must be an integer >= 1, got 0"),
    ("eps < 0", lambda: B.log_weight_of_kl_ball(GRID.log_prior, jnp.zeros(3), -0.1), r"eps must be finite and >= 0, got \[-0\.1\]"),
    ("negative kl", lambda: B.weight_bound(GRID.log_prior, jnp.array([0.1, -1.0, 0.0]), 5), r"kl must be finite and >= 0"),
    ("negative truth", lambda: B.expected_regret(GRID, np.array([1.5, -0.5]), 5), r"truth_probs must hold probabilities in \[0, 1\]"),
    ("truth shape", lambda: B.expected_regret(GRID, np.array([0.2, 0.3, 0.5]), 5), r"truth_probs must have shape \(2,\)"),
    ("n < 1 weight bound", lambda: B.weight_bound(GRID.log_prior, jnp.zeros(3), 0), r"n must be >= 1, got 0"),
    ("q outside [0, 1]", lambda: B.kl_inverse_upper(1.2, 0.1), r"q must lie in \[0\.0, 1\.0\], got \[1\.2\]"),
    ("kl q above 1", lambda: B.kl_bernoulli(1.5, 0.5), r"q must lie in \[0\.0, 1\.0\], got \[1\.5\]"),
    ("kl q NaN", lambda: B.kl_bernoulli(np.array([0.2, np.nan]), 0.5), r"q must lie in \[0\.0, 1\.0\], got \[0\.2 +nan\]"),
    ("kl p below 0", lambda: B.kl_bernoulli(0.5, -0.25), r"p must lie in \[0\.0, 1\.0\], got \[-0\.25\]"),
    ("kl p NaN", lambda: B.kl_bernoulli(0.5, np.nan), r"p must lie in \[0\.0, 1\.0\], got \[nan\]"),
    ("delta outside (0, 1)", lambda: B.pac_bayes_kl_bound(0.1, 1.0, 100, 1.5), r"delta must lie in \(0\.0, 1\.0\), got \[1\.5\]"),
    ("unstable SGLD step", lambda: B.gaussian_stationary_variance(1.0, 5.0), r"step_size must lie in \(0\.0, 4\.0\), got \[5\.\]"),
    ("negative step sizes", lambda: B.sample_chain(B.sgld(lambda t, b: -t), jax.random.key(0), jnp.asarray(0.0),
                                                   jnp.zeros((2, 0)), jnp.array([0.1, -0.1])), r"step_sizes must be finite and > 0"),
    ("too many Lanczos steps", lambda: B.lanczos(lambda v: v, jax.random.key(0), 4, 5), r"num_iter must lie in \[1, dim = 4\], got 5"),
    ("no parameters", lambda: B.mean_of_uniforms_class(0), r"num_params must be an integer >= 1, got 0"),
    ("empty ensemble", lambda: B.ensemble_log_predictive(jnp.zeros((0, 3))), r"J >= 1 members, got J = 0"),
    ("gaussian d mismatch", lambda: B.gaussian_location_regret(B.gaussian_location_grid([0.0, 1.0]), [0.0, 0.0], 3),
     r"theta0 must have shape \(1,\)"),
    ("gaussian sigma", lambda: B.gaussian_location_grid([0.0], sigma=-1.0), r"sigma must be finite and > 0, got \[-1\.\]"),
    ("padding shrinks", lambda: B.pad_hypotheses(GRID, 2), r"num_hypotheses must be an integer >= 3, got 2"),
    ("gibbs rho", lambda: B.gibbs_free_energy(GRID.log_prior, jnp.zeros(3), jnp.zeros(3)),
     r"log_rho must normalise: .* got %s" % f"{math.log(3):.6g}"),
]


@pytest.mark.parametrize("call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
