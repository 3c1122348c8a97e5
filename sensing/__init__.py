"""Low-rank matrix sensing: operators, initialisations, GD / SubGM / ScaledGD / PrecGD and the rates the theory predicts.

Quick start::

    import jax, sensing
    problem = sensing.make_problem(jax.random.key(0), n=20, rank=2, m=400)
    x0 = sensing.small_init(jax.random.key(1), problem, k=4, scale=1e-3)
    trace = sensing.run(sensing.gd(0.2), problem, x0, steps=2000, record_every=100)
    trace.error  # ||X X^T - M*||_F / ||M*||_F every 100 steps
"""

from sensing import theory
from sensing.algorithms import (
    Algorithm,
    GDState,
    OptaxState,
    from_optax,
    gd,
    geometric_schedule,
    l1_loss,
    least_squares_gradient,
    least_squares_loss,
    precgd,
    rebalance,
    residual,
    scaled_gd,
    subgm,
)
from sensing.init import apply_mask, rank_mask, small_init, spectral_init
from sensing.operators import (
    Completion,
    DenseGaussian,
    PackedGaussian,
    RankOne,
    adjoint_apply,
    adjoint_matrix,
    dense_matrices,
    measure,
    num_measurements,
)
from sensing.problem import (
    GaussianNoise,
    Outliers,
    Problem,
    SymmetricTruth,
    Truth,
    gaussian_noise,
    is_symmetric,
    make_problem,
    outliers,
)
from sensing.run import Trace, balance_gap, estimate_singular_values, relative_error, run

__all__ = [
    "Algorithm", "Completion", "DenseGaussian", "GDState", "GaussianNoise", "OptaxState", "Outliers",
    "PackedGaussian", "Problem", "RankOne", "SymmetricTruth", "Trace", "Truth", "adjoint_apply",
    "adjoint_matrix", "apply_mask", "balance_gap", "dense_matrices", "estimate_singular_values",
    "from_optax", "gaussian_noise", "gd", "geometric_schedule", "is_symmetric", "l1_loss",
    "least_squares_gradient", "least_squares_loss", "make_problem", "measure", "num_measurements",
    "outliers", "precgd", "rank_mask", "rebalance", "relative_error", "residual", "run", "scaled_gd",
    "small_init", "spectral_init", "subgm", "theory",
]
