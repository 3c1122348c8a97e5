"""Figure helpers shared by the studies and usable on any sweep ``xarray.Dataset`` in a notebook.

Conventions (the same in every study figure):

* theory is drawn as lines (:func:`theory_line`), experiments as markers with error bars over
  seeds (:func:`error_bars`, :func:`log_error_bars`) or as curves with a band over seeds
  (:func:`curves`, :func:`log_band`);
* axes are labelled, and power laws are shown on log scales;
* on a log axis the spread over seeds is drawn in log space: the centre is the geometric mean and
  the band runs between quantiles (:func:`geometric_mean_band`), never mean +- standard error,
  whose lower end can fall far below every seed (or below zero) when the seeds differ by orders
  of magnitude;
* :func:`save` writes PNG and SVG side by side.

Where the figures go: in a Jupyter kernel whose matplotlib backend is the inline one,
:func:`figure` creates the figure through :mod:`matplotlib.pyplot`, so it is shown below the cell
that made it (as any pyplot figure is; ending the cell with ``fig`` shows it a second time).
Everywhere else (scripts, tests, sweeps, a kernel with ``MPLBACKEND=Agg``) it builds a
:class:`matplotlib.figure.Figure` with the Agg canvas that pyplot never sees: no window, no
global state, nothing kept alive after the last reference goes. :func:`save` (and the study
engine, through the figure's ``_overparam_close`` hook) closes a pyplot figure after writing it
unless matplotlib is in interactive mode, so a long sweep does not accumulate open figures.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["close", "curves", "error_bars", "figure", "geometric_mean_band", "inline_kernel", "log_band",
           "log_error_bars", "mean_sem", "save", "theory_line"]

FORMATS: tuple[str, ...] = ("png", "svg")


def inline_kernel() -> bool:
    """Whether this process is a Jupyter (IPython) kernel whose matplotlib backend is the inline one."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    backend = str(matplotlib.rcParams._get_backend_or_none() or "")  # None: not chosen yet (pyplot picks inline)
    return backend == "" or "inline" in backend.lower()


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.2, height: float = 3.4) -> tuple[Figure, np.ndarray]:
    """A new figure with an ``(nrows, ncols)`` object array of axes, each ``width x height`` inches.

    In a Jupyter kernel with the inline backend (:func:`inline_kernel`) the figure is made by
    ``pyplot.figure`` and shows below the cell; elsewhere it is a plain Agg figure that pyplot never
    sees (no window, no global state). Either way it saves the same, and :func:`close` (called by
    :func:`save` when matplotlib is not interactive) releases a pyplot one.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"nrows and ncols must be >= 1, got nrows={nrows}, ncols={ncols}")
    size = (width * ncols, height * nrows)
    if inline_kernel():
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=size, layout="constrained")
    else:
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)
    fig._overparam_close = lambda: _close_unless_interactive(fig)  # the study engine calls it after saving
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def close(fig: Figure) -> None:
    """Release ``fig`` from pyplot if pyplot holds it (a figure made in a kernel); otherwise nothing to do."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)  # a figure pyplot does not hold is left alone


def _close_unless_interactive(fig: Figure) -> None:
    if not matplotlib.is_interactive():
        close(fig)


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


