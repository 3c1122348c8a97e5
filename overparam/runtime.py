"""Process-wide JAX set-up that must happen before JAX starts its backends.

* XLA:CPU's concurrency-optimised scheduler can deadlock when one compiled program holds several
  independent batched LAPACK calls (``eigh`` on stacks of matrices): every intra-op worker ends up
  waiting on tasks queued on the same pool (docs/architecture.md#known-xla-cpu-deadlock).
  :func:`avoid_cpu_deadlock` adds ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` to
  ``XLA_FLAGS``; importing :mod:`overparam` does it, so studies run from Python are covered as long
  as ``overparam`` is imported before JAX first computes.
* :func:`configure` (called by the command) also makes one CPU device per core, so sweeps shard
  over every core (results do not depend on the number of devices), and selects gloo collectives
  for several CPU processes. A sweep whose point calls batched LAPACK routines uses at most half
  of those devices (:mod:`overparam.sweep.lapack`): with one device program per pool thread, every
  thread can end up waiting inside such a call.
"""

from __future__ import annotations

import os
import sys

SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def backends_started() -> bool:
    """Whether JAX has already created its backends (after which XLA flags no longer apply)."""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", {}))
    except ImportError:  # pragma: no cover - private layout changed
        return True


def avoid_cpu_deadlock() -> bool:
    """Add :data:`SCHEDULER_FLAG` to ``XLA_FLAGS`` unless the user set that flag; True if it applies.

    Returns False when JAX's backends already started without it (the flag cannot apply then).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_enable_concurrency_optimized_scheduler" in flags:
        return True
    if backends_started():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {SCHEDULER_FLAG}".strip()
    return True


def configure(*, distributed: bool = False, cpu_devices: int | None = None) -> None:
    """Set up JAX for the command: the deadlock workaround, CPU devices per core, gloo collectives.

    ``cpu_devices`` defaults to the number already configured (``jax_num_cpu_devices``), else the
    number of cores this process may use. Does nothing to a JAX whose backends have already started.
    """
    avoid_cpu_deadlock()
    if backends_started():
        return
    import jax

    if cpu_devices is None:
        if int(jax.config.jax_num_cpu_devices) > 0:  # the caller chose a number already: keep it
            cpu_devices = int(jax.config.jax_num_cpu_devices)
        else:
            from overparam.sweep.lapack import cores

            cpu_devices = cores()
    jax.config.update("jax_num_cpu_devices", max(1, int(cpu_devices)))
    if distributed:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
