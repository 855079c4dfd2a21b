r"""Losses with hand-derived gradients: ``fn(pred, target, *, xp, mask=None) -> (value, dpred)``.

``value`` is a 0-d array of ``pred``'s dtype, ``dpred = dL/dpred`` has ``pred``'s shape and
dtype.  No autodiff and no host reads in the arithmetic: every loss traces under ``jax.jit``
(the label/range checks read values only when the arrays are concrete: one host read per
call, so a training loop that checked its labels once passes ``check_values=False``).

``mask`` (optional): a bool array of shape ``pred.shape[:-1]`` ((T, B) many-to-many, (B,)
many-to-one).  A False position carries no loss and gets a zero gradient; means are over the
valid positions only.  Values at masked positions (padding) may be anything, NaN and Inf
included: they are replaced by ``xp.where`` before any arithmetic, so they never reach the
value or the gradient.  With no valid position (N = 0) every loss here is 0 with a zero
gradient (torch's ``reduction="mean"`` gives nan).

With :math:`d = \hat y - y` over the N valid elements (valid positions x O outputs):

.. math:: \mathrm{MSE} = \frac1N \sum d^2, \qquad \partial/\partial\hat y = \frac2N d

          \mathrm{MAE} = \frac1N \sum |d|, \qquad \partial/\partial\hat y = \frac1N \operatorname{sign}(d)

          \mathrm{Huber}_\delta = \frac1N \sum \begin{cases} \tfrac12 d^2 & |d| < \delta \\
          \delta(|d| - \tfrac12\delta) & \text{otherwise}\end{cases}, \qquad
          \partial/\partial\hat y = \frac1N \operatorname{clip}(d, -\delta, \delta)

as ``torch.nn.functional.mse_loss``, ``l1_loss``, ``huber_loss`` (``reduction="mean"``);
``half-sse`` is ``0.5 * sum d^2 / B`` (B = ``pred.shape[-2]``), gradient ``d / B``.
:func:`cross_entropy` and :func:`bce_logits` state theirs.

The parts they are built of, for :mod:`rnnx.metrics` (no gradient): :func:`valid_count`,
:func:`check_labels`, :func:`log_softmax`, :func:`one_hot`, :func:`mean_nll`,
:func:`check_binary`, :func:`check_pair`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import array_api_compat as compat

from rnnx._xp import has_dtype, index_dtype, is_array, is_traced, sigmoid, where

__all__ = ["mse", "mae", "huber", "quantile", "half_sse", "cross_entropy", "bce_logits", "Loss", "MSE", "MAE",
           "Huber", "Quantile", "HalfSSE", "CrossEntropy", "BCELogits", "SPECS", "LOSSES", "CLASSIFICATION", "get",
           "target_kind", "count", "for_training",
           # the parts the losses are built of (rnnx.metrics computes its values with them)
           "valid_count", "check_labels", "log_softmax", "one_hot", "mean_nll", "check_binary",
           "check_pair"]


# -- input checks ------------------------------------------------------------------------------

def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def _array(name: str, a: Any) -> None:
    if not is_array(a):  # remembered per type: several checks an update
        raise TypeError(f"{name}: expected an array, got {type(a).__name__}")


def _floating(name: str, a: Any, xp: Any) -> None:
    _array(name, a)
    if not has_dtype(a.dtype, "real floating", xp=xp):  # remembered per dtype
        raise TypeError(f"{name}: expected a real floating array, got dtype {_dtype_name(a.dtype)}")


def _same_shape(pred: Any, target: Any) -> None:
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"target: expected shape {tuple(pred.shape)} (the prediction's), got {tuple(target.shape)}")


def _check_mask(mask: Any, pred: Any, xp: Any) -> None:
    """``mask``: None or a bool array of shape ``pred.shape[:-1]``."""
    if mask is None:
        return
    want = tuple(pred.shape[:-1])
    if not is_array(mask):
        got = type(mask).__name__
    elif mask.dtype != xp.bool or tuple(mask.shape) != want:
        got = f"dtype {_dtype_name(mask.dtype)} shape {tuple(mask.shape)}"
    else:
        return
    raise ValueError(f"mask: expected a bool array of shape {want} (pred's shape without its last axis), got {got}")


def _check_ignore_index(ignore_index: Any) -> None:
    if not isinstance(ignore_index, int) or isinstance(ignore_index, bool):
        raise TypeError(f"ignore_index: expected an int, got {ignore_index!r}")


def _check_delta(delta: Any) -> None:
    ok = isinstance(delta, (int, float)) and not isinstance(delta, bool) and math.isfinite(delta) and delta > 0
    if not ok:
        raise ValueError(f"delta: expected a finite number > 0, got {delta!r}")


def _concrete(a: Any) -> bool:
    """True when ``a``'s values can be read (not traced by ``jax.jit``)."""
    return not is_traced(a)


