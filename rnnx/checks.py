"""Input validation at the public boundary: every message names the argument, what it got
and what it expected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnx._xp import is_traced


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def floating(name: str, a: Any, *, xp: Any) -> None:
    """``a`` must have a real floating dtype."""
    if not xp.isdtype(a.dtype, "real floating"):
        raise TypeError(f"{name}: expected a real floating-point array, got dtype {_dtype_name(a.dtype)}")


def same_dtype(name: str, a: Any, dtype: Any) -> None:
    """``a`` must have the same dtype as ``x``."""
    if a.dtype != dtype:
        raise TypeError(
            f"{name}: got dtype {_dtype_name(a.dtype)} but x has dtype {_dtype_name(dtype)}; "
            "expected x, state0, params and dy to share one floating dtype"
        )


def shape(name: str, a: Any, expected: tuple[int, ...], what: str = "") -> None:
    if tuple(a.shape) != tuple(expected):
        raise ValueError(f"{name}: expected shape {tuple(expected)}{what}, got {tuple(a.shape)}")


def x_input(x: Any, *, input_size: int, batch_first: bool, xp: Any) -> bool:
    """Check ``x``; return True when it is unbatched (T, I)."""
    layout = "(B, T, input_size)" if batch_first else "(T, B, input_size)"
    if x.ndim not in (2, 3):
        raise ValueError(
            f"x: expected a 3-D array {layout} or a 2-D unbatched array (T, input_size), "
            f"got {x.ndim}-D shape {tuple(x.shape)}"
        )
    floating("x", x, xp=xp)
    if x.shape[-1] != input_size:
        raise ValueError(
            f"x: expected last dimension input_size={input_size}, got shape {tuple(x.shape)}"
        )
    t_axis = 1 if (batch_first and x.ndim == 3) else 0
    if x.shape[t_axis] == 0:
        raise ValueError(f"x: expected at least one time step, got T=0 in shape {tuple(x.shape)}")
    return x.ndim == 2


def params(got: Any, expected: dict[str, tuple[int, ...]], *, dtype: Any, layer: str) -> None:
    """Keys, shapes and dtype of a parameter dict."""
    if not isinstance(got, Mapping):
        raise TypeError(f"params: expected a dict of arrays, got {type(got).__name__}")
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing or extra:
        parts = ([f"missing key(s) {missing}"] if missing else []) + (
            [f"unexpected key(s) {extra}"] if extra else []
        )
        raise ValueError(f"params: {'; '.join(parts)}; expected exactly the keys of {layer}: {list(expected)}")
    for k, shp in expected.items():
        shape(f"params[{k!r}]", got[k], shp, f" for {layer}")
        same_dtype(f"params[{k!r}]", got[k], dtype)


def state(
    name: str, got: Any, *, components: tuple[str, ...], expected: tuple[tuple[int, ...], ...], dtype: Any,
    cell: str, sizes: tuple[str, ...]
) -> tuple[Any, ...]:
    """An initial or final-state (gradient) argument: an array h, or a tuple (h, c) for a
    cell whose state has two components; ``expected`` holds each component's shape and
    ``sizes`` the name of its last dimension (``hidden_size``, ``proj_size``)."""
    size = len(components)
    if size > 1:
        if not isinstance(got, (tuple, list)) or len(got) != size:
            what = type(got).__name__ if not isinstance(got, (tuple, list)) else f"a {len(got)}-tuple"
            raise TypeError(f"{name}: expected a tuple ({', '.join(components)}) of {size} arrays for {cell}, "
                            f"got {what}")
        parts = tuple(got)
    else:
        if isinstance(got, (tuple, list)):
            raise TypeError(f"{name}: expected one array h for {cell}, got a {type(got).__name__}")
        parts = (got,)
    for j, (a, want, last) in enumerate(zip(parts, expected, sizes)):
        n = f"{name}[{j}]" if size > 1 else name
        shape(n, a, want, f" (num_layers * num_directions, [B,] {last})")
        same_dtype(n, a, dtype)
    return parts


def lengths(got: Any, *, batch: int | None, steps: int, xp: Any, dtype: Any) -> Any:
    """``lengths`` (B,) integer, each in [1, T], returned in ``dtype`` (the default integer
    dtype: a uint8 length never wraps, and torch has no min of uint16); values checked
    unless traced (jax.jit)."""
    if batch is None:
        raise ValueError("lengths: only batched input takes lengths; got an unbatched 2-D x")
    if not xp.isdtype(got.dtype, "integral"):
        raise TypeError(f"lengths: expected an integer array, got dtype {_dtype_name(got.dtype)}")
    shape("lengths", got, (batch,), " (one length per sequence in the batch)")
    got = xp.astype(got, dtype)
    lo, hi = xp.min(got), xp.max(got)
    if is_traced(lo):  # under jax.jit (a traced array, or a concrete one closed over): no values to check
        return got
    lo, hi = int(lo), int(hi)
    if lo < 1 or hi > steps:
        raise ValueError(f"lengths: expected every length in [1, T={steps}], got values in [{lo}, {hi}]")
    return got
