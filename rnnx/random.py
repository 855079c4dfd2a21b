"""Counter-based random numbers written against the array API: the same seed gives the same
bits on every backend and device (dropout masks).

Each element's 32-bit counter (its flat index) is mixed with the seed and a stream number
and put through Chris Wellons' ``lowbias32`` integer hash twice; the top 24 bits make a
uniform number in [0, 1) exactly representable in float32 and float64.  The arithmetic is
done in int64 masked to 32 bits (products split into 16-bit halves so nothing overflows),
or in uint32 where a namespace has no int64 (JAX without ``jax_enable_x64``).  torch has no
uint32 right shift, and every other backend has int64.
"""

from __future__ import annotations

import math
from typing import Any

from rnnx.backends import capabilities

M32 = 0xFFFFFFFF
_C1, _C2 = 0x7FEB352D, 0x846CA68B


def _mul(x: Any, c: int, wide: bool) -> Any:
    """x * c mod 2^32, x in [0, 2^32)."""
    if not wide:
        return x * c  # uint32 wraps
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & M32


def _hash(x: Any, wide: bool) -> Any:
    x = x ^ (x >> 16)
    x = _mul(x, _C1, wide)
    x = x ^ (x >> 15)
    x = _mul(x, _C2, wide)
    return x ^ (x >> 16)


def _key(seed: Any, stream: int, *, xp: Any, dtype: Any, device: Any) -> Any:
    """The seed (a Python int or an integer array of shape ()) and stream as one 32-bit key."""
    if isinstance(seed, int):
        seed = (seed ^ (seed >> 32)) & M32
        s = xp.asarray(seed, dtype=dtype, device=device)
    else:
        s = xp.astype(seed, dtype) & M32 if xp.isdtype(dtype, "signed integer") else xp.astype(seed, dtype)
    wide = xp.isdtype(dtype, "signed integer")
    return _hash(s ^ ((stream * 0x9E3779B9) & M32), wide)


def uniform(seed: Any, stream: int, shape: tuple[int, ...], *, xp: Any, dtype: Any, device: Any) -> Any:
    """(shape) uniform numbers in [0, 1) of ``dtype``, a function of (seed, stream, index)."""
    wide = capabilities(xp).int64()
    it = xp.int64 if wide else xp.uint32
    k = _key(seed, stream, xp=xp, dtype=it, device=device)
    y = _hash(xp.arange(math.prod(shape), dtype=it, device=device) ^ k, wide) + k
    x = _hash(y & M32 if wide else y, wide)
    u = xp.astype(x >> 8, dtype) * (1.0 / (1 << 24))
    return xp.reshape(u, shape)


def dropout_mask(seed: Any, stream: int, shape: tuple[int, ...], p: float, *, xp: Any, dtype: Any,
                 device: Any) -> Any:
    """``1 / (1 - p)`` where the element is kept (probability 1 - p), 0 where dropped."""
    u = uniform(seed, stream, shape, xp=xp, dtype=dtype, device=device)
    return xp.astype(u >= p, dtype) * (1.0 / (1.0 - p))