# -- masked differences (regression) ---------------------------------------------------------

def _float_pair(pred: Any, target: Any, mask: Any, xp: Any) -> None:
    """Checks shared by the losses whose target is floats the shape of ``pred``."""
    _floating("pred", pred, xp)
    _floating("target", target, xp)
    _same_shape(pred, target)
    if mask is not None and pred.ndim == 0:
        raise ValueError("pred: expected at least 1 axis to take a mask, got shape ()")
    _check_mask(mask, pred, xp)


def _valid(mask: Any, xp: Any) -> Any:
    """(..., 1) bool: the mask broadcast over the last axis."""
    return xp.expand_dims(mask, axis=-1)


def check_pair(pred: Any, target: Any, mask: Any, xp: Any) -> Any:
    """Check float ``pred`` and ``target`` of one shape and ``mask`` (None or bool
    ``pred.shape[:-1]``), as the regression losses do; return the (..., 1) valid mask or None."""
    _float_pair(pred, target, mask, xp)
    return None if mask is None else _valid(mask, xp)


def valid_count(mask: Any, pred: Any, xp: Any) -> Any:
    """N = positions where ``mask`` (not None) is True, times O (a 0-d array of pred's
    dtype), 1 in place of 0 so that a sum over nothing divides to 0."""
    n = xp.sum(xp.astype(mask, pred.dtype)) * pred.shape[-1]
    return where(n > 0, n, 1.0, xp=xp)


def _diff(pred: Any, target: Any, mask: Any, xp: Any) -> tuple[Any, Any]:
    """``d = pred - target`` with 0 at masked positions, and N: ``math.prod(shape)`` (an int)
    without a mask, else :func:`valid_count`.  Masked values are dropped before the subtraction."""
    _float_pair(pred, target, mask, xp)
    if mask is None:
        return pred - target, math.prod(pred.shape)
    valid = _valid(mask, xp)
    return where(valid, pred, 0.0, xp=xp) - where(valid, target, 0.0, xp=xp), valid_count(mask, pred, xp)


