"""Formula bugs planted in ``bounds/``, one at a time, by ``python -m tests.mutation.run --area bounds``.

Each names the test files that should kill it. Every module with a formula is covered: Lanczos and
the spectral density, HVPs, SGLD and ensembles, exact regret, the weight bound, the closed forms,
PAC-Bayes-kl, gradient coherence and the class constructors.
"""

from __future__ import annotations

from tests.mutation.mutation import Mutation

_LANCZOS = ("tests/bounds/test_bounds_lanczos_dense.py", "tests/bounds/test_bounds_spectra.py")
_SGLD = ("tests/bounds/test_bounds_sgld_law.py", "tests/bounds/test_bounds_sgld.py")
_REGRET = ("tests/bounds/test_bounds_reference.py", "tests/bounds/test_bounds_regret.py")
_WEIGHT = ("tests/bounds/test_bounds_reference.py", "tests/bounds/test_bounds_weight.py")
_REFERENCE = ("tests/bounds/test_bounds_reference.py",)

MUTATIONS: list[Mutation] = [
    # ------------------------------------------------------------------ Hessian spectra
    Mutation(
        name="slq_uniform_gauss_weights",
        file="bounds/hessian.py",
        old="density = jnp.sum(kern * weights_a[None], axis=(1, 2)) / num_probes",
        new="density = jnp.sum(kern * (jnp.ones_like(weights_a) / weights_a.shape[1])[None], axis=(1, 2)) / num_probes",
        tests=_LANCZOS,
        kind="constant",
    ),
    Mutation(
        name="gauss_weights_last_row_not_first",
        file="bounds/hessian.py",
        old="return vals, vecs[0] ** 2",
        new="return vals, vecs[:, 0] ** 2",
        tests=_LANCZOS,
        kind="transpose",
    ),
    Mutation(
        name="extreme_eigenvalues_second_smallest",
        file="bounds/hessian.py",
        old="return vals[0], vals[-1]",
        new="return vals[1], vals[-1]",
        tests=_LANCZOS,
        kind="index",
    ),
    Mutation(
        name="lanczos_betas_shifted",
        file="bounds/hessian.py",
        old="return LanczosResult(alphas, betas[:-1], basis)",
        new="return LanczosResult(alphas, betas[1:], basis)",
        tests=_LANCZOS,
        kind="off-by-one",
    ),
    Mutation(
        name="hvp_returns_the_gradient",
        file="bounds/hessian.py",
        old="return jax.jvp(jax.grad(f), (params,), (v,))[1]",
        new="return jax.jvp(jax.grad(f), (params,), (v,))[0]",
        tests=_REFERENCE + _LANCZOS,
        kind="index",
    ),
    # ------------------------------------------------------------------ SGLD and ensembles
    Mutation(
        name="sgld_full_step_drift",
        file="bounds/sgld.py",
        old="lambda x, gx, nx: x + 0.5 * step_size * gx + jnp.sqrt(step_size) * nx",
        new="lambda x, gx, nx: x + step_size * gx + jnp.sqrt(step_size) * nx",
        tests=_SGLD,
        kind="factor",
    ),
    Mutation(
        name="sgld_one_key_for_every_leaf",
        file="bounds/sgld.py",
        old="for k, x in zip(keys, leaves)",
        new="for k, x in zip([keys[0]] * len(leaves), leaves)",
        tests=_SGLD,
        kind="index",
    ),
    Mutation(
        name="polynomial_steps_start_at_one",
        file="bounds/sgld.py",
        old="return a * (b + jnp.arange(t, dtype=jnp.result_type(float))) ** (-gamma)",
        new="return a * (b + 1 + jnp.arange(t, dtype=jnp.result_type(float))) ** (-gamma)",
        tests=_SGLD,
        kind="off-by-one",
    ),
    Mutation(
        name="ensemble_plus_log_members",
        file="bounds/sgld.py",
        old="return jax.nn.logsumexp(lp, axis=0) - math.log(lp.shape[0])",
        new="return jax.nn.logsumexp(lp, axis=0) + math.log(lp.shape[0])",
        tests=_SGLD,
        kind="sign",
    ),
    # ------------------------------------------------------------------ exact regret
    Mutation(
        name="multinomial_coefficient_gammaln_n",
        file="bounds/regret.py",
        old="log_coef = gammaln(n + 1) - jnp.sum(gammaln(counts + 1), axis=-1)",
        new="log_coef = gammaln(n) - jnp.sum(gammaln(counts + 1), axis=-1)",
        tests=_REGRET,
        kind="off-by-one",
    ),
    Mutation(
        name="predictive_log_ratio_inverted",
        file="bounds/regret.py",
        old="log_pred = log_q_next - log_q[..., None]",
        new="log_pred = log_q[..., None] - log_q_next",
        tests=_REGRET,
        kind="sign",
    ),
    # ------------------------------------------------------------------ weight bound
    Mutation(
        name="weight_bound_ties_take_the_first",
        file="bounds/weight_bound.py",
        old='last_of_tie = jnp.searchsorted(kl_sorted, kl_sorted, side="right") - 1',
        new='last_of_tie = jnp.searchsorted(kl_sorted, kl_sorted, side="left")',
        tests=_WEIGHT,
        kind="index",
    ),
    Mutation(
        name="agnostic_radius_plus_min_kl",
        file="bounds/weight_bound.py",
        old="eps = kl_sorted - min_kl if agnostic else kl_sorted",
        new="eps = kl_sorted + min_kl if agnostic else kl_sorted",
        tests=_WEIGHT,
        kind="sign",
    ),
    # ------------------------------------------------------------------ closed forms
    Mutation(
        name="beta_bernoulli_a_b_swapped",
        file="bounds/closed_forms.py",
        old="return _betaln(s + a, n - s + b) - _betaln(",
        new="return _betaln(s + b, n - s + a) - _betaln(",
        tests=_REGRET,
        kind="swap",
    ),
    Mutation(
        name="gaussian_per_step_variance_term_exponent",
        file="bounds/closed_forms.py",
        old="mse = (1 - shrink) ** 2 * t0[None, :] ** 2 + v**2 * m / s2",
        new="mse = (1 - shrink) ** 2 * t0[None, :] ** 2 + v * m / s2",
        tests=_REGRET,
        kind="exponent",
    ),
    Mutation(
        name="clarke_barron_full_log_det",
        file="bounds/closed_forms.py",
        old="+ 0.5 * log_det_fisher - log_prior_density",
        new="+ log_det_fisher - log_prior_density",
        tests=_REGRET,
        kind="factor",
    ),
    # ------------------------------------------------------------------ PAC-Bayes-kl
    Mutation(
        name="kl_bernoulli_second_term_sign",
        file="bounds/pac_bayes.py",
        old="second = jnp.where(q < 1, -(1 - q) * jnp.log1p((q - p) / safe_r), 0.0)",
        new="second = jnp.where(q < 1, -(1 - q) * jnp.log1p((p - q) / safe_r), 0.0)",
        tests=_REFERENCE + ("tests/bounds/test_bounds_spectra.py",),
        kind="sign",
    ),
    Mutation(
        name="pac_bayes_log_n_not_sqrt_n",
        file="bounds/pac_bayes.py",
        old="math.log(2 * math.sqrt(n) / delta)",
        new="math.log(2 * n / delta)",
        tests=_REFERENCE + ("tests/bounds/test_bounds_spectra.py",),
        kind="exponent",
    ),
    # ------------------------------------------------------------------ coherence, classes
    Mutation(
        name="coherence_square_of_sum",
        file="bounds/coherence.py",
        old="return jnp.sum(mean**2) / jnp.mean(jnp.sum(g**2, axis=1))",
        new="return jnp.sum(mean) ** 2 / jnp.mean(jnp.sum(g**2, axis=1))",
        tests=_REFERENCE + ("tests/bounds/test_bounds_spectra.py",),
        kind="exponent",
    ),
    Mutation(
        name="bernoulli_grid_columns_swapped",
        file="bounds/classes.py",
        old="_float(np.stack([np.log1p(-p), np.log(p)], axis=-1)), _log_prior_from(prior, p.size)",
        new="_float(np.stack([np.log(p), np.log1p(-p)], axis=-1)), _log_prior_from(prior, p.size)",
        tests=_REGRET,
        kind="swap",
    ),
]
