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
import functools
import os
from typing import Any, Iterable, Iterator

from rnnx.backends._base import TOLERANCE, Capabilities, Unavailable, check_index, label_index, parse_label, require, version_of
from rnnx.install import install_command

NAME = "jax"
INSTALL = install_command("jax")
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
    """The device ``jax.local_devices(backend=kind)[N]`` of ``<kind>`` (N = 0) or ``<kind>:N``;
    :class:`Unavailable` when JAX has no device of that kind here, or fewer than N + 1:
    ``cpu:5: only 1 CPU device is visible (cpu:0)``."""
    canon = parse_device(label)
    load()
    import jax

    kind = canon.partition(":")[0]
    try:
        devs = jax.local_devices(backend=kind)  # this process's (all of them with one process)
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


def steps(a: Any) -> Any:
    """The slices ``a[0], ..., a[T-1]``: ``jnp.unstack`` while staged (one program), else
    one compiled take per step (:func:`_take`, compiled once per shape and dtype).  Eager,
    ``jnp.unstack`` (a jitted function) compiles a T-output program per shape: 7.8 s at
    T=500 against 0.09 s step by step, and under an eager ``jax.vjp`` 7.5 s against 0.6 s
    (first calls; an eager LSTM forward + backward at T=500, H=16: 28.6 s before)."""
    if staged(a):
        import jax.numpy as jnp

        return jnp.unstack(a, axis=0)
    take = _take()
    return [take(a, t) for t in range(a.shape[0])]


@functools.cache
def _take() -> Any:
    """``a[t]`` as one jitted function of ``(a, t)``, ``t`` traced: 13 us a call eager on CPU,
    against 110 us for ``a[t]`` itself (NumPy-style indexing in Python), 37 us for
    ``lax.dynamic_index_in_dim``."""
    import jax

    return jax.jit(lambda a, t: a[t])


def scan(f: Any, carry: Any, xs: tuple, *, reverse: bool = False, xp: Any = None) -> Any:
    """rnnx's time loop as ``jax.lax.scan`` (same semantics as ``rnnx.nn.loop.scan``): used
    while JAX traces, so the loop compiles once whatever T is.

    Inside ``jax.shard_map`` a step's output may vary over mesh axes its initial carry
    does not (rnnx's zero initial state against a batch shard); ``lax.scan`` wants the
    carry's type, varying axes included, unchanged by a step, so the initial carry is cast
    to vary where the step makes it vary (:func:`_varying_like`; nothing outside shard_map)."""
    import jax

    return jax.lax.scan(f, _varying_like(f, carry, xs), xs, reverse=reverse)


def _vma(a: Any) -> frozenset:
    """The mesh axes ``a`` (an array, tracer or ``ShapeDtypeStruct``) varies over inside
    ``shard_map`` (empty elsewhere): ``manual_axis_type.varying`` (jax 0.10), ``vma`` before."""
    import jax

    t = a if isinstance(a, jax.ShapeDtypeStruct) else jax.typeof(a)
    mat = getattr(t, "manual_axis_type", None)
    return frozenset(getattr(mat, "varying", None) or getattr(t, "vma", None) or ())


def _varying_like(f: Any, carry: Any, xs: Any) -> Any:
    """``carry`` with each leaf cast to vary over the mesh axes that ``f``'s carry output
    varies over there (found by ``jax.eval_shape`` of one step, repeated until nothing more
    changes); the carry as it is when no leaf of ``xs`` varies (outside ``shard_map``)."""
    import jax

    if not any(_vma(a) for a in jax.tree.leaves(xs)):
        return carry
    first = jax.tree.map(lambda a: a[0], xs)

    def cast(c, out):
        missing = tuple(sorted(_vma(out) - _vma(c)))
        return jax.lax.pcast(c, missing, to="varying") if missing else c

    for _ in range(len(jax.tree.leaves(carry)) + 1):
        out = jax.eval_shape(f, carry, first)[0]
        if all(_vma(o) <= _vma(c) for c, o in zip(jax.tree.leaves(carry), jax.tree.leaves(out))):
            return carry
        carry = jax.tree.map(cast, carry, out)
    return carry


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


def leading_axes(a: Any) -> bool:
    """True when JAX has several devices and ``a`` is not inside ``shard_map`` (no varying
    mesh axis): a plain ``jax.jit`` may then get batch-sharded inputs, and rnnx's products
    over (T, B, .) contract those axes as they are (no reshape, no all-gather).  One device,
    or one device's part inside ``shard_map``: the faster reshaped 2-D products."""
    import jax

    return jax.device_count() > 1 and not _vma(a)


#: The mesh axis of :func:`data_parallel`'s programs.
AXIS = "batch"


def parallel_devices(n: int | None) -> tuple:
    """The first ``n`` devices of JAX's default platform (every one with None);
    :class:`Unavailable` when there are fewer: ``devices: 4 requested, 1 cpu device present
    ...`` (on CPU, with the flag that forces more host devices)."""
    import jax

    devs = jax.devices()
    if n is None:
        return tuple(devs)
    if n > len(devs):
        kind = devs[0].platform
        hint = (f"; for {n} on one CPU start Python with XLA_FLAGS=--xla_force_host_platform_device_count={n}"
                if kind == "cpu" else "")
        raise Unavailable(f"devices: {n} requested, {len(devs)} {kind} device{'s' * (len(devs) != 1)} "
                          f"present{hint}")
    return tuple(devs[:n])


def _mesh(devices: tuple) -> Any:
    import numpy as np
    from jax.sharding import Mesh

    return Mesh(np.array(devices, dtype=object), (AXIS,))


