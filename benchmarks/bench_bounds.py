"""Mixture-regret benchmark: exact D_n of a K-hypothesis Bernoulli grid against its peers.

Run from the repository root::

    python -m benchmarks.bench_bounds           # K = 10^5, n = 10^4 (and K = 10^6 in a child process)
    python -m benchmarks.bench_bounds --quick   # smoke version

Problem: the midpoint grid ``p_k = (k + 1/2)/K`` with Jeffreys (Beta(1/2, 1/2)) cell weights, truth
``p0 = 0.3``, exact expected regret ``D_n = sum_s Bin(s; n, p0) [log P0(s) - log Q(s)]`` with
``log Q(s) = logsumexp_k [log w_k + s log p_k + (n - s) log(1 - p_k)]`` (docs/bounds.md#finite-alphabet-regret).
Implementations, in one process, first checked to agree:

* ``overparam``: ``bounds.expected_regret`` (chunked running logsumexp over hypotheses, counts
  tiled in blocks), float64, full enumeration of s = 0..n and with the Hoeffding window
  (``tail_mass = 1e-30``: only ``|s - n p0| <= 590`` at n = 10^4); float32 reported separately.
* ``numpy``: the same formula vectorized with NumPy/SciPy (``scipy.special.logsumexp`` over chunks
  of 1000 hypotheses, ``np.logaddexp`` across chunks) on the same Hoeffding window.
* ``online loop``: what a user writes to get D_n by updating the posterior sample by sample: a
  table of unnormalised log-posteriors, one row per count s of ones so far, grown by one row per
  step; step t computes every row's predictive and ``r_t = E_s KL(p0 || q_t(s))``. Step t costs
  O(K t), so the whole loop costs O(K n^2 / 2) time and O(K n) memory (8 GB at K = 10^5, n = 10^4).
  Only the first ``loop_steps`` steps are timed and the total is extrapolated with the exact cost
  ratio ``n (n + 1) / (T (T + 1))``; its ``sum_{t <= T} r_t`` is checked against ``expected_regret``
  at n = T.

Memory: each size runs in a child process (``--child K N TAIL``) that samples its resident set
(``/proc/self/statm``) every 2 ms while it builds the class and computes D_n twice, and reports the
peak and the resident set before (after importing jax and a small warm-up), so the increment of the
computation is visible. ``--memory-only`` runs just these.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy import special as sps  # noqa: E402

import bounds  # noqa: E402
from benchmarks import harness  # noqa: E402

P0 = 0.3
TAIL = 1e-30


def make_class(k: int) -> bounds.FiniteAlphabetClass:
    return bounds.bernoulli_beta_grid(k, 0.5, 0.5)


def numpy_regret(p: np.ndarray, log_w: np.ndarray, p0: float, n: int, s: np.ndarray, chunk: int = 1000) -> float:
    """Vectorized NumPy: D_n restricted to the counts ``s`` (float64)."""
    acc = np.full(s.size, -np.inf)
    lp, l1p = np.log(p), np.log1p(-p)
    for i in range(0, p.size, chunk):
        terms = log_w[i : i + chunk, None] + lp[i : i + chunk, None] * s + l1p[i : i + chunk, None] * (n - s)
        acc = np.logaddexp(acc, sps.logsumexp(terms, axis=0))
    log_seq = s * math.log(p0) + (n - s) * math.log1p(-p0)
    log_pmf = sps.gammaln(n + 1) - sps.gammaln(s + 1) - sps.gammaln(n - s + 1) + log_seq
    return float(np.sum(np.exp(log_pmf) * (log_seq - acc)))


def online_loop(p: np.ndarray, log_w: np.ndarray, p0: float, steps: int) -> np.ndarray:
    """Per-sample posterior updates over every count state; returns r_1..r_steps."""
    lp, l1p = np.log(p), np.log1p(-p)
    table = log_w[None, :].copy()  # row s: log w + s log p + (t - s) log(1 - p), t = 0
    regrets = np.empty(steps)
    for t in range(steps):
        m = t  # observations so far
        post = table - sps.logsumexp(table, axis=1, keepdims=True)
        q1 = np.exp(sps.logsumexp(post + lp, axis=1))
        s = np.arange(m + 1)
        pmf = np.exp(sps.gammaln(m + 1) - sps.gammaln(s + 1) - sps.gammaln(m - s + 1)
                     + s * math.log(p0) + (m - s) * math.log1p(-p0))
        kl = p0 * math.log(p0) + (1 - p0) * math.log1p(-p0) - p0 * np.log(q1) - (1 - p0) * np.log1p(-q1)
        regrets[t] = pmf @ kl
        table = np.vstack([table + l1p, table[-1:] + lp])  # next row s: from s (a zero) or s - 1 (a one)
    return regrets


def _rss_mb() -> float:
    """Current resident set of this process (``/proc/self/statm``), MiB."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _RssSampler(threading.Thread):
    """Polls the current resident set every 2 ms and keeps the maximum (``ru_maxrss`` of a child
    process can carry its parent's high-water mark, so it is not used here)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss_mb()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.002)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return max(self.peak, _rss_mb())


def child(k: int, n: int, tail: float) -> None:
    truth = np.array([1 - P0, P0])
    warm = make_class(1000)  # compile-independent warm-up of jax itself
    float(bounds.expected_regret(warm, truth, 10))
    before = _rss_mb()
    sampler = _RssSampler()
    sampler.start()
    cls = make_class(k)
    start = time.perf_counter()
    d = float(bounds.expected_regret(cls, truth, n, tail_mass=tail))
    first = time.perf_counter() - start
    start = time.perf_counter()
    d2 = float(bounds.expected_regret(cls, truth, n, tail_mass=tail))
    second = time.perf_counter() - start
    peak = sampler.stop()
    print(json.dumps({"k": k, "n": n, "tail_mass": tail, "regret": d, "regret_repeat": d2,
                      "seconds_first_call_with_compile": first, "seconds": second,
                      "rss_before_mb": before, "peak_rss_mb": peak, "peak_increase_mb": peak - before}))


def run_child(k: int, n: int, tail: float) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_bounds", "--child", str(k), str(n), str(tail)],
                         capture_output=True, text=True, check=True, env=dict(os.environ))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(int(argv[1]), int(argv[2]), float(argv[3]))
        return 0
    parser = harness.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--memory-only", action="store_true", help="only the child-process memory runs")
    args = parser.parse_args(argv)
    k, n, loop_steps, big_k = (2_000, 1_000, 20, 20_000) if args.quick else (100_000, 10_000, 40, 1_000_000)
    for kk, tail in ((k, 0.0), (big_k, 0.0), (big_k, TAIL)):  # children first, from a small parent
        rec = run_child(kk, n, tail)
        harness.emit("bounds.exact_regret_memory", {**rec, "load_average": [round(v, 2) for v in os.getloadavg()]})
    if args.memory_only:
        return 0
    info = harness.machine_info()
    cls = make_class(k)
    truth = np.array([1 - P0, P0])
    p = np.exp(np.asarray(cls.log_probs[:, 1]))
    log_w = np.asarray(cls.log_prior)
    h = bounds.regret.binomial_window(n, TAIL)
    start = int(np.clip(round(n * P0) - h, 0, n - 2 * h)) if 2 * h + 1 <= n + 1 else 0
    s_window = np.arange(start, min(n, start + 2 * h) + 1, dtype=float)

    # agreement first
    full = float(bounds.expected_regret(cls, truth, n))
    windowed = float(bounds.expected_regret(cls, truth, n, tail_mass=TAIL))
    ref = numpy_regret(p, log_w, P0, n, s_window)
    assert abs(windowed - ref) <= 1e-9 * abs(ref), (windowed, ref)
    assert abs(full - windowed) <= 1e-9 * abs(full), (full, windowed)
    loop_r = online_loop(p, log_w, P0, loop_steps)
    d_small = float(bounds.expected_regret(cls, truth, loop_steps))
    assert abs(loop_r.sum() - d_small) <= 1e-9 * d_small, (loop_r.sum(), d_small)

    cls32 = bounds.FiniteAlphabetClass(cls.log_probs.astype(jnp.float32), cls.log_prior.astype(jnp.float32))
    truth32 = truth.astype(np.float32)
    windowed32 = float(bounds.expected_regret(cls32, truth32, n, tail_mass=TAIL))

    t_full = harness.timeit(lambda: bounds.expected_regret(cls, truth, n), repeats=3)
    t_win = harness.timeit(lambda: bounds.expected_regret(cls, truth, n, tail_mass=TAIL), repeats=3)
    t_win32 = harness.timeit(lambda: bounds.expected_regret(cls32, truth32, n, tail_mass=TAIL), repeats=3)
    t_np = harness.timeit(numpy_regret, p, log_w, P0, n, s_window, repeats=2, warmup=0)
    t_loop = harness.timeit(online_loop, p, log_w, P0, loop_steps, repeats=1, warmup=0)
    loop_total = t_loop["min"] * n * (n + 1) / (loop_steps * (loop_steps + 1))

    harness.emit("bounds.exact_regret", {
        "k": k, "n": n, "p0": P0, "regret": full, "regret_window": windowed, "regret_numpy": ref,
        "regret_float32_window": windowed32,
        "window_counts": int(s_window.size), "tail_mass": TAIL,
        "seconds_overparam_full_f64": t_full["min"],
        "seconds_overparam_window_f64": t_win["min"],
        "seconds_overparam_window_f32": t_win32["min"],
        "seconds_numpy_window_f64": t_np["min"],
        "seconds_online_loop_extrapolated": loop_total,
        "online_loop_timed_steps": loop_steps, "seconds_online_loop_timed": t_loop["min"],
        "speedup_vs_numpy_same_formula": t_np["min"] / t_win["min"],
        "speedup_full_enumeration_vs_numpy_window": t_np["min"] / t_full["min"],
        "speedup_vs_online_loop": loop_total / t_win["min"],
        "speedup_full_enumeration_vs_online_loop": loop_total / t_full["min"],
        "log_terms_per_second_full": k * (n + 1) / t_full["min"],
        "machine": info,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
