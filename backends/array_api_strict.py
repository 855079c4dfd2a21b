"""array-api-strict: the standard and nothing else, on a non-default device.

Its ``Device("device1")`` refuses to mix with the default device, so a forgotten
``device=`` anywhere in rnnx fails here.  ``Device("no_float64")`` is a device without
float64, used to check that rnnx runs where only float32 exists.
"""

from __future__ import annotations

from typing import Any

from rnnx.backends._base import TOLERANCE, Capabilities, require

NAME = "array_api_strict"
INSTALL = "pip install array-api-strict"
DEVICES = ("device1",)


def load() -> Any:
    return require("array_api_strict", INSTALL)


def device(label: str) -> Any:
    xp = load()
    return xp.Device(label)


def dtypes(label: str) -> tuple[str, ...]:
    return ("float32",) if label == "no_float64" else ("float32", "float64")


def to_numpy(a: Any) -> Any:
    import numpy as np

    xp = load()
    return np.asarray(a.to_device(xp.Device("CPU_DEVICE")))


def from_numpy(a: Any, dev: Any) -> Any:
    return load().asarray(a, device=dev, copy=True)


def synchronize(dev: Any) -> None:
    """array-api-strict is synchronous."""


#: The standard and nothing more: every capability at its standard-only default.
CAPABILITIES = Capabilities(NAME)


__all__ = ["NAME", "INSTALL", "DEVICES", "TOLERANCE", "load", "device", "dtypes",
           "to_numpy", "from_numpy", "synchronize", "CAPABILITIES"]
