"""Sagun et al. 2017 and Chatterjee & Zielinski 2022: Hessian bulk and outliers; gradient coherence.

Model and data. ``K`` Gaussian clusters in ``R^d``: orthogonal means ``mu_k`` of norm ``rho``
(``rho`` times the rows of a random orthogonal matrix), example ``i`` belongs to cluster
``c_i = i mod K`` and ``x_i = mu_{c_i} + sigma xi_i``; its label is ``y_i = +1`` for even clusters
and ``-1`` for odd ones (the "real", structured labels). The model is a two-layer tanh network
in the NTK parameterisation with ``h`` hidden units (``h`` even),

    f(theta; x) = h^{-1/2} sum_j a_j tanh(w_j . x + b_j),     theta = (W (h, d), b (h,), a (h,)),

so ``P = h (d + 2)`` parameters. It starts from a mirrored initialisation (units ``j`` and
``j + h/2`` share ``w_j, b_j`` and have opposite ``a_j``), so ``f(theta_0; .) = 0`` exactly. It is
trained on the squared loss ``L(theta) = (1/2n) sum_i (f(theta; x_i) - y_i)^2`` by gradient
descent, then a few minimum-norm Gauss-Newton steps ``theta <- theta - J^T (J J^T)^{-1} r``
(``J`` the (n, P) Jacobian of the outputs, ``r`` the residuals) take it to a global minimum
(``L ~ 1e-30``) near the GD point.

Hessian (Sagun et al. 2017, "Empirical analysis of the Hessian of over-parametrized neural
networks"; MATH.md section 3). For the squared loss

    H = G + R,   G = J^T J / n  (Gauss-Newton, PSD, rank <= n),   R = (1/n) sum_i r_i Hess_theta f(x_i),

and ``G`` splits exactly into between- and within-cluster parts (the variance decomposition of
the rows ``g_i`` of ``J``; ``gbar_k`` the mean row of cluster ``k``, ``n_k`` its size):

    G = G_b + G_w,   G_b = (1/n) sum_k n_k gbar_k gbar_k^T  (rank <= K),
                     G_w = (1/n) sum_i (g_i - gbar_{c_i})(g_i - gbar_{c_i})^T  (PSD).

Consequences (Weyl's inequalities; eigenvalues in decreasing order):

* bulk at zero: since ``G`` is PSD of rank <= n, at least ``P - n`` eigenvalues of ``H`` lie in
  ``[-||R||, ||R||]``; at a global minimum ``r = 0`` and ``||R|| = 0``, so the fraction of
  eigenvalues near zero is at least ``1 - n/P``, which grows with the width;
* outliers: at most ``K`` eigenvalues of ``H`` exceed the bulk edge
  ``e = lambda_1(G_w) + ||R||``, and ``|lambda_j(H) - lambda_j(G_b)| <= e`` for ``j <= K``. The
  outliers are the class-mean (between-cluster) part of the gradient covariance; the empirical
  content of the claim is that all ``K`` of them clear the edge, i.e. the spectrum is a bulk
  near zero plus exactly "number of clusters" outliers.

Lanczos: the extreme Ritz values of :func:`bounds.lanczos` (``min(P, lanczos_iter)`` steps) on the
Hessian-vector product of every trained network agree with the dense ``eigvalsh`` of
:func:`bounds.hessian_matrix` to 1e-8 of ``lambda_max`` in float64.

Gradient coherence (Chatterjee & Zielinski 2022, "On the generalization mystery in deep
learning"): ``alpha = ||mean_i g_i||^2 / mean_i ||g_i||^2`` (:func:`bounds.gradient_coherence`,
in [0, 1]: 1 for identical gradients, 1/m for m orthogonal ones, 0 for gradients summing to zero)
of the per-example loss gradients ``g_i = (f(x_i) - y_i) grad f(x_i)`` at initialisation. Since
``f(theta_0; .) = 0``, ``g_i = -y_i grad f(x_i)``; for random labels ``y_i = +-1`` independent of
the inputs, ``E ||sum_i y_i u_i||^2 = sum_i ||u_i||^2`` and the denominator does not depend on the
labels, so ``E[alpha_random] = 1/n`` exactly. The structured labels make the gradients of a
cluster add up, so ``alpha_real`` is well above ``1/n``. The study averages ``alpha_random`` over
``label_draws`` independent label vectors per network.

Coherence and the speed of GD (Chatterjee & Zielinski: coherent per-example gradients make GD fit
real labels faster than random ones, which is why early stopping works). One GD step on
``L = mean_i l_i`` with ``g = grad L = mean_i g_i`` lowers the loss by (Taylor)

    L(theta) - L(theta - eta g) = eta ||g||^2 - (eta^2/2) g^T H g + O(eta^3) = eta alpha mean_i ||g_i||^2 + O(eta^2).

At ``theta_0`` (``f = 0``) ``||g_i|| = ||grad f(x_i)||`` for any labels ``+-1``, so the first-order
decreases with real and random labels are in the ratio ``alpha_real / alpha_random`` exactly. Over
``t`` steps, in the linearised (kernel) regime ``r_t = (I - eta K / n)^t r_0`` with ``r_0 = -y`` and
``K = J J^T``, so ``L_t = (1/2n) sum_j (1 - eta lambda_j / n)^(2t) (v_j . y)^2`` over the eigenpairs
``(lambda_j, v_j)`` of ``K``: the cluster labels lie mostly on the top (between-cluster) eigenvectors
and decay fast, while random labels have ``E (v_j . y)^2 = 1`` on every eigenvector and keep the
slow ones. The study trains, from the same ``theta_0`` and step size, on the real labels and on
``EARLY_DRAWS`` random label vectors for ``T = steps / EARLY_FRACTION`` steps (both start at
``L = 1/2``), recording the loss and the coherence at ``EARLY_RECORDS + 1`` steps. The coherence
itself is not monotone along training: once the real labels are fitted their residuals are small
and the mean gradient nearly cancels, so ``alpha_real`` drops below ``alpha_random`` within the
early phase; only the loss is claimed.

The runs are a grid ``width x clusters x seed``: one :func:`overparam.sweep.run` over
``clusters x seed`` per width (the number of parameters fixes the array shapes).

Claims: (1) Gauss-Newton rank: in every run at least ``P - n`` eigenvalues have ``|lambda| <=
||H - G||_2`` (plus round-off), with ``||H - G||_2 / lambda_max <= 1e-8``; (2) the fraction of
eigenvalues within ``1e-6 lambda_max`` of zero is at least ``1 - n/P`` and grows with the width;
(3) the number of eigenvalues above the bulk edge equals the number of clusters in every run;
(4) Lanczos agrees with the dense spectrum; (5) the mean random-label coherence equals ``1/n``
within 4 standard errors; (6) the real-label coherence exceeds the random-label one in every run,
by at least a factor 2; (7) after the first ``T = steps / 10`` GD steps the training loss with the real
labels is below the loss with every random label vector, in every run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.flatten_util import ravel_pytree

import bounds
from overparam import plot, sweep
from overparam.studies.base import Claim, Produced, SetupStudy, Size, check_integers, check_size, merge_overrides

PAPER = "Sagun et al. 2017; Chatterjee & Zielinski 2022"
NAME = "sagun-chatterjee"

RESIDUAL_TOL = 1e-8  # claim 1: ||H - G||_2 / lambda_max at the end of training
ROUNDOFF = 1e-10  # claim 1: eigvalsh round-off allowance, relative to lambda_max
NEAR_ZERO = 1e-6  # claim 2: |lambda| <= NEAR_ZERO * lambda_max counts as the bulk at zero
LANCZOS_TOL = 1e-8  # claim 4: |Lanczos - dense| / lambda_max for the extreme eigenvalues
SEED_ERRORS = 4.0  # claim 5: allowed deviation of the mean random-label coherence from 1/n, in s.e.
COHERENCE_RATIO = 2.0  # claim 6: alpha_real / alpha_random in every run
EARLY_FRACTION = 10  # claim 7: the early phase is the first T = steps // EARLY_FRACTION GD steps
EARLY_RECORDS = 5  # claim 7: loss and coherence recorded at EARLY_RECORDS + 1 evenly spaced steps 0..T
EARLY_DRAWS = 8  # claim 7: random label vectors trained alongside the real labels, per network


class Setup(NamedTuple):
    """Static part of the study at one size, plus its default grid (``width``, ``clusters``, ``seed``)."""

    dim: int  # d, input dimension
    n_train: int  # n, number of training examples
    spread: float  # sigma, within-cluster standard deviation
    radius: float  # ||mu_k||, the cluster means are orthogonal
    steps: int  # GD steps
    learning_rate: float
    newton_steps: int  # minimum-norm Gauss-Newton steps after GD
    label_draws: int  # random label vectors per network for the coherence
    lanczos_iter: int  # Lanczos steps for the extreme-eigenvalue check
    axes: dict[str, tuple[float, ...]]


SETUPS: dict[str, Setup] = {
    "quick": Setup(dim=8, n_train=24, spread=0.15, radius=2.5, steps=1000, learning_rate=1.0, newton_steps=16,
                   label_draws=64, lanczos_iter=48,
                   axes={"width": (8, 16, 32), "clusters": (2, 3, 4), "seed": tuple(range(4))}),
    "paper": Setup(dim=16, n_train=64, spread=0.15, radius=2.5, steps=4000, learning_rate=1.0, newton_steps=20,
                   label_draws=256, lanczos_iter=96,
                   axes={"width": (16, 32, 64, 128), "clusters": (2, 3, 4, 6, 8), "seed": tuple(range(10))}),
}


class Data(NamedTuple):
    """Inputs x (n, d), real labels y (n,) in {+1, -1}, cluster index c (n,) in [0, K)."""

    x: jax.Array
    y: jax.Array
    cluster: jax.Array


class Params(NamedTuple):
    """Network weights: w (h, d), b (h,), a (h,)."""

    w: jax.Array
    b: jax.Array
    a: jax.Array


def num_params(width: int, dim: int) -> int:
    """``P = h (d + 2)``: the size of :class:`Params`."""
    return int(width) * (int(dim) + 2)


def make_data(key: jax.Array, n: int, dim: int, clusters, max_clusters: int, spread: float,
              radius: float) -> Data:
    """``n`` examples of ``clusters`` Gaussian clusters (module docstring); ``clusters`` may be traced.

    The means of ``max_clusters <= dim`` clusters are ``radius`` times orthonormal vectors of a random
    frame (equally separated clusters), so the data of cluster ``k`` do not depend on K.
    """
    if not 1 <= int(max_clusters) <= int(dim):
        raise ValueError(f"max_clusters = {max_clusters!r} is out of range; allowed: 1 <= max_clusters <= dim = {dim}")
    km, kx = jax.random.split(key)
    frame, _ = jnp.linalg.qr(jax.random.normal(km, (dim, dim)))
    means = radius * frame.T[:max_clusters]
    cluster = jnp.arange(n) % clusters
    x = means[cluster] + spread * jax.random.normal(kx, (n, dim))
    y = jnp.where(cluster % 2 == 0, 1.0, -1.0)
    return Data(x, y, cluster)


def init_params(key: jax.Array, width: int, dim: int) -> Params:
    """Mirrored initialisation: ``w ~ N(0, I/d)``, ``b ~ N(0, 0.01)``, ``a ~ N(0, 1)`` for the first
    ``h/2`` units, the second half copies ``w, b`` and negates ``a`` so that ``f(theta_0; .) = 0``."""
    kw, kb, ka = jax.random.split(key, 3)
    w = jax.random.normal(kw, (width // 2, dim)) / np.sqrt(dim)
    b = 0.1 * jax.random.normal(kb, (width // 2,))
    a = jax.random.normal(ka, (width // 2,))
    return Params(jnp.concatenate([w, w]), jnp.concatenate([b, b]), jnp.concatenate([a, -a]))


def network(params: Params, x: jax.Array) -> jax.Array:
    """``f(theta; x) = h^{-1/2} a . tanh(W x + b)`` for x (..., d) -> (...)."""
    return jnp.tanh(x @ params.w.T + params.b) @ params.a / np.sqrt(params.a.shape[0])


def squared_loss(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """``L = (1/2n) sum_i (f(x_i) - y_i)^2`` for x (n, d), y (n,) -> ()."""
    return 0.5 * jnp.mean((network(params, x) - y) ** 2)


def example_loss(params: Params, example: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Per-example loss ``(1/2) (f(x) - y)^2`` for one ``(x (d,), y ())``."""
    x, y = example
    return 0.5 * (network(params, x) - y) ** 2


