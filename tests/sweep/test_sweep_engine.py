"""sweep.run: closed-form outputs, fold_in randomness, invariance to chunking and devices, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import overparam.sweep as sweep

STEPS = np.arange(6)


def affine_point(cfg, key):
    """v = 10 a + b, s_t = b * t, u ~ U(0, 1) from the run's key: all closed forms."""
    t = jnp.asarray(STEPS, dtype=jnp.float64)
    return {"v": cfg["a"].astype(jnp.float64) * 10.0 + cfg["b"], "s": cfg["b"] * t, "u": jax.random.uniform(key)}


def quadratic_gd_point(cfg, key):
    """20 GD steps on 0.5 x^T H x with a random SPD H of the run's key: float work that must not depend on batching."""
    g = jax.random.normal(key, (4, 4))
    h = g @ g.T / 4.0 + jnp.eye(4)
    x0 = jnp.ones(4) * cfg["scale"]

    def body(x, _):
        x = x - cfg["eta"] * (h @ x)
        return x, 0.5 * x @ (h @ x)

    _, energy = jax.lax.scan(body, x0, None, length=20)
    return {"energy": energy}


GRID_GD = {"eta": [0.05, 0.1, 0.2], "scale": [0.5, 1.0, 2.0, 3.0], "seed": [0, 1, 2]}


def test_closed_form_outputs_dims_and_coords():
    ds = sweep.run(affine_point, {"a": [1, 2, 3], "b": [0.5, 1.5]}, key=jax.random.key(0), chunk_size=4,
                   out_dims={"s": ("step",)}, out_coords={"step": STEPS})
    assert ds.v.dims == ("a", "b") and ds.s.dims == ("a", "b", "step")
    assert ds.a.dtype == np.int64 and ds.b.dtype == np.float64
    np.testing.assert_array_equal(ds.step.values, STEPS)
    a, b = np.meshgrid([1, 2, 3], [0.5, 1.5], indexing="ij")
    np.testing.assert_allclose(ds.v.values, 10.0 * a + b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.s.values, b[..., None] * STEPS, rtol=0, atol=1e-12)
    assert ds.attrs["device_count"] == 8 and ds.attrs["jax_enable_x64"] == 1


@given(seed=st.integers(0, 2**31 - 1), b=st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3, unique=True))
def test_run_i_uses_fold_in_of_its_flat_index(seed, b):
    key = jax.random.key(seed)
    ds = sweep.run(affine_point, {"a": [4, 5], "b": b}, key=key, chunk_size=4, progress=False)
    expected_u = np.array([float(jax.random.uniform(jax.random.fold_in(key, i))) for i in range(6)]).reshape(2, 3)
    np.testing.assert_array_equal(ds.u.values, expected_u)
    np.testing.assert_allclose(ds.v.values, 10.0 * np.array([4, 5])[:, None] + np.array(b)[None], rtol=1e-15)


@pytest.fixture(scope="module")
def gd_reference():
    return sweep.run(quadratic_gd_point, GRID_GD, key=jax.random.key(7), chunk_size=36, progress=False)


@pytest.mark.parametrize("chunk_size", [1, 7, 50])
@pytest.mark.parametrize("n_devices", [1, 8])
def test_same_numbers_for_any_chunk_size_and_device_count(gd_reference, chunk_size, n_devices):
    ds = sweep.run(quadratic_gd_point, GRID_GD, key=jax.random.key(7), chunk_size=chunk_size,
                   devices=jax.devices()[:n_devices], progress=False)
    assert ds.energy.shape == (3, 4, 3, 20)
    np.testing.assert_allclose(ds.energy.values, gd_reference.energy.values, rtol=1e-12, atol=0)


def test_gd_energy_matches_independent_numpy_computation(gd_reference):
    """Run (eta=0.1, scale=2, seed=1) recomputed outside the engine from fold_in(key, flat index)."""
    i = np.ravel_multi_index((1, 2, 1), (3, 4, 3))
    g = np.asarray(jax.random.normal(jax.random.fold_in(jax.random.key(7), i), (4, 4)))
    h = g @ g.T / 4.0 + np.eye(4)
    x, energy = 2.0 * np.ones(4), []
    for _ in range(20):
        x = x - 0.1 * h @ x
        energy.append(0.5 * x @ h @ x)
    np.testing.assert_allclose(gd_reference.energy.sel(eta=0.1, scale=2.0, seed=1).values, energy, rtol=1e-12)


def test_progress_bar_counts_runs_and_is_silent_on_request(capsys):
    sweep.run(affine_point, {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}, key=jax.random.key(0), chunk_size=4, progress=True)
    err = capsys.readouterr().err
    assert "9/9" in err and "run/s" in err
    sweep.run(affine_point, {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}, key=jax.random.key(0), chunk_size=4, progress=False)
    assert capsys.readouterr().err == ""
    # default: shown only on a terminal; captured stderr is not one
    sweep.run(affine_point, {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}, key=jax.random.key(0), chunk_size=4)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": {}}, "grid"),
        ({"grid": {"a": []}}, "'a' is empty"),
        ({"grid": {"a": [1, "x"]}}, "non-numeric value 'x'"),
        ({"grid": {"a": [1.0, float("nan")]}}, "non-finite"),
        ({"grid": {"a": [1, 1]}}, "repeated"),
        ({"chunk_size": 0}, "chunk_size must be an int >= 1"),
        ({"resume": True}, "resume=True needs a store"),
        ({"out_dims": {"s": ("x", "y")}}, r"out_dims\['s'\]"),
        ({"out_dims": {"nope": ("x",)}}, "does not return"),
        ({"out_coords": {"s_dim_0": [1, 2]}}, r"out_coords\['s_dim_0'\]"),
        ({"key": np.zeros(2)}, "key must be"),
        ({"attrs": {"x": object()}}, "attrs must be a JSON-serialisable"),
    ],
)
def test_bad_input_raises_value_error_naming_it(kwargs, match):
    args = {"grid": {"a": [1, 2], "b": [0.5]}, "key": jax.random.key(0), **kwargs}
    grid = args.pop("grid")
    with pytest.raises(ValueError, match=match):
        sweep.run(affine_point, grid, progress=False, **args)
