"""Shared pieces of the converters: host arrays, gate-block permutations, shape checks."""

from __future__ import annotations

from typing import Any

from rnnx import params as P
from rnnx.layers import layer as rnnx_layer


class ConversionError(ValueError):
    """Weights that do not fit: the message names the key or option."""


def host(a: Any) -> Any:
    """A NumPy copy of any array (torch tensor, JAX array, Keras variable, NumPy)."""
    import numpy as np

    if hasattr(a, "detach"):  # torch
        a = a.detach().cpu()
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        try:
            return np.array(a.numpy(), copy=True)
        except Exception:
            pass
    return np.array(a, copy=True)


def to_xp(params: dict, xp: Any, dtype: Any = None, device: Any = None) -> dict:
    """Host arrays onto ``xp`` (dtype kept unless given)."""
    import array_api_compat as compat

    if xp is None:
        import numpy as np

        xp = np
    xp = compat.array_namespace(xp.asarray(0.0))
    out = {}
    for k, v in params.items():
        dt = dtype if dtype is not None else getattr(xp, str(v.dtype))
        out[k] = xp.asarray(v, dtype=dt, device=device, copy=True)
    return out


def blocks(a: Any, order: tuple[int, ...], axis: int) -> Any:
    """Reorder the equal gate blocks of ``a`` along ``axis`` (e.g. Keras z,r,h -> r,z,n)."""
    import numpy as np

    parts = np.split(a, len(order), axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


def layer_for(cell: str, input_size: int, hidden_size: int, *, nonlinearity: str = "tanh",
              reset_after: bool = True, **options: Any):
    """The rnnx layer of registry cell ``cell`` (the one factory), with the foreign layer's
    ``nonlinearity`` (RNN) or ``reset_after`` (GRU) where the cell has that option."""
    cell_opts = {"rnn": {"nonlinearity": nonlinearity}, "gru": {"reset_after": reset_after}}.get(cell, {})
    return rnnx_layer(cell, input_size, hidden_size, **cell_opts, **options)


def check_layout(params: dict, layer, source: str) -> None:
    """Keys and shapes must be exactly the layer's (PyTorch's) layout."""
    want = layer.param_shapes()
    missing = [k for k in want if k not in params]
    extra = [k for k in params if k not in want]
    if missing or extra:
        raise ConversionError(f"{source}: missing key(s) {missing}, unexpected key(s) {extra}; "
                              f"expected the keys of {layer!r}: {list(want)}")
    for k, s in want.items():
        if tuple(params[k].shape) != tuple(s):
            raise ConversionError(f"{source}: {k} has shape {tuple(params[k].shape)}, expected {tuple(s)} "
                                  f"for {layer!r}")


def infer_layer(params: dict, source: str, *, nonlinearity: str = "tanh", reset_after: bool = True,
                batch_first: bool = False):
    """The layer a PyTorch-layout dict describes (cell from the gate count 1/3/4)."""
    rnn_keys = {k: v for k, v in params.items() if k not in ("weight_hy", "bias_y")}
    if "weight_ih_l0" not in rnn_keys or "weight_hh_l0" not in rnn_keys:
        missing = [k for k in ("weight_ih_l0", "weight_hh_l0") if k not in rnn_keys]
        raise ConversionError(f"{source}: missing key(s) {missing}; expected a recurrent layer's state dict")
    g_h, hidden = rnn_keys["weight_hh_l0"].shape
    if g_h % hidden:
        raise ConversionError(f"{source}: weight_hh_l0 has shape {tuple(rnn_keys['weight_hh_l0'].shape)}; "
                              "expected (G*H, H) with G = 1, 3 or 4")
    gates = g_h // hidden
    cell = {1: "rnn", 3: "gru", 4: "lstm"}.get(gates)
    if cell is None:
        raise ConversionError(f"{source}: weight_hh_l0 has {g_h} rows for H={hidden}: {gates} gates, expected 1 "
                              "(RNN), 3 (GRU) or 4 (LSTM)")
    layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in rnn_keys if "_l" in k)
    bidi = any(k.endswith("_reverse") for k in rnn_keys)
    bias = any(k.startswith("bias_") for k in rnn_keys)
    layer = layer_for(cell, rnn_keys["weight_ih_l0"].shape[1], hidden, num_layers=layers, bidirectional=bidi,
                      bias=bias, batch_first=batch_first, nonlinearity=nonlinearity, reset_after=reset_after)
    check_layout(rnn_keys, layer, source)
    return layer


def names(layer_idx: int, direction: int) -> tuple[str, str, str, str]:
    return P.names(layer_idx, direction)
