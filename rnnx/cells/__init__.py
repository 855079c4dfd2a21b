"""Recurrent cells as pure step functions, and the registry the layers look them up in.

A cell is four functions and two numbers (see :class:`Cell`).  The time loop in
:mod:`rnnx.loop` runs any of them; the layers in :mod:`rnnx.layers` hold configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rnnx.cells import gru, lstm, rnn

__all__ = ["Cell", "CELLS", "RNN_TANH", "RNN_RELU", "LSTM", "GRU", "GRU_RESET_BEFORE"]


@dataclass(frozen=True)
class Cell:
    """A recurrent cell, written as pure functions of arrays.

    name:
        Registry key (``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``).
    gates:
        G, the number of H-row blocks in ``weight_ih`` (G*H, I) and ``weight_hh`` (G*H, H).
    state_size:
        1 for a state ``(h,)``, 2 for ``(h, c)``.
    split_bias(b_ih, b_hh, *, xp) -> (b_x, b_h):
        ``b_x`` (G*H,) is added to the hoisted input projection ``x W_ih^T`` of all steps;
        ``b_h`` (or ``None``) is what must stay inside the step.
    step(a_x, state, w_hh_t, b_h, *, xp, save=True) -> (new_state, saved):
        One step forward.  ``a_x`` (B, G*H) is this step's input projection (biases
        folded in), ``w_hh_t`` (H, G*H) is ``weight_hh`` transposed once before the loop.
        ``saved`` is what the backward step needs besides the states; with ``save=False``
        (inference) a cell may skip forming it and return ``()``.
    step_back(dstate, prev, new, saved, w_hh, *, xp) -> (dprev, da_x, da_h):
        One step backward.  ``prev`` and ``new`` are the first ``kept_states`` components
        of the states before and after the step.  ``dstate`` is dL/d(new state); returns
        dL/d(previous state), dL/d(a_x) and dL/d(h W_hh^T + b_hh) (the same array where
        they are equal), from which the layer forms every weight gradient with one product
        after the loop.
    weight_hh_grad(da_h, h_prev, saved, *, xp) -> dW_hh, or None for ``da_h^T h_prev``:
        for cells whose recurrent product does not take ``h`` itself (reset-before GRU);
        arguments flattened over time and batch: (T*B, G*H), (T*B, H), saved (T*B, ...).
    kept_states:
        how many state components (from ``h``) the cache keeps per step for BPTT; ``None``
        keeps all.  ``h`` is always kept (``dW_hh`` needs ``h_prev``); the LSTM keeps only
        ``h``, its ``saved`` holds all that the backward reads of ``c``.
    row_scale(H, *, xp, dtype, device) -> (G*H,) or None:
        exact factors for the pre-activation rows in the forward only (LSTM: c*[1, 1, 2, 1]
        per block with c from :func:`rnnx._xp.sigmoid_prescale`, so one sigmoid, or one
        tanh, computes every gate); step_back returns unscaled gradients.
    """

    name: str
    gates: int
    state_size: int
    split_bias: Callable[..., tuple[Any, Any]]
    step: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]]
    step_back: Callable[..., tuple[tuple[Any, ...], Any, Any]]
    weight_hh_grad: Callable[..., Any] | None = None
    row_scale: Callable[..., Any] | None = None
    kept_states: int | None = None

    @property
    def kept(self) -> int:
        """The number of state components kept per step (:attr:`kept_states`)."""
        return self.state_size if self.kept_states is None else self.kept_states


RNN_TANH = Cell("rnn_tanh", 1, 1, rnn.split_bias, rnn.step_tanh, rnn.step_back_tanh)
RNN_RELU = Cell("rnn_relu", 1, 1, rnn.split_bias, rnn.step_relu, rnn.step_back_relu)
LSTM = Cell("lstm", 4, 2, lstm.split_bias, lstm.step, lstm.step_back, row_scale=lstm.row_scale, kept_states=1)
GRU = Cell("gru", 3, 1, gru.split_bias, gru.step, gru.step_back)
GRU_RESET_BEFORE = Cell("gru_reset_before", 3, 1, gru.split_bias_rb, gru.step_rb, gru.step_back_rb,
                        gru.weight_hh_grad_rb)

CELLS = {c.name: c for c in (RNN_TANH, RNN_RELU, LSTM, GRU, GRU_RESET_BEFORE)}
