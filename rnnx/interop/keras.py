r"""Keras 3 (any backend; tested on JAX): ``LSTM``, ``GRU`` (``reset_after`` True or False),
``SimpleRNN`` and ``Bidirectional`` of them, a list of such layers stacked, and a
``keras.Sequential`` (or a list) of them followed by a final ``Dense``: an ``rnnx.Model``.

The cell of a Keras layer is the registry spec whose ``spec.keras`` is its class name.
Keras stores ``kernel`` (I, G*H) and ``recurrent_kernel`` (H, G*H), transposed with respect
to PyTorch, and one bias (G*H,): LSTM gates i, f, c, o (PyTorch's i, f, g, o), GRU gates z,
r, h (PyTorch's r, z, n), GRU ``reset_after=True`` with a (2, 3H) input/recurrent bias::

    weight_ih = kernel^T (blocks reordered)   weight_hh = recurrent_kernel^T
    bias_ih   = bias (or bias[0])             bias_hh   = 0 (or bias[1], GRU reset_after)

A converted Model's ``frozen`` lists the ``bias_hh`` keys Keras does not have, which
:func:`rnnx.fit` then keeps (Keras trains one bias per gate).

Activations (:mod:`rnnx.cells.activations`, Keras 3's definitions): a Keras layer's
``activation`` is the cell's ``activation`` option (LSTM: g and the cell-state output; GRU:
the candidate n) or, for ``SimpleRNN``, the RNN's ``nonlinearity``; ``recurrent_activation``
(LSTM i, f, o; GRU r, z) is the cell's ``recurrent_activation``.  The values are the option's
allowed names (tanh, sigmoid, relu, hard_sigmoid = relu6(x+3)/6, linear), recognised as the
functions ``keras.activations.<name>`` / ``keras.ops.<name>`` (``None`` is Keras's linear);
any other function is a :class:`ConversionError` naming the layer, the option and those names.

Options: ``stateful=True``, ``go_backwards=True`` outside ``Bidirectional``, a
``Bidirectional`` ``merge_mode`` other than ``'concat'`` and ``time_major`` (Keras 2) are
errors naming the layer; ``unroll``, ``use_cudnn`` and ``return_state`` compute the same
maths and are accepted.  The cells' ``dropout`` / ``recurrent_dropout`` act only in training
(Keras draws one mask per sequence, for the input and the recurrent state): they are
accepted with a warning, and the converted layer is exact for inference (what Keras's
``model(x)`` and ``predict`` compute); rnnx has no recurrent dropout to train with.

A Keras model takes x (B, T, I); a converted layer is ``batch_first=True`` for that, but an
``rnnx.Model`` is time-major: its ``forward`` / ``predict`` take x (T, B, I), i.e.
``x_keras.transpose(1, 0, 2)``, and a many-to-many Model's pred is (T, B, O).
"""

from __future__ import annotations

import warnings
from typing import Any

from rnnx.backends import to_xp
from rnnx.cells import CellSpec
from rnnx.interop._common import (
    ConversionError,
    blocks,
    check_layout,
    gate_order,
    host,
    layer_for,
    names,
    spec_of,
)

#: Keras's gate blocks, named like the spec's ``gates``, where they differ from PyTorch's.
_KERAS_GATES = {"gru": ("z", "r", "n")}
#: Keras activation attribute -> the rnnx option it sets (the first the cell has).
_KERAS_ACTIVATIONS = {"activation": ("activation", "nonlinearity"), "recurrent_activation": ("recurrent_activation",)}
#: Keras Dense activation -> rnnx Model output_activation.
_DENSE_ACTIVATIONS = {"linear": "none", "tanh": "tanh", "sigmoid": "sigmoid"}


def _keras():
    import keras

    return keras


def _fn_name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _activation_name(fn: Any, allowed: tuple, keras: Any) -> str | None:
    """The name in ``allowed`` whose Keras function ``fn`` is (None if none)."""
    for name in allowed:
        if fn is keras.activations.get(name) or fn is getattr(keras.ops, name, object()):
            return name
    return None


def _where(layer: Any) -> str:
    return f"layer {layer.name!r} ({type(layer).__name__})"


