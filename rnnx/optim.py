"""Optimizers and gradient clipping, written once against the array API.

Each optimizer is a frozen configuration with two pure functions::

    state = opt.init(params)
    params, state = opt.step(params, grads, state, xp=xp)

``state`` is ``{"step": t, "slots": {slot: {param_name: array}}}``.  The update rules,
defaults and order of operations are PyTorch's (``torch.optim.SGD/Adam/Adagrad``), so the
same gradients give the same parameters to float64 rounding.

The step count ``t`` is either a Python int (what :meth:`init` makes and checkpoints store)
or a 0-d integer array (what :func:`as_arrays` makes), and ``step`` returns it in the kind
it got.  With an array count there is no Python control flow on array values, so one
``jax.jit`` program serves every update: the bias corrections are computed from ``t`` with
array operations in each parameter's dtype, SGD's first-step rule is an ``xp.where``.
Convert a state with :func:`as_arrays` before a compiled loop and :func:`as_python` after.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import array_api_compat as compat

from rnnx._xp import index_dtype, operand
from rnnx.backends import capabilities

Params = dict[str, Any]


def _positive(name: str, v: float, *, allow_zero: bool = False) -> None:
    ok = isinstance(v, (int, float)) and math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        want = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name}: expected {want}, got {v!r}")


def _unit(name: str, v: float) -> None:
    if not (isinstance(v, (int, float)) and 0.0 <= v < 1.0):
        raise ValueError(f"{name}: expected a number in [0, 1), got {v!r}")


def _is_int(step: Any) -> bool:
    """True for a Python (or NumPy scalar) whole number, False for an array step count."""
    return isinstance(step, numbers.Integral) and not isinstance(step, bool)


def _as_float(t: Any, like: Any, *, xp: Any) -> Any:
    """The array step count ``t`` in the dtype of the parameter ``like`` (for the bias
    corrections, computed in the dtype they scale)."""
    return xp.astype(t, like.dtype)


def as_arrays(state: dict, *, xp: Any, device: Any, params: Params | None = None) -> dict:
    """The optimizer state ``state`` with its step count as a 0-d array of the namespace's
    default integer dtype on ``device`` (int64; int32 in JAX without x64), for a
    ``jax.jit``-compiled update.  A slot that is still empty (SGD's momentum buffer before
    the first step) is filled with zeros shaped like ``params``, so the state has the same
    structure before and after every step; the zeros are never read (the first step sets
    ``b = d``).  ``state`` itself is not changed; a step that is already an array is kept.

    Raises ValueError (``state: ...``) for a step that is not a whole number >= 0 or a 0-d
    integer array, and (``params: ...``) when an empty slot needs ``params`` and none is given.
    """
    step = state["step"]
    if _is_int(step):
        if step < 0:
            raise ValueError(f"state: expected 'step' a whole number >= 0, got {step!r}")
        step = xp.asarray(int(step), dtype=index_dtype(xp, device), device=device)
    elif not (hasattr(step, "shape") and tuple(step.shape) == () and xp.isdtype(step.dtype, "integral")):
        raise ValueError(f"state: expected 'step' a whole number or a 0-d integer array, got {step!r}")
    slots = {}
    for name, d in state["slots"].items():
        if d or not params:
            slots[name] = d
        else:
            slots[name] = {k: xp.zeros_like(p) for k, p in params.items()}
    empty = [name for name, d in slots.items() if not d]
    if empty:
        raise ValueError(f"params: expected the params to create the empty slot {empty[0]!r} of a state at step "
                         f"{int(step)} (as_arrays(state, xp=..., device=..., params=params)), got none")
    return {"step": step, "slots": slots}


def as_python(state: dict) -> dict:
    """The optimizer state ``state`` with its step count as a Python int (what a checkpoint
    stores as JSON); the slots are the same arrays.  Call it outside any traced function."""
    step = state["step"]
    return {"step": step if _is_int(step) else int(step), "slots": state["slots"]}


def _buffer(state: dict, k: str) -> Any:
    """The momentum buffer of parameter ``k`` for an array-step update (one must exist)."""
    bufs = state["slots"]["momentum_buffer"]
    if k not in bufs:
        raise ValueError(f"state: expected a momentum buffer for {k!r} with an array step; "
                         "convert the state with optim.as_arrays(state, xp=..., device=..., params=params)")
    return bufs[k]


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

    def _momentum(self, d: Any, k: str, state: dict, *, xp: Any) -> Any:
        """The new buffer ``b``: ``d`` on the first step, else ``mu b + (1 - dampening) d``."""
        step = state["step"]
        if _is_int(step):
            if step == 0:
                return d
            return self.momentum * state["slots"]["momentum_buffer"][k] + (1.0 - self.dampening) * d
        return xp.where(step == 0, d, self.momentum * _buffer(state, k) + (1.0 - self.dampening) * d)

    def step(self, params: Params, grads: Params, state: dict, *, xp: Any) -> tuple[Params, dict]:
        new, bufs = {}, {}
        for k, p in params.items():
            d = grads[k]
            if self.weight_decay:
                d = d + self.weight_decay * p
            if self.momentum:
                b = self._momentum(d, k, state, xp=xp)
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
        z = {k: compat.array_namespace(p).zeros_like(p) for k, p in params.items()}
        slots = {"exp_avg": z, "exp_avg_sq": dict(z)}
        if self.amsgrad:
            slots["max_exp_avg_sq"] = dict(z)
        return {"step": 0, "slots": slots}

    def _scales(self, t: Any, p: Any, *, xp: Any) -> tuple[Any, Any]:
        """``(lr / (1 - b1^t), sqrt(1 - b2^t))``: Python floats for an int ``t``, 0-d arrays
        in ``p``'s dtype for an array ``t``."""
        b1, b2 = self.betas
        if _is_int(t):
            return self.lr / (1.0 - b1**t), math.sqrt(1.0 - b2**t)
        tf = _as_float(t, p, xp=xp)
        return self.lr / (1.0 - b1**tf), xp.sqrt(1.0 - b2**tf)

    def step(self, params: Params, grads: Params, state: dict, *, xp: Any) -> tuple[Params, dict]:
        b1, b2 = self.betas
        t = state["step"] + 1
        s = state["slots"]
        out: dict[str, dict] = {name: {} for name in s}
        new = {}
        for k, p in params.items():
            step_size, bc2_sqrt = self._scales(t, p, xp=xp)
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
        acc = {k: compat.array_namespace(p).full_like(p, self.initial_accumulator_value) for k, p in params.items()}
        return {"step": 0, "slots": {"sum": acc}}

    def _clr(self, t: Any, p: Any, *, xp: Any) -> Any:
        """``lr / (1 + (t - 1) lr_decay)``: a Python float for an int ``t``, a 0-d array in
        ``p``'s dtype for an array ``t``."""
        if _is_int(t):
            return self.lr / (1.0 + (t - 1) * self.lr_decay)
        return self.lr / (1.0 + (_as_float(t, p, xp=xp) - 1.0) * self.lr_decay)

    def step(self, params: Params, grads: Params, state: dict, *, xp: Any) -> tuple[Params, dict]:
        t = state["step"] + 1
        sums, new = {}, {}
        for k, p in params.items():
            g = grads[k] if not self.weight_decay else grads[k] + self.weight_decay * p
            s = state["slots"]["sum"][k] + g * g
            sums[k] = s
            new[k] = p - self._clr(t, p, xp=xp) * (g / (xp.sqrt(s) + self.eps))
        return new, {"step": t, "slots": {"sum": sums}}


