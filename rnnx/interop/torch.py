"""PyTorch: ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (any layers, directions, bias) and the
``nn.Linear`` head.  rnnx's layout *is* PyTorch's, so converting is copying."""

from __future__ import annotations

from typing import Any

from rnnx.interop._common import ConversionError, check_layout, host, infer_layer, to_xp


def from_torch(obj: Any, *, xp: Any = None, dtype: Any = None, device: Any = None, nonlinearity: str = "tanh"):
    """``nn.RNN/LSTM/GRU`` or its ``state_dict()`` -> ``(layer, params)``; an ``nn.Linear``
    -> ``(None, {"weight_hy", "bias_y"})``.

    A bare state dict cannot say whether an RNN used relu: pass ``nonlinearity``.
    """
    import torch

    if isinstance(obj, torch.nn.Linear):
        head = {"weight_hy": host(obj.weight)}
        if obj.bias is None:
            raise ConversionError("from_torch: nn.Linear(bias=False): rnnx's head has a bias (bias_y); "
                                  "expected an nn.Linear with bias")
        head["bias_y"] = host(obj.bias)
        return None, to_xp(head, xp, dtype, device)
    batch_first = False
    if isinstance(obj, torch.nn.RNNBase):
        if getattr(obj, "proj_size", 0):
            raise ConversionError(f"from_torch: proj_size={obj.proj_size} is not supported; expected proj_size=0")
        if obj.dropout:
            import warnings

            warnings.warn(f"from_torch: dropout={obj.dropout} between layers is a training-time option; rnnx "
                          "computes the inference-time network (no dropout)", stacklevel=2)
        if isinstance(obj, torch.nn.RNN):
            nonlinearity = obj.nonlinearity
        batch_first = obj.batch_first
        state = obj.state_dict()
    elif isinstance(obj, dict):
        state = obj
    else:
        raise ConversionError(f"from_torch: expected nn.RNN/LSTM/GRU, nn.Linear or a state dict, got "
                              f"{type(obj).__name__}")
    params = {k: host(v) for k, v in state.items()}
    layer = infer_layer(params, "from_torch", nonlinearity=nonlinearity, batch_first=batch_first)
    return layer, to_xp(params, xp, dtype, device)


def to_torch(params: dict, layer: Any = None) -> Any:
    """rnnx params -> a ``torch.nn`` module with the weights loaded (``nn.Linear`` for a head
    dict, a ``(rnn, linear)`` pair for a model's params).  ``layer`` (optional) fixes the
    configuration; otherwise it is read off the keys and shapes."""
    import torch

    def tensor(a):
        return torch.from_numpy(host(a))

    head = {k: params[k] for k in ("weight_hy", "bias_y") if k in params}
    rnn = {k: v for k, v in params.items() if k not in head}
    lin = None
    if head:
        w = host(head["weight_hy"])
        lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=torch.from_numpy(w).dtype)
        lin.load_state_dict({"weight": tensor(head["weight_hy"]), "bias": tensor(head["bias_y"])})
        if not rnn:
            return lin
    host_rnn = {k: host(v) for k, v in rnn.items()}
    if layer is None:
        layer = infer_layer(host_rnn, "to_torch")
    else:
        check_layout(host_rnn, layer, "to_torch")
    extra = layer.spec.torch_kwargs(layer.options) if layer.spec.torch else None
    if extra is None:
        raise ConversionError(f"to_torch: {layer!r} has no torch.nn equivalent (torch.nn.{layer.spec.torch} computes "
                              "other options)")
    cls = getattr(torch.nn, layer.spec.torch)
    kw = dict(num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
              bidirectional=layer.bidirectional, dtype=torch.from_numpy(host_rnn["weight_ih_l0"]).dtype, **extra)
    mod = cls(layer.input_size, layer.hidden_size, **kw)
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in host_rnn.items()})
    return mod if lin is None else (mod, lin)