def data_parallel(fn: Any, devices: tuple, split: tuple) -> Any:
    """``jax.jit(jax.shard_map(fn))`` over a 1-D mesh of ``devices`` (axis :data:`AXIS`):
    argument i split along axis ``split[i]`` (None: replicated), results replicated."""
    import jax
    from jax.sharding import PartitionSpec as P

    specs = tuple(P() if a is None else P(*([None] * a), AXIS) for a in split)
    return jax.jit(jax.shard_map(fn, mesh=_mesh(devices), in_specs=specs, out_specs=P()))


def all_sum(a: Any) -> Any:
    """The sum of ``a`` over :func:`data_parallel`'s devices (``lax.psum``: one all-reduce)."""
    import jax

    return jax.lax.psum(a, AXIS)


def place(tree: Any, devices: tuple) -> Any:
    """``tree`` committed to ``devices[0]`` when it is the only one (a replicated array of
    several processes: this process's copy), else replicated on all of them (with several
    processes every one passes the same values: each keeps its own devices' copies)."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    if len(devices) == 1:
        local = lambda a: a.addressable_data(0) if isinstance(a, jax.Array) and not a.is_fully_addressable else a  # noqa: E731
        return jax.device_put(jax.tree.map(local, tree), devices[0])
    if jax.process_count() > 1:  # through the host: a committed local array cannot move to others' devices
        import numpy as np

        tree = jax.tree.map(lambda a: np.asarray(a) if isinstance(a, jax.Array) else a, tree)
    return jax.device_put(tree, NamedSharding(_mesh(devices), P()))


def _reach(address: str, timeout: int) -> None:
    """Wait until ``HOST:PORT`` accepts a TCP connection, for up to ``timeout`` seconds;
    :class:`Unavailable` naming the address otherwise."""
    import socket
    import time

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise Unavailable(f"coordinator: expected HOST:PORT, got {address!r}")
    deadline, why = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return
        except (OSError, OverflowError) as e:  # OverflowError: a port past 65535
            why = getattr(e, "strerror", None) or str(e) or type(e).__name__
            time.sleep(0.2)
    raise Unavailable(f"coordinator: {address} not reachable within {timeout} s ({why})")


def _gather(address: str, others: int, timeout: int) -> None:
    """Process 0: accept ``others`` connections (each other process's :func:`_reach`) on the
    port of ``HOST:PORT`` within ``timeout`` seconds, then free the port for JAX's service;
    :class:`Unavailable` saying how many came otherwise."""
    import socket
    import time

    _, _, port = address.rpartition(":")
    if not port.isdigit():
        raise Unavailable(f"coordinator: expected HOST:PORT, got {address!r}")
    came, deadline = 0, time.monotonic() + timeout
    server = None
    try:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("", int(port)))
    except (OSError, OverflowError) as e:  # OverflowError: a port past 65535
        if server is not None:
            server.close()  # never left to the garbage collector (a ResourceWarning)
        raise Unavailable(f"coordinator: cannot serve {address} ({getattr(e, 'strerror', None) or e})") from None
    with server:
        server.listen(max(others, 1))
        while came < others and time.monotonic() < deadline:
            server.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                conn, _ = server.accept()
            except TimeoutError:
                break
            conn.close()
            came += 1
    if came < others:
        raise Unavailable(f"coordinator: {came} of the {others} other process{'es' * (others != 1)} reached "
                          f"{address} within {timeout} s")


def process_index() -> int:
    """This process's index among JAX's processes (0 when there is one)."""
    import jax

    return jax.process_index()


def initialize(coordinator: str | None, num_processes: int | None, process_id: int | None,
               timeout: int) -> None:
    """``jax.distributed.initialize``: the explicit coordinator ``HOST:PORT``, process count
    and index, or (all None) JAX's detection of a SLURM or Open MPI job.  Unreachable
    within ``timeout`` seconds, or no cluster detected: :class:`Unavailable`, one line with
    the address."""
    import jax

    # JAX's client and service abort the process (a C++ fatal error, no exception) when the others do not
    # come: a TCP rendezvous of our own first, on the coordinator's port, before JAX serves it
    if coordinator is not None and process_id != 0:
        _reach(coordinator, timeout)
    elif coordinator is not None and num_processes > 1:
        _gather(coordinator, num_processes - 1, timeout)
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id, initialization_timeout=timeout)
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if coordinator is None:  # JAX found no cluster it knows (SLURM, Open MPI, Kubernetes ...)
            raise Unavailable(f"coordinator: auto detected no cluster job ({first[:200]}); give HOST:PORT with the "
                              "number of processes and this one's index") from None
        raise Unavailable(f"coordinator: {coordinator} not reached within {timeout} s ({first[:200]})") from None


#: XLA's logistic op (exact in both tails; on CPU as fast as the tanh form), the compiled
#: scan while tracing, pytrees for the cache, jit for the trainer.
CAPABILITIES = Capabilities(NAME, sigmoid=_sigmoid, scan=scan, steps=steps, staged=staged, in_step_projection=in_step_projection,
                            register_pytree=register_pytree, jit=jit, block=block, int64=int64, scope=scope,
                            leading_axes=leading_axes, parallel_devices=parallel_devices, data_parallel=data_parallel, all_sum=all_sum,
                            place=place, process_index=process_index, initialize=initialize)


__all__ = ["NAME", "INSTALL", "DEVICES", "GPU", "TOLERANCE", "CAPABILITIES", "load", "parse_device", "device",
           "versions", "dtypes",
           "to_numpy", "from_numpy", "synchronize", "scan", "steps", "staged", "in_step_projection", "jit", "block",
           "register_pytree", "int64", "scope", "AXIS", "parallel_devices", "data_parallel", "all_sum", "place"]
