"""The staged counterexample search: a space-filling design, refinement from the worst points, shrinking.

A conjecture is a *margin*: a pure, jittable ``margin(params) -> scalar`` that is ``>= 0`` wherever
the conjecture holds (``bound - regret``, ``rate - alpha^2 c``, ...). :func:`falsify` looks for a
point of the space where it is ``< 0``. Every stage is one sweep of :func:`overparam.sweep.run`
over a single integer axis ``point = range(N)``; the stage's design (its ``N`` rows, see
:mod:`overparam.falsify.space`) is a constant of the point function, so the stage is a chunked,
vmapped evaluation sharded over the local devices, with progress, and with ``store=`` it
resumes from where it stopped. Shapes never change inside a stage: each stage compiles once.

1. **design**: a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``, seeded from ``key``)
   mapped to the box (log axes uniform in ``log x``, integers by ``floor``, choices by index),
   preceded by the ``2^d`` corners of the box when they fit in an eighth of the stage.
2. **refine**: from the points of smallest finite margin (about ``refine * budget``
   evaluations in all), ``steps`` steps per start, many starts at once under vmap. A step
   evaluates the margin and its gradient at the current point and at its neighbours in the
   integer and choice coordinates (``+-1`` and ``+-max(2, range // 16)``) in one vmapped call,
   moves to the best of them, then takes a normalised, projected gradient step on the
   continuous coordinates, ``u <- clip(u - s_t g / ||g||, 0, 1)`` in unit coordinates (log
   axes in ``log x``), ``s_t`` geometric from ``0.1`` to ``1e-4``. The gradient is ``jax.grad``
   (or ``jax.jacfwd`` on request); where reverse mode cannot trace the margin (a
   ``while_loop``) the continuous coordinates take compass moves ``u +- s_t e_j`` instead,
   evaluated in the same vmapped call. Every evaluated point is recorded.
3. **shrink** (only when a violation was seen): from the most violating point and the first
   violations of the design, coordinate by coordinate for ``shrink_passes`` passes, try
   simpler values in order of simplicity and keep the first that still violates: for a real
   axis the value nearest 0 in the box, the two ends, then the value rounded and truncated
   (toward the simplest value) to 1, 2, ..., 8 significant digits; for an integer the value
   ``a`` nearest 0, then ``a + trunc((v - a) / 2^j)`` and ``v - trunc((v - a) / 2^j)``,
   ``j = 1..9``, nearest ``a`` first; for a choice the earlier values. The simplest result
   (fewest digits, smallest integers, earliest choices: :func:`complexity`) is reported; the way
   hypothesis shrinks.

The counterexample and the shrunk point are re-evaluated alone, one jitted float64 call each;
only a point whose re-evaluated margin is finite and ``< 0`` is reported. NaN and infinite
margins are counted and reported with examples, never taken as counterexamples. The user guide,
with the gallery as examples, is docs/falsify.md#stages.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from overparam import sweep
from overparam.falsify.result import NonFinite, Result, margin_histogram
from overparam.falsify.space import CHOICE, INTEGER, REAL, Box, Space, make_box

__all__ = ["falsify", "complexity"]

Margin = Callable[[dict[str, jax.Array]], jax.Array]

STEP_HI, STEP_LO = 0.1, 1e-4  # normalised gradient step in unit coordinates, first and last of a round
SIG_DIGITS = 8  # shrinking tries 1..SIG_DIGITS significant digits
CANDIDATES = 3 + 2 * SIG_DIGITS  # shrink candidates per coordinate and pass
MAX_CORNER_DIMS = 12
EXAMPLES = 5


# ----------------------------------------------------------------------------- validation


def _int_at_least(name: str, value: Any, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} = {value!r} must be an integer >= {low}")
    return int(value)


def _key_seed(key: Any) -> list[int]:
    if not isinstance(key, jax.Array):
        raise ValueError(f"key must be a jax.random key, got {key!r}")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single key (shape ()), got shape {key.shape}")
        return np.asarray(jax.random.key_data(key)).ravel().tolist()
    if key.dtype != jnp.uint32 or key.shape != (2,):
        raise ValueError(f"key must be a jax.random key (typed, or uint32 of shape (2,)), got {key.dtype} {key.shape}")
    return np.asarray(key).tolist()


def _margin_at(margin: Margin, box: Box) -> Callable[[jax.Array], jax.Array]:
    """``x (d,) -> margin(params(x))`` as a float64 scalar."""

    def at(x: jax.Array) -> jax.Array:
        return jnp.asarray(margin(box.params_jax(x))).astype(jnp.float64)

    return at


def _check_margin(at: Callable[[jax.Array], jax.Array], box: Box) -> None:
    shape = jax.eval_shape(at, jax.ShapeDtypeStruct((box.d,), jnp.float64))
    if shape.shape != ():
        raise ValueError(f"margin must return a scalar, got shape {shape.shape}")


def _margin_name(margin: Margin) -> str:
    name = getattr(margin, "__qualname__", None) or type(margin).__qualname__
    return f"{getattr(margin, '__module__', '')}.{name}"


# ----------------------------------------------------------------------------- stage 1: design


def _sobol(d: int, n: int, seed: list[int]) -> np.ndarray:
    """``n`` points of a scrambled Sobol sequence in ``[0, 1)^d`` (the first ``n`` of ``2^ceil(log2 n)``)."""
    from scipy.stats import qmc

    rng = np.random.default_rng(seed)
    try:
        engine = qmc.Sobol(d, scramble=True, rng=rng)
    except TypeError:  # scipy < 1.15 names the generator `seed`
        engine = qmc.Sobol(d, scramble=True, seed=rng)
    m = max(0, math.ceil(math.log2(max(n, 1))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return engine.random_base2(m)[:n]


def _corners(box: Box) -> np.ndarray:
    """The ``2^d`` corners of the box (rows), fixed axes counted once."""
    free = [j for j in range(box.d) if box.hi[j] > box.lo[j]]
    if not free:
        return box.lo[None, :].copy()
    grid = np.array(np.meshgrid(*[[0.0, 1.0]] * len(free), indexing="ij")).reshape(len(free), -1).T
    rows = np.repeat(box.lo[None, :], grid.shape[0], axis=0)
    rows[:, free] = np.where(grid > 0, box.hi[free], box.lo[free])
    return rows


def design(box: Box, n: int, seed: list[int]) -> np.ndarray:
    """The stage-1 rows ``(n, d)``: the box's corners (when ``2^d <= n / 8``), then scrambled Sobol."""
    n_free = int(np.sum(box.hi > box.lo))
    corners = _corners(box) if n_free <= MAX_CORNER_DIMS and 2**n_free * 8 <= n else np.zeros((0, box.d))
    sobol = box.from_unit(_sobol(box.d, n - len(corners), seed))
    return np.concatenate([corners, sobol], axis=0)


