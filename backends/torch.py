"""PyTorch, eager, on CPU or CUDA (rnnx's own loop, not torch's RNN kernels).

Loading it changes no torch setting.  :func:`scope` turns TF32 off for cuBLAS matmuls and
cuDNN for the duration of a ``with`` block (float32 tolerances hold on GPUs) and restores
the caller's values after it.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from rnnx.backends._base import TOLERANCE, Capabilities, Unavailable, require

NAME = "torch"
INSTALL = "pip install 'rnnx[torch]' (CPU-only build: pip install torch==2.13.0 first)"
DEVICES = ("cpu", "cuda")


def load() -> Any:
    require("torch", INSTALL)
    import array_api_compat.torch as xp

    return xp


def device(label: str) -> Any:
    load()
    import torch

    if label == "cuda" and not torch.cuda.is_available():
        why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise Unavailable(f"{why} (torch {torch.__version__})")
    return torch.device(label)


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


__all__ = ["NAME", "INSTALL", "DEVICES", "TOLERANCE", "CAPABILITIES", "load", "device", "dtypes",
           "to_numpy", "from_numpy", "synchronize", "scope"]
