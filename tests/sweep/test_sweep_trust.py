"""Results a researcher can trust: fingerprinted programs, checksummed chunks, no aliased seeds, clear errors.

Each test states what would have gone wrong silently before: a resume mixing two versions of a
point, a deleted or damaged chunk read back as NaN or a zstd traceback, a seed of 10**12 drawing
the stream of 3567587328, a full disk leaving a chunk marked done.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
import zarr
from hypothesis import given
from hypothesis import strategies as st

import overparam.sweep as sweep
from overparam import store
from overparam.sweep import engine

GRID = {"a": [0.5, 1.0, 2.0], "seed": [0, 1, 2, 3, 4]}  # 15 runs, chunks of 4 -> 4 chunks (last has 3 runs)
CHUNK = 4
STEPS = 12


def make_point(eta: float):
    """x_t = a x0 (1 - eta)^t, x0 ~ N(0, 1) from the run's key; ``never`` is all False (a chunk zarr need not write)."""

    def point(cfg, key):
        x0 = jax.random.normal(key)
        x = jax.lax.scan(lambda x, _: (x * (1.0 - eta), x * (1.0 - eta)), cfg["a"] * x0, None, length=STEPS)[1]
        return {"x": x, "x0": x0, "never": x0 > 100.0}

    return point


POINT = make_point(0.2)


def run(path, point=POINT, **kw):
    return sweep.run(point, GRID, key=jax.random.key(3), chunk_size=kw.pop("chunk_size", CHUNK), store=path,
                     out_dims={"x": ("step",)}, progress=False, **kw)


@pytest.fixture(scope="module")
def reference():
    return run(None)


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


class Recorder:
    """Records the chunks written; optionally fails (RuntimeError, a crash) when writing chunk ``fail_at``."""

    def __init__(self, monkeypatch, fail_at: int | None = None) -> None:
        self.written: list[int] = []
        original = store.Writer.write_chunk

        def write(writer, chunk, outputs):
            if chunk == fail_at:
                raise RuntimeError("crash")
            self.written.append(chunk)
            original(writer, chunk, outputs)

        monkeypatch.setattr(store.Writer, "write_chunk", write)


def chunk_file(path: Path, name: str, chunk: int) -> Path:
    arr = zarr.open_group(str(path), mode="r")[name]
    return path / name / arr.metadata.encode_chunk_key((chunk,) + (0,) * (arr.ndim - 1))


def test_reference_is_the_closed_form(reference):
    t = np.arange(1, STEPS + 1)
    expected = reference.a.values[:, None, None] * reference.x0.values[..., None] * 0.8**t
    np.testing.assert_allclose(reference.x.values, expected, rtol=1e-14)  # 12 products: observed 2.2e-16
    assert not reference.never.values.any()


# 1. the fingerprint covers what the point computes --------------------------------------------------------------


def test_resume_with_an_edited_closed_over_constant_is_refused_and_writes_nothing(tmp_path, monkeypatch, reference):
    path = tmp_path / "s"
    Recorder(monkeypatch, fail_at=2)  # the sweep dies while writing chunk 2
    with pytest.raises(RuntimeError, match="crash"):
        run(path)
    monkeypatch.undo()
    assert store.completion(path) == (2, 4)
    digest = tree_digest(path)
    with pytest.raises(ValueError, match="the point function's program differs") as error:
        run(path, make_point(0.05), resume=True)
    assert "delete" in str(error.value) and "another store path" in str(error.value)
    assert tree_digest(path) == digest  # nothing written
    rec = Recorder(monkeypatch)
    ds = run(path, make_point(0.2), resume=True)  # a new closure with the same constant is the same program
    assert rec.written == [2, 3]
    xr.testing.assert_identical(ds.drop_attrs(), reference.drop_attrs())
    with pytest.raises(ValueError, match="program differs"):  # a finished store is refused too
        run(path, make_point(0.05), resume=True)


