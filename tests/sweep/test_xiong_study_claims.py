"""The Xiong et al. study's measurements and claim logic on synthetic error curves with known rates."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from overparam.studies import xiong_sym_vs_asym as xiong

SETUP = xiong.SETUPS["quick"]
STEPS = np.arange(0, SETUP.steps + 1, SETUP.record_every)
AFTER = np.arange(0, SETUP.after_steps + 1, SETUP.after_every)
ALPHA = np.array([0.1, 0.2, 0.4])


def synthetic(asym_rate_of_alpha, sym_sublinear: bool = True) -> xr.Dataset:
    """Curves with closed-form rates: symmetric ~ 1/t (or geometric), asymmetric (1 - rho(alpha))^t."""
    shape = (2, 3, 2)
    rho = np.broadcast_to(asym_rate_of_alpha(ALPHA)[None, :, None], shape)
    t = STEPS.astype(float)
    sym_over = 1.0 / (2.0 * SETUP.step_size * (t + 1.0)) if sym_sublinear else 0.3 * 0.99**t
    sym = np.empty(shape + t.shape)
    sym[0] = 0.5 * 0.9**t  # k = r: linear
    sym[1] = sym_over
    asym = 1e-2 * (1.0 - rho[..., None]) ** t
    asym[0] = 0.5 * 0.9**t
    balanced = np.broadcast_to(1e-3 * np.exp(-0.2 * AFTER), shape + AFTER.shape)
    dims = ("rank", "init_scale", "seed")
    return xr.Dataset(
        {"sym_error": (dims + ("step",), sym), "asym_error": (dims + ("step",), asym),
         "balanced_error": (dims + ("step_after",), balanced.copy()),
         "predicted_rate": (dims, -np.log1p(-rho)), "diverged": (dims, np.zeros(shape, bool))},
        coords={"rank": [1, 3], "init_scale": ALPHA, "seed": [0, 1], "step": STEPS, "step_after": AFTER},
    )


@given(rho=st.floats(1e-4, 0.02), c=st.floats(1e-6, 1.0))  # >= 4 records above the floor
def test_fit_rate_recovers_a_geometric_rate(rho, c):
    e = c * (1.0 - rho) ** STEPS.astype(float)
    assert xiong.fit_rate(e, STEPS) == pytest.approx(-np.log1p(-rho), rel=1e-8)


def test_fit_rate_ignores_the_float64_floor_and_needs_four_points():
    e = np.maximum(1e-2 * 0.5 ** STEPS.astype(float), 1e-16)
    assert np.isnan(xiong.fit_rate(e, STEPS))  # 1e-2 * 0.5^30 < 1e-11 after one record
    e = np.maximum(1e-2 * 0.9 ** (STEPS / 30.0), 1e-16)
    assert xiong.fit_rate(e, STEPS) == pytest.approx(-np.log(0.9) / 30.0, rel=1e-10)


def test_claims_pass_on_curves_that_follow_the_theory():
    claims = xiong.evaluate_claims(synthetic(lambda a: 0.1 * a**2), SETUP)
    assert [c.passed for c in claims] == [True] * 5
    # measured exponent of rate ~ alpha^2 is 2 up to the (1 - rho) vs exp(-rho) difference
    exponent = float(claims[1].measured.split("= ")[1].split(" ")[0])
    assert exponent == pytest.approx(2.0, abs=0.02)
    assert "= 1.000" in claims[3].measured


def test_claims_fail_on_curves_that_contradict_it():
    claims = xiong.evaluate_claims(synthetic(lambda a: 0.02 * a, sym_sublinear=False), SETUP)
    passed = {c.claim.split(":")[0].split(" with")[0]: c.passed for c in claims}
    assert [c.passed for c in claims] == [False, False, True, True, True], passed
