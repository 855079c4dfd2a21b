"""CuPy on an NVIDIA GPU."""

from __future__ import annotations

from typing import Any

from rnnx.backends._base import TOLERANCE, Capabilities, Unavailable, require

NAME = "cupy"
INSTALL = "pip install 'rnnx[cupy]' (a cupy-cuda12x/13x wheel matching your CUDA driver)"
DEVICES = ("cuda",)


def load() -> Any:
    require("cupy", INSTALL)
    import array_api_compat.cupy as xp

    return xp


def device(label: str) -> Any:
    load()
    import cupy

    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no GPU
        raise Unavailable(f"no usable CUDA device ({type(e).__name__}: {e})") from None
    if n == 0:
        raise Unavailable("no CUDA device visible")
    return cupy.cuda.Device(0)


def dtypes(label: str) -> tuple[str, ...]:
    return ("float32", "float64")


def to_numpy(a: Any) -> Any:
    return a.get()


def from_numpy(a: Any, dev: Any) -> Any:
    import cupy

    with dev:
        return cupy.array(a, copy=True)


def synchronize(dev: Any) -> None:
    import cupy

    with dev:
        cupy.cuda.get_current_stream().synchronize()


def _sigmoid(x: Any) -> Any:
    from cupyx.scipy.special import expit

    return expit(x)


def _block(tree: Any) -> Any:
    import cupy

    cupy.cuda.get_current_stream().synchronize()
    return tree


#: cupyx's expit is one fused elementwise kernel: the native sigmoid.
CAPABILITIES = Capabilities(NAME, sigmoid=_sigmoid, block=_block)


__all__ = ["NAME", "INSTALL", "DEVICES", "TOLERANCE", "CAPABILITIES", "load", "device", "dtypes",
           "to_numpy", "from_numpy", "synchronize"]
