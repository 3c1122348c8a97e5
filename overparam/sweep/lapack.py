"""How a sweep evaluates a point that calls LAPACK on CPU, so that it cannot deadlock.

jaxlib 0.10's CPU kernels for ``eigh``, ``lu`` (``solve``), ``qr``, ``svd``, ``cholesky``, ...
split a *batch* of matrices into tasks on XLA's intra-op thread pool (one thread per core) and
block the calling thread until those tasks finish, unless the batch's work is below
``INLINE_WORK`` flops (by jaxlib's own estimate) or it holds one matrix: then it is factorised on
the calling thread. Several batched calls running at once, from independent parts of one program
or from several CPU devices (each runs on a thread of the same pool), can occupy every thread
while their tasks wait for a free one: the process sleeps forever
(docs/architecture.md#known-xla-cpu-deadlock). So on CPU, when a vmapped chunk would give some
LAPACK call more work than that (:func:`runs_per_call`), the engine evaluates the point's program
with each LAPACK call rebound so that its batching rule loops over single matrices
(:func:`evaluate_mapped`; the rest of the program stays vmapped), or, where a call sits out of
its reach (inside a custom derivative), maps over groups of runs small enough. A point that
batches large LAPACK calls itself (:func:`batches_lapack`) also runs on at most half the cores'
devices (:func:`safe_cpu_devices`), which keeps threads free for the tasks. The numbers do not
depend on the device count.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

INLINE_WORK = 200_000  # jaxlib 0.10: a batch of less work (its flop estimate) runs on the calling thread
# primitives lowered to jaxlib's batched LAPACK kernels on CPU
LAPACK_PRIMITIVES = frozenset({"eigh", "eig", "lu", "qr", "svd", "cholesky", "schur", "householder_product",
                               "geqrf", "geqp3", "hessenberg", "tridiagonal", "tridiagonal_solve"})


def _equations(jaxpr: Any):
    stack = [getattr(jaxpr, "jaxpr", jaxpr)]
    while stack:
        j = stack.pop()
        for eqn in getattr(j, "eqns", ()):
            yield eqn
            stack.extend(_sub_jaxprs(eqn))


def primitives(jaxpr: Any) -> set[str]:
    """Names of every primitive in ``jaxpr`` (a ``Jaxpr`` or ``ClosedJaxpr``), sub-jaxprs included."""
    return {eqn.primitive.name for eqn in _equations(jaxpr)}


def uses_lapack(jaxpr: Any) -> bool:
    """Whether ``jaxpr`` holds a primitive that runs on jaxlib's LAPACK kernels on CPU."""
    return bool(primitives(jaxpr) & LAPACK_PRIMITIVES)


# jaxlib 0.10's flop estimate per real matrix, in units of m n min(m, n) (lapack_kernels.cc); complex: 3 times
_COST = {"eigh": 5.0, "svd": 10.0, "qr": 6.0, "geqrf": 2.0, "geqp3": 2.0, "householder_product": 4.0, "lu": 1.0,
         "cholesky": 1.0 / 3.0, "eig": 10.0, "schur": 5.0, "hessenberg": 2.0}


def _work(eqn: Any) -> float:
    """jaxlib's flop estimate for one run's call (the point's own batch included), complex counted thrice."""
    aval = getattr(eqn.invars[0], "aval", None) if eqn.invars else None
    shape = tuple(getattr(aval, "shape", ()))
    factor = _COST.get(eqn.primitive.name)
    if factor is None or len(shape) < 2:
        return math.inf  # no estimate (tridiagonal kernels): treat as large
    m, n = shape[-2:]
    complex_ = 3.0 if jnp.issubdtype(getattr(aval, "dtype", float), jnp.complexfloating) else 1.0
    return math.prod(shape[:-2]) * factor * complex_ * m * n * min(m, n)


def _calls(jaxpr: Any) -> list[Any]:
    return [eqn for eqn in _equations(jaxpr) if eqn.primitive.name in LAPACK_PRIMITIVES]


def batches_lapack(jaxpr: Any) -> bool:
    """Whether ``jaxpr`` holds a LAPACK call on a stack of matrices large enough to use the pool."""
    return any(len(getattr(eqn.invars[0].aval, "shape", ())) > 2 and _work(eqn) >= INLINE_WORK
               for eqn in _calls(jaxpr) if eqn.invars)