def _describe(layer: Any, *, go_backwards_ok: bool = False) -> dict:
    """Kind, sizes, options and weights of one Keras recurrent layer; options rnnx does not
    compute raise (naming the layer)."""
    keras = _keras()
    kind = type(layer).__name__
    spec: CellSpec = spec_of("keras", kind, f"from_keras: {_where(layer)}")
    cell = layer.cell
    opts: dict[str, Any] = {}
    for attr, targets in _KERAS_ACTIVATIONS.items():
        if not hasattr(cell, attr):
            continue
        target = next((o for o in spec.options if o.name in targets), None)
        fn = getattr(cell, attr)
        if target is None:
            raise ConversionError(f"from_keras: {_where(layer)}: {attr}={_fn_name(fn)!r}: rnnx's {spec.title} has no "
                                  "such option")
        got = _activation_name(fn, target.allowed, keras)
        if got is None:
            raise ConversionError(f"from_keras: {_where(layer)}: {attr}={_fn_name(fn)!r} is not computed by rnnx; "
                                  f"expected one of {', '.join(map(repr, target.allowed))}")
        opts[target.name] = got
    for o in spec.options:  # the rest of the cell's options Keras has by the same name (reset_after)
        if o.name not in opts and o.name not in ("fused",) and hasattr(cell, o.name):
            opts[o.name] = getattr(cell, o.name)
    for opt in ("stateful", "time_major"):
        if getattr(layer, opt, False):
            raise ConversionError(f"from_keras: {_where(layer)}: {opt}=True is not computed by rnnx; expected "
                                  f"{opt}=False")
    if getattr(layer, "go_backwards", False) and not go_backwards_ok:
        raise ConversionError(f"from_keras: {_where(layer)}: go_backwards=True outside Bidirectional is not "
                              "computed by rnnx; expected go_backwards=False (reverse the input instead)")
    for opt in ("dropout", "recurrent_dropout"):
        if getattr(cell, opt, 0.0):
            warnings.warn(f"from_keras: {_where(layer)}: {opt}={getattr(cell, opt)} is a training-time option rnnx "
                          "does not compute; the converted layer is exact for inference (no dropout)", stacklevel=5)
    w = [host(v.value) for v in layer.weights]  # kernel, recurrent_kernel[, bias]
    if not w:
        raise ConversionError(f"from_keras: {_where(layer)} is not built; call it on an input (or build it) first")
    return {"kind": kind, "spec": spec, "name": layer.name, "units": cell.units, "input_size": w[0].shape[0],
            "use_bias": cell.use_bias, "options": opts, "weights": w,
            "return_sequences": bool(getattr(layer, "return_sequences", False))}


def _permute(spec: CellSpec, a: Any, axis: int) -> Any:
    """Keras's gate blocks of ``a`` along ``axis`` in PyTorch's order (and back: a swap)."""
    order = gate_order(spec, _KERAS_GATES.get(spec.name))
    return a if order is None else blocks(a, order, axis)


def _to_torch_layout(d: dict, layer_idx: int, direction: int) -> dict:
    """One direction's Keras weights (``d["weights"]``) in rnnx's (PyTorch's) keys."""
    import numpy as np

    spec = d["spec"]

    def perm(a, axis):
        return _permute(spec, a, axis)

    w_ih, w_hh, b_ih, b_hh = names(layer_idx, direction)
    kernel, rec = perm(d["weights"][0], 1), perm(d["weights"][1], 1)
    out = {w_ih: kernel.T.copy(), w_hh: rec.T.copy()}
    if d["use_bias"]:
        bias = d["weights"][2]
        if bias.ndim == 2:  # GRU reset_after: (2, 3H): input bias, recurrent bias
            out[b_ih], out[b_hh] = perm(bias[0], 0), perm(bias[1], 0)
        else:
            out[b_ih] = perm(bias, 0).copy()
            out[b_hh] = np.zeros_like(out[b_ih])  # Keras has one bias: the second is zero
    return out


def _directions(layer: Any) -> list[Any]:
    """The Keras layers of one layer's directions (two for a ``Bidirectional``)."""
    if type(layer).__name__ == "Bidirectional":
        return [layer.forward_layer, layer.backward_layer]
    return [layer]