def _weights(sample_weight: Any, pred: Any, valid: Any, xp: Any, *, expand: bool = True) -> tuple[Any, Any]:
    """``(w, N_w)``: the per-sample weights broadcast to ``pred.shape[:-1]`` in pred's dtype,
    0 where ``valid`` (``pred.shape[:-1]`` bool, or None) is False, with a last axis of 1
    when ``expand``; and ``N_w = sum(w) * O`` (``O = pred.shape[-1]`` when ``expand``, else
    1), 1 in place of 0.  Refused (one line): not a real array, a shape that does not
    broadcast to ``pred.shape[:-1]``, and (read only when concrete) a negative or
    non-finite weight at a valid position."""
    _array("sample_weight", sample_weight)
    if not has_dtype(sample_weight.dtype, ("real floating", "integral"), xp=xp):
        raise TypeError(f"sample_weight: expected real numbers, got dtype {_dtype_name(sample_weight.dtype)}")
    want = tuple(pred.shape[:-1])
    got = tuple(sample_weight.shape)
    if len(got) > len(want) or any(g not in (1, w) for g, w in zip(reversed(got), reversed(want))):
        raise ValueError(f"sample_weight: expected a shape that broadcasts to {want} (one weight per sample: "
                         f"({want[-1] if want else 1},)), got {got}")
    w = xp.broadcast_to(xp.astype(sample_weight, pred.dtype), want)
    if valid is not None:
        w = where(valid, w, 0.0, xp=xp)
    if math.prod(want) and _concrete(w):
        bad = xp.logical_not(xp.logical_and(xp.isfinite(w), w >= 0))
        if bool(xp.any(bad)):
            lo = float(xp.min(where(xp.isfinite(w), w, 0.0, xp=xp)))
            raise ValueError(f"sample_weight: expected finite weights >= 0, got "
                             f"{'non-finite values' if bool(xp.any(xp.logical_not(xp.isfinite(w)))) else f'a minimum of {lo:g}'}")
    n = xp.sum(w) * (pred.shape[-1] if expand else 1)
    n = where(n > 0, n, 1.0, xp=xp)
    return (xp.expand_dims(w, axis=-1) if expand else w), n


# -- regression losses ---------------------------------------------------------------------------

def mse(pred: Any, target: Any, *, xp: Any, mask: Any = None, sample_weight: Any = None) -> tuple[Any, Any]:
    r"""Mean squared error over the valid elements, ``sum d^2 / N``, and its gradient ``2 d / N``
    (weighted: ``sum w d^2 / N_w``, ``2 w d / N_w``; module docstring)."""
    d, n = _diff(pred, target, mask, xp)
    if sample_weight is not None:
        w, n = _weights(sample_weight, pred, mask, xp)
        return xp.sum(w * (d * d)) / n, (2.0 / n) * (w * d)
    return xp.sum(d * d) / n, (2.0 / n) * d


def mae(pred: Any, target: Any, *, xp: Any, mask: Any = None, sample_weight: Any = None) -> tuple[Any, Any]:
    r"""Mean absolute error ``sum |d| / N`` and its gradient ``sign(d) / N`` (0 at d = 0, as torch)."""
    d, n = _diff(pred, target, mask, xp)
    if sample_weight is not None:
        w, n = _weights(sample_weight, pred, mask, xp)
        return xp.sum(w * xp.abs(d)) / n, (w * xp.sign(d)) / n
    return xp.sum(xp.abs(d)) / n, xp.sign(d) / n


def huber(pred: Any, target: Any, *, xp: Any, mask: Any = None, delta: float = 1.0,
          sample_weight: Any = None) -> tuple[Any, Any]:
    r"""Huber loss (``torch.nn.functional.huber_loss``): per element ``0.5 d^2`` where
    ``|d| < delta``, else ``delta * (|d| - 0.5 delta)``, mean over N; gradient
    ``clip(d, -delta, delta) / N``."""
    _check_delta(delta)
    d, n = _diff(pred, target, mask, xp)
    a = xp.abs(d)
    value = xp.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    if sample_weight is not None:
        w, n = _weights(sample_weight, pred, mask, xp)
        return xp.sum(w * value) / n, (w * xp.where(a <= delta, d, delta * xp.sign(d))) / n
    return xp.sum(value) / n, xp.where(a <= delta, d, delta * xp.sign(d)) / n


def _quantiles(q: Any) -> tuple[float, ...]:
    """``q`` as a tuple of floats, each in (0, 1) (one number, or a non-empty sequence)."""
    qs = tuple(q) if isinstance(q, (tuple, list)) else (q,)
    ok = qs and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v < 1.0 for v in qs)
    if not ok:
        raise ValueError(f"q: expected a quantile in (0, 1) or a non-empty sequence of them, got {q!r}")
    return tuple(float(v) for v in qs)


