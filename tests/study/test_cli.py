"""The `overparam` command on a user's study file: one line and exit 2 for bad input, before anything runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from overparam import cli, store
from overparam.report import reproduce

HERE = Path(__file__).resolve().parent
TOY = str(HERE / "toy_study.py")


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("overparam: error:") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("argv", "fragment"), [
    (["run", "no-such-study"], "unknown study 'no-such-study'"),
    (["run", "/no/such/file.py"], "study file '/no/such/file.py' does not exist"),
    (["run", f"{TOY}:NOPE"], "has no attribute 'NOPE'"),
    (["run", "json:dumps"], "dumps is a function, not an overparam.study.Study"),
    (["run", TOY, "--set", "width=1,2"], "unknown axis or setting 'width'"),
    (["run", TOY, "--set", "eta="], "eta= has no values"),
    (["run", TOY, "--set", "eta=0.1,x"], "value 'x' is not a number"),
    (["run", TOY, "--set", "eta=0.1,,0.2"], "has an empty value"),
    (["run", TOY, "--set", "eta=nan"], "not a finite number"),
    (["run", TOY, "--set", "eta"], "must look like name=v1,v2"),
    (["run", TOY, "--set", "eta=-0.1"], "axis eta value -0.1 is out of range; allowed: distinct numbers > 0"),
    (["run", TOY, "--set", "eta=0.1,0.1"], "repeats a value"),
    (["run", TOY, "--set", "steps=0"], "setting steps=0 is out of range; allowed: an integer >= 1"),
    (["run", TOY, "--set", "steps=2.5"], "setting steps=2.5 must be an integer"),
    (["run", TOY, "--set", "seed=-1"], "axis seed value -1 is out of range"),
    (["run", TOY, "--devices", "999"], "devices=999 but this machine has"),
    (["run", TOY, "--chunk-size", "0"], "--chunk-size 0 must be >= 1"),
    (["run", TOY, "--size", "huge"], "invalid choice: 'huge'"),
    (["run", TOY, "--resume", "--overwrite"], "not allowed with argument"),
    (["run", TOY, "--num-processes", "2"], "need --coordinator"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["show", "/no/such/folder"], "is not a folder"),
    (["compare", "/no/a", "/no/b"], "is not a folder"),
])
def test_bad_input_is_one_line_and_exit_status_2(argv, fragment, capsys):
    assert cli.main(argv) == 2
    assert fragment in _one_line_error(capsys)


@pytest.mark.parametrize("extra", [["--set", "eta=0.1,0.1"], ["--set", "steps=0"], ["--devices", "999"]])
def test_dry_run_refuses_what_the_run_refuses(extra, capsys, tmp_path):
    assert cli.main(["run", TOY, "--dry-run", *extra]) == 2
    first = _one_line_error(capsys)
    out = tmp_path / "r"
    assert cli.main(["run", TOY, "--out", str(out), *extra]) == 2
    assert _one_line_error(capsys) == first
    assert not out.exists()  # a rejected run leaves nothing behind, not even a run.json


def test_dry_run_prints_grid_settings_and_an_estimate(capsys, tmp_path):
    assert cli.main(["run", TOY, "--dry-run", "--set", "steps=20", "--set", "seed=0,4294967296"]) == 0
    out = capsys.readouterr().out
    assert "settings: n=4, steps=20, tol=10" in out and "sweep gd: 4 runs" in out
    assert "seed (2): 0, 4.29497e+09" in out and "estimate: 1 chunks" in out


def test_unwritable_out_is_one_line(capsys):
    assert cli.main(["run", TOY, "--out", "/proc/x/y", "--no-progress"]) == 2
    assert "cannot be written" in _one_line_error(capsys)


def test_run_show_compare_and_a_regression(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["run", TOY, "--out", str(a), "--set", "steps=20", "--no-progress"]) == 0
    assert cli.main(["run", TOY, "--out", str(b), "--set", "steps=20", "--set", "tol=0", "--no-progress"]) == 1
    capsys.readouterr()
    assert cli.main(["show", str(a)]) == 0
    shown = capsys.readouterr().out
    assert "gd.zarr/  sweep store, complete" in shown and "1 of 1 claims pass" in shown
    assert cli.main(["compare", str(a), str(a)]) == 0
    assert "0 regression(s)" in capsys.readouterr().out
    assert cli.main(["compare", str(a), str(b)]) == 1
    text = capsys.readouterr().out
    assert "toy-least-squares  converges" in text and "<- regression" in text and "1 regression(s)" in text
    assert cli.main(["compare", str(b), str(a)]) == 0  # a fix is not a regression


def test_rerun_without_resume_is_refused_and_the_store_is_intact(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(["run", TOY, "--out", str(out), "--set", "steps=20", "--no-progress"]) == 0
    before = store.load(out / "gd.zarr")
    capsys.readouterr()
    assert cli.main(["run", TOY, "--out", str(out), "--set", "steps=20", "--no-progress"]) == 2
    assert "pass --resume to continue it or --overwrite" in _one_line_error(capsys)
    assert store.load(out / "gd.zarr").equals(before)


def test_reproduce_refuses_a_folder_with_a_users_files(tmp_path, capsys):
    (tmp_path / "index.html").write_text("<p>my page</p>")
    with pytest.raises(ValueError, match="holds no overparam reproduction"):
        reproduce(tmp_path, studies=[], progress=False)
    assert (tmp_path / "index.html").read_text() == "<p>my page</p>"
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert cli.main(["reproduce", "--quick", "--out", str(target), "--no-progress"]) == 2
    assert "is a file, not a folder" in _one_line_error(capsys)


def test_reproduce_owns_only_what_it_wrote(tmp_path):
    out = tmp_path / "rep"
    reproduce(out, studies=[], progress=False)
    assert {p.name for p in out.iterdir()} == {"overparam-report.json", "report.md", "index.html"}
    with pytest.raises(ValueError, match="pass --resume to continue it or --overwrite"):
        reproduce(out, studies=[], progress=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds files overparam did not write \(notes.txt\)"):
        reproduce(out, studies=[], progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    reproduce(out, studies=[], progress=False, overwrite=True)


SLOW_STUDY = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    import overparam.study as st

    def point(config, key, setup):
        def body(i, x):
            return jnp.tanh(x * 1.0001 + config["a"] * 1e-3)
        x = jax.lax.fori_loop(0, setup.iters, body, jnp.full((64,), config["a"]))
        return {"x": jnp.sum(x)}

    STUDY = st.Study(name="slow", sweeps={"s": st.Sweep(point)},
                     axes={"a": st.Axis(tuple(float(i) for i in range(1, 33)))},
                     settings={"iters": st.Setting(200000, low=1)})
    """
)


