"""Shared pieces of the converters and estimators: host arrays, gate-block permutations, shape
checks, the target an estimator computes on, and the registry look-ups (every cell kind and
option comes from :data:`rnnx.cells.CELLS`).

A converter finds the rnnx cell of a foreign layer by the spec's counterpart names
(``spec.torch``, ``spec.keras``, ``spec.flax``) and a bare PyTorch state dict's cell by its
gate count (``len(spec.gates)``: rows of ``weight_hh_l0`` = G*H); it builds the layer
through the one factory (:func:`rnnx.layer`), whose option errors it reports as a
:class:`ConversionError` naming the source.
"""

from __future__ import annotations

from typing import Any, Mapping

from rnnx.nn import params as P
from rnnx.cells import CELLS, CellSpec
from rnnx.nn.layers import layer as rnnx_layer

HEAD_KEYS = ("weight_hy", "bias_y")


def usable_target(backend: str, device: str | None) -> Any:
    """The :class:`rnnx.backends.Target` an estimator (``backend=``, ``device=``) computes on,
    or one ValueError starting ``backend:`` saying why it cannot be used here."""
    from rnnx import backends

    try:
        mod = backends.get(backend)
        t = backends.Target(mod.NAME, backends.resolve_device(mod.NAME, device))
    except ValueError as e:
        raise ValueError(f"backend: {e}") from None
    why = t.unavailable()
    if why:
        raise ValueError(f"backend: {t.id} is not usable here: {why}")
    return t


class ConversionError(ValueError):
    """Weights that do not fit, or a foreign option rnnx does not compute: the message names
    the key, the layer and the option."""


def host(a: Any) -> Any:
    """A NumPy copy of any array: an array of a library rnnx knows (NumPy, torch, JAX, CuPy,
    array-api-strict) through :func:`rnnx.backends.to_numpy` (CuPy ``.get()``, torch
    ``.detach().cpu()``); anything else (a Keras variable, a TF tensor) through its
    ``.numpy()`` when it has one, ``np.array`` otherwise."""
    import array_api_compat as compat
    import numpy as np

    from rnnx.backends import to_numpy

    try:
        compat.array_namespace(a)
    except TypeError:  # not an array of a known library
        if hasattr(a, "numpy") and not isinstance(a, np.generic):
            return np.array(a.numpy(), copy=True)
        return np.array(a, copy=True)
    return np.array(to_numpy(a), copy=True)