# ----------------------------------------------------------------------------- stage 2: refine


def _neighbour_offsets(box: Box) -> np.ndarray:
    """Offsets ``(Q, d)`` of the neighbour moves: +-1 and +-max(2, range // 16) per discrete coordinate."""
    rows = []
    for j in box.discrete:
        jump = max(2.0, float(np.floor((box.hi[j] - box.lo[j]) / 16.0)))
        for step in (-1.0, 1.0, -jump, jump):
            r = np.zeros(box.d)
            r[j] = step
            rows.append(r)
    return np.asarray(rows, dtype=np.float64).reshape(-1, box.d)


def _gradient_mode(at: Callable[[jax.Array], jax.Array], box: Box) -> str:
    cont = box.continuous
    if cont.size == 0:
        return "none"
    x0 = jax.ShapeDtypeStruct((box.d,), jnp.float64)

    def f(uc: jax.Array, x: jax.Array) -> jax.Array:
        return at(x.at[cont].set(box.real_from_unit_jax(box.to_unit_jax(x).at[cont].set(uc))[cont]))

    try:
        jax.eval_shape(jax.grad(f), jax.ShapeDtypeStruct((cont.size,), jnp.float64), x0)
        return "reverse"
    except Exception:  # noqa: BLE001 - reverse mode cannot trace this margin (e.g. a while_loop)
        return "none"


