"""Falsifier benchmark: margin evaluations per second against hypothesis ``@given``, and time to a needle.

Run from the repository root::

    python -m benchmarks.bench_falsify           # full size (minutes on 2 cores)
    python -m benchmarks.bench_falsify --quick   # seconds

Both competitors evaluate the same margin, in the same process, in float64:

* ``overparam.falsify.falsify`` (design, refinement and shrinking, every stage a vmapped sweep of
  the sweep engine over the local devices; its time includes compiling the three stages);
* hypothesis ``@given`` over the same space (``st.integers``, ``st.floats``, log-uniform floats as
  in ``overparam.testing.log_uniform``), calling the margin jitted once (``jax.jit``; compiled
  before the clock starts), one example at a time, generation phase only, no database.

Margins: the gallery's ``monotone_error`` (200 steps of GD on a sensing problem, the conjecture of
the issue that motivated the falsifier) and a planted *needle*: a 4-parameter margin negative on
1e-4 of the box's volume (a ball in 3 continuous coordinates, one value of a 10-valued integer).

Records (one JSON line each, with ``harness.machine_info()``):

* ``throughput``: points/s of each, and the ratio (falsifier end to end, compile included; and its
  design stage alone); hypothesis draws all its examples here, past any violation;
* ``needle``: the falsifier's wall time to its (shrunk) counterexample, then hypothesis given that
  same wall time for each of several seeds: examples drawn, and whether it found the needle;
* ``chunks``: design-stage points/s of the needle at chunk sizes 10^3..10^5 (10^6 on a GPU).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

NEEDLE_C = np.array([0.62, 0.37, 0.81])
NEEDLE_R = (3e-3 / (4.0 * math.pi)) ** (1.0 / 3.0)  # (4/3) pi R^3 / 10 = 1e-4


def needle_space() -> dict[str, Any]:
    from overparam.falsify import Integer, Real

    return {"x": Real(0.0, 1.0), "s": Real(1e-4, 1.0, log=True), "y": Real(-1.0, 1.0), "n": Integer(0, 9)}


def needle(p: dict[str, jax.Array]) -> jax.Array:
    """Distance to a ball of unit-coordinate radius R at n = 7, plus 0.1 per integer step from 7."""
    u = jnp.stack([p["x"], (jnp.log10(p["s"]) + 4.0) / 4.0, (p["y"] + 1.0) / 2.0])
    off = jnp.abs(p["n"] - 7).astype(jnp.float64)
    return jnp.sqrt(jnp.sum((u - jnp.asarray(NEEDLE_C)) ** 2)) - NEEDLE_R + 0.1 * off


def strategy(space: dict[str, Any]):
    """The hypothesis strategy of a falsify space: a fixed dict of scalars, drawn per axis."""
    from hypothesis import strategies as st

    from overparam import testing
    from overparam.falsify import Choice, Integer, Real

    parts = {}
    for name, axis in space.items():
        if isinstance(axis, Integer):
            parts[name] = st.integers(axis.lo, axis.hi)
        elif isinstance(axis, Choice):
            parts[name] = st.sampled_from(axis.values)
        elif isinstance(axis, Real) and axis.log:
            parts[name] = testing.log_uniform(axis.lo, axis.hi)
        else:
            parts[name] = st.floats(axis.lo, axis.hi)
    return st.fixed_dictionaries(parts)


class _OutOfTime(Exception):
    pass


def hypothesis_run(margin, space: dict[str, Any], *, examples: int, seconds: float = math.inf,
                   seed: int = 0, stop: bool = True) -> dict[str, Any]:
    """Run ``@given`` over ``space`` calling ``jax.jit(margin)``: examples drawn, wall time, first violation.

    ``stop=True`` ends the run at the first violation, as a failing property test does;
    ``stop=False`` draws all ``examples`` (for a rate that does not depend on where the first
    violation falls).
    """
    from hypothesis import Phase, given, settings
    from hypothesis import seed as hseed

    jitted = jax.jit(margin)
    integral = {k for k, a in space.items() if type(a).__name__ == "Integer"}

    def args(p: dict[str, Any]) -> dict[str, np.ndarray]:
        return {k: np.int64(v) if k in integral else np.float64(v) for k, v in p.items()}

    probe = {k: (a.lo if hasattr(a, "lo") else a.values[0]) for k, a in space.items()}
    float(jitted(args(probe)))  # compile before the clock starts
    state = {"n": 0, "found": None, "t0": 0.0}

    @hseed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              derandomize=False)
    @given(strategy(space))
    def test(p: dict[str, Any]) -> None:
        if time.perf_counter() - state["t0"] > seconds:
            raise _OutOfTime
        state["n"] += 1
        value = float(jitted(args(p)))
        if value < 0 and state["found"] is None:
            state["found"] = (state["n"], time.perf_counter() - state["t0"], dict(p), value)
        if value < 0 and stop:
            raise AssertionError("counterexample")

    state["t0"] = time.perf_counter()
    try:
        test()
    except Exception:  # noqa: BLE001 - the violation, the time limit, or hypothesis reporting either (state holds what counts)
        pass
    elapsed = time.perf_counter() - state["t0"]
    found = state["found"]
    return {"examples": state["n"], "seconds": elapsed, "points_per_s": state["n"] / elapsed,
            "found": found is not None, "examples_to_first": None if found is None else found[0],
            "seconds_to_first": None if found is None else found[1]}


def falsify_run(margin, space: dict[str, Any], budget: int, **kwargs: Any) -> dict[str, Any]:
    from overparam.falsify import falsify

    start = time.perf_counter()
    result = falsify(margin, space, key=jax.random.key(kwargs.pop("seed", 0)), budget=budget, progress=False,
                     **kwargs)
    wall = time.perf_counter() - start
    return {"result": result, "seconds": wall, "points": result.total_evaluated,
            "points_per_s": result.total_evaluated / wall,
            "design_points_per_s": result.evaluated["design"] / result.seconds["design"]}


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    from benchmarks import harness
    from overparam.falsify import gallery

    args = harness.argument_parser(__doc__.splitlines()[0]).parse_args()
    quick = args.quick
    info = harness.machine_info()
    load_before = os.getloadavg()

    # ---- throughput on the same margins
    cases = {"needle": (needle, needle_space(), 20_000 if quick else 200_000, {}),
             "monotone_error": (gallery.monotone_error_margin, gallery.CONJECTURES["monotone_error"].space,
                                1_500 if quick else 10_000, gallery.CONJECTURES["monotone_error"].settings)}
    for name, (margin, space, budget, settings) in cases.items():
        ours = falsify_run(margin, space, budget, **settings)
        result = ours.pop("result")
        # agreement: the vmapped search's smallest margin equals the margin evaluated alone there
        alone = float(jax.jit(margin)({k: jnp.asarray(v) for k, v in result.argmin.items()}))
        theirs = hypothesis_run(margin, space, examples=200 if quick else 1000, stop=False)
        harness.emit(f"falsify.throughput.{name}", {
            "falsify": ours, "hypothesis": theirs,
            "ratio_end_to_end": ours["points_per_s"] / theirs["points_per_s"],
            "ratio_design_stage": ours["design_points_per_s"] / theirs["points_per_s"],
            "found": result.found, "evaluated": result.evaluated, "stage_seconds": result.seconds,
            "argmin_margin_vmapped_minus_alone": result.min_margin - alone, "machine": info})

    # ---- time to the needle, and hypothesis with the same time
    ours = falsify_run(needle, needle_space(), 4096)
    result = ours.pop("result")
    seeds = range(3 if quick else 10)
    theirs = [hypothesis_run(needle, needle_space(), examples=10**7, seconds=ours["seconds"], seed=s) for s in seeds]
    harness.emit("falsify.needle", {
        "falsify": {**ours, "found": result.found, "shrunk": result.shrunk, "shrunk_margin": result.shrunk_margin},
        "hypothesis_same_time": theirs,
        "hypothesis_found": sum(t["found"] for t in theirs), "hypothesis_runs": len(theirs),
        "needle_volume_fraction": 1e-4, "machine": info})

    # ---- chunk sizes (design stage of the needle)
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    if jax.default_backend() == "gpu":
        sizes.append(1_000_000)
    rates = {}
    for chunk in sizes:
        run = falsify_run(needle, needle_space(), max(10 * chunk, 100_000) if not quick else 4 * chunk,
                          chunk_size=chunk, refine=0.0)
        rates[str(chunk)] = run["design_points_per_s"]
    harness.emit("falsify.chunks", {"design_points_per_s": rates, "backend": jax.default_backend(),
                                    "load_before": load_before, "load_after": os.getloadavg(), "machine": info})


if __name__ == "__main__":
    main()
