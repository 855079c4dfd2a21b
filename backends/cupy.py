"""CuPy on an NVIDIA GPU.

Devices: ``cuda`` (GPU 0) and ``cuda:N`` (the N-th visible GPU).  CuPy launches kernels and
allocates new arrays on its *current* device, so :func:`current` makes the chosen GPU
current for a ``with`` block (``rnnx.backends.Target.scope`` enters it), and
:func:`from_numpy` / :func:`synchronize` work on the device they are given.
"""

from __future__ import annotations

from typing import Any

from rnnx.backends._base import TOLERANCE, Capabilities, Unavailable, check_index, label_index, parse_label, require, version_of
from rnnx.install import install_command

NAME = "cupy"
INSTALL = f"{install_command('cupy')} (a cupy-cuda12x/13x wheel matching your CUDA driver)"
DEVICES = ("cuda",)
#: The label kind of this backend's GPUs.
GPU = "cuda"


def load() -> Any:
    require("cupy", INSTALL)
    import array_api_compat.cupy as xp

    return xp


def parse_device(label: str) -> str:
    """The canonical label: ``cuda`` or ``cuda:N`` (N >= 0); ``ValueError`` otherwise:
    ``device: expected cuda or cuda:N (N >= 0) for cupy, got 'cuda:x'``."""
    return parse_label(label, NAME, ("cuda",), ("cuda",))


def device(label: str) -> Any:
    """``cupy.cuda.Device(N)`` for ``cuda:N`` (N = 0 for ``cuda``); :class:`Unavailable`
    without a driver or a GPU, or when N is not below the number of visible GPUs."""
    canon = parse_device(label)
    load()
    import cupy

    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no GPU
        raise Unavailable(f"no usable CUDA device ({type(e).__name__}: {e})") from None
    if n == 0:
        raise Unavailable("no CUDA device visible")
    check_index(canon, n, "CUDA")
    return cupy.cuda.Device(label_index(canon) or 0)


def current(dev: Any) -> Any:
    """A context manager that makes ``dev`` CuPy's current device for its block (CuPy's
    kernels and new arrays go to the current device); the previous one is restored after."""
    return dev


def versions(label: str | None = None) -> dict[str, str | None]:
    """What a run records of this backend: ``{"cupy": <version>, "cuda_runtime": <e.g.
    "12040">, "cuda_driver": <e.g. "12060">, "gpu": <name of the GPU of label, default
    cuda>}``.  Never raises: what cannot be read (no CuPy, no driver, no GPU) is None."""
    out: dict[str, str | None] = {"cupy": version_of("cupy"), "cuda_runtime": None, "cuda_driver": None, "gpu": None}
    if out["cupy"] is None:
        return out
    import cupy

    runtime = cupy.cuda.runtime
    for key, read in (("cuda_runtime", runtime.runtimeGetVersion), ("cuda_driver", runtime.driverGetVersion),
                      ("gpu", lambda: _gpu_name(label or GPU))):
        try:
            out[key] = str(read())
        except Exception:  # no driver, no GPU, an index past the visible GPUs
            pass
    return out


def _gpu_name(label: str) -> str:
    """The name of the GPU of ``label`` (``getDeviceProperties(N)["name"]``)."""
    import cupy

    name = cupy.cuda.runtime.getDeviceProperties(device(label).id)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


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


__all__ = ["NAME", "INSTALL", "DEVICES", "GPU", "TOLERANCE", "CAPABILITIES", "load", "parse_device", "device",
           "current", "versions", "dtypes",
           "to_numpy", "from_numpy", "synchronize"]
