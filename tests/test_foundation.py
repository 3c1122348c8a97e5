"""The test environment promised by tests/conftest.py is really in force."""

import jax
import jax.numpy as jnp
import pytest


def test_eight_cpu_devices():
    assert jax.device_count() == 8


def test_float64_enabled():
    assert jnp.zeros(()).dtype == jnp.float64
    # float64 resolves 1 + 1e-12; float32 would round it to 1.
    assert float(jnp.asarray(1.0) + 1e-12) - 1.0 == pytest.approx(1e-12, rel=1e-3)


def test_strict_promotion_rejects_mixed_precision():
    with pytest.raises(Exception, match="promot"):
        jnp.ones(2, jnp.float32) + jnp.ones(2, jnp.float64)