def _unwrap(layer: Any) -> list[dict]:
    """One Keras recurrent layer -> its directions' descriptions."""
    if type(layer).__name__ == "Bidirectional":
        if layer.merge_mode != "concat":
            raise ConversionError(f"from_keras: {_where(layer)}: merge_mode={layer.merge_mode!r} is not computed by "
                                  "rnnx; expected 'concat'")
        fwd, bwd = layer.forward_layer, layer.backward_layer
        if getattr(fwd, "go_backwards", False) or not getattr(bwd, "go_backwards", False):
            raise ConversionError(f"from_keras: {_where(layer)}: expected a forward layer with go_backwards=False and "
                                  "a backward_layer with go_backwards=True")
        out = [_describe(fwd), _describe(bwd, go_backwards_ok=True)]
        for d in out:
            d["return_sequences"] = bool(layer.return_sequences)
            d["bidirectional"] = layer.name
        return out
    return [_describe(layer)]


def _is_recurrent(layer: Any) -> bool:
    return type(layer).__name__ == "Bidirectional" or hasattr(layer, "cell")


def _parse(obj: Any) -> dict:
    """A Keras layer, list of layers or Sequential -> its recurrent layers' descriptions, the
    dropout between them, and the Dense head (or None).  Rules (each broken one raises,
    naming the layer):

    * ``InputLayer``: skipped.
    * ``Dense``: only as the last layer (the head), activation None/linear, tanh or sigmoid.
    * ``Dropout(rate=p)`` (``noise_shape`` None: one Bernoulli(1-p) draw per element, kept
      values scaled by 1/(1-p)): only between two recurrent layers, and then between every
      pair with the same p: that is rnnx's (and torch's) ``dropout=p``, the same
      distribution of masks over (T, B, F), in training; ``rate=0`` is the identity anywhere.
    * anything else: an error.
    """
    if type(obj).__name__ == "Sequential":
        items = list(obj.layers)
    elif isinstance(obj, (list, tuple)):
        items = list(obj)
    else:
        items = [obj]
    items = [it for it in items if type(it).__name__ != "InputLayer"]
    if not items:
        raise ConversionError("from_keras: expected at least one recurrent layer, got none")
    rec: list[list[dict]] = []
    rec_layers: list[Any] = []
    gaps: dict[int, Any] = {}  # gap index (after recurrent layer i) -> its Dropout layer
    head = None
    for it in items:
        kind = type(it).__name__
        if kind == "Dropout" and not it.rate:
            continue  # the identity, in training too
        if head is not None:
            raise ConversionError(f"from_keras: {_where(head)} is not the last layer ({_where(it)} follows it); rnnx's "
                                  "head (weight_hy, bias_y) is the last layer")
        if kind == "Dense":
            if not rec:
                raise ConversionError(f"from_keras: {_where(it)} comes before any recurrent layer; expected recurrent "
                                      "layers, then one Dense")
            head = it
        elif kind == "Dropout":
            if getattr(it, "noise_shape", None) is not None and any(n is not None for n in it.noise_shape):
                raise ConversionError(f"from_keras: {_where(it)}: noise_shape={it.noise_shape} shares masks across "
                                      "an axis; rnnx's dropout draws one per element (expected noise_shape=None)")
            if not rec or (len(rec) - 1) in gaps:
                raise ConversionError(f"from_keras: {_where(it)}(rate={it.rate}): rnnx has dropout only between "
                                      "recurrent layers (one Dropout per gap); not before the first, after the last "
                                      "or twice in a row")
            gaps[len(rec) - 1] = it
        elif _is_recurrent(it):
            rec.append(_unwrap(it))
            rec_layers.append(it)
        else:
            raise ConversionError(f"from_keras: {_where(it)} is not supported; expected LSTM, GRU, SimpleRNN or "
                                  "Bidirectional of one, Dropout between them, and a final Dense")
    last_gap = len(rec) - 1
    if last_gap in gaps:
        raise ConversionError(f"from_keras: {_where(gaps[last_gap])} follows the last recurrent layer; rnnx has "
                              "dropout only between recurrent layers (none before the head)")
    rates = {float(d.rate) for d in gaps.values()}
    if gaps and (len(gaps) != len(rec) - 1 or len(rates) != 1):
        some = next(iter(gaps.values()))
        raise ConversionError(f"from_keras: {_where(some)}: rnnx's dropout=p acts between every pair of recurrent "
                              f"layers with one p; expected a Dropout of the same rate in each of the {len(rec) - 1} "
                              f"gaps, got rates {sorted(float(d.rate) for d in gaps.values())} in {len(gaps)}")
    return {"rec": rec, "rec_layers": rec_layers, "dropout": rates.pop() if rates else 0.0, "head": head}


