"""The experiments of the advani-saxe study: the two students' points and the Marchenko-Pastur theory.

``linear`` (the linear student at every load, vmapped over snr and init_var), ``student`` (the
two-layer ReLU student at every width, with GD checking the frozen subspace) and ``theory``
(:func:`randfeat.advani_saxe_curves` on the linear grid).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import overparam.study as st
import randfeat
from overparam import sweep
from randfeat import two_layer as tl

DATA_SEED = 2017


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
