"""Sweeps: a pure function of (config, key) evaluated over a grid, chunked, sharded, stored.

``run`` is the engine (``Interrupted`` is what it raises on SIGINT/SIGTERM, after the chunk in
flight is stored; ``default_chunk_size`` its default chunking); ``seed_key`` derives a run's key
from a seed of any size; ``width_mask`` / ``pad_axis`` / ``max_value`` let a sweep over a varying
rank or width compile once; ``make_grid`` validates and flattens a grid.
"""

from overparam.sweep.engine import DEFAULT_CHUNK, Interrupted, default_chunk_size, run
from overparam.sweep.grid import Grid, make_grid
from overparam.sweep.padding import max_value, pad_axis, width_mask
from overparam.sweep.seeds import seed_key

__all__ = ["DEFAULT_CHUNK", "Grid", "Interrupted", "default_chunk_size", "make_grid", "max_value", "pad_axis", "run",
           "seed_key", "width_mask"]
