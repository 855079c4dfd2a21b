"""Shared pieces of the backend modules: the capability record each one fills, tolerances,
and the import helper."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any, Callable, ContextManager

#: Norm-wise relative tolerances against the float64 NumPy reference (issue #3).
TOLERANCE = {
    "float32": {"out": 2e-6, "grad": 1e-5},
    "float64": {"out": 1e-12, "grad": 1e-12},
}


def _never(a: Any) -> bool:
    return False


def _no(*_: Any) -> bool:
    return False


def _yes() -> bool:
    return True


def _identity(tree: Any) -> Any:
    return tree


@dataclass(frozen=True)
class Capabilities:
    """What the array API standard lacks, as one explicit record per backend.

    The core (``rnnx/``) reads these fields through :func:`rnnx.backends.capabilities`;
    it never imports a backend module by name.  Every field has a standard-only default,
    so a library rnnx does not know runs with ``Capabilities(name)``.

    name:
        the backend's registry name (``"numpy"``, ``"jax"``...).
    sigmoid(x) -> array, or None:
        a native, accurate logistic kernel (``torch.sigmoid``, ``jax.nn.sigmoid``); None
        means :func:`rnnx._xp.sigmoid` forms it from ``exp`` (accurate in both tails).
    scan(f, carry, xs, *, reverse, xp), or None:
        a compiled time loop with :func:`rnnx.loop.scan`'s semantics (``lax.scan``), used
        only while :attr:`staged` is true.
    staged(a) -> bool:
        True while the backend builds a program (``jax.jit``): ``a`` has no values.
    in_step_projection() -> bool:
        whether the compiled loop forms ``x_t W_ih^T`` inside the step instead of one hoisted
        product (XLA on CPU); only asked while staged.
    register_pytree(cls, *, data_fields, meta_fields), or None:
        make an rnnx dataclass (the forward cache) pass through the backend's transforms.
    jit(fn) -> fn, or None:
        compile a whole function of arrays (the trainer's forward + backward).
    block(tree) -> tree:
        wait until the arrays of ``tree`` are computed (timing).
    int64() -> bool:
        whether 64-bit integers exist right now (JAX without ``jax_enable_x64`` has none);
        rnnx's counter-based random numbers then run in uint32.
    scope() -> context manager:
        float64 and full-precision float32 matmuls (no TF32) for the duration of a
        ``with`` block, restored after it: what ``rnnx parity``, ``rnnx bench``, the CLI and
        the tests wrap around their work.  Loading a backend never sets either.
    """

    name: str
    sigmoid: Callable[[Any], Any] | None = None
    scan: Callable[..., Any] | None = None
    staged: Callable[[Any], bool] = _never
    in_step_projection: Callable[[], bool] = _no
    register_pytree: Callable[..., None] | None = None
    jit: Callable[[Callable], Callable] | None = None
    block: Callable[[Any], Any] = _identity
    int64: Callable[[], bool] = _yes
    scope: Callable[[], ContextManager] = contextlib.nullcontext


class Unavailable(RuntimeError):
    """A backend or device cannot be used here; the message says why and how to fix it."""


def require(module: str, install: str) -> ModuleType:
    """Import ``module`` or raise :class:`Unavailable` with the install hint."""
    try:
        return import_module(module)
    except ImportError as e:
        raise Unavailable(f"{module} is not installed ({e}); install it with: {install}") from None
