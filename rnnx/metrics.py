r"""Metrics: ``fn(pred, target, *, xp, mask=None, ignore_index=-100) -> 0-d array`` of pred's
dtype, no gradient; they trace under ``jax.jit``.

``mask`` and ``ignore_index`` mean what they mean for :mod:`rnnx.losses` (every metric has
this one signature; ``ignore_index`` applies to integer labels only: accuracy's argmax form,
bpc and perplexity).

- ``mse``, ``mae``: as the losses; ``rmse = sqrt(mse)``.
- ``mape`` and ``smape``, in percent, over the N valid elements with ``a`` the target and ``f``
  the prediction (:func:`rnnx.data.accuracy.mape` / ``smape``'s definitions, on any backend):
  ``MAPE = 100/N sum |a - f| / |a|`` (NaN when a counted target is 0: undefined there, where
  :func:`rnnx.data.accuracy.accuracy` says None) and ``sMAPE = 100/N sum 2 |a - f| / (|a| + |f|)``
  on the 0-200 scale, a term with ``a = f = 0`` counting 0.
- ``accuracy``: integer labels (...) against logits (..., C): the share of counted positions
  where ``argmax(pred, axis=-1) == target`` (ties go to the first maximum).  A float target
  of pred's own shape (binary / multi-label, the ``bce-logits`` target): the share of valid
  elements where ``(pred > 0) == (target >= 0.5)``.
- ``bpc = CE / ln 2`` (bits per character) and ``perplexity = exp(CE)``, CE the mean
  softmax cross-entropy (:func:`rnnx.losses.cross_entropy`) in nats.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import array_api_compat as compat

from rnnx import losses as L
from rnnx._xp import where

__all__ = ["mse", "rmse", "mae", "mape", "smape", "accuracy", "bpc", "perplexity", "METRICS", "get", "default_metrics"]


def mse(pred: Any, target: Any, *, xp: Any, mask: Any = None, ignore_index: int = -100) -> Any:
    """Mean squared error over the valid elements (:func:`rnnx.losses.mse`'s value)."""
    return L.mse(pred, target, xp=xp, mask=mask)[0]


def rmse(pred: Any, target: Any, *, xp: Any, mask: Any = None, ignore_index: int = -100) -> Any:
    """Root mean squared error, ``sqrt(mse)``."""
    return xp.sqrt(mse(pred, target, xp=xp, mask=mask))


def mae(pred: Any, target: Any, *, xp: Any, mask: Any = None, ignore_index: int = -100) -> Any:
    """Mean absolute error over the valid elements (:func:`rnnx.losses.mae`'s value)."""
    return L.mae(pred, target, xp=xp, mask=mask)[0]


def _percent(pred: Any, target: Any, term: Callable, *, xp: Any, mask: Any) -> Any:
    """``100/N sum term(f, a)`` over the valid elements (N as for :func:`mae`); masked
    positions read ``a = f = 1`` before ``term`` (so NaN padding never reaches it) and count 0."""
    valid = L.check_pair(pred, target, mask, xp)
    if valid is None:
        return 100.0 * (xp.sum(term(pred, target)) / math.prod(pred.shape))
    f, a = where(valid, pred, 1.0, xp=xp), where(valid, target, 1.0, xp=xp)
    return 100.0 * (xp.sum(where(valid, term(f, a), 0.0, xp=xp)) / L.valid_count(mask, pred, xp))


def mape(pred: Any, target: Any, *, xp: Any, mask: Any = None, ignore_index: int = -100) -> Any:
    """Mean absolute percentage error, in percent: ``100 * mean(|a - f| / |a|)`` (``a`` the
    target); NaN when a counted target is 0."""
    def term(f: Any, a: Any) -> Any:
        size = xp.abs(a)
        return where(size > 0, xp.abs(a - f) / where(size > 0, size, 1.0, xp=xp), math.nan, xp=xp)
    return _percent(pred, target, term, xp=xp, mask=mask)


def smape(pred: Any, target: Any, *, xp: Any, mask: Any = None, ignore_index: int = -100) -> Any:
    """Symmetric MAPE, in percent on the 0-200 scale: ``100 * mean(2 |a - f| / (|a| + |f|))``, a
    term with ``a = f = 0`` counting 0."""
    def term(f: Any, a: Any) -> Any:
        den = xp.abs(a) + xp.abs(f)
        return where(den > 0, 2.0 * xp.abs(a - f) / where(den > 0, den, 1.0, xp=xp), 0.0, xp=xp)
    return _percent(pred, target, term, xp=xp, mask=mask)


def _nats(pred: Any, target: Any, *, xp: Any, mask: Any, ignore_index: int) -> Any:
    """Mean softmax cross-entropy in nats over the counted positions."""
    labels, counted, n = L.check_labels(pred, target, mask, ignore_index, xp, "cross-entropy")
    logp = L.log_softmax(pred, counted, xp)
    return L.mean_nll(logp, L.one_hot(labels, pred.shape[-1], xp), counted, n, xp)


def bpc(pred: Any, target: Any, *, xp: Any, mask: Any = None, ignore_index: int = -100) -> Any:
    """Bits per character: mean cross-entropy / ln 2."""
    return _nats(pred, target, xp=xp, mask=mask, ignore_index=ignore_index) / math.log(2.0)


def perplexity(pred: Any, target: Any, *, xp: Any, mask: Any = None, ignore_index: int = -100) -> Any:
    """``exp(mean cross-entropy)``."""
    return xp.exp(_nats(pred, target, xp=xp, mask=mask, ignore_index=ignore_index))


def _threshold_accuracy(pred: Any, target: Any, *, xp: Any, mask: Any) -> Any:
    """Share of valid elements with ``(pred > 0) == (target >= 0.5)``."""
    valid = L.check_binary(pred, target, mask, xp)
    right = (pred > 0) == (target >= 0.5)
    if valid is None:
        return xp.sum(xp.astype(right, pred.dtype)) / math.prod(pred.shape)
    right = xp.logical_and(right, valid)
    return xp.sum(xp.astype(right, pred.dtype)) / L.valid_count(mask, pred, xp)


def accuracy(pred: Any, target: Any, *, xp: Any, mask: Any = None, ignore_index: int = -100) -> Any:
    """Share of counted positions classified right: argmax of logits against integer labels
    (target of shape ``pred.shape[:-1]``), or thresholded logits against a float target of
    pred's shape (0 with nothing counted)."""
    if (compat.is_array_api_obj(pred) and compat.is_array_api_obj(target)
            and tuple(target.shape) == tuple(pred.shape) and pred.ndim > 0):
        return _threshold_accuracy(pred, target, xp=xp, mask=mask)
    labels, counted, n = L.check_labels(pred, target, mask, ignore_index, xp, "accuracy")
    z = where(xp.expand_dims(counted, axis=-1), pred, 0.0, xp=xp)
    right = xp.logical_and(xp.astype(xp.argmax(z, axis=-1), labels.dtype) == labels, counted)
    return xp.sum(xp.astype(right, pred.dtype)) / n


METRICS: dict[str, Callable] = {"mse": mse, "rmse": rmse, "mae": mae, "mape": mape, "smape": smape,
                                "accuracy": accuracy, "bpc": bpc, "perplexity": perplexity}
"""name -> metric function."""


def get(name: str) -> Callable:
    """The metric called ``name``; ValueError for an unknown name, TypeError for a non-string."""
    if not isinstance(name, str):
        raise TypeError(f"metrics: expected metric names ({', '.join(METRICS)}), got {type(name).__name__}")
    if name not in METRICS:
        raise ValueError(f"metrics: expected one of {', '.join(METRICS)}, got {name!r}")
    return METRICS[name]


def default_metrics(loss_name: str) -> tuple[str, ...]:
    """``("accuracy",)`` for a classification loss, ``("rmse", "mae")`` for the others."""
    L.target_kind(loss_name)  # ValueError naming an unknown loss
    return ("accuracy",) if loss_name in L.CLASSIFICATION else ("rmse", "mae")
