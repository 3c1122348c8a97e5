"""Figure helpers shared by the studies and usable on any sweep ``xarray.Dataset`` in a notebook.

Conventions (the same in every study figure):

* theory is drawn as lines (:func:`theory_line`), experiments as markers with error bars over
  seeds (:func:`error_bars`) or as curves with an error band over seeds (:func:`curves`);
* axes are labelled, and power laws are shown on log scales;
* :func:`save` writes PNG and SVG side by side.

Nothing here touches the global matplotlib state: :func:`figure` builds a
:class:`matplotlib.figure.Figure` directly (rendered by the Agg canvas on save), so the helpers
work the same in a script, a test and a Jupyter kernel with any backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["curves", "error_bars", "figure", "mean_sem", "save", "theory_line"]

FORMATS: tuple[str, ...] = ("png", "svg")


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.2, height: float = 3.4) -> tuple[Figure, np.ndarray]:
    """A new figure with an ``(nrows, ncols)`` object array of axes, each ``width x height`` inches.

    The figure uses the Agg canvas and is not registered with pyplot, so it never opens a window
    and never leaks between tests.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"nrows and ncols must be >= 1, got nrows={nrows}, ncols={ncols}")
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def mean_sem(da: xr.DataArray, dim: str = "seed") -> tuple[xr.DataArray, xr.DataArray]:
    """Mean and standard error of the mean of ``da`` over ``dim``, ignoring non-finite entries.

    ``sem = std(ddof=1) / sqrt(count)`` over the finite values along ``dim``; it is 0 where fewer
    than two finite values exist. If ``dim`` is not a dimension of ``da``, returns ``(da, 0)``.
    """
    if dim not in da.dims:
        return da, xr.zeros_like(da)
    finite = da.where(np.isfinite(da))
    count = finite.count(dim)
    mean = finite.mean(dim)
    std = finite.std(dim, ddof=1)
    sem = (std / np.sqrt(count.clip(min=1))).where(count > 1, 0.0)
    return mean, sem


def _format_value(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.3g}"
    return str(v.item() if hasattr(v, "item") else v)


def curves(
    ax: Axes,
    ds: xr.Dataset | xr.DataArray,
    var: str | None = None,
    *,
    x: str = "step",
    hue: str | None = None,
    over: str = "seed",
    band: bool = True,
    logx: bool = False,
    logy: bool = True,
    label: Callable[[object], str] | str | None = None,
    ylabel: str | None = None,
    **line_kwargs: object,
) -> list[object]:
    """Plot ``ds[var]`` against coordinate ``x``: one line per value of ``hue``, mean over ``over``.

    ``ds[var]`` (or ``ds`` itself when it is a DataArray) must have exactly the dimensions
    ``{x}``, ``{hue}`` (if given) and ``{over}`` (if present) -- select the other grid axes
    first (``ds.sel(rank=3)``). The line is the mean over ``over`` (seeds) and, when ``band``,
    the shaded band is mean +- one standard error (:func:`mean_sem`). ``label`` is a format
    string with ``{hue}`` and ``{value}`` fields, or a callable of the hue value. Returns the
    line artists.
    """
    da = ds if isinstance(ds, xr.DataArray) else ds[_require_var(ds, var)]
    name = var or (da.name if da.name is not None else "value")
    allowed = {x} | ({hue} if hue else set()) | {over}
    extra = [d for d in da.dims if d not in allowed]
    if x not in da.dims:
        raise ValueError(f"x={x!r} is not a dimension of {name!r}; its dimensions are {tuple(da.dims)}")
    if hue is not None and hue not in da.dims:
        raise ValueError(f"hue={hue!r} is not a dimension of {name!r}; its dimensions are {tuple(da.dims)}")
    if extra:
        raise ValueError(
            f"{name!r} has dimensions {tuple(extra)} besides x={x!r}, hue={hue!r} and over={over!r}; "
            f"select them first, e.g. ds.sel({extra[0]}=...)"
        )
    mean, sem = mean_sem(da, over)
    hue_values = list(mean[hue].values) if hue else [None]
    xs = np.asarray(mean[x].values, dtype=float)
    lines = []
    for value in hue_values:
        m = mean.sel({hue: value}) if hue else mean
        s = sem.sel({hue: value}) if hue else sem
        m = np.asarray(m.transpose(x).values, dtype=float)
        s = np.asarray(s.transpose(x).values, dtype=float)
        if callable(label):
            text = label(value)
        elif isinstance(label, str):
            text = label.format(hue=hue, value=_format_value(value))
        else:
            text = f"{hue} = {_format_value(value)}" if hue else str(name)
        keep = np.isfinite(m) & (m > 0 if logy else True) & (xs > 0 if logx else True)
        (line,) = ax.plot(xs[keep], m[keep], label=text, **line_kwargs)
        if band and np.any(s[keep] > 0):
            lo, hi = m - s, m + s
            if logy:
                lo = np.where(lo > 0, lo, m / 10.0)
            ax.fill_between(xs[keep], lo[keep], hi[keep], color=line.get_color(), alpha=0.2, linewidth=0)
        lines.append(line)
    _scales(ax, logx, logy)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or str(name))
    return lines


def theory_line(
    ax: Axes, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, label: str, **kwargs: object
) -> object:
    """Draw a theory prediction ``y(x)`` as a dashed line (experiments are markers; theory is a line)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got x {x.shape} and y {y.shape}")
    style: dict[str, object] = {"linestyle": "--", "linewidth": 1.6, "color": "black", "zorder": 3}
    style.update(kwargs)
    (line,) = ax.plot(x, y, label=label, **style)
    return line


def error_bars(
    ax: Axes,
    x: Sequence[float] | np.ndarray,
    mean: Sequence[float] | np.ndarray,
    sem: Sequence[float] | np.ndarray | None,
    label: str,
    **kwargs: object,
) -> object:
    """Draw measured means as markers with error bars of one standard error (``sem``, may be None)."""
    x, mean = np.asarray(x, dtype=float), np.asarray(mean, dtype=float)
    sem_arr = np.zeros_like(mean) if sem is None else np.asarray(sem, dtype=float)
    if not (x.shape == mean.shape == sem_arr.shape):
        raise ValueError(f"x, mean and sem must have the same shape, got {x.shape}, {mean.shape}, {sem_arr.shape}")
    style: dict[str, object] = {"fmt": "o", "markersize": 5, "capsize": 3, "linestyle": "none"}
    style.update(kwargs)
    return ax.errorbar(x, mean, yerr=sem_arr, label=label, **style)


def save(fig: Figure, out: str | Path, stem: str, *, dpi: int = 120) -> list[Path]:
    """Write ``fig`` as ``out/stem.png`` and ``out/stem.svg`` and return the two paths."""
    if not stem or "/" in stem:
        raise ValueError(f"stem must be a plain file name without '/', got {stem!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    paths = []
    for fmt in FORMATS:
        path = out / f"{stem}.{fmt}"
        fig.savefig(path, format=fmt, dpi=dpi)
        paths.append(path)
    return paths


def _require_var(ds: xr.Dataset, var: str | None) -> str:
    if var is None:
        raise ValueError("var is required when ds is a Dataset")
    if var not in ds.data_vars:
        raise ValueError(f"var={var!r} is not a variable of the dataset; it has {sorted(map(str, ds.data_vars))}")
    return var


def _scales(ax: Axes, logx: bool, logy: bool) -> None:
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
