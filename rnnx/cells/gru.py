r"""GRU cell, PyTorch's ``nn.GRU`` equations (gates r, z, n), Keras's ``reset_after=False``
form, and Keras's ``activation`` / ``recurrent_activation``.

.. math::
    r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}), \qquad
    z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz})

    n = \phi(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))   \quad (\mathtt{reset\_after})

    n = \phi(W_{in} x + b_{in} + W_{hn} (r \odot h) + b_{hn})   \quad (\mathtt{reset\_after=False})

    h' = (1 - z) \odot n + z \odot h

:math:`\sigma` is ``recurrent_activation`` (sigmoid), :math:`\phi` is ``activation`` (tanh).
Shapes: x (B, I), h (B, H), W_ih (3H, I), W_hh (3H, H), b_ih, b_hh (3H,).

The fused kernels (sigmoid and tanh) fold every additive bias into the hoisted projection
(reset-after: ``b_ih + [b_hr, b_hz, 0]``, ``b_hn`` stays in the step because r multiplies it;
reset-before: all of them) and take sigmoid' of r and z as one operation on [r, z].  The
reference kernels are the textbook steps with ``b_hh`` in the step.
"""

from __future__ import annotations

from typing import Any, Mapping

import array_api_compat as compat

from rnnx._xp import outer_sum, sigmoid, transposed
from rnnx.cells._common import fused_option, recurrent_grads, standard_shapes, use_fused
from rnnx.cells.activations import ACTIVATIONS, NAMES
from rnnx.cells.spec import CellSpec, Kernel, Option, boolean, one_of

__all__ = ["FUSED", "SPEC"]


def _covered(opts: Mapping[str, Any]) -> bool:
    return opts["activation"] == "tanh" and opts["recurrent_activation"] == "sigmoid"


def _prepare_back(p, *, xp):
    return (p["weight_hh"],)


def _rb_grads(da, extra, prev, saved, *, xp, bias):
    """reset-before: dW_hh rows r, z from ``da^T h_prev``, rows n from ``dn^T (r*h_prev)``;
    every bias is additive, so ``db_hh = sum da``.  da (N, 3H), prev[0] (N, H), saved[0]
    starts with [r, z] (N, 2H) (N: any leading axes, time and batch)."""
    h_prev = prev[0]
    H = h_prev.shape[-1]
    rh = saved[0][..., :H] * h_prev
    dw_rz, db_rz = outer_sum(da[..., : 2 * H], h_prev, xp=xp, bias=bias)
    dw_n, db_n = outer_sum(da[..., 2 * H :], rh, xp=xp, bias=bias)
    out = {"weight_hh": xp.concat([dw_rz, dw_n], axis=0)}
    if bias:
        out["bias_hh"] = xp.concat([db_rz, db_n], axis=0)
    return out


def _ra_grads(da_x, extra, prev, saved, *, xp, bias):
    return recurrent_grads(extra[0], prev[0], xp=xp, bias=bias)  # dW_hh = sum da_h^T h_prev


# -- fused, reset after (torch's) ---------------------------------------------------------------
def _prepare(p, *, xp, bias):
    w_hh_t = transposed(p["weight_hh"], xp=xp)
    if not bias:
        return None, (w_hh_t, None), None
    b_hh = p["bias_hh"]
    H = b_hh.shape[0] // 3
    zeros = xp.zeros((H,), dtype=b_hh.dtype, device=compat.device(b_hh))
    return p["bias_ih"] + xp.concat([b_hh[: 2 * H], zeros]), (w_hh_t, b_hh[2 * H :]), None


def _step(a_x, state, rec, *, xp, save=True):
    """One GRU step; returns ((h',), ([r, z], n, hn))."""
    (h,) = state
    w_hh_t, b_hn = rec
    H = h.shape[-1]
    a_h = h @ w_hh_t  # all three recurrent terms with one (B,H)x(H,3H) product
    rz = sigmoid(a_x[..., : 2 * H] + a_h[..., : 2 * H], xp=xp)
    hn = a_h[..., 2 * H :] if b_hn is None else a_h[..., 2 * H :] + b_hn
    n = xp.tanh(a_x[..., 2 * H :] + rz[..., :H] * hn)
    z = rz[..., H:]
    return (n + z * (h - n),), (rz, n, hn)


