"""The zarr store: chunk-by-chunk writes, resume after SIGKILL, refusal of foreign stores, netCDF export."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

import overparam.sweep as sweep
from overparam import store

HERE = Path(__file__).resolve().parent
GRID = {"eta": [0.05, 0.1, 0.2], "seed": [0, 1, 2, 3, 4]}  # 15 runs, chunks of 4 -> 4 chunks (last partial)
CHUNK = 4
KEY_SEED = 11


def decay_point(cfg, key):
    """x_t = x_0 (1 - eta)^t from a random x_0 ~ N(0, 1) of the run's key, via a scan of 30 steps."""
    x0 = jax.random.normal(key)

    def body(x, _):
        x = x * (1.0 - cfg["eta"])
        return x, x

    return {"x": jax.lax.scan(body, x0, None, length=30)[1], "x0": x0}


def run_decay(path, **kw):
    return sweep.run(decay_point, GRID, key=jax.random.key(KEY_SEED), chunk_size=CHUNK, store=path,
                     out_dims={"x": ("step",)}, out_coords={"step": np.arange(1, 31)}, progress=False,
                     attrs={"study": "decay", "steps": 30}, **kw)


@pytest.fixture(scope="module")
def reference():
    return run_decay(None)


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_reference_is_the_closed_form(reference):
    t = np.arange(1, 31)
    expected = reference.x0.values[..., None] * (1.0 - reference.eta.values[:, None, None]) ** t
    np.testing.assert_allclose(reference.x.values, expected, rtol=1e-12)


def test_store_roundtrip_attrs_and_netcdf(tmp_path, reference):
    ds = run_decay(tmp_path / "s")
    xr.testing.assert_identical(ds.drop_attrs(), reference.drop_attrs())
    assert store.completion(tmp_path / "s") == (4, 4)
    assert json.loads(ds.attrs["grid"]) == GRID and json.loads(ds.attrs["config"]) == {"study": "decay", "steps": 30}
    assert ds.attrs["study"] == "decay" and ds.attrs["chunk_size"] == CHUNK and ds.attrs["n_runs"] == 15
    nc = store.to_netcdf(tmp_path / "s", tmp_path / "r.nc")
    back = xr.load_dataset(nc, engine="h5netcdf")
    xr.testing.assert_identical(back.drop_attrs(), reference.drop_attrs())
    assert back.attrs["git_commit"] == ds.attrs["git_commit"]


def test_existing_store_needs_resume_and_foreign_store_is_refused_untouched(tmp_path):
    path = tmp_path / "s"
    run_decay(path)
    digest = tree_digest(path)
    with pytest.raises(ValueError, match="pass resume=True"):
        run_decay(path)
    other = {"eta": [0.05, 0.1, 0.3], "seed": [0, 1, 2, 3, 4]}
    with pytest.raises(ValueError, match=r"different sweep \(grid: store has"):
        sweep.run(decay_point, other, key=jax.random.key(KEY_SEED), chunk_size=CHUNK, store=path, resume=True,
                  out_dims={"x": ("step",)}, out_coords={"step": np.arange(1, 31)}, progress=False,
                  attrs={"study": "decay", "steps": 30})
    with pytest.raises(ValueError, match="config: store has"):
        sweep.run(decay_point, GRID, key=jax.random.key(KEY_SEED), chunk_size=CHUNK, store=path, resume=True,
                  out_dims={"x": ("step",)}, out_coords={"step": np.arange(1, 31)}, progress=False,
                  attrs={"study": "decay", "steps": 31})
    with pytest.raises(ValueError, match="key: store has"):
        sweep.run(decay_point, GRID, key=jax.random.key(12), chunk_size=CHUNK, store=path, resume=True,
                  out_dims={"x": ("step",)}, out_coords={"step": np.arange(1, 31)}, progress=False,
                  attrs={"study": "decay", "steps": 30})
    assert tree_digest(path) == digest
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a sweep store"):
        run_decay(tmp_path / "junk")


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, {here!r})
    from overparam import store
    import test_sweep_store as t

    original = store.Writer.write_chunk

    def write_then_die(self, chunk, outputs):
        if chunk == 2:  # half-written chunk: outputs land, the done flag never does
            self.group["x"][chunk * t.CHUNK : (chunk + 1) * t.CHUNK] = outputs["x"] * 0.0 + 123.0
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, chunk, outputs)

    store.Writer.write_chunk = write_then_die
    t.run_decay({path!r})
    """
)


def test_sigkill_midway_then_resume_equals_uninterrupted_run(tmp_path, reference, monkeypatch):
    path = tmp_path / "killed"
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT.format(here=str(HERE), path=str(path)))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert store.completion(path) == (2, 4)
    with pytest.raises(ValueError, match="unfinished"):
        store.load(path)

    written: list[int] = []
    original = store.Writer.write_chunk

    def record(self, chunk, outputs):
        written.append(chunk)
        original(self, chunk, outputs)

    monkeypatch.setattr(store.Writer, "write_chunk", record)
    ds = run_decay(path, resume=True)
    assert written == [2, 3]  # chunks 0 and 1 were finished and are not recomputed
    xr.testing.assert_identical(ds.drop_attrs(), reference.drop_attrs())
    written.clear()
    run_decay(path, resume=True)
    assert written == []
