r"""Diagnostics of a recurrent network's gradients and gates (docs/diagnostics.md).

* :class:`~rnnx.nn.layers.GradientFlow`: the per-step gradient flow ||dL/dh_t||, ||dL/dc_t||,
  ||dL/dx_t||, collected by the explicit backward pass
  (``layer.backward(..., collect="norms")``, ``Model.loss_and_grad(..., collect=...)``).
* :func:`gate_saturation`: per gate type, layer, direction and step, the fraction of
  saturated gate activations, and the dead units of ReLU gates.
* :func:`jacobian_profile`: ||v^T dh_T/dh_t|| for random unit probes v, by the backward
  recurrence; the per-step growth factor; the largest singular value of W_hh; the LSTM's
  mean forget gate.

Saturation is a property of the gate's activation (where its derivative all but vanishes):

    sigmoid       y < 0.01 or y > 0.99
    tanh          |y| > 0.99
    hard_sigmoid  y <= 0 or y >= 1        (flat: derivative 0)
    relu          y <= 0                  (inactive; a unit inactive at every valid step of
                                           every sequence is *dead*)
    linear        never: the gate is left out of the result
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import array_api_compat as compat

from rnnx._xp import namespace, where
from rnnx.nn.layers import GradientFlow, Recurrent, layer_from_config
from rnnx.random import uniform

__all__ = ["GradientFlow", "GateStats", "gate_saturation", "SATURATION", "JacobianProfile", "jacobian_profile"]

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


def _layer_params(model_or_layer: Any, params: Any) -> tuple[Recurrent, dict]:
    """The recurrent layer of a Model (or the layer itself) and its share of ``params``."""
    layer = getattr(model_or_layer, "layer", model_or_layer)
    if not isinstance(layer, Recurrent):
        raise TypeError(f"model_or_layer: expected an rnnx Model or recurrent layer, got "
                        f"{type(model_or_layer).__name__}")
    if not hasattr(params, "items"):
        raise TypeError(f"params: expected a dict of arrays, got {type(params).__name__}")
    return layer, {k: params[k] for k in layer.param_shapes() if k in params}  # a missing key: forward's error


def gate_saturation(model_or_layer: Any, params: dict, x: Any, state0: Any = None, *,
                    lengths: Any = None) -> GateStats:
    """Gate statistics of ``model_or_layer`` (a :class:`~rnnx.nn.model.Model` or a recurrent
    layer) on ``x`` (its usual layout), from the forward cache of the same network with the
    reference (textbook) kernel, whose cache holds every gate's activation per step
    (LSTM i, f, g, o; GRU r, z, n; RNN h = phi(a)); inference mode (no dropout).

    ``params``: the model's or the layer's (the head's keys are ignored).  Returns a
    :class:`GateStats`; memory: one forward cache (O(T*B*G*H) per layer and direction).
    """
    layer, lp = _layer_params(model_or_layer, params)
    _, _, cache = layer_from_config({**layer.config(), "fused": False}).forward(lp, x, state0, lengths=lengths)
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
                    frac = xp.sum(sat * valid, axis=(1, 2)) / where(n > 0.0, n, 1.0, xp=xp)
                    per_dir[gate].append(where(n > 0.0, frac, xp.nan, xp=xp))  # NaN: no sequence reaches step t
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


@dataclass(frozen=True)
class JacobianProfile:
    """What :func:`jacobian_profile` measured (L layers, D directions, K probes).

    ``h`` (L, D, T, B, K): ``||v^T dh_T/dh_t||`` for unit probes v (``probes``) on the
    final h of sequence b (its last valid step with lengths; for the reverse direction its
    step 0), the c of step t held fixed: 1 at the final step, 0 at padded steps.  ``c``
    (LSTM, else None): ``||v^T dh_T/dc_t||``.  ``growth`` (L, D): the per-step growth factor,
    the geometric mean over sequences and probes of ``h[far]^(1/n)`` (``far``: the step n
    steps before the final one, n = length - 1; sequences of length 1 left out, NaN if
    none is longer); < 1 vanishes, > 1 explodes.  ``w_hh_norm`` (L, D): the largest singular
    value of W_hh.  ``forget`` (LSTM, else None) (L, D, T): the mean forget gate f_t over the
    valid sequences and units (NaN where none reaches step t).  ``probes`` (L, D, B, K, R).
    """

    h: Any
    c: Any
    growth: Any
    w_hh_norm: Any
    forget: Any
    probes: Any


def _unit_probes(seed: int, layer: int, shape: tuple[int, ...], *, xp: Any, dtype: Any, device: Any) -> Any:
    """Random unit vectors along the last axis (Box-Muller normals from :mod:`rnnx.random`,
    streams 10_000 + 2*layer and the next, normalised): the same on every backend."""
    u1 = 1.0 - uniform(seed, 10_000 + 2 * layer, shape, xp=xp, dtype=dtype, device=device)  # (0, 1]
    u2 = uniform(seed, 10_001 + 2 * layer, shape, xp=xp, dtype=dtype, device=device)
    z = xp.sqrt(-2.0 * xp.log(u1)) * xp.cos((2.0 * math.pi) * u2)
    return z / xp.sqrt(xp.sum(z * z, axis=-1, keepdims=True))


def _repeat(a: Any, K: int, *, axis: int, xp: Any) -> Any:
    """Each entry along ``axis`` K times in a row (b -> b*K + k)."""
    shape = a.shape
    a = xp.expand_dims(a, axis=axis + 1)
    tiled = xp.broadcast_to(a, (*shape[: axis + 1], K, *shape[axis + 1 :]))
    return xp.reshape(tiled, (*shape[:axis], shape[axis] * K, *shape[axis + 1 :]))


def jacobian_profile(model_or_layer: Any, params: dict, x: Any, state0: Any = None, *, lengths: Any = None,
                     probes: int = 4, seed: int = 0) -> JacobianProfile:
    """The Jacobian profile of ``model_or_layer``'s recurrence on ``x`` (time-major (T, B, I)).

    For each layer l and K = ``probes`` random unit vectors v per sequence (drawn from
    ``seed``), one backward pass from dL/d(final h of layer l) = v, dL/dy = 0, runs the
    recurrence backwards: step t receives ``v^T dh_T/dh_t`` (and ``v^T dh_T/dc_t``), whose
    norms :class:`~rnnx.nn.layers.GradientFlow` collects; repeated multiplication by the step
    Jacobians is a power iteration, so after a few steps a probe's norm follows the
    dominant growth.  Cost: one forward and L backward passes at batch B*K.
    """
    layer, lp = _layer_params(model_or_layer, params)
    if isinstance(probes, bool) or not isinstance(probes, int) or probes < 1:
        raise ValueError(f"probes: expected a positive int, got {probes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {seed!r}")
    if layer.batch_first:
        raise ValueError("model_or_layer: batch_first=True; jacobian_profile takes time-major x (T, B, I)")
    xp = namespace(x=x)
    if x.ndim != 3:
        raise ValueError(f"x: expected (T, B, I), got shape {tuple(x.shape)}")
    T, B, _ = x.shape
    K, L, D, R = probes, layer.num_layers, layer.num_directions, layer.output_size
    dev = compat.device(x)
    xk = _repeat(x, K, axis=1, xp=xp)
    lk = None if lengths is None else _repeat(xp.asarray(lengths, device=dev), K, axis=0, xp=xp)
    s0 = None
    if state0 is not None:
        s0 = tuple(_repeat(s, K, axis=1, xp=xp) for s in (state0 if isinstance(state0, (tuple, list)) else (state0,)))
        s0 = s0 if len(s0) > 1 else s0[0]
    y, _, cache = layer.forward(lp, xk, s0, lengths=lk)
    dy = xp.zeros(y.shape, dtype=x.dtype, device=dev)
    zeros = [xp.zeros((B * K, n), dtype=x.dtype, device=dev) for n in layer.state_sizes]
    hs, cs, vs = [], [], []
    for li in range(L):
        v = _unit_probes(seed, li, (D, B * K, R), xp=xp, dtype=x.dtype, device=dev)
        rows = [v[j - li * D, ...] if li * D <= j < (li + 1) * D else zeros[0] for j in range(L * D)]
        dstate = (xp.stack(rows, axis=0),) + tuple(xp.stack([z] * (L * D), axis=0) for z in zeros[1:])
        *_, flow = layer.backward(lp, cache, dy, dstate if len(dstate) > 1 else dstate[0], collect="norms")
        hs.append(xp.reshape(flow.h[li, ...], (D, T, B, K)))
        if flow.c is not None:
            cs.append(xp.reshape(flow.c[li, ...], (D, T, B, K)))
        vs.append(xp.reshape(v, (D, B, K, R)))
    h = xp.stack(hs, axis=0)
    growth = _growth(h, lengths, T, xp=xp, device=dev)
    w_norm = xp.stack([xp.stack([xp.max(xp.linalg.svdvals(lp[layer._keys[li][d]["weight_hh"]]))
                                 for d in range(D)]) for li in range(L)])
    forget = None
    if layer.spec.name == "lstm":
        forget = _mean_gate(layer, lp, x, state0, lengths, gate=1, xp=xp)
    return JacobianProfile(h=h, c=xp.stack(cs, axis=0) if cs else None, growth=growth, w_hh_norm=w_norm,
                           forget=forget, probes=xp.stack(vs, axis=0))


def _growth(h: Any, lengths: Any, T: int, *, xp: Any, device: Any) -> Any:
    """(L, D): exp(mean over sequences (length > 1) and probes of log(h[far]) / n)."""
    L, D, _, B, K = h.shape
    dt = h.dtype
    n = (xp.full((B,), float(T - 1), dtype=dt, device=device) if lengths is None
         else xp.astype(xp.asarray(lengths, device=device), dt) - 1.0)  # steps from the far end to the final one
    fw = h[:, 0, 0, ...]  # forward direction: the far step is t = 0
    out = [fw]
    if D == 2:  # reverse direction: the far step is t = length - 1
        far = (xp.astype(xp.arange(T, device=device), dt)[:, None] == n[None, :])  # (T, B)
        out.append(xp.sum(where(far[None, :, :, None], h[:, 1, ...], 0.0, xp=xp), axis=1))
    p = xp.stack(out, axis=1)  # (L, D, B, K)
    ok = (n > 0.0)[:, None] & (p > 0.0)
    logs = where(ok, xp.log(where(ok, p, 1.0, xp=xp)), 0.0, xp=xp) / where(n > 0.0, n, 1.0, xp=xp)[:, None]
    logs = where((n > 0.0)[:, None] & (p <= 0.0), -xp.inf, logs, xp=xp)  # a probe that died: factor 0
    count = xp.sum(xp.astype(n > 0.0, dt)) * K
    mean = xp.sum(where((n > 0.0)[:, None], logs, 0.0, xp=xp), axis=(2, 3)) / where(count > 0.0, count, 1.0, xp=xp)
    return where(count > 0.0, xp.exp(mean), xp.nan, xp=xp)


def _mean_gate(layer: Recurrent, lp: dict, x: Any, state0: Any, lengths: Any, *, gate: int, xp: Any) -> Any:
    """(L, D, T): gate ``gate`` of the reference kernel's cache, averaged over valid sequences and units."""
    _, _, cache = layer_from_config({**layer.config(), "fused": False}).forward(lp, x, state0, lengths=lengths)
    mask = cache.data["mask"]
    out = []
    for lay in cache.data["layers"]:
        per = []
        for d in lay["dirs"]:
            y = d["saved"][gate]
            if mask is None:
                per.append(xp.mean(y, axis=(1, 2)))
                continue
            valid = xp.astype(mask, y.dtype)
            n = xp.sum(valid, axis=(1, 2)) * y.shape[-1]
            per.append(where(n > 0.0, xp.sum(y * valid, axis=(1, 2)) / where(n > 0.0, n, 1.0, xp=xp), xp.nan, xp=xp))
        out.append(xp.stack(per, axis=0))
    return xp.stack(out, axis=0)
