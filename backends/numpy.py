"""NumPy: the CPU reference backend (float64 is the reference every other row is checked
against)."""

from __future__ import annotations

from typing import Any

from rnnx.backends._base import TOLERANCE, Capabilities, require

NAME = "numpy"
INSTALL = "pip install numpy"
DEVICES = ("cpu",)


def load() -> Any:
    require("numpy", INSTALL)
    import array_api_compat.numpy as xp

    return xp


def device(label: str) -> Any:
    load()
    return "cpu"


def dtypes(label: str) -> tuple[str, ...]:
    return ("float32", "float64")


def to_numpy(a: Any) -> Any:
    import numpy as np

    return np.asarray(a)


def from_numpy(a: Any, dev: Any) -> Any:
    import numpy as np

    return np.array(a, copy=True)


def synchronize(dev: Any) -> None:
    """NumPy is synchronous."""


#: NumPy has no logistic kernel of its own: rnnx forms sigmoid from exp (rnnx._xp).
CAPABILITIES = Capabilities(NAME)


__all__ = ["NAME", "INSTALL", "DEVICES", "TOLERANCE", "load", "device", "dtypes",
           "to_numpy", "from_numpy", "synchronize", "CAPABILITIES"]
