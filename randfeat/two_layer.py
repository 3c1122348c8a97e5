"""Students trained by gradient flow on fixed features: the linear student and a two-layer ReLU student.

Advani & Saxe 2017 ("High-dimensional dynamics of generalization error in neural networks"). Both
students are linear in their trained weights, so gradient flow on the squared loss is solved
exactly in an eigenbasis (docs/randfeat.md#two-layer-student):

* **Linear student** (:func:`linear_flow_errors`, docs/randfeat.md#gd-curves): inputs
  ``x ~ N(0, I_N / N)``, teacher ``w_bar``, ``dw/dt = X^T (y - X w)``; the rows in use are chosen
  by a 0/1 mask, so one padded design serves every load ``a = P / N``.
* **Two-layer ReLU student** (docs/randfeat.md#two-layer-student): a teacher
  ``f*(x) = v . relu(W* x)`` (:func:`relu_teacher`, :func:`teacher_outputs`); the student's first
  layer is random and fixed, ``h(x) = sqrt(2 / N_h) relu(W x)`` (:func:`student_features`), and only
  the output weights ``a`` are trained, ``da/dt = H^T (y - H a)`` (:func:`output_flow_errors`;
  discrete GD: :func:`train_output_layer`). When ``N_h > P`` the weights in the null space of
  ``H`` (dimension ``N_h - P``) never move: the frozen subspace
  (docs/randfeat.md#frozen-subspace; :func:`null_space_component`, :func:`null_space_error`).

Shapes: ``P`` training rows, ``Q`` test rows, ``N`` (``N_in``) inputs, ``W`` the (padded) width,
``T`` times. Every function is pure and jit/vmap-compatible; vmapping over the labels or the
initial weights reuses one eigendecomposition (it does not depend on the batched arguments).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from randfeat import _checks
from randfeat.features import relu_features
from randfeat.ridge import width_mask


class FlowErrors(NamedTuple):
    """Test and training error at each time, each (T,).

    test: ``E_g(t)``, the expected squared error on a fresh noisy example (includes the noise
    variance); train: ``E_t(t)``, the mean squared training residual over the rows in use.
    """

    test: jax.Array
    train: jax.Array


class GramSpectrum(NamedTuple):
    """The eigendecomposition of ``K = H H^T`` (P, P): eigenvalues (P,) ascending, eigenvectors (P, P)
    as columns, and ``live`` (P,): eigenvalues above the round-off floor ``eps * max(P, W) * s_max``."""

    eigenvalues: jax.Array
    eigenvectors: jax.Array
    live: jax.Array


class ReluTeacher(NamedTuple):
    """A two-layer ReLU teacher ``f*(x) = output . relu(hidden x)``: hidden (N_t, N_in), output (N_t,)."""

    hidden: jax.Array
    output: jax.Array


def _times(times) -> None:
    _checks.at_least("times", times, 0.0)
    arr = _checks.concrete(times)
    if arr is not None and arr.ndim != 1:
        raise ValueError(f"times has shape {arr.shape}; allowed: a 1-d array (T,)")


def _flow_args(times, noise_var, step_size) -> None:
    """The arguments every gradient-flow curve shares: times, the label noise and an optional GD step size."""
    _times(times)
    _checks.at_least("noise_var", noise_var, 0.0)
    if step_size is not None:
        _checks.positive("step_size", step_size)


def _shape(name: str, value, ndim: int, text: str) -> None:
    arr = _checks.concrete(value)
    if arr is not None and arr.ndim != ndim:
        raise ValueError(f"{name} has shape {arr.shape}; allowed: {text}")


def _live(eigenvalues: jax.Array, size: int) -> jax.Array:
    """Eigenvalues above the round-off floor ``eps * size * max`` (the ``lstsq`` cutoff)."""
    floor = jnp.finfo(eigenvalues.dtype).eps * size * jnp.max(eigenvalues)
    return eigenvalues > floor


def _gain(lam: jax.Array, live: jax.Array, times: jax.Array, step_size) -> jax.Array:
    """``(1 - decay(l, t)) / l`` (T, R): how far gradient flow (or GD) has moved along eigenvalue ``l``.

    ``decay = e^{-l t}`` for the flow, ``(1 - eta l)^{t / eta}`` for GD with step ``eta``; 0 where
    ``l`` is not live (those directions carry no gradient).
    """
    safe = jnp.where(live, lam, 1.0)
    if step_size is None:
        moved = -jnp.expm1(-times[:, None] * safe)
    else:
        moved = 1.0 - (1.0 - step_size * safe) ** (times[:, None] / step_size)
    return jnp.where(live, moved / safe, 0.0)


def _decay(lam: jax.Array, times: jax.Array, step_size) -> jax.Array:
    """``e^{-l t}`` or ``(1 - eta l)^{t / eta}``, (T, R)."""
    if step_size is None:
        return jnp.exp(-times[:, None] * lam)
    return (1.0 - step_size * lam) ** (times[:, None] / step_size)


def linear_flow_errors(x: jax.Array, y: jax.Array, teacher: jax.Array, w0: jax.Array, times,
                       noise_var=0.0, row_mask: jax.Array | None = None, step_size=None) -> FlowErrors:
    """Exact learning curves of the linear student on one data set (optionally only the rows a mask keeps).

    x (P, N) inputs, y (P,) labels, teacher ``w_bar`` (N,), initial weights w0 (N,), times (T,),
    row_mask (P,) 0/1 (default: every row). Gradient flow ``dw/dt = X^T (y - X w)`` moves ``w`` only
    in the row space of the used rows ``X`` (docs/randfeat.md#gd-curves). Primal side (``P >= N`` or
    a mask): with ``X^T X = V diag(l) V^T``, ``b = V^T X^T y``, ``c = V^T w``,
    ``c_i(t) = c_i(0) e^{-l_i t} + b_i (1 - e^{-l_i t}) / l_i``. Dual side (``P < N``, no mask): with
    ``X X^T = U diag(s) U^T`` and ``r0 = y - X w0``, ``w(t) = w0 + X^T U diag((1 - e^{-s t}) / s) U^T r0``,
    a ``P x P`` problem (docs/randfeat.md#two-layer-student). With ``step_size = eta``, the discrete GD
    ``w <- w + eta X^T (y - X w)`` after ``t / eta`` steps. Returns

        E_g(t) = |w(t) - w_bar|^2 / N + noise_var,      E_t(t) = |y - X w(t)|^2 / P,

    each (T,). The residual is ``U diag(e^{-s t}) U^T r0 + r_perp`` with ``r_perp`` the part of ``r0``
    outside the column space of ``X``, computed as a vector so that ``E_t`` keeps its relative
    accuracy as it decays. A zero row adds nothing to ``X^T X`` or ``X^T y``, so masking is exact.
    Directions at the round-off floor are the frozen subspace: ``w`` keeps its initial value there.
    """
    _shape("x", x, 2, "(P, N)")
    _shape("y", y, 1, "(P,)")
    _flow_args(times, noise_var, step_size)
    x = jnp.asarray(x)
    dtype = x.dtype
    p_max, n = x.shape
    t = jnp.asarray(times, dtype)
    w0 = jnp.asarray(w0, dtype)
    e0 = w0 - jnp.asarray(teacher, dtype)
    if row_mask is None and p_max < n:  # dual: P x P
        s, u, live = _gram(x)
        r0 = jnp.asarray(y, dtype) - x @ w0
        q = jnp.where(live, u.T @ r0, 0.0)
        d = u.T @ (x @ e0)
        g = _gain(s, live, t, step_size)  # (T, P)
        test = (e0 @ e0 + 2.0 * g @ (q * d) + (g * g) @ (s * q * q)) / n + noise_var
        r_perp = r0 - u @ q
        train = (r_perp @ r_perp + _decay(s, t, step_size) ** 2 @ (q * q)) / p_max
        return FlowErrors(test, train)
    mask = jnp.ones((p_max,), dtype) if row_mask is None else jnp.asarray(row_mask, dtype)
    xm = x * mask[:, None]
    ym = jnp.asarray(y, dtype) * mask
    rows = jnp.sum(mask)
    lam, v = jnp.linalg.eigh(xm.T @ xm)
    lam = jnp.maximum(lam, 0.0)
    live = _live(lam, max(p_max, n))
    b = v.T @ (xm.T @ ym)
    c0 = v.T @ w0
    target = c0 - v.T @ e0
    c = c0 * _decay(lam, t, step_size) + b * _gain(lam, live, t, step_size)  # (T, N)
    test = jnp.sum((c - target) ** 2, axis=-1) / n + noise_var
    r0 = ym - xm @ w0  # initial residual on the used rows
    along = jnp.where(live, b - lam * c0, 0.0)  # V^T X^T r0
    coef = jnp.where(live, along / jnp.where(live, lam, 1.0), 0.0)
    r_perp = r0 - xm @ (v @ coef)  # r0 minus its projection X X^+ r0 on the column space
    spread = jnp.where(live, along**2 / jnp.where(live, lam, 1.0), 0.0)
    train = (r_perp @ r_perp + _decay(lam, t, step_size) ** 2 @ spread) / rows
    return FlowErrors(test, train)


def linear_teacher(key: jax.Array, n_inputs: int, signal_var=1.0) -> jax.Array:
    """A teacher ``w_bar`` (N,) uniform on the sphere ``|w_bar|^2 = N s_w^2`` (``s_w^2 = signal_var``).

    The theory depends on the teacher only through ``|w_bar|^2 / N`` (docs/randfeat.md#advani-saxe);
    fixing it removes a needless source of seed-to-seed variance.
    """
    _checks.int_at_least("n_inputs", n_inputs, 1)
    _checks.positive("signal_var", signal_var)
    g = jax.random.normal(key, (n_inputs,))
    return jnp.sqrt(signal_var * n_inputs) * g / jnp.linalg.norm(g)


def gaussian_inputs(key: jax.Array, rows: int, n_inputs: int) -> jax.Array:
    """Inputs ``x ~ N(0, I / N_in)``, (rows, N_in), so that ``|x|^2 ~ 1``."""
    _checks.int_at_least("rows", rows, 1)
    _checks.int_at_least("n_inputs", n_inputs, 1)
    return jax.random.normal(key, (rows, n_inputs)) / np.sqrt(n_inputs)


def relu_teacher(key: jax.Array, n_inputs: int, n_hidden: int) -> ReluTeacher:
    """A random two-layer ReLU teacher: hidden (N_t, N_in) iid ``N(0, 1)``, output (N_t,) iid ``N(0, 2 / N_t)``.

    With inputs from :func:`gaussian_inputs` every hidden pre-activation is about ``N(0, 1)`` and
    ``E f*(x)^2 = sum_j v_j^2 E relu(z)^2 = 1`` on average over teachers, so a label noise of
    variance ``1 / snr`` has signal-to-noise ratio ``snr`` (docs/randfeat.md#two-layer-student).
    """
    _checks.int_at_least("n_inputs", n_inputs, 1)
    _checks.int_at_least("n_hidden", n_hidden, 1)
    kh, ko = jax.random.split(key)
    hidden = jax.random.normal(kh, (n_hidden, n_inputs))
    output = jax.random.normal(ko, (n_hidden,)) * np.sqrt(2.0 / n_hidden)
    return ReluTeacher(hidden, output)


def teacher_outputs(teacher: ReluTeacher, x: jax.Array) -> jax.Array:
    """``f*(x) = output . relu(hidden x)`` for x (P, N_in) -> (P,)."""
    _shape("x", x, 2, "(P, N_in)")
    return jax.nn.relu(x @ teacher.hidden.T) @ teacher.output


def student_features(weights: jax.Array, x: jax.Array, width=None) -> jax.Array:
    """The student's hidden layer ``h(x) = sqrt(2 / N_h) relu(W x)`` on the first ``width`` units, (P, W).

    weights (W, N_in) iid ``N(0, 1)`` (fixed, not trained), x (P, N_in). Units ``j >= width`` are
    zero (``width`` may be traced; default ``W``), so a sweep over widths pads to the largest one
    and a zero unit changes no prediction and no gradient: the padded student equals the
    width-``N_h`` one exactly. The ``sqrt 2`` makes ``E |h(x)|^2 = |x|^2``: the limiting kernel is twice
    :func:`randfeat.relu_nngp_kernel`, and ``a ~ N(0, s_0^2 I)`` gives outputs of variance ``s_0^2``
    as in the linear student.
    """
    _shape("weights", weights, 2, "(W, N_in)")
    _shape("x", x, 2, "(P, N_in)")
    w_max = weights.shape[0]
    if width is None:
        return np.sqrt(2.0) * relu_features(weights, x)
    arr = _checks.concrete(width)
    if arr is not None and (arr.shape != () or not 1 <= float(arr) <= w_max or float(arr) != int(arr)):
        raise ValueError(f"width = {width!r} is out of range; allowed: an integer in [1, {w_max}]")
    return np.sqrt(2.0) * relu_features(weights, x) * width_mask(w_max, width)


def gram_spectrum(h: jax.Array) -> GramSpectrum:
    """The :class:`GramSpectrum` of ``K = H H^T`` for features h (P, W): one ``eigh``, shared by
    :func:`output_flow_errors`, :func:`null_space_component` and :func:`null_space_error` (pass it as
    ``spectrum=``; one decomposition instead of three)."""
    _shape("h", h, 2, "(P, W)")
    h = jnp.asarray(h)
    s, u = jnp.linalg.eigh(h @ h.T)
    s = jnp.maximum(s, 0.0)
    return GramSpectrum(s, u, _live(s, max(h.shape)))


def _gram(h: jax.Array, spectrum: GramSpectrum | None = None) -> GramSpectrum:
    return gram_spectrum(h) if spectrum is None else spectrum


def output_flow_errors(h: jax.Array, y: jax.Array, h_test: jax.Array, f_test: jax.Array, a0: jax.Array,
                       times, noise_var=0.0, step_size=None, spectrum: GramSpectrum | None = None) -> FlowErrors:
    """Exact learning curves of the output layer trained by gradient flow on fixed features.

    h (P, W) training features, y (P,) labels, h_test (Q, W) test features, f_test (Q,) the
    teacher's noiseless outputs there, a0 (W,) initial output weights, times (T,). The flow
    ``da/dt = H^T (y - H a)`` moves ``a`` only in the row space of ``H``:
    ``a(t) = a0 + H^T beta(t)`` with, for ``K = H H^T = U diag(s) U^T`` and ``r0 = y - H a0``,

        beta(t) = U diag((1 - e^{-s t}) / s) U^T r0,      r(t) = y - H a(t) = U diag(e^{-s t}) U^T r0 + r_perp

    (docs/randfeat.md#two-layer-student; with ``step_size = eta``, GD after ``t / eta`` steps, as in
    :func:`train_output_layer`). ``P x P`` algebra only, so a wide student costs no more than ``P``
    features. Returns ``E_g(t) = mean_Q (f_test - h_test a(t))^2 + noise_var`` (the expected error on
    a fresh label with noise of variance ``noise_var``) and ``E_t(t) = |r(t)|^2 / P``, each (T,).
    ``spectrum``: :func:`gram_spectrum` of h, if already computed.
    """
    _shape("h", h, 2, "(P, W)")
    _shape("h_test", h_test, 2, "(Q, W)")
    _shape("y", y, 1, "(P,)")
    _shape("f_test", f_test, 1, "(Q,)")
    _flow_args(times, noise_var, step_size)
    h = jnp.asarray(h)
    dtype = h.dtype
    t = jnp.asarray(times, dtype)
    a0 = jnp.asarray(a0, dtype)
    s, u, live = _gram(h, spectrum)
    r0 = jnp.asarray(y, dtype) - h @ a0
    q = jnp.where(live, u.T @ r0, 0.0)
    r_perp = r0 - u @ q
    m = (h_test @ h.T) @ u  # (Q, P): test predictions per unit of beta in the eigenbasis
    pred = h_test @ a0 + (_gain(s, live, t, step_size) * q) @ m.T  # (T, Q)
    test = jnp.mean((jnp.asarray(f_test, dtype) - pred) ** 2, axis=-1) + noise_var
    train = (r_perp @ r_perp + _decay(s, t, step_size) ** 2 @ (q * q)) / h.shape[0]
    return FlowErrors(test, train)


def train_output_layer(h: jax.Array, y: jax.Array, a0: jax.Array, step_size, steps: int) -> jax.Array:
    """Output weights after ``steps`` steps of GD ``a <- a + eta H^T (y - H a)`` from a0, (W,).

    h (P, W), y (P,), a0 (W,); ``eta = step_size`` (stable for ``eta < 2 / s_max(H^T H)``). The
    iteration itself (a ``fori_loop``), not a closed form: the reference that
    :func:`output_flow_errors` with ``step_size`` reproduces, and whose null-space component
    :func:`null_space_component` shows to be frozen.
    """
    _shape("h", h, 2, "(P, W)")
    _checks.positive("step_size", step_size)
    steps = _checks.int_at_least("steps", steps, 0)
    h = jnp.asarray(h)
    y = jnp.asarray(y, h.dtype)

    def step(_, a):
        return a + step_size * (h.T @ (y - h @ a))

    return jax.lax.fori_loop(0, steps, step, jnp.asarray(a0, h.dtype))


def null_space_component(h: jax.Array, v: jax.Array, spectrum: GramSpectrum | None = None) -> jax.Array:
    """The part of weights v (W,) in the null space of h (P, W): ``v - H^T K^+ H v``, ``K = H H^T``, (W,).

    Gradient flow and GD on the output layer never change it (the frozen subspace,
    docs/randfeat.md#frozen-subspace). Its dimension is ``W - rank H``, ``W - P`` when ``W > P``.
    ``spectrum``: :func:`gram_spectrum` of h, if already computed.
    """
    _shape("h", h, 2, "(P, W)")
    _shape("v", v, 1, "(W,)")
    s, u, live = _gram(h, spectrum)
    hv = u.T @ (h @ v)
    coef = jnp.where(live, hv / jnp.where(live, s, 1.0), 0.0)
    return v - h.T @ (u @ coef)


def null_space_error(h: jax.Array, h_test: jax.Array, spectrum: GramSpectrum | None = None) -> jax.Array:
    """``mean_Q |P_null h_test(x)|^2`` (): the test error that unit-variance weights in the frozen subspace add.

    For ``a0 ~ N(0, s_0^2 I)`` the frozen part ``P_null a0`` stays, so as ``t -> infinity``
    ``E[E_g(t; s_0^2)] - E_g(t; 0) -> s_0^2 mean_Q |P_null h_test(x)|^2`` (the expectation over a0;
    docs/randfeat.md#frozen-subspace). Computed as ``|h|^2 - (H h)^T K^+ (H h)``: h (P, W), h_test (Q, W).
    ``spectrum``: :func:`gram_spectrum` of h, if already computed.
    """
    _shape("h", h, 2, "(P, W)")
    _shape("h_test", h_test, 2, "(Q, W)")
    s, u, live = _gram(h, spectrum)
    g = u.T @ (h @ h_test.T)  # (P, Q)
    inv = jnp.where(live, 1.0 / jnp.where(live, s, 1.0), 0.0)
    row = jnp.sum(inv[:, None] * g * g, axis=0)
    return jnp.mean(jnp.sum(h_test * h_test, axis=-1) - row)


__all__ = ["FlowErrors", "GramSpectrum", "ReluTeacher", "gaussian_inputs", "gram_spectrum", "linear_flow_errors",
           "linear_teacher", "null_space_component", "null_space_error", "output_flow_errors", "relu_teacher",
           "student_features", "teacher_outputs", "train_output_layer"]