def test_program_hash_sees_one_element_of_a_large_closed_over_array():
    table = np.linspace(0.0, 1.0, 100_000)
    edited = table.copy()
    edited[77_777] += 1e-12

    def with_table(t):
        return lambda cfg, key: {"y": cfg["a"] * jnp.sum(t)}

    g = sweep.make_grid({"a": [1.0]})
    key = jax.random.key(0)
    first = engine._Traced(with_table(table), g, key).program_sha256()
    assert first == engine._Traced(with_table(table.copy()), g, key).program_sha256()
    assert first != engine._Traced(with_table(edited), g, key).program_sha256()


HASH_SCRIPT = textwrap.dedent(
    """
    import importlib, sys
    import jax
    jax.config.update("jax_num_cpu_devices", 1)
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, {dir!r})
    import overparam.sweep as sweep
    from overparam.sweep import engine
    g = sweep.make_grid({{"a": [0.5, 1.0, 2.0], "seed": [0, 1, 2, 3, 4]}})
    for name in ("point_a", "point_b"):
        print(engine._Traced(importlib.import_module(name).make_point(0.2), g, jax.random.key(3)).program_sha256())
    """
)


def test_program_hash_is_the_same_in_another_process_on_one_device_and_after_lines_move(tmp_path):
    """No addresses, source lines or device count in the hashed text (debug info excluded)."""
    source = textwrap.dedent(
        """
        import jax

        def make_point(eta):
            def point(cfg, key):
                x0 = jax.random.normal(key)
                x = jax.lax.scan(lambda x, _: (x * (1.0 - eta), x * (1.0 - eta)), cfg["a"] * x0, None, length=12)[1]
                return {"x": x, "x0": x0, "never": x0 > 100.0}
            return point
        """
    )
    (tmp_path / "point_a.py").write_text(source)
    (tmp_path / "point_b.py").write_text("# an unrelated line\n\n\n" + source)
    (tmp_path / "hash.py").write_text(HASH_SCRIPT.format(dir=str(tmp_path)))
    proc = subprocess.run([sys.executable, str(tmp_path / "hash.py")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    here = engine._Traced(POINT, sweep.make_grid(GRID), jax.random.key(3)).program_sha256()  # 8 devices
    assert proc.stdout.split() == [here, here]


def test_resume_on_another_device_count_is_allowed_and_keeps_the_chunking(tmp_path, monkeypatch, reference):
    path = tmp_path / "s"
    Recorder(monkeypatch, fail_at=2)
    with pytest.raises(RuntimeError, match="crash"):
        run(path)
    monkeypatch.undo()
    rec = Recorder(monkeypatch)
    ds = run(path, chunk_size=None, resume=True, devices=jax.devices()[:1])  # the store's chunk size, one device
    assert rec.written == [2, 3]
    xr.testing.assert_identical(ds.drop_attrs(), reference.drop_attrs())  # elementwise point: bit-exact anyway
    assert ds.attrs["per_device_batch"] == "[1, 4]"  # chunks 0-1 on 8 devices (batch 1), 2-3 on one (batch 4)


# 2. per-chunk checksums -----------------------------------------------------------------------------------------


def _delete(f: Path) -> None:
    f.unlink()


def _truncate(f: Path) -> None:
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])


def _flip(f: Path) -> None:
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x10
    f.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "kind"), [(_delete, "missing"), (_truncate, "damaged"), (_flip, "damaged")])
def test_deleted_truncated_or_flipped_chunk_is_detected_listed_and_recomputed(tmp_path, monkeypatch, reference,
                                                                              damage, kind):
    path = tmp_path / "s"
    run(path)
    assert not chunk_file(path, "never", 1).exists()  # an all-False chunk has no file and is not "missing"
    damage(chunk_file(path, "x", 1))
    report = store.verify(path)
    assert (report.finished, report.total) == (3, 4) and not report.complete
    assert (report.missing, report.damaged) == (((1,), ()) if kind == "missing" else ((), (1,)))
    assert report.sizes == {"a": 3, "seed": 5, "step": STEPS} and report.variables == ("never", "x", "x0")
    with pytest.raises(ValueError, match=rf"chunks 1 are {kind}.*resume=True"):
        store.load(path)
    with pytest.raises(ValueError, match=rf"chunks 1 are {kind}"):
        store.load(path, allow_partial=True)
    rec = Recorder(monkeypatch)
    ds = run(path, resume=True)
    assert rec.written == [1]  # exactly the damaged chunk
    assert store.verify(path).complete
    for name in ("x", "x0", "never"):
        assert ds[name].dtype == reference[name].dtype
        np.testing.assert_array_equal(ds[name].values, reference[name].values)  # bit-identical float64


