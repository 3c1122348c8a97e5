"""The `overparam` command: bad input is one line and exit status 2; a study runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from overparam import cli, store
from overparam.studies import read_claims, registry

STUDY = "xiong-sym-vs-asym"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "no-such-study"], "unknown study 'no-such-study'"),
        (["run", STUDY, "--set", "width=1,2"], "unknown axis 'width'"),
        (["run", STUDY, "--set", "rank="], "rank= has no values"),
        (["run", STUDY, "--set", "rank=1,x"], "value 'x' is not a number"),
        (["run", STUDY, "--set", "init_scale=nan"], "not a finite number"),
        (["run", STUDY, "--set", "rank"], "must look like axis=v1,v2"),
        (["run", STUDY, "--set", "rank=0,3"], "rank=(0, 3) must be integers"),
        (["run", STUDY, "--size", "huge"], "invalid choice: 'huge'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["show", "/no/such/folder"], "is not a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(argv, fragment, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("overparam: error:")
    assert fragment in captured.err and "Traceback" not in captured.err


def test_out_folder_holding_something_else_is_refused_untouched(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("do not touch")
    assert cli.main(["run", STUDY, "--out", str(tmp_path), "--no-progress"]) == 2
    assert "holds something else" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.tex"]


def test_list_names_every_study_once(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(registry())


@given(x=st.floats(allow_nan=False, allow_infinity=False), k=st.integers(-10**12, 10**12))
def test_numbers_parse_exactly(x, k):
    assert cli.parse_number(repr(x)) == x
    assert cli.parse_number(str(k)) == k and isinstance(cli.parse_number(str(k)), int)
    assert cli.parse_overrides([f"a={k},{x!r}"], ["a"]) == {"a": [k, x]}


def test_reproduce_passes_out_size_and_progress(monkeypatch, tmp_path, capsys):
    import overparam.report as report

    calls = []
    monkeypatch.setattr(report, "reproduce", lambda **kw: calls.append(kw) or [])
    assert cli.main(["reproduce", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    assert calls == [{"out": tmp_path, "size": "quick", "progress": False, "resume": False}]
    assert capsys.readouterr().out.startswith("0 of 0 claims pass")
    assert cli.main(["reproduce", "--out", str(tmp_path), "--resume", "--no-progress"]) == 0
    assert calls[-1] == {"out": tmp_path, "size": "paper", "progress": False, "resume": True}


def test_dry_run_prints_the_checked_grid_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    assert cli.main(["run", STUDY, "--size", "paper", "--set", "seed=3,1", "--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "size paper" in printed and "seed (2): 1, 3" in printed and not out.exists()
    assert cli.main(["run", STUDY, "--set", "init_scale=-0.1", "--dry-run", "--out", str(out)]) == 2
    assert "init_scale" in capsys.readouterr().err and not out.exists()


def test_study_end_to_end_through_the_command(tmp_path):
    """Two devices, a reduced grid; every claim of the study passes and the outputs agree with each other."""
    out = tmp_path / "xiong"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "-m", "overparam.cli", "run", STUDY, "--devices", "2", "--no-progress",
           "--set", "init_scale=0.2,0.4", "--set", "seed=0", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["device_count"] == 2 and run["overrides"] == {"init_scale": [0.2, 0.4], "seed": [0]}
    claims = read_claims(out)
    assert len(claims) == 6 and all(c.passed for c in claims)
    for stem in ("error_vs_step", "rates"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.svg").stat().st_size > 0
    ds = store.load(out / "sweep.zarr")
    assert dict(ds.sizes) == {"rank": 2, "init_scale": 2, "seed": 1, "step": 101, "step_after": 31}
    xr.testing.assert_equal(xr.load_dataset(out / "sweep.nc", engine="h5netcdf").drop_attrs(), ds.drop_attrs())
    # relative errors start near 1 (X0 is small) and never diverge
    np.testing.assert_allclose(ds.asym_error.isel(step=0).values, 1.0, atol=0.05)
    assert not ds.diverged.values.any()
    # --resume into the finished folder recomputes nothing: no chunk file of the store is rewritten
    zarr_dir = out / "sweep.zarr"
    chunk_files = {p: p.stat().st_mtime_ns for p in zarr_dir.rglob("*")
                   if p.is_file() and "c" in p.relative_to(zarr_dir).parts}
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=400, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert chunk_files and {p: p.stat().st_mtime_ns for p in chunk_files} == chunk_files
    assert [c.measured for c in read_claims(out)] == [c.measured for c in claims]
    show = subprocess.run([sys.executable, "-m", "overparam.cli", "show", str(out)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert show.returncode == 0 and "6 of 6 claims pass" in show.stdout and "sweep store, complete" in show.stdout
