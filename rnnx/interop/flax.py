"""Flax: ``flax.nnx`` ``LSTMCell``, ``OptimizedLSTMCell``, ``GRUCell``, ``SimpleCell`` (an
``nnx.RNN`` of one too) and linen's cells by their params dict.

Flax kernels are (in, out), transposed with respect to PyTorch.  Where the two APIs differ:

* nnx ``LSTMCell``: ``ii, if_, ig, io`` (no bias) and ``hi, hf, hg, ho`` (with bias);
  nnx ``OptimizedLSTMCell``: ``dense_i`` (I, 4H) and ``dense_h`` (H, 4H, bias), gates i,f,g,o;
  linen ``LSTMCell`` / ``OptimizedLSTMCell``: params ``ii, if, ig, io, hi, hf, hg, ho``.
* nnx ``GRUCell``: ``dense_i`` (I, 3H, bias) and ``dense_h`` (H, 3H, no bias): b_hn = 0;
  linen ``GRUCell``: ``ir, iz, in`` (bias), ``hr, hz`` (no bias), ``hn`` (bias).
* nnx ``SimpleCell``: ``dense_i`` (bias), ``dense_h`` (no bias); linen: ``i`` (bias), ``h``.
"""

from __future__ import annotations

from typing import Any

from rnnx.interop._common import ConversionError, check_layout, host, layer_for, to_xp

W_IH, W_HH, B_IH, B_HH = "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"
_LINEN = {
    "LSTMCell": "lstm", "OptimizedLSTMCell": "lstm", "GRUCell": "gru", "SimpleCell": "rnn",
}


def _fn(fn: Any) -> str:
    return getattr(fn, "__name__", str(fn))


def _check_fns(cell: Any, kind: str) -> str:
    """Gate/activation functions must be the defaults rnnx implements."""
    act = _fn(getattr(cell, "activation_fn", None))
    if kind == "rnn":
        if act not in ("tanh", "relu"):
            raise ConversionError(f"from_flax: SimpleCell activation_fn={act!r} is not supported; expected tanh or relu")
        if getattr(cell, "residual", False):
            raise ConversionError("from_flax: SimpleCell(residual=True) is not supported; expected residual=False")
        return act
    if act != "tanh":
        raise ConversionError(f"from_flax: {type(cell).__name__} activation_fn={act!r} is not supported; expected tanh")
    gate = _fn(getattr(cell, "gate_fn", None))
    if gate != "sigmoid":
        raise ConversionError(f"from_flax: {type(cell).__name__} gate_fn={gate!r} is not supported; expected sigmoid")
    return "tanh"


def _nnx_params(cell: Any) -> tuple[str, dict]:
    import numpy as np

    kind_name = type(cell).__name__
    kind = _LINEN.get(kind_name)
    if kind is None:
        raise ConversionError(f"from_flax: {kind_name} is not supported; expected nnx LSTMCell, OptimizedLSTMCell, "
                              "GRUCell or SimpleCell")
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
    kind = _LINEN.get(kind_name)
    if kind is None:
        raise ConversionError(f"from_flax: linen {kind_name} is not supported; expected LSTMCell, "
                              "OptimizedLSTMCell, GRUCell or SimpleCell")
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
    ``(layer, params)`` (a one-layer, unidirectional, batch-first rnnx layer)."""
    if params is None:
        if type(cell).__name__ == "RNN" and hasattr(cell, "cell"):
            cell = cell.cell
        kind, p = _nnx_params(cell)
    else:
        kind, p = _linen_params(cell, params)
    act = _check_fns(cell, kind)
    hidden, n_in = p[W_HH].shape[1], p[W_IH].shape[1]
    layer = layer_for(kind, n_in, hidden, batch_first=True, nonlinearity=act)
    check_layout(p, layer, "from_flax")
    return layer, to_xp(p, xp, dtype, device)


def to_flax(params: dict, cell: Any, linen_params: dict | None = None) -> Any:
    """Write rnnx params into an nnx cell (returned, updated in place), or return a new
    linen params dict shaped like ``linen_params`` for the linen module ``cell``.
    Flax has fewer biases than PyTorch: the parts it lacks must be zero."""
    import jax.numpy as jnp
    import numpy as np

    kind, ref = _linen_params(cell, linen_params) if linen_params is not None else _nnx_params(cell)
    hp = {k: host(v) for k, v in params.items()}
    layer = layer_for(kind, ref[W_IH].shape[1], ref[W_HH].shape[1], batch_first=True,
                      nonlinearity=_check_fns(cell, kind))
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