def test_damaged_record_is_reported_not_raised_and_recomputed(tmp_path, monkeypatch, reference):
    path = tmp_path / "s"
    run(path)
    _truncate(chunk_file(path, store.RECORD, 0))  # the record (done flag and checksums) cannot be read
    _truncate(chunk_file(path, "x0", 3))
    report = store.verify(path)
    assert report.damaged == (0, 3) and report.missing == () and report.finished == 2
    rec = Recorder(monkeypatch)
    ds = run(path, resume=True)
    assert rec.written == [0, 3]
    xr.testing.assert_identical(ds.drop_attrs(), reference.drop_attrs())


def test_record_holds_the_batch_and_the_sha256_of_each_output_chunk(tmp_path, reference):
    """Independent check of the format: bytes 0:8 the per-device batch, then hashlib's SHA-256 of each output."""
    path = tmp_path / "s"
    run(path, devices=jax.devices()[:2])  # chunks of 4 on 2 devices: batch 2
    group = zarr.open_group(str(path), mode="r")
    records = np.asarray(group[store.RECORD][...])
    assert records.shape == (4, 8 + 32 * 3) and group.attrs["store_format"] == 2
    flat = {name: reference[name].values.reshape(15, *reference[name].shape[2:]) for name in ("never", "x", "x0")}
    for c in range(4):
        assert int.from_bytes(records[c, :8].tobytes(), "little") == 2
        for j, name in enumerate(("never", "x", "x0")):
            want = hashlib.sha256(np.ascontiguousarray(flat[name][4 * c : 4 * c + 4]).tobytes()).digest()
            assert records[c, 8 + 32 * j : 8 + 32 * (j + 1)].tobytes() == want


def test_show_lists_damaged_and_missing_chunks(tmp_path):
    from overparam import cli

    path = tmp_path / "sweep.zarr"
    run(path)
    assert "sweep store, complete;" in cli._describe_store(path)
    _delete(chunk_file(path, "x", 0))
    _flip(chunk_file(path, "x0", 2))
    text = cli._describe_store(path)
    assert "sweep store, DAMAGED: chunk(s) 2 damaged and chunk(s) 0 missing (2 of 4 chunks intact)" in text
    assert "--resume" in text
    assert "dims a=3, seed=5, step=12" in text and "variables never, x, x0" in text


# 3. seeds of 2**32 and above ------------------------------------------------------------------------------------