def quantile(pred: Any, target: Any, *, xp: Any, mask: Any = None, q: Any = 0.5,
             sample_weight: Any = None) -> tuple[Any, Any]:
    r"""Quantile (pinball) loss of level ``q``: with the residual :math:`r = y - \hat y`,

    .. math:: L = \frac1N \sum \max(q\,r, (q - 1)\,r), \qquad
              \frac{\partial L}{\partial \hat y} = -\frac1N \bigl(q - [r < 0]\bigr)
              \quad (r \ne 0), \qquad -\frac1N (q - \tfrac12) \quad (r = 0)

    At :math:`r = 0` the two arguments of the max tie and the gradient is their mean, the
    subgradient torch autograd gives ``torch.maximum(q * r, (q - 1) * r)`` (it splits a tie
    evenly).  ``q`` = 0.5 is half the MAE.  ``q`` a sequence of K levels: ``pred`` has K
    outputs on its last axis, output k is scored at level ``q[k]`` (``target`` the same
    shape: the series repeated per level), as a forecaster of K quantiles is trained."""
    qs = _quantiles(q)
    d, n = _diff(pred, target, mask, xp)  # d = pred - target = -r
    if len(qs) > 1 and pred.shape[-1] != len(qs):
        raise ValueError(f"q: {len(qs)} quantile levels need pred with {len(qs)} outputs on its last axis, "
                         f"got shape {tuple(pred.shape)}")
    qa = qs[0] if len(qs) == 1 else xp.asarray(qs, dtype=pred.dtype, device=compat.device(pred))
    r = -d
    value = xp.maximum(qa * r, (qa - 1.0) * r)
    ones = xp.ones_like(r)
    grad = -xp.where(r > 0, qa * ones, xp.where(r < 0, (qa - 1.0) * ones, (qa - 0.5) * ones))
    if mask is not None:
        grad = where(_valid(mask, xp), grad, 0.0, xp=xp)
    if sample_weight is not None:
        w, n = _weights(sample_weight, pred, mask, xp)
        return xp.sum(w * value) / n, (w * grad) / n
    return xp.sum(value) / n, grad / n


def half_sse(pred: Any, target: Any, *, xp: Any, mask: Any = None, sample_weight: Any = None) -> tuple[Any, Any]:
    r"""``0.5 * sum (pred - target)^2`` over steps and outputs (valid elements only with a
    mask), divided by the batch size B = ``pred.shape[-2]``; its gradient is
    ``(pred - target) / B``.  With one sample this is the loss whose gradient seed 001's
    listing backpropagates (``dy = y_t - target``).  It divides by B, not by a count, so
    ``sample_weight`` (a weighted average) is refused."""
    if sample_weight is not None:
        raise ValueError("sample_weight: half-sse divides by the batch size, not by a weighted count; expected None "
                         "(or a loss that averages: mse, mae, huber, quantile, cross-entropy, bce-logits)")
    if is_array(pred) and pred.ndim < 2:
        raise ValueError(f"pred: expected at least 2 axes (..., B, O) for half-sse, got shape {tuple(pred.shape)}")
    d, _ = _diff(pred, target, mask, xp)
    b = pred.shape[-2]
    return 0.5 * xp.sum(d * d) / b, d / b


# -- classification ------------------------------------------------------------------------------

