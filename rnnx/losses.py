r"""Losses with their gradients: ``loss, dL/dprediction``.

.. math:: \mathrm{MSE}(\hat y, y) = \frac{1}{N} \sum_i (\hat y_i - y_i)^2,
          \qquad \frac{\partial\,\mathrm{MSE}}{\partial \hat y} = \frac{2}{N} (\hat y - y)

N is the number of elements (``torch.nn.MSELoss(reduction="mean")``).
"""

from __future__ import annotations

import math
from typing import Any


def mse(pred: Any, target: Any, *, xp: Any) -> tuple[Any, Any]:
    """Mean squared error over every element, and its gradient with respect to ``pred``."""
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"target: expected shape {tuple(pred.shape)} (the prediction's), got {tuple(target.shape)}")
    diff = pred - target
    n = math.prod(pred.shape)
    return xp.sum(diff * diff) / n, (2.0 / n) * diff


def half_sse(pred: Any, target: Any, *, xp: Any) -> tuple[Any, Any]:
    r"""``0.5 * sum (pred - target)^2`` over steps and outputs, averaged over the batch axis
    (axis -2); its gradient is ``(pred - target) / B``.  With one sample this is the loss
    whose gradient seed 001's listing backpropagates (``dy = y_t - target``)."""
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"target: expected shape {tuple(pred.shape)} (the prediction's), got {tuple(target.shape)}")
    diff = pred - target
    b = pred.shape[-2]
    return 0.5 * xp.sum(diff * diff) / b, diff / b


LOSSES = {"mse": mse, "half-sse": half_sse}