def test_seed_key_separates_seeds_that_fold_in_aliases():
    k = jax.random.key(0)
    data = jax.random.key_data
    assert 10**12 % 2**32 == 3567587328
    assert np.array_equal(data(jax.random.fold_in(k, jnp.int64(10**12))), data(jax.random.fold_in(k, 3567587328)))
    assert not np.array_equal(data(sweep.seed_key(k, 10**12)), data(sweep.seed_key(k, 3567587328)))
    traced = jax.jit(sweep.seed_key)(k, jnp.int64(10**12))  # a seed axis inside a sweep is a traced int64
    assert np.array_equal(data(traced), data(sweep.seed_key(k, 10**12)))
    # the high word is folded in after the low word: an independent composition of fold_in
    expected = jax.random.fold_in(jax.random.fold_in(k, np.uint32(10**12 % 2**32)), np.uint32(10**12 // 2**32))
    assert np.array_equal(data(traced), data(expected))


@given(seed=st.integers(0, 2**32 - 1))
def test_seed_key_is_fold_in_below_2_to_the_32(seed):
    k = jax.random.key(5)
    want = np.asarray(jax.random.key_data(jax.random.fold_in(k, seed)))
    assert np.array_equal(jax.random.key_data(sweep.seed_key(k, seed)), want)
    assert np.array_equal(jax.random.key_data(_seed_key_vmapped(k, jnp.asarray([seed], jnp.int64)))[0], want)


_seed_key_vmapped = jax.jit(jax.vmap(sweep.seed_key, in_axes=(None, 0)))


def test_seed_key_distinct_for_seeds_sharing_a_low_word_and_refuses_non_integers():
    k = jax.random.key(1)
    seeds = jnp.asarray([7, 7 + 2**32, 7 + 2**33, -1, 2**32 - 1], jnp.int64)
    keys = np.asarray(jax.random.key_data(_seed_key_vmapped(k, seeds)))
    assert len({tuple(row) for row in keys}) == 5
    with pytest.raises(ValueError, match="seed must be an integer"):
        sweep.seed_key(k, 1.5)
    with pytest.raises(ValueError, match=r"seed must lie in \[-2\*\*63, 2\*\*64\)"):
        sweep.seed_key(k, 2**64)


def test_make_grid_refuses_integers_that_do_not_fit_the_point_dtype():
    assert sweep.make_grid({"seed": [2**62]}).values[0][0] == 2**62  # x64: int64 holds it
    with pytest.raises(ValueError, match=r"grid axis 'seed' has integer value 9223372036854775808 that does not fit int64"):
        sweep.make_grid({"seed": [0, 2**63]})
    with jax.enable_x64(False):
        sweep.make_grid({"seed": [2**31 - 1, -(2**31)]})
        with pytest.raises(ValueError, match=r"'seed' has integer value 2147483648 that does not fit int32.*x64"):
            sweep.make_grid({"seed": [1, 2**31]})


# 5. work thrown away --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("runs", "devices", "chunk"), [(15, 8, 15), (100, 1, 15), (1000, 1, 32), (1000, 8, 128),
                                                        (10_000, 1, 313), (10_000, 8, 320), (100_000, 1, 1021),
                                                        (100_000, 8, 1024), (10_000, 3, 315), (45, 2, 24), (64, 2, 32)])
def test_default_chunk_size(runs, devices, chunk):
    assert sweep.default_chunk_size(runs, devices) == chunk


@given(runs=st.integers(1, 10**6), devices=st.sampled_from([1, 2, 3, 4, 8, 16]))
def test_default_chunks_bound_the_loss(runs, devices):
    c = sweep.default_chunk_size(runs, devices)
    n_chunks = -(-runs // c)
    assert c == runs or c % devices == 0
    assert c <= 1024 and 2 * c >= min(runs, 16 * devices)  # the floor, at most halved by evening out
    assert n_chunks <= 32 or c >= 0.96 * 1024 - devices  # about 1/32 of the sweep, unless capped
    assert c == runs or n_chunks * c - runs < n_chunks * devices  # padding: under one run per device per chunk
    if runs >= 32 * 16 * devices and runs <= 32 * 1024 - devices * 32:
        assert n_chunks >= 30  # and not much coarser either


def test_default_chunking_is_used_and_a_resume_keeps_the_stored_chunk(tmp_path):
    grid = {"a": [1.0, 2.0], "seed": list(range(300))}  # 600 runs on 8 devices: 16 per device, 5 chunks,
    sweep.run(POINT, grid, key=jax.random.key(0), store=tmp_path / "s", progress=False,  # evened out to 120 each
              out_dims={"x": ("step",)})
    assert store.stored_chunk_size(tmp_path / "s") == 120 and store.completion(tmp_path / "s") == (5, 5)
    ds = sweep.run(POINT, grid, key=jax.random.key(0), store=tmp_path / "s", progress=False, resume=True,
                   out_dims={"x": ("step",)}, devices=jax.devices()[:2])  # the default on 2 devices would be 32
    assert ds.attrs["chunk_size"] == 120


def test_runs_per_device_sets_the_chunk_and_a_resume_keeps_the_stored_one(tmp_path):
    grid = {"a": [1.0], "seed": list(range(20))}  # 20 runs, one per device: chunks of 8 on 8 devices, 3 chunks
    ds = sweep.run(POINT, grid, key=jax.random.key(0), store=tmp_path / "s", progress=False, runs_per_device=1,
                   out_dims={"x": ("step",)})
    assert ds.attrs["chunk_size"] == 8 and store.completion(tmp_path / "s") == (3, 3)
    again = sweep.run(POINT, grid, key=jax.random.key(0), store=tmp_path / "s", progress=False, resume=True,
                      runs_per_device=1, out_dims={"x": ("step",)}, devices=jax.devices()[:2])  # 2 would be new
    assert again.attrs["chunk_size"] == 8
    np.testing.assert_array_equal(again["x"].values, ds["x"].values)
    small = sweep.run(POINT, {"a": [1.0], "seed": [0, 1, 2]}, key=jax.random.key(0), progress=False, runs_per_device=4,
                      out_dims={"x": ("step",)}, devices=jax.devices()[:2], store=tmp_path / "small")
    assert small.attrs["chunk_size"] == 3  # never more than the sweep
    assert sweep.run(POINT, grid, key=jax.random.key(0), progress=False, runs_per_device=2, chunk_size=5,
                     out_dims={"x": ("step",)}, store=tmp_path / "five").attrs["chunk_size"] == 5  # explicit wins
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="runs_per_device"):
            sweep.run(POINT, grid, key=jax.random.key(0), progress=False, runs_per_device=bad)


