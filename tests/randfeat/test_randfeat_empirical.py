"""The sandbox's own experiments against the theory and against the authors' measurements:
the linear Gaussian RF experiment on the "More is better" task, and kernel regression on the
digits task measured from real data."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from randfeat.experiment import gaussian_rf_trials
from randfeat.tasks import digits_data, kernel_task, power_law_task, relu_nngp_kernel
from randfeat.theory import krr_risk

DATA = Path(__file__).resolve().parents[1] / "data" / "more_is_better_rf_gaussian_subset.json"


def test_gaussian_rf_matches_authors_measurements():
    """n = 256, widths 31 and 100, ridges 1e-3, 1e-1, 1e1, 24 trials: |ours - theirs| <= 4 SE
    (SE of the difference of the two means, from both sets of trials)."""
    ref = json.loads(DATA.read_text())["n256"]
    ki, ri, trials = [5, 10], [0, 12, 24], 24
    widths = np.asarray(ref["k"], float)[ki]
    ridges = np.asarray(ref["ridge"])[ri]
    task = power_law_task(10_000, 1.5, 1.5, 0.5)
    out = gaussian_rf_trials(jax.random.key(2024), task, 256, widths, ridges, trials)
    ours = np.asarray(out.test_mse)
    theirs = np.asarray(ref["test_mse_mean"])[np.ix_(ki, ri)]
    their_se = np.asarray(ref["test_mse_std"])[np.ix_(ki, ri)] / np.sqrt(ref["trials"])
    our_se = ours.std(0, ddof=1) / np.sqrt(trials)
    z = (ours.mean(0) - theirs) / np.sqrt(our_se**2 + their_se**2)
    assert np.all(np.abs(z) < 4.0), z
    # training error against their measured train MSE, same criterion
    tr = np.asarray(out.train_mse)
    tr_theirs = np.asarray(ref["train_mse_mean"])[np.ix_(ki, ri)]
    assert np.all(np.abs(tr.mean(0) / tr_theirs - 1) < 4 * tr.std(0, ddof=1) / np.sqrt(trials) / tr_theirs + 0.02)


@pytest.fixture(scope="module")
def digits():
    x, y = digits_data(600)
    return x, y, kernel_task(x, y, relu_nngp_kernel)


def test_digits_task_is_an_exact_expansion(digits):
    x, y, task = digits
    lam = np.asarray(task.eigenvalues)
    assert np.all(np.diff(lam) <= 1e-15) and lam.min() >= 0
    kern = np.asarray(relu_nngp_kernel(jnp.asarray(x), jnp.asarray(x)))
    assert lam.sum() == pytest.approx(np.trace(kern) / len(y), rel=1e-10)
    assert float(jnp.sum(task.coefficients**2)) == pytest.approx(np.mean(y**2), rel=1e-10)


def test_digits_krr_learning_curve_matches_eigenframework(digits):
    """Kernel regression on n random points of the 600, tested on all 600 (the task's measure),
    averaged over draws, against krr_risk on the measured (lambda_i, v_i)."""
    x, y, task = digits
    kern = relu_nngp_kernel(jnp.asarray(x), jnp.asarray(x))
    ridge, draws = 1e-2, 24
    for n in (40, 160):
        def one(key):
            idx = jax.random.choice(key, len(y), (n,), replace=False)
            alpha = jnp.linalg.solve(kern[jnp.ix_(idx, idx)] + ridge * jnp.eye(n), jnp.asarray(y)[idx])
            return jnp.mean((kern[:, idx] @ alpha - y) ** 2)
        errs = np.asarray(jax.lax.map(one, jax.random.split(jax.random.key(n), draws)))
        theory = float(krr_risk(task, float(n), ridge).test)
        assert errs.mean() == pytest.approx(theory, rel=0.1)
