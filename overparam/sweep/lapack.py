"""How a sweep evaluates a point that calls LAPACK on CPU, so that it cannot deadlock.

jaxlib 0.10's CPU kernels for ``eigh``, ``lu`` (``solve``), ``qr``, ``svd``, ``cholesky``, ...
split a *batch* of matrices into tasks on XLA's intra-op thread pool (one thread per core) and
block the calling thread until those tasks finish, unless the batch's work is below
``INLINE_WORK`` flops (by jaxlib's own estimate) or it holds one matrix: then it is factorised on
the calling thread. Several batched calls running at once, from independent parts of one program
or from several CPU devices (each runs on a thread of the same pool), can occupy every thread
while their tasks wait for a free one: the process sleeps forever
(docs/architecture.md#known-xla-cpu-deadlock). So on CPU the engine vmaps a point over only as
many runs per call as keep every LAPACK call below that work (:func:`runs_per_call`; ``lax.map``
over groups of that many runs), which is all of a chunk's runs for small matrices and one run for
large ones. A point that batches large LAPACK calls itself (:func:`batches_lapack`) also runs on
at most half the cores' devices (:func:`safe_cpu_devices`), which keeps threads free for the
tasks. The numbers do not depend on the device count.
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
            for value in eqn.params.values():
                for sub in value if isinstance(value, (list, tuple)) else (value,):
                    inner = getattr(sub, "jaxpr", None)
                    if inner is not None and hasattr(inner, "eqns"):
                        stack.append(inner)
                    elif hasattr(sub, "eqns"):
                        stack.append(sub)


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
