r"""LSTM cell, PyTorch's ``nn.LSTM`` equations, gates in the order i, f, g, o.

.. math::
    [a_i, a_f, a_g, a_o] = W_{ih} x + b_{ih} + W_{hh} h + b_{hh}

    i = \sigma(a_i),\; f = \sigma(a_f),\; g = \tanh(a_g),\; o = \sigma(a_o)

    c' = f \odot c + i \odot g, \qquad h' = o \odot \tanh(c')

Shapes: x (B, I), h, c (B, H), W_ih (4H, I), W_hh (4H, H), b_ih, b_hh (4H,).

One nonlinearity serves all four gates.  With ``s_g = sigmoid(2 a_g)``, ``g = 2 s_g - 1``,
so ``s = sigmoid([a_i, a_f, 2 a_g, a_o])`` holds every gate.  The factors (and the 1/2 of
a tanh-made sigmoid, :func:`rnnx._xp.sigmoid_prescale`) are folded into the weight rows
before the loop (:func:`row_scale`, powers of two: exact), so each step takes one
(B,H)x(H,4H) product and one sigmoid (native on PyTorch, whose tanh is several times
slower) or one tanh (NumPy, JAX: ``s = (tanh + 1) / 2`` and ``g = t_g`` directly).
The term ``a_x = (x W_ih^T + b_ih + b_hh)`` arrives precomputed (and scaled) for every step.

Backward, with ``sigmoid' = s (1 - s)`` and ``tanh'(a_g) = 1 - g^2 = 4 s_g (1 - s_g)``:

    dc  += dh o (1 - tanh(c')^2)
    da   = [dc g i(1-i), dc c f(1-f), dc i (1-g^2), dh tanh(c') o(1-o)]
    dh_prev = da W_hh,   dc_prev = dc f

Everything in ``da`` but ``dc`` and ``dh`` is known in the forward step, so the forward saves
the products (the derivative of the step, a Jacobian diagonal per gate):

    P = [g, c, 4 i, tanh(c')] * (s - s s)   (B, 4H),   q = o (1 - tanh(c')^2)   (B, H),   f (B, H)

and the backward step is ``dc += dh q``; ``da = [dc, dc, dc, dh] * P``; one product; ``dc f``:
6 array operations instead of ~18 (eager NumPy and torch pay per operation at small sizes; XLA
fuses the forward's extra work into the step's existing passes).  Inference (``save=False``)
forms none of it.
"""

from __future__ import annotations

from typing import Any

from rnnx._xp import native_sigmoid, sigmoid_prescale


def split_bias(b_ih: Any, b_hh: Any, *, xp: Any) -> tuple[Any, None]:
    """Both biases add to the pre-activations: fold both into the hoisted projection."""
    return b_ih + b_hh, None


def row_scale(H: int, *, xp: Any, dtype: Any, device: Any) -> Any:
    """(4H,) factors on the pre-activation rows, forward only: c * [1, 1, 2, 1] per block,
    c = 1 with a native sigmoid, 1/2 where the step uses tanh."""
    c = sigmoid_prescale(xp)
    one = xp.full((H,), c, dtype=dtype, device=device)
    return xp.concat([one, one, xp.full((H,), 2.0 * c, dtype=dtype, device=device), one])


def _gates(z: Any, H: int, *, xp: Any) -> tuple[Any, Any]:
    """s (all four gates as sigmoids) and g from the row-scaled pre-activations z."""
    if native_sigmoid(xp):  # z = [a_i, a_f, 2 a_g, a_o]
        s = xp.sigmoid(z)
        s_g = s[..., 2 * H : 3 * H]
        return s, s_g + s_g - 1.0  # tanh(a) = 2 sigmoid(2a) - 1
    t = xp.tanh(z)  # z = [a_i, a_f, 2 a_g, a_o] / 2
    return 0.5 * t + 0.5, t[..., 2 * H : 3 * H]  # sigmoid(a) = (tanh(a/2) + 1) / 2; g = t_g


def step(a_x, state, w_hh_t, b_h, *, xp, save=True):
    """One LSTM step on row-scaled pre-activations; returns ((h', c'), (P, q, f)) (module
    docstring), or ((h', c'), ()) with ``save=False``."""
    h, c = state
    H = h.shape[-1]
    s, g = _gates(a_x + h @ w_hh_t, H, xp=xp)  # one (B,H)x(H,4H) product for all four gates
    i, f, o = s[..., :H], s[..., H : 2 * H], s[..., 3 * H :]
    c_new = f * c + i * g
    tc = xp.tanh(c_new)
    h_new = o * tc
    if not save:
        return (h_new, c_new), ()
    ds = s - s * s  # sigmoid' of every gate (the g block: tanh'(a_g) / 4)
    p = xp.concat([g, c, 4.0 * i, tc], axis=-1) * ds  # what dc (dc, dc, dc, dh) multiplies in da
    q = o - h_new * tc  # o (1 - tanh(c')^2): dh's way into c'
    return (h_new, c_new), (p, q, f)


def step_back(dstate, prev, new, saved, w_hh, *, xp):
    """Backward of :func:`step`; returns (dh_prev, dc_prev), da, da (unscaled rows)."""
    dh, dc = dstate
    p, q, f = saved
    dc = dc + dh * q  # h' = o tanh(c'): into c' through tanh
    da = xp.concat([dc, dc, dc, dh], axis=-1) * p  # through c' = f c + i g, h' = o tanh(c') and the gates
    return (da @ w_hh, dc * f), da, da  # into h through W_hh (all four gates at once); into c through f
