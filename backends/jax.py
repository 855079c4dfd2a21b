"""JAX on CPU or GPU.

Loading it through this module turns on ``jax_enable_x64`` (rnnx's reference precision is
float64) and ``highest`` float32 matmul precision (no TF32/bf16 passes on GPUs).
"""

from __future__ import annotations

from typing import Any, Iterable

from rnnx.backends._base import TOLERANCE, Unavailable, require

NAME = "jax"
INSTALL = "pip install 'rnnx[jax]'"
DEVICES = ("cpu", "gpu")
_registered: set[type] = set()


def load() -> Any:
    jax = require("jax", INSTALL)
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")
    import jax.numpy as jnp

    return jnp


def device(label: str) -> Any:
    load()
    import jax

    try:
        return jax.devices(label)[0]
    except RuntimeError as e:
        raise Unavailable(f"no {label} device in this jax install ({e})") from None


def dtypes(label: str) -> tuple[str, ...]:
    return ("float32", "float64")


def to_numpy(a: Any) -> Any:
    import numpy as np

    return np.asarray(a)


def from_numpy(a: Any, dev: Any) -> Any:
    import jax

    return jax.device_put(a, dev)


def synchronize(dev: Any) -> None:
    """JAX dispatches asynchronously: callers block on their results with
    :func:`block` instead; this waits for every live array."""
    import jax

    for a in jax.live_arrays():
        a.block_until_ready()


def block(tree: Any) -> Any:
    import jax

    return jax.block_until_ready(tree)


def staged(x: Any) -> bool:
    """True while JAX builds a program (jit, make_jaxpr, vmap): ``x`` is a tracer without
    a concrete value (an eager ``vjp`` traces concrete values: False)."""
    to_concrete = getattr(x, "to_concrete_value", None)
    return to_concrete is not None and to_concrete() is None


def scan(f: Any, carry: Any, xs: tuple, *, reverse: bool = False, xp: Any = None) -> Any:
    """rnnx's time loop as ``jax.lax.scan`` (same semantics as ``rnnx.loop.scan``): used
    while JAX traces, so the loop compiles once whatever T is."""
    import jax

    return jax.lax.scan(f, carry, xs, reverse=reverse)


def jit(fn: Any) -> Any:
    """Compile a whole function of arrays (the trainer's forward + backward) with jax.jit."""
    import jax

    return jax.jit(fn)


def register_pytree(cls: type, *, data_fields: Iterable[str], meta_fields: Iterable[str]) -> None:
    """Register an rnnx dataclass (the forward cache) as a JAX pytree, once."""
    if cls in _registered:
        return
    import jax

    jax.tree_util.register_dataclass(cls, data_fields=list(data_fields), meta_fields=list(meta_fields))
    _registered.add(cls)


__all__ = ["NAME", "INSTALL", "DEVICES", "TOLERANCE", "load", "device", "dtypes",
           "to_numpy", "from_numpy", "synchronize", "scan", "staged", "jit", "block", "register_pytree"]
