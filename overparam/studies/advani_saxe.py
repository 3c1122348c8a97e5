"""Advani & Saxe 2017: generalization dynamics of gradient descent, linear and two-layer students.

Both students (:mod:`randfeat.two_layer`, docs/randfeat.md#two-layer-student) are trained by exact
gradient flow on one data set per seed, over signal-to-noise ratios ``snr`` and initial weight
variances ``init_var``: ``linear`` at every load ``a = P/N`` against the Marchenko-Pastur theory
(``theory``), ``student`` (a two-layer ReLU student with its output layer trained) at every width,
with GD checking the frozen subspace. Setups, sizes and claims in docs/studies/advani-saxe.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import overparam.study as st
import randfeat
from overparam import plot, sweep
from randfeat import two_layer as tl

PAPER = "Advani & Saxe 2017"
LINK = "https://arxiv.org/abs/1710.03667"
DATA_SEED = 2017
Z = 4.0  # Monte Carlo claims: within / beyond 4 standard errors of the seed mean
FROZEN_TOL = 1e-12  # |P_null(a_T - a_0)| / |a_T - a_0|: 0 up to round-off eps cond(K); seen 7.9e-14 (paper), 3e-14
AGREEMENT = 0.01  # finite-N allowance beyond Z s.e., relative to theory; unused so far: every deviation seen lies
#                   within Z s.e. (E_g excess -0.04% paper, -0.16% quick; the rise's finite-N bias, 1.3% of it at
#                   a <= 0.75 and up to 9% at a = 1 and N = 1000, stays within 3.7 s.e. at 50 seeds)


def _times(setup: st.Setup, t_max: float) -> np.ndarray:
    return np.geomspace(setup.t_min, t_max, setup.n_times)


def _vmap2(fn, setup: st.Setup):
    """``fn(snr, init_var)`` over the snr x init_var grid: outputs (S, I, ...)."""
    snr, init = jnp.asarray(setup.axes["snr"]), jnp.asarray(setup.axes["init_var"])
    return jax.vmap(lambda s: jax.vmap(lambda v: fn(s, v))(init))(snr)


def linear_point(config, key, setup: st.Setup) -> dict:
    """Exact gradient-flow curves of the linear student for one seed: every load (nested rows), snr, init_var."""
    del key  # the data depend on the seed only
    n, loads = setup.n_inputs, setup.axes["load"]
    p_max = round(max(loads) * n)
    kx, kw, k0, ke = jax.random.split(sweep.seed_key(jax.random.key(DATA_SEED), config["seed"]), 4)
    x = tl.gaussian_inputs(kx, p_max, n)
    w_bar = tl.linear_teacher(kw, n)
    z, eps = jax.random.normal(k0, (n,)), jax.random.normal(ke, (p_max,))
    times = jnp.asarray(_times(setup, setup.t_max))
    out = []
    for a in loads:  # static: the first a N rows, each load its own (primal or dual) eigenproblem
        xa, ea = x[: round(a * n)], eps[: round(a * n)]
        out.append(_vmap2(lambda s, v: tl.linear_flow_errors(xa, xa @ w_bar + ea / jnp.sqrt(s), w_bar,
                                                             jnp.sqrt(v) * z, times, 1.0 / s), setup))
    return {"test_error": jnp.stack([e.test for e in out]), "train_error": jnp.stack([e.train for e in out])}


def student_point(config, key, setup: st.Setup) -> dict:
    """The two-layer student for one seed at every width (nested units): curves, null-space error, GD's frozen drift."""
    del key
    p, n_in = setup.n_samples, setup.student_inputs
    kt, kx, kq, kw, ke, ka = jax.random.split(sweep.seed_key(jax.random.key(DATA_SEED + 1), config["seed"]), 6)
    teacher = tl.relu_teacher(kt, n_in, setup.teacher_hidden)
    x, xq = tl.gaussian_inputs(kx, p, n_in), tl.gaussian_inputs(kq, setup.n_test, n_in)
    f, fq = tl.teacher_outputs(teacher, x), tl.teacher_outputs(teacher, xq)
    weights = jax.random.normal(kw, (max(setup.axes["width"]), n_in))
    y, z = f + jax.random.normal(ke, (p,)), jax.random.normal(ka, (weights.shape[0],))  # z: unit-variance a0
    times = jnp.asarray(_times(setup, setup.student_t_max))
    out = {k: [] for k in ("test_error", "train_error", "null_space_error", "frozen_drift")}
    for w in setup.axes["width"]:  # static: the first w hidden units
        h, hq, zw = tl.student_features(weights[:w], x), tl.student_features(weights[:w], xq), z[:w]
        spec = tl.gram_spectrum(h)
        e = _vmap2(lambda s, v: tl.output_flow_errors(h, f + (y - f) / jnp.sqrt(s), hq, fq, jnp.sqrt(v) * zw,
                                                      times, 1.0 / s, spectrum=spec), setup)
        a = tl.train_output_layer(h, y, zw, 1.0 / jnp.sum(h * h), setup.gd_steps)  # eta = 1/tr K <= 1/s_max
        out["test_error"].append(e.test), out["train_error"].append(e.train)
        out["null_space_error"].append(tl.null_space_error(h, hq, spectrum=spec))
        drift = tl.null_space_component(h, a - zw, spectrum=spec)
        out["frozen_drift"].append(jnp.linalg.norm(drift) / jnp.linalg.norm(a - zw))
    return {k: jnp.stack(v) for k, v in out.items()}


