"""The study engine: one run, resume, refusal of foreign or earlier folders, dtype, full disks."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overparam.study as st
from overparam import store

HERE = Path(__file__).resolve().parent
TOY = st.load_study(str(HERE / "toy_study.py"))


def _least_squares_final(n: int, steps: int, eta: float, seed: int) -> float:
    """The toy study's final loss by a plain NumPy loop over the same draws."""
    from overparam.sweep import seed_key

    ka, kb = jax.random.split(seed_key(jax.random.key(7), seed))
    a = np.asarray(jax.random.normal(ka, (2 * n, n), dtype=jnp.float64)) / np.sqrt(2.0 * n)
    b = np.asarray(jax.random.normal(kb, (2 * n,), dtype=jnp.float64))
    x = np.zeros(n)
    for _ in range(steps):
        x = x - eta * a.T @ (a @ x - b)
    return 0.5 * float(np.sum((a @ x - b) ** 2))


def test_a_user_study_runs_and_records_its_numbers(tmp_path):
    result = st.run_study(TOY, out=tmp_path / "r", overrides={"steps": 30})
    ds = store.load(tmp_path / "r" / "gd.zarr")
    assert ds["loss"].dims == ("eta", "seed", "step") and ds["loss"].shape == (2, 3, 30)
    # the engine evaluated the point the study declared: against an independent loop, float64 rounding
    for eta in (0.1, 0.2):
        for seed in range(3):
            expected = _least_squares_final(4, 30, eta, seed)
            assert abs(float(ds["final"].sel(eta=eta, seed=seed)) - expected) <= 1e-12 * max(1.0, expected)
    assert result.passed and [c.name for c in result.claims] == ["converges"]
    assert result.measures["worst_final"] == pytest.approx(float(ds["final"].max()), rel=0, abs=0)
    record = json.loads((tmp_path / "r" / "result.json").read_text())
    assert record["environment"]["dtype"] == "float64" and record["claims_passed"] == 1
    marker = json.loads((tmp_path / "r" / "run.json").read_text())
    assert marker["status"] == "finished" and set(marker["files"]) >= {"gd.zarr", "claims.json", "result.json"}


def test_a_float64_study_runs_in_float64_without_global_x64(tmp_path):
    with jax.enable_x64(False):  # a caller who never enabled x64
        assert jnp.zeros(()).dtype == jnp.float32
        result = st.run_study(TOY, out=tmp_path / "r", overrides={"steps": 30, "seed": [1]})
        assert jnp.zeros(()).dtype == jnp.float32  # the switch was scoped: nothing global changed
    ds = store.load(tmp_path / "r" / "gd.zarr")
    assert ds["final"].dtype == np.float64
    assert abs(float(ds["final"].sel(eta=0.1, seed=1)) - _least_squares_final(4, 30, 0.1, 1)) <= 1e-12
    assert result.environment["dtype"] == "float64"


def test_a_float32_study_runs_in_float32(tmp_path):
    import dataclasses

    study = dataclasses.replace(TOY, dtype="float32")
    st.run_study(study, out=tmp_path / "r", overrides={"steps": 5})
    assert store.load(tmp_path / "r" / "gd.zarr")["final"].dtype == np.float32


def test_folders_holding_something_else_or_an_earlier_run_are_refused_untouched(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.tex").write_text("do not touch")
    with pytest.raises(st.FolderError, match="holds no overparam result"):
        st.run_study(TOY, out=user)
    assert [p.name for p in user.iterdir()] == ["thesis.tex"]

    out = tmp_path / "r"
    st.run_study(TOY, out=out, overrides={"steps": 5})
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(st.FolderError, match="pass --resume to continue it or --overwrite to start afresh"):
        st.run_study(TOY, out=out, overrides={"steps": 5})
    with pytest.raises(st.FolderError, match="with other settings or axes .*steps: 5 there, 6 now"):
        st.run_study(TOY, out=out, overrides={"steps": 6}, resume=True)
    with pytest.raises(st.FolderError, match="size 'quick'\\), not of 'toy-least-squares' at size 'paper'"):
        st.run_study(TOY, out=out, size="paper", resume=True)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    store.load(out / "gd.zarr")  # the store is intact


def test_overwrite_removes_only_what_the_earlier_run_wrote(tmp_path):
    out = tmp_path / "r"
    st.run_study(TOY, out=out, overrides={"steps": 5})
    (out / "notes.txt").write_text("mine")
    result = st.run_study(TOY, out=out, overrides={"steps": 7}, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert store.load(out / "gd.zarr").sizes["step"] == 7 and result.passed


def test_resume_of_a_finished_run_recomputes_nothing_and_agrees(tmp_path):
    out = tmp_path / "r"
    st.run_study(TOY, out=out, overrides={"steps": 5}, chunk_size=2)
    chunks = sorted((out / "gd.zarr" / "loss").rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in chunks if p.is_file()}
    again = st.run_study(TOY, out=out, overrides={"steps": 5}, chunk_size=2, resume=True)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps and again.passed


def test_a_failing_claim_is_computed_not_written(tmp_path):
    result = st.run_study(TOY, out=tmp_path / "r", overrides={"steps": 5, "tol": 0.0})
    (claim,) = result.claims
    assert not claim.passed and claim.claim.measured[0] > 0.0 and claim.claim.bound == 0.0


def test_too_many_devices_is_refused():
    with pytest.raises(ValueError, match="devices=999 but this machine has 8 cpu device"):
        st.resolve_devices(999)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], check=True,
                       capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True, timeout=10)


def test_a_full_disk_leaves_a_consistent_folder(small_disk):
    out = small_disk / "r"
    # 48 KiB: enough for the folder marker, not for 200-step losses of 24 runs plus the rest
    with pytest.raises(OSError):
        st.run_study(TOY, out=out, overrides={"steps": 400, "eta": [0.01, 0.02, 0.03, 0.04], "seed": [0, 1, 2, 3, 4, 5]})
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []  # no half-written file under its final name or a temporary one
    marker = json.loads((out / "run.json").read_text())
    assert marker["status"] in ("running", "failed")
    assert not (out / "result.json").exists()
