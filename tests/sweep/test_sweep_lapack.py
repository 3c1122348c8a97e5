"""CPU points with large LAPACK calls run a few runs per call on every device, points that batch large LAPACK
calls themselves on at most half the cores' CPU devices; a chunk that uses no CPU is reported."""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import zarr

import overparam.store

import overparam.sweep as sweep
from overparam.sweep import engine, lapack


def eigh_point(config, key):
    a = jax.random.normal(key, (4, 4))
    return {"top": jnp.linalg.eigvalsh(a + a.T + config["shift"] * jnp.eye(4))[-1]}


def plain_point(config, key):
    return {"y": config["shift"] * jax.random.normal(key)}


@pytest.mark.parametrize("fn, expected", [
    (lambda x: jnp.linalg.eigh(x)[0], True), (lambda x: jnp.linalg.solve(x, x[0]), True),
    (lambda x: jnp.linalg.qr(x)[0], True), (lambda x: jnp.linalg.svd(x)[1], True),
    (lambda x: jnp.linalg.cholesky(x @ x.T + jnp.eye(3)), True),
    (lambda x: jax.lax.scan(lambda c, _: (c + jnp.linalg.eigvalsh(c)[0], None), x, None, length=2)[0], True),
    (lambda x: x @ x.T + jnp.tanh(x), False), (lambda x: jnp.linalg.norm(x), False),
])
def test_lapack_primitives_are_found_inside_loops_and_only_there(fn, expected):
    jaxpr = jax.make_jaxpr(jax.vmap(fn))(jnp.ones((2, 3, 3)))
    assert lapack.uses_lapack(jaxpr) is expected


def big_eigh_point(config, key):
    a = jax.random.normal(key, (40, 40))
    return {"top": jnp.linalg.eigvalsh(a + a.T + config["shift"] * jnp.eye(40))[-1]}


def batched_eigh_point(config, key):
    a = jax.random.normal(key, (3, 40, 40))
    return {"top": jnp.linalg.eigvalsh(a + jnp.swapaxes(a, 1, 2) + config["shift"] * jnp.eye(40))[:, -1]}


def test_runs_per_call_keeps_each_lapack_batch_below_the_inline_work():
    """jaxlib factorises a batch on the calling thread below INLINE_WORK flops (its estimate, bounded here by
    5 n^3 for eigh, 10 m n min(m, n) for svd) or when it holds one matrix."""
    small = jax.make_jaxpr(lambda x: jnp.linalg.eigvalsh(x))(jnp.ones((4, 4)))  # 5 * 4^3 = 320 flops
    large = jax.make_jaxpr(lambda x: jnp.linalg.svd(x)[1])(jnp.ones((40, 30)))  # 10 * 40 * 30^2 = 3.6e5
    assert lapack.runs_per_call(small, 64) == 64 and lapack.runs_per_call(small, 1000) == 624  # 199999 // 320
    assert lapack.runs_per_call(large, 64) == 1
    assert lapack.runs_per_call(jax.make_jaxpr(lambda x: x @ x.T)(jnp.ones((40, 40))), 64) == 64
    stacked = jax.make_jaxpr(jax.vmap(lambda x: jnp.linalg.svd(x)[1]))(jnp.ones((2, 40, 30)))
    tiny_stack = jax.make_jaxpr(jax.vmap(lambda x: jnp.linalg.svd(x)[1]))(jnp.ones((2, 3, 3)))
    assert lapack.batches_lapack(stacked) and not lapack.batches_lapack(tiny_stack)
    assert not lapack.batches_lapack(large)


def looped_eigh_point(config, key):
    a = jax.random.normal(key, (40, 40))

    def body(m, _):
        return m + jnp.linalg.eigvalsh(m)[-1] * jnp.eye(40) / 1e3, None

    return {"top": jnp.linalg.eigvalsh(jax.lax.scan(body, a + a.T + config["shift"] * jnp.eye(40), None, 2)[0])[-1]}


@jax.custom_jvp
def _top(m):
    return jnp.linalg.eigvalsh(m)[-1]


_top.defjvp(lambda primals, tangents: (_top(primals[0]), jnp.sum(tangents[0]) * 0.0))


def custom_eigh_point(config, key):
    a = jax.random.normal(key, (40, 40))
    return {"top": _top(a + a.T + config["shift"] * jnp.eye(40))}


