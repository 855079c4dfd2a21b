"""PyTorch, eager, on CPU or CUDA (rnnx's own loop, not torch's RNN kernels)."""

from __future__ import annotations

from typing import Any

from rnnx.backends._base import TOLERANCE, Unavailable, require

NAME = "torch"
INSTALL = "pip install 'rnnx[torch]' (CPU-only build: pip install torch==2.13.0 first)"
DEVICES = ("cpu", "cuda")


def load() -> Any:
    torch = require("torch", INSTALL)
    # float32 matmuls in full float32, never TF32, so GPU rows meet float32 tolerances
    torch.backends.cuda.matmul.allow_tf32 = False
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


__all__ = ["NAME", "INSTALL", "DEVICES", "TOLERANCE", "load", "device", "dtypes",
           "to_numpy", "from_numpy", "synchronize"]