def gd_step(params: Params, x: jax.Array, y: jax.Array, learning_rate) -> tuple[Params, jax.Array]:
    """One full-batch GD step ``theta <- theta - eta grad L(theta)``; returns the new parameters and ``L(theta)``."""
    value, grad = jax.value_and_grad(squared_loss)(params, x, y)
    return jax.tree.map(lambda u, g: u - learning_rate * g, params, grad), value


def train(params: Params, data: Data, steps: int, learning_rate, newton_steps: int) -> tuple[Params, jax.Array]:
    """GD for ``steps`` steps, then ``newton_steps`` minimum-norm Gauss-Newton steps.

    Returns the final parameters and the loss before every step plus the final loss,
    (steps + newton_steps + 1,).
    """

    params, gd_losses = jax.lax.scan(lambda p, _: gd_step(p, data.x, data.y, learning_rate), params, None,
                                     length=steps)
    flat, unravel = ravel_pytree(params)
    n = data.x.shape[0]

    def newton(v, _):
        outputs = lambda u: network(unravel(u), data.x)  # noqa: E731
        r = outputs(v) - data.y
        jac = jax.jacfwd(outputs)(v)
        gram = jac @ jac.T
        gram = gram + 1e-14 * jnp.trace(gram) / n * jnp.eye(n, dtype=gram.dtype)
        return v - jac.T @ jnp.linalg.solve(gram, r), 0.5 * jnp.mean(r**2)

    flat, newton_losses = jax.lax.scan(newton, flat, None, length=newton_steps)
    params = unravel(flat)
    final = squared_loss(params, data.x, data.y)
    return params, jnp.concatenate([gd_losses, newton_losses, final[None]])


