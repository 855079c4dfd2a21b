"""PyTorch, eager, on CPU or CUDA (rnnx's own loop, not torch's RNN kernels).

Loading it changes no torch setting.  :func:`scope` turns TF32 off for cuBLAS matmuls and
cuDNN for the duration of a ``with`` block (float32 tolerances hold on GPUs) and restores
the caller's values after it.

Devices: ``cpu``, ``cuda`` (torch's current CUDA device) and ``cuda:N`` (the N-th visible
GPU); torch runs each operation on its tensors' device, so nothing is made current.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from rnnx.backends._base import TOLERANCE, Capabilities, Unavailable, check_index, parse_label, require
from rnnx.install import install_command

NAME = "torch"
INSTALL = f"{install_command('torch')} (CPU-only build: pip install torch==2.13.0 first)"
DEVICES = ("cpu", "cuda")
#: The label kind of this backend's GPUs.
GPU = "cuda"


def load() -> Any:
    require("torch", INSTALL)
    import array_api_compat.torch as xp

    return xp


def parse_device(label: str) -> str:
    """The canonical label: ``cpu``, ``cuda`` or ``cuda:N`` (N >= 0); ``ValueError``
    otherwise: ``device: expected cpu, cuda or cuda:N (N >= 0) for torch, got 'cuda:x'``."""
    return parse_label(label, NAME, ("cpu", "cuda"), ("cuda",))


def device(label: str) -> Any:
    """``torch.device(label)``; :class:`Unavailable` when torch has no CUDA here, or when
    N of ``cuda:N`` is not below ``torch.cuda.device_count()``."""
    canon = parse_device(label)
    load()
    import torch

    if canon == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise Unavailable(f"{why} (torch {torch.__version__})")
    check_index(canon, torch.cuda.device_count(), "CUDA")
    return torch.device(canon)


def versions(label: str | None = None) -> dict[str, str | None]:
    """What a run records of this backend: ``{"torch": <version>, "cuda": <the CUDA torch
    was built with, None for a CPU build>, "gpu": <name>}``, where ``gpu`` names the GPU of
    ``label`` (default ``cuda``), None for ``cpu`` or when that GPU is not usable.  Never
    raises: what cannot be read is None."""
    try:
        import torch
    except Exception:  # not installed, or broken
        return {"torch": None, "cuda": None, "gpu": None}
    return {"torch": str(torch.__version__), "cuda": torch.version.cuda, "gpu": _gpu_name(label or GPU)}


def _gpu_name(label: str) -> str | None:
    """``torch.cuda.get_device_name`` of the device of ``label``; None for ``cpu`` or an
    unusable GPU."""
    import torch

    try:
        dev = device(label)
        return str(torch.cuda.get_device_name(dev)) if dev.type == "cuda" else None
    except Exception:  # no CUDA, an index past the visible GPUs, a driver error
        return None


def dtypes(label: str) -> tuple[str, ...]:
    return ("float32", "float64")


def to_numpy(a: Any) -> Any:
    return a.detach().cpu().numpy()


def from_numpy(a: Any, dev: Any) -> Any:
    import torch

    return torch.asarray(a, device=dev, copy=True)


def synchronize(dev: Any) -> None:
    import torch

    if torch.device(dev).type == "cuda":
        torch.cuda.synchronize(dev)


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """float32 matmuls and convolutions in full float32 (no TF32) inside the block; the
    caller's ``allow_tf32`` flags are restored after it."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _sigmoid(x: Any) -> Any:
    import torch

    return torch.sigmoid(x)


#: torch's own logistic kernel (its tanh is several times slower on CPU); eager, so no
#: compiled loop or jit.
CAPABILITIES = Capabilities(NAME, sigmoid=_sigmoid, scope=scope)


__all__ = ["NAME", "INSTALL", "DEVICES", "GPU", "TOLERANCE", "CAPABILITIES", "load", "parse_device", "device",
           "versions", "dtypes",
           "to_numpy", "from_numpy", "synchronize", "scope"]
