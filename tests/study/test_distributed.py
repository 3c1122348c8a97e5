"""Two `overparam run` processes x 2 CPU devices (gloo on 127.0.0.1) give the single-process result, bit for bit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from overparam import store

HERE = Path(__file__).resolve().parent
TOY = str(HERE / "toy_study.py")
SETS = ["--set", "steps=40", "--set", "eta=0.05,0.1,0.15,0.2", "--set", "seed=0,1,2,4294967296,1000000000000",
        "--chunk-size", "4", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_FLAGS")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.multiprocess
def test_two_processes_equal_one(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    base = [sys.executable, "-m", "overparam.cli", "run", TOY]
    one = subprocess.run([*base, "--out", str(single), *SETS], capture_output=True, text=True, env=_env(), timeout=600)
    assert one.returncode == 0, one.stderr
    port = _free_port()
    procs = [subprocess.Popen([*base, "--out", str(multi), *SETS, "--coordinator", f"127.0.0.1:{port}",
                               "--num-processes", "2", "--process-id", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
             for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    ours = [[ln for ln in o[0].splitlines() if not ln.startswith("[Gloo]")] for o in outs]  # gloo's own chatter
    assert "1 of 1 claims pass" in ours[0] and ours[1] == []  # only process 0 reports
    a, b = store.load(single / "gd.zarr"), store.load(multi / "gd.zarr")
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)  # bit for bit, float64
    ca = json.loads((single / "claims.json").read_text())
    cb = json.loads((multi / "claims.json").read_text())
    assert ca == cb
    result = json.loads((multi / "result.json").read_text())
    assert result["environment"]["process_count"] == 2 and result["environment"]["device_count"] == 4


@pytest.mark.multiprocess
def test_two_processes_equal_one_for_a_point_with_large_factorisations(tmp_path):
    """Each process maps over its devices' runs one at a time (overparam.sweep.lapack); same numbers, bit for bit."""
    single, multi = tmp_path / "single", tmp_path / "multi"
    base = [sys.executable, "-m", "overparam.cli", "run", str(HERE / "toy_lapack_study.py"), "--chunk-size", "8",
            "--no-progress"]
    one = subprocess.run([*base, "--out", str(single)], capture_output=True, text=True, env=_env(), timeout=600)
    assert one.returncode == 0, one.stderr
    port = _free_port()
    procs = [subprocess.Popen([*base, "--out", str(multi), "--coordinator", f"127.0.0.1:{port}",
                               "--num-processes", "2", "--process-id", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
             for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    a, b = store.load(single / "sweep.zarr"), store.load(multi / "sweep.zarr")
    np.testing.assert_array_equal(a["top"].values, b["top"].values)
    assert np.all(np.isfinite(a["top"].values)) and a["top"].shape == (4, 3)