def check_labels(pred: Any, target: Any, mask: Any, ignore_index: int, xp: Any, what: str,
            check_values: bool = True) -> tuple[Any, Any, Any]:
    """Check logits ``pred`` (..., C) and integer labels ``target`` (...) (the labels' range
    only with ``check_values``: it reads two values to the host); return
    ``(labels, counted, n)``: the labels in the index dtype with 0 where not counted,
    ``counted`` (...) bool (not ``ignore_index`` and mask True), and the count n (a 0-d
    array of pred's dtype, 1 in place of 0)."""
    _floating("pred", pred, xp)
    if pred.ndim == 0 or pred.shape[-1] < 1:
        raise ValueError(f"pred: expected at least 1 class on the last axis, got shape {tuple(pred.shape)}")
    _array("target", target)
    if not has_dtype(target.dtype, "integral", xp=xp):
        raise TypeError(f"target: expected integer class labels for {what}, got dtype {_dtype_name(target.dtype)}")
    if tuple(target.shape) != tuple(pred.shape[:-1]):
        raise ValueError(f"target: expected shape {tuple(pred.shape[:-1])} (pred's without its class axis), "
                         f"got {tuple(target.shape)}")
    _check_mask(mask, pred, xp)
    _check_ignore_index(ignore_index)
    labels = xp.astype(target, index_dtype(xp, compat.device(pred)))
    counted = labels != ignore_index
    if mask is not None:
        counted = xp.logical_and(counted, mask)
    if check_values:
        _check_label_range(labels, counted, pred.shape[-1], ignore_index, xp)
    n = xp.sum(xp.astype(counted, pred.dtype))
    return where(counted, labels, 0, xp=xp), counted, where(n > 0, n, 1.0, xp=xp)


def _check_label_range(labels: Any, counted: Any, classes: int, ignore_index: int, xp: Any) -> None:
    """Every counted label in [0, classes); read only when concrete."""
    if math.prod(labels.shape) == 0:
        return
    top, bottom = xp.max(labels), xp.min(labels)
    lo = xp.min(xp.where(counted, labels, top))
    hi = xp.max(xp.where(counted, labels, bottom))
    anything = xp.any(counted)
    if not (_concrete(lo) and _concrete(anything)) or not bool(anything):
        return
    lo, hi = int(lo), int(hi)
    if lo < 0 or hi >= classes:
        raise ValueError(f"target: expected class labels in [0, {classes}) (or ignore_index {ignore_index}), "
                         f"got values in [{lo}, {hi}]")


def log_softmax(pred: Any, counted: Any, xp: Any) -> Any:
    """Stable ``log softmax`` over the last axis, ``z - max z - log sum exp(z - max z)``, with
    the logits of uncounted positions replaced by 0 first (padding never reaches it)."""
    z = where(xp.expand_dims(counted, axis=-1), pred, 0.0, xp=xp)
    s = z - xp.max(z, axis=-1, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=-1, keepdims=True))


def one_hot(labels: Any, classes: int, xp: Any) -> Any:
    """(..., C) bool: ``labels[..., None] == arange(C)``."""
    return xp.expand_dims(labels, axis=-1) == xp.arange(classes, dtype=labels.dtype, device=compat.device(labels))


def mean_nll(logp: Any, onehot: Any, counted: Any, n: Any, xp: Any) -> Any:
    """``-sum_counted log p[label] / n``."""
    nll = -xp.sum(where(onehot, logp, 0.0, xp=xp), axis=-1)
    return xp.sum(where(counted, nll, 0.0, xp=xp)) / n


def cross_entropy(pred: Any, target: Any, *, xp: Any, mask: Any = None,
                  ignore_index: int = -100, check_values: bool = True, sample_weight: Any = None) -> tuple[Any, Any]:
    r"""Softmax cross-entropy of logits ``pred`` (..., C) against integer class labels
    ``target`` (...) in [0, C), as ``torch.nn.functional.cross_entropy(reduction="mean",
    ignore_index=...)``.

    .. math:: L = -\frac1n \sum_{i\ \mathrm{counted}} \log \operatorname{softmax}(z_i)_{y_i},
              \qquad \frac{\partial L}{\partial z_i} = \frac1n (\operatorname{softmax}(z_i) - e_{y_i})

    A position is counted when its label is not ``ignore_index`` and ``mask`` (if given) is
    True there; n is the number counted, and uncounted positions get a zero gradient.  With
    n = 0 the value is 0 and the gradient zero (torch gives nan).  log-softmax subtracts the
    row's max first, so large logits never overflow.

    ``check_values`` (default True): a counted label outside [0, C) is a ValueError; this
    reads the labels' min and max to the host (a device sync) on every eager call.  False
    skips it (the caller checked the labels once, as :func:`rnnx.fit` does); an out-of-range
    label then counts with a zero one-hot row (its loss is ``log sum exp``, not an error)."""
    labels, counted, n = check_labels(pred, target, mask, ignore_index, xp, "cross-entropy", check_values)
    logp = log_softmax(pred, counted, xp)
    onehot = one_hot(labels, pred.shape[-1], xp)
    each = where(xp.expand_dims(counted, axis=-1), xp.exp(logp) - xp.astype(onehot, pred.dtype), 0.0, xp=xp)
    if sample_weight is not None:  # weights of the counted positions; n_w their sum
        w, n = _weights(sample_weight, pred, counted, xp, expand=False)
        nll = -xp.sum(where(onehot, logp, 0.0, xp=xp), axis=-1)
        return xp.sum(where(counted, w * nll, 0.0, xp=xp)) / n, (xp.expand_dims(w, axis=-1) * each) / n
    return mean_nll(logp, onehot, counted, n, xp), each / n


