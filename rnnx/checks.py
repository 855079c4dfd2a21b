"""Input validation at the public boundary: every message names the argument, what it got
and what it expected.

The NaN/Inf policy: values are not inspected by default (no array op, no host sync).
``check_finite=True`` on the layer and model methods runs :func:`all_finite` on their
inputs and parameters before computing and on their results after, raising
:class:`NonFiniteError` for the first non-finite array in a fixed order;
:func:`finite_flags` is its device part (no host read; it traces under ``jax.jit``).  The
trainer checks nothing while the numbers are finite and replays an epoch that went
non-finite with every array checked (:func:`rnnx.training.strategies.replay_epoch`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rnnx._xp import has_dtype, is_traced


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def floating(name: str, a: Any, *, xp: Any) -> None:
    """``a`` must have a real floating dtype."""
    if not has_dtype(a.dtype, "real floating", xp=xp):  # remembered per dtype (every update checks x)
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


def params(got: Any, expected: Mapping[str, tuple[int, ...]], *, dtype: Any, layer: Any) -> None:
    """Keys, shapes and dtype of a parameter dict.  ``layer``: what the messages name (a
    str, or an object whose ``repr`` is formed only for a message: none on the good path)."""
    if (isinstance(got, Mapping) and len(got) == len(expected)
            and all(k in got and tuple(got[k].shape) == shp and got[k].dtype == dtype for k, shp in expected.items())):
        return  # the good path: no message formed
    if not isinstance(layer, str):
        layer = repr(layer)
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


# -- the NaN/Inf policy (check_finite=True) -------------------------------------------------

#: Why ``check_finite=True`` refuses traced arrays (it would otherwise check nothing).
JIT_REFUSAL = ("check_finite: cannot read values under jax.jit (traced arrays); "
               "call without jit or use check_finite=False")


class NonFiniteError(FloatingPointError, ValueError):
    """A NaN or an infinity where finite numbers were expected (``check_finite=True``).

    A ``FloatingPointError`` (what ``numpy.errstate(all="raise")`` raises) and a
    ``ValueError`` (the library's bad-value error); the message starts with the name of the
    first non-finite array: ``params['weight_hh_l0']: 3 non-finite values (first nan at
    index (2, 5)); expected finite numbers``."""


def _pairs(named: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return list(named.items()) if isinstance(named, Mapping) else [(n, a) for n, a in named]


def finite_flags(arrays: Mapping[str, Any] | Sequence[tuple[str, Any]], *, xp: Any) -> Any:
    """``flags`` (N,) bool with ``flags[i] = all(isfinite(a_i))``, one per entry in order.

    Computed on the arrays' device and never read back (no host sync; it traces under
    ``jax.jit``).  ``arrays`` may not be empty."""
    pairs = _pairs(arrays)
    if not pairs:
        raise ValueError("arrays: expected at least one array to check, got none")
    return xp.stack([xp.all(xp.isfinite(a)) for _, a in pairs])


def _unravel(i: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The row-major (C-order) index of flat position ``i`` in ``shape``."""
    index = []
    for n in reversed(shape):
        i, r = divmod(i, n)
        index.append(r)
    return tuple(reversed(index))


def describe_non_finite(name: str, a: Any, *, xp: Any) -> str:
    """The message for an array ``a`` known to hold a NaN or an infinity: how many
    elements are non-finite and the first one in row-major order (kind and index)."""
    bad = xp.reshape(xp.logical_not(xp.isfinite(a)), (-1,))
    where = xp.nonzero(bad)[0]
    count, i = int(where.shape[0]), int(where[0])
    v = float(xp.reshape(a, (-1,))[i])
    kind = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    plural = "" if count == 1 else "s"
    return (f"{name}: {count} non-finite value{plural} (first {kind} at index {_unravel(i, tuple(a.shape))}); "
            "expected finite numbers")


def first_non_finite(named: Mapping[str, Any] | Sequence[tuple[str, Any]], *, xp: Any) -> str | None:
    """The message naming the first array (in the given order) that holds a NaN or an
    infinity, or None when every one is finite.

    One host read when all are finite (``all(finite_flags)``); more only to describe a bad
    array.  Traced arrays (``jax.jit``) have no values: ``ValueError`` (:data:`JIT_REFUSAL`)."""
    pairs = _pairs(named)
    if not pairs:
        return None
    flags = finite_flags(pairs, xp=xp)
    ok = xp.all(flags)
    if is_traced(ok):
        raise ValueError(JIT_REFUSAL)
    if bool(ok):
        return None
    name, a = next((n, a) for j, (n, a) in enumerate(pairs) if not bool(flags[j]))
    return describe_non_finite(name, a, xp=xp)


def finite(name: str, a: Any, *, xp: Any) -> None:
    """``a`` must hold finite numbers only; raises :class:`NonFiniteError` naming ``name``."""
    all_finite([(name, a)], xp=xp)


def all_finite(named: Mapping[str, Any] | Sequence[tuple[str, Any]], *, xp: Any) -> None:
    """Every array must be finite; raises :class:`NonFiniteError` for the first one (in the
    given order) that is not (:func:`first_non_finite`)."""
    message = first_non_finite(named, xp=xp)
    if message is not None:
        raise NonFiniteError(message)
