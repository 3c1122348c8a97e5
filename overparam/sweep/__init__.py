"""Sweeps: a pure function of (config, key) evaluated over a grid, chunked, sharded, stored.

``run`` is the engine; ``width_mask`` / ``pad_axis`` / ``max_value`` let a sweep over a varying
rank or width compile once; ``make_grid`` validates and flattens a grid.
"""

from overparam.sweep.engine import DEFAULT_CHUNK, run
from overparam.sweep.grid import Grid, make_grid
from overparam.sweep.padding import max_value, pad_axis, width_mask

__all__ = ["DEFAULT_CHUNK", "Grid", "make_grid", "max_value", "pad_axis", "run", "width_mask"]
