"""Test configuration shared by the whole suite.

* 8 virtual CPU devices, so sharding code paths run on a laptop (set before jax starts).
* float64 everywhere: theory checks reach errors of 1e-12, which float32 cannot show.
  Tests that check float32 behaviour ask for float32 arrays explicitly.
* strict dtype promotion: an accidental float32/float64 mix is an error, not a silent upcast.
* a deterministic hypothesis profile: the same examples on every run and every machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("OVERPARAM_SMOKE", "1")
os.environ.setdefault("XLA_FLAGS", "")
# keep each xdist worker to one intra-op thread pool so two workers share 2 cores well
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "overparam",
    derandomize=True,
    deadline=None,
    max_examples=25,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    derandomize=False,
    deadline=None,
    max_examples=500,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "overparam"))
