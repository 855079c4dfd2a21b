r"""Elman RNN cell, PyTorch's ``nn.RNN`` equations.

.. math::  h' = \mathrm{act}(W_{ih} x + b_{ih} + W_{hh} h + b_{hh}),
           \qquad \mathrm{act} \in \{\tanh, \mathrm{relu}\}

Shapes: x (B, I), h (B, H), W_ih (H, I), W_hh (H, H), b_ih, b_hh (H,).
The term ``a_x = x W_ih^T + b_ih + b_hh`` arrives precomputed for every step.
"""

from __future__ import annotations

from typing import Any


def split_bias(b_ih: Any, b_hh: Any, *, xp: Any) -> tuple[Any, None]:
    """Both biases add to the pre-activation: fold both into the hoisted projection."""
    return b_ih + b_hh, None


def step_tanh(a_x, state, w_hh_t, b_h, *, xp, save=True):
    """h' = tanh(a_x + h W_hh^T)."""
    (h,) = state
    return (xp.tanh(a_x + h @ w_hh_t),), ()


def step_relu(a_x, state, w_hh_t, b_h, *, xp, save=True):
    """h' = relu(a_x + h W_hh^T), with relu'(0) = 0 as in torch (also under autodiff)."""
    (h,) = state
    a = a_x + h @ w_hh_t
    return (xp.where(a > 0.0, a, 0.0),), ()


def step_back_tanh(dstate, prev, new, saved, w_hh, *, xp):
    """Backward of :func:`step_tanh`; returns (dh_prev,), da, da."""
    (dh,) = dstate
    (h_new,) = new
    da = dh - (dh * h_new) * h_new  # backprop through tanh: tanh'(a) = 1 - h'^2 (no scalar operand)
    return (da @ w_hh,), da, da  # backprop into h_prev through W_hh


def step_back_relu(dstate, prev, new, saved, w_hh, *, xp):
    """Backward of :func:`step_relu`; returns (dh_prev,), da, da."""
    (dh,) = dstate
    (h_new,) = new
    da = xp.where(h_new > 0.0, dh, 0.0)  # backprop through relu: 1 where a > 0, else 0
    return (da @ w_hh,), da, da  # backprop into h_prev through W_hh
