"""Two JAX processes x 2 CPU devices on 127.0.0.1 give the same sweep as one process; each writes its own chunks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overparam.sweep as sweep

HERE = Path(__file__).resolve().parent
GRID = {"eta": [0.02, 0.05, 0.1], "scale": [0.5, 1.0, 2.0], "seed": [0, 1, 2]}  # 27 runs -> 7 chunks of 4
CHUNK = 4


def least_squares_point(cfg, key):
    """15 GD steps on 0.5 ||A x - b||^2 with A (6, 3), b (6,) drawn from the run's key; loss per step."""
    ka, kb = jax.random.split(key)
    a = jax.random.normal(ka, (6, 3))
    b = cfg["scale"] * jax.random.normal(kb, (6,))

    def body(x, _):
        x = x - cfg["eta"] * a.T @ (a @ x - b)
        return x, 0.5 * jnp.sum((a @ x - b) ** 2)

    return {"loss": jax.lax.scan(body, jnp.zeros(3), None, length=15)[1]}


def run_least_squares(store=None, **kw):
    return sweep.run(least_squares_point, GRID, key=jax.random.key(21), chunk_size=CHUNK, store=store,
                     out_dims={"loss": ("step",)}, progress=False, **kw)


WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import jax
    process_id, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    jax.config.update("jax_num_cpu_devices", 2)
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{{port}}", num_processes=2, process_id=process_id,
                               initialization_timeout=60)
    assert jax.device_count() == 4 and jax.local_device_count() == 2
    sys.path.insert(0, {here!r})
    from overparam import store
    import test_sweep_multiprocess as t

    written = []
    original = store.Writer.write_chunk

    def record(self, chunk, outputs):
        written.append(chunk)
        original(self, chunk, outputs)

    store.Writer.write_chunk = record
    in_memory = t.run_least_squares()
    stored = t.run_least_squares(out + "/store")
    np.savez(f"{{out}}/p{{process_id}}.npz", memory=in_memory.loss.values, stored=stored.loss.values,
             written=np.array(written), devices=stored.attrs["device_count"])
    jax.distributed.shutdown()
    """
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(script: Path, out: Path, env: dict[str, str]) -> tuple[list[int | None], list[str]]:
    """Start both processes on a free port; wait at most 240 s; always reap them."""
    port = free_port()
    procs = [subprocess.Popen([sys.executable, str(script), str(i), str(port), str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    logs = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=240)
            logs.append(err[-3000:])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate(timeout=30)
    return [p.returncode for p in procs], logs


@pytest.mark.multiprocess
def test_two_processes_match_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(here=str(HERE)))
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    for attempt in range(2):  # a second try on a fresh port if another program took the first one
        out = tmp_path / f"try{attempt}"
        out.mkdir()
        codes, logs = launch(script, out, env)
        if codes == [0, 0] or "in use" not in "".join(logs):
            break
    assert codes == [0, 0], "\n".join(logs)

    single = run_least_squares().loss.values
    results = [np.load(out / f"p{i}.npz") for i in range(2)]
    for r in results:
        assert int(r["devices"]) == 4
        np.testing.assert_allclose(r["memory"], single, rtol=1e-12, atol=0)
        np.testing.assert_allclose(r["stored"], single, rtol=1e-12, atol=0)
    # 7 chunks: process 0 owns chunks 0, 2, 4, 6 and process 1 owns 1, 3, 5; each wrote only its own
    assert results[0]["written"].tolist() == [0, 2, 4, 6]
    assert results[1]["written"].tolist() == [1, 3, 5]
