"""Shared pieces of the backend modules."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

#: Norm-wise relative tolerances against the float64 NumPy reference (issue #3).
TOLERANCE = {
    "float32": {"out": 2e-6, "grad": 1e-5},
    "float64": {"out": 1e-12, "grad": 1e-12},
}


class Unavailable(RuntimeError):
    """A backend or device cannot be used here; the message says why and how to fix it."""


def require(module: str, install: str) -> ModuleType:
    """Import ``module`` or raise :class:`Unavailable` with the install hint."""
    try:
        return import_module(module)
    except ImportError as e:
        raise Unavailable(f"{module} is not installed ({e}); install it with: {install}") from None