def theory(setup: st.Setup) -> xr.Dataset:
    """Marchenko-Pastur E_g(t), E_t(t) (:func:`randfeat.advani_saxe_curves`) on the linear grid."""
    ax, t, dims = setup.axes, _times(setup, setup.t_max), ("load", "snr", "init_var", "time")
    c = np.array([[[randfeat.advani_saxe_curves(t, a, 1.0, v, 1.0 / s) for v in ax["init_var"]] for s in ax["snr"]]
                  for a in ax["load"]])  # (load, snr, init_var, 2, time)
    return xr.Dataset({"test_error": (dims, c[..., 0, :]), "train_error": (dims, c[..., 1, :])},
                      coords={**{k: list(ax[k]) for k in dims[:3]}, "time": t})


def check(setup: st.Setup) -> None:
    """Load 1 and width P inside their grids; every load gives an integer number >= 1 of rows."""
    loads, widths, p = setup.axes["load"], setup.axes["width"], setup.n_samples
    if not (min(loads) < 1.0 < max(loads) and 1.0 in loads):
        raise ValueError(f"axis load={loads} is not allowed; allowed: loads that hold 1 and values below and above it")
    if not (min(widths) < p < max(widths) and p in widths):
        raise ValueError(f"axis width={widths} is not allowed; allowed: widths that hold n_samples = {p} and values "
                         "below and above it")
    rows = [a * setup.n_inputs for a in loads]
    if any(abs(r - round(r)) > 1e-9 or r < 1 for r in rows):
        raise ValueError(f"axis load={loads} is not allowed with n_inputs = {setup.n_inputs}; allowed: loads with "
                         "load * n_inputs an integer >= 1")
    if 2 * p > max(widths):
        raise ValueError(f"axis width={widths} is not allowed; allowed: a largest width >= 2 n_samples = {2 * p}")


def _z(da: xr.DataArray) -> np.ndarray:
    """Seed mean over its standard error."""
    mean, se = plot.mean_sem(da)
    return (mean / se).values


def _overtraining(da: xr.DataArray) -> xr.DataArray:
    """Rise of the test error from its minimum over time to the end of training, ``E_g(T) - min_t E_g(t)``."""
    return da.isel(time=-1) - da.min("time")


