r"""Activation functions of the cells, each with its backward written from its output.

``ACTIVATIONS[name] = (f, back)``: ``y = f(x, xp=xp)`` and ``dx = back(dy, y, xp=xp)``, the
chain rule through f given y = f(x) (every derivative here is a function of the output, so
the forward saves y only).  Keras 3's definitions:

    tanh          y = tanh(x)                       dx = dy (1 - y^2)
    sigmoid       y = 1 / (1 + e^{-x})              dx = dy y (1 - y)
    relu          y = max(x, 0)                     dx = dy [y > 0]       (relu'(0) = 0)
    hard_sigmoid  y = relu6(x + 3) / 6              dx = dy / 6 [0 < y < 1]
    linear        y = x                             dx = dy
"""

from __future__ import annotations

from typing import Any, Callable

from rnnx._xp import sigmoid, where

__all__ = ["ACTIVATIONS", "NAMES"]


def _tanh(x: Any, *, xp: Any) -> Any:
    return xp.tanh(x)


def _tanh_back(dy: Any, y: Any, *, xp: Any) -> Any:
    return dy - (dy * y) * y  # 1 - y^2


def _sigmoid(x: Any, *, xp: Any) -> Any:
    return sigmoid(x, xp=xp)


def _sigmoid_back(dy: Any, y: Any, *, xp: Any) -> Any:
    return dy * (y - y * y)  # y (1 - y)


def _relu(x: Any, *, xp: Any) -> Any:
    return where(x > 0.0, x, 0.0, xp=xp)


def _relu_back(dy: Any, y: Any, *, xp: Any) -> Any:
    return where(y > 0.0, dy, 0.0, xp=xp)  # 1 where x > 0, else 0


def _hard_sigmoid(x: Any, *, xp: Any) -> Any:
    return xp.clip(x + 3.0, 0.0, 6.0) / 6.0  # keras.ops.hard_sigmoid: relu6(x + 3) / 6


def _hard_sigmoid_back(dy: Any, y: Any, *, xp: Any) -> Any:
    return where((y > 0.0) & (y < 1.0), dy / 6.0, 0.0, xp=xp)  # slope 1/6 inside, 0 where clipped


def _linear(x: Any, *, xp: Any) -> Any:
    return x


def _linear_back(dy: Any, y: Any, *, xp: Any) -> Any:
    return dy


ACTIVATIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "tanh": (_tanh, _tanh_back),
    "sigmoid": (_sigmoid, _sigmoid_back),
    "relu": (_relu, _relu_back),
    "hard_sigmoid": (_hard_sigmoid, _hard_sigmoid_back),
    "linear": (_linear, _linear_back),
}
NAMES = tuple(ACTIVATIONS)
