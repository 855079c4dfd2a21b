"""What the array API standard lacks, one small module per backend, and the registry.

Each backend module (``numpy``, ``array_api_strict``, ``torch``, ``jax``, ``cupy``) says
how to import its library, whether it is usable here and why not, its devices,
host<->device transfer and synchronisation for timing and its test tolerances, and fills
one :class:`Capabilities` record (``CAPABILITIES``): what the standard lacks and the
backend adds (a native sigmoid, a compiled scan, jit, pytrees, a precision scope).  The
core asks :func:`capabilities` for the record of a namespace; it never imports a backend
module by name.  This package installs as ``rnnx.backends``.

The list of (backend, device) targets is data: the tests, ``rnnx parity`` and ``rnnx bench``
iterate over :func:`targets`.  ``RNNX_BACKENDS=numpy,jax`` (backend names, or target ids
such as ``torch-cuda``) selects a subset.

Device labels may carry an index (``cuda:1``, ``gpu:0``, ``cpu:0``): each backend module's
``parse_device`` canonicalises a label, :func:`resolve_device` gives the label a run uses,
and :func:`versions` what its ``metrics.json`` records of the backend.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any, Iterator

from rnnx.backends._base import (MIN_STANDARD, SCALAR_STANDARD, TOLERANCE, Capabilities, Unavailable, namespace_name,
                                 standard_note, standard_refusal, standard_version, takes_scalars)

__all__ = ["NAMES", "Target", "Unavailable", "Capabilities", "capabilities", "get", "targets", "selected",
           "to_numpy", "to_xp", "resolve_device", "versions", "MIN_STANDARD", "SCALAR_STANDARD", "namespace_name",
           "standard_version", "standard_refusal", "standard_note", "takes_scalars", "TOLERANCE"]

#: Every backend rnnx knows, in report order.
NAMES: tuple[str, ...] = ("numpy", "array_api_strict", "torch", "jax", "cupy")


def get(name: str) -> ModuleType:
    """The backend module called ``name`` (``ValueError`` naming the known ones otherwise)."""
    key = name.replace("-", "_")
    if key not in NAMES:
        raise ValueError(f"backend: unknown backend {name!r}; expected one of {', '.join(NAMES)}")
    return import_module(f"rnnx.backends.{key}")


_BY_NAMESPACE: dict[int, Capabilities] = {}


def _backend_of(xp: Any) -> str | None:
    import array_api_compat as compat

    for name, test in (("numpy", compat.is_numpy_namespace), ("torch", compat.is_torch_namespace),
                       ("jax", compat.is_jax_namespace), ("cupy", compat.is_cupy_namespace),
                       ("array_api_strict", compat.is_array_api_strict_namespace)):
        if test(xp):
            return name
    return None


def to_numpy(a: Any) -> Any:
    """A host NumPy array of ``a``, through the ``to_numpy`` of the backend ``a`` belongs to
    (CuPy ``.get()``, torch ``.detach().cpu()``, JAX ``np.asarray``); a NumPy array, a
    Python number or sequence, or an array of a library rnnx does not know goes through
    ``np.asarray``.  Every host transfer of rnnx (save, interop, plots, metrics) is this."""
    import numpy as np

    if isinstance(a, np.ndarray):
        return a
    import array_api_compat as compat

    try:
        xp = compat.array_namespace(a)
    except TypeError:  # not an array of a known library: a number, a list, a foreign object
        return np.asarray(a)
    name = _backend_of(xp)
    if name is None or name == "numpy":
        return np.asarray(a)
    return np.asarray(get(name).to_numpy(a))


def to_xp(params: dict, xp: Any, dtype: Any = None, device: Any = None) -> dict:
    """``{name: host array}`` onto ``xp`` (None: NumPy) and ``device``, copied, each dtype kept
    unless ``dtype`` is given: the way back of :func:`to_numpy` for loaded files and converted
    weights (:func:`rnnx.load`, :mod:`rnnx.interop`)."""
    import array_api_compat as compat

    if xp is None:
        import numpy as np

        xp = np
    xp = compat.array_namespace(xp.asarray(0.0))
    out = {}
    for k, v in params.items():
        dt = dtype if dtype is not None else getattr(xp, str(v.dtype))
        out[k] = xp.asarray(v, dtype=dt, device=device, copy=True)
    return out


def capabilities(xp: Any) -> Capabilities:
    """The capability record of the backend a namespace belongs to (an array-api-compat
    wrapper or the library itself); a library rnnx does not know gets the standard-only
    defaults, ``Capabilities(<its module name>)``.  Cached per namespace object."""
    caps = _BY_NAMESPACE.get(id(xp))
    if caps is None:
        name = _backend_of(xp)
        caps = get(name).CAPABILITIES if name else Capabilities(getattr(xp, "__name__", type(xp).__name__))
        _BY_NAMESPACE[id(xp)] = caps
    return caps


def resolve_device(backend: str, label: str | None) -> str:
    """The canonical device label a run of ``backend`` uses: the backend's default
    (``DEVICES[0]``) when ``label`` is None, else ``label`` checked by the backend's
    ``parse_device`` (``cuda:01`` -> ``cuda:1``).

    Raises ``ValueError`` starting ``backend:`` for an unknown backend and ``device:`` for
    a malformed label (``device: expected cpu, cuda or cuda:N (N >= 0) for torch, got
    'cuda:x'``); whether the device exists here is :meth:`Target.unavailable`'s question.
    """
    mod = get(backend)
    return mod.DEVICES[0] if label is None else mod.parse_device(label)


def versions(backend: str, device: str | None = None) -> dict[str, str | None]:
    """What a run's ``metrics.json`` records of ``backend``: its library versions and,
    for a GPU backend, the name of the GPU (``"gpu"``, None when there is none or
    ``device`` is a CPU label).  ``device`` is the run's device label (default: the
    backend's GPU, ``cuda`` / ``gpu``).  Every key is always there; what cannot be read
    here is None.

    numpy ``{"numpy"}``; array_api_strict ``{"array-api-strict"}``; torch ``{"torch",
    "cuda", "gpu"}`` (``cuda``: the CUDA torch was built with); jax ``{"jax", "jaxlib",
    "gpu"}``; cupy ``{"cupy", "cuda_runtime", "cuda_driver", "gpu"}`` (the versions as
    CUDA's integers, ``"12040"``).  Raises ``ValueError`` only for an unknown backend or a
    malformed label, as :func:`resolve_device` does; never for a missing library or GPU.
    """
    mod = get(backend)
    if not mod.GPU:
        if device is not None:
            mod.parse_device(device)
        return mod.versions()
    return mod.versions(None if device is None else mod.parse_device(device))


@dataclass(frozen=True)
class Target:
    """One backend on one device: a row of the test matrix, of ``rnnx parity``, of the bench."""

    backend: str
    device: str

    @property
    def id(self) -> str:
        return f"{self.backend.replace('_', '-')}-{self.device}"

    @property
    def module(self) -> ModuleType:
        return get(self.backend)

    def unavailable(self) -> str | None:
        """Why this target cannot run here, or None when it can (its library is missing, the
        device is, or the library claims a standard older than :data:`MIN_STANDARD`)."""
        try:
            self.module.device(self.device)
        except Unavailable as e:
            return str(e)
        return standard_refusal(self.module.load())

    def namespace(self) -> Any:
        """The array-api-compat namespace (raises :class:`Unavailable`)."""
        return self.module.load()

    def device_obj(self) -> Any:
        """The library's device object (raises :class:`Unavailable`)."""
        return self.module.device(self.device)

    def dtypes(self) -> tuple[str, ...]:
        """Floating dtypes this target computes in ("float32", and "float64" if it has it)."""
        return self.module.dtypes(self.device)

    def tolerance(self, dtype: str) -> dict[str, float]:
        """Norm-wise relative tolerances vs the float64 NumPy reference: {"out", "grad"}."""
        return self.module.TOLERANCE[dtype]

    def to_numpy(self, a: Any) -> Any:
        return self.module.to_numpy(a)

    def from_numpy(self, a: Any) -> Any:
        return self.module.from_numpy(a, self.device_obj())

    def synchronize(self) -> None:
        self.module.synchronize(self.device_obj())

    @property
    def capabilities(self) -> Capabilities:
        return self.module.CAPABILITIES

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """float64 and full-precision matmuls for a ``with`` block (JAX: ``jax_enable_x64``
        and ``highest`` precision; torch: no TF32), restored after it; for a backend whose
        module has ``current(dev)`` (CuPy), this target's device is also the current one
        inside the block (raises :class:`Unavailable` when it cannot be used)."""
        current = getattr(self.module, "current", None)
        with self.module.CAPABILITIES.scope():
            with current(self.device_obj()) if current else contextlib.nullcontext():
                yield


def targets() -> list[Target]:
    """Every (backend, device) rnnx knows, available here or not."""
    return [Target(name, dev) for name in NAMES for dev in get(name).DEVICES]


def _labelled(word: str) -> Target | None:
    """The target of an id ``<backend>-<device label>`` (``torch-cuda:1``), the label
    canonicalised; None when ``word`` is not one."""
    for name in NAMES:
        for prefix in (name.replace("_", "-") + "-", name + "-"):
            if word.startswith(prefix):
                try:
                    return Target(name, get(name).parse_device(word[len(prefix):]))
                except (TypeError, ValueError):
                    return None
    return None


def selected(spec: str | None = None) -> list[Target]:
    """The targets named by ``spec`` (default: ``$RNNX_BACKENDS``; empty means all).

    ``spec`` is comma-separated backend names (``numpy,jax``) or target ids
    (``torch-cuda``, or with any device label of that backend: ``torch-cuda:1``,
    ``jax-cpu:0``).  An unknown name raises ``ValueError``.
    """
    if spec is None:
        spec = os.environ.get("RNNX_BACKENDS", "")
    every = targets()
    words = [w.strip() for w in spec.split(",") if w.strip()]
    if not words:
        return every
    ids = {t.id for t in every}
    out = []
    for w in words:
        name = w.replace("-", "_")
        if name in NAMES:
            out += [t for t in every if t.backend == name]
        elif w in ids:
            out += [t for t in every if t.id == w]
        elif (labelled := _labelled(w)) is not None:
            out.append(labelled)
        else:
            raise ValueError(
                f"RNNX_BACKENDS: unknown backend or target {w!r}; expected backend names "
                f"{', '.join(NAMES)} or target ids {', '.join(sorted(ids))}"
            )
    return list(dict.fromkeys(out))