def check_binary(pred: Any, target: Any, mask: Any, xp: Any, check_values: bool = True) -> Any:
    """Check logits and float targets in [0, 1] (valid positions, when concrete); return
    the (..., 1) valid mask or None."""
    _float_pair(pred, target, mask, xp)
    valid = None if mask is None else _valid(mask, xp)
    if math.prod(pred.shape) == 0 or not check_values:
        return valid
    t = target if valid is None else where(valid, target, 0.5, xp=xp)
    lo, hi = xp.min(t), xp.max(t)
    if _concrete(lo):
        lo, hi = float(lo), float(hi)
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"target: expected values in [0, 1], got values in [{lo:g}, {hi:g}]")
    return valid


def bce_logits(pred: Any, target: Any, *, xp: Any, mask: Any = None, check_values: bool = True,
               sample_weight: Any = None) -> tuple[Any, Any]:
    r"""Binary cross-entropy on logits ``z = pred`` against targets ``y`` in [0, 1] of the same
    shape, as ``torch.nn.functional.binary_cross_entropy_with_logits(reduction="mean")``.

    .. math:: L = \frac1N \sum \max(z, 0) - z y + \log(1 + e^{-|z|}), \qquad
              \frac{\partial L}{\partial z} = \frac1N (\sigma(z) - y)

    the stable form of ``-y log sigma(z) - (1 - y) log(1 - sigma(z))``; N as for the
    regression losses (valid elements).  ``check_values``: targets outside [0, 1] are a
    ValueError (a host read per eager call); False skips that check, as for
    :func:`cross_entropy`."""
    valid = check_binary(pred, target, mask, xp, check_values)
    if valid is None:
        z, y, n = pred, target, math.prod(pred.shape)
    else:
        z, y, n = where(valid, pred, 0.0, xp=xp), where(valid, target, 0.0, xp=xp), valid_count(mask, pred, xp)
    each = where(z > 0, z, 0.0, xp=xp) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
    grad = sigmoid(z, xp=xp) - y
    if valid is not None:
        each, grad = where(valid, each, 0.0, xp=xp), where(valid, grad, 0.0, xp=xp)
    if sample_weight is not None:
        w, n = _weights(sample_weight, pred, mask, xp)
        return xp.sum(w * each) / n, (w * grad) / n
    return xp.sum(each) / n, grad / n


# -- loss specs and the registry ------------------------------------------------------------------

def _check_flag(name: str) -> Callable:
    def check(v: Any) -> None:
        if not isinstance(v, bool):
            raise TypeError(f"{name}: expected True or False, got {v!r}")
    return check


