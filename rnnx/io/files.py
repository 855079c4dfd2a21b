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
from rnnx.io.schema import FileFormatError, layer_from_config
from rnnx.nn.layers import Recurrent
from rnnx.nn.model import Model

__all__ = ["FileFormatError", "layer_config", "layer_from_config", "save", "load", "host_params"]


def layer_config(layer: Recurrent) -> dict:
    return layer.config()


def _as(e: Exception, who: str) -> FileFormatError:
    """A checkpoint error as this function's: ``checkpoint: ...`` -> ``<who>: ...``."""
    msg = str(e)
    if msg.startswith("checkpoint:"):
        msg = who + ":" + msg[len("checkpoint:"):]
    return FileFormatError(msg)


def save(path: str, layer_or_model: Any, params: dict, *, to_numpy: Any = None, overwrite: bool = False) -> None:
    """Write ``params`` of ``layer_or_model`` to ``path`` (``.npz``, atomically), checked
    first: every array host-transferred by ``to_numpy`` (default
    :func:`rnnx.backends.to_numpy`) must be float16/32/64 (:class:`TypeError` naming the key
    and dtype otherwise) and the keys and shapes exactly ``layer_or_model.param_shapes()``
    (:class:`FileFormatError`), and finite (ValueError naming the parameter and its first
    NaN/Inf element).  An existing ``path`` is replaced only with
    ``overwrite=True`` (:class:`FileExistsError` ``path: '<p>' exists; pass overwrite=True
    to replace it`` otherwise); see :func:`rnnx.io.checkpoint.save`."""
    if isinstance(layer_or_model, Model):
        meta = {"kind": "rnnx-model", "model": layer_or_model.config()}
        if getattr(layer_or_model, "frozen", ()):  # what fine-tuning keeps (a converted model's extra biases)
            meta["frozen"] = list(layer_or_model.frozen)
    elif isinstance(layer_or_model, Recurrent):
        meta = {"kind": "rnnx-layer", "layer": layer_config(layer_or_model)}
    else:
        raise TypeError(f"layer_or_model: expected an rnnx RNN/LSTM/GRU or Model, got {type(layer_or_model).__name__}")
    checkpoint.save(path, meta, {"params": host_params(path, layer_or_model, params, to_numpy)},
                    to_numpy=lambda a: a, overwrite=overwrite)


def host_params(path: str, layer_or_model: Any, params: dict, to_numpy: Any = None) -> dict:
    """``params`` of ``layer_or_model`` on the host, checked as :func:`save` checks them before
    writing ``path``: float16/32/64 (TypeError), the keys and shapes of
    ``layer_or_model.param_shapes()`` (:class:`FileFormatError`), finite (ValueError)."""
    if not hasattr(params, "items"):
        raise TypeError(f"params: expected a dict of arrays, got {type(params).__name__}")
    if to_numpy is None:
        from rnnx.backends import to_numpy
    host = {k: checkpoint.float_array("params", k, to_numpy(v)) for k, v in params.items()}
    try:
        checkpoint.check_params(path, host, layer_or_model.param_shapes(),
                                repr(getattr(layer_or_model, "layer", layer_or_model)))
    except checkpoint.CheckpointError as e:
        raise _as(e, "save") from None
    import numpy as np

    from rnnx import checks

    bad = checks.first_non_finite([(f"params[{k!r}]", v) for k, v in host.items()], xp=np)
    if bad is not None:  # a model that cannot predict: refused here, not found out when it is loaded
        raise ValueError(bad)
    return host


def _check_xp_dtype(xp: Any, dtype: Any) -> None:
    """:func:`load`'s ``xp`` (a module with ``asarray``, as every rnnx function takes it) and
    ``dtype`` (real floating: the parameters are floats; an integer one would truncate them)."""
    if xp is not None and (isinstance(xp, str) or not callable(getattr(xp, "asarray", None))):
        got = f"str {xp!r}; pass the module itself: import {xp}; rnnx.load(path, xp={xp})" if isinstance(xp, str) \
            else type(xp).__name__
        raise TypeError(f"xp: expected an array namespace module (numpy, torch, jax.numpy, ...), got {got}")
    if dtype is None:
        return
    import array_api_compat as compat

    if xp is None:
        import numpy as xp
    try:
        ok = bool(compat.array_namespace(xp.asarray(0.0)).isdtype(dtype, "real floating"))
    except (TypeError, ValueError, AttributeError):  # a name such as "float32": what NumPy makes of it
        import numpy as np

        try:
            ok = np.dtype(dtype).kind == "f"
        except TypeError:
            ok = False
    if not ok:
        raise ValueError(f"dtype: expected a real floating dtype (float16, float32, float64), got {dtype!r}")


def load(path: str, *, xp: Any = None, dtype: Any = None, device: Any = None, expect: Any = None,
         nofollow: bool = False):
    """Read a file written by :func:`save` (or a run's ``model.npz``) -> ``(layer_or_model,
    params)`` on ``xp``.  The file is checked before its arrays are read
    (:func:`rnnx.io.checkpoint.load`); ``expect`` (a layer or model) makes a file of another
    cell or size an error.  Every problem: one :class:`FileFormatError` line naming ``path``.
    ``xp`` must be an array namespace module (TypeError for a name such as ``"numpy"``),
    ``dtype`` one of its real floating dtypes (ValueError otherwise).  ``nofollow`` (a file
    inside a run folder, which rnnx never writes as a link) refuses a symbolic link."""
    _check_xp_dtype(xp, dtype)
    try:
        meta, groups = checkpoint.load(path, nofollow=nofollow)
    except checkpoint.CheckpointError as e:
        raise _as(e, "load") from None
    kind = meta["kind"]
    if kind == "rnnx-layer":
        obj = layer_from_config(meta["layer"])
        what = repr(obj)
    elif kind in ("rnnx-model", "model"):
        obj = Model.from_config(meta["model"])
        obj.frozen = tuple(meta.get("frozen", ()))
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
        raise _as(e, "load") from None
    from rnnx.backends import to_xp

    return obj, to_xp(arrays, xp, dtype, device)
