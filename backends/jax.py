"""JAX on CPU or GPU.

Loading it changes no JAX setting.  rnnx's reference precision is float64, which JAX only
computes with ``jax_enable_x64``; :func:`scope` turns that on, and ``highest`` float32
matmul precision (no TF32/bf16 passes on GPUs), for the duration of a ``with`` block, with
JAX's own scoped configuration (``jax.enable_x64``, ``jax.default_matmul_precision``).  A
program that wants float64 JAX arrays outside rnnx's tools sets ``jax_enable_x64`` itself.

Devices: ``cpu``, ``gpu`` (the first of the kind) and ``cpu:N``, ``gpu:N`` (the N-th of
``jax.devices(kind)``); arrays put there with ``jax.device_put`` are committed, so the
operations on them, and ``jax.jit`` of them, run there.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterable, Iterator

from rnnx.backends._base import TOLERANCE, Capabilities, Unavailable, check_index, label_index, parse_label, require, version_of

NAME = "jax"
INSTALL = "pip install 'rnnx[jax]'"
DEVICES = ("cpu", "gpu")
#: The label kind of this backend's GPUs.
GPU = "gpu"
_registered: set[type] = set()


def load() -> Any:
    require("jax", INSTALL)
    import jax.numpy as jnp

    return jnp


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """float64 available and float32 matmuls at ``highest`` precision inside the block."""
    import jax

    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        yield


def parse_device(label: str) -> str:
    """The canonical label: ``cpu``, ``cpu:N``, ``gpu`` or ``gpu:N`` (N >= 0);
    ``ValueError`` otherwise."""
    return parse_label(label, NAME, ("cpu", "gpu"), ("cpu", "gpu"))


def device(label: str) -> Any:
    """The device ``jax.devices(kind)[N]`` of ``<kind>`` (N = 0) or ``<kind>:N``;
    :class:`Unavailable` when JAX has no device of that kind here, or fewer than N + 1:
    ``cpu:5: only 1 CPU device is visible (cpu:0)``."""
    canon = parse_device(label)
    load()
    import jax

    kind = canon.partition(":")[0]
    try:
        devs = jax.devices(kind)
    except RuntimeError as e:
        raise Unavailable(f"no {kind} device in this jax install ({e})") from None
    check_index(canon, len(devs), kind.upper())
    return devs[label_index(canon) or 0]


def versions(label: str | None = None) -> dict[str, str | None]:
    """What a run records of this backend: ``{"jax": <version>, "jaxlib": <version>,
    "gpu": <device_kind>}``, where ``gpu`` is the ``device_kind`` of the GPU of ``label``
    (default ``gpu``, e.g. ``"NVIDIA H200"``), None for a CPU label or when JAX has no such
    GPU.  Never raises: what cannot be read is None."""
    return {"jax": version_of("jax"), "jaxlib": version_of("jaxlib"), "gpu": _gpu_name(label or GPU)}


def _gpu_name(label: str) -> str | None:
    """The ``device_kind`` of the device of ``label`` when it is a GPU, else None."""
    if not label.startswith(GPU):
        return None
    try:
        return str(device(label).device_kind)
    except Exception:  # not installed, no GPU platform, an index past the visible GPUs
        return None


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
    while JAX traces, so the loop compiles once whatever T is.

    Inside ``jax.shard_map`` the per-step inputs vary over the mesh axes their shard does
    (a batch shard); rnnx's zero initial state does not, and ``lax.scan`` wants the carry's
    type, varying axes included, unchanged by a step: the initial carry is cast to vary
    over the axes the inputs vary over (:func:`_varying_like`; nothing outside shard_map)."""
    import jax

    return jax.lax.scan(f, _varying_like(carry, xs), xs, reverse=reverse)


def _vma(a: Any) -> frozenset:
    """The mesh axes ``a`` varies over inside ``shard_map`` (empty elsewhere): its type's
    ``manual_axis_type.varying`` (jax 0.10), ``vma`` before that."""
    import jax

    t = jax.typeof(a)
    mat = getattr(t, "manual_axis_type", None)
    return frozenset(getattr(mat, "varying", None) or getattr(t, "vma", None) or ())


def _varying_like(carry: Any, xs: Any) -> Any:
    """``carry`` with every leaf cast to vary over the axes some leaf of ``xs`` varies over."""
    import jax

    axes = frozenset().union(*(_vma(a) for a in jax.tree.leaves(xs)))
    if not axes:
        return carry

    def cast(c):
        missing = tuple(sorted(axes - _vma(c)))
        return jax.lax.pcast(c, missing, to="varying") if missing else c

    return jax.tree.map(cast, carry)


def in_step_projection() -> bool:
    """Where rnnx's compiled loop forms ``x_t W_ih^T + b``: inside the step on XLA's CPU
    backend, hoisted into one product before the loop elsewhere.

    Measured here (2 cores, jax 0.10.2, float32 LSTM, (B, T, I, H) = (16, 1000, 32, 128),
    ``jax.jit`` of forward + backward): hoisted 153 ms min / 172 median, 38,100 page faults
    per call; in the step 135 / 143 ms, 24,100 faults.  XLA CPU runs a step that adds a
    slice of the stacked (T, B, 4H) projections to the recurrent product ~25 us slower
    than one that does the small (B, I) x (I, 4H) product itself, and the stacked array
    adds 32 MB to the temporary buffer it maps afresh on every call.
    ``RNNX_JAX_PROJECTION=hoisted`` or ``=in_step`` overrides the choice."""
    import jax

    choice = os.environ.get("RNNX_JAX_PROJECTION", "")
    if choice not in ("", "hoisted", "in_step"):
        raise ValueError(f"RNNX_JAX_PROJECTION: expected 'hoisted' or 'in_step', got {choice!r}")
    return choice == "in_step" if choice else jax.default_backend() == "cpu"


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


def int64() -> bool:
    """64-bit integers exist only with ``jax_enable_x64`` (globally or in :func:`scope`)."""
    import jax

    return bool(jax.config.read("jax_enable_x64"))


def _sigmoid(x: Any) -> Any:
    import jax

    return jax.nn.sigmoid(x)


#: XLA's logistic op (exact in both tails; on CPU as fast as the tanh form), the compiled
#: scan while tracing, pytrees for the cache, jit for the trainer.
CAPABILITIES = Capabilities(NAME, sigmoid=_sigmoid, scan=scan, staged=staged, in_step_projection=in_step_projection,
                            register_pytree=register_pytree, jit=jit, block=block, int64=int64, scope=scope)


__all__ = ["NAME", "INSTALL", "DEVICES", "GPU", "TOLERANCE", "CAPABILITIES", "load", "parse_device", "device",
           "versions", "dtypes",
           "to_numpy", "from_numpy", "synchronize", "scan", "staged", "in_step_projection", "jit", "block",
           "register_pytree", "int64", "scope"]