def blocks(a: Any, order: tuple[int, ...], axis: int) -> Any:
    """Reorder the equal gate blocks of ``a`` along ``axis``: block ``j`` of the result is
    block ``order[j]`` of ``a`` (e.g. Keras z,r,h -> PyTorch r,z,n with order (1, 0, 2))."""
    import numpy as np

    parts = np.split(a, len(order), axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


def gate_order(spec: CellSpec, foreign: tuple[str, ...] | None) -> tuple[int, ...] | None:
    """The permutation :func:`blocks` takes from a library's gate blocks ``foreign`` (named
    like ``spec.gates``) to rnnx's (PyTorch's) ``spec.gates``; None when they agree.  It is
    its own inverse for a swap (GRU: Keras z, r, n <-> r, z, n)."""
    if foreign is None or tuple(foreign) == spec.gates:
        return None
    return tuple(foreign.index(g) for g in spec.gates)


def spec_of(counterpart: str, name: str, source: str) -> CellSpec:
    """The registry's spec whose ``counterpart`` (``"torch"``, ``"keras"``, ``"flax"``) names
    ``name``; a :class:`ConversionError` listing the names the registry knows otherwise."""
    known: list[str] = []
    for s in CELLS.values():
        v = getattr(s, counterpart)
        vs = (v,) if isinstance(v, str) else tuple(v or ())
        if name in vs:
            return s
        known.extend(vs)
    raise ConversionError(f"{source}: {name} is not supported; expected one of {', '.join(known)}")


def layer_for(spec: CellSpec | str, input_size: int, hidden_size: int, source: str, **options: Any):
    """The rnnx layer of ``spec`` through the one factory; an option rnnx refuses (its
    ValueError / TypeError names it) becomes a :class:`ConversionError` from ``source``."""
    name = spec if isinstance(spec, str) else spec.name
    try:
        return rnnx_layer(name, input_size, hidden_size, **options)
    except (TypeError, ValueError) as e:
        raise ConversionError(f"{source}: {e}") from None


def check_layout(params: Mapping, layer: Any, source: str, what: str | None = None) -> None:
    """Keys and shapes must be exactly ``layer.param_shapes()`` (a layer's or a Model's:
    PyTorch's layout, plus the head's keys for a Model); ``what`` names it (its repr)."""
    want = layer.param_shapes()
    what = what or repr(layer)
    missing = [k for k in want if k not in params]
    extra = [k for k in params if k not in want]
    if missing or extra:
        raise ConversionError(f"{source}: missing key(s) {missing}, unexpected key(s) {extra}; "
                              f"expected the keys of {what}: {list(want)}")
    for k, s in want.items():
        if tuple(params[k].shape) != tuple(s):
            raise ConversionError(f"{source}: {k} has shape {tuple(params[k].shape)}, expected {tuple(s)} "
                                  f"for {what}")


def infer_layer(params: Mapping, source: str, *, options: Mapping[str, Any] | None = None,
                optional: Mapping[str, Any] | None = None, **layer_options: Any):
    """The layer a PyTorch-layout dict describes.

    The cell is the registry spec whose gate count G (``len(spec.gates)``) gives the rows of
    ``weight_hh_l0``: (G*H, R), where H is ``weight_hr_l0.shape[1]`` with a projection
    (``weight_hr_l0`` (P, H): ``proj_size = P``, R = P) and ``weight_hh_l0.shape[1]``
    otherwise.  ``num_layers`` from the ``_l{k}`` keys, ``bidirectional`` from ``_reverse``
    keys, ``bias`` from ``bias_*`` keys.  ``options`` are cell options to apply where the
    inferred cell has them (others are an error naming them), ``optional`` ones only where it
    has them (e.g. a default ``nonlinearity='tanh'`` given for any state dict); ``layer_options`` (e.g.
    ``batch_first``, ``dropout``) are passed on.  The head's keys (``weight_hy``,
    ``bias_y``) are ignored."""
    rnn_keys = {k: v for k, v in params.items() if k not in HEAD_KEYS}
    if "weight_ih_l0" not in rnn_keys or "weight_hh_l0" not in rnn_keys:
        missing = [k for k in ("weight_ih_l0", "weight_hh_l0") if k not in rnn_keys]
        raise ConversionError(f"{source}: missing key(s) {missing}; expected a recurrent layer's state dict")
    w_hh = rnn_keys["weight_hh_l0"]
    proj = rnn_keys.get("weight_hr_l0")
    rows = w_hh.shape[0]
    hidden = proj.shape[1] if proj is not None and len(proj.shape) == 2 else w_hh.shape[1]
    by_gates: dict[int, list[CellSpec]] = {}
    for s in CELLS.values():
        by_gates.setdefault(len(s.gates), []).append(s)
    expected = ", ".join(f"{g} ({'/'.join(s.title for s in ss)})" for g, ss in sorted(by_gates.items()))
    if hidden == 0 or rows % hidden:
        raise ConversionError(f"{source}: weight_hh_l0 has shape {tuple(w_hh.shape)}; expected (G*H, H) (or (G*H, P) "
                              f"with weight_hr_l0 (P, H)) with G = {expected}")
    gates = rows // hidden
    specs = by_gates.get(gates, [])
    if len(specs) != 1:
        why = "cells share that gate count" if specs else "no cell has that many"
        raise ConversionError(f"{source}: weight_hh_l0 has {rows} rows for H={hidden}: {gates} gates ({why}), "
                              f"expected {expected}")
    spec = specs[0]
    opts = {k: v for k, v in (optional or {}).items() if k in spec.option_names}
    opts.update(options or {})
    if proj is not None and "proj_size" in spec.option_names:
        opts["proj_size"] = int(proj.shape[0])  # a weight_hr key the cell lacks stays unexpected (check_layout)
    not_here = [k for k in opts if k not in spec.option_names]
    if not_here:
        raise ConversionError(f"{source}: {not_here[0]}={opts[not_here[0]]!r} does not apply to the {spec.title} "
                              f"this state dict holds (its options: {', '.join(spec.option_names)})")
    layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in rnn_keys if "_l" in k)
    bidi = any(k.endswith("_reverse") for k in rnn_keys)
    bias = any(k.startswith("bias_") for k in rnn_keys)
    layer = layer_for(spec, rnn_keys["weight_ih_l0"].shape[1], hidden, source, num_layers=layers,
                      bidirectional=bidi, bias=bias, **layer_options, **opts)
    check_layout(rnn_keys, layer, source)
    return layer


def names(layer_idx: int, direction: int) -> tuple[str, str, str, str]:
    return P.names(layer_idx, direction)


def changed_options(layer: Any) -> str:
    """The cell options of ``layer`` that differ from the spec's defaults, as ``k=v, ...``."""
    d = layer.spec.defaults()
    return ", ".join(f"{k}={v!r}" for k, v in layer.options.items() if v != d.get(k)) or "the defaults"
