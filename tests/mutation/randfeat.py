"""Formula bugs planted in ``randfeat/``, one at a time, by ``python -m tests.mutation.run --area randfeat``.

Every module with a formula is covered: the eigenframework (E0, the (z - q)/(k - q) ratio, the
bias, the training risk, the scalar equation's ridge), the power-law closed forms, the feature maps
and their kernels, the task constructors, the SVD ridge paths (filter factors, the nested-width QR
update, the lstsq cutoff), the Advani-Saxe curves and the Gaussian RF experiment.
"""

from __future__ import annotations

from tests.mutation.mutation import Mutation

_THEORY = ("tests/randfeat/test_randfeat_theory_reference.py", "tests/randfeat/test_randfeat_theory.py")
_POWERLAW = ("tests/randfeat/test_randfeat_powerlaw.py",)
_KERNELS = ("tests/randfeat/test_randfeat_kernel_quadrature.py", "tests/randfeat/test_randfeat_features_ridge.py")
_RIDGE = ("tests/randfeat/test_randfeat_ridge_precision.py", "tests/randfeat/test_randfeat_features_ridge.py")
_DYNAMICS = ("tests/randfeat/test_randfeat_dynamics_reference.py", "tests/randfeat/test_randfeat_dynamics.py")

MUTATIONS: list[Mutation] = [
    # ------------------------------------------------------------------ eigenframework (theory.py)
    Mutation(
        name="e0_sign_of_the_finite_width_term",
        file="randfeat/theory.py",
        old="den = 1.0 - q / n - s * ratio / n",
        new="den = 1.0 - q / n + s * ratio / n",
        tests=_THEORY,
        kind="sign",
    ),
    Mutation(
        name="width_ratio_z_for_q_in_denominator",
        file="randfeat/theory.py",
        old="ratio = s * inv_k / (1.0 - q * inv_k)",
        new="ratio = s * inv_k / (1.0 - z * inv_k)",
        tests=_THEORY,
        kind="index",
    ),
    Mutation(
        name="train_risk_first_power_of_one_minus_z_over_n",
        file="randfeat/theory.py",
        old="train = (1.0 - z / n) ** 2 * test",
        new="train = (1.0 - z / n) * test",
        tests=_THEORY,
        kind="exponent",
    ),
    Mutation(
        name="bias_one_minus_l_not_squared",
        file="randfeat/theory.py",
        old="z, q, bias, var = _sums(ell, ell * ell, one * one * v2, ell * one * v2)",
        new="z, q, bias, var = _sums(ell, ell * ell, one * v2, ell * one * v2)",
        tests=_THEORY,
        kind="exponent",
    ),
    Mutation(
        name="scalar_equation_ridge_over_2n",
        file="randfeat/theory.py",
        old="r = jnp.where(pos, ridge, 1.0) / n",
        new="r = jnp.where(pos, ridge, 1.0) / (2.0 * n)",
        tests=_THEORY,
        kind="factor",
    ),
    # ------------------------------------------------------------------ power-law closed forms
    Mutation(
        name="learnability_constant_missing_alpha",
        file="randfeat/powerlaw.py",
        old="return math.pi / (alpha * math.sin(math.pi / alpha))",
        new="return math.pi / math.sin(math.pi / alpha)",
        tests=_POWERLAW,
        kind="factor",
    ),
    Mutation(
        name="krr_constant_gamma_argument_sign",
        file="randfeat/powerlaw.py",
        old="a = (2.0 * alpha - beta + 1.0) / alpha",
        new="a = (2.0 * alpha - beta - 1.0) / alpha",
        tests=_POWERLAW,
        kind="sign",
    ),
    Mutation(
        name="optimal_fitting_ratio_alpha_beta_swapped_in_denominator",
        file="randfeat/powerlaw.py",
        old="return max(0.0, (alpha - beta) / (beta * (alpha - 1.0))) ** 2",
        new="return max(0.0, (alpha - beta) / (alpha * (beta - 1.0))) ** 2",
        tests=_POWERLAW,
        kind="swap",
    ),
    # ------------------------------------------------------------------ feature maps and kernels
    Mutation(
        name="erf_kernel_variance_without_factor_2",
        file="randfeat/features.py",
        old="s2 = 2.0 * std**2",
        new="s2 = std**2",
        tests=_KERNELS,
        kind="factor",
    ),
    Mutation(
        name="fourier_features_sqrt_1_over_k",
        file="randfeat/features.py",
        old="return jnp.sqrt(2.0 / k) * jnp.cos(x @ weights.frequencies.T + weights.phases)",
        new="return jnp.sqrt(1.0 / k) * jnp.cos(x @ weights.frequencies.T + weights.phases)",
        tests=_KERNELS,
        kind="factor",
    ),
    Mutation(
        name="gaussian_projection_lambda_not_sqrt",
        file="randfeat/features.py",
        old="return g * jnp.sqrt(lam) / jnp.sqrt(float(k))",
        new="return g * lam / jnp.sqrt(float(k))",
        tests=_KERNELS,
        kind="exponent",
    ),
    Mutation(
        name="relu_kernel_sign_of_the_cosine_term",
        file="randfeat/tasks.py",
        old="bracket = jnp.where(d < 0.5, series, jnp.sqrt(1.0 - cos**2) + d * cos)",
        new="bracket = jnp.where(d < 0.5, series, jnp.sqrt(1.0 - cos**2) - d * cos)",
        tests=_KERNELS,
        kind="sign",
    ),
    # ------------------------------------------------------------------ tasks
    Mutation(
        name="power_law_coefficients_i_to_minus_beta",
        file="randfeat/tasks.py",
        old="return Task(i ** (-float(alpha)), i ** (-0.5 * float(beta)), jnp.asarray(noise, dtype=float))",
        new="return Task(i ** (-float(alpha)), i ** (-float(beta)), jnp.asarray(noise, dtype=float))",
        tests=_POWERLAW,
        kind="exponent",
    ),
    Mutation(
        name="kernel_task_coefficients_untransposed_eigenvectors",
        file="randfeat/tasks.py",
        old="return Task(jnp.maximum(lam, 0.0), (u.T @ y) / jnp.sqrt(float(n)), jnp.asarray(noise, dtype=float))",
        new="return Task(jnp.maximum(lam, 0.0), (u @ y) / jnp.sqrt(float(n)), jnp.asarray(noise, dtype=float))",
        tests=("tests/randfeat/test_randfeat_empirical.py",),
        kind="transpose",
    ),
    # ------------------------------------------------------------------ ridge paths
    Mutation(
        name="ridge_filter_s_plus_delta",
        file="randfeat/ridge.py",
        old="den = s[:, None] ** 2 + ridges[None, :]\n    return jnp.where(live, s[:, None] / jnp.where(live, den, 1.0), 0.0)",
        new="den = s[:, None] + ridges[None, :]\n    return jnp.where(live, s[:, None] / jnp.where(live, den, 1.0), 0.0)",
        tests=_RIDGE,
        kind="exponent",
    ),
    Mutation(
        name="nested_width_qr_factor_not_transposed",
        file="randfeat/ridge.py",
        old='tri = jnp.linalg.qr(stacked.T, mode="r").T',
        new='tri = jnp.linalg.qr(stacked.T, mode="r")',
        tests=_RIDGE,
        kind="transpose",
    ),
    Mutation(
        name="lstsq_cutoff_at_sqrt_eps",
        file="randfeat/ridge.py",
        old="cutoff = jnp.finfo(dtype).eps * size * jnp.max(s)",
        new="cutoff = jnp.sqrt(jnp.finfo(dtype).eps) * size * jnp.max(s)",
        tests=_RIDGE,
        kind="constant",
    ),
    # ------------------------------------------------------------------ Advani-Saxe dynamics
    Mutation(
        name="training_curve_times_load",
        file="randfeat/dynamics.py",
        old="e_t = (decay * (l * (signal + init) + noise)) @ w / a + noise * jnp.maximum(1.0 - 1.0 / a, 0.0)",
        new="e_t = (decay * (l * (signal + init) + noise)) @ w * a + noise * jnp.maximum(1.0 - 1.0 / a, 0.0)",
        tests=_DYNAMICS,
        kind="factor",
    ),
    Mutation(
        name="discrete_gd_one_step_short",
        file="randfeat/dynamics.py",
        old="factor = (1.0 - step_size * lam) ** (t[:, None] / step_size)",
        new="factor = (1.0 - step_size * lam) ** (t[:, None] / step_size - 1.0)",
        tests=_DYNAMICS,
        kind="off-by-one",
    ),
    # ------------------------------------------------------------------ Gaussian RF experiment
    Mutation(
        name="experiment_test_mse_cross_term_factor",
        file="randfeat/experiment.py",
        old='test = jnp.einsum("rk,kl,rl->r", w, gram, w) - 2.0 * w @ cross + total',
        new='test = jnp.einsum("rk,kl,rl->r", w, gram, w) - w @ cross + total',
        tests=("tests/randfeat/test_randfeat_empirical.py",),
        kind="factor",
    ),
    # ------------------------------------------------------------------ fitting ratio: continuum limit, measured
    Mutation(
        name="power_law_limit_mode_counts_in_ratio_2",
        file="randfeat/fitting.py",
        old="counts = tuple(int(modes) // 4 ** j for j in reversed(range(levels)))",
        new="counts = tuple(int(modes) // 2 ** j for j in reversed(range(levels)))",
        tests=("tests/randfeat/test_randfeat_fitting.py",),
        kind="constant",
    ),
    Mutation(
        name="power_law_limit_second_size_off_by_one",
        file="randfeat/fitting.py",
        old="for i, size in enumerate((float(n), 2.0 * n)):",
        new="for i, size in enumerate((float(n), 2.0 * n + 1.0)):",
        tests=("tests/randfeat/test_randfeat_fitting.py",),
        kind="off-by-one",
    ),
    Mutation(
        name="measured_ratio_sem_without_sqrt_trials",
        file="randfeat/fitting.py",
        old="return MeasuredRatio(ratio, ratio * np.sqrt(var / tr.shape[0]), best)",
        new="return MeasuredRatio(ratio, ratio * np.sqrt(var), best)",
        tests=("tests/randfeat/test_randfeat_fitting.py",),
        kind="factor",
    ),
    Mutation(
        name="measured_ratio_population_variance",
        file="randfeat/fitting.py",
        old="var = (tr / tr.mean(0) - te / te.mean(0)).var(0, ddof=1)",
        new="var = (tr / tr.mean(0) - te / te.mean(0)).var(0, ddof=0)",
        tests=("tests/randfeat/test_randfeat_fitting.py",),
        kind="constant",
    ),
]
