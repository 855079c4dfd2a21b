"""Training: the engine's callbacks (:mod:`rnnx.training.callbacks`).  The engine itself is
:func:`rnnx.fit` (``rnnx/fitting.py``) while it moves here step by step (issue 29)."""

from rnnx.training.callbacks import STOP_REASONS, Callback, EarlyStopping, LambdaCallback, Run

__all__ = ["Callback", "Run", "EarlyStopping", "LambdaCallback", "STOP_REASONS"]
