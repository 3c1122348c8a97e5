"""How a sweep evaluates a point that calls LAPACK on CPU, so that it cannot deadlock.

jaxlib 0.10's CPU kernels for ``eigh``, ``lu`` (``solve``), ``qr``, ``svd``, ``cholesky``, ...
split a *batch* of matrices into tasks on XLA's intra-op thread pool (one thread per core) and
block the calling thread until those tasks finish; a single matrix (batch 1) is factorised on the
calling thread. Several batched calls running at once, from independent parts of one program or
from several CPU devices (each runs on a thread of the same pool), can occupy every thread while
their tasks wait for a free one: the process sleeps forever
(docs/architecture.md#known-xla-cpu-deadlock). So on CPU a point holding such a call is evaluated
run by run (``lax.map`` over the chunk's runs on each device, not ``vmap``): its LAPACK calls stay
unbatched unless the point batches them itself. Such a point (:func:`batches_lapack`) also runs on
at most half the cores' devices (:func:`safe_cpu_devices`), which keeps threads free for the
tasks. The numbers do not depend on the device count.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

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


def _batched(eqn: Any) -> bool:
    ndim = getattr(getattr(eqn.invars[0], "aval", None), "ndim", 0) if eqn.invars else 0
    return ndim > (1 if eqn.primitive.name.startswith("tridiagonal") else 2)


def batches_lapack(jaxpr: Any) -> bool:
    """Whether ``jaxpr`` holds a LAPACK call on a stack of matrices (leading batch dimensions)."""
    return any(eqn.primitive.name in LAPACK_PRIMITIVES and _batched(eqn) for eqn in _equations(jaxpr))


def map_runs(devices: Sequence[Any], jaxpr: Any) -> bool:
    """Whether a chunk's runs are evaluated one after the other (``lax.map``): a CPU point with LAPACK calls."""
    return bool(devices) and devices[0].platform == "cpu" and uses_lapack(jaxpr)


def cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def safe_cpu_devices(devices: Sequence[Any], jaxpr: Any) -> list[Any]:
    """``devices``, or only the first ``max(1, cores // 2)`` of them for a CPU point that batches LAPACK calls.

    Accelerators are returned unchanged, as are CPU devices when the point's LAPACK calls (if any)
    are on single matrices: evaluated run by run (:func:`map_runs`) they never use the pool.
    """
    devices = list(devices)
    if not devices or devices[0].platform != "cpu" or len(devices) <= max(1, cores() // 2):
        return devices
    if not batches_lapack(jaxpr):
        return devices
    return devices[: max(1, cores() // 2)]
