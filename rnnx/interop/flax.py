"""Flax: ``flax.nnx`` ``LSTMCell``, ``OptimizedLSTMCell``, ``GRUCell``, ``SimpleCell`` (an
``nnx.RNN`` of one too) and linen's cells by their params dict.

Flax kernels are (in, out), transposed with respect to PyTorch.  Where the two APIs differ:

* nnx ``LSTMCell``: ``ii, if_, ig, io`` (no bias) and ``hi, hf, hg, ho`` (with bias);
  nnx ``OptimizedLSTMCell``: ``dense_i`` (I, 4H) and ``dense_h`` (H, 4H, bias), gates i,f,g,o;
  linen ``LSTMCell`` / ``OptimizedLSTMCell``: params ``ii, if, ig, io, hi, hf, hg, ho``.
* nnx ``GRUCell``: ``dense_i`` (I, 3H, bias) and ``dense_h`` (H, 3H, no bias): b_hn = 0;
  linen ``GRUCell``: ``ir, iz, in`` (bias), ``hr, hz`` (no bias), ``hn`` (bias).
* nnx ``SimpleCell``: ``dense_i`` (bias), ``dense_h`` (no bias); linen: ``i`` (bias), ``h``.

So, per gate block with PyTorch's order (LSTM i, f, g, o; GRU r, z, n)::

    weight_ih = concat(input kernels)^T    weight_hh = concat(hidden kernels)^T
    LSTM: bias_ih = 0,  bias_hh = hidden biases;   GRU / SimpleCell: bias_ih = input biases,
    bias_hh = 0 (linen GRU: [0, 0, b_hn])

The cell is the registry spec whose ``spec.flax`` names the class.  ``activation_fn`` is the
cell's ``activation`` (LSTM: g and the cell-state output; GRU: n) or, for ``SimpleCell``, the
RNN's ``nonlinearity``; ``gate_fn`` (LSTM i, f, o; GRU r, z) is its ``recurrent_activation``.
Accepted are the JAX functions whose definitions are rnnx's (:func:`_flax_functions`):
``jax.numpy.tanh`` (= ``nnx.tanh``, ``jax.nn.tanh``), ``jax.nn.sigmoid``, ``jax.nn.relu``,
``jax.nn.hard_sigmoid`` (``relu6(x + 3) / 6``, the same as Keras 3's); any other function is a
:class:`ConversionError` naming the option and these.
"""

from __future__ import annotations

from typing import Any

from rnnx.backends import to_xp
from rnnx.cells import CellSpec
from rnnx.interop._common import ConversionError, check_layout, host, layer_for, spec_of

W_IH, W_HH, B_IH, B_HH = "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"
#: Flax function attribute -> the rnnx option it sets (the first the cell has).
_FLAX_FNS = {"activation_fn": ("activation", "nonlinearity"), "gate_fn": ("recurrent_activation",)}