def _recurrent(parsed: dict, *, xp: Any, dtype: Any, device: Any, batch_first: bool, **model_kw: Any):
    """The rnnx layer (or, with ``model_kw``, Model) of the parsed stack and its params."""
    rec = parsed["rec"]
    first = rec[0]
    params: dict = {}
    for i, dirs in enumerate(rec):
        if len(dirs) != len(first):
            raise ConversionError(f"from_keras: layer {dirs[0].get('bidirectional', dirs[0]['name'])!r} is "
                                  f"{'bi' if len(dirs) == 2 else 'uni'}directional, layer {first[0]['name']!r} is not; "
                                  "expected the same throughout")
        for d, desc in enumerate(dirs):
            for key in ("kind", "units", "use_bias", "options"):
                if desc[key] != first[0][key]:
                    raise ConversionError(f"from_keras: layer {desc['name']!r} has {key}={desc[key]!r} but layer "
                                          f"{first[0]['name']!r} has {first[0][key]!r}; rnnx stacks one kind of layer "
                                          "throughout")
            if i < len(rec) - 1 and not desc["return_sequences"]:
                raise ConversionError(f"from_keras: layer {desc['name']!r} has return_sequences=False but feeds "
                                      "another recurrent layer; expected return_sequences=True")
            params.update(_to_torch_layout(desc, i, d))
    d0 = first[0]
    options = dict(num_layers=len(rec), bidirectional=len(first) == 2, bias=d0["use_bias"],
                   dropout=parsed["dropout"], **d0["options"])
    if not model_kw:
        layer = layer_for(d0["spec"], d0["input_size"], d0["units"], "from_keras", batch_first=batch_first,
                          **options)
        check_layout(params, layer, "from_keras")
        return layer, to_xp(params, xp, dtype, device)
    import rnnx

    try:
        model = rnnx.Model(d0["spec"].name, d0["input_size"], d0["units"], **model_kw, **options)
    except (TypeError, ValueError) as e:
        raise ConversionError(f"from_keras: {e}") from None
    return model, params


def _head(parsed: dict) -> tuple[dict, dict]:
    """The Dense head -> (Model keyword arguments, {"weight_hy", "bias_y"} host arrays)."""
    import numpy as np

    keras = _keras()
    dense, last = parsed["head"], parsed["rec"][-1]
    act = next((name for name in _DENSE_ACTIVATIONS if dense.activation is keras.activations.get(name)
                or dense.activation is getattr(keras.ops, name, object())), None)
    if act is None:
        raise ConversionError(f"from_keras: {_where(dense)}: activation={_fn_name(dense.activation)!r} is not "
                              f"computed by rnnx's head; expected one of None, {', '.join(map(repr, _DENSE_ACTIVATIONS))}")
    for flag in ("lora_enabled", "quantization_mode"):
        if getattr(dense, flag, None):
            raise ConversionError(f"from_keras: {_where(dense)}: {flag}={getattr(dense, flag)!r} is not computed by "
                                  "rnnx's head")
    if not dense.weights:
        raise ConversionError(f"from_keras: {_where(dense)} is not built; call the model on an input first")
    kernel = host(dense.kernel.value)  # (F, O)
    bias = host(dense.bias.value) if dense.use_bias else np.zeros(kernel.shape[1], dtype=kernel.dtype)
    many = last[0]["return_sequences"]
    if not many and len(last) == 2:
        raise ConversionError(f"from_keras: layer {last[0]['bidirectional']!r}: Bidirectional with "
                              "return_sequences=False gives the backward layer's state after the whole (reversed) "
                              "sequence, not its output at the last step that rnnx's many-to-one head reads; expected "
                              "return_sequences=True")
    kw = dict(output_size=int(kernel.shape[1]), output_activation=_DENSE_ACTIVATIONS[act],
              objective="many-to-many" if many else "many-to-one")
    return kw, {"weight_hy": kernel.T.copy(), "bias_y": bias}


def _one_bias(parsed: dict) -> tuple[str, ...]:
    """The ``bias_hh`` keys of the layers that have one bias per gate in Keras (all but a GRU
    with ``reset_after=True``, whose bias is (2, 3H)): Keras trains ``bias_ih`` alone there."""
    out = []
    for i, dirs in enumerate(parsed["rec"]):
        for d, desc in enumerate(dirs):
            if desc["use_bias"] and desc["weights"][2].ndim == 1:
                out.append(names(i, d)[3])
    return tuple(out)


