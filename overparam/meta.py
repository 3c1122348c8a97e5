"""Run metadata recorded with every result: versions, git commit, precision and devices."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import jax

import overparam


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the source tree this package was imported from, or ``""`` outside a git checkout."""
    root = Path(overparam.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def run_metadata(devices: list[jax.Device] | None = None) -> dict[str, str | int]:
    """Package version, git commit, jax version, x64 flag (0/1), device kind and count, process count.

    Values are strings or ints so they can be stored as zarr and netCDF attributes.
    """
    devices = list(jax.local_devices()) if devices is None else list(devices)
    return {
        "overparam_version": overparam.__version__,
        "git_commit": git_commit(),
        "jax_version": jax.__version__,
        "jax_enable_x64": int(bool(jax.config.jax_enable_x64)),
        "device_kind": devices[0].device_kind if devices else "",
        "platform": devices[0].platform if devices else "",
        "device_count": len(devices) * jax.process_count(),
        "process_count": jax.process_count(),
    }
