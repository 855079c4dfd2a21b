r"""Elman RNN cell, PyTorch's ``nn.RNN`` equations, with Keras's activations.

.. math::  h' = \phi(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})

:math:`\phi` is ``nonlinearity``: torch's ``tanh`` or ``relu``, or any of Keras's
``sigmoid``, ``hard_sigmoid``, ``linear`` (:mod:`rnnx.cells.activations`).
Shapes: x (B, I), h (B, H), W_ih (H, I), W_hh (H, H), b_ih, b_hh (H,).

Two kernels: the fused one (tanh, relu) folds both biases into the hoisted projection
``a_x = x W_ih^T + b_ih + b_hh``; the reference one is the textbook step with ``b_hh`` in it.
"""

from __future__ import annotations

from typing import Any, Mapping

from rnnx._xp import transposed, where
from rnnx.cells._common import fused_option, recurrent_grads, standard_shapes, use_fused
from rnnx.cells.activations import ACTIVATIONS, NAMES
from rnnx.cells.spec import CellSpec, Kernel, Option, one_of

__all__ = ["FUSED", "SPEC"]

FUSED = ("tanh", "relu")


# -- fused: both biases in the hoisted projection, tanh / relu written out ---------------------
def _prepare(p, *, xp, bias):
    return (p["bias_ih"] + p["bias_hh"] if bias else None), (transposed(p["weight_hh"], xp=xp),), None


def _prepare_back(p, *, xp):
    return (p["weight_hh"],)


def _step_tanh(a_x, state, rec, *, xp, save=True):
    """h' = tanh(a_x + h W_hh^T)."""
    (h,) = state
    return (xp.tanh(a_x + h @ rec[0]),), ()


def _step_relu(a_x, state, rec, *, xp, save=True):
    """h' = relu(a_x + h W_hh^T), with relu'(0) = 0 as in torch (also under autodiff)."""
    (h,) = state
    a = a_x + h @ rec[0]
    return (where(a > 0.0, a, 0.0, xp=xp),), ()


def _back_tanh(dstate, prev, new, saved, recb, *, xp):
    (dh,), (h_new,) = dstate, new
    da = dh - (dh * h_new) * h_new  # backprop through tanh: tanh'(a) = 1 - h'^2 (no scalar operand)
    return (da @ recb[0],), da, ()  # backprop into h_prev through W_hh


def _back_relu(dstate, prev, new, saved, recb, *, xp):
    (dh,), (h_new,) = dstate, new
    da = where(h_new > 0.0, dh, 0.0, xp=xp)  # backprop through relu: 1 where a > 0, else 0
    return (da @ recb[0],), da, ()  # backprop into h_prev through W_hh


def _grads(da_x, extra, prev, saved, *, xp, bias):
    return recurrent_grads(da_x, prev[0], xp=xp, bias=bias)  # the pre-activation's gradient is da_x


# -- reference: the textbook step --------------------------------------------------------------
def _ref_prepare(p, *, xp, bias):
    return (p["bias_ih"] if bias else None), (transposed(p["weight_hh"], xp=xp), p["bias_hh"] if bias else None), None


def _reference(act: str) -> Kernel:
    f, back = ACTIVATIONS[act]

    def step(a_x, state, rec, *, xp, save=True):
        """h' = phi(a_x + h W_hh^T + b_hh)."""
        (h,) = state
        w_hh_t, b_hh = rec
        a = a_x + h @ w_hh_t  # pre-activation: input part (hoisted) + recurrent part
        if b_hh is not None:
            a = a + b_hh
        return (f(a, xp=xp),), ()

    def step_back(dstate, prev, new, saved, recb, *, xp):
        (dh,), (h_new,) = dstate, new
        da = back(dh, h_new, xp=xp)  # through phi, from its output
        return (da @ recb[0],), da, ()  # into h_prev through W_hh

    return Kernel(f"rnn/reference/{act}", 1, _ref_prepare, _prepare_back, step, step_back, _grads, 1)


def _kernel(opts: Mapping[str, Any], hidden_size: int) -> Kernel:
    act = opts["nonlinearity"]
    if use_fused(opts, act in FUSED):
        step, back = (_step_tanh, _back_tanh) if act == "tanh" else (_step_relu, _back_relu)
        return Kernel(f"rnn/fused/{act}", 1, _prepare, _prepare_back, step, back, _grads, 1)
    return _reference(act)


SPEC = CellSpec(
    name="rnn", title="RNN", gates=("h",), state=("h",),
    options=(
        Option("nonlinearity", "tanh", "the activation phi: torch's tanh or relu, or Keras's sigmoid, "
               "hard_sigmoid, linear", one_of(*NAMES), NAMES),
        fused_option(lambda opts: opts["nonlinearity"] in FUSED, "nonlinearity 'tanh' or 'relu'"),
    ),
    param_shapes=lambda opts, H, fan_in, bias: standard_shapes(1, H, fan_in, bias),
    output_size=lambda opts, H: H,
    state_sizes=lambda opts, H: (H,),
    kernel=_kernel,
    torch="RNN",
    torch_kwargs=lambda opts: {"nonlinearity": opts["nonlinearity"]} if opts["nonlinearity"] in FUSED else None,
    keras="SimpleRNN",
    flax=("SimpleCell",),
    variants={"rnn_tanh": {"nonlinearity": "tanh"}, "rnn_relu": {"nonlinearity": "relu"},
              "rnn_tanh_reference": {"nonlinearity": "tanh", "fused": False},
              "rnn_relu_reference": {"nonlinearity": "relu", "fused": False},
              "rnn_sigmoid": {"nonlinearity": "sigmoid"}, "rnn_hard_sigmoid": {"nonlinearity": "hard_sigmoid"},
              "rnn_linear": {"nonlinearity": "linear"}},
)
