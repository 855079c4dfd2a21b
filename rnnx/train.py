"""The training settings of an ``rnnx train --csv/--preset`` run, checked once
(:class:`TrainConfig`, stored in metrics.json as ``train``).  The run itself is
:func:`rnnx.fit` (``rnnx/cli/tasks/regression.py`` hands it these settings with the callbacks of
:mod:`rnnx.training.windows`); the CLI's former ``Trainer`` is gone (issue 29), its run
folders resume bit for bit on the engine."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from rnnx import optim

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    clip_value: float | None = None
    clip_norm: float | None = None
    tbptt: tuple[int, int] | None = None
    loss: str = "mse"
    seed: int = 0
    early_stopping: int | None = None
    freeze: tuple[str, ...] = ()
    #: a new order of the training windows every epoch (seeded), else in time order (Keras's shuffle=False)
    shuffle: bool = True
    #: Check the inputs and initial parameters once, and name the first non-finite loss,
    #: gradient or parameter when an epoch goes wrong (found by replaying that epoch with
    #: every array checked: no extra work while the numbers are finite).
    check_finite: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr: expected a finite learning rate > 0, got {self.lr!r}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        for name in ("clip_value", "clip_norm"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: expected a finite number > 0, got {v!r}")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ValueError(f"early_stopping: expected a patience >= 1 epoch, got {self.early_stopping}")
        if self.tbptt is not None:
            t = self.tbptt
            if (not isinstance(t, (tuple, list)) or len(t) != 2
                    or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in t) or t[0] > t[1]):
                raise ValueError(f"tbptt: expected two integers K1,K2 with 1 <= K1 <= K2, got {t!r}")
        self.make_optimizer()

    def make_optimizer(self):
        """``optim.make(optimizer, lr=lr)``, with ``momentum`` and ``nesterov`` where set
        (sgd's and rmsprop's momentum; another optimizer refuses them).  An unknown name is a
        ValueError naming the known ones."""
        hyper: dict = {"lr": self.lr}
        if self.momentum:
            hyper["momentum"] = self.momentum
        if self.nesterov:
            hyper["nesterov"] = self.nesterov
        return optim.make(self.optimizer, **hyper)

    def to_json(self) -> dict:
        d = asdict(self)
        d["freeze"] = list(self.freeze)
        d["tbptt"] = list(self.tbptt) if self.tbptt else None
        return d

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["freeze"] = tuple(d.get("freeze", ()))
        d["tbptt"] = tuple(d["tbptt"]) if d.get("tbptt") else None
        return cls(**d)
