"""The SubGM study's measurements: crossing times, the noise-floor formula, and the claim logic
on synthetic sweeps whose answers are known (the real sweep runs in the study's notebook test)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from overparam.studies import ma_fattahi_subgm as subgm
from overparam.studies import registry

SETUP = subgm.SETUPS["quick"]
STEPS = np.arange(0, 2001, 20)
RANKS = (2, 4, 8)
ALPHAS = (1e-7, 1e-5, 1e-3, 1e-1)
FRACTIONS = (0.0, 0.3, 0.6)
NUS = (1e-3, 1e-2, 1e-1)


@given(rate=st.floats(1e-3, 5e-2), target=st.floats(1e-8, 0.5))
def test_iterations_to_is_exact_for_exponential_decay(rate: float, target: float) -> None:
    """For error(t) = exp(-rate t), log-linear interpolation gives the crossing log(1/target)/rate exactly."""
    error = np.exp(-rate * STEPS)
    expected = np.log(1.0 / target) / rate
    got = subgm.iterations_to(error[None, :], STEPS, target)[0]
    if expected > STEPS[-1]:
        assert got == np.inf
    else:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_noise_floor_theory_closed_form() -> None:
    # nu sqrt(n r / m) / sqrt(r) = nu sqrt(n / m)
    np.testing.assert_allclose(subgm.noise_floor_theory([0.1, 0.2], n=12, r=2, m=500), np.array([0.1, 0.2]) * np.sqrt(12 / 500), rtol=1e-15)


def synthetic(
    *, slow_rank: int | None = None, floor_scale: float = 0.1, floor_exponent: float = 0.5, noise_k_factor: float = 1.0
) -> tuple[xr.Dataset, xr.Dataset]:
    """Sweeps shaped like the study's: linear decay at the same rate for every k, a floor
    ``floor_scale alpha^floor_exponent`` for k > r (none for k = r), noise floor ``1.3 x theory``."""
    rank = np.array(RANKS)[:, None, None, None, None]
    alpha = np.array(ALPHAS)[None, :, None, None, None]
    seed = np.arange(3)[None, None, None, :, None]
    rate = np.where(rank == slow_rank, 0.006, 0.012) * (1 + 0.01 * seed)
    decay = np.exp(-rate * STEPS)
    floor = np.where(rank > SETUP.r, floor_scale * alpha**floor_exponent, 0.0)
    error = np.maximum(decay, floor) * np.ones((1, 1, len(FRACTIONS), 1, 1))
    outliers = xr.Dataset(
        {"error": (("rank", "init_scale", "outliers", "seed", "step"), error)},
        coords={"rank": list(RANKS), "init_scale": list(ALPHAS), "outliers": list(FRACTIONS), "seed": [0, 1, 2], "step": STEPS},
    )
    theory = subgm.noise_floor_theory(np.array(NUS), SETUP.n, SETUP.r, SETUP.m)
    k_factor = np.where(np.array(RANKS) > SETUP.r, noise_k_factor, 1.0)
    floors = 1.3 * k_factor[:, None, None] * theory[None, :, None] * np.ones((1, 1, 3))
    noise_error = np.concatenate([np.ones(floors.shape + (1,)), floors[..., None]], axis=-1)
    noise = xr.Dataset(
        {"error": (("rank", "noise", "seed", "step"), noise_error)},
        coords={"rank": list(RANKS), "noise": list(NUS), "seed": [0, 1, 2], "step": [0, 2000]},
    )
    return outliers, noise


def verdicts(outliers: xr.Dataset, noise: xr.Dataset) -> list[bool]:
    return [c.passed for c in subgm.evaluate_claims(outliers, noise, SETUP)]


def test_claims_pass_on_data_that_has_the_properties() -> None:
    claims = subgm.evaluate_claims(*synthetic(), SETUP)
    assert [c.passed for c in claims] == [True] * 5
    assert claims[1].measured.startswith("median over seeds and p of t(k) / t(r): 1.00 (k=4), 1.00 (k=8)")
    # crossing of exp(-0.012 t (1 + 0.01 s)) at 1e-3, median over seeds s = 0, 1, 2
    assert f"t(r) = {np.log(1e3) / (0.012 * 1.01):.0f} steps" in claims[1].measured
    assert "median log-log slope 0.50" in claims[2].measured
    assert "floor / theory 1.30" in claims[4].measured and "slope in nu 1.00" in claims[4].measured


def test_claims_fail_when_a_property_is_broken() -> None:
    assert verdicts(*synthetic(slow_rank=8)) == [True, False, True, True, True]
    # the floor falls as alpha grows, and stays below the stall level at the largest alpha
    assert verdicts(*synthetic(floor_scale=1e-4, floor_exponent=-0.1)) == [True, True, False, False, True]
    assert verdicts(*synthetic(noise_k_factor=2.0)) == [True, True, True, True, False]
    outliers, noise = synthetic()
    outliers["error"].loc[{"rank": 2, "outliers": 0.6, "seed": 1}] = 1e-4  # k = r stops short
    assert verdicts(outliers, noise)[0] is False


def test_registered_with_interface() -> None:
    study = registry()[subgm.STUDY.name]
    assert study.paper == "Ma & Fattahi 2022"
    assert max(study.axes("quick")["outliers"]) == 0.6
    assert SETUP.r in study.axes("quick")["rank"]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"width": [1]}, "unknown axis 'width'"),
        ({"rank": [4, 8]}, r"must contain r=2"),
        ({"outliers": [0.0, 1.0]}, r"outliers=\(0.0, 1.0\) must lie in \[0, 1\)"),
        ({"init_scale": [1e-3]}, "needs at least two values"),
        ({"rank": [2, 40]}, r"integers in \[1, n=12\]"),
    ],
)
def test_bad_overrides_raise_before_compiling(overrides, match) -> None:
    with pytest.raises(ValueError, match=match):
        subgm.run_sweeps("quick", overrides)
    with pytest.raises(ValueError, match="size must be one of"):
        subgm.run_sweeps("huge")
