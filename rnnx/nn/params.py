"""Parameter names, shapes and initialisation, in PyTorch's ``state_dict`` layout.

For layer ``k`` and direction suffix ``""`` / ``"_reverse"``, the cell's bases (its spec's
``param_shapes``), e.g.::

    weight_ih_l{k}{sfx}  (G*H, I_k)   I_0 = input_size, I_k = D*R for k > 0
    weight_hh_l{k}{sfx}  (G*H, R)
    bias_ih_l{k}{sfx}    (G*H,)       only with bias=True
    bias_hh_l{k}{sfx}    (G*H,)
    weight_hr_l{k}{sfx}  (P, H)       LSTM with proj_size = P > 0

G is 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n); D is 2 when bidirectional; R, the
size of h, is H or the LSTM's proj_size.
"""

from __future__ import annotations

import math
import random
from typing import Any

__all__ = ["suffix", "key", "names", "layout", "init", "init_normal"]


def suffix(direction: int) -> str:
    return "_reverse" if direction else ""


def key(base: str, layer: int, direction: int) -> str:
    """``weight_ih``, layer 1, reverse -> ``weight_ih_l1_reverse``."""
    return f"{base}_l{layer}{suffix(direction)}"


def names(layer: int, direction: int) -> tuple[str, str, str, str]:
    """Keys of (weight_ih, weight_hh, bias_ih, bias_hh) for one layer and direction."""
    return tuple(key(b, layer, direction) for b in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))  # type: ignore[return-value]


def layout(
    direction_shapes: Any, *, input_size: int, output_size: int, num_layers: int, num_directions: int
) -> tuple[dict[str, tuple[int, ...]], list[list[dict[str, str]]]]:
    """Every parameter's shape, keyed and ordered as in the torch module's ``state_dict``,
    and each layer's and direction's keys by base name.

    ``direction_shapes(fan_in) -> {base: shape}`` is the cell's per-direction layout (its
    spec's ``param_shapes``); layer 0 takes ``input_size`` inputs, layer k > 0 takes
    ``num_directions * output_size`` (the concatenated h of the layer below)."""
    shapes: dict[str, tuple[int, ...]] = {}
    keys: list[list[dict[str, str]]] = []
    for layer in range(num_layers):
        fan_in = input_size if layer == 0 else num_directions * output_size
        keys.append([])
        for d in range(num_directions):
            ks = {}
            for base, shp in direction_shapes(fan_in).items():
                ks[base] = key(base, layer, d)
                shapes[ks[base]] = tuple(shp)
            keys[-1].append(ks)
    return shapes, keys


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
