"""The SubGM study (docs/studies/ma-fattahi-subgm.md): its measurements and claims on synthetic sweeps whose
answers are known, each claim failing on data that lacks its property, validation before compiling, a
reduced end-to-end run, and the paper size (slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

import overparam.study as st
from overparam.studies import ma_fattahi_subgm as subgm
from sensing import theory

STUDY = subgm.STUDY
SETUP = STUDY.plan("quick")
STEPS = np.arange(0, SETUP.steps + 1, SETUP.record_every)
NAMES = {"exact", "k-independent", "alpha-monotone", "linear-rate", "large-init-slow", "noise-floor-constant",
         "noise-floor-k", "noise-floor-slope", "dense-outliers", "truth-not-minimiser"}


def _coords(**axes: object) -> dict[str, object]:
    return {**{k: list(v) for k, v in axes.items()}, "step": STEPS}


def synthetic(*, slow_over: float = 1.0, exact_floor: float = 5e-8, large_rate: bool = False, mid_floor: float | None = None,
              floor_constant: float = 1.02, k_factor: float = 1.0, nu_power: float = 1.0,
              dense_drop: float = -1e-3) -> dict[str, xr.Dataset]:
    """Sweeps shaped like the study's, with the properties the paper states (knobs break one each).

    Outliers: error ``min(1, 1e-2 rho^(t - 500))`` (``slow_over``: k > r at that fraction of the rate),
    floored at ``exact_floor`` for k = r and at ``1e-3 (alpha / 0.1)^(1/2)`` for k > r (``mid_floor`` at
    the middle alpha).
    Noise: final error ``floor_constant * k_factor [k > r] * theory * (nu / nu_0)^(nu_power - 1)``.
    Dense: exact from a small start; from M* the loss ends ``dense_drop`` (relative) below M*'s.
    """
    ax, rho = SETUP.axes, SETUP.decay
    rank = np.array(ax["rank"])[:, None, None, None, None]
    alpha = np.array(ax["init_scale"])[None, :, None, None, None]
    seed = np.arange(len(ax["seed"]))[None, None, None, :, None]
    speed = np.where(rank > SETUP.r, slow_over, 1.0) * (1 + 0.001 * seed)
    decay = np.minimum(1.0, 1e-2 * rho ** (speed * (STEPS - 500.0)))
    floor = np.where(rank > SETUP.r, 1e-3 * np.sqrt(alpha / 0.1), exact_floor) * np.ones(rank.shape)
    if mid_floor is not None:
        floor[1:, 1] = mid_floor
    if large_rate:  # large init converging linearly like small init
        floor = np.where((rank > SETUP.r) & (alpha == alpha.max()), exact_floor, floor)
    error = np.maximum(decay, floor) * np.ones((1, 1, len(ax["outliers"]), 1, 1))
    outliers = xr.Dataset({"error": (("rank", "init_scale", "outliers", "seed", "step"), error)},
                          coords=_coords(rank=ax["rank"], init_scale=ax["init_scale"], outliers=ax["outliers"],
                                         seed=ax["seed"]))
    nus = np.array(ax["noise"])
    level = floor_constant * subgm.floor_theory(nus, SETUP) * (nus / nus[0]) ** (nu_power - 1)
    k = np.where(np.array(ax["rank"]) > SETUP.r, k_factor, 1.0)
    final = k[:, None, None] * level[None, :, None] * (1 + 0.01 * np.arange(len(ax["seed"])))[None, None, :]
    noise_err = np.concatenate([np.ones(final.shape + (len(STEPS) - 1,)), final[..., None]], axis=-1)
    noise = xr.Dataset({"error": (("rank", "noise", "seed", "step"), noise_err)},
                       coords=_coords(rank=ax["rank"], noise=ax["noise"], seed=ax["seed"]))
    shape = (len(ax["dense_outliers"]), len(ax["dense_rank"]), 2, len(ax["seed"]))
    start = np.arange(2)[None, None, :, None, None]
    d_err = np.where(start == 0, np.maximum(decay[0, 0, 0, 0], exact_floor), 0.3) * np.ones(shape + (len(STEPS),))
    truth_loss = np.full(shape, 10.0)
    loss = 10.0 * (1 + np.where(start == 1, dense_drop * np.minimum(1.0, STEPS / 100.0), 1e-9)) * np.ones(d_err.shape)
    dims = ("dense_outliers", "dense_rank", "start", "seed")
    dense = xr.Dataset({"error": (dims + ("step",), d_err), "loss": (dims + ("step",), loss),
                        "truth_loss": (dims, truth_loss)},
                       coords=_coords(dense_outliers=ax["dense_outliers"], dense_rank=ax["dense_rank"], start=(0, 1),
                                      seed=ax["seed"]))
    return {"outliers": outliers, "noise": noise, "dense": dense}


def verdicts(data: dict[str, xr.Dataset]) -> dict[str, bool]:
    return {c.name: c.passed for c in subgm.claims(subgm.measure(data, SETUP), SETUP)}


def test_claims_pass_with_the_known_numbers_on_data_that_has_the_properties() -> None:
    m = subgm.measure(synthetic(), SETUP)
    claims = subgm.claims(m, SETUP)
    assert {c.name for c in claims} == NAMES
    assert all(c.passed for c in claims), [c.name for c in claims if not c.passed]
    # same decay law for every k: paired iterations equal; the seed factor 1 + 0.001 s gives t(r) exactly
    np.testing.assert_allclose(m["iteration_ratio"], 1.0, rtol=1e-12)
    speed = 1 + 0.001 * np.arange(len(SETUP.axes["seed"]))
    crossing = 500 + math.log(1e-2 / subgm.TARGET) / (-math.log(SETUP.decay) * speed)
    assert m["iterations_exact"] == pytest.approx(np.median(crossing), rel=1e-9)
    # error 1e-2 rho^(speed (t - 500)) from 1e-3 to 1e-6: rate -speed log rho, median over seeds
    np.testing.assert_allclose(m["rate_small"], np.median(speed), rtol=1e-9)
    np.testing.assert_array_equal(m["rate_large"], 0.0)  # floored at 1e-3 > 1e-6: stalled
    # alpha 1e-12 -> 1e-6: the floor 1e-3 (1e-5)^(1/2) over the seed median of 1e-2 rho^((1 + 0.001 s)(T - 500))
    # (4 seeds: the mean of the middle two), smaller than the step 1e-6 -> 0.1, (1e5)^(1/2)
    tail = [1e-2 * SETUP.decay ** ((1 + 0.001 * s) * (STEPS[-1] - 500)) for s in (1, 2)]
    assert m["alpha_step_ratio"] == pytest.approx(1e-3 * math.sqrt(1e-5) / np.mean(tail), rel=1e-9)
    seeds = 1 + 0.01 * np.arange(len(SETUP.axes["seed"]))
    np.testing.assert_allclose(m["floor_over_theory"], 1.02 * np.sqrt(np.mean(seeds**2)), rtol=1e-12)  # seed RMS
    np.testing.assert_allclose(m["floor_slope"], 1.0, atol=1e-12)
    np.testing.assert_allclose(m["dense_loss_change"], -1e-3, rtol=1e-9)


@pytest.mark.parametrize("knob, failing", [
    ({"slow_over": 0.6}, {"k-independent", "linear-rate", "alpha-monotone"}),  # slower than the alpha floor
    ({"exact_floor": 2e-6}, {"exact", "dense-outliers", "linear-rate"}),  # never reaches the rate band's 1e-6
    ({"large_rate": True}, {"large-init-slow", "alpha-monotone"}),
    ({"mid_floor": 2e-3}, {"alpha-monotone"}),
    ({"floor_constant": 2 / math.pi}, {"noise-floor-constant"}),  # sqrt(2/pi) in place of sqrt(pi/2)
    ({"floor_constant": math.pi / 2 * 1.02}, {"noise-floor-constant"}),  # pi/2 in place of its root
    ({"k_factor": 1.05}, {"noise-floor-k"}),
    ({"nu_power": 0.9}, {"noise-floor-slope"}),
    ({"dense_drop": 1e-4}, {"truth-not-minimiser"}),
])
def test_each_claim_fails_on_data_without_its_property(knob: dict, failing: set[str]) -> None:
    got = verdicts(synthetic(**knob))
    assert {name for name, ok in got.items() if not ok} == failing


def test_floor_theory_is_the_library_floor_over_the_norm_of_m_star() -> None:
    """C nu sqrt(n r / m) / sqrt(r) with C = sqrt(pi d / (2 n r)), d = n r - r(r-1)/2, at the quick size."""
    n, r, m = SETUP.n, SETUP.r, SETUP.m
    d = n * r - r * (r - 1) / 2
    expected = 0.03 * math.sqrt(math.pi * d / (2 * m)) / math.sqrt(r)
    assert float(subgm.floor_theory(np.array([0.03]), SETUP)[0]) == pytest.approx(expected, rel=1e-12)
    assert float(theory.subgm_floor_constant(n, r)) == pytest.approx(math.sqrt(math.pi * d / (2 * n * r)), rel=1e-12)


@pytest.mark.parametrize("overrides, match", [
    ({"rank": (4, 12)}, "must contain r=2"),
    ({"rank": (2,)}, "rank has 1 value"),
    ({"rank": (2, 13)}, "no k above n=12"),
    ({"dense_rank": (1, 13)}, "dense_rank"),
    ({"outliers": (0.0, 1.0)}, "outliers value 1.0 is out of range"),
    ({"noise": (-0.1, 0.1)}, "noise value -0.1 is out of range"),
    ({"start": (0, 2)}, "start value 2 is out of range"),
    ({"init_scale": (0.0, 0.1)}, "init_scale value 0.0 is out of range"),
    ({"record_every": 7}, "multiple of record_every"),
    ({"decay": 1.0}, "decay=1.0 is out of range"),
    ({"steps_typo": 5}, "unknown axis or setting"),
])
def test_bad_axes_and_settings_raise_before_compiling(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        STUDY.plan("quick", overrides)


REDUCED = {"rank": (2, 12), "init_scale": (1e-12, 1e-1), "outliers": (0.0, 0.6), "noise": (1e-2, 1e-1),
           "dense_outliers": (0.8,), "seed": (0, 1)}


def test_reduced_quick_run_passes_every_claim(tmp_path) -> None:
    """The whole pipeline (3 sweeps, measure, claims, figures) on a reduced quick grid (30 s of CPU on 2 cores)."""
    result = st.run_study(STUDY, out=tmp_path / "mf", overrides=REDUCED)
    assert {c.name for c in result.claims} == NAMES
    assert result.passed, [(c.name, c.claim.measured_text()) for c in result.claims if not c.passed]
    assert {f["name"] for f in result.figures} == {"error_vs_step", "iterations_and_floor", "dense"}


@pytest.mark.slow
def test_paper_size_passes_every_claim(tmp_path) -> None:
    """The paper size (n = 40, r = 3, m = 9600; dense n = 20, m = 2500): 42 min on 2 heavily shared cores."""
    result = st.run_study(STUDY, out=tmp_path / "mf", size="paper")
    assert {c.name for c in result.claims} == NAMES
    assert result.passed, [(c.name, c.claim.measured_text()) for c in result.claims if not c.passed]
