r"""The linear read-out on top of the recurrent layers, and its hand-derived backward.

.. math::  z = h W_{hy}^T + b_y, \qquad \hat y = \mathrm{act}(z),
           \quad \mathrm{act} \in \{\mathrm{none}, \tanh, \sigma\}

Shapes: h (..., D*H), W_hy (O, D*H), b_y (O,), z and y-hat (..., O).
"""

from __future__ import annotations

from typing import Any

from rnnx._xp import matrix_t, outer_sum, rows_product, sigmoid

__all__ = ["ACTIVATIONS", "RANGES", "forward", "backward"]

ACTIVATIONS = ("none", "tanh", "sigmoid")

#: The open range of each bounded activation: a regression run scales its targets inside it
#: (:meth:`rnnx.data.Normaliser.fit_range`), since standardised targets (beyond +-1 for many
#: series) are out of tanh's reach, and half of them out of sigmoid's.
RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


def forward(h: Any, w: Any, b: Any, activation: str, *, xp: Any) -> Any:
    """y-hat = act(h W^T + b) over any leading axes."""
    z = rows_product(h, matrix_t(w, xp=xp), xp=xp) + b
    if activation == "tanh":
        return xp.tanh(z)
    if activation == "sigmoid":
        return sigmoid(z, xp=xp)
    return z


def backward(h: Any, y: Any, w: Any, dy: Any, activation: str, *, xp: Any) -> tuple[Any, Any, Any]:
    """Given dL/d(y-hat), return (dL/dW, dL/db, dL/dh); ``y`` is the forward's y-hat."""
    if activation == "tanh":
        dz = dy * (1.0 - y * y)  # through tanh: 1 - y^2
    elif activation == "sigmoid":
        dz = dy * y * (1.0 - y)  # through sigmoid: y (1 - y)
    else:
        dz = dy  # no activation
    dw, db = outer_sum(dz, h, xp=xp)  # dW = sum dz^T h, db = sum dz (over every leading axis)
    return dw, db, rows_product(dz, w, xp=xp)  # dh = dz W
