"""Parameter names, shapes and initialisation, in PyTorch's ``state_dict`` layout.

For layer ``k`` and direction suffix ``""`` / ``"_reverse"``::

    weight_ih_l{k}{sfx}  (G*H, I_k)   I_0 = input_size, I_k = D*H for k > 0
    weight_hh_l{k}{sfx}  (G*H, H)
    bias_ih_l{k}{sfx}    (G*H,)       only with bias=True
    bias_hh_l{k}{sfx}    (G*H,)

G is 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n); D is 2 when bidirectional.
"""

from __future__ import annotations

import math
import random
from typing import Any


def suffix(direction: int) -> str:
    return "_reverse" if direction else ""


def names(layer: int, direction: int) -> tuple[str, str, str, str]:
    """Keys of (weight_ih, weight_hh, bias_ih, bias_hh) for one layer and direction."""
    s = f"_l{layer}{suffix(direction)}"
    return f"weight_ih{s}", f"weight_hh{s}", f"bias_ih{s}", f"bias_hh{s}"


def shapes(
    *, gates: int, input_size: int, hidden_size: int, num_layers: int, num_directions: int, bias: bool
) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape, keyed and ordered as in the torch module's ``state_dict``."""
    G, H = gates * hidden_size, hidden_size
    out: dict[str, tuple[int, ...]] = {}
    for layer in range(num_layers):
        fan_in = input_size if layer == 0 else num_directions * H
        for d in range(num_directions):
            w_ih, w_hh, b_ih, b_hh = names(layer, d)
            out[w_ih], out[w_hh] = (G, fan_in), (G, H)
            if bias:
                out[b_ih], out[b_hh] = (G,), (G,)
    return out


def init(
    xp: Any, param_shapes: dict[str, tuple[int, ...]], *, hidden_size: int, seed: int | str, dtype: Any, device: Any
) -> dict[str, Any]:
    """Draw every parameter from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch does.

    The numbers come from Python's own Mersenne Twister seeded with ``seed``, computed in
    float64 and rounded once to ``dtype`` by the backend, so the same seed gives
    bit-identical parameters on every backend and device.
    """
    rng = random.Random(seed)
    k = 1.0 / math.sqrt(hidden_size)
    out = {}
    for name, shape in param_shapes.items():
        values = [k * (2.0 * rng.random() - 1.0) for _ in range(math.prod(shape))]
        out[name] = xp.reshape(xp.asarray(values, dtype=dtype, device=device), shape)
    return out


def init_normal(
    xp: Any, param_shapes: dict[str, tuple[int, ...]], *, std: float, seed: int | str, dtype: Any, device: Any
) -> dict[str, Any]:
    """Weights from N(0, std^2), biases zero (seed 001's ``randn * 0.01`` and ``zeros``),
    drawn with Python's generator like :func:`init`."""
    rng = random.Random(seed)
    out = {}
    for name, shape in param_shapes.items():
        n = math.prod(shape)
        values = [0.0] * n if name.startswith("bias") else [std * rng.gauss(0.0, 1.0) for _ in range(n)]
        out[name] = xp.reshape(xp.asarray(values, dtype=dtype, device=device), shape)
    return out
