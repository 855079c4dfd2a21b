r"""GRU cell, PyTorch's ``nn.GRU`` equations, gates in the order r, z, n.

.. math::
    r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr})

    z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz})

    n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))

    h' = (1 - z) \odot n + z \odot h

Shapes: x (B, I), h (B, H), W_ih (3H, I), W_hh (3H, H), b_ih, b_hh (3H,).
The term ``a_x = x W_ih^T + b_ih + [b_hr, b_hz, 0]`` arrives precomputed for every step;
``b_hn`` stays in the step because r multiplies it.
Saved for backward per step: [r, z] (B, 2H), n and ``W_hn h + b_hn`` (B, H each).
"""

from __future__ import annotations

from typing import Any

import array_api_compat as compat

from rnnx._xp import outer_sum, sigmoid


def split_bias(b_ih: Any, b_hh: Any, *, xp: Any) -> tuple[Any, Any]:
    """Fold b_hr, b_hz into the hoisted projection; keep b_hn for the step."""
    H = b_hh.shape[0] // 3
    zeros = xp.zeros((H,), dtype=b_hh.dtype, device=compat.device(b_hh))
    return b_ih + xp.concat([b_hh[: 2 * H], zeros]), b_hh[2 * H :]


def step(a_x, state, w_hh_t, b_h, *, xp, save=True):
    """One GRU step; returns ((h',), ([r, z], n, hn))."""
    (h,) = state
    H = h.shape[-1]
    a_h = h @ w_hh_t  # all three recurrent terms with one (B,H)x(H,3H) product
    rz = sigmoid(a_x[..., : 2 * H] + a_h[..., : 2 * H], xp=xp)
    hn = a_h[..., 2 * H :] if b_h is None else a_h[..., 2 * H :] + b_h
    n = xp.tanh(a_x[..., 2 * H :] + rz[..., :H] * hn)
    z = rz[..., H:]
    return (n + z * (h - n),), (rz, n, hn)


def step_back(dstate, prev, new, saved, w_hh, *, xp):
    """Backward of :func:`step`; returns (dh_prev,), da_x, da_h."""
    (dh,) = dstate
    (h_prev,) = prev
    rz, n, hn = saved
    H = hn.shape[-1]
    r, z = rz[..., :H], rz[..., H:]
    dhz = dh * z
    dn = dh - dhz  # h' = (1-z) n + z h: into n
    dan = dn - (dn * n) * n  # through tanh: 1 - n^2
    ds = rz - rz * rz  # sigmoid' of r and z at once: [r(1-r), z(1-z)]
    dar = (dan * hn) * ds[..., :H]  # a_n = a_xn + r*hn: into r, through sigmoid
    daz = (dh * (h_prev - n)) * ds[..., H:]  # into z, through sigmoid
    da_x = xp.concat([dar, daz, dan], axis=-1)  # into the input projection
    da_h = xp.concat([dar, daz, dan * r], axis=-1)  # into h W_hh^T + b_hh (hn gets r*dan)
    dh_prev = dhz + da_h @ w_hh  # into h: directly through z*h, and through W_hh
    return (dh_prev,), da_x, da_h


# --- reset before the recurrent product (Keras reset_after=False, Cho et al. 2014) ------------
r"""
.. math::
    n = \tanh(W_{in} x + b_{in} + W_{hn} (r \odot h) + b_{hn})

Every bias is additive here, so all of them fold into the hoisted projection.  Per step:
one (B,H)x(H,2H) product for r, z and one (B,H)x(H,H) product of ``r*h`` for n; the n rows
of ``dW_hh`` are ``sum dn^T (r*h_prev)``, formed after the loop by :func:`weight_hh_grad_rb`.
Saved per step: [r, z] (B, 2H) and n (B, H).
"""


def split_bias_rb(b_ih: Any, b_hh: Any, *, xp: Any) -> tuple[Any, None]:
    """Every bias adds to a pre-activation: fold both into the hoisted projection."""
    return b_ih + b_hh, None


def step_rb(a_x, state, w_hh_t, b_h, *, xp, save=True):
    """One reset-before GRU step; returns ((h',), ([r, z], n))."""
    (h,) = state
    H = h.shape[-1]
    rz = sigmoid(a_x[..., : 2 * H] + h @ w_hh_t[:, : 2 * H], xp=xp)
    n = xp.tanh(a_x[..., 2 * H :] + (rz[..., :H] * h) @ w_hh_t[:, 2 * H :])
    z = rz[..., H:]
    return (n + z * (h - n),), (rz, n)


def step_back_rb(dstate, prev, new, saved, w_hh, *, xp):
    """Backward of :func:`step_rb`; returns (dh_prev,), da, da."""
    (dh,) = dstate
    (h_prev,) = prev
    rz, n = saved
    H = h_prev.shape[-1]
    r, z = rz[..., :H], rz[..., H:]
    dhz = dh * z
    dn = dh - dhz  # h' = (1-z) n + z h: into n
    dan = dn - (dn * n) * n  # through tanh: 1 - n^2
    drh = dan @ w_hh[2 * H :, :]  # a_n = a_xn + (r*h) W_hn^T: into r*h
    ds = rz - rz * rz  # sigmoid' of r and z at once: [r(1-r), z(1-z)]
    dar = (drh * h_prev) * ds[..., :H]  # into r, through sigmoid
    daz = (dh * (h_prev - n)) * ds[..., H:]  # into z, through sigmoid
    da = xp.concat([dar, daz, dan], axis=-1)  # into every pre-activation (all biases additive)
    dh_prev = dhz + drh * r + da[..., : 2 * H] @ w_hh[: 2 * H, :]  # into h: via z*h, r*h and W_hr, W_hz
    return (dh_prev,), da, da


def weight_hh_grad_rb(da_h, h_prev, saved, *, xp):
    """dW_hh after the loop: rows r, z from ``da^T h_prev``, rows n from ``dn^T (r*h_prev)``.

    da_h (T*B, 3H), h_prev (T*B, H), saved[0] = [r, z] (T*B, 2H)."""
    H = h_prev.shape[-1]
    rh = saved[0][:, :H] * h_prev
    return xp.concat([outer_sum(da_h[:, : 2 * H], h_prev, xp=xp)[0],
                      outer_sum(da_h[:, 2 * H :], rh, xp=xp)[0]], axis=0)