def runs_per_call(jaxpr: Any, runs: int) -> int:
    """How many of a device's ``runs`` one vmapped call of the point may hold on CPU.

    ``runs`` when the point has no LAPACK call or when every such call, batched over all the runs,
    stays below ``INLINE_WORK`` flops (jaxlib then factorises on the calling thread); otherwise the
    largest number that keeps every call below it, and at least 1 (a single matrix never waits).
    """
    calls = _calls(jaxpr)
    if not calls:
        return runs
    largest = max(_work(eqn) for eqn in calls)
    fits = int((INLINE_WORK - 1) // largest) if math.isfinite(largest) else 0
    return max(1, min(runs, fits))


def cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def safe_cpu_devices(devices: Sequence[Any], jaxpr: Any) -> list[Any]:
    """``devices``, or only the first ``max(1, cores // 2)`` of them for a CPU point that batches LAPACK calls.

    Accelerators are returned unchanged, as are CPU devices when the point's own LAPACK calls (if
    any) are on single matrices or small stacks: evaluated a few runs at a time
    (:func:`runs_per_call`) they never use the pool.
    """
    devices = list(devices)
    if not devices or devices[0].platform != "cpu" or len(devices) <= max(1, cores() // 2):
        return devices
    if not batches_lapack(jaxpr):
        return devices
    return devices[: max(1, cores() // 2)]


_JIT = ("pjit", "jit")
_REBUILT = ("pjit", "jit", "scan", "while", "cond")  # higher-order primitives whose bodies evaluate_mapped rewrites


def _sub_jaxprs(eqn: Any) -> list[Any]:
    subs = []
    for value in eqn.params.values():
        for sub in value if isinstance(value, (list, tuple)) else (value,):
            inner = getattr(sub, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                subs.append(inner)
            elif hasattr(sub, "eqns"):
                subs.append(sub)
    return subs


def mappable(jaxpr: Any) -> bool:
    """Whether :func:`evaluate_mapped` reaches every LAPACK call of ``jaxpr``: at its top level or inside
    ``jit``s, loops (``scan``, ``while``) and branches (``cond``), not inside custom derivatives."""
    for eqn in getattr(jaxpr, "jaxpr", jaxpr).eqns:
        if eqn.primitive.name in LAPACK_PRIMITIVES:
            continue
        subs = _sub_jaxprs(eqn)
        if not any(uses_lapack(s) for s in subs):
            continue
        if eqn.primitive.name not in _REBUILT or not all(mappable(s) for s in subs):
            return False
    return True


def _mapped_closed(closed: Any) -> Any:
    """``closed`` (a ClosedJaxpr) re-traced through :func:`evaluate_mapped`: the same signature."""
    import jax

    avals = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in closed.jaxpr.invars]
    return jax.make_jaxpr(lambda *a: evaluate_mapped(closed, *a))(*avals)


def _rebuilt_params(eqn: Any) -> dict:
    params = dict(eqn.params)
    for key in ("jaxpr", "body_jaxpr", "cond_jaxpr"):
        if key in params and uses_lapack(params[key]):
            params[key] = _mapped_closed(params[key])
    if "branches" in params:
        params["branches"] = tuple(_mapped_closed(b) if uses_lapack(b) else b for b in params["branches"])
    return params


def _mapped_call(primitive: Any, params: dict) -> Any:
    """``primitive.bind`` whose batching rule is ``lax.map`` over the batch: one matrix per LAPACK call."""
    import jax
    from jax import custom_batching

    def call(*xs):
        out = primitive.bind(*xs, **params)
        return tuple(out) if primitive.multiple_results else out

    mapped = custom_batching.custom_vmap(call)

    @mapped.def_vmap
    def rule(axis_size, in_batched, *xs):
        xs = tuple(x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x))) for x, b in zip(xs, in_batched))
        outs = jax.lax.map(lambda a: call(*a), xs)
        return outs, jax.tree.map(lambda _: True, outs)

    return mapped


def evaluate_mapped(closed: Any, *args: Any) -> list[Any]:
    """Evaluate a closed jaxpr with each LAPACK call bound through :func:`_mapped_call`.

    Under ``vmap`` (the sweep's runs) every other operation stays batched, while each LAPACK call
    becomes a loop over single matrices, which jaxlib factorises on the calling thread: a vmapped
    chunk without any LAPACK batch. Needs :func:`mappable`. The values are those of the jaxpr.
    """
    from jax.extend import core as jcore

    jaxpr, consts = getattr(closed, "jaxpr", closed), getattr(closed, "consts", ())
    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        return v.val if isinstance(v, jcore.Literal) else env[v]

    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        prim = eqn.primitive
        if prim.name in LAPACK_PRIMITIVES:
            out = _mapped_call(prim, eqn.params)(*invals)
        elif prim.name in _JIT:
            out = evaluate_mapped(eqn.params["jaxpr"], *invals)
        elif prim.name in _REBUILT and any(uses_lapack(sub) for sub in _sub_jaxprs(eqn)):
            with eqn.ctx.manager:
                out = prim.bind(*invals, **prim.get_bind_params(_rebuilt_params(eqn)))
        else:
            with eqn.ctx.manager:
                out = prim.bind(*invals, **prim.get_bind_params(eqn.params))
        outs = list(out) if (prim.multiple_results or prim.name in _JIT) else [out]
        env.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]
