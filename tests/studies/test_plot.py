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


def _band_edges(collection) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge of a ``fill_between`` band, as the y values of its outline."""
    vertices = collection.get_paths()[0].vertices
    n = (len(vertices) - 3) // 2  # outline: a start point, the lower edge (n points), the upper edge back, closed
    return vertices[1 : n + 1, 1], vertices[n + 2 : 2 * n + 2, 1][::-1]


def test_curves_on_log_axes_plot_the_geometric_mean_and_log_space_quartiles(sweep_like: xr.Dataset) -> None:
    fig, axes = plot.figure()
    ax = axes[0, 0]
    lines = plot.curves(ax, sweep_like, "error", x="step", hue="init_scale")
    assert [ln.get_label() for ln in lines] == ["init_scale = 0.001", "init_scale = 0.01"]
    values = sweep_like["error"].values  # (init_scale, seed, step)
    for i, line in enumerate(lines):
        np.testing.assert_allclose(line.get_ydata(), np.exp(np.log(values[i]).mean(axis=0)), rtol=1e-13)
        np.testing.assert_allclose(line.get_xdata(), sweep_like.step.values)
        low, high = _band_edges(ax.collections[i])
        np.testing.assert_allclose(low, np.exp(np.quantile(np.log(values[i]), 0.25, axis=0)), rtol=1e-12)
        np.testing.assert_allclose(high, np.exp(np.quantile(np.log(values[i]), 0.75, axis=0)), rtol=1e-12)
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "step" and ax.get_ylabel() == "error"
    assert len(ax.collections) == 2  # one band per line


def test_curves_on_linear_axes_plot_mean_and_standard_error(sweep_like: xr.Dataset) -> None:
    fig, axes = plot.figure()
    ax = axes[0, 0]
    lines = plot.curves(ax, sweep_like, "error", hue="init_scale", logy=False)
    values = sweep_like["error"].values
    mean, sem = values.mean(axis=1), values.std(axis=1, ddof=1) / 2.0
    for i, line in enumerate(lines):
        np.testing.assert_allclose(line.get_ydata(), mean[i], rtol=1e-14)
        low, high = _band_edges(ax.collections[i])
        np.testing.assert_allclose(low, mean[i] - sem[i], rtol=1e-12)
        np.testing.assert_allclose(high, mean[i] + sem[i], rtol=1e-12)
    assert ax.get_yscale() == "linear"


def test_geometric_mean_band_against_numpy_and_its_exclusions() -> None:
    rng = np.random.default_rng(1)
    x = np.exp(rng.normal(size=(3, 5)) * 4)  # seeds spread over orders of magnitude
    x[0, 1], x[1, 2], x[2, 0] = np.nan, -1.0, 0.0  # non-finite and non-positive seeds are left out
    centre, low, high = plot.geometric_mean_band(xr.DataArray(x, dims=("t", "seed")), "seed", (0.1, 0.9))
    for row, c, lo, hi in zip(x, centre.values, low.values, high.values):
        logs = np.log(row[np.isfinite(row) & (row > 0)])
        assert c == pytest.approx(np.exp(logs.mean()), rel=1e-13)
        assert lo == pytest.approx(np.exp(np.quantile(logs, 0.1)), rel=1e-13)
        assert hi == pytest.approx(np.exp(np.quantile(logs, 0.9)), rel=1e-13)
    da = xr.DataArray([[np.nan, -2.0]], dims=("t", "seed"))
    assert np.isnan(plot.geometric_mean_band(da)[0].values).all()  # nothing valid: NaN, not 0 or an error
    with pytest.raises(ValueError, match="quantiles"):
        plot.geometric_mean_band(da, quantiles=(0.8, 0.2))


def test_log_band_is_centred_in_log_space_where_mean_and_sem_are_not() -> None:
    """Two seeds at 1e-2 and 1e-14: mean +- sem sits at 5e-3 with a bar down to 1e-14 (the old artefact);
    the log band is centred at their geometric mean 1e-8 with quartiles symmetric in log space."""
    steps = np.arange(3)
    da = xr.DataArray(np.array([[1e-2, 1e-3, 1e-4], [1e-14, 1e-15, 1e-16]]).T, dims=("step", "seed"),
                      coords={"step": steps})
    mean, sem = plot.mean_sem(da)
    # down to the low seed (5e-3 - 5e-3 cancels to 1e-14 with a relative error of 7e-5)
    np.testing.assert_allclose((mean - sem).values, da.min("seed").values, rtol=1e-3)
    np.testing.assert_allclose(mean.values, da.max("seed").values / 2, rtol=1e-6)  # centred on the high one
    fig, axes = plot.figure()
    line = plot.log_band(axes[0, 0], da, label="two seeds")
    centre = np.sqrt(da.values[:, 0] * da.values[:, 1])
    np.testing.assert_allclose(line.get_ydata(), centre, rtol=1e-13)
    low, high = _band_edges(axes[0, 0].collections[0])
    np.testing.assert_allclose(np.log(centre / low), np.log(high / centre), rtol=1e-12)  # symmetric in log
    np.testing.assert_allclose(np.log(high / low), 0.5 * np.log(da.values[:, 0] / da.values[:, 1]), rtol=1e-12)
    assert axes[0, 0].get_yscale() == "log"
    with pytest.raises(ValueError, match="select the others first"):
        plot.log_band(axes[0, 0], da.expand_dims(rank=[1, 2]))


def test_log_error_bars_span_the_quartiles_in_log_space() -> None:
    x = np.array([0.1, 0.2])
    da = xr.DataArray(np.array([[1e-3, 1e-1], [1.0, 1.0]]), dims=("alpha", "seed"))
    fig, axes = plot.figure()
    bars = plot.log_error_bars(axes[0, 0], x, da, "rates")
    segments = bars.lines[2][0].get_segments()
    q = lambda a, p: float(np.exp(np.quantile(np.log(a), p)))  # noqa: E731
    np.testing.assert_allclose([s[:, 1] for s in segments],
                               [[q([1e-3, 1e-1], 0.25), q([1e-3, 1e-1], 0.75)], [1.0, 1.0]], rtol=1e-12)
    np.testing.assert_allclose(bars.lines[0].get_ydata(), [1e-2, 1.0], rtol=1e-13)  # geometric means
    assert axes[0, 0].get_xscale() == axes[0, 0].get_yscale() == "log"
    with pytest.raises(ValueError, match="x has shape"):
        plot.log_error_bars(axes[0, 0], x[:1], da, "bad")


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


def test_figures_outside_a_kernel_are_not_held_by_pyplot() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig, axes = plot.figure(2, 3, width=2.0, height=1.5)
    assert not plot.inline_kernel()
    assert plt.get_fignums() == before  # pyplot never sees it: nothing to leak
    assert axes.shape == (2, 3) and tuple(fig.get_size_inches()) == (6.0, 3.0)
    fig._overparam_close()  # the engine's hook is harmless here
    with pytest.raises(ValueError, match="nrows"):
        plot.figure(0, 1)


@pytest.mark.parametrize("interactive", [False, True])
def test_kernel_figures_are_held_by_pyplot_and_closed_after_saving_unless_interactive(tmp_path, monkeypatch,
                                                                                     interactive) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plot, "inline_kernel", lambda: True)
    was = matplotlib.is_interactive()
    matplotlib.interactive(interactive)
    try:
        fig, axes = plot.figure()
        assert fig.number in plt.get_fignums()  # a pyplot figure: the inline backend shows it below the cell
        axes[0, 0].plot([1, 2], [3, 4])
        plot.save(fig, tmp_path, "kernel")
        assert (fig.number in plt.get_fignums()) is interactive
        fig2, _ = plot.figure()
        fig2._overparam_close()  # what the study engine calls after writing a figure
        assert (fig2.number in plt.get_fignums()) is interactive
    finally:
        matplotlib.interactive(was)
        plt.close("all")
    assert (tmp_path / "kernel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_figure_displays_inline_in_a_jupyter_kernel(monkeypatch) -> None:
    """Executed in a real kernel with the inline backend, a figure from plot.figure comes back as a PNG."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own default: the inline backend
    source = ("from overparam import plot\nfig, axes = plot.figure()\naxes[0, 0].plot([1, 2, 3])\n"
              "print(plot.inline_kernel())")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    assert any(o.get("output_type") == "stream" and "True" in o.get("text", "") for o in outputs), outputs
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs


def test_finish_sets_the_axes_and_the_legend() -> None:
    fig, axes = plot.figure(1, 2)
    for ax in axes[0]:
        ax.plot([1, 10], [1, 100], label="line")
    plot.finish(axes[0, 0], title="t", xlabel="x", ylabel="y", xscale="log", legend=6)
    plot.finish(axes[0, 1], legend=None, ylim=(0.5, 2.0))
    a, b = axes[0]
    assert (a.get_title(), a.get_xlabel(), a.get_ylabel(), a.get_xscale()) == ("t", "x", "y", "log")
    assert a.get_legend().get_texts()[0].get_fontsize() == 6
    assert b.get_legend() is None and b.get_ylim() == (0.5, 2.0)
    plot.close(fig)