class EarlyTrace(NamedTuple):
    """Loss and gradient coherence at the steps ``0, T/R, 2T/R, ..., T`` of full-batch GD (``R`` records).

    loss (..., R + 1), coherence (..., R + 1); a leading label axis when vmapped over label vectors.
    """

    loss: jax.Array
    coherence: jax.Array


def early_training(params: Params, x: jax.Array, y: jax.Array, steps: int, learning_rate,
                   records: int) -> EarlyTrace:
    """``steps`` GD steps ``theta <- theta - eta grad L`` on labels ``y`` (n,) from ``params``; the loss
    ``L`` and the coherence ``alpha`` of the per-example gradients (:func:`bounds.gradient_coherence`)
    every ``steps // records`` steps, ``records + 1`` values from step 0 (``steps`` a multiple of
    ``records``). With ``g = grad L = mean_i g_i``, one step lowers the loss by (Taylor)

        L(theta) - L(theta - eta g) = eta ||g||^2 - (eta^2/2) g^T H g + O(eta^3)
                                    = eta alpha mean_i ||g_i||^2 + O(eta^2),

    so at equal per-example gradient norms the first-order decrease is proportional to ``alpha``.
    """
    if steps < records or steps % records:
        raise ValueError(f"steps = {steps!r} is not allowed; allowed: a positive multiple of records = {records}")

    def measure(p):
        grads = bounds.per_example_gradients(example_loss, p, (x, y))
        return squared_loss(p, x, y), bounds.gradient_coherence(grads)

    def block(p, _):
        p, _ = jax.lax.scan(lambda q, _: gd_step(q, x, y, learning_rate), p, None, length=steps // records)
        return p, measure(p)

    params_end, (loss, coherence) = jax.lax.scan(block, params, None, length=records)
    del params_end
    loss0, coherence0 = measure(params)
    return EarlyTrace(jnp.concatenate([loss0[None], loss]), jnp.concatenate([coherence0[None], coherence]))


class Spectrum(NamedTuple):
    """The exact Hessian's eigenvalues and its Gauss-Newton split (module docstring).

    eigenvalues (P,) of H, decreasing; residual_norm ``||H - G||_2``; within_top
    ``lambda_1(G_w)``; between (K_max,) the top eigenvalues of ``G_b``, decreasing.
    """

    eigenvalues: jax.Array
    residual_norm: jax.Array
    within_top: jax.Array
    between: jax.Array


def hessian_spectrum(params: Params, data: Data, max_clusters: int) -> Spectrum:
    """Eigenvalues of ``H = hessian_matrix(L)`` and of the parts of ``G = J^T J / n`` (module docstring).

    ``params`` of width h, ``data`` with n examples in ``max_clusters`` or fewer clusters; returns a
    :class:`Spectrum` with eigenvalues (P,), P = h (d + 2), and between (max_clusters,).
    """
    hess = bounds.hessian_matrix(lambda p: squared_loss(p, data.x, data.y), params)
    hess = 0.5 * (hess + hess.T)
    flat, unravel = ravel_pytree(params)
    n = data.x.shape[0]
    jac = jax.jacfwd(lambda u: network(unravel(u), data.x))(flat)  # (n, P)
    gauss_newton = jac.T @ jac / n
    member = (data.cluster[None, :] == jnp.arange(max_clusters)[:, None]).astype(jac.dtype)  # (K_max, n)
    counts = member.sum(axis=1)
    means = member @ jac / jnp.maximum(counts, 1.0)[:, None]  # (K_max, P)
    between = (means.T * counts) @ means / n
    within = gauss_newton - between
    eig = jnp.linalg.eigvalsh(hess)[::-1]
    residual = jnp.max(jnp.abs(jnp.linalg.eigvalsh(hess - gauss_newton)))
    return Spectrum(eig, residual, jnp.linalg.eigvalsh(within)[-1],
                    jnp.linalg.eigvalsh(between)[::-1][:max_clusters])


def coherence_at_init(params: Params, data: Data, key: jax.Array, label_draws: int) -> tuple[jax.Array, jax.Array]:
    """Gradient coherence of the per-example losses with the real labels () and with
    ``label_draws`` vectors of random labels ``+-1`` (label_draws,)."""
    signs = jnp.where(jax.random.bernoulli(key, 0.5, (label_draws, data.x.shape[0])), 1.0, -1.0)

    def one(labels):
        return bounds.gradient_coherence(bounds.per_example_gradients(example_loss, params, (data.x, labels)))

    return one(data.y), jax.vmap(one)(signs)


def early_steps(setup: Setup) -> int:
    """``T``: the early phase of claim 7, ``steps // EARLY_FRACTION`` rounded down to a multiple of
    ``EARLY_RECORDS`` (at least ``EARLY_RECORDS``)."""
    return max(EARLY_RECORDS, setup.steps // EARLY_FRACTION // EARLY_RECORDS * EARLY_RECORDS)


def _point(setup: Setup, width: int, max_clusters: int) -> Callable[[Mapping[str, jax.Array], jax.Array], dict]:
    p = num_params(width, setup.dim)

    def point(config: Mapping[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        kd, ki, kl, kz = jax.random.split(key, 4)
        data = make_data(kd, setup.n_train, setup.dim, config["clusters"], max_clusters, setup.spread, setup.radius)
        params0 = init_params(ki, width, setup.dim)
        real, random = coherence_at_init(params0, data, kl, setup.label_draws)
        signs = jnp.where(jax.random.bernoulli(jax.random.fold_in(kl, 1), 0.5, (EARLY_DRAWS, setup.n_train)),
                          1.0, -1.0)
        labels = jnp.concatenate([data.y[None], signs])  # row 0: the real labels
        early = jax.vmap(lambda y: early_training(params0, data.x, y, early_steps(setup), setup.learning_rate,
                                                  EARLY_RECORDS))(labels)
        params, losses = train(params0, data, setup.steps, setup.learning_rate, setup.newton_steps)
        spec = hessian_spectrum(params, data, max_clusters)
        matvec, dim = bounds.flat_hvp(lambda q: squared_loss(q, data.x, data.y), params)
        lo, hi = bounds.extreme_eigenvalues(matvec, kz, dim, min(setup.lanczos_iter, dim))
        return {
            "eigenvalues": spec.eigenvalues, "residual_norm": spec.residual_norm, "within_top": spec.within_top,
            "between": spec.between, "final_loss": losses[-1], "gd_loss": losses[setup.steps - 1],
            "coherence_real": real, "coherence_random": jnp.mean(random),
            "coherence_random_sem": jnp.std(random, ddof=1) / np.sqrt(setup.label_draws),
            "lanczos_min": lo, "lanczos_max": hi, "num_params": jnp.asarray(p),
            "early_loss_real": early.loss[0], "early_loss_random": early.loss[1:].T,
            "early_coherence_real": early.coherence[0], "early_coherence_random": early.coherence[1:].T,
        }

    point.__name__ = f"two_layer_tanh_hessian_w{width}"
    return point


def check_axes(setup: Setup, overrides: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[int, ...]]:
    """The grid after ``overrides``, validated: even widths >= 2, 1 <= clusters <= min(n, d), >= 2 seeds."""
    axes = merge_overrides(setup.axes, overrides)
    if any(int(w) != w or w < 2 or int(w) % 2 for w in axes["width"]):
        raise ValueError(f"width={axes['width']!r} is out of range; allowed: even integers >= 2")
    k_max = min(setup.n_train, setup.dim)
    if any(int(k) != k or not 1 <= k <= k_max for k in axes["clusters"]):
        raise ValueError(f"clusters={axes['clusters']!r} is out of range; allowed: integers in [1, min(n_train, dim)"
                         f" = {k_max}]")
    check_integers("seed", axes["seed"], 0, min_count=2)
    return {k: tuple(sorted(int(v) for v in vals)) for k, vals in axes.items()}


def run_sweep(size: Size = "quick", overrides: Mapping[str, Sequence[float]] | None = None, *,
              setup: Setup | None = None, progress: bool = False) -> tuple[xr.Dataset, Setup]:
    """Train and analyse the grid ``width x clusters x seed``.

    The dataset has dims ``(width, clusters, seed)`` for the scalars (``residual_norm``,
    ``within_top``, ``final_loss``, ``gd_loss``, ``coherence_real``, ``coherence_random``,
    ``coherence_random_sem``, ``lanczos_min``, ``lanczos_max``, ``num_params``), plus
    ``eigenvalues`` (..., index) padded with NaN to the largest ``P``, ``between`` (..., outlier), and the
    early-GD traces (:func:`early_training`) ``early_loss_real``, ``early_coherence_real`` (..., record) and
    ``early_loss_random``, ``early_coherence_random`` (..., record, draw), ``record`` the GD step.
    ``setup`` replaces the size's :class:`Setup`.
    """
    check_size(size)
    setup = SETUPS[size] if setup is None else setup
    axes = check_axes(setup, overrides)
    max_clusters = max(axes["clusters"])
    p_max = num_params(max(axes["width"]), setup.dim)
    parts = []
    for width in axes["width"]:
        ds = sweep.run(_point(setup, width, max_clusters), {"clusters": axes["clusters"], "seed": axes["seed"]},
                       key=jax.random.fold_in(jax.random.key(2017), width), progress=progress,
                       chunk_size=min(16, len(axes["clusters"]) * len(axes["seed"])),
                       out_dims={"eigenvalues": ("index",), "between": ("outlier",),
                                 "early_loss_real": ("record",), "early_loss_random": ("record", "draw"),
                                 "early_coherence_real": ("record",), "early_coherence_random": ("record", "draw")},
                       out_coords={"record": [i * early_steps(setup) // EARLY_RECORDS
                                              for i in range(EARLY_RECORDS + 1)]},
                       attrs={"study": NAME, "size": size, "width": width,
                              **{k: v for k, v in setup._asdict().items() if k != "axes"}})
        eig = ds["eigenvalues"].values
        padded = np.full(eig.shape[:-1] + (p_max,), np.nan)
        padded[..., : eig.shape[-1]] = eig
        ds = ds.drop_vars("eigenvalues").drop_dims("index", errors="ignore")
        ds["eigenvalues"] = (("clusters", "seed", "index"), padded)
        parts.append(ds.expand_dims(width=[width]))
    ds = xr.concat(parts, dim="width", combine_attrs="drop_conflicts")
    ds.attrs.update({"study": NAME, "size": size, "n_train": setup.n_train, "dim": setup.dim})
    return ds, setup


class SpectrumSummary(NamedTuple):
    """Per run (width, clusters, seed): P, bulk edge, counts and fractions derived from the spectra."""

    num_params: np.ndarray
    edge: np.ndarray  # lambda_1(G_w) + ||H - G||_2
    outliers: np.ndarray  # number of eigenvalues > edge
    gap: np.ndarray  # lambda_K / lambda_{K+1}
    null_count: np.ndarray  # number with |lambda| <= ||H - G|| + ROUNDOFF lambda_max
    near_zero: np.ndarray  # fraction with |lambda| <= NEAR_ZERO lambda_max
    relative_residual: np.ndarray  # ||H - G|| / lambda_max


def summarize(ds: xr.Dataset) -> SpectrumSummary:
    """Counts and fractions of :class:`SpectrumSummary` from a :func:`run_sweep` dataset."""
    eig = ds["eigenvalues"].values  # (W, K, S, P_max), NaN-padded, decreasing
    p = ds["num_params"].values.astype(float)
    top = eig[..., 0]
    residual = ds["residual_norm"].values
    edge = ds["within_top"].values + residual
    valid = np.isfinite(eig)
    outliers = np.sum(valid & (eig > edge[..., None]), axis=-1)
    k = np.broadcast_to(ds["clusters"].values[None, :, None], top.shape)
    lam_k = np.take_along_axis(eig, (k - 1)[..., None], axis=-1)[..., 0]
    lam_k1 = np.take_along_axis(eig, k[..., None], axis=-1)[..., 0]
    absval = np.where(valid, np.abs(eig), np.inf)
    null = np.sum(absval <= (residual + ROUNDOFF * top)[..., None], axis=-1)
    near = np.sum(absval <= (NEAR_ZERO * top)[..., None], axis=-1) / p
    return SpectrumSummary(p, edge, outliers, lam_k / np.abs(lam_k1), null, near, residual / top)


def lanczos_errors(ds: xr.Dataset) -> np.ndarray:
    """Per run, ``max(|lanczos_min - lambda_min|, |lanczos_max - lambda_max|)`` against the dense spectrum."""
    eig = ds["eigenvalues"].values
    return np.maximum(np.abs(ds["lanczos_min"].values - np.nanmin(eig, axis=-1)),
                      np.abs(ds["lanczos_max"].values - eig[..., 0]))


def evaluate_claims(ds: xr.Dataset, setup: Setup) -> list[Claim]:
    """The seven claims of the module docstring, measured on a :func:`run_sweep` dataset."""
    s = summarize(ds)
    n = setup.n_train
    widths = [int(w) for w in ds["width"].values]
    ks = [int(k) for k in ds["clusters"].values]
    claims = []
    surplus = s.null_count - (s.num_params - n)
    claims.append(Claim(
        NAME, "Sagun et al. 2017",
        f"at a global minimum of the squared loss H = J^T J / n (Gauss-Newton, rank <= n = {n}): at least P - n "
        "eigenvalues of the exact Hessian are zero, in every run",
        f"min over runs of #(|lambda| <= ||H - G||) - (P - n) = {int(surplus.min())}; "
        f"max ||H - G|| / lambda_max = {s.relative_residual.max():.1e}; max final loss = "
        f"{float(ds['final_loss'].max()):.1e}",
        f">= 0 and ||H - G|| / lambda_max <= {RESIDUAL_TOL:g}",
        bool(surplus.min() >= 0 and s.relative_residual.max() <= RESIDUAL_TOL)))
    frac = s.near_zero.mean(axis=(1, 2))
    bound = 1.0 - n / s.num_params.mean(axis=(1, 2))
    claims.append(Claim(
        NAME, "Sagun et al. 2017",
        f"the bulk at zero (|lambda| <= {NEAR_ZERO:g} lambda_max) holds at least a fraction 1 - n/P of the "
        "spectrum and grows with the number of parameters P",
        "fraction (bound 1 - n/P) by width: " + ", ".join(
            f"h={w} (P={int(s.num_params[i].flat[0])}): {frac[i]:.3f} ({bound[i]:.3f})" for i, w in enumerate(widths)),
        ">= 1 - n/P in every run, increasing in P",
        bool(np.all(s.near_zero >= 1.0 - n / s.num_params - 1e-12) and np.all(np.diff(frac) > 0))))
    right = s.outliers == np.asarray(ks)[None, :, None]
    claims.append(Claim(
        NAME, "Sagun et al. 2017",
        "outliers: the number of eigenvalues above the bulk edge lambda_1(G_within) + ||H - G|| equals the number "
        "of clusters K (Weyl: at most K; the between-cluster part of G has rank K)",
        f"{int(right.sum())}/{right.size} runs have exactly K outliers; counts by K: " + ", ".join(
            f"K={k}: {sorted(set(int(c) for c in s.outliers[:, j].ravel()))}" for j, k in enumerate(ks))
        + f"; min lambda_K / lambda_(K+1) = {np.min(s.gap):.1f}",
        "exactly K in every run", bool(right.all())))
    lanczos_error = lanczos_errors(ds) / ds["eigenvalues"].values[..., 0]
    worst = np.unravel_index(np.argmax(lanczos_error), lanczos_error.shape)
    claims.append(Claim(
        NAME, "Sagun et al. 2017",
        f"Lanczos (min(P, {setup.lanczos_iter}) steps on Hessian-vector products, full reorthogonalisation) gives "
        "the extreme Hessian eigenvalues as the dense eigvalsh of the assembled Hessian does, in every run",
        f"max over runs of max(|Lanczos - dense| at lambda_min, lambda_max) / lambda_max = {lanczos_error.max():.1e} "
        f"(at h = {widths[worst[0]]}, K = {ks[worst[1]]})",
        f"<= {LANCZOS_TOL:g} (float64)", bool(lanczos_error.max() <= LANCZOS_TOL)))
    rand = ds["coherence_random"].values
    sem_draws = ds["coherence_random_sem"].values
    mean = float(rand.mean())
    sem = float(np.sqrt(np.sum(sem_draws**2)) / rand.size)
    claims.append(Claim(
        NAME, "Chatterjee & Zielinski 2022",
        f"random labels at initialisation (f = 0): the mean gradient coherence is 1/n = {1 / n:.4f} "
        f"(E ||sum_i y_i g_i||^2 = sum_i ||g_i||^2 for independent +-1 labels)",
        f"mean over {rand.size} networks x {setup.label_draws} label draws = {mean:.4f} +- {sem:.4f} "
        f"({(mean - 1 / n) / sem:+.1f} s.e.)",
        f"within {SEED_ERRORS:g} standard errors of 1/n", bool(abs(mean - 1 / n) <= SEED_ERRORS * sem)))
    real = ds["coherence_real"].values
    ratio = real / rand
    claims.append(Claim(
        NAME, "Chatterjee & Zielinski 2022",
        "gradient coherence at initialisation is higher with the real (cluster) labels than with random labels "
        "on the same inputs and network, in every run",
        f"alpha_real / alpha_random: min {ratio.min():.1f}, median {np.median(ratio):.1f} "
        f"(alpha_real median {np.median(real):.3f}, alpha_random median {np.median(rand):.4f})",
        f">= {COHERENCE_RATIO:g} in every run; all alpha in [0, 1]",
        bool(ratio.min() >= COHERENCE_RATIO and np.all((real >= 0) & (real <= 1 + 1e-12))
             and np.all((rand >= 0) & (rand <= 1 + 1e-12)))))
    early_real = ds["early_loss_real"].values[..., -1]  # (W, K, S) at step T
    early_random = ds["early_loss_random"].values[..., -1, :]  # (W, K, S, draw)
    loss_ratio = early_random.min(axis=-1) / early_real
    coh_real = ds["early_coherence_real"].values
    coh_random = ds["early_coherence_random"].values.mean(axis=-1)
    steps_t = int(ds["record"].values[-1])
    claims.append(Claim(
        NAME, "Chatterjee & Zielinski 2022",
        f"coherent gradients fit faster: from the same initialisation (L = 1/2 for any +-1 labels) and step size, "
        f"the training loss after the first T = steps/{EARLY_FRACTION} = {steps_t} GD steps is lower with the real "
        f"labels than with each of {ds.sizes['draw']} random label vectors, in every run",
        f"L_T real: median {np.median(early_real):.1e}, max {early_real.max():.1e}; L_T random: min "
        f"{early_random.min():.3f}, median {np.median(early_random):.3f}; min over runs of min_draw L_random / L_real "
        f"= {loss_ratio.min():.1f}; coherence real/random (mean over draws) at step 0: min "
        f"{np.min(coh_real[..., 0] / coh_random[..., 0]):.1f}, at step T: median "
        f"{np.median(coh_real[..., -1] / coh_random[..., -1]):.3f} (real labels already fitted)",
        "min_draw L_random / L_real > 1 in every run", bool(loss_ratio.min() > 1.0)))
    return claims


def make_figures(ds: xr.Dataset, out: Path) -> list[Path]:
    """Spectra by width (largest K, seed 0) with the bulk edge; outliers vs K; coherence real vs random."""
    s = summarize(ds)
    fig, axes = plot.figure(1, 3, width=4.4, height=3.6)
    ax = axes[0, 0]
    kmax = int(ds["clusters"].values[-1])
    for i, w in enumerate(ds["width"].values):
        eig = ds["eigenvalues"].sel(width=w, clusters=kmax).isel(seed=0).values
        eig = eig[np.isfinite(eig)]
        ax.plot(np.arange(1, eig.size + 1), np.maximum(np.abs(eig), 1e-18), ".", color=f"C{i}", markersize=3,
                label=f"h = {int(w)} (P = {eig.size})")
        ax.axhline(float(s.edge[i, -1, 0]), color=f"C{i}", linestyle=":", linewidth=1)
    ax.set_yscale("log"), ax.set_xscale("log")
    ax.set_xlabel("index j (eigenvalues decreasing)"), ax.set_ylabel("|lambda_j(H)|")
    ax.set_title(f"Hessian spectrum, K = {kmax} (dotted: bulk edge)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ks = ds["clusters"].values
    for i, w in enumerate(ds["width"].values):
        counts = s.outliers[i]
        plot.error_bars(ax, ks + 0.08 * (i - 1), counts.mean(axis=-1), counts.std(axis=-1), f"h = {int(w)}",
                        color=f"C{i}", markersize=4)
    plot.theory_line(ax, ks, ks, "number of clusters K")
    ax.set_xlabel("clusters K"), ax.set_ylabel("eigenvalues above the bulk edge")
    ax.set_title("outliers vs clusters")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    n = int(ds.attrs["n_train"])
    for j, k in enumerate(ks):
        for var, marker, label in (("coherence_real", "o", "real labels"), ("coherence_random", "s", "random labels")):
            mean, sem = plot.mean_sem(ds[var].sel(clusters=k), "seed")
            plot.error_bars(ax, ds["width"].values, mean.values, sem.values, f"{label}, K = {int(k)}",
                            color=f"C{j}", fmt=marker, markersize=4)
    widths = ds["width"].values
    plot.theory_line(ax, widths, np.full(widths.shape, 1.0 / n), "1/n (random labels, exact mean)")
    ax.set_xscale("log", base=2), ax.set_yscale("log")
    ax.set_xlabel("width h"), ax.set_ylabel("gradient coherence at init")
    ax.set_title("coherence: real vs random labels")
    ax.legend(fontsize=6)
    return plot.save(fig, out, "hessian_coherence")


class HessianCoherenceStudy(SetupStudy):
    """Sagun et al. and Chatterjee & Zielinski as one study: Hessian bulk/outliers, gradient coherence."""

    name = NAME
    paper = PAPER
    description = ("2-layer tanh net on K clusters: Hessian = bulk at zero + K outliers; gradient coherence, "
                   "real vs random labels")
    setups = SETUPS
    check_axes = staticmethod(check_axes)

    def produce(self, *, size: Size, out: Path, overrides: Mapping[str, Sequence[float]] | None, resume: bool,
                progress: bool) -> Produced:
        del resume  # short sweeps held in memory
        jax.config.update("jax_enable_x64", True)
        ds, setup = run_sweep(size, overrides, progress=progress)
        claims = evaluate_claims(ds, setup)
        figures = make_figures(ds, out)
        path = out / "spectra.nc"
        ds.to_netcdf(path, engine="h5netcdf")
        return Produced(claims, figures, [path], setup)


STUDY = HessianCoherenceStudy()

__all__ = ["STUDY", "SETUPS", "Data", "EarlyTrace", "HessianCoherenceStudy", "Params", "Setup", "Spectrum",
           "SpectrumSummary", "check_axes", "coherence_at_init", "early_steps", "early_training", "evaluate_claims",
           "example_loss", "gd_step", "hessian_spectrum", "init_params", "lanczos_errors", "make_data", "make_figures", "network",
           "num_params", "run_sweep", "squared_loss", "summarize", "train"]