def _fn(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _flax_functions() -> dict[str, tuple[str, Any]]:
    """rnnx activation name -> (how to write it, the JAX function Flax calls): the ones whose
    definition is rnnx's (:mod:`rnnx.cells.activations`): ``jax.nn.hard_sigmoid`` is
    ``relu6(x + 3) / 6``, Keras 3's; ``flax.nnx.tanh`` etc. are these same objects.  Flax
    has no identity function, so ``linear`` has none."""
    import jax
    import jax.numpy as jnp

    return {"tanh": ("jax.numpy.tanh", jnp.tanh), "sigmoid": ("jax.nn.sigmoid", jax.nn.sigmoid),
            "relu": ("jax.nn.relu", jax.nn.relu), "hard_sigmoid": ("jax.nn.hard_sigmoid", jax.nn.hard_sigmoid)}


def _check_fns(cell: Any, spec: CellSpec) -> dict[str, Any]:
    """The cell options of a Flax cell's ``activation_fn`` / ``gate_fn``: each must be one of
    the JAX functions of :func:`_flax_functions` that the option allows; another function,
    or ``SimpleCell(residual=True)``, is a :class:`ConversionError` naming it."""
    name = type(cell).__name__
    if getattr(cell, "residual", False):
        raise ConversionError(f"from_flax: {name}(residual=True) is not computed by rnnx; expected residual=False")
    table = _flax_functions()
    opts: dict[str, Any] = {}
    for attr, targets in _FLAX_FNS.items():
        if not hasattr(cell, attr):
            continue
        fn = getattr(cell, attr)
        target = next((o for o in spec.options if o.name in targets), None)
        if target is None:
            raise ConversionError(f"from_flax: {name} {attr}={_fn(fn)!r}: rnnx's {spec.title} has no such option")
        allowed = [(n, table[n]) for n in target.allowed if n in table]
        got = next((n for n, (_, f) in allowed if fn is f), None)
        if got is None:
            raise ConversionError(f"from_flax: {name} {attr}={_fn(fn)!r} is not computed by rnnx; expected one of "
                                  + ", ".join(w for _, (w, _) in allowed))
        opts[target.name] = got
    return opts


def _nnx_params(cell: Any) -> tuple[str, dict]:
    import numpy as np

    kind_name = type(cell).__name__
    kind = spec_of("flax", kind_name, "from_flax").name
    k = lambda lin: host(lin.kernel[...])  # noqa: E731
    b = lambda lin: host(lin.bias[...])  # noqa: E731
    if kind_name == "LSTMCell":
        w_ih = np.concatenate([k(cell.ii), k(cell.if_), k(cell.ig), k(cell.io)], axis=1).T
        w_hh = np.concatenate([k(cell.hi), k(cell.hf), k(cell.hg), k(cell.ho)], axis=1).T
        b_hh = np.concatenate([b(cell.hi), b(cell.hf), b(cell.hg), b(cell.ho)])
        b_ih = np.zeros_like(b_hh)
    elif kind_name == "OptimizedLSTMCell":
        w_ih, w_hh, b_hh = k(cell.dense_i).T, k(cell.dense_h).T, b(cell.dense_h)
        b_ih = np.zeros_like(b_hh)
    else:  # GRUCell, SimpleCell: input side has the bias
        w_ih, w_hh, b_ih = k(cell.dense_i).T, k(cell.dense_h).T, b(cell.dense_i)
        b_hh = np.zeros_like(b_ih)
    return kind, {W_IH: w_ih.copy(), W_HH: w_hh.copy(), B_IH: b_ih, B_HH: b_hh}


def _linen_params(module: Any, p: dict) -> tuple[str, dict]:
    import numpy as np

    kind_name = type(module).__name__
    kind = spec_of("flax", kind_name, "from_flax: linen").name
    p = p.get("params", p)
    need = {"lstm": ["ii", "if", "ig", "io", "hi", "hf", "hg", "ho"], "gru": ["ir", "iz", "in", "hr", "hz", "hn"],
            "rnn": ["i", "h"]}[kind]
    missing = [n for n in need if n not in p]
    extra = [n for n in p if n not in need]
    if missing or extra:
        raise ConversionError(f"from_flax: linen {kind_name} params: missing {missing}, unexpected {extra}; "
                              f"expected {need} (are these another cell's params?)")
    k = lambda n: host(p[n]["kernel"])  # noqa: E731
    b = lambda n: host(p[n]["bias"])  # noqa: E731
    if kind == "lstm":
        w_ih = np.concatenate([k(n) for n in ("ii", "if", "ig", "io")], axis=1).T
        w_hh = np.concatenate([k(n) for n in ("hi", "hf", "hg", "ho")], axis=1).T
        b_hh = np.concatenate([b(n) for n in ("hi", "hf", "hg", "ho")])
        b_ih = np.zeros_like(b_hh)
    elif kind == "gru":
        w_ih = np.concatenate([k(n) for n in ("ir", "iz", "in")], axis=1).T
        w_hh = np.concatenate([k(n) for n in ("hr", "hz", "hn")], axis=1).T
        b_ih = np.concatenate([b(n) for n in ("ir", "iz", "in")])
        b_hh = np.concatenate([np.zeros_like(b("hn")), np.zeros_like(b("hn")), b("hn")])
    else:
        w_ih, w_hh, b_ih = k("i").T, k("h").T, b("i")
        b_hh = np.zeros_like(b_ih)
    return kind, {W_IH: w_ih.copy(), W_HH: w_hh.copy(), B_IH: b_ih, B_HH: b_hh}


def from_flax(cell: Any, params: dict | None = None, *, xp: Any = None, dtype: Any = None, device: Any = None):
    """An nnx cell (or ``nnx.RNN`` of one), or a linen cell module with its ``params`` ->
    ``(layer, params)``: a one-layer, unidirectional rnnx layer, ``batch_first=True`` (an
    ``nnx.RNN(time_major=True)``: False), with the cell's ``activation_fn`` / ``gate_fn`` as
    its options (:func:`_check_fns`).  ``nnx.RNN(reverse=True)`` is an error."""
    batch_first = True
    if params is None:
        if type(cell).__name__ == "RNN" and hasattr(cell, "cell"):
            if getattr(cell, "reverse", False):
                raise ConversionError("from_flax: nnx.RNN(reverse=True) is not computed by rnnx; expected "
                                      "reverse=False (reverse the input instead)")
            batch_first = not getattr(cell, "time_major", False)
            cell = cell.cell
        kind, p = _nnx_params(cell)
    else:
        kind, p = _linen_params(cell, params)
    layer = _layer(kind, cell, p, batch_first=batch_first)
    check_layout(p, layer, "from_flax")
    return layer, to_xp(p, xp, dtype, device)


def _layer(kind: str, cell: Any, p: dict, *, batch_first: bool = True):
    from rnnx.cells import spec

    s = spec(kind)
    return layer_for(s, p[W_IH].shape[1], p[W_HH].shape[1], "from_flax", batch_first=batch_first,
                     **_check_fns(cell, s))


def to_flax(params: dict, cell: Any, linen_params: dict | None = None) -> Any:
    """Write rnnx params into an nnx cell (returned, updated in place), or return a new
    linen params dict shaped like ``linen_params`` for the linen module ``cell``.
    Flax has fewer biases than PyTorch: the parts it lacks must be zero."""
    import jax.numpy as jnp
    import numpy as np

    kind, ref = _linen_params(cell, linen_params) if linen_params is not None else _nnx_params(cell)
    hp = {k: host(v) for k, v in params.items()}
    layer = _layer(kind, cell, ref)
    try:
        check_layout(hp, layer, "to_flax")
    except ConversionError as e:
        raise ConversionError(f"{e} (the Flax cell is a {type(cell).__name__})") from None
    H = layer.hidden_size
    w_ih, w_hh, b_ih, b_hh = hp[W_IH].T, hp[W_HH].T, hp[B_IH], hp[B_HH]
    split = lambda a, n: np.split(a, n, axis=-1)  # noqa: E731
    name = type(cell).__name__

    def zero(what: str, a: Any) -> None:
        if np.any(a != 0):
            raise ConversionError(f"to_flax: {name} has no {what}; expected it to be zero in the rnnx params")

    if kind == "lstm":  # one bias: the sum, exact when one of the two is zero
        zero("bias_ih (its input kernels have no bias)", b_ih)
        b = b_hh
        if linen_params is None and name == "OptimizedLSTMCell":
            cell.dense_i.kernel[...] = jnp.asarray(w_ih)
            cell.dense_h.kernel[...] = jnp.asarray(w_hh)
            cell.dense_h.bias[...] = jnp.asarray(b)
            return cell
        names_i, names_h = ("ii", "if", "ig", "io"), ("hi", "hf", "hg", "ho")
        parts = dict(zip(names_i, split(w_ih, 4)))
        parts.update(zip(names_h, split(w_hh, 4)))
        biases = dict(zip(names_h, split(b, 4)))
    elif kind == "gru":
        if linen_params is None:
            zero("recurrent bias (nnx GRUCell's dense_h has none)", b_hh)
            cell.dense_i.kernel[...] = jnp.asarray(w_ih)
            cell.dense_h.kernel[...] = jnp.asarray(w_hh)
            cell.dense_i.bias[...] = jnp.asarray(b_ih)
            return cell
        zero("bias for the r, z rows of bias_hh (linen hr, hz have none)", b_hh[: 2 * H])
        parts = dict(zip(("ir", "iz", "in"), split(w_ih, 3)))
        parts.update(zip(("hr", "hz", "hn"), split(w_hh, 3)))
        biases = dict(zip(("ir", "iz", "in"), split(b_ih, 3)))
        biases["hn"] = b_hh[2 * H :]
    else:
        zero("recurrent bias", b_hh)
        if linen_params is None:
            cell.dense_i.kernel[...] = jnp.asarray(w_ih)
            cell.dense_h.kernel[...] = jnp.asarray(w_hh)
            cell.dense_i.bias[...] = jnp.asarray(b_ih)
            return cell
        parts, biases = {"i": w_ih, "h": w_hh}, {"i": b_ih}
    if linen_params is None:  # nnx LSTMCell
        for n, w in parts.items():
            getattr(cell, "if_" if n == "if" else n).kernel[...] = jnp.asarray(w)
        for n, bb in biases.items():
            getattr(cell, n).bias[...] = jnp.asarray(bb)
        return cell
    out = {n: {"kernel": jnp.asarray(w)} for n, w in parts.items()}
    for n, bb in biases.items():
        out[n]["bias"] = jnp.asarray(bb)
    return {"params": out} if "params" in linen_params else out
