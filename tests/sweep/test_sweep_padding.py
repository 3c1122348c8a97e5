"""Padding and masking: a sweep over several ranks compiles once, and padded runs equal unpadded ones."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import overparam.sweep as sweep

N, K_MAX, STEPS, ETA = 6, 4, 60, 0.05
TRACES = {"masked": 0}


def target(key):
    """A fixed PSD rank-2 target M = U U^T, n = 6."""
    u = jax.random.normal(jax.random.key(99), (N, 2)) / jnp.sqrt(N)
    return u @ u.T


def factor_gd(x0, m):
    """Symmetric factorisation GD X <- X - eta (X X^T - M) X; returns ||X X^T - M||_F per step."""

    def body(x, _):
        r = x @ x.T - m
        x = x - ETA * r @ x
        return x, jnp.linalg.norm(x @ x.T - m)

    return jax.lax.scan(body, x0, None, length=STEPS)[1]


def masked_point(cfg, key):
    TRACES["masked"] += 1
    mask = sweep.width_mask(cfg["rank"], K_MAX)
    x0 = cfg["scale"] * jax.random.normal(key, (N, K_MAX)) * mask
    return {"error": factor_gd(x0, target(key)), "mask_sum": jnp.sum(mask * (jnp.arange(1.0, K_MAX + 1.0)))}


def test_rank_sweep_compiles_once_and_masks_exactly():
    TRACES["masked"] = 0
    grid = {"rank": [1, 2, 3, 4], "scale": [0.1, 0.5]}
    ds = sweep.run(masked_point, grid, key=jax.random.key(3), chunk_size=8, progress=False,
                   out_dims={"error": ("step",)})
    # sum_{j < r} (j + 1) = r (r + 1) / 2
    r = np.array([1, 2, 3, 4])
    np.testing.assert_array_equal(ds.mask_sum.values, np.repeat((r * (r + 1) / 2)[:, None], 2, axis=1))
    sweep.run(masked_point, {"rank": [2, 3, 1, 4], "scale": [0.2, 0.3]}, key=jax.random.key(4), chunk_size=8,
              progress=False, out_dims={"error": ("step",)})
    assert TRACES["masked"] == 1


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_padded_run_equals_unpadded_run(rank):
    """A zero column of X stays zero under GD, so rank-k GD embedded in k_max columns is exact."""
    key = jax.random.key(5)
    grid = {"rank": [1, 2, 3, 4], "scale": [0.5]}
    ds = sweep.run(masked_point, grid, key=key, chunk_size=8, progress=False, out_dims={"error": ("step",)})
    i = np.ravel_multi_index((rank - 1, 0), (4, 1))
    k = jax.random.fold_in(key, i)
    x0 = 0.5 * jax.random.normal(k, (N, K_MAX))[:, :rank]
    np.testing.assert_allclose(ds.error.sel(rank=rank, scale=0.5).values, factor_gd(x0, target(k)), rtol=1e-12)


@given(width=st.integers(1, 9), size=st.integers(9, 12))
def test_width_mask_and_pad_axis(width, size):
    mask = np.asarray(sweep.width_mask(jnp.asarray(width), 9))
    assert mask.sum() == width and np.all(mask[:width] == 1) and np.all(mask[width:] == 0)
    x = jnp.arange(9.0) + 1.0
    padded = np.asarray(sweep.pad_axis(x, size))
    assert padded.shape == (size,) and padded.sum() == 45.0


@pytest.mark.parametrize("width", [9, 5, 0, -1, np.int64(5), jnp.asarray(5), 2.0, True])
def test_concrete_width_outside_1_to_max_is_refused(width):
    with pytest.raises(ValueError, match=r"width must be an integer in \[1, max_width=4\]"):
        sweep.width_mask(width, 4)


def test_traced_width_cannot_be_checked_and_saturates_as_documented():
    """Under jit the width is not concrete: 9 > max_width gives the all-ones mask, 0 the zero mask."""
    masks = jax.jit(jax.vmap(lambda w: sweep.width_mask(w, 4)))(jnp.asarray([0, 2, 9]))
    np.testing.assert_array_equal(masks, [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]])


def test_padding_helpers_reject_bad_sizes():
    with pytest.raises(ValueError, match="max_width"):
        sweep.width_mask(2, 0)
    with pytest.raises(ValueError, match="size must be"):
        sweep.pad_axis(jnp.ones(4), 3)
    with pytest.raises(ValueError, match="'k'"):
        sweep.max_value({"rank": [1, 2]}, "k")
    assert sweep.max_value({"rank": [3, 7, 5]}, "rank") == 7