def test_a_point_with_large_factorisations_maps_them_over_single_matrices_on_every_device(monkeypatch, tmp_path):
    """A vmapped chunk whose LAPACK calls each loop over single matrices: every device, the numbers of NumPy's
    eigvalsh of the same matrices (run r uses fold_in(key, r)), and a store fingerprint that names the evaluation;
    also inside a loop; one inside a custom derivative, which the mapping does not reach, runs one run per call."""
    monkeypatch.setattr(lapack, "cores", lambda: 2)  # this suite runs 8 CPU devices; pretend 2 cores
    grid = {"shift": [0.0, 1.0, 2.0], "seed": [0, 1, 2, 3, 4]}
    key = jax.random.key(3)
    ds = sweep.run(big_eigh_point, grid, key=key, chunk_size=16, progress=False, store=tmp_path / "s.zarr")
    assert ds.attrs["device_count"] == 8
    for r, (shift, seed) in enumerate((s, d) for s in grid["shift"] for d in grid["seed"]):
        a = np.asarray(jax.random.normal(jax.random.fold_in(key, r), (40, 40)))
        top = np.linalg.eigvalsh(a + a.T + shift * np.eye(40))[-1]
        assert float(ds["top"].sel(shift=shift, seed=seed)) == pytest.approx(top, rel=1e-13)  # seen 2e-15
    stored = json.loads(zarr.open_group(tmp_path / "s.zarr", mode="r").attrs[overparam.store.FINGERPRINT])
    assert stored["evaluation"] == "vmap, each LAPACK call over single matrices"
    sweep.run(eigh_point, grid, key=key, chunk_size=16, progress=False, store=tmp_path / "small.zarr")
    stored = json.loads(zarr.open_group(tmp_path / "small.zarr", mode="r").attrs[overparam.store.FINGERPRINT])
    assert "evaluation" not in stored  # 4 x 4: one vmapped call per device
    looped = sweep.run(looped_eigh_point, grid, key=key, chunk_size=16, progress=False, store=tmp_path / "l.zarr")
    stored = json.loads(zarr.open_group(tmp_path / "l.zarr", mode="r").attrs[overparam.store.FINGERPRINT])
    assert stored["evaluation"] == "vmap, each LAPACK call over single matrices" and looped.attrs["device_count"] == 8
    for r, (shift, seed) in enumerate((s, d) for s in grid["shift"] for d in grid["seed"]):
        m = np.asarray(jax.random.normal(jax.random.fold_in(key, r), (40, 40)))
        m = m + m.T + shift * np.eye(40)
        for _ in range(2):
            m = m + np.linalg.eigvalsh(m)[-1] * np.eye(40) / 1e3
        assert float(looped["top"].sel(shift=shift, seed=seed)) == pytest.approx(np.linalg.eigvalsh(m)[-1], rel=1e-13)
    custom = sweep.run(custom_eigh_point, grid, key=key, chunk_size=16, progress=False, store=tmp_path / "c.zarr")
    stored = json.loads(zarr.open_group(tmp_path / "c.zarr", mode="r").attrs[overparam.store.FINGERPRINT])
    assert stored["evaluation"] == "lax.map over groups of 1 runs"
    np.testing.assert_allclose(custom["top"].values, ds["top"].values, rtol=1e-13)  # the same matrices


def test_a_point_batching_lapack_calls_uses_at_most_half_the_cores_and_gives_the_same_numbers(monkeypatch):
    monkeypatch.setattr(lapack, "cores", lambda: 2)
    grid = {"shift": [0.0, 1.0, 2.0], "seed": [0, 1, 2, 3, 4]}
    capped = sweep.run(batched_eigh_point, grid, key=jax.random.key(3), chunk_size=5, progress=False)
    assert capped.attrs["device_count"] == 1
    given = sweep.run(batched_eigh_point, grid, key=jax.random.key(3), chunk_size=5, progress=False,
                      devices=jax.local_devices())
    assert given.attrs["device_count"] == 8  # devices the caller names are used as given
    np.testing.assert_allclose(capped["top"].values, given["top"].values, rtol=1e-14)
    for point in (plain_point, eigh_point):  # no LAPACK, or small matrices: every device
        assert sweep.run(point, grid, key=jax.random.key(3), chunk_size=8, progress=False).attrs["device_count"] == 8


def test_a_wait_that_uses_no_cpu_is_reported_once(monkeypatch):
    monkeypatch.setattr(engine, "STALL_CHECK_S", 0.2)
    until = time.perf_counter() + 1.0
    stalls: list[float] = []
    engine._poll(lambda: time.perf_counter() > until, stalls.append)  # sleeps between polls: no CPU
    assert len(stalls) == 1 and 0.2 <= stalls[0] < 1.0
    message = engine._stalled_message(3, 130.0)
    assert "chunk 3 has run for 130 s" in message and "known-xla-cpu-deadlock" in message and "--resume" in message


def test_a_busy_wait_is_not_reported(monkeypatch):
    monkeypatch.setattr(engine, "STALL_CHECK_S", 0.2)
    until = time.perf_counter() + 0.8
    stalls: list[float] = []

    def ready() -> bool:  # burns CPU between polls, like a computing chunk
        x = 0.0
        for i in range(20000):
            x += i ** 0.5
        return time.perf_counter() > until

    engine._poll(ready, stalls.append)
    assert stalls == []
