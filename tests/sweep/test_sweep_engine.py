"""sweep.run: closed-form outputs, fold_in randomness, invariance to chunking and devices, bad input."""

from __future__ import annotations

import io
import re
import sys

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


@pytest.mark.parametrize(("chunk_size", "n_devices"), [(1, 1), (1, 8), (7, 1), (7, 8), (50, 1), (50, 8), (5, 1), (40, 8),
                                                      (33, 8)])
def test_same_numbers_for_any_chunk_size_and_device_count(gd_reference, chunk_size, n_devices):
    """Bit-identical when the per-device batch ceil(chunk / devices) equals the reference's (36 on 8 -> 5), else to rounding."""
    ds = sweep.run(quadratic_gd_point, GRID_GD, key=jax.random.key(7), chunk_size=chunk_size,
                   devices=jax.devices()[:n_devices], progress=False)
    assert ds.energy.shape == (3, 4, 3, 20)
    batch = -(-chunk_size // n_devices)
    assert ds.attrs["per_device_batch"] == batch and gd_reference.attrs["per_device_batch"] == 5
    if batch == 5:
        np.testing.assert_array_equal(ds.energy.values, gd_reference.energy.values)
    else:
        # a different batch may reorder XLA's batched dot: observed max relative difference 1.6e-15
        np.testing.assert_allclose(ds.energy.values, gd_reference.energy.values, rtol=1.6e-14, atol=0)


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


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_lines_in_a_log_and_silent_on_request(capsys, monkeypatch):
    grid = {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}  # 9 runs in chunks of 4: 4, 4, 1
    sweep.run(affine_point, grid, key=jax.random.key(0), chunk_size=4, progress=True)
    lines = capsys.readouterr().err.splitlines()  # captured stderr is not a terminal: one plain line per chunk
    assert [line.split(", ")[:2] for line in lines] == [["sweep: chunk 1/3", "4/9 runs"], ["sweep: chunk 2/3", "8/9 runs"],
                                                         ["sweep: chunk 3/3", "9/9 runs"]]
    assert all(re.fullmatch(r"sweep: chunk \d/3, \d/9 runs, [\d.]+ runs/s, eta \d+ s", line) for line in lines)
    assert lines[-1].endswith("eta 0 s")
    sweep.run(affine_point, grid, key=jax.random.key(0), chunk_size=4, progress=False)
    assert capsys.readouterr().err == ""
    sweep.run(affine_point, grid, key=jax.random.key(0), chunk_size=4)  # default: only on a terminal
    assert capsys.readouterr().err == ""
    for progress in (True, None):  # on a terminal: the tqdm bar, for True and for the default
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        sweep.run(affine_point, grid, key=jax.random.key(0), chunk_size=4, progress=progress)
        monkeypatch.undo()
        assert "9/9" in terminal.getvalue() and "run/s" in terminal.getvalue() and "sweep: chunk" not in terminal.getvalue()


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
