r"""LSTM cell, PyTorch's ``nn.LSTM`` equations (gates i, f, g, o), its ``proj_size``, and
Keras's ``activation`` / ``recurrent_activation``.

.. math::
    [a_i, a_f, a_g, a_o] = W_{ih} x + b_{ih} + W_{hh} h + b_{hh}

    i = \sigma(a_i),\; f = \sigma(a_f),\; g = \phi(a_g),\; o = \sigma(a_o)

    c' = f \odot c + i \odot g, \qquad m = o \odot \phi(c'), \qquad
    h' = m \;(\text{or } m W_{hr}^T \text{ with } \mathtt{proj\_size} = P > 0)

:math:`\sigma` is ``recurrent_activation`` (sigmoid), :math:`\phi` is ``activation`` (tanh).
Shapes: x (B, I), h (B, R), c (B, H), W_ih (4H, I), W_hh (4H, R), b_ih, b_hh (4H,), W_hr (P, H);
R = P with a projection, else H.

Two kernels.  The reference one is the textbook step above.  The fused one (sigmoid and
tanh only, ``fused=None`` picks it there) takes one sigmoid of all four gates' rows,
``s = sigmoid([a_i, a_f, 2 a_g, a_o])``, and ``g = tanh(a_g)`` of the g rows halved; the g
block of ``s``, ``s_g = sigmoid(2 a_g)``, gives ``tanh'(a_g) = 4 s_g (1 - s_g)`` for the
backward.  (g is not formed as ``2 s_g - 1``: that equals tanh(a_g) but is exact only to
float32's absolute precision near g = 0, not its relative one, and tripled the LSTM's
float32 output error at H = 256: docs/parity.md, ``bench/float32_error.py``.)  The factors
are folded into the weight rows before the loop (powers of two: exact), negated where the
backend has no native sigmoid (``s = 1 / (1 + exp(z))`` with ``z = -[...]``, accurate in the
negative tail, :func:`rnnx._xp.sigmoid_of_negated`).  Its backward, with
``sigmoid' = s (1 - s)`` and ``tanh'(a_g) = 1 - g^2 = 4 s_g (1 - s_g)``:

    dm   = dh  (or dh W_hr)
    dc  += dm o (1 - tanh(c')^2)
    da   = [dc g i(1-i), dc c f(1-f), dc i (1-g^2), dm tanh(c') o(1-o)]
    dh_prev = da W_hh,   dc_prev = dc f,   dW_hr = sum dh^T m

Everything in ``da`` but ``dc`` and ``dm`` is known in the forward step, so the forward saves
the products ``P = [g, c, 4 i, tanh(c')] * (s - s s)`` (B, 4H), ``q = o (1 - tanh(c')^2)``
(B, H) and f (and m with a projection): the backward step is ``dc += dm q``;
``da = [dc, dc, dc, dm] * P``; one product; ``dc f``: 6 array operations instead of ~18
(docs/performance.md has what that gained).  The cache keeps h only; c lives on in P.
"""

from __future__ import annotations

from typing import Any, Mapping

from rnnx._xp import native_sigmoid, outer_sum, sigmoid_of_negated, transposed
from rnnx.cells._common import fused_option, recurrent_grads, standard_shapes, use_fused
from rnnx.cells.activations import ACTIVATIONS, NAMES
from rnnx.cells.spec import CellSpec, Kernel, Option, one_of, positive_int

__all__ = ["FUSED", "SPEC"]


def _covered(opts: Mapping[str, Any]) -> bool:
    return opts["activation"] == "tanh" and opts["recurrent_activation"] == "sigmoid"


def _proj_grad(grads: dict, extra, saved, *, xp) -> dict:
    """dW_hr = sum_t dh_t^T m_t, where h = m W_hr^T (one product after the loop)."""
    if extra:
        grads["weight_hr"] = outer_sum(extra[0], saved[-1], xp=xp, bias=False)[0]
    return grads


# -- fused ---------------------------------------------------------------------------------------
def _scale(H: int, *, xp: Any, dtype: Any, device: Any) -> Any:
    """(4H,) row factors c * [1, 1, 2, 1]: c = 1 with a native sigmoid, -1 without (the
    step then takes ``1 / (1 + exp(z))`` of the negated rows)."""
    c = 1.0 if native_sigmoid(xp) is not None else -1.0
    one = xp.full((H,), c, dtype=dtype, device=device)
    return xp.concat([one, one, xp.full((H,), 2.0 * c, dtype=dtype, device=device), one])