class Loss:
    """A loss with its options: ``spec(pred, target, *, xp, mask=None, sample_weight=None)
    -> (value, dpred)``.  ``name`` (its :data:`LOSSES` name), ``options`` (every option, the
    defaults filled in), ``label`` (the name, with the options that differ from the
    defaults: ``"huber(delta=2.0)"``; what a run records), equality and hash by name and
    options, a ``repr`` that builds it again.  A subclass sets ``name``, ``fn`` (the loss
    function), ``target`` (``"float"`` or ``"labels"``), ``logits`` (its pred are logits:
    a classification loss) and ``checks`` (option -> check); :func:`get` builds one by name."""

    name: str = ""
    fn: Callable
    target: str = "float"
    logits: bool = False
    checks: dict[str, Callable] = {}
    defaults: dict[str, Any] = {}

    def __init__(self, **options: Any) -> None:
        for key, value in options.items():
            if key not in self.checks:
                raise TypeError(f"loss {self.name!r}: takes no option {key!r}"
                                + (f"; expected {', '.join(self.checks)}" if self.checks else ""))
            self.checks[key](value)
        self._options = {**self.defaults, **options}

    @property
    def options(self) -> dict[str, Any]:
        return dict(self._options)

    def replace(self, **options: Any) -> "Loss":
        """The same loss with ``options`` changed (checked as at construction)."""
        return type(self)(**{**self._options, **options})

    def __call__(self, pred: Any, target: Any, *, xp: Any, mask: Any = None, sample_weight: Any = None):
        return type(self).fn(pred, target, xp=xp, mask=mask, sample_weight=sample_weight, **self._options)

    @property
    def label(self) -> str:
        changed = {k: v for k, v in self._options.items() if k != "check_values" and v != self.defaults[k]}
        return self.name if not changed else f"{self.name}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Loss) and (self.name, self._options) == (other.name, other._options)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self._options.items()))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._options.items())})"

    def __reduce__(self):  # pickles (a Dask worker gets it) as its class and options
        return (_build, (self.name, self._options))


def _build(name: str, options: dict) -> Loss:
    return SPECS[name](**options)


class MSE(Loss):
    """:func:`mse` as a spec."""
    name, fn = "mse", staticmethod(mse)

    def __init__(self) -> None:
        super().__init__()


class MAE(Loss):
    """:func:`mae` as a spec."""
    name, fn = "mae", staticmethod(mae)

    def __init__(self) -> None:
        super().__init__()


class Huber(Loss):
    """:func:`huber` with its ``delta`` (a number > 0, default 1.0)."""
    name, fn = "huber", staticmethod(huber)
    checks, defaults = {"delta": _check_delta}, {"delta": 1.0}

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__(delta=delta)
        if isinstance(delta, int):
            self._options["delta"] = float(delta)


class Quantile(Loss):
    """:func:`quantile` (pinball) at level ``q`` in (0, 1) (default 0.5), or a tuple of
    levels, one per output."""
    name, fn = "quantile", staticmethod(quantile)
    checks, defaults = {"q": _quantiles}, {"q": 0.5}

    def __init__(self, q: Any = 0.5) -> None:
        super().__init__(q=q)
        qs = _quantiles(q)
        self._options["q"] = qs[0] if len(qs) == 1 and not isinstance(q, (tuple, list)) else qs


class HalfSSE(Loss):
    """:func:`half_sse` as a spec."""
    name, fn = "half-sse", staticmethod(half_sse)

    def __init__(self) -> None:
        super().__init__()


class CrossEntropy(Loss):
    """:func:`cross_entropy` with ``ignore_index`` (an int, default -100) and
    ``check_values`` (default True)."""
    name, fn, target, logits = "cross-entropy", staticmethod(cross_entropy), "labels", True
    checks = {"ignore_index": _check_ignore_index, "check_values": _check_flag("check_values")}
    defaults = {"ignore_index": -100, "check_values": True}

    def __init__(self, ignore_index: int = -100, check_values: bool = True) -> None:
        super().__init__(ignore_index=ignore_index, check_values=check_values)


class BCELogits(Loss):
    """:func:`bce_logits` with ``check_values`` (default True)."""
    name, fn, logits = "bce-logits", staticmethod(bce_logits), True
    checks, defaults = {"check_values": _check_flag("check_values")}, {"check_values": True}

    def __init__(self, check_values: bool = True) -> None:
        super().__init__(check_values=check_values)