def geometric_mean_band(
    da: xr.DataArray, dim: str = "seed", quantiles: tuple[float, float] = (0.25, 0.75)
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Geometric mean of ``da`` over ``dim`` and its ``quantiles``: the centre and band for a log axis.

    ``centre = exp(mean(log x))`` over the finite positive values along ``dim``; ``low``, ``high``
    are ``exp`` of the ``quantiles`` of ``log x`` (linear interpolation between the sorted logs,
    i.e. geometric interpolation between seeds). Entries with no finite positive value are NaN.
    Centre and band always lie between the smallest and largest seed, which ``mean -+ sem`` does
    not; with two seeds the centre is the band's middle in log space, with more it may fall
    outside the quantile band of a skewed sample. If ``dim`` is not a dimension of ``da``, returns
    ``(da, da, da)``.
    """
    q_low, q_high = quantiles
    if not 0.0 <= q_low <= q_high <= 1.0:
        raise ValueError(f"quantiles={quantiles!r} must satisfy 0 <= low <= high <= 1")
    if dim not in da.dims:
        return da, da, da
    logs = np.log(da.where(np.isfinite(da) & (da > 0)))
    with warnings.catch_warnings():  # an entry without a valid seed is NaN, said above; no warning for it
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.exp(logs.mean(dim))
        low = np.exp(logs.quantile(q_low, dim=dim).drop_vars("quantile"))
        high = np.exp(logs.quantile(q_high, dim=dim).drop_vars("quantile"))
    return centre, low, high


def log_band(
    ax: Axes,
    da: xr.DataArray,
    x: str = "step",
    *,
    over: str = "seed",
    label: str | None = None,
    quantiles: tuple[float, float] = (0.25, 0.75),
    **line_kwargs: object,
) -> object:
    """Draw ``da`` against coordinate ``x`` on a log y axis: the geometric mean over ``over`` and a quantile band.

    ``da`` must have the dimensions ``{x}`` and, optionally, ``{over}``. The line is
    :func:`geometric_mean_band`'s centre, the shaded band its ``quantiles``; non-positive points
    are left out. Sets the y scale to log and returns the line.
    """
    extra = [d for d in da.dims if d not in (x, over)]
    if x not in da.dims or extra:
        raise ValueError(f"log_band needs dimensions ({x!r}[, {over!r}]), got {tuple(da.dims)}; "
                         "select the others first")
    centre, low, high = (np.asarray(a.transpose(x).values, dtype=float)
                         for a in geometric_mean_band(da, over, quantiles))
    xs = np.asarray(da[x].values, dtype=float)
    keep = np.isfinite(centre) & (centre > 0)
    (line,) = ax.plot(xs[keep], centre[keep], label=label, **line_kwargs)
    if over in da.dims and da.sizes[over] > 1:
        ax.fill_between(xs[keep], low[keep], high[keep], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    return line


def log_error_bars(
    ax: Axes,
    x: Sequence[float] | np.ndarray,
    da: xr.DataArray,
    label: str,
    *,
    over: str = "seed",
    quantiles: tuple[float, float] = (0.25, 0.75),
    **kwargs: object,
) -> object:
    """Markers at the geometric mean of ``da`` over ``over`` with bars from its ``quantiles`` (log axes).

    ``da`` has the dimension ``over`` and one more, of the length of ``x``. Sets both scales to log.
    """
    centre, low, high = (np.asarray(a.values, dtype=float) for a in geometric_mean_band(da, over, quantiles))
    x = np.asarray(x, dtype=float)
    if not (x.shape == centre.shape):
        raise ValueError(f"x has shape {x.shape} but the geometric mean over {over!r} has shape {centre.shape}")
    yerr = np.clip(np.stack([centre - low, high - centre]), 0.0, None)  # a skewed sample: no bar on that side
    style: dict[str, object] = {"fmt": "o", "markersize": 5, "capsize": 3, "linestyle": "none"}
    style.update(kwargs)
    bars = ax.errorbar(x, centre, yerr=np.where(np.isfinite(yerr), yerr, 0.0), label=label, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return bars


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
    quantiles: tuple[float, float] = (0.25, 0.75),
    **line_kwargs: object,
) -> list[object]:
    """Plot ``ds[var]`` against coordinate ``x``: one line per value of ``hue``, centred over ``over``.

    ``ds[var]`` (or ``ds`` itself when it is a DataArray) must have exactly the dimensions
    ``{x}``, ``{hue}`` (if given) and ``{over}`` (if present) -- select the other grid axes
    first (``ds.sel(rank=3)``). On a log y axis (``logy``) the line is the geometric mean over
    ``over`` (seeds) and, when ``band``, the shaded band runs between the ``quantiles``
    (:func:`geometric_mean_band`); on a linear axis they are the mean and mean +- one standard
    error (:func:`mean_sem`). ``label`` is a format
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
    if logy:
        mean, lower, upper = geometric_mean_band(da, over, quantiles)
    else:
        mean, sem = mean_sem(da, over)
        lower, upper = mean - sem, mean + sem
    hue_values = list(mean[hue].values) if hue else [None]
    xs = np.asarray(mean[x].values, dtype=float)
    lines = []
    for value in hue_values:
        m, lo, hi = (np.asarray((a.sel({hue: value}) if hue else a).transpose(x).values, dtype=float)
                     for a in (mean, lower, upper))
        if callable(label):
            text = label(value)
        elif isinstance(label, str):
            text = label.format(hue=hue, value=_format_value(value))
        else:
            text = f"{hue} = {_format_value(value)}" if hue else str(name)
        keep = np.isfinite(m) & (m > 0 if logy else True) & (xs > 0 if logx else True)
        (line,) = ax.plot(xs[keep], m[keep], label=text, **line_kwargs)
        if band and np.any(hi[keep] > lo[keep]):
            ax.fill_between(xs[keep], lo[keep], hi[keep], color=line.get_color(), alpha=0.2, linewidth=0)
        lines.append(line)
    _scales(ax, logx, logy)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or str(name))
    return lines


def finish(ax: Axes, *, legend: float | None = 7, **props: object) -> None:
    """Set the axes' properties (``title``, ``xlabel``, ``ylabel``, ``xscale``, ``ylim``, ...) and draw
    the legend in ``legend``-point type (none if ``legend`` is None)."""
    ax.set(**props)
    if legend is not None:
        ax.legend(fontsize=legend)


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
    """Write ``fig`` as ``out/stem.png`` and ``out/stem.svg`` and return the two paths.

    A figure pyplot holds (one made in a kernel) is closed afterwards unless matplotlib is in
    interactive mode, so scripts and sweeps do not accumulate open figures.
    """
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
    _close_unless_interactive(fig)
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