def _lerp(a: Any, b: Any, w: float) -> Any:
    """``torch.lerp(a, b, w)`` for a Python weight, with torch's two forms: ``a + w (b - a)``
    for ``|w| < 0.5``, else ``b - (b - a) (1 - w)``."""
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1.0 - w)


def _flag(name: str, v: Any) -> None:
    if not isinstance(v, bool):
        raise TypeError(f"{name}: expected True or False, got {v!r}")


@dataclass(frozen=True)
class RMSprop:
    """``torch.optim.RMSprop``: with ``g = grad + wd p``,
    ``v = alpha v + (1 - alpha) g^2``; centered: ``a = lerp(a, g, 1 - alpha)`` and
    ``s = sqrt(v - a^2) + eps``, else ``s = sqrt(v) + eps``; with momentum
    ``b = mu b + g / s`` and ``p -= lr b``, else ``p -= lr g / s``.  Slots ``square_avg``,
    ``momentum_buffer`` (momentum > 0) and ``grad_avg`` (centered), all zeros at first."""

    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        _unit("alpha", self.alpha)
        _positive("eps", self.eps, allow_zero=True)
        _positive("weight_decay", self.weight_decay, allow_zero=True)
        _unit("momentum", self.momentum)
        _flag("centered", self.centered)

    def init(self, params: Params) -> dict:
        z = {k: compat.array_namespace(p).zeros_like(p) for k, p in params.items()}
        slots = {"square_avg": z}
        if self.momentum > 0:
            slots["momentum_buffer"] = dict(z)
        if self.centered:
            slots["grad_avg"] = dict(z)
        return {"step": 0, "slots": slots}

    def step(self, params: Params, grads: Params, state: dict, *, xp: Any) -> tuple[Params, dict]:
        a = self.alpha
        s = state["slots"]
        out: dict[str, dict] = {name: {} for name in s}
        new = {}
        for k, p in params.items():
            g = grads[k] if not self.weight_decay else grads[k] + self.weight_decay * p
            v = a * s["square_avg"][k] + (1.0 - a) * (g * g)
            out["square_avg"][k] = v
            if self.centered:
                ga = _lerp(s["grad_avg"][k], g, 1.0 - a)
                out["grad_avg"][k] = ga
                avg = xp.sqrt(v - ga * ga) + self.eps
            else:
                avg = xp.sqrt(v) + self.eps
            if self.momentum > 0:
                b = self.momentum * s["momentum_buffer"][k] + g / avg
                out["momentum_buffer"][k] = b
                new[k] = p - self.lr * b
            else:
                new[k] = p - self.lr * (g / avg)
        return new, {"step": state["step"] + 1, "slots": out}


