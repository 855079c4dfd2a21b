"""``rnnx.save`` / ``rnnx.load``: a layer (or a model) and its parameters in one ``.npz``.

The file holds a JSON ``meta`` record (format tag, version, kind, configuration) and every
parameter under ``params/<name>`` on the host; it is written atomically (temporary file,
fsync, rename), read with ``allow_pickle=False``, and checked on load: a corrupt or foreign
file, or parameters that do not fit the stored configuration (or the one the caller
expects), raise :class:`FileFormatError` naming the problem.
"""

from __future__ import annotations

from typing import Any

from rnnx.io import checkpoint
from rnnx.layers import Recurrent, layer_from_config as _layer_from_config
from rnnx.model import Model


class FileFormatError(ValueError):
    """A file that cannot be loaded as asked: corrupt, foreign, or another cell or size."""


def layer_config(layer: Recurrent) -> dict:
    return layer.config()


def layer_from_config(cfg: dict) -> Recurrent:
    """A layer from its stored configuration: :meth:`Recurrent.config`'s dict, or the
    ``{"type": "LSTM", ...}`` dict of files written before the cell spec."""
    cfg = dict(cfg)
    if "type" in cfg:  # the first format: the class name, torch's options only
        kind = cfg.pop("type")
        if kind not in ("RNN", "LSTM", "GRU"):
            raise FileFormatError(f"file: unknown layer type {kind!r}; expected RNN, LSTM or GRU")
        cfg["cell"] = kind.lower()
    try:
        return _layer_from_config(cfg)
    except (TypeError, ValueError) as e:
        raise FileFormatError(f"file: the stored layer configuration {cfg} is not valid here: {e}") from None


def save(path: str, layer_or_model: Any, params: dict, *, to_numpy: Any = None) -> None:
    """Write ``params`` of ``layer_or_model`` to ``path`` (``.npz``), checked first."""
    import numpy as np

    if isinstance(layer_or_model, Model):
        meta = {"kind": "rnnx-model", "model": layer_or_model.config()}
        shapes = layer_or_model.param_shapes()
    elif isinstance(layer_or_model, Recurrent):
        meta = {"kind": "rnnx-layer", "layer": layer_config(layer_or_model)}
        shapes = layer_or_model.param_shapes()
    else:
        raise TypeError(f"layer_or_model: expected an rnnx RNN/LSTM/GRU or Model, got {type(layer_or_model).__name__}")
    if to_numpy is None:
        def to_numpy(a):
            from rnnx.interop._common import host

            return host(a)
    host = {k: np.asarray(to_numpy(v)) for k, v in params.items()}
    try:
        checkpoint.check_params(path, host, shapes, repr(getattr(layer_or_model, "layer", layer_or_model)))
    except checkpoint.CheckpointError as e:
        raise FileFormatError(str(e).replace("checkpoint:", "save:")) from None
    checkpoint.save(path, meta, {"params": host}, to_numpy=lambda a: a)


def load(path: str, *, xp: Any = None, dtype: Any = None, device: Any = None, expect: Any = None):
    """Read a file written by :func:`save` -> ``(layer_or_model, params)`` on ``xp``.

    ``expect`` (a layer or model) makes a file of another cell or size an error."""
    try:
        meta, groups = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        raise FileFormatError(str(e).replace("checkpoint:", "load:")) from None
    kind = meta.get("kind")
    if kind == "rnnx-layer":
        obj = layer_from_config(meta["layer"])
        what = repr(obj)
    elif kind in ("rnnx-model", "model"):
        obj = Model.from_config(meta["model"])
        what = f"{obj.layer!r} + head"
    else:
        raise FileFormatError(f"load: {path!r} holds a {kind!r}, expected an rnnx layer or model file")
    if expect is not None:
        want = expect.config()
        got = obj.config()
        if want != got:
            diff = {k: (got.get(k), want.get(k)) for k in set(want) | set(got) if got.get(k) != want.get(k)}
            raise FileFormatError(f"load: {path!r} holds {what}, expected {expect!r}; differs in "
                                  + ", ".join(f"{k}={g!r} (expected {w!r})" for k, (g, w) in sorted(diff.items())))
    arrays = groups.get("params", {})
    try:
        checkpoint.check_params(path, arrays, obj.param_shapes(), what)
    except checkpoint.CheckpointError as e:
        raise FileFormatError(str(e).replace("checkpoint:", "load:")) from None
    from rnnx.interop._common import to_xp

    return obj, to_xp(arrays, xp, dtype, device)