def _refiner(at: Callable[[jax.Array], jax.Array], box: Box, steps: int,
             mode: str) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    """``x0 (d,) -> (margins (E,), rows (E, d))``: every point stage 2 evaluates from start ``x0``.

    Each of the ``steps`` steps evaluates the margin and its gradient (continuous coordinates, in
    unit coordinates) at the current point and at its ``Q`` discrete neighbours in one vmapped
    call, moves to the best of them, then takes the normalised, projected gradient step
    ``u <- clip(u - s_t g / ||g||, 0, 1)`` from there. With ``mode="none"`` the batch also holds
    the compass points ``u +- s_t e_j`` of the ``c`` continuous coordinates and the move to the
    best of the batch is the whole step. ``E = steps (1 + Q)``, or ``steps (1 + Q + 2 c)``.
    """
    cont = box.continuous
    offsets = jnp.asarray(np.concatenate([np.zeros((1, box.d)), _neighbour_offsets(box)]))
    lo, hi = jnp.asarray(box.lo), jnp.asarray(box.hi)
    schedule = jnp.asarray(STEP_HI * (STEP_LO / STEP_HI) ** (np.arange(steps) / max(steps - 1, 1)))

    def with_unit(x: jax.Array, uc: jax.Array) -> jax.Array:
        real = box.real_from_unit_jax(box.to_unit_jax(x).at[cont].set(uc))
        return x.at[cont].set(real[cont])

    def f(uc: jax.Array, x: jax.Array) -> jax.Array:
        return at(with_unit(x, uc))

    if mode == "reverse":
        value_and_grad = jax.value_and_grad(f)
    elif mode == "forward":
        def value_and_grad(uc: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
            jac, value = jax.jacfwd(lambda u: (f(u, x), f(u, x)), has_aux=True)(uc)
            return value, jac
    else:
        def value_and_grad(uc: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
            return f(uc, x), jnp.zeros_like(uc)
    compass = jnp.asarray(np.concatenate([np.eye(cont.size), -np.eye(cont.size)])) if mode == "none" else None

    def step(carry, s):
        x, best_x, best_m = carry
        batch = jnp.clip(x[None, :] + offsets, lo, hi)  # the point and its discrete neighbours
        if compass is not None and cont.size:
            u0 = box.to_unit_jax(x)[cont]
            moved = jax.vmap(lambda e: with_unit(x, jnp.clip(u0 + s * e, 0.0, 1.0)))(compass)
            batch = jnp.concatenate([batch, moved])
        uc = jax.vmap(box.to_unit_jax)(batch)[:, cont]
        m, g = jax.vmap(value_and_grad)(uc, batch)
        safe = jnp.where(jnp.isfinite(m), m, jnp.inf)
        i = jnp.argmin(safe)
        better = safe[i] < best_m
        best_x, best_m = jnp.where(better, batch[i], best_x), jnp.where(better, safe[i], best_m)
        base = jnp.where(safe[i] < safe[0], i, 0)
        gi = jnp.where(jnp.isfinite(g[base]), g[base], 0.0)
        norm = jnp.sqrt(jnp.sum(gi * gi))
        u_next = jnp.clip(uc[base] - s * gi / jnp.where(norm > 0, norm, 1.0), 0.0, 1.0)
        return (with_unit(batch[base], u_next), best_x, best_m), (m, batch)

    def refine(x0: jax.Array) -> tuple[jax.Array, jax.Array]:
        _, (m, x) = jax.lax.scan(step, (x0, x0, jnp.asarray(jnp.inf)), schedule)
        return m.reshape(-1), x.reshape(-1, box.d)

    return refine


def evaluations_per_start(box: Box, steps: int, mode: str) -> int:
    """Margin evaluations stage 2 spends on one start: ``steps (1 + Q)`` (``Q`` the discrete
    neighbours), plus ``2 c`` per step for the compass moves of ``mode="none"``."""
    compass = 2 * box.continuous.size if mode == "none" else 0
    return steps * (1 + _neighbour_offsets(box).shape[0] + compass)


# ----------------------------------------------------------------------------- stage 3: shrink


_POWERS = np.asarray([float(f"1e{k}") for k in range(309)])  # 10^k correctly rounded (exact for k <= 22)


def _power_of_ten(k: jax.Array) -> jax.Array:
    """``10^k`` for integer-valued ``0 <= k`` (any shape), from a table: exact for ``k <= 22``,
    correctly rounded up to ``10^308``, ``inf`` beyond. XLA's ``pow`` is not exact even at small
    integers."""
    table = jnp.asarray(np.append(_POWERS, np.inf))
    return table[jnp.clip(k, 0, 309).astype(jnp.int32)]


def _round_sig(x: jax.Array, s: jax.Array, toward: float) -> tuple[jax.Array, jax.Array]:
    """``x`` rounded to ``s`` significant digits, to nearest and truncated toward ``toward``
    (``s`` an array: the results take its shape). Exact (the float nearest the decimal) while the
    scaling power ``10^|s - 1 - e|`` is at most ``10^22``."""
    ax = jnp.abs(x)
    e = jnp.floor(jnp.log10(jnp.where(ax > 0, ax, 1.0)))
    mantissa = jnp.where(e >= 0, ax / _power_of_ten(jnp.abs(e)), ax * _power_of_ten(jnp.abs(e)))
    e = e - (mantissa < 1.0).astype(e.dtype) + (mantissa >= 10.0).astype(e.dtype)  # log10 rounded across a decade
    p = s - 1 - e
    scale = _power_of_ten(jnp.minimum(jnp.abs(p), 400.0))
    y = jnp.where(p >= 0, x * scale, x / scale)
    back = lambda r: jnp.where(ax > 0, jnp.where(p >= 0, r / scale, r * scale), 0.0)  # noqa: E731
    return back(jnp.round(y)), back(jnp.where(x >= toward, jnp.floor(y), jnp.ceil(y)))


def _candidates(box: Box, j: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Simpler values ``(C,)`` for coordinate ``j`` (a traced index) of row ``x``, in order of
    simplicity, and which of them are valid.

    Real axis: the value nearest 0 in the box, the two ends, then ``x`` rounded and truncated to
    1..8 significant digits. A rounding that changes ``x`` has fewer digits, so it is simpler
    than an interior ``x``; an end of the box is simpler only than an interior value, and only
    the value nearest 0 is simpler than an end. Integer axis ``v``: the value ``a`` nearest 0 and
    ``a + trunc((v - a) / 2^j)``, ``v - trunc((v - a) / 2^j)`` for ``j = 1..9``, sorted by their
    distance to ``a`` (a bisection toward ``a`` from both ends). Choice: the earlier values. A
    value already listed is not valid again.
    """
    v = x[j]
    a = jnp.asarray(box.anchor)[j]
    lo, hi = jnp.asarray(box.lo)[j], jnp.asarray(box.hi)[j]
    kind = jnp.asarray(box.kinds)[j]
    cand = jnp.zeros(CANDIDATES)
    simpler = jnp.zeros(CANDIDATES, dtype=bool)
    if np.any(box.kinds == REAL):
        rounded, truncated = _round_sig(v, jnp.arange(1, SIG_DIGITS + 1, dtype=jnp.float64), a)
        real = jnp.clip(jnp.concatenate([jnp.stack([a, lo, hi]), jnp.stack([rounded, truncated], axis=1).reshape(-1)]),
                        lo, hi)
        corner = (v == lo) | (v == hi)
        real_simpler = jnp.where(corner, real == a, True) & (real != v) & (v != a)
        cand = jnp.where(kind == REAL, real, cand)
        simpler = jnp.where(kind == REAL, real_simpler, simpler)
    if np.any(box.kinds != REAL):
        halvings = 2.0 ** jnp.arange(1, (CANDIDATES - 1) // 2 + 1, dtype=jnp.float64)  # 2, 4, ..., 512
        step = jnp.trunc((v - a) / halvings)
        integer = jnp.concatenate([a[None], a + step, v - step])  # up from a, down from v
        integer = integer[jnp.argsort(jnp.abs(integer - a), stable=True)]
        choice = jnp.concatenate([jnp.arange(CANDIDATES - 1, dtype=jnp.float64), (v - 1.0)[None]])
        discrete = jnp.clip(jnp.where(kind == INTEGER, integer, choice), lo, hi)
        cand = jnp.where(kind == REAL, cand, discrete)
        simpler = jnp.where(kind == REAL, simpler, jnp.abs(discrete - a) < jnp.abs(v - a))
    earlier_same = jnp.any(jnp.tril(cand[:, None] == cand[None, :], k=-1), axis=1)  # evaluate each value once
    return cand, simpler & ~earlier_same


def _shrinker(at: Callable[[jax.Array], jax.Array], box: Box, passes: int
              ) -> Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]]:
    """``x0 (d,) -> (x, m, cand_m (P d, C), cand_valid (P d, C), cand_x (P d, C, d))``: ``passes``
    passes over the coordinates, each move keeping the first valid candidate that still violates."""
    d = box.d

    def body(carry, t):
        x, m = carry
        j = t % d
        values, valid = _candidates(box, j, x)
        rows = jnp.where(jnp.arange(d)[None, :] == j, values[:, None], x[None, :])
        ms = jax.vmap(at)(rows)
        ok = valid & jnp.isfinite(ms) & (ms < 0)
        k = jnp.argmax(ok)
        take = jnp.any(ok)
        x = jnp.where(take, rows[k], x)
        m = jnp.where(take, ms[k], m)
        return (x, m), (ms, valid, rows)

    def shrink(x0: jax.Array) -> tuple[jax.Array, ...]:
        (x, m), (ms, valid, rows) = jax.lax.scan(body, (x0, at(x0)), jnp.arange(passes * d))
        return x, m, ms, valid, rows

    return shrink


def _sig_digits(v: float) -> int:
    digits = np.format_float_scientific(v, unique=True, trim="-").split("e")[0]
    return len(digits.replace("-", "").replace(".", "").lstrip("0")) or 1


def complexity(box: Box | Space, x: np.ndarray) -> float:
    """How far row ``x`` ``(d,)`` is from the simplest point: the sum over coordinates of

    * real: 0 at the value nearest 0 in the box, 1 at either end, else 1 + its number of
      significant digits (shortest round-trip decimal, e.g. 0.0067 -> 3);
    * integer: ``log2(1 + |v - a|)``, ``a`` the integer of the box nearest 0;
    * choice: the index of the value (the first listed is simplest).
    """
    box = make_box(box)
    total = 0.0
    for j in range(box.d):
        v = float(x[j])
        a = float(box.anchor[j])
        if box.kinds[j] == REAL:
            total += 0.0 if v == a else 1.0 if v in (box.lo[j], box.hi[j]) else 1.0 + _sig_digits(v)
        elif box.kinds[j] == INTEGER:
            total += math.log2(1.0 + abs(v - a))
        else:
            total += v
    return total


# ----------------------------------------------------------------------------- the sweep stages


def _stage(name: str, fn: Callable[[jax.Array], Any], rows: np.ndarray, outputs: tuple[str, ...],
           out_dims: Mapping[str, tuple[str, ...]], *, key: jax.Array, chunk: int, store: Path | None,
           resume: bool, progress: bool | None, attrs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Evaluate ``fn`` on every row of ``rows`` through :func:`overparam.sweep.run`; return host arrays."""
    table = jnp.asarray(rows)

    def point(config: dict[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
        del key  # the search is deterministic given its design
        out = fn(table[config["point"]])
        out = out if isinstance(out, tuple) else (out,)
        return dict(zip(outputs, out))

    digest = hashlib.sha256(np.ascontiguousarray(rows).tobytes()).hexdigest()
    path = None if store is None else store / f"{name}.zarr"
    ds = sweep.run(point, {"point": range(rows.shape[0])}, key=key, chunk_size=max(1, min(chunk, rows.shape[0])),
                   out_dims=out_dims, store=path, resume=resume, progress=progress,
                   attrs={**attrs, "falsify_stage": name, "design_sha256": digest})
    return {k: np.asarray(ds[k].values) for k in outputs}


def falsify(
    margin: Margin,
    space: Space,
    *,
    key: jax.Array,
    budget: int,
    refine: float = 0.25,
    steps: int = 16,
    gradient: str = "auto",
    shrink_starts: int = 4,
    shrink_passes: int = 3,
    chunk_size: int = 4096,
    store: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> Result:
    """Search ``space`` for a point where ``margin(params) < 0``; return a :class:`Result`.

    Args:
      margin: pure, jittable ``params -> scalar``; ``params`` maps each name of ``space`` to a
        scalar array (float64, or int64 for integer axes and all-integer choices). It is ``>= 0``
        where the conjecture holds. Shapes inside it must not depend on the parameters.
      space: name -> :class:`Real` ``(lo, hi, log=False)`` | :class:`Integer` ``(lo, hi)`` |
        :class:`Choice` ``(values)``.
      key: a ``jax.random`` key; it seeds the scrambled Sobol design, so a search is reproducible.
      budget: the most margin evaluations the search spends, over all stages (>= 1). Stage 3's
        share (``shrink_starts * shrink_passes * d * 19``) is reserved and spent only when a
        violation is found; stage 2 gets about ``refine * budget``; stage 1 the rest.
      refine: fraction of the budget for stage 2, in ``[0, 1)``.
      steps: steps per start in stage 2.
      gradient: ``"auto"`` (``jax.grad``; compass moves where reverse mode cannot trace the
        margin), ``"reverse"``, ``"forward"`` (``jax.jacfwd``: exact, but slow to compile through
        loops) or ``"none"`` (compass and neighbour moves only; the cheapest to compile).
      shrink_starts, shrink_passes: violating points shrunk, and passes over the coordinates.
      chunk_size: margin evaluations per compiled call (stage 2 and 3 divide it by the
        evaluations of one start); peak memory scales with it.
      store: a directory; each stage writes its sweep store there (``design.zarr``,
        ``refine.zarr``, ``shrink.zarr``). ``resume=True`` continues an interrupted search and
        gives the same result; a store made by another search is refused.
      progress: tqdm bars of the sweeps (default: when stderr is a terminal).

    Returns:
      :class:`~overparam.falsify.result.Result`. The module docstring describes the stages.

    Raises:
      ValueError: bad input (named), a margin that does not return a scalar, or float64 off
      (``jax.config.update("jax_enable_x64", True)`` first: the exact re-evaluation is float64).
    """
    t_start = time.perf_counter()
    if not callable(margin):
        raise ValueError(f"margin must be callable, got {margin!r}")
    box = make_box(space)
    seed = _key_seed(key)
    budget = _int_at_least("budget", budget, 1)
    if isinstance(refine, (bool, np.bool_)) or not isinstance(refine, (int, float)) or not 0.0 <= refine < 1.0:
        raise ValueError(f"refine = {refine!r} must be a number in [0, 1)")
    steps = _int_at_least("steps", steps, 1)
    if gradient not in ("auto", "reverse", "forward", "none"):
        raise ValueError(f"gradient = {gradient!r} must be 'auto', 'reverse', 'forward' or 'none'")
    shrink_starts = _int_at_least("shrink_starts", shrink_starts, 1)
    shrink_passes = _int_at_least("shrink_passes", shrink_passes, 1)
    chunk_size = _int_at_least("chunk_size", chunk_size, 1)
    if resume and store is None:
        raise ValueError("resume=True needs a store directory; got store=None")
    if not jax.config.jax_enable_x64:
        raise ValueError("falsify needs float64: call jax.config.update('jax_enable_x64', True) first")

    at = _margin_at(margin, box)
    _check_margin(at, box)
    mode = _gradient_mode(at, box) if gradient == "auto" else gradient if box.continuous.size else "none"
    per_start = evaluations_per_start(box, steps, mode)
    shrink_cost = shrink_starts * shrink_passes * box.d * CANDIDATES
    n_starts = int(refine * budget) // per_start if per_start else 0
    n_design = budget - n_starts * per_start - shrink_cost
    if n_design < 1:
        raise ValueError(f"budget = {budget} is too small: stage 3 reserves {shrink_cost} evaluations and stage 2 "
                         f"{n_starts * per_start}; give at least {n_starts * per_start + shrink_cost + 1} "
                         "or lower shrink_starts / shrink_passes")
    path = None if store is None else Path(store)
    if path is not None:
        if path.exists() and not path.is_dir():
            raise ValueError(f"store = {str(path)!r} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
    attrs = {"margin": _margin_name(margin), "space": box.describe(), "budget": budget, "refine": float(refine),
             "steps": steps, "gradient": mode, "shrink_starts": shrink_starts, "shrink_passes": shrink_passes}
    common = dict(key=key, store=path, resume=resume, progress=progress, attrs=attrs)
    seconds: dict[str, float] = {}

    # stage 1: the design
    t0 = time.perf_counter()
    rows1 = design(box, n_design, seed)
    m1 = _stage("design", at, rows1, ("margin",), {}, chunk=chunk_size, **common)["margin"]
    seconds["design"] = time.perf_counter() - t0

    # stage 2: refinement from the worst points
    t0 = time.perf_counter()
    n_starts = min(n_starts, int(np.sum(np.isfinite(m1))))
    if n_starts:
        order = np.argsort(np.where(np.isfinite(m1), m1, np.inf), kind="stable")[:n_starts]
        starts = rows1[order]
        out = _stage("refine", _refiner(at, box, steps, mode), starts, ("margin", "x"),
                     {"margin": ("evaluation",), "x": ("evaluation", "coordinate")},
                     chunk=max(1, chunk_size // per_start), **common)
        m2, x2 = out["margin"].reshape(-1), out["x"].reshape(-1, box.d)
    else:
        m2, x2 = np.zeros(0), np.zeros((0, box.d))
    seconds["refine"] = time.perf_counter() - t0

    margins = [m1, m2]
    rows = [rows1, x2]
    exact = jax.jit(at)

    def exact_margin(x: np.ndarray) -> float:
        return float(exact(jnp.asarray(x, dtype=jnp.float64)))

    # the counterexample: the most violating point whose margin, re-evaluated alone, is < 0
    m12 = np.concatenate(margins)
    x12 = np.concatenate(rows)
    bad = np.flatnonzero(np.isfinite(m12) & (m12 < 0))
    counter, counter_m = None, None
    for i in bad[np.argsort(m12[bad], kind="stable")][:16]:
        value = exact_margin(x12[i])
        if math.isfinite(value) and value < 0:
            counter, counter_m = x12[i], value
            break

    # stage 3: shrinking
    t0 = time.perf_counter()
    shrunk, shrunk_m = None, None
    n_shrink = 0
    if counter is not None:
        first = np.flatnonzero(np.isfinite(m1) & (m1 < 0))
        pool = [counter] + [rows1[i] for i in first] + [x12[i] for i in bad[np.argsort(m12[bad], kind="stable")]]
        starts3: list[np.ndarray] = []
        for r in pool:
            if len(starts3) == shrink_starts:
                break
            if not any(np.array_equal(r, s) for s in starts3):
                starts3.append(r)
        out = _stage("shrink", _shrinker(at, box, shrink_passes), np.asarray(starts3),
                     ("x", "margin", "cand_margin", "cand_valid", "cand_x"),
                     {"x": ("coordinate",), "cand_margin": ("move", "candidate"), "cand_valid": ("move", "candidate"),
                      "cand_x": ("move", "candidate", "coordinate")},
                     chunk=len(starts3), **common)
        valid = out["cand_valid"].astype(bool)
        n_shrink = int(valid.sum())
        margins.append(out["cand_margin"][valid])
        rows.append(out["cand_x"][valid])
        ranked = sorted(range(len(starts3)), key=lambda i: (complexity(box, out["x"][i]), float(out["margin"][i])))
        for i in ranked:
            value = exact_margin(out["x"][i])
            if math.isfinite(value) and value < 0:
                shrunk, shrunk_m = out["x"][i], value
                break
        if shrunk is None:
            shrunk, shrunk_m = counter, counter_m
    seconds["shrink"] = time.perf_counter() - t0

    all_m = np.concatenate(margins)
    all_x = np.concatenate(rows)
    finite = np.isfinite(all_m)
    nonfinite_idx = np.flatnonzero(~finite)
    examples = tuple((box.params(all_x[i]), float(all_m[i])) for i in nonfinite_idx[:EXAMPLES])
    if finite.any():
        i_min = int(np.flatnonzero(finite)[np.argmin(all_m[finite])])
        min_margin, argmin = float(all_m[i_min]), box.params(all_x[i_min])
    else:
        min_margin, argmin = math.nan, None
    seconds["total"] = time.perf_counter() - t_start
    return Result(
        found=counter is not None,
        counterexample=None if counter is None else box.params(counter),
        counterexample_margin=counter_m,
        shrunk=None if shrunk is None else box.params(shrunk),
        shrunk_margin=shrunk_m,
        evaluated={"design": int(m1.size), "refine": int(m2.size), "shrink": n_shrink},
        min_margin=min_margin,
        argmin=argmin,
        violations=int(np.sum(finite & (all_m < 0))),
        histogram=margin_histogram(all_m),
        nonfinite=NonFinite(int(nonfinite_idx.size), examples),
        seconds=seconds,
        gradient=mode,
        space=box.describe(),
    )