def measure(data, setup: st.Setup) -> dict:
    """Over-training argmax, theory agreement, best early-stopping errors and their rises; the student's claims."""
    lin, th, nl = data["linear"], data["theory"], data["student"]
    mean, se = plot.mean_sem(lin["test_error"])
    tmean, tse = plot.mean_sem(lin["train_error"])
    over_sim, over_th = _overtraining(mean), _overtraining(th["test_error"])
    excess_g = (np.abs(mean - th["test_error"]) - Z * se) / th["test_error"]
    excess_t = (np.abs(tmean - th["train_error"]) - Z * tse) / th["train_error"].isel(time=0)  # E_t -> 0 below a=1
    best = lin["test_error"].isel(time=th["test_error"].argmin("time"))  # at the theory's best time
    rise = best.isel(init_var=-1) - best.isel(init_var=0)
    rise_th = th["test_error"].min("time").isel(init_var=-1) - th["test_error"].min("time").isel(init_var=0)
    rmean, rse = plot.mean_sem(rise.transpose("seed", "load", "snr"))
    shrink = rise.isel(load=0) - rise.isel(load=-1)
    p, widths = setup.n_samples, nl["width"].values
    smean = nl["test_error"].mean("seed")
    sbest = nl["test_error"].isel(time=smean.argmin("time")).isel(init_var=0)
    gain = sbest.sel(width=p) - sbest.isel(width=-1)
    final = nl["test_error"].isel(time=-1)
    wide = widths >= 2 * p
    frozen = (final.isel(init_var=-1) - final.isel(init_var=0)
              - setup.axes["init_var"][-1] * nl["null_space_error"]).sel(width=widths[wide])
    low = np.asarray(setup.axes["load"]) <= 1.0
    return {
        "load_argmax_sim": over_sim["load"].values[over_sim.argmax("load").values],
        "load_argmax_theory": over_th["load"].values[over_th.argmax("load").values],
        "overtraining_sim": over_sim.values, "overtraining_theory": over_th.values,
        "excess_test": float(excess_g.max()), "excess_train": float(excess_t.max()),
        "median_rel_test": float(np.median(np.abs(mean / th["test_error"] - 1))),
        "best_sim": best.mean("seed").values, "best_theory": th["test_error"].min("time").values,
        "rise_excess": ((np.abs(rmean - rise_th) - Z * rse) / rise_th).values[low],
        "rise_z": ((rmean - rise_th) / rse).values[low], "rise_sig": (rmean / rse).values[low],
        "rise_sim": rmean.values, "rise_theory": rise_th.values,
        "shrink_z": _z(shrink),
        "width_argmax": widths[_overtraining(smean).argmax("width").values],
        "student_overtraining": _overtraining(smean).values, "student_best": sbest.mean("seed").values,
        "gain_z": _z(gain),
        "frozen_drift": float(nl["frozen_drift"].sel(width=widths[widths > p]).max()),
        "null_space_z": _z(frozen), "null_space_error": nl["null_space_error"].mean("seed").values,
    }


def claims(m: dict, setup: st.Setup) -> list[st.Claim]:
    """Nine claims: two over-training peaks, theory agreement, three on initial weights, early stopping, frozen part."""
    ax, p = setup.axes, setup.n_samples
    cfg = [f"snr={s:g}, init_var={v:g}" for s in ax["snr"] for v in ax["init_var"]]
    snr_lab = [f"snr={s:g}" for s in ax["snr"]]
    low_pairs = [f"a={a:g}, {lab}" for a in ax["load"] if a <= 1.0 for lab in snr_lab]
    runs = f"{len(ax['seed'])} seeds"
    return [
        st.Claim("overtraining-worst-at-load-1", "over-training (final minus minimal test error over GD time) is worst "
                 "at load a = P/N = 1, in the simulation and the theory, at every SNR and initial variance",
                 np.concatenate([m["load_argmax_sim"].ravel(), m["load_argmax_theory"].ravel()]), "==", 1.0, "load",
                 f"argmax over a of the seed mean ({runs}, N = {setup.n_inputs})",
                 [f"sim {c}" for c in cfg] + [f"theory {c}" for c in cfg]),
        st.Claim("theory-agreement", f"the simulated test and training errors (N = {setup.n_inputs}) follow the "
                 "Marchenko-Pastur theory at every load, SNR, initial variance and time",
                 [m["excess_test"], m["excess_train"]], "<=", AGREEMENT, "of theory",
                 f"max (|sim - theory| - {Z:g} s.e.) / theory (E_t: / E_t(0)); median |sim/theory - 1| of E_g "
                 f"{m['median_rel_test']:.2%}", ("E_g", "E_t")),
        st.Claim("initial-weights-raise-best-error", "larger initial weights raise the best early-stopping error "
                 f"(init_var {ax['init_var'][-1]:g} vs {ax['init_var'][0]:g}) at every load a <= 1 and SNR",
                 m["rise_sig"], ">=", Z, "s.e.", "seed-mean rise / its s.e., at the theory's best stopping time",
                 low_pairs),
        st.Claim("initial-weight-rise-matches-theory", "at loads a <= 1 the rise of the best early-stopping error "
                 "with the initial variance equals the theory's", m["rise_excess"], "<=", AGREEMENT, "of theory",
                 f"(|sim - theory| - {Z:g} s.e.) / theory per load and SNR; (sim - theory) / s.e. from "
                 f"{np.min(m['rise_z']):.2f} to {np.max(m['rise_z']):.2f}", low_pairs),
        st.Claim("more-data-less-init-effect", f"more data decreases the effect of the initial weights: the rise is "
                 f"larger at a = {ax['load'][0]:g} than at a = {ax['load'][-1]:g}", m["shrink_z"], ">=", Z, "s.e.",
                 "paired difference of the rises over seeds / its s.e.", snr_lab),
        st.Claim("overtraining-worst-at-width-P", f"the two-layer student (only output weights trained) over-trains "
                 f"most when its hidden units match the samples, N_h = P = {p}, at every SNR and initial variance",
                 m["width_argmax"].ravel(), "==", p, "hidden units", f"argmax over widths of the seed mean ({runs})",
                 cfg),
        st.Claim("large-student-stops-lower", f"a much larger student (N_h = {ax['width'][-1]}) reaches a lower best "
                 f"early-stopping error than N_h = P = {p}", m["gain_z"], ">=", Z, "s.e.",
                 "paired difference over seeds / its s.e., init_var " + f"{ax['init_var'][0]:g}", snr_lab),
        st.Claim("frozen-subspace", "GD never moves the output weights in the null space of the hidden activations "
                 "(dimension N_h - P)", m["frozen_drift"], "<=", FROZEN_TOL, "relative",
                 f"max |P_null(a_T - a_0)| / |a_T - a_0| after {setup.gd_steps} GD steps, N_h > P"),
        st.Claim("null-space-error", "the frozen initial weights stay: at the end of training they add init_var * "
                 "mean |P_null h(x)|^2 to the test error", m["null_space_z"], "in", (-Z, Z), "s.e.",
                 "(final-error rise - prediction) / s.e. per width >= 2P and SNR",
                 [f"N_h={w}, {s}" for w in ax["width"] if w >= 2 * p for s in snr_lab]),
    ]