SPECS: dict[str, type[Loss]] = {c.name: c for c in (MSE, MAE, Huber, HalfSSE, CrossEntropy, BCELogits, Quantile)}
"""name -> loss spec class; adding a loss is a function and a class here."""

LOSSES: dict[str, Callable] = {name: c.fn for name, c in SPECS.items()}
"""name -> loss function with its default options."""

CLASSIFICATION = tuple(name for name, c in SPECS.items() if c.logits)
"""The losses whose pred is logits."""


def _known(name: Any) -> str:
    if isinstance(name, Loss):
        return name.name
    if not isinstance(name, str):
        raise TypeError(f"loss: expected a loss name ({', '.join(LOSSES)}) or an rnnx.losses spec, "
                        f"got {type(name).__name__}")
    if name not in LOSSES:
        raise ValueError(f"loss: expected one of {', '.join(LOSSES)}, got {name!r}")
    return name


def get(name: Any, **options: Any) -> Loss:
    """The loss spec called ``name`` with ``options`` (``get("huber", delta=2) ==
    Huber(delta=2)``), or a spec as it is (with ``options`` changed, if any): ``delta``
    (huber, a number > 0), ``q`` (quantile), ``ignore_index`` (cross-entropy, an int) and
    ``check_values`` (cross-entropy and bce-logits, a bool).  ValueError for an unknown name
    or a bad option value; TypeError for an option the loss does not take."""
    cls = type(name) if isinstance(name, Loss) else SPECS[_known(name)]
    for key in options:
        if key not in cls.checks:
            raise TypeError(f"loss {cls.name!r}: takes no option {key!r}"
                            + (f"; expected {', '.join(cls.checks)}" if cls.checks else ""))
    if isinstance(name, Loss):
        return name.replace(**options) if options else name
    return cls(**options)


def for_training(loss: Any) -> Loss:
    """The spec a training update calls: :func:`get` of ``loss`` (``"mse"`` for None) with
    ``check_values=False`` where the loss has that option (the labels' / targets' range is
    checked once before training, so an update reads nothing back to the host)."""
    spec = get("mse" if loss is None else loss)
    return spec.replace(check_values=False) if "check_values" in spec.options else spec


def target_kind(name: str) -> str:
    """``"labels"`` when loss ``name`` takes integer class labels (cross-entropy), else
    ``"float"`` (a float target the shape of pred)."""
    return SPECS[_known(name)].target


def count(name: str, target: Any, *, xp: Any, mask: Any = None, dtype: Any, ignore_index: int = -100) -> Any:
    r"""The number N that loss ``name`` divides its sum by on this ``target`` and ``mask``
    (a 0-d array of ``dtype``, 0 when nothing counts): valid positions x O for mse, mae,
    huber and bce-logits (``target`` the shape of pred), counted labels (mask True and not
    ``ignore_index``) for cross-entropy.  What makes a mean over several batches exact:
    with batch k's mean :math:`L_k = S_k / N_k`, the mean over all of them is
    :math:`\sum_k N_k L_k / \sum_k N_k` (data parallel, :mod:`rnnx.training.distributed`).
    half-sse divides by the batch's size, padding included: a ValueError."""
    name = _known(name)
    if name == "half-sse":
        raise ValueError("loss: half-sse divides by the batch size, not by the valid elements, so means of "
                         "parts do not combine; expected mse, mae, huber, cross-entropy or bce-logits")
    if name == "cross-entropy":
        counted = xp.astype(target, index_dtype(xp, compat.device(target))) != ignore_index
        if mask is not None:
            counted = xp.logical_and(counted, mask)
        return xp.sum(xp.astype(counted, dtype))
    if mask is None:
        return xp.asarray(float(math.prod(target.shape)), dtype=dtype, device=compat.device(target))
    return xp.sum(xp.astype(mask, dtype)) * target.shape[-1]