SIGNAL_SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, {here!r})
    import test_sweep_trust as t
    import overparam.sweep as sweep
    from overparam import store

    original = store.Writer.write_chunk

    def write(self, chunk, outputs):
        original(self, chunk, outputs)
        print("written", chunk, flush=True)

    store.Writer.write_chunk = write
    try:
        t.run_slow({path!r})
    except sweep.Interrupted as error:
        print("INTERRUPTED", error, flush=True)
        sys.exit(3)
    """
)
SLOW_GRID = {"a": [0.5, 1.0], "seed": list(range(24))}  # 48 runs in 6 chunks of 8


def slow_point(cfg, key):
    """x <- cos(x) * a, 200k times: ~0.1-0.3 s a chunk on CPU, elementwise (bit-exact for any batch)."""
    x = jax.lax.fori_loop(0, 200_000, lambda i, x: jnp.cos(x) * cfg["a"], jax.random.normal(key))
    return {"x": x}


def run_slow(path, **kw):
    return sweep.run(slow_point, SLOW_GRID, key=jax.random.key(9), chunk_size=8, store=path, progress=False, **kw)


@pytest.mark.parametrize("sig", ["SIGINT", pytest.param("SIGTERM", marks=pytest.mark.slow)])  # same path
def test_signal_stops_at_a_chunk_boundary_keeps_finished_chunks_and_resume_does_the_rest(tmp_path, monkeypatch, sig):
    import signal

    path = tmp_path / "s"
    script = tmp_path / "sig.py"
    script.write_text(SIGNAL_SCRIPT.format(here=str(Path(__file__).resolve().parent), path=str(path)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith("written 1"):  # two chunks done: interrupt
            proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=120)
    err = proc.stderr.read()
    assert proc.returncode == 3, err[-2000:]
    written = [int(x.split()[1]) for x in lines if x.startswith("written")]
    message = lines[-1]
    assert message.startswith(f"INTERRUPTED sweep interrupted by {sig} after {len(written)} of 6 chunks")
    assert "resume=True" in message and "--resume" in message and str(path) in message
    assert 2 <= len(written) <= 4 and written == list(range(len(written)))  # the chunk in flight was finished
    assert f"{sig} received; stopping after the chunk in flight" in err
    report = store.verify(path)
    assert (report.finished, report.total, report.damaged, report.missing) == (len(written), 6, (), ())
    if sig == "SIGTERM":  # same path as SIGINT from here on
        return
    rec = Recorder(monkeypatch)
    ds = run_slow(path, resume=True)
    assert rec.written == list(range(len(written), 6))
    monkeypatch.undo()
    np.testing.assert_array_equal(ds.x.values, run_slow(None).x.values)


HUNG_SCRIPT = textwrap.dedent(
    """
    import os
    import sys
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_num_cpu_devices", 2)
    jax.config.update("jax_enable_x64", True)
    import overparam.sweep as sweep
    from overparam import store

    def point(cfg, key):  # chunk 0 (slow = 0) is quick, chunk 1 (slow = 1) runs for hours
        n = jnp.where(cfg["slow"] > 0, 10**12, 10)
        return {{"x": jax.lax.fori_loop(0, n, lambda i, x: jnp.cos(x), jax.random.normal(key))}}

    original = store.Writer.write_chunk

    def write(self, chunk, outputs):
        original(self, chunk, outputs)
        print("written", chunk, flush=True)

    store.Writer.write_chunk = write
    try:
        sweep.run(point, {{"slow": [0, 1], "seed": [0, 1]}}, key=jax.random.key(0), chunk_size=2, store={path!r},
                  progress=False)
    except sweep.Interrupted:
        print("INTERRUPTED", flush=True)
        sys.exit(3)
    except KeyboardInterrupt:  # control is back at once; the hung computation would keep a normal exit waiting
        print("ABORTED", flush=True)
        os._exit(4)
    """
)


@pytest.mark.parametrize("sig", [pytest.param("SIGINT", marks=pytest.mark.slow), "SIGTERM"])
def test_a_second_signal_stops_a_hung_chunk_at_once_and_the_store_stays_consistent(tmp_path, sig):
    import signal
    import time

    path = tmp_path / "s"
    script = tmp_path / "hung.py"
    script.write_text(HUNG_SCRIPT.format(path=str(path)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.stdout.readline().strip() == "written 0"
    proc.send_signal(getattr(signal, sig))
    time.sleep(1.0)
    assert proc.poll() is None  # the first signal waits for the chunk in flight, which is hung
    proc.send_signal(getattr(signal, sig))
    start = time.perf_counter()
    guard = threading.Timer(60, proc.kill)  # a regression must not hang the suite
    guard.start()
    out, err = proc.communicate()
    guard.cancel()
    assert time.perf_counter() - start < 30
    if sig == "SIGINT":
        assert proc.returncode == 4 and out.strip() == "ABORTED", err[-2000:]
    else:  # the default SIGTERM: the process ends by the signal
        assert proc.returncode == -signal.SIGTERM, err[-2000:]
    assert f"{sig} received; stopping after the chunk in flight" in err
    report = store.verify(path)
    assert (report.finished, report.total, report.damaged, report.missing) == (1, 2, (), ())


def test_handlers_are_installed_during_a_sweep_restored_after_and_not_installed_off_the_main_thread(tmp_path,
                                                                                                     monkeypatch):
    import signal

    def mine(signum, frame):
        pass

    seen = []
    original = store.Writer.write_chunk

    def write(writer, chunk, outputs):
        seen.append((threading.current_thread() is threading.main_thread(), signal.getsignal(signal.SIGTERM)))
        original(writer, chunk, outputs)

    monkeypatch.setattr(store.Writer, "write_chunk", write)
    previous = signal.signal(signal.SIGTERM, mine)
    try:
        run(tmp_path / "s")
        assert len(seen) == 4 and all(main and handler not in (mine, signal.SIG_DFL) for main, handler in seen)
        assert signal.getsignal(signal.SIGTERM) is mine and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        seen.clear()
        out = {}
        thread = threading.Thread(target=lambda: out.update(ds=run(tmp_path / "t")))
        thread.start()
        thread.join(60)
        assert "ds" in out and out["ds"].x.shape == (3, 5, STEPS)
        assert seen == [(False, mine)] * 4  # signal.signal is main-thread only: nothing installed
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_interrupted_is_a_keyboard_interrupt_with_a_one_line_message():
    error = sweep.Interrupted("sweep interrupted by SIGINT after 2 of 6 chunks; run again with resume=True",
                              signal="SIGINT", store="s", finished=2, total=6)
    assert isinstance(error, KeyboardInterrupt) and not isinstance(error, Exception)
    assert "\n" not in str(error) and (error.finished, error.total) == (2, 6)


# 8. clear errors before compiling -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "match"),
    [
        (lambda cfg, key: [cfg["a"]], "point must return a dict name -> array, got list"),
        (lambda cfg, key: cfg["a"] * 2.0, "point must return a dict name -> array, got a single array"),
        (lambda cfg, key: {}, "non-empty dict"),
        (lambda cfg, key: {"x": {"y": cfg["a"]}}, "output 'x' of point must be an array"),
        (lambda cfg, key: {"x": jnp.zeros(cfg["n"])}, r"point could not be traced .*Shapes must be 1D.*width_mask"),
        (lambda cfg, key: {"x": jnp.arange(5.0)[: cfg["n"]]}, "point could not be traced .*IndexError"),
        (lambda cfg, key: {"x": cfg["a"] if cfg["a"] > 0 else -cfg["a"]}, "point could not be traced .*Tracer"),
    ],
)
def test_bad_point_is_a_value_error_naming_it(point, match):
    with pytest.raises(ValueError, match=match):
        sweep.run(point, {"a": [1.0, 2.0], "n": [2, 3]}, key=jax.random.key(0), progress=False)


@pytest.mark.parametrize("key", [0, 7, np.uint32(3), "0", None])
def test_key_that_is_not_a_jax_key_is_named(key):
    with pytest.raises(ValueError, match=re.escape(f"key must be a jax.random key such as jax.random.key(0), got {key!r}")):
        sweep.run(POINT, GRID, key=key, progress=False)


# 9. disk full ---------------------------------------------------------------------------------------------------


def test_enospc_mid_chunk_leaves_it_unfinished_names_the_store_and_resume_recomputes(tmp_path, monkeypatch, reference):
    path = tmp_path / "s"
    original = zarr.storage.LocalStore.set

    async def full(self, key, value):
        if key.startswith("x0/c/2"):  # chunk 2: its "x" file is written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return await original(self, key, value)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", full)
    with pytest.raises(OSError, match=rf"writing chunk 2 to the store '{path}' failed .*resume=True") as error:
        run(path)
    assert error.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert chunk_file(path, "x", 2).exists()  # half of the chunk landed ...
    assert store.completion(path) == (2, 4)  # ... but it is not marked done
    report = store.verify(path)
    assert (report.finished, report.damaged, report.missing) == (2, (), ())
    rec = Recorder(monkeypatch)
    ds = run(path, resume=True)
    assert rec.written == [2, 3]
    xr.testing.assert_identical(ds.drop_attrs(), reference.drop_attrs())


def big_point(cfg, key):
    return {"noise": jax.random.normal(key, (4096,)) * cfg["a"]}  # 32 KiB of incompressible float64 per run


def test_enospc_on_a_real_small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        path = mount / "s"
        grid = {"a": [1.0, 2.0], "seed": list(range(16))}  # 32 runs x 32 KiB = 1 MiB > 512 KiB, chunks of 4 runs

        def go(**kw):
            return sweep.run(big_point, grid, key=jax.random.key(0), chunk_size=4, store=path, progress=False, **kw)

        with pytest.raises(OSError, match=rf"the store '{path}'") as error:
            go()
        assert error.value.errno == errno.ENOSPC
        report = store.verify(path)
        assert 0 < report.finished < 8 and report.damaged == () and report.missing == ()
        subprocess.run(["mount", "-o", "remount,size=4m", str(mount)], check=True)
        ds = go(resume=True)
        np.testing.assert_array_equal(ds.noise.values, sweep.run(big_point, grid, key=jax.random.key(0), chunk_size=4,
                                                                 progress=False).noise.values)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
