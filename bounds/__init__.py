"""Bayesian mixture learners with log-loss: exact regret, the weight-of-the-KL-ball bound, SGLD ensembles.

Modules: ``classes`` (hypothesis classes as pytrees), ``regret`` (exact / quadrature / Monte Carlo
expected regret, chunked over hypotheses), ``weight_bound`` (the eps-curve), ``closed_forms``
(Beta-Bernoulli, Gaussian location, Clarke-Barron), ``mixture`` (posterior, Gibbs identity),
``sgld`` (SGLD and ensembles), ``pac_bayes``, ``coherence``, ``hessian``. See MATH.md section 3.
"""

from bounds.classes import (
    FiniteAlphabetClass,
    GaussianLocationClass,
    LogisticClass,
    bernoulli_beta_grid,
    bernoulli_grid,
    bernoulli_logit_kl,
    categorical_class,
    gaussian_kl_to_truth,
    gaussian_location_grid,
    gaussian_location_normal_grid,
    kl_to_truth,
    logistic_kl_to_truth,
    mean_of_uniforms_class,
    mean_of_uniforms_log_weights,
    pad_hypotheses,
    sampled_logistic_class,
)
from bounds.closed_forms import (
    JEFFREYS_BERNOULLI_CONSTANT,
    beta_bernoulli_log_marginal,
    beta_bernoulli_regret,
    clarke_barron_asymptote,
    gaussian_location_per_step_regret,
    gaussian_location_regret_closed_form,
    jeffreys_bernoulli_asymptote,
)
from bounds.coherence import gradient_coherence, per_example_gradients
from bounds.hessian import (
    LanczosResult,
    SpectralDensity,
    extreme_eigenvalues,
    flat_hvp,
    hessian_matrix,
    hvp,
    lanczos,
    spectral_density,
    tridiagonal_eigh,
)
from bounds.mixture import gibbs_free_energy, log_marginal_likelihood, log_posterior
from bounds.pac_bayes import kl_bernoulli, kl_inverse_upper, pac_bayes_kl_bound, pac_bayes_kl_rhs
from bounds.regret import (
    MonteCarloEstimate,
    SupervisedRegret,
    batch_regret,
    binomial_window,
    chunked_logsumexp,
    compositions,
    expected_regret,
    gaussian_location_regret,
    gaussian_location_regret_mc,
    per_step_regret,
    supervised_regret,
)
from bounds.sgld import (
    SGLD,
    SGLDState,
    ensemble_log_predictive,
    gaussian_stationary_variance,
    minibatch_gradient,
    polynomial_step_sizes,
    sample_chain,
    sgld,
)
from bounds.weight_bound import WeightBound, log_weight_of_kl_ball, weight_bound

__all__ = [name for name in dir() if not name.startswith("_") and name not in {"classes", "closed_forms",
           "coherence", "hessian", "mixture", "pac_bayes", "regret", "sgld", "weight_bound"}]
