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
from typing import Any, Callable

from rnnx.backends import capabilities

M32 = 0xFFFFFFFF
_C1, _C2 = 0x7FEB352D, 0x846CA68B


def _ops(xp: Any, dtype: Any, device: Any) -> tuple[Callable[[Any, int], Any], Callable[[int], Any]]:
    """``mul(x, c) = x * c mod 2^32`` for x in [0, 2^32), and ``const(c)``, the constant as an
    operand: in int64 the product of 16-bit halves (nothing overflows) masked to 32 bits; in
    uint32 the wrapping product, the constant an array (a Python int >= 2^31 does not fit
    JAX's int32 weak type)."""
    if xp.isdtype(dtype, "signed integer"):
        def mul(x: Any, c: int) -> Any:
            return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & M32

        return mul, lambda c: c

    def const(c: int) -> Any:
        return xp.asarray(c, dtype=dtype, device=device)

    return (lambda x, c: x * const(c)), const


def _hash(x: Any, mul: Callable[[Any, int], Any]) -> Any:
    """lowbias32: x in [0, 2^32) -> a well-mixed 32-bit value."""
    x = x ^ (x >> 16)
    x = mul(x, _C1)
    x = x ^ (x >> 15)
    x = mul(x, _C2)
    return x ^ (x >> 16)


def uniform(seed: Any, stream: int, shape: tuple[int, ...], *, xp: Any, dtype: Any, device: Any) -> Any:
    """(shape) uniform numbers in [0, 1) of ``dtype``, a function of (seed, stream, index);
    ``seed`` a Python int or an integer array of shape ()."""
    wide = capabilities(xp).int64()
    it = xp.int64 if wide else xp.uint32
    mul, const = _ops(xp, it, device)
    if isinstance(seed, int):
        s = xp.asarray((seed ^ (seed >> 32)) & M32, dtype=it, device=device)
    else:
        s = xp.astype(seed, it) & M32 if wide else xp.astype(seed, it)
    k = _hash(s ^ const((stream * 0x9E3779B9) & M32), mul)  # the key of (seed, stream)
    y = _hash(xp.arange(math.prod(shape), dtype=it, device=device) ^ k, mul) + k
    x = _hash(y & M32 if wide else y, mul)
    u = xp.astype(x >> 8, dtype) * (1.0 / (1 << 24))  # the top 24 bits: exact in float32
    return xp.reshape(u, shape)


def dropout_mask(seed: Any, stream: int, shape: tuple[int, ...], p: float, *, xp: Any, dtype: Any,
                 device: Any) -> Any:
    """``1 / (1 - p)`` where the element is kept (probability 1 - p), 0 where dropped."""
    u = uniform(seed, stream, shape, xp=xp, dtype=dtype, device=device)
    return xp.astype(u >= p, dtype) * (1.0 / (1.0 - p))