def from_keras(obj: Any, *, xp: Any = None, dtype: Any = None, device: Any = None):
    """A Keras recurrent layer, a list of them (stacked), or a ``keras.Sequential`` / list of
    them ending in a ``Dense`` -> ``(layer, params)`` or ``(Model, params)``.

    Without a Dense: an rnnx layer, ``batch_first=True`` like Keras: x (B, T, I) -> y the
    full output sequence (Keras ``return_sequences=True``) and the final state (Keras
    ``return_state=True``).  ``Dropout(p)`` layers between the recurrent layers become
    ``dropout=p`` (rules: :func:`_parse`).

    With a final ``Dense(O, activation=a)``: an ``rnnx.Model`` whose head is the Dense,
    ``weight_hy = kernel^T`` (O, D*R), ``bias_y = bias`` (zeros for ``use_bias=False``),
    ``output_activation`` ``"none"`` (a = None or linear), ``"tanh"`` or ``"sigmoid"``;
    ``objective`` ``"many-to-many"`` when the last recurrent layer has
    ``return_sequences=True`` (the Dense applies at every step), else ``"many-to-one"`` (the
    last step).  ``model.frozen`` holds the ``bias_hh`` keys that Keras lacks (one bias per
    gate: LSTM, SimpleRNN, GRU ``reset_after=False``; a ``reset_after=True`` GRU has both), so
    :func:`rnnx.fit` without ``freeze`` fine-tunes as Keras does (``freeze=()`` trains both
    biases).  The Model is time-major: ``model.predict(params, x_keras.transpose(1, 0, 2))``
    is Keras's ``model(x_keras)`` transposed to (T, B, O) (many-to-many) or (B, O).

    Keras's ``InputLayer`` is skipped; any other layer, a Dense not last, a Dense activation
    or an option rnnx does not compute is a :class:`ConversionError` naming the layer.
    """
    parsed = _parse(obj)
    if parsed["head"] is None:
        return _recurrent(parsed, xp=xp, dtype=dtype, device=device, batch_first=True)
    kw, head = _head(parsed)
    model, params = _recurrent(parsed, xp=xp, dtype=dtype, device=device, batch_first=False, **kw)
    model.frozen = _one_bias(parsed)
    params.update(head)
    check_layout(params, model, "from_keras", f"{model.layer!r} + head")
    return model, to_xp(params, xp, dtype, device)


def to_keras(params: dict, obj: Any) -> Any:
    """Write rnnx params into existing, built Keras layer(s) of the matching configuration
    (``assign``) and return ``obj``: a recurrent layer, a list of them, or a Sequential / list
    ending in a Dense (then ``params`` holds the Model's head too: ``kernel = weight_hy^T``,
    ``bias = bias_y``).  Keras has one bias per gate: ``bias_ih + bias_hh`` (GRU
    ``reset_after=True`` keeps both); a Dense without bias needs ``bias_y`` = 0."""
    import numpy as np

    ref, _ = from_keras(obj)  # configuration and option checks
    hp = {k: host(v) for k, v in params.items()}
    what = f"{ref.layer!r} + head" if hasattr(ref, "layer") else repr(ref)
    check_layout(hp, ref, "to_keras", what)
    parsed = _parse(obj)
    bias = ref.layer.bias if hasattr(ref, "layer") else ref.bias
    dense = parsed["head"]
    if dense is not None and not dense.use_bias and np.any(hp["bias_y"] != 0):
        raise ConversionError(f"to_keras: {_where(dense)} has use_bias=False; expected bias_y = 0")
    for i, lay in enumerate(parsed["rec_layers"]):
        for d, t in enumerate(_directions(lay)):
            spec = parsed["rec"][i][d]["spec"]
            w_ih, w_hh, b_ih, b_hh = names(i, d)
            ws = [_permute(spec, hp[w_ih].T, 1), _permute(spec, hp[w_hh].T, 1)]
            if bias:
                if len(t.weights[2].shape) == 2:  # GRU reset_after: (2, 3H)
                    ws.append(np.stack([_permute(spec, hp[b_ih], 0), _permute(spec, hp[b_hh], 0)]))
                else:
                    ws.append(_permute(spec, hp[b_ih] + hp[b_hh], 0))
            for var, value in zip(t.weights, ws):
                var.assign(value)
    if dense is not None:
        dense.kernel.assign(hp["weight_hy"].T)
        if dense.use_bias:
            dense.bias.assign(hp["bias_y"])
    return obj
