"""Formula bugs planted in ``sensing/``, one at a time, by ``python -m tests.mutation.run --area sensing``.

Every module is covered: the algorithms (the issue's four named bugs among them), the losses, the
operators, the problem sampler (operator laws, truth, noise), the initialisations, the trace and
the theory's closed forms.
"""

from __future__ import annotations

from tests.mutation.mutation import Mutation

REFERENCE = "tests/sensing/test_sensing_reference.py"
OPERATORS = "tests/sensing/test_sensing_operators.py"
THEORY = "tests/sensing/test_sensing_theory.py"
INIT = "tests/sensing/test_sensing_init.py"

MUTATIONS: list[Mutation] = [
    # ------------------------------------------------------------------ algorithms
    Mutation(
        name="scaled_gd_swapped_preconditioners",
        file="sensing/algorithms.py",
        old="return f - eta * _right_solve(gf, gg, damping), gg - eta * _right_solve(gg_, f, damping)",
        new="return f - eta * _right_solve(gf, f, damping), gg - eta * _right_solve(gg_, gg, damping)",
        tests=(REFERENCE,),
        kind="swap",
    ),
    Mutation(
        name="subgm_step_shifted_by_one",
        file="sensing/algorithms.py",
        old="eta = geometric_schedule(_cast(step_size, x), _cast(decay, x))(t)",
        new="eta = geometric_schedule(_cast(step_size, x), _cast(decay, x))(t + 1)",
        tests=(REFERENCE,),
        kind="off-by-one",
    ),
    Mutation(
        name="precgd_damping_mean_square",
        file="sensing/algorithms.py",
        old="lam = jnp.maximum(jnp.sqrt(jnp.mean(r * r)), _cast(floor, x))",
        new="lam = jnp.maximum(jnp.mean(r * r), _cast(floor, x))",
        tests=(REFERENCE,),
        kind="exponent",
    ),
    Mutation(
        name="subgm_symmetric_factor_two_dropped",
        file="sensing/algorithms.py",
        old="d = 2.0 * d  # (Q + Q^T) X = 2 sym(Q) X",
        new="d = 1.0 * d  # (Q + Q^T) X = 2 sym(Q) X",
        tests=(REFERENCE,),
        kind="factor",
    ),
    Mutation(
        name="scaled_gd_damping_sign",
        file="sensing/algorithms.py",
        old="p = h.T @ h + damping * jnp.eye(k, dtype=h.dtype)",
        new="p = h.T @ h - damping * jnp.eye(k, dtype=h.dtype)",
        tests=(REFERENCE,),
        kind="sign",
    ),
    Mutation(
        name="geometric_schedule_grows",
        file="sensing/algorithms.py",
        old="return lambda t: base(t * -jnp.log(decay))",
        new="return lambda t: base(t * jnp.log(decay))",
        tests=(THEORY, REFERENCE),
        kind="sign",
    ),
    Mutation(
        name="asymmetric_loss_constant",
        file="sensing/algorithms.py",
        old="c = 4.0 if not isinstance(x, tuple) else 2.0",
        new="c = 4.0 if not isinstance(x, tuple) else 1.0",
        tests=(REFERENCE,),
        kind="factor",
    ),
    # ------------------------------------------------------------------ operators
    Mutation(
        name="packed_unpack_weight",
        file="sensing/operators.py",
        old="weight = np.full((n, n), 0.5)",
        new="weight = np.full((n, n), 1.0)",
        tests=(REFERENCE, OPERATORS),
        kind="factor",
    ),
    Mutation(
        name="completion_adjoint_rows_for_cols",
        file="sensing/operators.py",
        old="ztf = jax.ops.segment_sum(w[:, None] * f[op.rows], op.cols, num_segments=g.shape[0])",
        new="ztf = jax.ops.segment_sum(w[:, None] * f[op.cols], op.rows, num_segments=g.shape[0])",
        tests=(REFERENCE, OPERATORS),
        kind="index",
    ),
    Mutation(
        name="dense_measure_transposed",
        file="sensing/operators.py",
        old="return op.matrix @ (f @ g.T).reshape(-1)",
        new="return op.matrix @ (f @ g.T).T.reshape(-1)",
        tests=(REFERENCE, OPERATORS),
        kind="transpose",
    ),
    # ------------------------------------------------------------------ problem: operator laws, truth, noise
    Mutation(
        name="packed_offdiagonal_variance",
        file="sensing/problem.py",
        old="w = np.sqrt(packed_weights(n1))",
        new="w = packed_weights(n1)",
        tests=(REFERENCE, OPERATORS),
        kind="exponent",
    ),
    Mutation(
        name="rank_one_same_key_for_both_vectors",
        file="sensing/problem.py",
        old="return RankOne(jax.random.normal(ka, (m, n1), dtype), jax.random.normal(kb, (m, n2), dtype))",
        new="return RankOne(jax.random.normal(ka, (m, n1), dtype), jax.random.normal(ka, (m, n2), dtype))",
        tests=(OPERATORS,),
        kind="index",
    ),
    Mutation(
        name="completion_scale",
        file="sensing/problem.py",
        old="jnp.asarray(math.sqrt(n1 * n2), dtype)",
        new="jnp.asarray(math.sqrt(2 * n1 * n2), dtype)",
        tests=(OPERATORS,),
        kind="factor",
    ),
    Mutation(
        name="asymmetric_truth_right_factor_exponent",
        file="sensing/problem.py",
        old="v = _orthonormal(kv, n2, rank, dtype) * jnp.sqrt(s)",
        new="v = _orthonormal(kv, n2, rank, dtype) * s",
        tests=(OPERATORS,),
        kind="exponent",
    ),
    Mutation(
        name="outlier_default_magnitude",
        file="sensing/problem.py",
        old="mag = 10.0 * jnp.max(jnp.abs(y_clean))",
        new="mag = 1.0 * jnp.max(jnp.abs(y_clean))",
        tests=(OPERATORS,),
        kind="constant",
    ),
    # ------------------------------------------------------------------ initialisation
    Mutation(
        name="small_init_right_scale",
        file="sensing/init.py",
        old="beta = alpha / 3.0 if right_scale is None",
        new="beta = alpha / 2.0 if right_scale is None",
        tests=(INIT,),
        kind="constant",
    ),
    Mutation(
        name="spectral_init_bottom_eigenpairs",
        file="sensing/init.py",
        old="lam, v = lam[::-1][:k], v[:, ::-1][:, :k]",
        new="lam, v = lam[:k], v[:, :k]",
        tests=(INIT,),
        kind="index",
    ),
    # ------------------------------------------------------------------ trace
    Mutation(
        name="balance_gap_sign",
        file="sensing/run.py",
        old="return jnp.linalg.norm(f.T @ f - g.T @ g)",
        new="return jnp.linalg.norm(f.T @ f + g.T @ g)",
        tests=(REFERENCE,),
        kind="sign",
    ),
    # ------------------------------------------------------------------ theory
    Mutation(
        name="phi_outliers_constant",
        file="sensing/theory.py",
        old="tail = (e_norm / a) * math.sqrt(math.pi / 2.0) * erf(a / (math.sqrt(2.0) * e_norm))",
        new="tail = (e_norm / a) * math.sqrt(math.pi) * erf(a / (math.sqrt(2.0) * e_norm))",
        tests=(THEORY,),
        kind="constant",
    ),
    Mutation(
        name="spurious_eigenvalue_factor",
        file="sensing/theory.py",
        old="return s0 / (1.0 + 2.0 * step_size * s0 * t)",
        new="return s0 / (1.0 + step_size * s0 * t)",
        tests=(THEORY,),
        kind="factor",
    ),
    # ------------------------------------------------------------------ reading traces
    Mutation(
        name="fitted_rate_steps_not_centred",
        file="sensing/traces.py",
        old="dt = jnp.where(keep, t - t_bar, 0.0)",
        new="dt = jnp.where(keep, t, 0.0)",
        tests=("tests/sensing/test_sensing_subgm_measures.py",),
        kind="constant",
    ),
    Mutation(
        name="fitted_rate_sign",
        file="sensing/traces.py",
        old="return jnp.where(count >= min_records, -slope, jnp.nan)",
        new="return jnp.where(count >= min_records, slope, jnp.nan)",
        tests=("tests/sensing/test_sensing_subgm_measures.py",),
        kind="sign",
    ),
]
