r"""PyTorch: ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (any layers, directions, bias, LSTM
``proj_size``, ``dropout``) and the ``nn.Linear`` head.  rnnx's layout *is* PyTorch's, so
converting is copying.

The cell comes from the registry: a module's class is ``torch.nn.<spec.torch>``; a bare state
dict's cell is the spec with G = ``len(spec.gates)`` row blocks in ``weight_hh_l0``.  Per
layer k and direction suffix ``sfx`` (``""`` or ``"_reverse"``), with H = hidden_size,
R = proj_size or H, D = 2 when bidirectional, I_0 = input_size and I_k = D*R::

    weight_ih_l{k}{sfx} (G*H, I_k)   weight_hh_l{k}{sfx} (G*H, R)   bias_ih/bias_hh_l{k}{sfx} (G*H,)
    weight_hr_l{k}{sfx} (P, H)       LSTM with proj_size = P > 0:  h_t = (o_t * tanh(c_t)) W_hr^T

A cell option torch's module has as an attribute of the same name (``nonlinearity``,
``proj_size``) is read from it; :attr:`CellSpec.torch_kwargs` writes them back (None where
torch cannot compute the options: e.g. an RNN's sigmoid, an LSTM's Keras activations, a GRU
with ``reset_after=False``).  ``dropout=p`` between stacked layers is carried over: rnnx
computes it in training (``forward(train=True, seed=...)``); inference ignores it, as
torch's ``eval()`` does.
"""

from __future__ import annotations

import warnings
from typing import Any

from rnnx.backends import to_xp
from rnnx.cells import CELLS
from rnnx.interop._common import (
    ConversionError,
    changed_options,
    check_layout,
    host,
    infer_layer,
    layer_for,
)

_LAYER_ATTRS = ("num_layers", "bias", "batch_first", "bidirectional")


def _module_spec(obj: Any, torch: Any):
    for s in CELLS.values():
        if s.torch and isinstance(obj, getattr(torch.nn, s.torch)):
            return s
    return None


def from_torch(obj: Any, *, xp: Any = None, dtype: Any = None, device: Any = None, nonlinearity: str | None = None):
    """``nn.RNN/LSTM/GRU`` or its ``state_dict()`` -> ``(layer, params)``; an ``nn.Linear``
    -> ``(None, {"weight_hy", "bias_y"})``.

    A module gives every option: ``num_layers``, ``bias``, ``batch_first``, ``bidirectional``,
    ``dropout`` (with one layer torch computes no dropout, so the rnnx layer gets
    ``dropout=0``, with a warning) and the cell's (``nonlinearity``, ``proj_size``).  A state
    dict gives the cell, ``num_layers``, ``bidirectional``, ``bias`` and ``proj_size`` (a
    ``weight_hr_l0`` key: ``proj_size = weight_hr_l0.shape[0]``); it cannot say whether an
    RNN used relu: pass ``nonlinearity`` (``'tanh'``, the default, is accepted for any cell;
    another value for a cell without that option is an error).  A state dict is time-major
    (``batch_first=False``) and has ``dropout=0``.
    """
    import torch

    if isinstance(obj, torch.nn.Linear):
        head = {"weight_hy": host(obj.weight)}
        if obj.bias is None:
            raise ConversionError("from_torch: nn.Linear(bias=False): rnnx's head has a bias (bias_y); "
                                  "expected an nn.Linear with bias")
        head["bias_y"] = host(obj.bias)
        return None, to_xp(head, xp, dtype, device)
    if isinstance(obj, torch.nn.Module):
        spec = _module_spec(obj, torch)
        if spec is None:
            raise ConversionError(f"from_torch: expected nn.RNN/LSTM/GRU, nn.Linear or a state dict, got "
                                  f"{type(obj).__name__}")
        cell_opts = {o.name: getattr(obj, o.name) for o in spec.options if hasattr(obj, o.name)}
        if nonlinearity is not None and "nonlinearity" in cell_opts and cell_opts["nonlinearity"] != nonlinearity:
            raise ConversionError(f"from_torch: nonlinearity={nonlinearity!r} given, but the module has "
                                  f"nonlinearity={cell_opts['nonlinearity']!r}")
        if nonlinearity not in (None, "tanh") and "nonlinearity" not in cell_opts:
            raise ConversionError(f"from_torch: nonlinearity={nonlinearity!r} does not apply to {type(obj).__name__} "
                                  f"(its options: {', '.join(spec.option_names)})")
        opts = {a: getattr(obj, a) for a in _LAYER_ATTRS}
        p = float(obj.dropout)
        if p and obj.num_layers == 1:
            warnings.warn(f"from_torch: {type(obj).__name__}(dropout={p}, num_layers=1): torch applies dropout "
                          "between stacked layers only, so it computes none here; the rnnx layer has dropout=0",
                          stacklevel=2)
            p = 0.0
        state = {k: host(v) for k, v in obj.state_dict().items()}
        layer = layer_for(spec, obj.input_size, obj.hidden_size, "from_torch", dropout=p, **opts, **cell_opts)
        check_layout(state, layer, "from_torch")
        return layer, to_xp(state, xp, dtype, device)
    if not isinstance(obj, dict):
        raise ConversionError(f"from_torch: expected nn.RNN/LSTM/GRU, nn.Linear or a state dict, got "
                              f"{type(obj).__name__}")
    params = {k: host(v) for k, v in obj.items()}
    strict = {} if nonlinearity in (None, "tanh") else {"nonlinearity": nonlinearity}
    layer = infer_layer(params, "from_torch", options=strict, optional={"nonlinearity": nonlinearity or "tanh"})
    return layer, to_xp(params, xp, dtype, device)


def to_torch(params: dict, layer: Any = None) -> Any:
    """rnnx params -> a ``torch.nn`` module with the weights loaded (``nn.Linear`` for a head
    dict, a ``(rnn, linear)`` pair for a model's params).  ``layer`` (an rnnx layer, or a
    ``Model`` whose layer is taken) fixes the configuration, ``dropout`` and ``proj_size``
    included; otherwise it is read off the keys and shapes (``dropout=0``).  A layer whose
    cell options torch cannot compute (``spec.torch_kwargs`` gives None) is an error naming
    them."""
    import torch

    def tensor(a):
        return torch.from_numpy(host(a))

    layer = getattr(layer, "layer", layer)  # a Model's recurrent layer
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
        where = f"torch.nn.{layer.spec.torch} cannot compute" if layer.spec.torch else "torch.nn has no such cell for"
        raise ConversionError(f"to_torch: {layer!r} has no torch.nn equivalent ({where} {changed_options(layer)})")
    cls = getattr(torch.nn, layer.spec.torch)
    kw = dict(num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
              bidirectional=layer.bidirectional, dropout=layer.dropout,
              dtype=torch.from_numpy(host_rnn["weight_ih_l0"]).dtype, **extra)
    mod = cls(layer.input_size, layer.hidden_size, **kw)
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in host_rnn.items()})
    return mod if lin is None else (mod, lin)
