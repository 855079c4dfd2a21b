"""Keras 3 (any backend; tested on JAX): ``LSTM``, ``GRU`` (``reset_after`` True or False),
``SimpleRNN`` and ``Bidirectional`` of them, or a list of such layers stacked.

Keras stores ``kernel`` (I, G*H) and ``recurrent_kernel`` (H, G*H), transposed with
respect to PyTorch, and one bias: LSTM gates i, f, c, o (PyTorch's i, f, g, o), GRU gates
z, r, h (PyTorch's r, z, n), GRU ``reset_after=True`` with a (2, 3H) input/recurrent bias.
"""

from __future__ import annotations

import warnings
from typing import Any

from rnnx.interop._common import ConversionError, blocks, check_layout, host, layer_for, names, to_xp

_GRU_ORDER = (1, 0, 2)  # Keras z, r, h <-> PyTorch r, z, n (its own inverse)


def _fn_name(fn: Any) -> str:
    return getattr(fn, "__name__", str(fn))


def _describe(layer: Any) -> dict:
    """Kind, sizes and options of one Keras recurrent layer; unsupported options raise."""
    kind = type(layer).__name__
    if kind not in ("LSTM", "GRU", "SimpleRNN"):
        raise ConversionError(f"from_keras: {kind} is not supported; expected LSTM, GRU, SimpleRNN or "
                              "Bidirectional of one of them")
    cell = layer.cell
    act = _fn_name(cell.activation)
    if kind == "SimpleRNN":
        if act not in ("tanh", "relu"):
            raise ConversionError(f"from_keras: SimpleRNN activation={act!r} is not supported; expected 'tanh' or "
                                  "'relu'")
    else:
        if act != "tanh":
            raise ConversionError(f"from_keras: {kind} activation={act!r} is not supported; expected 'tanh'")
        ract = _fn_name(cell.recurrent_activation)
        if ract != "sigmoid":
            raise ConversionError(f"from_keras: {kind} recurrent_activation={ract!r} is not supported; expected "
                                  "'sigmoid'")
    for opt in ("stateful",):
        if getattr(layer, opt, False):
            raise ConversionError(f"from_keras: {kind}({opt}=True) is not supported; expected {opt}=False")
    if getattr(layer, "go_backwards", False):
        raise ConversionError(f"from_keras: {kind}(go_backwards=True) outside Bidirectional is not supported; "
                              "reverse the input instead")
    for opt in ("dropout", "recurrent_dropout"):
        if getattr(cell, opt, 0.0):
            warnings.warn(f"from_keras: {kind}({opt}={getattr(cell, opt)}) is a training-time option; rnnx computes "
                          "the inference-time layer (no dropout)", stacklevel=3)
    w = [host(v.value) for v in layer.weights]  # kernel, recurrent_kernel[, bias]
    units = cell.units
    return {"kind": kind, "units": units, "input_size": w[0].shape[0], "use_bias": cell.use_bias,
            "reset_after": getattr(cell, "reset_after", True), "nonlinearity": act if kind == "SimpleRNN" else "tanh",
            "weights": w}


def _to_torch_layout(d: dict, layer_idx: int, direction: int) -> dict:
    import numpy as np

    w_ih, w_hh, b_ih, b_hh = names(layer_idx, direction)
    kernel, rec = d["weights"][0], d["weights"][1]
    if d["kind"] == "GRU":
        kernel, rec = blocks(kernel, _GRU_ORDER, 1), blocks(rec, _GRU_ORDER, 1)
    out = {w_ih: kernel.T.copy(), w_hh: rec.T.copy()}
    if d["use_bias"]:
        bias = d["weights"][2]
        if d["kind"] == "GRU" and d["reset_after"]:  # (2, 3H): input bias, recurrent bias
            out[b_ih], out[b_hh] = blocks(bias[0], _GRU_ORDER, 0), blocks(bias[1], _GRU_ORDER, 0)
        else:
            out[b_ih] = blocks(bias, _GRU_ORDER, 0) if d["kind"] == "GRU" else bias.copy()
            out[b_hh] = np.zeros_like(out[b_ih])  # Keras has one bias: the second is zero
    return out