@dataclass(frozen=True)
class AdamW:
    """``torch.optim.AdamW`` (Adam with decoupled weight decay): ``p = p (1 - lr wd)`` first,
    then Adam's step on the raw gradient (``m = lerp(m, g, 1 - b1)``,
    ``v = b2 v + (1 - b2) g^2``, ``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``;
    amsgrad: ``v`` replaced by its running max in the denominator).  Adam's slots."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-2
    amsgrad: bool = False

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        if not (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2):
            raise ValueError(f"betas: expected two numbers (b1, b2) in [0, 1), got {self.betas!r}")
        _unit("betas[0]", self.betas[0])
        _unit("betas[1]", self.betas[1])
        _positive("eps", self.eps, allow_zero=True)
        _positive("weight_decay", self.weight_decay, allow_zero=True)
        _flag("amsgrad", self.amsgrad)

    def init(self, params: Params) -> dict:
        return Adam(lr=self.lr, betas=self.betas, eps=self.eps, amsgrad=self.amsgrad).init(params)

    def step(self, params: Params, grads: Params, state: dict, *, xp: Any) -> tuple[Params, dict]:
        b1, b2 = self.betas
        t = state["step"] + 1
        s = state["slots"]
        out: dict[str, dict] = {name: {} for name in s}
        new = {}
        scales = Adam(lr=self.lr, betas=self.betas)._scales
        decay = 1.0 - self.lr * self.weight_decay
        for k, p in params.items():
            if self.weight_decay:
                p = p * decay
            step_size, bc2_sqrt = scales(t, p, xp=xp)
            g = grads[k]
            m = _lerp(s["exp_avg"][k], g, 1.0 - b1)
            v = b2 * s["exp_avg_sq"][k] + (1.0 - b2) * (g * g)
            out["exp_avg"][k], out["exp_avg_sq"][k] = m, v
            if self.amsgrad:
                v = xp.maximum(s["max_exp_avg_sq"][k], v)
                out["max_exp_avg_sq"][k] = v
            new[k] = p - step_size * (m / (xp.sqrt(v) / bc2_sqrt + self.eps))
        return new, {"step": t, "slots": out}


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adagrad": Adagrad, "rmsprop": RMSprop, "adamw": AdamW}
"""name -> optimizer class (lower case); build one with :func:`make`."""


def make(optimizer: Any, **hyper: Any) -> Any:
    """The optimizer called ``optimizer`` (one of :data:`OPTIMIZERS`, any case: ``"adam"``,
    ``"AdamW"``) with the hyper-parameters ``hyper`` (its dataclass fields, e.g. ``lr``,
    ``momentum``; one given as None takes the optimizer's default), or an optimizer object
    (anything with ``init`` and ``step``) as it is, when no ``hyper`` is given.

    Raises ValueError (``optimizer: ...``) for an unknown name, naming the known ones;
    TypeError for a hyper-parameter that optimizer does not take, naming the ones it takes,
    and for something that is neither a name nor an optimizer; ValueError for a bad value
    (the optimizer's own check) or ``hyper`` given with an optimizer object."""
    if not isinstance(optimizer, str):
        if not (hasattr(optimizer, "init") and hasattr(optimizer, "step")):
            raise TypeError(f"optimizer: expected a name ({', '.join(OPTIMIZERS)}) or an rnnx.optim optimizer, "
                            f"got {type(optimizer).__name__}")
        given = sorted(k for k, v in hyper.items() if v is not None)
        if given:
            raise ValueError(f"{given[0]}: set it on the optimizer object ({type(optimizer).__name__}"
                             f"({given[0]}=...)), not both")
        return optimizer
    cls = OPTIMIZERS.get(optimizer.lower())
    if cls is None:
        raise ValueError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    takes = tuple(cls.__dataclass_fields__)
    unknown = [k for k in hyper if k not in takes]
    if unknown:
        raise TypeError(f"{unknown[0]}: optimizer {optimizer.lower()!r} takes no hyper-parameter {unknown[0]!r}; "
                        f"expected one of {', '.join(takes)}")
    return cls(**{k: v for k, v in hyper.items() if v is not None})


def clip_by_value(grads: Params, clip: float, *, xp: Any) -> tuple[Params, Any]:
    """Clamp every element to [-clip, clip]; also returns max |g| before clipping (0-d; NaN
    where any gradient holds a NaN).  Raises ValueError (``grads: ...``) for an empty dict."""
    _positive("clip_value", clip)
    if not grads:
        raise ValueError("grads: expected at least one gradient array, got none")
    # max |g| as one reduction of every gradient flattened: the value of the per-array maxima
    # folded with maximum (max is exact), one max call instead of one per gradient (~3 us each)
    caps = capabilities(xp)
    reshape = caps.reshape or xp.reshape  # NumPy: ndarray.reshape, no numpy.reshape dispatch
    gmax = xp.max(xp.abs(xp.concat([reshape(g, (-1,)) for g in grads.values()], axis=0)))
    one_device = caps.one_device  # NumPy: no device to read per gradient
    # one device and nothing staged (NumPy): the bounds are plain constants, formed once for
    # the process (2 asarray calls an update before); elsewhere per call (a traced program's
    # constants must not outlive it)
    bounds = _CLIP_BOUNDS if one_device and caps.jit is None else {}
    out = {}
    for k, g in grads.items():  # maximum/minimum with 0-d bounds: xp.clip's bits (NaN kept), without
        key = (clip, g.dtype) if one_device else (clip, g.dtype, compat.device(g))  # array_api_compat's
        if key not in bounds:  # clip wrapper (22 us against 1 us a (16, 16) array)
            dev = None if one_device else key[2]
            if len(bounds) >= 64:
                bounds.clear()
            bounds[key] = (xp.asarray(-clip, dtype=g.dtype, device=dev), xp.asarray(clip, dtype=g.dtype, device=dev))
        lo, hi = bounds[key]
        out[k] = xp.minimum(xp.maximum(g, lo), hi)
    return out, gmax


#: clip_by_value's 0-d bounds per (clip, dtype) on a one-device library that stages nothing (NumPy).
_CLIP_BOUNDS: dict[tuple, tuple] = {}


def global_norm(grads: Params, *, xp: Any) -> Any:
    """``||g|| = sqrt(sum_i sum(g_i^2))``, the 2-norm of all gradients together, as a 0-d
    array in their dtype.  Raises ValueError (``grads: ...``) for an empty dict."""
    if not grads:
        raise ValueError("grads: expected at least one gradient array, got none")
    return xp.sqrt(sum(xp.sum(g * g) for g in grads.values()))


def clip_by_global_norm(grads: Params, max_norm: float, *, xp: Any) -> tuple[Params, Any]:
    """``torch.nn.utils.clip_grad_norm_``: scale all gradients by
    ``min(1, max_norm / (||g|| + 1e-6))`` where ``||g||`` is :func:`global_norm`; also
    returns ``||g||`` before clipping (0-d)."""
    _positive("clip_norm", max_norm)
    total = global_norm(grads, xp=xp)
    ratio = max_norm / (total + 1e-6)
    coef = xp.minimum(ratio, operand(1.0, ratio, xp=xp))
    return {k: g * coef for k, g in grads.items()}, total
