r"""Diagnostics of a recurrent network's gradients and gates (docs/diagnostics.md).

* :class:`~rnnx.layers.GradientFlow`: the per-step gradient flow ||dL/dh_t||, ||dL/dc_t||,
  ||dL/dx_t||, collected by the explicit backward pass
  (``layer.backward(..., collect="norms")``, ``Model.loss_and_grad(..., collect=...)``).
* :func:`gate_saturation`: per gate type, layer, direction and step, the fraction of
  saturated gate activations, and the dead units of ReLU gates.

Saturation is a property of the gate's activation (where its derivative all but vanishes):

    sigmoid       y < 0.01 or y > 0.99
    tanh          |y| > 0.99
    hard_sigmoid  y <= 0 or y >= 1        (flat: derivative 0)
    relu          y <= 0                  (inactive; a unit inactive at every valid step of
                                           every sequence is *dead*)
    linear        never: the gate is left out of the result
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnx._xp import namespace
from rnnx.layers import GradientFlow, Recurrent, layer_from_config

__all__ = ["GradientFlow", "GateStats", "gate_saturation", "SATURATION"]

#: The saturation rule of each activation, as text (the module docstring has them all).
SATURATION = {"sigmoid": "y < 0.01 or y > 0.99", "tanh": "|y| > 0.99", "hard_sigmoid": "y <= 0 or y >= 1",
              "relu": "y <= 0"}


def _saturated(y: Any, activation: str, *, xp: Any) -> Any:
    """Boolean array: where ``y`` (an activation's output) is saturated (:data:`SATURATION`)."""
    if activation == "sigmoid":
        return (y < 0.01) | (y > 0.99)
    if activation == "tanh":
        return xp.abs(y) > 0.99
    if activation == "hard_sigmoid":
        return (y <= 0.0) | (y >= 1.0)
    return y <= 0.0  # relu


@dataclass(frozen=True)
class GateStats:
    """What :func:`gate_saturation` measured, for an L-layer, D-direction network.

    ``saturated[gate]`` (L, D, T): the fraction of (sequence, unit) pairs at step t whose
    gate activation is saturated, over the valid sequences (t < length); NaN at a step no
    sequence reaches.  ``dead[gate]`` (L, D, H) bool, for ReLU gates only: the unit is
    inactive (y <= 0) at every valid step of every sequence.  ``rule[gate]``: the
    saturation rule applied (:data:`SATURATION`).  Gates of a linear activation, which
    never saturates, are absent.  Directions are indexed in forward time.
    """

    saturated: dict
    dead: dict
    rule: dict


def _gate_activations(spec_name: str, options: dict) -> dict[str, str]:
    """Each gate's activation, in the order the reference kernel saves them."""
    if spec_name == "rnn":
        return {"h": options["nonlinearity"]}
    act, rec = options["activation"], options["recurrent_activation"]
    if spec_name == "lstm":
        return {"i": rec, "f": rec, "g": act, "o": rec}
    return {"r": rec, "z": rec, "n": act}


def gate_saturation(model_or_layer: Any, params: dict, x: Any, state0: Any = None, *,
                    lengths: Any = None) -> GateStats:
    """Gate statistics of ``model_or_layer`` (a :class:`~rnnx.model.Model` or a recurrent
    layer) on ``x`` (its usual layout), from the forward cache of the same network with the
    reference (textbook) kernel, whose cache holds every gate's activation per step
    (LSTM i, f, g, o; GRU r, z, n; RNN h = phi(a)); inference mode (no dropout).

    ``params``: the model's or the layer's (the head's keys are ignored).  Returns a
    :class:`GateStats`; memory: one forward cache (O(T*B*G*H) per layer and direction).
    """
    layer = getattr(model_or_layer, "layer", model_or_layer)
    if not isinstance(layer, Recurrent):
        raise TypeError(f"model_or_layer: expected an rnnx Model or recurrent layer, got "
                        f"{type(model_or_layer).__name__}")
    if not hasattr(params, "items"):
        raise TypeError(f"params: expected a dict of arrays, got {type(params).__name__}")
    ref = layer_from_config({**layer.config(), "fused": False})
    lp = {k: params[k] for k in layer.param_shapes() if k in params}  # a missing key: forward's error
    _, _, cache = ref.forward(lp, x, state0, lengths=lengths)
    xp = namespace(x=x)
    mask = cache.data["mask"]  # (T, B, 1) bool or None
    acts = {g: a for g, a in _gate_activations(layer.spec.name, layer.options).items() if a != "linear"}
    saturated: dict[str, list] = {g: [] for g in acts}
    dead: dict[str, list] = {g: [] for g in acts if acts[g] == "relu"}
    for lay in cache.data["layers"]:
        per_dir: dict[str, list] = {g: [] for g in acts}
        dead_dir: dict[str, list] = {g: [] for g in dead}
        for d in lay["dirs"]:
            ys = (d["states"][0],) if layer.spec.name == "rnn" else d["saved"]
            for j, (gate, act) in enumerate(_gate_activations(layer.spec.name, layer.options).items()):
                if act == "linear":
                    continue
                y = ys[j]  # (T, B, H)
                sat = xp.astype(_saturated(y, act, xp=xp), y.dtype)
                if mask is None:
                    per_dir[gate].append(xp.mean(sat, axis=(1, 2)))
                else:
                    valid = xp.astype(mask, y.dtype)  # (T, B, 1)
                    n = xp.sum(valid, axis=(1, 2)) * y.shape[-1]
                    frac = xp.sum(sat * valid, axis=(1, 2)) / xp.where(n > 0.0, n, 1.0)
                    per_dir[gate].append(xp.where(n > 0.0, frac, xp.nan))  # NaN: no sequence reaches step t
                if gate in dead_dir:
                    active = y > 0.0 if mask is None else (y > 0.0) & mask
                    dead_dir[gate].append(xp.logical_not(xp.any(active, axis=(0, 1))))
        for g in acts:
            saturated[g].append(xp.stack(per_dir[g], axis=0))
        for g in dead:
            dead[g].append(xp.stack(dead_dir[g], axis=0))
    return GateStats(saturated={g: xp.stack(v, axis=0) for g, v in saturated.items()},
                     dead={g: xp.stack(v, axis=0) for g, v in dead.items()},
                     rule={g: SATURATION[a] for g, a in acts.items()})