def _step_back(dstate, prev, new, saved, recb, *, xp):
    """Backward of :func:`_step`; returns (dh_prev,), da_x, (da_h,)."""
    (dh,), (h_prev,) = dstate, prev
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
    dh_prev = dhz + da_h @ recb[0]  # into h: directly through z*h, and through W_hh
    return (dh_prev,), da_x, (da_h,)


# -- fused, reset before (Keras reset_after=False, Cho et al. 2014) -------------------------------
def _prepare_rb(p, *, xp, bias):
    return (p["bias_ih"] + p["bias_hh"] if bias else None), (transposed(p["weight_hh"], xp=xp),), None


def _step_rb(a_x, state, rec, *, xp, save=True):
    """One reset-before GRU step; returns ((h',), ([r, z], n))."""
    (h,) = state
    (w_hh_t,) = rec
    H = h.shape[-1]
    rz = sigmoid(a_x[..., : 2 * H] + h @ w_hh_t[:, : 2 * H], xp=xp)
    n = xp.tanh(a_x[..., 2 * H :] + (rz[..., :H] * h) @ w_hh_t[:, 2 * H :])
    z = rz[..., H:]
    return (n + z * (h - n),), (rz, n)


def _step_back_rb(dstate, prev, new, saved, recb, *, xp):
    """Backward of :func:`_step_rb`; returns (dh_prev,), da, ()."""
    (dh,), (h_prev,) = dstate, prev
    rz, n = saved
    (w_hh,) = recb
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
    return (dh_prev,), da, ()


FUSED = Kernel("gru/fused", 3, _prepare, _prepare_back, _step, _step_back, _ra_grads, kept=1)
FUSED_RB = Kernel("gru/fused/reset_before", 3, _prepare_rb, _prepare_back, _step_rb, _step_back_rb, _rb_grads,
                  kept=1)


# -- reference: the textbook steps ------------------------------------------------------------
def _ref_prepare(p, *, xp, bias):
    return (p["bias_ih"] if bias else None), (transposed(p["weight_hh"], xp=xp), p["bias_hh"] if bias else None), None


