"""Keys from integer seeds of any size: ``seed_key(key, seed)``.

``jax.random.fold_in(key, data)`` folds in ``data`` as a uint32, so a traced int64 seed is
truncated to its low 32 bits: seed ``10**12`` draws the same stream as ``3567587328``
(``10**12 mod 2**32``). :func:`seed_key` folds in the low 32 bits and then, only when they are
non-zero, the high 32 bits, so

* every seed ``0 <= s < 2**32`` (and every int32 seed) keeps exactly the stream
  ``fold_in(key, s)`` it had before, and
* two different 64-bit seeds never share a stream through truncation (distinct ``(low, high)``
  pairs fold in different data; a seed with ``high != 0`` folds in one more word than any seed
  below ``2**32``).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

_LOW = 0xFFFFFFFF


def seed_key(key: jax.Array, seed: int | jax.Array) -> jax.Array:
    """The key of run seed ``seed``: ``fold_in(key, low)``, then ``fold_in(., high)`` if ``high != 0``.

    ``low = seed mod 2**32`` and ``high = floor(seed / 2**32) mod 2**32`` (two's complement for
    negative seeds), so ``seed_key(key, s) == jax.random.fold_in(key, s)`` for ``0 <= s < 2**32``.

    Args:
      key: a jax.random key (typed, shape ``()``, or a raw uint32 ``(2,)`` key).
      seed: a Python or NumPy integer in ``[-2**63, 2**64)``, or an integer array of shape ``()``
        (traced, e.g. ``config["seed"]`` inside a sweep point; int64 with x64, int32 without).

    Returns:
      A key of the same kind and shape as ``key``.
    """
    if isinstance(seed, (bool, np.bool_)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(seed, numbers.Integral):
        s = int(seed)
        if not -(2**63) <= s < 2**64:
            raise ValueError(f"seed must lie in [-2**63, 2**64), got {s}")
        low, high = s & _LOW, (s >> 32) & _LOW
        out = jax.random.fold_in(key, np.uint32(low))
        return jax.random.fold_in(out, np.uint32(high)) if high else out
    if not hasattr(seed, "dtype") or not jnp.issubdtype(seed.dtype, jnp.integer):
        raise ValueError(f"seed must be an integer or an integer array, got {seed!r}")
    if jnp.shape(seed) != ():
        raise ValueError(f"seed must be a scalar (shape ()), got shape {jnp.shape(seed)}")
    seed = jnp.asarray(seed)
    if seed.dtype.itemsize <= 4:  # no high word: exactly fold_in
        return jax.random.fold_in(key, seed.astype(jnp.uint32))
    u = jax.lax.convert_element_type(seed, jnp.uint64)
    low = (u & np.uint64(_LOW)).astype(jnp.uint32)
    high = (u >> np.uint64(32)).astype(jnp.uint32)
    out = jax.random.fold_in(key, low)
    return jnp.where(high != 0, jax.random.fold_in(out, high), out)
