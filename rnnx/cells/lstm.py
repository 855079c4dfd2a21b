r"""LSTM cell, PyTorch's ``nn.LSTM`` equations, gates in the order i, f, g, o.

.. math::
    [a_i, a_f, a_g, a_o] = W_{ih} x + b_{ih} + W_{hh} h + b_{hh}

    i = \sigma(a_i),\; f = \sigma(a_f),\; g = \tanh(a_g),\; o = \sigma(a_o)

    c' = f \odot c + i \odot g, \qquad h' = o \odot \tanh(c')

Shapes: x (B, I), h, c (B, H), W_ih (4H, I), W_hh (4H, H), b_ih, b_hh (4H,).
The term ``a_x = x W_ih^T + b_ih + b_hh`` arrives precomputed for every step.
Saved for backward per step: the four activated gates (B, 4H) and tanh(c') (B, H).
"""

from __future__ import annotations

from typing import Any

from rnnx._xp import sigmoid


def split_bias(b_ih: Any, b_hh: Any, *, xp: Any) -> tuple[Any, None]:
    """Both biases add to the pre-activations: fold both into the hoisted projection."""
    return b_ih + b_hh, None


def step(a_x, state, w_hh_t, b_h, *, xp):
    """One LSTM step; returns ((h', c'), (gates, tanh(c')))."""
    h, c = state
    H = h.shape[-1]
    a = a_x + h @ w_hh_t  # all four pre-activations with one (B,H)x(H,4H) product
    s_if = sigmoid(a[..., : 2 * H], xp=xp)
    g = xp.tanh(a[..., 2 * H : 3 * H])
    o = sigmoid(a[..., 3 * H :], xp=xp)
    c_new = s_if[..., H:] * c + s_if[..., :H] * g
    tc = xp.tanh(c_new)
    return (o * tc, c_new), (xp.concat([s_if, g, o], axis=-1), tc)


def step_back(dstate, prev, new, saved, w_hh, *, xp):
    """Backward of :func:`step`; returns (dh_prev, dc_prev), da, da."""
    dh, dc = dstate
    c_prev = prev[1]
    gates, tc = saved
    H = tc.shape[-1]
    i, f = gates[..., :H], gates[..., H : 2 * H]
    g, o = gates[..., 2 * H : 3 * H], gates[..., 3 * H :]
    do = dh * tc  # h' = o * tanh(c'): into o
    dc = dc + dh * o * (1.0 - tc * tc)  # ... and into c' through tanh
    da = xp.concat(
        [
            (dc * g) * i * (1.0 - i),  # c' = f c + i g: into i, then through sigmoid
            (dc * c_prev) * f * (1.0 - f),  # into f, then through sigmoid
            (dc * i) * (1.0 - g * g),  # into g, then through tanh
            do * o * (1.0 - o),  # o through sigmoid
        ],
        axis=-1,
    )
    dh_prev = da @ w_hh  # into h through W_hh (all four gates at once)
    dc_prev = dc * f  # into c through the forget gate
    return (dh_prev, dc_prev), da, da