def _reference(act: str, rec_act: str, reset_after: bool) -> Kernel:
    phi, back_phi = ACTIVATIONS[act]
    sig, back_sig = ACTIVATIONS[rec_act]

    def step(a_x, state, rec, *, xp, save=True):
        """Returns ((h',), (r, z, n, hn)) (reset after: hn = W_hn h + b_hn; before: r*h's
        product is formed in the step and hn is unused, kept for one saved layout)."""
        (h,) = state
        w_hh_t, b_hh = rec
        H = h.shape[-1]
        if reset_after:
            a_h = h @ w_hh_t  # [W_hr h, W_hz h, W_hn h]
            if b_hh is not None:
                a_h = a_h + b_hh
            r = sig(a_x[..., :H] + a_h[..., :H], xp=xp)
            z = sig(a_x[..., H : 2 * H] + a_h[..., H : 2 * H], xp=xp)
            hn = a_h[..., 2 * H :]
            n = phi(a_x[..., 2 * H :] + r * hn, xp=xp)
        else:
            a_rz = a_x[..., : 2 * H] + h @ w_hh_t[:, : 2 * H]
            a_n = a_x[..., 2 * H :]
            if b_hh is not None:
                a_rz, a_n = a_rz + b_hh[: 2 * H], a_n + b_hh[2 * H :]
            r, z = sig(a_rz[..., :H], xp=xp), sig(a_rz[..., H:], xp=xp)
            hn = r * h  # the recurrent input of n
            n = phi(a_n + hn @ w_hh_t[:, 2 * H :], xp=xp)
        return ((1.0 - z) * n + z * h,), (r, z, n, hn)

    def step_back(dstate, prev, new, saved, recb, *, xp):
        (dh,), (h_prev,) = dstate, prev
        r, z, n, hn = saved
        (w_hh,) = recb
        H = h_prev.shape[-1]
        dn = dh * (1.0 - z)  # h' = (1-z) n + z h: into n
        dz = dh * (h_prev - n)  # ... into z
        dan = back_phi(dn, n, xp=xp)  # through phi
        daz = back_sig(dz, z, xp=xp)  # through sigma
        if reset_after:
            dar = back_sig(dan * hn, r, xp=xp)  # a_n = a_xn + r hn: into r, through sigma
            da_h = xp.concat([dar, daz, dan * r], axis=-1)  # into h W_hh^T + b_hh (hn gets r dan)
            dh_prev = dh * z + da_h @ w_hh  # into h: through z h, and through W_hh
            return (dh_prev,), xp.concat([dar, daz, dan], axis=-1), (da_h,)
        drh = dan @ w_hh[2 * H :, :]  # a_n = ... + (r h) W_hn^T: into r h
        dar = back_sig(drh * h_prev, r, xp=xp)  # into r, through sigma
        da = xp.concat([dar, daz, dan], axis=-1)  # every pre-activation (all biases additive)
        dh_prev = dh * z + drh * r + da[..., : 2 * H] @ w_hh[: 2 * H, :]  # into h: via z h, r h, W_hr, W_hz
        return (dh_prev,), da, ()

    def grads_rb(da, extra, prev, saved, *, xp, bias):
        return _rb_grads(da, extra, prev, (xp.concat([saved[0], saved[1]], axis=-1),), xp=xp, bias=bias)

    name = f"gru/reference/{act},{rec_act}" + ("" if reset_after else "/reset_before")
    return Kernel(name, 3, _ref_prepare, _prepare_back, step, step_back, _ra_grads if reset_after else grads_rb, 1)


def _kernel(opts: Mapping[str, Any], hidden_size: int) -> Kernel:
    if use_fused(opts, _covered(opts)):
        return FUSED if opts["reset_after"] else FUSED_RB
    return _reference(opts["activation"], opts["recurrent_activation"], opts["reset_after"])


SPEC = CellSpec(
    name="gru", title="GRU", gates=("r", "z", "n"), state=("h",),
    options=(
        Option("reset_after", True, "True: r multiplies W_hn h + b_hn (torch, Keras' default); False: n takes "
               "W_hn (r*h) (Keras reset_after=False, Cho et al. 2014)", boolean, (True, False)),
        Option("activation", "tanh", "phi, of the candidate n (Keras activation=)", one_of(*NAMES), NAMES),
        Option("recurrent_activation", "sigmoid", "sigma, of the gates r and z (Keras recurrent_activation=)",
               one_of(*NAMES), NAMES),
        fused_option(_covered, "activation='tanh' with recurrent_activation='sigmoid'"),
    ),
    param_shapes=lambda opts, H, fan_in, bias: standard_shapes(3, H, fan_in, bias),
    output_size=lambda opts, H: H,
    state_sizes=lambda opts, H: (H,),
    kernel=_kernel,
    torch="GRU",
    torch_kwargs=lambda opts: {} if _covered(opts) and opts["reset_after"] else None,
    keras="GRU",
    flax=("GRUCell",),
    variants={"gru": {}, "gru_reset_before": {"reset_after": False}, "gru_reference": {"fused": False},
              "gru_reset_before_reference": {"reset_after": False, "fused": False},
              "gru_keras": {"activation": "sigmoid", "recurrent_activation": "hard_sigmoid"},
              # linear candidate, hard_sigmoid gates: z in [0, 1] keeps h' = (1-z) n + z h bounded (with
              # linear gates h grew to 5e14 over parity's T=30; a relu candidate's kinks near 0 cost
              # float32 2.3e-6 relative on a small y)
              "gru_reset_before_keras": {"reset_after": False, "activation": "linear",
                                         "recurrent_activation": "hard_sigmoid"}},
)
