"""overparam.plot: the plotted numbers are the seed means and standard errors of the dataset."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from overparam import plot


@pytest.fixture(scope="module")
def sweep_like() -> xr.Dataset:
    rng = np.random.default_rng(0)
    steps = np.arange(0, 50, 10)
    scale = np.array([1e-3, 1e-2])
    err = np.exp(-np.outer(scale * 100, steps))[:, None, :] * (1 + 0.1 * rng.standard_normal((2, 4, steps.size)))
    return xr.Dataset(
        {"error": (("init_scale", "seed", "step"), err)},
        coords={"init_scale": scale, "seed": np.arange(4), "step": steps},
    )


def test_mean_sem_matches_numpy(sweep_like: xr.Dataset) -> None:
    mean, sem = plot.mean_sem(sweep_like["error"], "seed")
    values = sweep_like["error"].values
    np.testing.assert_allclose(mean.values, values.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(sem.values, values.std(axis=1, ddof=1) / 2.0, rtol=1e-12)


def test_mean_sem_ignores_nonfinite() -> None:
    da = xr.DataArray([[1.0, 3.0, np.nan]], dims=("x", "seed"))
    mean, sem = plot.mean_sem(da, "seed")
    assert float(mean[0]) == 2.0
    assert float(sem[0]) == pytest.approx(np.std([1.0, 3.0], ddof=1) / np.sqrt(2))


def test_curves_plots_seed_means_one_line_per_hue(sweep_like: xr.Dataset) -> None:
    fig, axes = plot.figure()
    ax = axes[0, 0]
    lines = plot.curves(ax, sweep_like, "error", x="step", hue="init_scale")
    assert [ln.get_label() for ln in lines] == ["init_scale = 0.001", "init_scale = 0.01"]
    expected = sweep_like["error"].mean("seed").values
    for line, row in zip(lines, expected):
        np.testing.assert_allclose(line.get_ydata(), row, rtol=1e-14)
        np.testing.assert_allclose(line.get_xdata(), sweep_like.step.values)
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "step" and ax.get_ylabel() == "error"
    assert len(ax.collections) == 2  # one error band per line


def test_curves_rejects_unselected_axes(sweep_like: xr.Dataset) -> None:
    ds = sweep_like.expand_dims(rank=[1, 2])
    fig, axes = plot.figure()
    with pytest.raises(ValueError, match="rank"):
        plot.curves(axes[0, 0], ds, "error", hue="init_scale")
    with pytest.raises(ValueError, match="var='nope'"):
        plot.curves(axes[0, 0], sweep_like, "nope")


def test_theory_and_error_bars_and_save(tmp_path, sweep_like: xr.Dataset) -> None:
    fig, axes = plot.figure(1, 2)
    x = np.array([1.0, 2.0, 4.0])
    line = plot.theory_line(axes[0, 0], x, 1 / x, "1/t")
    np.testing.assert_allclose(line.get_ydata(), [1.0, 0.5, 0.25])
    assert line.get_linestyle() == "--"
    bars = plot.error_bars(axes[0, 1], x, [1.0, 2.0, 3.0], [0.1, 0.2, 0.3], "measured")
    segments = bars.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segments], [[0.9, 1.1], [1.8, 2.2], [2.7, 3.3]])
    with pytest.raises(ValueError, match="same shape"):
        plot.theory_line(axes[0, 0], x, [1.0], "bad")
    paths = plot.save(fig, tmp_path / "figs", "demo")
    assert [p.name for p in paths] == ["demo.png", "demo.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[1].read_bytes()[:2000]
