"""Shared pieces of the backend modules: the capability record each one fills, tolerances,
the import helper, device-label parsing, and the standard versions rnnx runs on."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any, Callable, ContextManager, Sequence

#: Norm-wise relative tolerances against the float64 NumPy reference (issue #3).
TOLERANCE = {
    "float32": {"out": 2e-6, "grad": 1e-5},
    "float64": {"out": 1e-12, "grad": 1e-12},
}


def _never(a: Any) -> bool:
    return False


def _no(*_: Any) -> bool:
    return False


def _zero() -> int:
    return 0


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
        a compiled time loop with :func:`rnnx.nn.loop.scan`'s semantics (``lax.scan``), used
        only while :attr:`staged` is true.
    steps(a) -> sequence of arrays, or None:
        the slices ``a[0], ..., a[T-1]`` along the leading axis that the eager loop
        (:func:`rnnx.nn.loop.scan`) steps through, where ``xp.unstack`` is slow: eager JAX
        compiles one T-output program per shape for it (7.8 s at T=500, 108 s at T=2000),
        so JAX indexes step by step there and unstacks only while :attr:`staged` (one
        program).  None: one ``xp.unstack(a, axis=0)`` (torch: a view 0.5 us, 1.3 indexing).
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
    leading_axes(a) -> bool:
        whether products over the (T, B, .) array ``a`` contract its leading axes as they
        are (``tensordot`` over two axes, ``(T, B, K) @ (K, N)``) instead of through a
        (T*B, .) reshape: what keeps a batch-sharded ``jax.jit`` program free of
        all-gathers under XLA's SPMD partitioner (JAX with several devices); the flattened
        2-D product is one BLAS call, faster on one device.
    parallel_devices(n) -> tuple of devices, or None:
        the first ``n`` devices of the default platform for data parallel (all with None);
        :class:`Unavailable` naming how many there are when fewer.  None: no SPMD here.
    data_parallel(fn, devices, split) -> fn, or None:
        ``fn`` compiled as one SPMD program over ``devices``: argument i is split into
        equal parts along axis ``split[i]`` (None: every device gets all of it), each device
        runs ``fn`` on its parts, and the results (which must be equal on every device, e.g.
        through :attr:`all_sum`) come back replicated (``jax.shard_map`` over a 1-D mesh).
    all_sum(a) -> a:
        inside ``data_parallel``'s ``fn``: the sum of ``a`` over the devices (one all-reduce).
    process_index() -> int:
        this process's index among several (``jax.distributed``); 0 with one.  Only process 0
        writes checkpoints.
    reshape(a, shape) -> array, or None:
        ``xp.reshape(a, shape)`` where the standard's function has a dispatch cost of its
        own: NumPy's ``ndarray.reshape`` (``numpy.reshape`` is a Python dispatch to it, 1.0
        against 0.12 us, ~19 an update of a batch-1 RNN).  None: ``xp.reshape``.
    one_device: bool
        every array of the library lives on its one device (NumPy's ``cpu``), so
        :func:`rnnx._xp.namespace` compares no devices (0.3 us an array on NumPy).
    zeros(shape, dtype, device) -> array, or None:
        ``xp.zeros(shape, dtype=dtype, device=device)`` where the namespace's function is a
        wrapper that only checks the device: NumPy's own ``numpy.zeros`` (0.4 against 1.5
        us; the zero initial state and final-state gradient of every update), which
        :func:`rnnx._xp.zeros_like_of` calls with ``device`` None on a :attr:`one_device`
        library.  None: ``xp.zeros``.
    take(a, indices, axis) -> array, or None:
        ``xp.take(a, indices, axis=axis)`` where the namespace's function has a dispatch
        cost of its own: NumPy's ``ndarray.take`` (0.5 against 2.5 us; a shuffled batch's x
        and y every update).  None: ``xp.take``.
    initialize(coordinator, num_processes, process_id, timeout), or None:
        join a multi-process run (``jax.distributed.initialize``).
    place(tree, devices) -> tree:
        the arrays of ``tree`` on ``devices``: committed to the one device, or replicated
        on every one of several (what ``data_parallel``'s programs take).
    """

    name: str
    sigmoid: Callable[[Any], Any] | None = None
    scan: Callable[..., Any] | None = None
    steps: Callable[[Any], Sequence[Any]] | None = None
    staged: Callable[[Any], bool] = _never
    in_step_projection: Callable[[], bool] = _no
    register_pytree: Callable[..., None] | None = None
    jit: Callable[[Callable], Callable] | None = None
    block: Callable[[Any], Any] = _identity
    int64: Callable[[], bool] = _yes
    scope: Callable[[], ContextManager] = contextlib.nullcontext
    leading_axes: Callable[[Any], bool] = _never
    parallel_devices: Callable[[Any], tuple] | None = None
    data_parallel: Callable[..., Callable] | None = None
    all_sum: Callable[[Any], Any] | None = None
    place: Callable[[Any, tuple], Any] | None = None
    process_index: Callable[[], int] = _zero
    initialize: Callable[..., None] | None = None
    reshape: Callable[[Any, tuple], Any] | None = None
    one_device: bool = False
    zeros: Callable[[tuple, Any, Any], Any] | None = None
    take: Callable[[Any, Any, int], Any] | None = None


class Unavailable(RuntimeError):
    """A backend or device cannot be used here; the message says why and how to fix it."""


def require(module: str, install: str) -> ModuleType:
    """Import ``module`` or raise :class:`Unavailable` with the install hint."""
    try:
        return import_module(module)
    except ImportError as e:
        raise Unavailable(f"{module} is not installed ({e}); install it with: {install}") from None


_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::([0-9]+))?")