def figures(data, setup: st.Setup, m: dict) -> list[st.Figure]:
    """Linear: E_g and E_t vs time against theory, over-training and best E_g vs load; student: both vs width."""
    lin, th, ax_, p = data["linear"], data["theory"], setup.axes, setup.n_samples
    mid, v0, t = ax_["snr"][len(ax_["snr"]) // 2], ax_["init_var"][0], data["linear"]["time"].values
    j_mid, every, loads, widths = list(ax_["snr"]).index(mid), max(1, len(t) // 16), ax_["load"], ax_["width"]
    fig, axes = plot.figure(2, 2, width=5.0, height=4.0)
    for ax, var in ((axes[0, 0], "test_error"), (axes[0, 1], "train_error")):
        for j, a in enumerate(loads):
            mean, se = plot.mean_sem(lin[var].sel(load=a, snr=mid, init_var=v0), "seed")
            plot.error_bars(ax, t[::every], mean.values[::every], se.values[::every], f"a = {a:g}", color=f"C{j}",
                            markersize=3)
            plot.theory_line(ax, t, th[var].sel(load=a, snr=mid, init_var=v0).values, None, color=f"C{j}")
        ax.set(xscale="log", yscale="log", xlabel="gradient-flow time t", ylabel=var.replace("_", " "),
               title=f"linear student, snr = {mid:g}, init_var = {v0:g}")
    for k, (ax, key, cols, label) in enumerate(((axes[1, 0], "overtraining", ax_["snr"], "snr"),
                                                (axes[1, 1], "best", ax_["init_var"], "init_var"))):
        for j, c in enumerate(cols):
            sim, theo = (m[f"{key}_{w}"][:, j, 0] if k == 0 else m[f"{key}_{w}"][:, j_mid, j]
                         for w in ("sim", "theory"))
            ax.plot(loads, sim, "o", color=f"C{j}", label=f"simulation {label} = {c:g}")
            plot.theory_line(ax, loads, theo, "theory" if j == 0 else None, color=f"C{j}")
        ax.set(xscale="log", yscale="log" if k == 0 else "linear", xlabel="load a = P/N",
               ylabel="over-training E_g(T) - min E_g" if k == 0 else f"best early-stopping E_g, snr = {mid:g}")
    for ax in axes.ravel():
        ax.legend(fontsize=6)
    fig2, axes2 = plot.figure(1, 2, width=5.0, height=4.0)
    for j, s in enumerate(ax_["snr"]):
        axes2[0, 0].plot(widths, m["student_overtraining"][:, j, 0], "o-", color=f"C{j}", label=f"snr = {s:g}")
        axes2[0, 1].plot(widths, m["student_best"][:, j], "o-", color=f"C{j}", label=f"snr = {s:g}")
    for ax, label in ((axes2[0, 0], "over-training"), (axes2[0, 1], f"best early-stopping E_g, init_var {v0:g}")):
        ax.axvline(p, color="black", linestyle=":", label=f"N_h = P = {p}")
        ax.set(xscale="log", yscale="log", xlabel="hidden units N_h", ylabel=label, title="two-layer student")
        ax.legend(fontsize=6)
    dims = ("load", "snr", "init_var")
    lin_table = xr.Dataset({k: (dims, m[k]) for k in ("overtraining_sim", "overtraining_theory", "best_sim",
                                                       "best_theory")}, coords={k: list(ax_[k]) for k in dims})
    nl_table = xr.Dataset({"overtraining": (("width", "snr", "init_var"), m["student_overtraining"]),
                           "best_error": (("width", "snr"), m["student_best"])},
                          coords={"width": list(widths), "snr": list(ax_["snr"]), "init_var": list(ax_["init_var"])})
    return [st.Figure("linear_student", fig, f"Linear student (N = {setup.n_inputs}). Top: test and training error vs "
                      f"gradient-flow time (markers: mean +- s.e. over seeds) against the Marchenko-Pastur theory "
                      "(dashed), per load. Bottom left: over-training vs load per snr (init_var "
                      f"{v0:g}), simulation against theory, worst at a = 1. Bottom right: best early-stopping test "
                      "error vs load per initial variance, simulation against theory.", lin_table),
            st.Figure("two_layer_student", fig2, f"Two-layer ReLU student, output layer trained, P = {p} samples: "
                      "over-training (left) and the best early-stopping test error (right) vs hidden units, seed "
                      "means per snr; the dotted line is N_h = P.", nl_table)]


STUDY = st.Study(
    name="advani-saxe", paper=PAPER, link=LINK,
    description="linear and two-layer students under gradient flow: over-training peaks at P = N and N_h = P, "
                "initial weights, frozen subspace",
    settings={
        "n_inputs": st.Setting(400, paper=1000, low=2, doc="input dimension N of the linear student"),
        "t_min": st.Setting(0.05, low=0.0, low_open=True, doc="first recorded time"),
        "t_max": st.Setting(200.0, paper=1000.0, low=0.0, low_open=True, doc="end of training, linear student"),
        "student_t_max": st.Setting(3000.0, low=0.0, low_open=True, doc="end of training, two-layer student"),
        "n_times": st.Setting(40, paper=80, low=2, doc="recorded times (geometric)"),
        "n_samples": st.Setting(100, paper=300, low=2, doc="training samples P of the two-layer student"),
        "student_inputs": st.Setting(50, paper=100, low=1, doc="input dimension of the two-layer student"),
        "teacher_hidden": st.Setting(30, low=1, doc="hidden ReLUs of the teacher"),
        "n_test": st.Setting(500, paper=1000, low=1, doc="test examples of the two-layer student"),
        "gd_steps": st.Setting(100, paper=200, low=1, doc="GD steps of the frozen-subspace check"),
    },
    axes={
        "load": st.Axis((0.5, 1.0, 2.0), paper=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0), low=0.0, low_open=True,
                        high=16.0, min_count=3, doc="load a = P/N of the linear student"),
        "snr": st.Axis((1.0, 4.0, 16.0), low=0.0, low_open=True, doc="signal-to-noise ratio (label noise 1/snr)"),
        "init_var": st.Axis((0.0, 1.0), paper=(0.0, 0.5, 1.0), low=0.0, min_count=2, doc="initial weight variance"),
        "width": st.Axis((10, 25, 50, 75, 90, 100, 110, 150, 200, 400, 800),
                         paper=(30, 75, 150, 225, 270, 300, 330, 400, 600, 1200, 2400), integer=True, low=1,
                         min_count=3, doc="hidden units N_h of the two-layer student"),
        "seed": st.seeds(16, 50),
    },
    sweeps={  # one run per chunk: a batch of one runs LAPACK inline (docs/architecture.md#known-xla-cpu-deadlock)
        "linear": st.Sweep(linear_point, axes=("seed",), chunk_size=1,
                           out_dims={k: ("load", "snr", "init_var", "time") for k in ("test_error", "train_error")},
                           out_coords=lambda s: {"load": s.axes["load"], "snr": s.axes["snr"],
                                                 "init_var": s.axes["init_var"], "time": _times(s, s.t_max)}),
        "theory": st.Compute(theory),
        "student": st.Sweep(student_point, axes=("seed",), chunk_size=1,
                            out_dims={"test_error": ("width", "snr", "init_var", "time"),
                                      "train_error": ("width", "snr", "init_var", "time"),
                                      "null_space_error": ("width",), "frozen_drift": ("width",)},
                            out_coords=lambda s: {"width": s.axes["width"], "snr": s.axes["snr"],
                                                  "init_var": s.axes["init_var"], "time": _times(s, s.student_t_max)}),
    },
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