def _unwrap(layer: Any) -> list[dict]:
    """One Keras layer -> its directions' descriptions."""
    if type(layer).__name__ == "Bidirectional":
        if layer.merge_mode != "concat":
            raise ConversionError(f"from_keras: Bidirectional(merge_mode={layer.merge_mode!r}) is not supported; "
                                  "expected 'concat'")
        fwd, bwd = layer.forward_layer, layer.backward_layer
        bd = _describe_backward(bwd)
        return [_describe(fwd), bd]
    return [_describe(layer)]


def _describe_backward(layer: Any) -> dict:
    if not getattr(layer, "go_backwards", False):
        raise ConversionError("from_keras: Bidirectional's backward_layer must have go_backwards=True")
    layer.go_backwards = False  # describe it as a plain layer, then restore
    try:
        return _describe(layer)
    finally:
        layer.go_backwards = True


def from_keras(layer_or_layers: Any, *, xp: Any = None, dtype: Any = None, device: Any = None):
    """A Keras recurrent layer (or a list of them, stacked) -> ``(layer, params)``.

    The rnnx layer is ``batch_first=True`` like Keras; use its full output sequence
    (Keras ``return_sequences=True``) and final state (``return_state=True``)."""
    stack = list(layer_or_layers) if isinstance(layer_or_layers, (list, tuple)) else [layer_or_layers]
    if not stack:
        raise ConversionError("from_keras: expected at least one layer, got an empty list")
    params: dict = {}
    first = None
    for i, lay in enumerate(stack):
        dirs = _unwrap(lay)
        if first is None:
            first = dirs
        for d, desc in enumerate(dirs):
            for key in ("kind", "units", "use_bias", "reset_after", "nonlinearity"):
                if desc[key] != first[0][key]:
                    raise ConversionError(f"from_keras: layer {i} has {key}={desc[key]!r} but layer 0 has "
                                          f"{first[0][key]!r}; expected one kind of layer throughout")
            if len(dirs) != len(first):
                raise ConversionError(f"from_keras: layer {i} is {'bi' if len(dirs) == 2 else 'uni'}directional, "
                                      "layer 0 is not; expected the same throughout")
            params.update(_to_torch_layout(desc, i, d))
    d0 = first[0]
    cell = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}[d0["kind"]]
    layer = layer_for(cell, d0["input_size"], d0["units"], num_layers=len(stack), bidirectional=len(first) == 2,
                      bias=d0["use_bias"], batch_first=True, nonlinearity=d0["nonlinearity"],
                      reset_after=d0["reset_after"])
    check_layout(params, layer, "from_keras")
    return layer, to_xp(params, xp, dtype, device)


def to_keras(params: dict, layer_or_layers: Any) -> Any:
    """Write rnnx params into existing Keras layer(s) of the matching configuration
    (``set_weights``) and return them.  Keras has one bias per gate: ``bias_ih + bias_hh``
    (GRU ``reset_after=True`` keeps both)."""
    stack = list(layer_or_layers) if isinstance(layer_or_layers, (list, tuple)) else [layer_or_layers]
    ref_layer, _ = from_keras(stack)  # configuration and option checks
    hp = {k: host(v) for k, v in params.items()}
    check_layout(hp, ref_layer, "to_keras")
    for i, lay in enumerate(stack):
        targets = [lay.forward_layer, lay.backward_layer] if type(lay).__name__ == "Bidirectional" else [lay]
        for d, t in enumerate(targets):
            w_ih, w_hh, b_ih, b_hh = names(i, d)
            kind = type(t).__name__
            kernel, rec = hp[w_ih].T, hp[w_hh].T
            if kind == "GRU":
                kernel, rec = blocks(kernel, _GRU_ORDER, 1), blocks(rec, _GRU_ORDER, 1)
            ws = [kernel, rec]
            if ref_layer.bias:
                if kind == "GRU" and t.cell.reset_after:
                    import numpy as np

                    ws.append(np.stack([blocks(hp[b_ih], _GRU_ORDER, 0), blocks(hp[b_hh], _GRU_ORDER, 0)]))
                else:
                    b = hp[b_ih] + hp[b_hh]
                    ws.append(blocks(b, _GRU_ORDER, 0) if kind == "GRU" else b)
            for var, value in zip(t.weights, ws):
                var.assign(value)
    return layer_or_layers
