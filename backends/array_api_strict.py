"""array-api-strict: the standard and nothing else, on a non-default device.

Its ``Device("device1")`` refuses to mix with the default device, so a forgotten
``device=`` anywhere in rnnx fails here.  ``Device("no_float64")`` is a device without
float64, used to check that rnnx runs where only float32 exists (``no_x64`` lacks int64
too).  Every name of :data:`LABELS` is a device label here.
"""

from __future__ import annotations

from typing import Any

from rnnx.backends._base import TOLERANCE, Capabilities, Unavailable, parse_label, require, version_of

NAME = "array_api_strict"
INSTALL = "pip install array-api-strict"
DEVICES = ("device1",)
#: Every device array-api-strict 2.x defines (``array_api_strict.Device(name)``).
LABELS = ("CPU_DEVICE", "device1", "device2", "no_float64", "no_x64")
#: The label kind of this backend's GPUs (None: it has none).
GPU = None


def load() -> Any:
    return require("array_api_strict", INSTALL)


def parse_device(label: str) -> str:
    """The canonical label: one of :data:`LABELS` (``ValueError`` otherwise)."""
    return parse_label(label, NAME, LABELS)


def device(label: str) -> Any:
    """``array_api_strict.Device(label)``; :class:`Unavailable` when the installed version
    lacks that device."""
    canon = parse_device(label)
    xp = load()
    try:
        return xp.Device(canon)
    except ValueError as e:
        raise Unavailable(f"{canon}: not a device of array-api-strict {xp.__version__} ({e})") from None


def versions() -> dict[str, str | None]:
    """What a run records of this backend: ``{"array-api-strict": <version>}`` (None when
    absent)."""
    return {"array-api-strict": version_of("array_api_strict")}


def dtypes(label: str) -> tuple[str, ...]:
    return ("float32",) if label in ("no_float64", "no_x64") else ("float32", "float64")


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


__all__ = ["NAME", "INSTALL", "DEVICES", "LABELS", "GPU", "TOLERANCE", "load", "parse_device", "device", "versions",
           "dtypes",
           "to_numpy", "from_numpy", "synchronize", "CAPABILITIES"]