def _expected(plain: tuple[str, ...], indexed: tuple[str, ...]) -> str:
    """The accepted labels in words: ``cpu, cuda or cuda:N (N >= 0)``."""
    words = []
    for kind in dict.fromkeys(plain + indexed):
        words += [kind] * (kind in plain) + [f"{kind}:N"] * (kind in indexed)
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return text + (" (N >= 0)" if indexed else "")


def parse_label(label: Any, backend: str, plain: tuple[str, ...], indexed: tuple[str, ...] = ()) -> str:
    """The canonical form of a device label of ``backend``: one of ``plain`` as it is, or
    ``<kind>:<N>`` with ``kind`` in ``indexed`` and N a decimal integer >= 0, written
    without leading zeros (``cuda:01`` -> ``cuda:1``).

    Raises ``ValueError`` (``TypeError`` for a non-string), the message starting
    ``device:``, e.g. ``device: expected cuda or cuda:N (N >= 0) for cupy, got 'cuda:x'``.
    """
    expected = _expected(plain, indexed)
    if not isinstance(label, str):
        raise TypeError(f"device: expected {expected} for {backend}, got {type(label).__name__} {label!r}")
    m = _LABEL.fullmatch(label)
    if m and m[2] is None and m[1] in plain:
        return label
    if m and m[2] is not None and m[1] in indexed:
        return f"{m[1]}:{int(m[2])}"
    raise ValueError(f"device: expected {expected} for {backend}, got {label!r}")


def label_index(label: str) -> int | None:
    """N of a canonical ``<kind>:<N>`` label; None for a label without an index."""
    _, sep, index = label.partition(":")
    return int(index) if sep else None


def check_index(label: str, count: int, what: str) -> None:
    """Raise :class:`Unavailable` when the index of ``label`` (``<kind>:<N>``) is not below
    ``count``, the number of visible ``what`` devices (``CUDA``, ``GPU``, ``CPU``):
    ``cuda:3: only 2 CUDA devices are visible (cuda:0..cuda:1)``."""
    index = label_index(label)
    if index is None or index < count:
        return
    kind = label.partition(":")[0]
    if count == 0:
        seen = f"no {what} devices are visible"
    elif count == 1:
        seen = f"only 1 {what} device is visible ({kind}:0)"
    else:
        seen = f"only {count} {what} devices are visible ({kind}:0..{kind}:{count - 1})"
    raise Unavailable(f"{label}: {seen}")


def version_of(module: str) -> str | None:
    """``module.__version__`` when ``module`` imports, else None (never raises)."""
    try:
        return str(import_module(module).__version__)
    except Exception:  # not installed, or broken: the record says so with null
        return None


#: The oldest array API standard rnnx runs on: the first with the inspection API
#: (``__array_namespace_info__``), where rnnx reads a library's devices and default dtypes.
MIN_STANDARD = "2023.12"
#: The first standard whose element-wise functions and ``where`` take Python scalars; under
#: an older one rnnx passes 0-D arrays of the operand's dtype and device
#: (:func:`rnnx._xp.operand`).
SCALAR_STANDARD = "2024.12"
#: What each standard older than :data:`MIN_STANDARD` lacks of what rnnx uses (2023.12 added
#: the inspection API, ``clip``, ``maximum``, ``minimum``, ``unstack``; 2022.12 ``isdtype``).
_LACKS = {"2022.12": "__array_namespace_info__ (devices, default dtypes), clip, maximum, minimum, unstack",
          "2021.12": "__array_namespace_info__ (devices, default dtypes), clip, maximum, minimum, unstack, isdtype"}


def namespace_name(xp: Any) -> str:
    """The import name of a namespace's library (``array_api_compat.numpy`` -> ``numpy``)."""
    return str(getattr(xp, "__name__", type(xp).__name__)).removeprefix("array_api_compat.")


def standard_version(xp: Any) -> str | None:
    """The standard version a namespace claims (``xp.__array_api_version__``, "2024.12"), or
    None when it claims none."""
    v = getattr(xp, "__array_api_version__", None)
    return v if isinstance(v, str) else None


def takes_scalars(xp: Any) -> bool:
    """Whether the namespace's element-wise functions and ``where`` take Python scalars
    (it claims :data:`SCALAR_STANDARD` or newer)."""
    v = getattr(xp, "__array_api_version__", None)
    return isinstance(v, str) and v >= SCALAR_STANDARD


def standard_refusal(xp: Any) -> str | None:
    """Why rnnx cannot run on the namespace ``xp``, in one line, or None when it can: a
    claimed standard older than :data:`MIN_STANDARD` (and what it lacks), or no claimed
    version and no inspection API."""
    v = standard_version(xp)
    if v is not None and v >= MIN_STANDARD:
        return None
    if v is None:
        if callable(getattr(xp, "__array_namespace_info__", None)):
            return None
        return (f"{namespace_name(xp)} claims no standard version (no __array_api_version__); rnnx needs "
                f"{MIN_STANDARD} or newer: it lacks __array_namespace_info__ (devices, default dtypes)")
    lacks = _LACKS.get(v, _LACKS["2021.12"])
    return f"{namespace_name(xp)} claims the {v} standard; rnnx needs {MIN_STANDARD} or newer: it lacks {lacks}"


def standard_note(xp: Any) -> str:
    """The standard a usable namespace claims, as ``rnnx backends`` and ``rnnx parity`` state
    it: "array API standard 2025.12", with what rnnx does for a 2023.12 one."""
    v = standard_version(xp)
    note = f"array API standard {v}" if v else "array API standard: none claimed"
    if not takes_scalars(xp):
        note += " (functions take no Python scalars: rnnx passes 0-D arrays)"
    return note
