"""CPU points with LAPACK calls run run by run (single-matrix calls) on every device, points that batch their
own LAPACK calls on at most half the cores' CPU devices; a chunk that uses no CPU is reported."""

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


def batched_eigh_point(config, key):
    a = jax.random.normal(key, (3, 4, 4))
    return {"top": jnp.linalg.eigvalsh(a + jnp.swapaxes(a, 1, 2) + config["shift"] * jnp.eye(4))[:, -1]}


def test_lapack_calls_on_stacks_are_told_from_single_ones():
    single = jax.make_jaxpr(lambda x: jnp.linalg.svd(x)[1] + jnp.linalg.eigvalsh(x @ x.T))(jnp.ones((3, 3)))
    stacked = jax.make_jaxpr(jax.vmap(lambda x: jnp.linalg.svd(x)[1]))(jnp.ones((2, 3, 3)))
    assert lapack.uses_lapack(single) and not lapack.batches_lapack(single)
    assert lapack.batches_lapack(stacked)
    cpu = jax.local_devices()
    assert lapack.map_runs(cpu, single) and lapack.map_runs(cpu, stacked)
    assert not lapack.map_runs(cpu, jax.make_jaxpr(lambda x: x @ x.T)(jnp.ones((3, 3))))


def test_a_single_matrix_lapack_point_runs_in_turn_on_every_device(monkeypatch, tmp_path):
    """Evaluated with lax.map over each device's runs: every device, the numbers of NumPy's eigvalsh of the
    same matrices (run r uses fold_in(key, r)), and a store fingerprint that names the evaluation."""
    monkeypatch.setattr(lapack, "cores", lambda: 2)  # this suite runs 8 CPU devices; pretend 2 cores
    grid = {"shift": [0.0, 1.0, 2.0], "seed": [0, 1, 2, 3, 4]}
    key = jax.random.key(3)
    ds = sweep.run(eigh_point, grid, key=key, chunk_size=8, progress=False, store=tmp_path / "s.zarr")
    assert ds.attrs["device_count"] == 8
    for r, (shift, seed) in enumerate((s, d) for s in grid["shift"] for d in grid["seed"]):
        a = np.asarray(jax.random.normal(jax.random.fold_in(key, r), (4, 4)))
        top = np.linalg.eigvalsh(a + a.T + shift * np.eye(4))[-1]
        assert float(ds["top"].sel(shift=shift, seed=seed)) == pytest.approx(top, rel=1e-14, abs=1e-14)
    stored = json.loads(zarr.open_group(tmp_path / "s.zarr", mode="r").attrs[overparam.store.FINGERPRINT])
    assert stored["evaluation"] == "lax.map over runs"


def test_a_point_batching_lapack_calls_uses_at_most_half_the_cores_and_gives_the_same_numbers(monkeypatch):
    monkeypatch.setattr(lapack, "cores", lambda: 2)
    grid = {"shift": [0.0, 1.0, 2.0], "seed": [0, 1, 2, 3, 4]}
    capped = sweep.run(batched_eigh_point, grid, key=jax.random.key(3), chunk_size=5, progress=False)
    assert capped.attrs["device_count"] == 1
    given = sweep.run(batched_eigh_point, grid, key=jax.random.key(3), chunk_size=5, progress=False,
                      devices=jax.local_devices())
    assert given.attrs["device_count"] == 8  # devices the caller names are used as given
    np.testing.assert_allclose(capped["top"].values, given["top"].values, rtol=1e-14)
    plain = sweep.run(plain_point, grid, key=jax.random.key(3), chunk_size=8, progress=False)
    assert plain.attrs["device_count"] == 8  # no LAPACK: every device


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
