"""overparam.analysis: each helper against a plain NumPy loop over the labelled grid."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from overparam import analysis
from sensing import traces


def _grid(rng: np.random.Generator) -> xr.DataArray:
    values = np.exp(rng.standard_normal((2, 4, 3)))
    return xr.DataArray(values, dims=("rank", "scale", "seed"),
                        coords={"rank": [1, 3], "scale": [0.1, 0.2, 0.4, 0.8], "seed": [0, 1, 2]})


def test_log_slope_is_polyfit_per_index_and_skips_bad_values():
    da = _grid(np.random.default_rng(0))
    da[0, 1, 2] = np.nan  # a run that never reached the tail
    da[1, 0, 0] = 0.0  # and one with no rate
    da[1, :3, 1] = -1.0  # only one value left: no slope
    got = analysis.log_slope(da, "scale")
    assert got.dims == ("rank", "seed") and list(got["rank"].values) == [1, 3]
    x = np.log(da.scale.values)
    for i in range(2):
        for s in range(3):
            y = da.values[i, :, s]
            keep = np.isfinite(y) & (y > 0)
            if keep.sum() < 2:
                assert np.isnan(got.values[i, s])
            else:
                assert got.values[i, s] == pytest.approx(np.polyfit(x[keep], np.log(y[keep]), 1)[0], rel=1e-12)


def test_log_slope_of_an_exact_power_law():
    alpha = np.array([0.14, 0.2, 0.28, 0.4])
    da = xr.DataArray(np.outer([2.0, 5.0], alpha**2), dims=("k", "alpha"), coords={"alpha": alpha})
    np.testing.assert_allclose(analysis.log_slope(da, "alpha"), [2.0, 2.0], rtol=1e-12)
    with pytest.raises(ValueError, match="positive"):
        analysis.log_slope(da.assign_coords(alpha=alpha - 0.2), "alpha")


def test_along_keeps_labels_and_matches_a_loop():
    rng = np.random.default_rng(1)
    steps = np.arange(0, 101, 10)
    e = np.exp(-np.outer(rng.uniform(0.01, 0.1, 6), steps)).reshape(2, 3, -1)
    da = xr.DataArray(e.transpose(2, 0, 1), dims=("step", "rank", "seed"),
                      coords={"step": steps, "rank": [2, 4], "seed": [0, 1, 2]})  # the record dim first
    got = analysis.along(traces.fitted_rate, da, "step", floor=0.0)
    assert got.dims == ("rank", "seed") and list(got["rank"].values) == [2, 4]
    for i in range(2):
        for s in range(3):
            want = -np.polyfit(steps, np.log(e[i, s]), 1)[0]
            assert float(got[i, s]) == pytest.approx(want, rel=1e-10)
    with pytest.raises(ValueError, match="dim='time'"):
        analysis.along(traces.fitted_rate, da, "time", floor=0.0)
    with pytest.raises(ValueError, match="returned shape"):
        analysis.along(lambda v, c: v, da, "step")


def test_span_and_finite():
    assert analysis.span([3.0, np.nan, 0.5, np.inf, 1.23456]) == "0.5 to 3"
    assert np.isnan(analysis.finite([np.nan, np.inf])).all()
    np.testing.assert_array_equal(analysis.finite([[1.0, np.nan], [2.0, 3.0]]), [1.0, 2.0, 3.0])
