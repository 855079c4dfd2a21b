r"""LSTM cell, PyTorch's ``nn.LSTM`` equations, gates in the order i, f, g, o.

.. math::
    [a_i, a_f, a_g, a_o] = W_{ih} x + b_{ih} + W_{hh} h + b_{hh}

    i = \sigma(a_i),\; f = \sigma(a_f),\; g = \tanh(a_g),\; o = \sigma(a_o)

    c' = f \odot c + i \odot g, \qquad h' = o \odot \tanh(c')

Shapes: x (B, I), h, c (B, H), W_ih (4H, I), W_hh (4H, H), b_ih, b_hh (4H,).

One tanh serves all four gates: the rows of i, f, o are scaled by 1/2 before the loop
(:func:`row_scale`, exact in binary floating point), so the step sees
``[a_i/2, a_f/2, a_g, a_o/2]`` and ``t = tanh`` of it gives ``g = t_g`` and
``sigmoid(a) = (tanh(a/2) + 1) / 2`` for the others.  The term
``a_x = (x W_ih^T + b_ih + b_hh)`` arrives precomputed (and scaled) for every step.
Saved for backward per step: ``t`` (B, 4H) and tanh(c') (B, H).
"""

from __future__ import annotations

from typing import Any


def split_bias(b_ih: Any, b_hh: Any, *, xp: Any) -> tuple[Any, None]:
    """Both biases add to the pre-activations: fold both into the hoisted projection."""
    return b_ih + b_hh, None


def row_scale(H: int, *, xp: Any, dtype: Any, device: Any) -> Any:
    """(4H,) factors applied to the pre-activation rows in the forward: 1/2 for i, f, o."""
    half = xp.full((H,), 0.5, dtype=dtype, device=device)
    return xp.concat([half, half, xp.ones((H,), dtype=dtype, device=device), half])


def step(a_x, state, w_hh_t, b_h, *, xp):
    """One LSTM step on row-scaled pre-activations; returns ((h', c'), (t, tanh(c')))."""
    h, c = state
    H = h.shape[-1]
    t = xp.tanh(a_x + h @ w_hh_t)  # one (B,H)x(H,4H) product, one tanh for all four gates
    s = 0.5 * t + 0.5  # i, f, o = sigmoid(a) = (tanh(a/2) + 1) / 2; g = t_g
    c_new = s[..., H : 2 * H] * c + s[..., :H] * t[..., 2 * H : 3 * H]
    tc = xp.tanh(c_new)
    return (s[..., 3 * H :] * tc, c_new), (t, tc)


def step_back(dstate, prev, new, saved, w_hh, *, xp):
    """Backward of :func:`step`; returns (dh_prev, dc_prev), da, da."""
    dh, dc = dstate
    c_prev = prev[1]
    t, tc = saved
    H = tc.shape[-1]
    s = 0.5 * t + 0.5  # the gates again, from the saved tanh
    i, f, g, o = s[..., :H], s[..., H : 2 * H], t[..., 2 * H : 3 * H], s[..., 3 * H :]
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
