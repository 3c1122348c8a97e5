"""overparam: the shared layer of the sandbox (sweep engine, result store, studies, reports, CLI)."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("overparam")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
