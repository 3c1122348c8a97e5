"""Random-feature ridge regression: power-law tasks, feature maps, ridge paths and the eigenframework risk predictions."""

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
    "OptimalRidge",
    "RFRisk",
    "Task",
    "digits_data",
    "digits_task",
    "kernel_task",
    "krr_risk",
    "learnabilities",
    "make_task",
    "optimal_ridge",
    "power_law_task",
    "relu_nngp_kernel",
    "rf_risk",
    "ridgeless_risk",
]