def _prepare(p, *, xp, bias):
    import array_api_compat as compat

    w_hh = p["weight_hh"]
    sc = _scale(w_hh.shape[0] // 4, xp=xp, dtype=w_hh.dtype, device=compat.device(w_hh))
    b_x = (p["bias_ih"] + p["bias_hh"]) * sc if bias else None
    w_hr = p.get("weight_hr")
    rec = (transposed(w_hh * xp.expand_dims(sc, axis=1), xp=xp), None if w_hr is None else transposed(w_hr, xp=xp))
    return b_x, rec, sc


def _prepare_back(p, *, xp):
    return p["weight_hh"], p.get("weight_hr")


def _step(a_x, state, rec, *, xp, save=True):
    """One step on row-scaled pre-activations; returns ((h', c'), (P, q, f[, m]))."""
    h, c = state
    w_hh_t, w_hr_t = rec
    H = c.shape[-1]
    z = a_x + h @ w_hh_t  # one (B,R)x(R,4H) product for all four gates
    native = native_sigmoid(xp)
    s = native(z) if native is not None else sigmoid_of_negated(z, xp=xp)
    i, f, o = s[..., :H], s[..., H : 2 * H], s[..., 3 * H :]
    # g = tanh(a_g) from the g rows (2 a_g, or -2 a_g negated; halving is exact), not
    # 2 sigmoid(2 a_g) - 1 (module docstring); s's g block, sigmoid(2 a_g), serves tanh'(a_g)
    g = xp.tanh(z[..., 2 * H : 3 * H] * (0.5 if native is not None else -0.5))
    c_new = f * c + i * g
    tc = xp.tanh(c_new)
    m = o * tc
    h_new = m if w_hr_t is None else m @ w_hr_t
    if not save:
        return (h_new, c_new), ()
    ds = s - s * s  # sigmoid' of every gate (the g block: tanh'(a_g) / 4)
    p = xp.concat([g, c, 4.0 * i, tc], axis=-1) * ds  # what dc (dc, dc, dc, dm) multiplies in da
    q = o - m * tc  # o (1 - tanh(c')^2): dm's way into c'
    return (h_new, c_new), ((p, q, f) if w_hr_t is None else (p, q, f, m))


def _step_back(dstate, prev, new, saved, recb, *, xp):
    """Backward of :func:`_step`; returns (dh_prev, dc_prev), da (unscaled rows), (dh,) with a
    projection."""
    dh, dc = dstate
    w_hh, w_hr = recb
    p, q, f = saved[:3]
    dm = dh if w_hr is None else dh @ w_hr  # h' = m W_hr^T: into m
    dc = dc + dm * q  # m = o tanh(c'): into c' through tanh
    da = xp.concat([dc, dc, dc, dm], axis=-1) * p  # through c' = f c + i g, m = o tanh(c') and the gates
    return (da @ w_hh, dc * f), da, (() if w_hr is None else (dh,))  # into h through W_hh; into c through f


def _grads(da_x, extra, prev, saved, *, xp, bias):
    return _proj_grad(recurrent_grads(da_x, prev[0], xp=xp, bias=bias), extra, saved, xp=xp)


FUSED = Kernel("lstm/fused", 4, _prepare, _prepare_back, _step, _step_back, _grads, kept=1)


# -- reference: the textbook step ------------------------------------------------------------
def _ref_prepare(p, *, xp, bias):
    w_hr = p.get("weight_hr")
    rec = (transposed(p["weight_hh"], xp=xp), p["bias_hh"] if bias else None,
           None if w_hr is None else transposed(w_hr, xp=xp))
    return (p["bias_ih"] if bias else None), rec, None


def _reference(act: str, rec_act: str) -> Kernel:
    phi, back_phi = ACTIVATIONS[act]
    sig, back_sig = ACTIVATIONS[rec_act]

    def step(a_x, state, rec, *, xp, save=True):
        """Returns ((h', c'), (i, f, g, o, phi(c')[, m]))."""
        h, c = state
        w_hh_t, b_hh, w_hr_t = rec
        H = c.shape[-1]
        a = a_x + h @ w_hh_t  # [a_i, a_f, a_g, a_o]: input part (hoisted) + recurrent part
        if b_hh is not None:
            a = a + b_hh
        i, f = sig(a[..., :H], xp=xp), sig(a[..., H : 2 * H], xp=xp)
        g, o = phi(a[..., 2 * H : 3 * H], xp=xp), sig(a[..., 3 * H :], xp=xp)
        c_new = f * c + i * g
        tc = phi(c_new, xp=xp)
        m = o * tc
        h_new = m if w_hr_t is None else m @ w_hr_t
        return (h_new, c_new), ((i, f, g, o, tc) if w_hr_t is None else (i, f, g, o, tc, m))

    def step_back(dstate, prev, new, saved, recb, *, xp):
        dh, dc = dstate
        c_prev = prev[1]
        i, f, g, o, tc = saved[:5]
        w_hh, w_hr = recb
        dm = dh if w_hr is None else dh @ w_hr  # h' = m W_hr^T: into m through the projection
        do = dm * tc  # m = o phi(c'): into o
        dc = dc + back_phi(dm * o, tc, xp=xp)  # ... and into c' through phi
        di, dg, df = dc * g, dc * i, dc * c_prev  # c' = f c + i g: into i, g and f
        da = xp.concat([back_sig(di, i, xp=xp), back_sig(df, f, xp=xp),  # through each gate's activation
                        back_phi(dg, g, xp=xp), back_sig(do, o, xp=xp)], axis=-1)
        return (da @ w_hh, dc * f), da, (() if w_hr is None else (dh,))  # into h through W_hh, c through f

    return Kernel(f"lstm/reference/{act},{rec_act}", 4, _ref_prepare, _prepare_back, step, step_back, _grads, kept=2)


def _kernel(opts: Mapping[str, Any], hidden_size: int) -> Kernel:
    if use_fused(opts, _covered(opts)):
        return FUSED
    return _reference(opts["activation"], opts["recurrent_activation"])


def _check_proj(name, v, opts, hidden_size):
    positive_int(name, v, allow_zero=True)
    if v >= hidden_size:
        raise ValueError(f"{name}: expected 0 <= proj_size < hidden_size={hidden_size} (torch's rule), got {v}")


def _shapes(opts, H, fan_in, bias):
    P = opts["proj_size"]
    out = standard_shapes(4, H, fan_in, bias, rec_in=P or H)
    if P:
        out["weight_hr"] = (P, H)
    return out


def _torch_kwargs(opts):
    if not _covered(opts):
        return None
    return {"proj_size": opts["proj_size"]} if opts["proj_size"] else {}


SPEC = CellSpec(
    name="lstm", title="LSTM", gates=("i", "f", "g", "o"), state=("h", "c"),
    options=(
        Option("proj_size", 0, "P > 0: h = (o * phi(c)) W_hr^T of size P, as torch's nn.LSTM(proj_size=P)",
               _check_proj),
        Option("activation", "tanh", "phi, of the candidate g and of the cell state (Keras activation=)",
               one_of(*NAMES), NAMES),
        Option("recurrent_activation", "sigmoid", "sigma, of the gates i, f, o (Keras recurrent_activation=)",
               one_of(*NAMES), NAMES),
        fused_option(_covered, "activation='tanh' with recurrent_activation='sigmoid'"),
    ),
    param_shapes=_shapes,
    output_size=lambda opts, H: opts["proj_size"] or H,
    state_sizes=lambda opts, H: (opts["proj_size"] or H, H),
    kernel=_kernel,
    torch="LSTM",
    torch_kwargs=_torch_kwargs,
    keras="LSTM",
    flax=("LSTMCell", "OptimizedLSTMCell"),
    variants={"lstm": {}, "lstm_reference": {"fused": False}, "lstm_proj": {"proj_size": 2},
              "lstm_proj_reference": {"proj_size": 2, "fused": False},
              "lstm_keras": {"activation": "sigmoid", "recurrent_activation": "hard_sigmoid"},
              # gates in [-1, 1]: linear or relu gates are unbounded (|y| 2e18 within T=4 in the tests);
              # a relu activation's kinks at c = 0 cost float32 3e-5 relative in dW_hh (relu is
              # checked in float64: tests/test_cell_features.py, tests/test_interop.py)
              "lstm_linear_tanh": {"activation": "linear", "recurrent_activation": "tanh"}},
)
