"""NumPy: the CPU reference backend (float64 is the reference every other row is checked
against)."""

from __future__ import annotations

from typing import Any

from rnnx.backends._base import TOLERANCE, Capabilities, parse_label, require, version_of

NAME = "numpy"
INSTALL = "pip install numpy"
DEVICES = ("cpu",)
#: The label kind of this backend's GPUs (None: it has none).
GPU = None


def load() -> Any:
    require("numpy", INSTALL)
    import array_api_compat.numpy as xp

    return xp


def parse_device(label: str) -> str:
    """The canonical label: NumPy has one device, ``cpu`` (``ValueError`` otherwise)."""
    return parse_label(label, NAME, ("cpu",))


def device(label: str) -> Any:
    """The device of ``label`` (only ``cpu``)."""
    parse_device(label)
    load()
    return "cpu"


def versions() -> dict[str, str | None]:
    """What a run records of this backend: ``{"numpy": <version>}`` (None when absent)."""
    return {"numpy": version_of("numpy")}


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


def steps(a: Any) -> Any:
    """The slices ``a[0], ..., a[T-1]`` of an array of 2 or more axes as ``list(a)``: the
    same views ``numpy.unstack`` returns (it is ``tuple(moveaxis(a, 0, 0))``), formed in C
    without its axis normalisation and ``moveaxis``: 1.7 against 4.4 us for a (10, 1, 16)
    array, 4 per update of a one-layer RNN.  A 1-D array goes through ``numpy.unstack``."""
    if a.ndim > 1:
        return list(a)
    import numpy as np

    return np.unstack(a, axis=0)


def reshape(a: Any, shape: tuple) -> Any:
    """``numpy.reshape(a, shape)`` as the method it dispatches to (the same view or copy),
    without ``numpy.reshape``'s Python dispatch: 0.12 against 1.0 us."""
    return a.reshape(shape)


def zeros(shape: tuple, dtype: Any, device: Any) -> Any:
    """``array_api_compat.numpy.zeros(shape, dtype=dtype, device=device)``: ``numpy.zeros``
    itself (the wrapper only checks that ``device`` is None or the one CPU device, where
    every NumPy array is)."""
    import numpy as np

    return np.zeros(shape, dtype=dtype)


def take(a: Any, indices: Any, axis: int) -> Any:
    """``numpy.take(a, indices, axis=axis)`` as the method it dispatches to (the same copy),
    without ``numpy.take``'s Python dispatch: 0.5 against 2.5 us."""
    return a.take(indices, axis=axis)


#: NumPy has no logistic kernel of its own: rnnx forms sigmoid from exp (rnnx._xp); one device.
CAPABILITIES = Capabilities(NAME, steps=steps, reshape=reshape, one_device=True, zeros=zeros, take=take)


__all__ = ["NAME", "INSTALL", "DEVICES", "GPU", "TOLERANCE", "load", "parse_device", "device", "versions", "dtypes",
           "to_numpy", "from_numpy", "synchronize", "steps", "reshape", "zeros", "take",
           "CAPABILITIES"]
