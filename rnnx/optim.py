"""Optimizers and gradient clipping, written once against the array API.

Each optimizer is a frozen configuration with two pure functions::

    state = opt.init(params)
    params, state = opt.step(params, grads, state, xp=xp)

``state`` is ``{"step": int, "slots": {slot: {param_name: array}}}``.  The update rules,
defaults and order of operations are PyTorch's (``torch.optim.SGD/Adam/Adagrad``), so the
same gradients give the same parameters to float64 rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Params = dict[str, Any]


def _positive(name: str, v: float, *, allow_zero: bool = False) -> None:
    ok = isinstance(v, (int, float)) and math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        want = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name}: expected {want}, got {v!r}")


def _unit(name: str, v: float) -> None:
    if not (isinstance(v, (int, float)) and 0.0 <= v < 1.0):
        raise ValueError(f"{name}: expected a number in [0, 1), got {v!r}")


@dataclass(frozen=True)
class SGD:
    """``p -= lr * d`` with ``d = g + wd p``; with momentum ``b = mu b + (1 - dampening) d``
    (``b = d`` on the first step) and ``d = b``, or ``d = d + mu b`` (Nesterov)."""

    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        _unit("momentum", self.momentum)
        _positive("dampening", self.dampening, allow_zero=True)
        _positive("weight_decay", self.weight_decay, allow_zero=True)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov: requires momentum > 0 and dampening = 0, "
                             f"got momentum={self.momentum}, dampening={self.dampening}")

    def init(self, params: Params) -> dict:
        return {"step": 0, "slots": {"momentum_buffer": {}} if self.momentum else {}}

    def step(self, params: Params, grads: Params, state: dict, *, xp: Any) -> tuple[Params, dict]:
        new, bufs = {}, {}
        first = state["step"] == 0
        for k, p in params.items():
            d = grads[k]
            if self.weight_decay:
                d = d + self.weight_decay * p
            if self.momentum:
                b = d if first else self.momentum * state["slots"]["momentum_buffer"][k] + (1.0 - self.dampening) * d
                bufs[k] = b
                d = d + self.momentum * b if self.nesterov else b
            new[k] = p - self.lr * d
        return new, {"step": state["step"] + 1, "slots": {"momentum_buffer": bufs} if self.momentum else {}}


@dataclass(frozen=True)
class Adam:
    """``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
    ``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`` (amsgrad: running max of v)."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        _unit("betas[0]", self.betas[0])
        _unit("betas[1]", self.betas[1])
        _positive("eps", self.eps, allow_zero=True)
        _positive("weight_decay", self.weight_decay, allow_zero=True)

    def init(self, params: Params) -> dict:
        import array_api_compat as compat

        z = {k: compat.array_namespace(p).zeros_like(p) for k, p in params.items()}
        slots = {"exp_avg": z, "exp_avg_sq": dict(z)}
        if self.amsgrad:
            slots["max_exp_avg_sq"] = dict(z)
        return {"step": 0, "slots": slots}

    def step(self, params: Params, grads: Params, state: dict, *, xp: Any) -> tuple[Params, dict]:
        b1, b2 = self.betas
        t = state["step"] + 1
        step_size = self.lr / (1.0 - b1**t)
        bc2_sqrt = math.sqrt(1.0 - b2**t)
        s = state["slots"]
        out: dict[str, dict] = {name: {} for name in s}
        new = {}
        for k, p in params.items():
            g = grads[k] if not self.weight_decay else grads[k] + self.weight_decay * p
            m = s["exp_avg"][k] + (1.0 - b1) * (g - s["exp_avg"][k])  # torch's lerp
            v = b2 * s["exp_avg_sq"][k] + (1.0 - b2) * (g * g)
            out["exp_avg"][k], out["exp_avg_sq"][k] = m, v
            if self.amsgrad:
                v = xp.maximum(s["max_exp_avg_sq"][k], v)
                out["max_exp_avg_sq"][k] = v
            new[k] = p - step_size * (m / (xp.sqrt(v) / bc2_sqrt + self.eps))
        return new, {"step": t, "slots": out}


@dataclass(frozen=True)
class Adagrad:
    """``s += g^2``, ``p -= lr / (1 + (t-1) lr_decay) * g / (sqrt(s) + eps)``."""

    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _positive(name, getattr(self, name), allow_zero=True)

    def init(self, params: Params) -> dict:
        import array_api_compat as compat

        acc = {k: compat.array_namespace(p).full_like(p, self.initial_accumulator_value) for k, p in params.items()}
        return {"step": 0, "slots": {"sum": acc}}

    def step(self, params: Params, grads: Params, state: dict, *, xp: Any) -> tuple[Params, dict]:
        t = state["step"] + 1
        clr = self.lr / (1.0 + (t - 1) * self.lr_decay)
        sums, new = {}, {}
        for k, p in params.items():
            g = grads[k] if not self.weight_decay else grads[k] + self.weight_decay * p
            s = state["slots"]["sum"][k] + g * g
            sums[k] = s
            new[k] = p - clr * (g / (xp.sqrt(s) + self.eps))
        return new, {"step": t, "slots": {"sum": sums}}


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adagrad": Adagrad}


def clip_by_value(grads: Params, clip: float, *, xp: Any) -> tuple[Params, Any]:
    """Clamp every element to [-clip, clip]; also returns max |g| before clipping."""
    _positive("clip_value", clip)
    gmax = xp.max(xp.stack([xp.max(xp.abs(g)) for g in grads.values()]))
    return {k: xp.clip(g, -clip, clip) for k, g in grads.items()}, gmax


def clip_by_global_norm(grads: Params, max_norm: float, *, xp: Any) -> tuple[Params, Any]:
    """``torch.nn.utils.clip_grad_norm_``: scale all gradients by
    ``min(1, max_norm / (||g|| + 1e-6))`` where ``||g||`` is the norm of all of them
    together; also returns ``||g||`` before clipping."""
    _positive("clip_norm", max_norm)
    total = xp.sqrt(sum(xp.sum(g * g) for g in grads.values()))
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    return {k: g * coef for k, g in grads.items()}, total
