"""Tests of the benchmark harness itself (never timed assertions on the project)."""

from __future__ import annotations

import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import harness


def test_timeit_of_a_known_sleep_is_at_least_the_sleep():
    calls = []

    def nap(seconds: float) -> float:
        calls.append(seconds)
        time.sleep(seconds)
        return seconds

    result = harness.timeit(nap, 0.02, repeats=3, warmup=2)
    assert len(calls) == 2 + 3  # warm-up calls are made but not timed
    assert len(result["times"]) == 3
    assert result["min"] >= 0.02  # time.sleep never returns early
    assert result["min"] <= result["median"] <= result["max"]
    assert result["median"] == sorted(result["times"])[1]
    assert result["max"] < 2.0  # a 20 ms sleep, with a generous allowance for a loaded machine


def test_timeit_passes_keyword_arguments_and_blocks_on_pytrees():
    f = jax.jit(lambda a, *, scale: {"y": a * scale, "z": (a.sum(),)})
    x = jnp.arange(4.0)
    out = harness._block(f(x, scale=2.0))
    np.testing.assert_array_equal(np.asarray(out["y"]), np.arange(4.0) * 2.0)
    result = harness.timeit(f, x, scale=2.0, repeats=2, warmup=0)
    assert len(result["times"]) == 2 and result["warmup"] == 0


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"warmup": -1}, {"repeats": 1.5}])
def test_timeit_rejects_bad_counts(kwargs):
    with pytest.raises(ValueError, match="repeats|warmup"):
        harness.timeit(lambda: None, **kwargs)


@given(m=st.integers(1, 5), k=st.integers(1, 5), n=st.integers(1, 5))
def test_matmul_flops_counts_the_operations_of_a_naive_product(m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    c = np.zeros((m, n))
    ops = 0
    for i in range(m):
        for j in range(n):
            for p in range(k):
                c[i, j] += a[i, p] * b[p, j]
                ops += 2  # one multiply, one add
    np.testing.assert_allclose(c, a @ b, rtol=1e-12, atol=1e-12)
    assert harness.matmul_flops(m, k, n) == ops


def test_gflops_and_its_bad_input():
    assert harness.gflops(3e9, 1.5) == pytest.approx(2.0, rel=1e-15)
    with pytest.raises(ValueError, match="seconds"):
        harness.gflops(1.0, 0.0)
    with pytest.raises(ValueError, match="m must"):
        harness.matmul_flops(0, 2, 2)


def test_matmul_peak_rejects_bad_dtype_and_size():
    with pytest.raises(ValueError, match="dtype"):
        harness.matmul_peak_gflops("float16")
    with pytest.raises(ValueError, match="n must"):
        harness.matmul_peak_gflops("float32", n=0)


def test_matmul_peak_equals_flops_over_best_time(monkeypatch):
    # with the clock replaced by a fixed step, the peak is exactly 2 n^3 / step
    ticks = iter(np.arange(0.0, 1000.0, 0.5))
    monkeypatch.setattr(harness.time, "perf_counter", lambda: float(next(ticks)))
    peak = harness.matmul_peak_gflops("float32", n=(8, 16), repeats=2)
    assert peak == pytest.approx(2 * 16**3 / 0.5 / 1e9, rel=1e-12)


@given(c=st.floats(1e-3, 1e3), p=st.floats(-3.0, 3.0))
def test_loglog_slope_recovers_a_power_law(c, p):
    x = np.array([250.0, 500.0, 1000.0, 2000.0, 4000.0])
    assert harness.loglog_slope(x, c * x**p) == pytest.approx(p, abs=1e-9)


def test_loglog_slope_rejects_bad_input():
    with pytest.raises(ValueError, match="x and y"):
        harness.loglog_slope([1.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        harness.loglog_slope([1.0, 2.0], [0.0, 1.0])


def _vm_hwm_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_peak_rss_matches_the_kernel_high_water_mark():
    block = np.ones(64 * 1024 * 1024 // 8)  # touch 64 MiB
    assert block.sum() == block.size
    assert harness.peak_rss_mb() == pytest.approx(_vm_hwm_mb(), abs=8.0)


def test_machine_info_reports_this_process():
    info = harness.machine_info()
    assert info["cpu_count"] == os.cpu_count()
    assert info["x64"] is bool(jax.config.jax_enable_x64)
    assert info["numpy"] == np.__version__ and info["jax"] == jax.__version__
    assert info["device_kind"] == jax.devices()[0].device_kind
    assert len(info["load_average"]) == 3
    json.dumps(info)  # every value is plain JSON


def test_emit_prints_one_json_line(capsys):
    record = harness.emit(
        "demo",
        {"ratio": np.float32(2.5), "times": jnp.array([1.0, 2.0]), "bad": math.nan, "n": np.int64(3)},
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    parsed = json.loads(lines[0])
    assert parsed == record
    assert parsed == {"benchmark": "demo", "ratio": 2.5, "times": [1.0, 2.0], "bad": "nan", "n": 3}


def test_timeit_interleaved_times_each_call_round_robin():
    order = []

    def nap(name: str, seconds: float):
        def call() -> None:
            order.append(name)
            time.sleep(seconds)

        return call

    result = harness.timeit_interleaved({"short": nap("short", 0.01), "long": nap("long", 0.03)}, repeats=3, warmup=1)
    assert order == ["short", "long"] + ["short", "long"] * 3  # warm-ups first, then rounds
    assert result["short"]["min"] >= 0.01 and result["long"]["min"] >= 0.03
    assert all(len(r["times"]) == 3 for r in result.values())
    with pytest.raises(ValueError, match="calls"):
        harness.timeit_interleaved({})