def test_sigint_stops_at_a_chunk_boundary_and_resume_recomputes_only_the_rest(tmp_path):
    study = tmp_path / "slow_study.py"
    study.write_text(SLOW_STUDY)
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "overparam.cli", "run", str(study), "--out", str(out), "--chunk-size", "2",
           "--devices", "1", "--set", "iters=1000000", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline:
        time.sleep(0.5)
        if (out / "s.zarr").exists():
            try:
                done = store.completion(out / "s.zarr")[0]
            except Exception:  # noqa: BLE001 - the store may be mid-creation
                continue
            if done >= 2:
                break
    assert done >= 2, "the sweep did not get going"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()  # an acknowledgement when the signal arrives, then one closing line
    assert "Traceback" not in err and len(lines) <= 2 and "stopping after the chunk in flight" in lines[0]
    assert lines[-1].startswith("overparam: stopped:") and "--resume" in lines[-1]
    finished, total = store.completion(out / "s.zarr")
    assert 2 <= finished < total  # the chunk in flight was kept, the rest not computed
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    chunk_files = {p: p.stat().st_mtime_ns for p in (out / "s.zarr" / "x").rglob("*") if p.is_file()}
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert {p: p.stat().st_mtime_ns for p in chunk_files} == chunk_files  # finished chunks not recomputed
    assert store.completion(out / "s.zarr") == (total, total)
