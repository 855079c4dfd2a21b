"""What the array API standard lacks, one small module per backend, and the registry.

Each backend module (``numpy``, ``array_api_strict``, ``torch``, ``jax``, ``cupy``) says
how to import its library, whether it is usable here and why not, its devices,
host<->device transfer, synchronisation for timing, an optional compiled time loop, and
its test tolerances.  This package installs as ``rnnx.backends``.

The list of (backend, device) targets is data: the tests, ``rnnx parity`` and ``rnnx bench``
iterate over :func:`targets`.  ``RNNX_BACKENDS=numpy,jax`` (backend names, or target ids
such as ``torch-cuda``) selects a subset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any

from rnnx.backends._base import Unavailable

__all__ = ["NAMES", "Target", "Unavailable", "get", "targets", "selected"]

#: Every backend rnnx knows, in report order.
NAMES: tuple[str, ...] = ("numpy", "array_api_strict", "torch", "jax", "cupy")


def get(name: str) -> ModuleType:
    """The backend module called ``name`` (``ValueError`` naming the known ones otherwise)."""
    key = name.replace("-", "_")
    if key not in NAMES:
        raise ValueError(f"backend: unknown backend {name!r}; expected one of {', '.join(NAMES)}")
    return import_module(f"rnnx.backends.{key}")


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
        """Why this target cannot run here, or None when it can."""
        try:
            self.module.device(self.device)
        except Unavailable as e:
            return str(e)
        return None

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


def targets() -> list[Target]:
    """Every (backend, device) rnnx knows, available here or not."""
    return [Target(name, dev) for name in NAMES for dev in get(name).DEVICES]


def selected(spec: str | None = None) -> list[Target]:
    """The targets named by ``spec`` (default: ``$RNNX_BACKENDS``; empty means all).

    ``spec`` is comma-separated backend names (``numpy,jax``) or target ids
    (``torch-cuda``).  An unknown name raises ``ValueError``.
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
        else:
            raise ValueError(
                f"RNNX_BACKENDS: unknown backend or target {w!r}; expected backend names "
                f"{', '.join(NAMES)} or target ids {', '.join(sorted(ids))}"
            )
    return list(dict.fromkeys(out))
