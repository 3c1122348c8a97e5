"""Sagun et al. 2017 and Chatterjee & Zielinski 2022: Hessian bulk and outliers; gradient coherence.

The model is :mod:`bounds.two_layer` (docs/bounds.md#two-layer-network): ``K`` Gaussian clusters
labelled ``+-1`` by parity, a two-layer tanh network of width ``h`` (``P = h (d + 2)``) from a
mirrored start (``f = 0``), GD then Gauss-Newton steps to a global minimum of the squared loss.

* Sagun et al. (docs/bounds.md#gauss-newton-split): at a global minimum ``H = J^T J / n``, so at
  least ``P - n`` eigenvalues vanish and the bulk at zero grows with the width; the spectrum has
  exactly ``K`` outliers above the bulk edge ``lambda_1(G_w) + ||H - G||``; Lanczos on
  Hessian-vector products gives the extreme eigenvalues of the dense Hessian.
* Chatterjee & Zielinski (docs/bounds.md#coherence-and-gd-speed): at the start the mean coherence
  of random labels is exactly ``1/n``, the cluster labels' is higher, and GD fits the cluster labels
  faster than random ones over its first ``early_steps`` steps.

The grid is ``width x clusters x seed``, one sweep: every width is stored at the largest width with
a unit mask (exact, docs/bounds.md#two-layer-network), so one program serves the grid. The data
and the start of a run depend on its seed only, so the widths and cluster counts of a seed share
them; its random labels come from the run's own key, so their Monte Carlo errors are independent
across runs. Sizes (docs/studies/sagun-chatterjee.md): the papers' networks (MNIST-scale)
do not fit a dense Hessian on this CPU, so both sizes sit where the argument holds: ``P > n``
(a global minimum exists and the rank bound ``P - n`` is not empty), ``K <= d`` orthogonal cluster
means, widths spanning a factor 4. Paper size: d = 16, n = 64, widths 16-64 (P = 288-1152, at
least 4.5 n), K = 2-8 clusters, 6 seeds; at width 8 (P = 2.25 n) an outlier sinks below the bulk
edge in 3 of 30 runs and Gauss-Newton stalls at L ~ 1e-19 in 2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import bounds
import overparam.study as st
from bounds import two_layer as tl
from overparam import plot, sweep

PAPER = "Sagun et al. 2017; Chatterjee & Zielinski 2022"
LINK = "https://arxiv.org/abs/1706.04454"
RESIDUAL_TOL = 1e-10  # ||H - G|| / lambda_max at a global minimum: 0 up to round-off (~P eps ~ 1e-13)
ROUNDOFF = 1e-10  # eigvalsh round-off allowance in the bulk count, relative to lambda_max
NEAR_ZERO = 1e-6  # |lambda| <= NEAR_ZERO lambda_max counts as the bulk at zero
LANCZOS_TOL = 1e-8  # |Lanczos - dense| / lambda_max: round-off ~1e-15 plus unconverged Ritz values
Z_LIMIT = 4.0  # Monte Carlo claims: within / beyond 4 standard errors
EARLY_RECORDS = 5  # loss and coherence at EARLY_RECORDS + 1 steps 0..early_steps
DATA_SEED = 2017


def point(config, key, setup: st.Setup) -> dict:
    """Train one network of the grid and analyse it: spectrum, Lanczos, coherence, early GD on real vs random labels."""
    widths, kmax = setup.axes["width"], max(setup.axes["clusters"])
    max_width = max(widths)
    mask = tl.unit_mask(config["width"], max_width)
    kd, ki, kz = jax.random.split(sweep.seed_key(jax.random.key(DATA_SEED), config["seed"]), 3)
    kl = key  # data, start and Lanczos probe: from the seed (shared by its widths and K); labels: from the run
    data = tl.cluster_data(kd, setup.n_train, setup.dim, config["clusters"], max_clusters=kmax,
                           spread=setup.spread, radius=setup.radius)
    params0 = tl.init_params(ki, config["width"], setup.dim, max_width=max_width)
    real, random = tl.coherence_at_init(params0, data, kl, setup.label_draws, mask)
    labels = jnp.concatenate([data.y[None], tl.random_signs(jax.random.fold_in(kl, 1), setup.early_draws,
                                                            setup.n_train)])  # row 0: the real labels
    early = jax.vmap(lambda y: tl.early_training(params0, data.x, y, setup.early_steps, setup.learning_rate,
                                                 EARLY_RECORDS, mask))(labels)
    params, losses = tl.train(params0, data, setup.steps, setup.learning_rate, setup.newton_steps, mask)
    spec = tl.hessian_spectrum(params, data, kmax, mask)
    spec, params = jax.lax.optimization_barrier((spec, params))  # Lanczos' eigh after the dense ones
    matvec, dim = bounds.flat_hvp(lambda q: tl.squared_loss(q, data.x, data.y, mask), params)
    lo, hi = bounds.extreme_eigenvalues(matvec, kz, dim, setup.lanczos_iter)
    return {"eigenvalues": spec.eigenvalues, "residual_norm": spec.residual_norm, "within_top": spec.within_top,
            "between": spec.between, "num_params": spec.num_params, "final_loss": losses[-1],
            "coherence_real": real, "coherence_random": jnp.mean(random),
            "coherence_random_sem": jnp.std(random, ddof=1) / np.sqrt(setup.label_draws),
            "lanczos_min": lo, "lanczos_max": hi,
            "early_loss_real": early.loss[0], "early_loss_random": early.loss[1:].T,
            "early_coherence_real": early.coherence[0], "early_coherence_random": early.coherence[1:].T}


def check(setup: st.Setup) -> None:
    """Cross-checks: even widths with P >= n; K <= min(n, d); Lanczos within P; early steps a multiple of records."""
    widths, ks = setup.axes["width"], setup.axes["clusters"]
    if any(w % 2 for w in widths):
        raise ValueError(f"axis width={widths} is not allowed; allowed: even integers (mirrored start)")
    p_min = tl.num_params(min(widths), setup.dim)
    if p_min < setup.n_train:
        raise ValueError(f"axis width={widths}: the smallest width has P = {p_min} < n_train = {setup.n_train} "
                         "parameters; allowed: P >= n_train, so that a global minimum exists")
    if max(ks) > min(setup.n_train, setup.dim):
        raise ValueError(f"axis clusters={ks} is out of range; allowed: integers in [1, min(n_train, dim) = "
                         f"{min(setup.n_train, setup.dim)}]")
    if setup.lanczos_iter > p_min:
        raise ValueError(f"setting lanczos_iter={setup.lanczos_iter} is out of range; allowed: <= P = {p_min}")
    if setup.early_steps % EARLY_RECORDS or setup.early_steps > setup.steps:
        raise ValueError(f"setting early_steps={setup.early_steps} is not allowed; allowed: a multiple of "
                         f"{EARLY_RECORDS} and <= steps = {setup.steps}")


def measure(data, setup: st.Setup) -> dict:
    """Per run: bulk counts and fractions, outliers above the edge, Lanczos error; coherence and early losses."""
    ds = data["main"]
    eig, p, n = ds["eigenvalues"].values, ds["num_params"].values, setup.n_train  # eig (W, K, S, P_max)
    top, residual = eig[..., 0], ds["residual_norm"].values
    edge = ds["within_top"].values + residual
    valid = np.isfinite(eig)
    absval = np.where(valid, np.abs(eig), np.inf)
    ks = ds["clusters"].values
    outliers = np.sum(valid & (eig > edge[..., None]), axis=-1)
    near_count = np.sum(absval <= (NEAR_ZERO * top)[..., None], axis=-1)
    near = near_count / p
    k = np.broadcast_to(ks[None, :, None], top.shape)
    lam_k, lam_k1 = (np.take_along_axis(eig, j[..., None], -1)[..., 0] for j in (k - 1, k))
    gap = lam_k / np.abs(lam_k1)
    rand, sem = ds["coherence_random"].values, ds["coherence_random_sem"].values
    real = ds["coherence_real"].values
    early_real, early_random = ds["early_loss_real"].values[..., -1], ds["early_loss_random"].values[..., -1, :]
    return {
        "num_params": p[:, 0, 0], "relative_residual": residual / top, "final_loss": ds["final_loss"].values,
        "bulk_surplus": np.sum(absval <= (residual + ROUNDOFF * top)[..., None], axis=-1) - (p - n),
        "near_zero": near, "bulk_margin": (near_count - (p - n)) / p, "mean_near_zero": near.mean(axis=(1, 2)),
        "outliers": outliers, "outlier_excess": outliers - ks[None, :, None], "gap": gap, "edge": edge,
        "lanczos_error": np.maximum(np.abs(ds["lanczos_min"].values - np.nanmin(eig, axis=-1)),
                                    np.abs(ds["lanczos_max"].values - top)) / top,
        "random_mean": rand.mean(), "random_sem": np.sqrt(np.sum(sem**2)) / rand.size,
        "real_z": (real - rand) / sem, "coherence_ratio": real / rand,
        "early_ratio": early_random.min(axis=-1) / early_real, "early_real": early_real,
    }


def claims(m: dict, setup: st.Setup) -> list[st.Claim]:
    """Nine claims: minimum, bulk rank and fraction, growth with P, K outliers, Lanczos, the coherences, early GD."""
    n, runs = setup.n_train, m["final_loss"].size
    z = Z_LIMIT
    random_z = (m["random_mean"] - 1.0 / n) / m["random_sem"]
    widths = ", ".join(f"h={w} (P={int(p)})" for w, p in zip(setup.axes["width"], m["num_params"]))
    return [
        st.Claim("global-minimum", "GD then Gauss-Newton reach a global minimum, where the Hessian is the Gauss-Newton "
                 "matrix J^T J / n", m["relative_residual"], "<=", RESIDUAL_TOL, "of lambda_max",
                 f"||H - G||_2 / lambda_max in each of {runs} runs; max final loss {m['final_loss'].max():.1e}"),
        st.Claim("bulk-rank", f"at least P - n eigenvalues of the exact Hessian are zero (rank of J^T J <= n = {n})",
                 m["bulk_surplus"], ">=", 0, "eigenvalues",
                 "#(|lambda| <= ||H - G|| + 1e-10 lambda_max) - (P - n), each run"),
        st.Claim("bulk-fraction", f"the bulk at zero (|lambda| <= {NEAR_ZERO:g} lambda_max) holds at least a fraction "
                 "1 - n/P of the spectrum", m["bulk_margin"], ">=", 0.0, "",
                 "(#near zero - (P - n)) / P, each run (the fraction minus 1 - n/P, from integer counts)"),
        st.Claim("bulk-grows-with-width", "more parameters merely scale the bulk: its fraction grows with P",
                 np.diff(m["mean_near_zero"]), ">", 0.0, "",
                 f"change of the mean fraction from width to width; {widths}"),
        st.Claim("outliers-equal-clusters", "the number of eigenvalues above the bulk edge lambda_1(G_w) + ||H - G|| "
                 "equals the number of clusters K", m["outlier_excess"], "==", 0, "eigenvalues",
                 f"outliers - K, each run; min lambda_K / |lambda_(K+1)| = {np.min(m['gap']):.1f}"),
        st.Claim("lanczos-matches-dense", f"Lanczos ({setup.lanczos_iter} steps on Hessian-vector products) gives the "
                 "extreme eigenvalues of the dense Hessian", m["lanczos_error"], "<=", LANCZOS_TOL, "of lambda_max",
                 "max(|Lanczos - dense| at lambda_min, lambda_max) / lambda_max, each run"),
        st.Claim("random-label-coherence", f"with random labels at the start (f = 0) the mean gradient coherence is "
                 f"1/n = {1 / n:.4g}", random_z, "in", (-z, z), "s.e.",
                 f"mean {m['random_mean']:.5f} +- {m['random_sem']:.5f} over {runs} networks x "
                 f"{setup.label_draws} draws"),
        st.Claim("real-label-coherence", "the gradients are more coherent with the real (cluster) labels than with "
                 "random labels, on the same inputs and network", m["real_z"], ">=", z, "s.e.",
                 f"(alpha_real - mean alpha_random) / s.e., each run; alpha_real / alpha_random: min "
                 f"{m['coherence_ratio'].min():.1f}, median {np.median(m['coherence_ratio']):.1f}"),
        st.Claim("real-labels-fit-faster", f"coherent gradients fit faster: after the first {setup.early_steps} GD "
                 f"steps from the same start the loss is lower with the real labels than with each of "
                 f"{setup.early_draws} random label vectors", m["early_ratio"], ">", 1.0, "",
                 f"min over draws of L_random / L_real, each run; L_real median {np.median(m['early_real']):.1e}"),
    ]


def figures(data, setup: st.Setup, m: dict) -> list[st.Figure]:
    """Spectra by width (largest K, seed 0) with the bulk edge; outliers vs K; coherence real vs random vs width."""
    ds = data["main"]
    widths, ks = ds["width"].values, ds["clusters"].values
    fig, axes = plot.figure(1, 3, width=5.0, height=4.0)
    ax = axes[0, 0]
    for i, w in enumerate(widths):
        eig = ds["eigenvalues"].sel(width=w, clusters=ks[-1]).isel(seed=0).values
        eig = eig[np.isfinite(eig)]
        ax.plot(np.arange(1, eig.size + 1), np.maximum(np.abs(eig), 1e-18), ".", color=f"C{i}", markersize=3,
                label=f"h = {int(w)} (P = {eig.size})")
        ax.axhline(float(m["edge"][i, -1, 0]), color=f"C{i}", linestyle=":", linewidth=1)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("index j (eigenvalues decreasing)"), ax.set_ylabel("|lambda_j(H)|")
    ax.set_title(f"Hessian spectrum, K = {int(ks[-1])} (dotted: bulk edge)"), ax.legend(fontsize=7)
    ax = axes[0, 1]
    for i, w in enumerate(widths):
        counts = m["outliers"][i]
        plot.error_bars(ax, ks + 0.08 * (i - 1), counts.mean(axis=-1), counts.std(axis=-1), f"h = {int(w)}",
                        color=f"C{i}", markersize=4)
    plot.theory_line(ax, ks, ks, "number of clusters K")
    ax.set_xlabel("clusters K"), ax.set_ylabel("eigenvalues above the bulk edge")
    ax.set_title("outliers vs clusters"), ax.legend(fontsize=7)
    ax = axes[0, 2]
    for j, k in enumerate(ks):
        for var, marker, label in (("coherence_real", "o", "real labels"), ("coherence_random", "s", "random labels")):
            mean, sem = plot.mean_sem(ds[var].sel(clusters=k), "seed")
            plot.error_bars(ax, widths, mean.values, sem.values, f"{label}, K = {int(k)}", color=f"C{j}", fmt=marker,
                            markersize=4)
    plot.theory_line(ax, widths, np.full(widths.shape, 1.0 / setup.n_train), "1/n (random labels, exact mean)")
    ax.set_xscale("log", base=2), ax.set_yscale("log")
    ax.set_xlabel("width h"), ax.set_ylabel("gradient coherence at the start")
    ax.set_title("coherence: real vs random labels"), ax.legend(fontsize=6)
    dims = ("width", "clusters", "seed")
    bound = 1.0 - setup.n_train / np.broadcast_to(m["num_params"][:, None, None], m["near_zero"].shape)
    table = xr.Dataset({"outliers": (dims, m["outliers"]), "near_zero_fraction": (dims, m["near_zero"]),
                        "bound_1_minus_n_over_P": (dims, bound),
                        "coherence_real": ds["coherence_real"], "coherence_random": ds["coherence_random"]})
    return [st.Figure("hessian_coherence", fig, "Left: |eigenvalues| of the exact Hessian at the global minimum by "
                      "width (largest K, seed 0) with the Weyl bulk edge lambda_1(G_w) + ||H - G|| (dotted). Middle: "
                      "eigenvalues above the edge vs K (mean +- sd over seeds) against K (dashed). Right: gradient "
                      "coherence at the start, real vs random labels (mean +- s.e. over seeds), against the exact "
                      "random-label mean 1/n (dashed).", table)]


STUDY = st.Study(
    name="sagun-chatterjee", paper=PAPER, link=LINK,
    description="2-layer tanh net on K clusters: Hessian = bulk at zero + K outliers; gradient coherence, "
                "real vs random labels",
    settings={
        "dim": st.Setting(8, paper=16, low=1, doc="input dimension d"),
        "n_train": st.Setting(24, paper=64, low=2, doc="training examples n"),
        "spread": st.Setting(0.15, low=0.0, low_open=True, doc="within-cluster standard deviation"),
        "radius": st.Setting(2.5, low=0.0, low_open=True, doc="norm of the (orthogonal) cluster means"),
        "steps": st.Setting(1000, paper=4000, low=1, doc="GD steps"),
        "learning_rate": st.Setting(1.0, low=0.0, low_open=True, doc="GD step size"),
        "newton_steps": st.Setting(16, paper=20, low=0, doc="Gauss-Newton steps after GD"),
        "label_draws": st.Setting(64, paper=256, low=2, doc="random label vectors per network for the coherence"),
        "lanczos_iter": st.Setting(48, paper=96, low=1, doc="Lanczos steps"),
        "early_steps": st.Setting(100, paper=400, low=EARLY_RECORDS, doc="early GD steps, real vs random labels"),
        "early_draws": st.Setting(8, low=1, doc="random label vectors trained in the early phase"),
    },
    axes={
        "width": st.Axis((8, 16, 32), paper=(16, 32, 64), integer=True, low=2, min_count=2, doc="hidden units h"),
        "clusters": st.Axis((2, 3, 4), paper=(2, 3, 4, 6, 8), integer=True, low=1, doc="clusters K"),
        "seed": st.seeds(4, 6),
    },
    sweeps={"main": st.Sweep(point, out_dims={"eigenvalues": ("index",), "between": ("outlier",),
                                              "early_loss_real": ("record",), "early_loss_random": ("record", "draw"),
                                              "early_coherence_real": ("record",),
                                              "early_coherence_random": ("record", "draw")},
                             out_coords=lambda s: {"record": [i * s.early_steps // EARLY_RECORDS
                                                              for i in range(EARLY_RECORDS + 1)]})},
    measure=measure, claims=claims, figures=figures, check=check, dtype="float64",
)
