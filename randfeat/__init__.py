"""Random-feature ridge regression: power-law tasks, feature maps, ridge paths and the eigenframework risk predictions.

Modules: :mod:`randfeat.tasks` (tasks in eigen-coordinates), :mod:`randfeat.theory` (the
eigenframework risk), :mod:`randfeat.powerlaw` (closed forms for power laws),
:mod:`randfeat.features` (random feature maps and limiting kernels), :mod:`randfeat.ridge`
(ridge paths), :mod:`randfeat.experiment` (the linear Gaussian RF experiment),
:mod:`randfeat.dynamics` (Advani-Saxe gradient-descent learning curves), :mod:`randfeat.two_layer`
(students trained by exact gradient flow: the linear student and a two-layer ReLU student).
"""

from randfeat.dynamics import (
    LearningCurves,
    advani_saxe_curves,
    gd_curves,
    marchenko_pastur_density,
    marchenko_pastur_quadrature,
)
from randfeat import two_layer
from randfeat.experiment import TrialErrors, gaussian_rf_trials
from randfeat.features import (
    FourierWeights,
    erf_features,
    erf_kernel,
    fourier_features,
    fourier_weights,
    gaussian_projection,
    gaussian_weights,
    linear_features,
    linear_kernel,
    rbf_kernel,
    relu_features,
)
from randfeat.powerlaw import (
    learnability_sum_constant,
    optimal_fitting_ratio,
    overfitting_threshold,
    ridgeless_gamma,
    ridgeless_krr_constant,
)
from randfeat.ridge import RidgePath, ridge_path, ridge_path_widths, ridge_weights, width_mask
from randfeat.tasks import Task, digits_data, digits_task, kernel_task, make_task, power_law_task, relu_nngp_kernel
from randfeat.theory import (
    OptimalRidge,
    RFRisk,
    krr_risk,
    learnabilities,
    optimal_ridge,
    rf_risk,
    ridgeless_risk,
)

__all__ = [
    "FourierWeights", "LearningCurves", "OptimalRidge", "RFRisk", "RidgePath", "Task", "TrialErrors",
    "advani_saxe_curves", "digits_data", "digits_task", "erf_features", "erf_kernel", "fourier_features",
    "fourier_weights", "gaussian_projection", "gaussian_rf_trials", "gaussian_weights", "gd_curves",
    "kernel_task", "krr_risk", "learnabilities", "learnability_sum_constant", "linear_features",
    "linear_kernel", "make_task", "marchenko_pastur_density", "marchenko_pastur_quadrature", "optimal_fitting_ratio", "optimal_ridge",
    "overfitting_threshold", "power_law_task", "rbf_kernel", "relu_features", "relu_nngp_kernel",
    "rf_risk", "ridge_path", "ridge_path_widths", "ridge_weights", "ridgeless_gamma", "ridgeless_krr_constant",
    "ridgeless_risk", "two_layer", "width_mask",
]
