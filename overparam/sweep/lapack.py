"""How many CPU devices a sweep may use safely when its point calls batched LAPACK routines.

jaxlib's CPU kernels for batched ``eigh``, ``lu`` (``solve``), ``qr``, ``svd``, ``cholesky``, ...
split their batch into per-matrix tasks on XLA's intra-op thread pool (one thread per core) and
block until those tasks finish. Each CPU device runs its share of a sweep's chunk on a thread of
that same pool, so with as many devices as pool threads every thread can be a device program
waiting for tasks that no free thread will run: the process sleeps forever
(docs/architecture.md#known-xla-cpu-deadlock). Keeping the number of CPU devices at most half the
cores leaves threads for the tasks. :func:`safe_cpu_devices` applies that cap only to points that
hold such a call, so other sweeps keep every core. The numbers do not depend on the device count.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

# primitives lowered to jaxlib's batched LAPACK kernels on CPU
LAPACK_PRIMITIVES = frozenset({"eigh", "eig", "lu", "qr", "svd", "cholesky", "schur", "householder_product",
                               "geqrf", "geqp3", "hessenberg", "tridiagonal", "tridiagonal_solve"})


def primitives(jaxpr: Any) -> set[str]:
    """Names of every primitive in ``jaxpr`` (a ``Jaxpr`` or ``ClosedJaxpr``), sub-jaxprs included."""
    found: set[str] = set()
    stack = [getattr(jaxpr, "jaxpr", jaxpr)]
    while stack:
        j = stack.pop()
        for eqn in getattr(j, "eqns", ()):
            found.add(eqn.primitive.name)
            for value in eqn.params.values():
                for sub in value if isinstance(value, (list, tuple)) else (value,):
                    inner = getattr(sub, "jaxpr", None)
                    if inner is not None and hasattr(inner, "eqns"):
                        stack.append(inner)
                    elif hasattr(sub, "eqns"):
                        stack.append(sub)
    return found


def uses_lapack(jaxpr: Any) -> bool:
    """Whether ``jaxpr`` holds a primitive that runs on jaxlib's batched LAPACK kernels on CPU."""
    return bool(primitives(jaxpr) & LAPACK_PRIMITIVES)


def cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def safe_cpu_devices(devices: Sequence[Any], jaxpr: Any) -> list[Any]:
    """``devices``, or only the first ``max(1, cores // 2)`` of them for a CPU point that calls LAPACK.

    Accelerators are returned unchanged, as are CPU devices when the point holds no LAPACK call.
    """
    devices = list(devices)
    if not devices or devices[0].platform != "cpu" or len(devices) <= max(1, cores() // 2):
        return devices
    if not uses_lapack(jaxpr):
        return devices
    return devices[: max(1, cores() // 2)]
