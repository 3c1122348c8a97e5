"""overparam: the shared layer of the sandbox (sweep engine, result store, study API, reports, CLI).

Importing it before JAX first computes applies the XLA:CPU scheduler workaround
(:func:`overparam.runtime.avoid_cpu_deadlock`, docs/architecture.md#known-xla-cpu-deadlock).
"""

from importlib.metadata import PackageNotFoundError, version as _version

from overparam import runtime as _runtime

_runtime.avoid_cpu_deadlock()

try:
    __version__ = _version("overparam")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
