r"""Training a :class:`~rnnx.model.Model` on arrays: ``fit``, ``evaluate``, ``predict``.

    result = rnnx.fit(model, x, y, lengths=None, validation_data=None, validation_split=0.0,
                      epochs=10, batch_size=32, shuffle=True, optimizer="adam", lr=None,
                      loss=None, metrics=None, clip_norm=None, clip_value=None, tbptt=None,
                      early_stopping=None, restore_best_weights=None, on_epoch=None,
                      verbose=0, seed=0, params=None, resume=None, checkpoint=None,
                      checkpoint_every=1, should_stop=None, steps_per_execution=None,
                      diagnostics=None, distribution=None)
    result.params, result.history        # the trained parameters, one dict per epoch
    rnnx.evaluate(model, result.params, x_test, y_test)   # {"loss": ..., "rmse": ...}
    rnnx.predict(model, result.params, x_new)             # (B, O) or (B, T, O)

Arrays of any backend (NumPy, JAX, torch, CuPy, array-api-strict); everything runs on the
backend and device of ``x``.  Batch-first, as Keras: x (B, T, I); y (B, O) many-to-one or
(B, T, O) many-to-many (``(B,)`` / ``(B, T)`` when O = 1), or integer class labels (B,) /
(B, T) for ``loss="cross-entropy"``; ``lengths`` (B,) for padded sequences
(``batch_first=False``: x (T, B, I), y (T, B, O)).

One update is one function of arrays::

    loss, g = dL/dparams (explicit BPTT, rnnx.model)      g = clip(g)      params, opt = opt.step(...)

compiled as one program where the backend can (``jax.jit``: forward, backward, clipping
and the optimizer step), and on JAX K consecutive full batches run as one program (a
``lax.scan`` of the update, ``steps_per_execution``: Keras's name; default up to 32),
bit-identical to K separate calls.  No value is read back to the host per update: the epoch's loss
is summed on the device and read once per epoch (and every ``progress_every`` updates by
the progress bar), so NumPy and torch never sync per update either.

The shuffle of epoch e is drawn from ``random.Random(f"{seed}:{e}")`` and the dropout seed
of update n from ``f"{seed}:dropout:{n}"``: a run resumed from a :class:`FitState` repeats
exactly what an uninterrupted one does.

``should_stop`` (a callable, asked before every batch, or every K-batch program on JAX: a
plain Python call, no array read)
ends a run early and cleanly: when it returns True, the epoch in progress is undone (its
updates discarded) and :class:`Stopped` raised with the :class:`FitState` of the last
complete epoch, already written to ``checkpoint`` when one was given; resuming from it
repeats the uninterrupted run bit for bit.
"""

from __future__ import annotations

import functools
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import array_api_compat as compat

from rnnx import bounds, distributed
from rnnx.dask_parallel import WorkersLost
from rnnx import losses as L
from rnnx import metrics as M
from rnnx import optim
from rnnx import tbptt as TB
from rnnx._xp import host_ints, index_array, index_dtype, namespace, where
from rnnx.backends import capabilities
from rnnx.training import callbacks as C

__all__ = ["fit", "evaluate", "predict", "FitResult", "FitState", "Batches", "Stopped"]


class NonFiniteLoss(RuntimeError):
    """The training loss (or a parameter, or a gradient) became NaN or Inf.  ``where``
    (with ``check_finite``): which array first, in which update, e.g. ``update 3 of epoch 7:
    grads['weight_hh_l0']: 2 non-finite values (first nan at index (0, 1)); ...``."""

    def __init__(self, epoch: int, value: float, where: str | None = None) -> None:
        super().__init__(f"training loss became {value} at epoch {epoch}" + (f" ({where})" if where else ""))
        self.epoch, self.value, self.where = epoch, value, where


class Stopped(Exception):
    """``fit(..., should_stop=f)``: ``f()`` returned True before a batch, so training stopped.
    ``state`` is the :class:`FitState` of the last complete epoch (``epoch`` of them; the
    epoch in progress undone: its parameters, optimizer state and update count discarded),
    to pass back as ``fit(..., resume=state)``; with ``checkpoint=PATH`` that file holds
    this state when the exception is raised."""

    def __init__(self, state: FitState) -> None:
        super().__init__(f"training stopped by should_stop; kept epoch {state.epoch}")
        self.state, self.epoch = state, state.epoch


# -- the data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Batches:
    """Data in the model's layout: x (T, N, I) time-major; y (N, O) / labels (N,)
    (many-to-one, ``y_axis`` 0) or (T, N, O) / labels (T, N) (many-to-many, ``y_axis`` 1);
    lengths (N,) or None; w (N,) the samples' weights (``fit``'s ``sample_weight``) or None."""

    x: Any
    y: Any
    lengths: Any = None
    y_axis: int = 0
    w: Any = None

    @property
    def n(self) -> int:
        return self.x.shape[1]

    def take(self, idx: Any, *, xp: Any) -> Batches:
        """The samples ``idx`` (an integer index array), in that order."""
        return Batches(xp.take(self.x, idx, axis=1), xp.take(self.y, idx, axis=self.y_axis),
                       None if self.lengths is None else xp.take(self.lengths, idx, axis=0), self.y_axis,
                       None if self.w is None else xp.take(self.w, idx, axis=0))

    def part(self, a: int, b: int) -> Batches:
        """Samples [a, b) (a < b <= n)."""
        y = self.y[a:b, ...] if self.y_axis == 0 else self.y[:, a:b, ...]
        return Batches(self.x[:, a:b, ...], y, None if self.lengths is None else self.lengths[a:b], self.y_axis,
                       None if self.w is None else self.w[a:b])

    def cut(self, steps: int) -> Batches:
        """The first ``steps`` time steps (x, and y where it has a time axis): what a batch
        whose sequences are all at most ``steps`` long reads (a view where the library has
        views)."""
        if steps >= self.x.shape[0]:
            return self
        y = self.y[:steps, ...] if self.y_axis == 1 else self.y
        return Batches(self.x[:steps, ...], y, self.lengths, self.y_axis, self.w)


#: Cut lengths of compiled updates go up in steps of this ratio (and multiples of 8), so
#: that a panel of T steps compiles at most ``2 * ceil(log2(T)) + 1`` programs per batch
#: shape, each running at most 41% more steps than its batch's longest sequence.
CUT_RATIO = 2 ** 0.5


def cut_length(longest: int, steps: int, *, compiled: bool) -> int:
    """The time steps a batch whose longest sequence is ``longest`` (of a panel of
    ``steps``) runs: ``longest`` itself in eager code; where updates are compiled (one
    program per distinct length), the next of a few lengths (multiples of 8 growing by
    :data:`CUT_RATIO` from 8, and ``steps``)."""
    if not compiled or longest >= steps:
        return min(longest, steps)
    b = 8
    while b < longest:
        b = -(-int(b * CUT_RATIO) // 8) * 8
    return min(b, steps)


def batch_cuts(lengths: list[int], order: list[int], starts: list[tuple[int, int]], steps: int, *,
               compiled: bool) -> dict[int, int]:
    """{first sample a: the time steps of the update over samples ``order[a:e]``}, from the
    host copy of ``lengths`` (no read from the device)."""
    return {a: cut_length(max(lengths[i] for i in order[a:e]), steps, compiled=compiled) for a, e in starts}


def _labels(loss_name: str) -> bool:
    return L.target_kind(loss_name) == "labels"


def _as_array(name: str, a: Any, like: Any, xp: Any) -> Any:
    """Lists and scalars become arrays on ``like``'s device; arrays must share its library."""
    if a is None or compat.is_array_api_obj(a):
        return a
    if isinstance(a, (list, tuple)):
        return xp.asarray(a, device=compat.device(like))
    raise TypeError(f"{name}: expected an array, got {type(a).__name__}")


def prepare(model, x: Any, y: Any, lengths: Any = None, *, loss: str, batch_first: bool = True,
            names: tuple[str, str, str] = ("x", "y", "lengths")) -> Batches:
    """Check ``x``, ``y``, ``lengths`` against the model and the loss and put them in the
    model's layout.  Every error names the argument, what it got and what was expected."""
    nx, ny, nl = names
    if not compat.is_array_api_obj(x):
        raise TypeError(f"{nx}: expected an array (B, T, I), got {type(x).__name__}")
    xp0 = compat.array_namespace(x)
    y = _as_array(ny, y, x, xp0)
    lengths = _as_array(nl, lengths, x, xp0)
    xp = namespace(**{nx: x, ny: y, nl: lengths})
    if x.ndim != 3:
        raise ValueError(f"{nx}: expected a 3-D array ({'B, T' if batch_first else 'T, B'}, I), got shape "
                         f"{tuple(x.shape)}")
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{nx}: expected a real floating array, got dtype {x.dtype}")
    B, T = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    if x.shape[-1] != model.layer.input_size:
        raise ValueError(f"{nx}: expected {model.layer.input_size} features on the last axis (the model's "
                         f"input_size), got shape {tuple(x.shape)}")
    O, m2m, labels = model.output_size, model.objective == "many-to-many", _labels(loss)
    lead = ((B, T) if batch_first else (T, B)) if m2m else (B,)
    if labels:
        want = lead
        if not xp.isdtype(y.dtype, "integral"):
            raise TypeError(f"{ny}: expected integer class labels of shape {want} for {loss}, got dtype {y.dtype}"
                            " (the estimators rnnx.RNNClassifier map any labels to integers)")
        if tuple(y.shape) != want:
            raise ValueError(f"{ny}: expected class labels of shape {want} ({model.objective}), got "
                             f"{tuple(y.shape)}")
        _check_labels(ny, y, O, xp=xp, lengths=lengths if m2m else None, batch_first=batch_first)
    else:
        want = (*lead, O)
        if O == 1 and tuple(y.shape) == lead:
            y = xp.expand_dims(y, axis=-1)
        if tuple(y.shape) != want:
            raise ValueError(f"{ny}: expected shape {want} ({model.objective}, output_size={O}), got "
                             f"{tuple(y.shape)}")
        if not xp.isdtype(y.dtype, "real floating"):
            raise TypeError(f"{ny}: expected real floating targets for loss {loss!r}, got dtype {y.dtype}")
        if y.dtype != x.dtype:
            raise TypeError(f"{ny}: expected dtype {x.dtype} (that of {nx}), got {y.dtype}")
        if loss == "bce-logits":
            _check_probabilities(ny, y, xp=xp, lengths=lengths if m2m else None, batch_first=batch_first)
    if lengths is not None:
        if lengths.ndim != 1 or lengths.shape[0] != B:
            raise ValueError(f"{nl}: expected shape ({B},) (one length per sequence of {nx}), got "
                             f"{tuple(lengths.shape)}")
        if not xp.isdtype(lengths.dtype, "integral"):
            raise TypeError(f"{nl}: expected integers, got dtype {lengths.dtype}")
        lo, hi = int(xp.min(lengths)), int(xp.max(lengths))
        if lo < 1 or hi > T:
            raise ValueError(f"{nl}: expected every length in [1, T={T}], got values in [{lo}, {hi}]")
    if batch_first:
        x = xp.permute_dims(x, (1, 0, 2))
        if m2m:
            y = xp.permute_dims(y, (1, 0)) if labels else xp.permute_dims(y, (1, 0, 2))
    return Batches(x, y, lengths, 1 if m2m else 0)


def _check_labels(name: str, y: Any, n_classes: int, *, xp: Any, lengths: Any, batch_first: bool) -> None:
    """Class labels in [0, n_classes) (padded steps past ``lengths`` are not read)."""
    if lengths is not None:
        T = y.shape[1] if batch_first else y.shape[0]
        t = xp.arange(T, device=compat.device(y))
        valid = (t[None, :] < lengths[:, None]) if batch_first else (t[:, None] < lengths[None, :])
        lo = int(xp.min(where(valid, y, 0, xp=xp)))
        hi = int(xp.max(where(valid, y, 0, xp=xp)))
    else:
        lo, hi = int(xp.min(y)), int(xp.max(y))
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"{name}: expected class labels in [0, {n_classes}) (the model's output_size), got values "
                         f"in [{lo}, {hi}]")


def _check_probabilities(name: str, y: Any, *, xp: Any, lengths: Any, batch_first: bool) -> None:
    """bce-logits targets in [0, 1] (padded steps past ``lengths`` are not read)."""
    if math.prod(y.shape) == 0:
        return
    if lengths is not None:
        T = y.shape[1] if batch_first else y.shape[0]
        t = xp.arange(T, device=compat.device(y))
        valid = (t[None, :] < lengths[:, None]) if batch_first else (t[:, None] < lengths[None, :])
        y = where(xp.expand_dims(valid, axis=-1), y, 0.5, xp=xp)
    lo, hi = float(xp.min(y)), float(xp.max(y))
    if not (0.0 <= lo and hi <= 1.0):
        raise ValueError(f"{name}: expected targets in [0, 1] for bce-logits, got values in [{lo:g}, {hi:g}]")


# -- the state of a run -------------------------------------------------------------------------
@dataclass
class FitState:
    """Everything needed to continue a run exactly: pass it back as ``fit(..., resume=state)``
    with ``epochs`` larger than ``state.epoch`` (the same data, model and settings)."""

    params: dict
    opt_state: dict
    epoch: int = 0  # epochs completed
    updates: int = 0
    history: list[dict] = field(default_factory=list)
    best_params: dict | None = None
    best_score: float = math.inf
    best_epoch: int = 0
    callbacks: list = field(default_factory=list)  # each callback's state_dict(), in the order given
    clipped: int = 0  # updates whose gradient was clipped, in all


@dataclass
class FitResult:
    """What :func:`fit` returns: ``params`` (the best epoch's with early stopping and
    ``restore_best_weights``, else the last), ``history`` (one dict per epoch: ``epoch``,
    ``loss``, ``val_loss`` and ``val_<metric>`` with validation data, ``clipped`` (the
    fraction of updates whose gradient was clipped), ``seconds``), ``stopped`` ("done",
    "early-stopped" or "callback"), ``best_epoch``, and ``state`` to resume from."""

    params: dict
    history: list[dict]
    stopped: str
    best_epoch: int
    state: FitState

    def history_by_key(self) -> dict[str, list]:
        """The history as Keras's ``History.history``: one list per key."""
        keys = dict.fromkeys(k for row in self.history for k in row)
        return {k: [row.get(k) for row in self.history] for k in keys}


def _run_settings(opt, train: Batches, *, batch_size, shuffle, seed, loss, clip_value, clip_norm, tbptt, freeze,
                  early_stopping, dtype) -> dict:
    """What must not change between a run and its resumption (the epochs may)."""
    return {"batch_size": batch_size, "shuffle": shuffle, "seed": seed, "loss": loss, "optimizer": repr(opt),
            "clip_value": clip_value, "clip_norm": clip_norm, "tbptt": list(tbptt) if tbptt else None,
            "freeze": list(freeze), "early_stopping": early_stopping, "n_train": train.n, "dtype": str(dtype)}


def save_state(path: str, model, state: FitState, settings: dict, *, overwrite: bool = True) -> None:
    """``state`` as an rnnx ``fit-state`` file (:mod:`rnnx.io.checkpoint`: written to a
    temporary file and renamed, never half-written): params, the best epoch's params, the
    optimizer's slots, the counters and history, and the run's ``settings``."""
    from rnnx import backends
    from rnnx.io import checkpoint

    opt = optim.as_python(state.opt_state)
    meta = {"kind": "fit-state", "model": model.config(), "epoch": state.epoch, "updates": state.updates,
            "opt_step": opt["step"], "history": state.history,
            "best_score": state.best_score if math.isfinite(state.best_score) else 1e308,
            "best_epoch": state.best_epoch, "settings": settings, "clipped": state.clipped}
    if any(state.callbacks):  # files of runs without stateful callbacks stay as they were
        meta["callbacks"] = state.callbacks
    groups = {"params": state.params, "best": state.best_params or state.params}
    groups.update({f"opt.{slot}": d for slot, d in opt["slots"].items()})
    checkpoint.save(path, meta, groups, to_numpy=backends.to_numpy, overwrite=overwrite)


def load_state(path: str, model, opt, *, xp: Any, device: Any, dtype: Any,
               nofollow: bool = False) -> tuple[FitState, dict]:
    """A ``fit-state`` file back as (FitState on ``xp``/``device`` in ``dtype``, its settings);
    a file of another model or kind: ``ValueError`` naming ``resume`` and the file.
    ``nofollow``: a symbolic link at ``path`` is refused (a file rnnx wrote itself, never as
    a link): :class:`rnnx.io.checkpoint.CheckpointError`."""
    from rnnx.io import checkpoint

    meta, groups = checkpoint.load(path, nofollow=nofollow)
    if meta["kind"] != "fit-state":
        raise ValueError(f"resume: {path!r} is a {meta['kind']!r} file, expected the checkpoint of rnnx.fit "
                         "(fit(..., checkpoint=PATH))")
    if meta["model"] != model.config():
        raise ValueError(f"resume: {path!r} was written for the model {meta['model']}, not {model.config()}")
    arrays = lambda d: {k: xp.asarray(d[k], dtype=dtype, device=device) for k in model.param_shapes()}  # noqa: E731
    params = arrays(groups["params"])
    st = opt.init(params)
    st["step"] = meta["opt_step"]
    for slot in st["slots"]:
        if f"opt.{slot}" in groups:
            st["slots"][slot] = {k: xp.asarray(v, dtype=dtype, device=device) for k, v in groups[f"opt.{slot}"].items()}
    best = meta["best_score"] if meta["best_score"] < 1e308 else math.inf
    state = FitState(params, st, meta["epoch"], meta["updates"], list(meta["history"]),
                     arrays(groups["best"]) if meta["best_epoch"] else None, best, meta["best_epoch"],
                     list(meta.get("callbacks", [])), meta.get("clipped", 0))
    return state, meta["settings"]


# -- one update -----------------------------------------------------------------------------------
def _optimizer(optimizer: Any, lr: float | None):
    """:func:`rnnx.optim.make`: an optimizer object from a name (:data:`rnnx.optim.OPTIMIZERS`;
    ``lr`` its learning rate, else the optimizer's default) or an :mod:`rnnx.optim` object
    as it is (``lr`` then refused)."""
    return optim.make(optimizer, lr=lr)


def make_apply(opt, *, clip_value: float | None, clip_norm: float | None, freeze: tuple[str, ...] = (),
               xp: Any) -> Callable:
    """``apply(params, opt_state, grads) -> (params, opt_state, clipped)``: freeze, clip (by
    value, then by global norm, as the CLI always has), one optimizer step; ``clipped`` a
    0-d bool array (the gradient was clipped).

    A frozen parameter (``freeze``, a static set of names) is left out of the clipping and
    of the optimizer step: the optimizer never sees it, so no weight decay, momentum or
    ``0/0`` (Adam with ``eps=0``) reaches it; it comes back as the very same array and its
    optimizer slots as they were (absent where the optimizer creates slots on its first step)."""

    def apply(params, opt_state, grads):
        params_all, state_all = params, opt_state
        if freeze:
            params = {k: p for k, p in params.items() if k not in freeze}
            grads = {k: g for k, g in grads.items() if k not in freeze}
            opt_state = {**opt_state, "slots": {name: {k: a for k, a in d.items() if k not in freeze}
                                                for name, d in opt_state["slots"].items()}}
        some = next(iter(params_all.values()))
        clipped = xp.zeros((), dtype=xp.bool, device=compat.device(some))
        if clip_value is not None and grads:
            grads, gmax = optim.clip_by_value(grads, clip_value, xp=xp)
            clipped = clipped | (gmax > clip_value)
        if clip_norm is not None and grads:
            grads, norm = optim.clip_by_global_norm(grads, clip_norm, xp=xp)
            clipped = clipped | (norm > clip_norm)
        params, opt_state = opt.step(params, grads, opt_state, xp=xp)
        if freeze:  # the frozen parameters and their slots as they were, in the original order
            params = {k: (p if k in freeze else params[k]) for k, p in params_all.items()}
            old_slots = state_all["slots"]
            opt_state = {**opt_state, "slots": {name: _merge_slots(d, old_slots.get(name, {}), freeze)
                                                for name, d in opt_state["slots"].items()}}
        return params, opt_state, clipped

    return apply


def _merge_slots(new: dict, old: dict, freeze: tuple[str, ...]) -> dict:
    """One optimizer slot after a step of the trainable parameters (``new``) with the frozen
    parameters' entries of ``old`` put back, in ``old``'s order (then any new keys)."""
    merged = {k: (old[k] if k in freeze else new[k]) for k in old if k in freeze or k in new}
    merged.update({k: a for k, a in new.items() if k not in merged})
    return merged


def make_update(model, apply: Callable, loss_fn: Callable, *, stats: Callable | None = None) -> Callable:
    """The whole update as one pure function of arrays (what ``jax.jit`` compiles)::

        update(params, opt_state, x, y, lengths, seed, w=None) -> (params, opt_state, loss, clipped)

    ``loss_and_grad`` (explicit BPTT) then :func:`make_apply`'s ``apply``.  With ``stats``
    (``stats(params, grads, new_params, loss, clipped) -> dict``, e.g.
    :func:`rnnx.recorder.update_stats`) a fifth result: that dict, formed in the same program."""

    def update(params, opt_state, x, y, lengths, seed, w=None):  # w: the batch's sample weights
        loss, grads, _ = model.loss_and_grad(params, x, y, lengths=lengths, loss=loss_fn, seed=seed, sample_weight=w)
        new, opt_state, clipped = apply(params, opt_state, grads)
        if stats is None:
            return new, opt_state, loss, clipped
        return new, opt_state, loss, clipped, stats(params, grads, new, loss, clipped)

    return update


# -- evaluation -----------------------------------------------------------------------------------
def _predict_tm(model, params: dict, data: Batches, batch_size: int, *, xp: Any, compiled: Callable) -> Any:
    """Predictions of every sample, in batches of ``batch_size``, in the model's layout."""
    outs = []
    for a in range(0, data.n, batch_size):
        part = data.part(a, min(a + batch_size, data.n))
        outs.append(compiled(params, part.x, part.lengths))
    if len(outs) == 1:
        return outs[0]
    return xp.concat(outs, axis=1 if model.objective == "many-to-many" else 0)


def _scores(model, pred: Any, data: Batches, loss_fn: Callable, metric_names: tuple[str, ...], *, xp: Any,
            ignore_index: int = -100) -> dict[str, Any]:
    """The loss and metrics (0-d arrays) of ``pred`` against ``data`` (masked past lengths)."""
    mask = None
    if data.lengths is not None and model.objective == "many-to-many":
        mask = model.step_mask(pred.shape[0], data.lengths, xp=xp, device=compat.device(pred))
    kw = {} if mask is None else {"mask": mask}
    out = {"loss": loss_fn(pred, data.y, xp=xp, **kw)[0]}
    for name in metric_names:
        out[name] = M.get(name)(pred, data.y, xp=xp, **kw)
    return out


#: The last few jitted updates, so that another ``fit`` of the same model and settings (a
#: ``fit(epochs=1)`` loop, ``resume``, the estimators' refits) reuses the compiled programs
#: instead of tracing and compiling again (about 2 s a batch shape on 2 CPU cores for an LSTM(50)).
_UPDATES: dict[tuple, Callable] = {}
_UPDATES_KEPT = 8


def make_step(update: Callable, *, y_axis: int, index_dtype: Any, xp: Any) -> Callable:
    """One update of the compiled loop, the batch gathered inside the program::

        step(params, opt_state, total, clipped, x, y, lengths, idx, seed, w=None)
            -> (params, opt_state, total + loss, clipped + was_clipped)

    ``x, y, lengths, w``: the whole training data (time-major; w the sample weights or None), ``idx`` the batch's sample
    indices; the loss and clip count are summed in the same program (no dispatch of its own).
    An update with ``stats`` (:func:`make_update`) adds its record as a fifth result."""

    def step(params, opt_state, total, clipped, x, y, lengths, idx, seed, w=None):
        b = Batches(x, y, lengths, y_axis, w).take(idx, xp=xp)
        params, opt_state, loss, c, *stats = update(params, opt_state, b.x, b.y, b.lengths, seed, b.w)
        return (params, opt_state, total + loss, clipped + xp.astype(c, index_dtype), *stats)

    return step


#: Updates per compiled call on a backend with jit and a compiled loop (JAX), when
#: ``steps_per_execution`` is None: K consecutive full batches run as one ``lax.scan`` program.
AUTO_STEPS_PER_EXECUTION = 32


def make_steps(step: Callable, *, scan: Callable, xp: Any) -> Callable:
    """K updates of :func:`make_step` as one program (the backend's compiled loop,
    ``lax.scan``; bit-identical to K calls of ``step``)::

        steps(params, opt_state, total, clipped, x, y, lengths, idx, seeds, w=None) -> the same four

    ``idx`` (K, batch) the batches' sample indices, ``seeds`` (K,) their dropout seeds or None.
    One dispatch instead of K: on the weather bench (LSTM(4 -> 50), T = 14, B = 64, 16 updates)
    an epoch of 16 jitted calls took 34.9 ms, one scan of them 26.9 ms (median of 15)."""

    def steps(params, opt_state, total, clipped, x, y, lengths, idx, seeds, w=None):
        def body(carry, xs):
            s = None if seeds is None else xs[1]
            return step(*carry, x, y, lengths, xs[0], s, w), ()

        carry, _ = scan(body, (params, opt_state, total, clipped), (idx,) if seeds is None else (idx, seeds),
                        reverse=False, xp=xp)
        return carry

    return steps


def _dask_session(distribution: Any, model, train: Batches, loss: Any, xp: Any, *, tbptt, diagnostics):
    """The connected :class:`rnnx.dask_parallel.Session` of a ``DaskParallel``, else None
    (``loss``: the spec, options and all, sent to the workers)."""
    from rnnx.dask_parallel import DaskParallel, Session

    if not isinstance(distribution, DaskParallel):
        return None
    loss = L.for_training(loss)  # a name (the CLI's settings) or a spec
    distributed.refuse(model, loss.name, tbptt=tbptt, diagnostics=diagnostics, parts="part")
    return Session(distribution, model, train, loss, xp)


def _spmd(par, fn: Callable, *, split: tuple) -> Callable:
    """``fn`` (a step of :func:`make_step`'s signature) as one program over ``par``'s
    devices: the index argument (and ``valid``) split along ``split``'s axes, the rest
    replicated."""
    return par.data_parallel(fn, par.devices, (None,) * 7 + split)


def _compiled_update(model, opt, loss_name: str, clip_value, clip_norm, freeze: tuple[str, ...], xp: Any,
                     jit: Callable, update: Callable, extra: tuple = (), jit_key: Any = None) -> Callable:
    """``jit(update)``, or the one compiled before for an equal model configuration, optimizer
    (``repr`` of a frozen dataclass, as those of :mod:`rnnx.optim`: all its settings; any other
    optimizer object is compiled afresh, its attributes may change), loss, clipping, freeze
    and namespace."""
    import dataclasses
    import json

    if not (dataclasses.is_dataclass(opt) and type(opt).__dataclass_params__.frozen):
        return jit(update)
    key = (json.dumps(model.config(), sort_keys=True), repr(opt), loss_name, clip_value, clip_norm, freeze,
           xp.__name__, id(jit) if jit_key is None else jit_key, *extra)
    hit = _UPDATES.pop(key, None)
    if hit is None:
        hit = jit(update)
        while len(_UPDATES) >= _UPDATES_KEPT:
            _UPDATES.pop(next(iter(_UPDATES)))
    _UPDATES[key] = hit  # most recently used last
    return hit


def _all_finite(params: dict, *, xp: Any) -> Any:
    """0-d bool: every parameter finite."""
    return xp.all(xp.stack([xp.all(xp.isfinite(v)) for v in params.values()]))


def _finite(params: dict, *, xp: Any) -> bool:
    """Whether every parameter is finite, one host read per parameter (where the update is
    compiled, ``fit`` queues :func:`_all_finite` as one program instead)."""
    return all(bool(xp.all(xp.isfinite(p))) for p in params.values())


def _compile(fn: Callable, xp: Any) -> Callable:
    jit = capabilities(xp).jit
    return jit(fn) if jit else fn


def _predictor(model, xp: Any) -> Callable:
    return _compile(lambda p, x, lengths: model.predict(p, x, lengths=lengths)[0], xp)


def evaluate(model, params: dict, x: Any, y: Any, *, lengths: Any = None, loss: str | None = None,
             metrics: Any = None, batch_size: int = 256, batch_first: bool = True) -> dict[str, float]:
    """The loss and metrics of ``params`` on (x, y): ``{"loss": ..., "<metric>": ...}`` as
    Python floats, each the exact mean over every sample (valid steps only with
    ``lengths``), not a mean of batch means.  ``loss`` and ``metrics`` default as in
    :func:`fit`."""
    loss_name, loss_fn = _loss(model, loss)
    names = _metrics(metrics, loss_name)
    data = prepare(model, x, y, lengths, loss=loss_name, batch_first=batch_first)
    _positive_int("batch_size", batch_size)
    xp = namespace(x=data.x, y=data.y)
    pred = _predict_tm(model, params, data, batch_size, xp=xp, compiled=_predictor(model, xp))
    return {k: float(v) for k, v in _scores(model, pred, data, loss_fn, names, xp=xp).items()}


def predict(model, params: dict, x: Any, *, lengths: Any = None, batch_size: int = 256,
            batch_first: bool = True) -> Any:
    """The model's output for every sample of x (B, T, I): (B, O) many-to-one, (B, T, O)
    many-to-many (raw: logits for a classification loss), on x's backend and device."""
    if not compat.is_array_api_obj(x) or x.ndim != 3:
        raise ValueError(f"x: expected a 3-D array (B, T, I), got {getattr(x, 'shape', type(x).__name__)}")
    xp = compat.array_namespace(x)
    _positive_int("batch_size", batch_size)
    x_tm = xp.permute_dims(x, (1, 0, 2)) if batch_first else x
    lengths = _as_array("lengths", lengths, x, xp)
    fake_y = xp.zeros((x_tm.shape[1],), dtype=x.dtype, device=compat.device(x))
    data = Batches(x_tm, fake_y, lengths, 0)
    pred = _predict_tm(model, params, data, batch_size, xp=xp, compiled=_predictor(model, xp))
    if batch_first and pred.ndim == 3:
        return xp.permute_dims(pred, (1, 0, 2))
    return pred


# -- settings -------------------------------------------------------------------------------------
def _recorder(diagnostics: Any, model, train: Batches, loss_fn: Callable, loss_name: str, *, tbptt, clip_value,
              clip_norm, freeze: tuple[str, ...], steps_per_execution, jit, xp: Any) -> tuple[Any, Callable | None]:
    """The Recorder of ``diagnostics`` started on the training data, and its per-update
    statistics function (None when it records no updates)."""
    if diagnostics is None:
        return None, None
    from rnnx import recorder

    if not isinstance(diagnostics, recorder.Recorder):
        raise TypeError(f"diagnostics: expected an rnnx.recorder.Recorder, got {type(diagnostics).__name__}")
    if tbptt is not None:
        raise ValueError("diagnostics: not recorded with tbptt (its updates are per window of a batch); "
                         "train without tbptt to record them")
    if steps_per_execution is not None and steps_per_execution != 1:
        raise ValueError(f"steps_per_execution: diagnostics record every update, one program each; expected None "
                         f"or 1 with diagnostics, got {steps_per_execution!r}")
    diagnostics.start(model, train.x, train.y, train.lengths, loss=loss_fn, loss_name=loss_name,
                      y_axis=train.y_axis, clip_value=clip_value, clip_norm=clip_norm, jit=jit)
    if not diagnostics.records_updates:
        return diagnostics, None
    trainable = tuple(k for k in model.param_shapes() if k not in freeze)
    return diagnostics, functools.partial(recorder.update_stats, xp=xp, trainable=trainable)


def _steps_per_execution(v: Any, compiled: bool, has_scan: bool, n_full: int) -> int:
    """Updates per compiled call: ``v`` (an int >= 1), or None: up to
    :data:`AUTO_STEPS_PER_EXECUTION` full batches (1 without a compiled loop).  An int > 1
    where updates are not compiled (NumPy, torch, array-api-strict; tbptt) is refused: it
    would change nothing."""
    if v is None:
        return max(1, min(AUTO_STEPS_PER_EXECUTION, n_full)) if compiled and has_scan else 1
    _positive_int("steps_per_execution", v)
    if v > 1 and not (compiled and has_scan):
        raise ValueError(f"steps_per_execution: {v} needs a backend that compiles the update with a compiled "
                         "loop (JAX) and no tbptt; here every update runs on its own: leave it None or 1")
    return v


def _positive_int(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")


def _loss(model, loss: Any) -> tuple[str, Callable]:
    """The loss name (``"mse"`` unless given) and its spec (:func:`rnnx.losses.get`: a name
    or a spec such as ``Huber(delta=2.0)``); the spec's ``label`` names its options."""
    spec = L.for_training(loss)  # the labels' / targets' range was checked once by prepare()
    return spec.name, spec


def _metrics(metrics: Any, loss_name: str) -> tuple[str, ...]:
    if metrics is None:
        return tuple(M.default_metrics(loss_name))
    if isinstance(metrics, str):
        metrics = (metrics,)
    names = tuple(metrics)
    for n in names:
        M.get(n)  # ValueError naming the metrics
    if len(set(names)) != len(names):
        raise ValueError(f"metrics: each metric once, got {list(names)}")
    return names


def _validation(model, data: Batches, validation_data: Any, validation_split: float, *, loss: str,
                batch_first: bool) -> tuple[Batches, Batches | None]:
    """(training part, validation part or None) from ``validation_data`` or the last
    ``validation_split`` of the samples (before any shuffling, as Keras)."""
    if validation_data is not None and validation_split:
        raise ValueError("validation_split: give validation_data or validation_split, not both")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data: expected a tuple (x, y) or (x, y, lengths), got "
                            f"{type(validation_data).__name__}")
        vx, vy, *vl = validation_data
        val = prepare(model, vx, vy, vl[0] if vl else None, loss=loss, batch_first=batch_first,
                      names=("validation_data[0]", "validation_data[1]", "validation_data[2]"))
        namespace(x=data.x, **{"validation_data[0]": val.x})  # one library and device
        return data, val
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or not (
            0.0 <= validation_split < 1.0):
        raise ValueError(f"validation_split: expected a fraction in [0, 1), got {validation_split!r}")
    if not validation_split:
        return data, None
    n_train = int(data.n * (1.0 - validation_split))
    if n_train < 1 or n_train >= data.n:
        raise ValueError(f"validation_split: {validation_split} of {data.n} samples leaves "
                         f"{n_train} to train on and {data.n - n_train} to validate; expected at least 1 of each")
    return data.part(0, n_train), data.part(n_train, data.n)


def _settings(epochs, batch_size, clip_value, clip_norm, tbptt, early_stopping, restore_best_weights, verbose,
              seed, model, lengths) -> None:
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size)
    for name, v in (("clip_value", clip_value), ("clip_norm", clip_norm)):
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                  and v > 0):
            raise ValueError(f"{name}: expected a finite number > 0, got {v!r}")
    if early_stopping is not None:
        _positive_int("early_stopping", early_stopping)
    elif restore_best_weights is not None:
        raise ValueError("restore_best_weights: applies with early_stopping (a patience in epochs); "
                         "without it the last epoch's parameters are returned")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0 (silent), 1 (a progress bar) or 2 (one line per epoch), got {verbose!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if tbptt is not None:
        if (not isinstance(tbptt, (tuple, list)) or len(tbptt) != 2
                or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in tbptt)
                or tbptt[0] > tbptt[1]):
            raise ValueError(f"tbptt: expected two integers (k1, k2) with 1 <= k1 <= k2, got {tbptt!r}")
        if model.objective != "many-to-many":
            raise ValueError("tbptt: truncated BPTT needs objective='many-to-many' (a target at every step)")
        if lengths is not None:
            raise ValueError("tbptt: truncated BPTT runs over whole equal-length sequences; got lengths")


class _Progress:
    """verbose=1: a tqdm bar per epoch (a line per epoch without tqdm); 2: a line per epoch."""

    def __init__(self, verbose: int, epochs: int, n_batches: int) -> None:
        self.verbose, self.epochs, self.n, self.bar = verbose, epochs, n_batches, None
        self.tqdm = None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm

                self.tqdm = tqdm
            except ImportError:
                self.verbose = 2

    def start(self, epoch: int) -> None:
        if self.tqdm is not None:
            self.bar = self.tqdm(total=self.n, desc=f"epoch {epoch}/{self.epochs}", unit="batch", leave=False)

    def batches(self, done: int, loss: float | None) -> None:
        if self.bar is not None:
            self.bar.n = done
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            self.bar.refresh()

    def abort(self) -> None:
        """The epoch in progress is undone: its bar goes, no line is printed."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def end(self, row: dict) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.verbose:
            parts = " - ".join(f"{k}: {v:.4g}" for k, v in row.items()
                               if k not in ("epoch", "seconds", "clipped") and isinstance(v, float))
            print(f"epoch {row['epoch']}/{self.epochs} - {row['seconds']:.2f}s - {parts}", file=sys.stderr)


def _check_model(model: Any) -> None:
    from rnnx.model import Model

    if not isinstance(model, Model):
        got = f"{type(model).__name__} {model!r}" if isinstance(model, (str, int, float)) else type(model).__name__
        raise TypeError(f"model: expected an rnnx.Model, got {got}; build one with "
                        'rnnx.Model("gru", input_size, hidden_size)')


def _check_inputs(x: Any, y: Any, data: Batches, params: dict, *, xp: Any, resumed: bool, batch_first: bool,
                  validation: tuple[Any, Any, Batches] | None = None) -> None:
    """:func:`fit`'s one-time input checks: at least one sequence; x, floating y (their
    valid steps, where ``lengths`` pads), ``validation`` (``validation_data``'s x and y with
    their prepared batches: ``validation_data[0]`` / ``[1]``, likewise) and the starting
    parameters finite (:func:`rnnx.checks.first_non_finite`: one host read when all are, the
    message naming the array and its first bad element in the caller's layout)."""
    from rnnx import checks

    if data.x.shape[1] == 0:
        raise ValueError(f"x: expected at least one sequence, got shape {tuple(x.shape)}"
                         f"{'' if batch_first else ' (T, B, I)'}")
    named = _valid_steps("x", "y", x, y, data, xp=xp, batch_first=batch_first)
    if validation is not None:
        named += _valid_steps("validation_data[0]", "validation_data[1]", *validation, xp=xp, batch_first=batch_first)
    named += [(f"{'resume.params' if resumed else 'params'}[{k!r}]", v) for k, v in params.items()]
    bad = checks.first_non_finite(named, xp=xp)
    if bad is not None:
        raise ValueError(bad)


def _valid_steps(x_name: str, y_name: str, x: Any, y: Any, data: Batches, *, xp: Any,
                 batch_first: bool) -> list[tuple[str, Any]]:
    """``[(x_name, x), (y_name, y)]`` to check, in the caller's layout, the steps past a
    sequence's length (padding: anything may be there) zeroed; y only when floating."""
    if not compat.is_array_api_obj(y):
        y = data.y
    if data.lengths is not None:  # the steps past a sequence's length are padding: anything may be there
        T = data.x.shape[0]
        steps = xp.arange(T, dtype=data.lengths.dtype, device=compat.device(data.lengths))
        valid = steps[None, :] < data.lengths[:, None]  # (B, T)
        if not batch_first:
            valid = xp.permute_dims(valid, (1, 0))
        x = xp.where(valid[..., None], x, xp.zeros((), dtype=x.dtype, device=compat.device(x)))
        if y.ndim == 3:  # many-to-many targets follow x's steps
            y = xp.where(valid[..., None], y, xp.zeros((), dtype=y.dtype, device=compat.device(y)))
    named = [(x_name, x)]
    if xp.isdtype(data.y.dtype, "real floating"):
        named.append((y_name, y))
    return named


def _add_metrics(row: dict, extra: Any, cb: Any) -> None:
    """A callback's ``on_epoch_metrics`` result (None or a dict of new keys) into ``row``."""
    if extra is None:
        return
    if not isinstance(extra, dict):
        raise TypeError(f"callbacks: {type(cb).__name__}.on_epoch_metrics returned {type(extra).__name__}; expected a "
                        "dict of new history keys, or None")
    taken = [k for k in extra if k in row]
    if taken:
        raise ValueError(f"callbacks: {type(cb).__name__}.on_epoch_metrics returned {', '.join(map(repr, taken))}, "
                         "already in the history row; expected new keys")
    row.update(extra)


def _check_monitor(monitor: str, row: dict) -> None:
    if monitor not in row:
        raise ValueError(f"monitor: {monitor!r} is not in the history; it has {', '.join(row)}")


def _find_non_finite(model, apply: Callable, loss_fn: Callable, train: Batches, order: list[int], params: dict,
                     opt_state: dict, seed_of: Callable, *, epoch: int, batch_size: int, shuffle: bool, tbptt: Any,
                     xp: Any) -> str | None:
    """Replay one epoch eagerly from ``params`` / ``opt_state`` (its sample ``order``, and
    ``seed_of(k)`` the dropout seed of a batch after k updates: the same numbers), every loss, gradient and updated parameter
    checked; the first non-finite one as ``update k of epoch e: grads['weight_hh_l0']: ...``
    (:func:`rnnx.checks.first_non_finite`), or None when each is finite."""
    from rnnx import checks

    names, dev = list(model.param_shapes()), compat.device(train.x)
    count = [0]

    class _Found(Exception):
        pass

    def check(arrays: dict, what: str) -> None:
        bad = checks.first_non_finite([(f"{what}[{k!r}]", arrays[k]) for k in names if k in arrays], xp=xp)
        if bad is not None:
            raise _Found(f"update {count[0] + 1} of epoch {epoch}: {bad}")

    def step(p: dict, g: dict) -> dict:
        nonlocal opt_state
        check(g, "grads")
        p, opt_state, _ = apply(p, opt_state, g)
        check(p, "params")
        count[0] += 1
        return p

    try:
        for a in range(0, train.n, batch_size):
            e = min(a + batch_size, train.n)
            b = (train.take(index_array(order[a:e], xp=xp, dtype=index_dtype(xp, dev), device=dev), xp=xp)
                 if shuffle else train.part(a, e))
            if tbptt is not None:
                params, _ = TB.run(model, params, b.x, b.y, k1=tbptt[0], k2=tbptt[1], update=step, loss=loss_fn,
                                   seed=seed_of(count[0]))
                continue
            loss, grads, _ = model.loss_and_grad(params, b.x, b.y, lengths=b.lengths, loss=loss_fn,
                                                 seed=seed_of(count[0]), sample_weight=b.w)
            if not bool(xp.isfinite(loss)):
                raise _Found(f"update {count[0] + 1} of epoch {epoch}: the loss is {float(loss)} with finite inputs "
                             "and parameters")
            params = step(params, grads)
    except _Found as found:
        return str(found)
    return None


def fit(model, x: Any, y: Any, *, lengths: Any = None, validation_data: Any = None, validation_split: float = 0.0,
        epochs: int = 10, batch_size: int = 32, shuffle: bool = True, optimizer: Any = "adam", lr: float | None = None,
        loss: str | None = None, metrics: Any = None, clip_norm: float | None = None, clip_value: float | None = None,
        tbptt: tuple[int, int] | None = None, early_stopping: int | None = None,
        restore_best_weights: bool | None = None, on_epoch: Callable[[dict], Any] | None = None, verbose: int = 0,
        seed: int = 0, params: dict | None = None, resume: FitState | str | None = None, batch_first: bool = True,
        freeze: tuple[str, ...] | None = None, progress_every: int = 10, checkpoint: str | None = None,
        checkpoint_every: int = 1, should_stop: Callable[[], bool] | None = None,
        steps_per_execution: int | None = None, diagnostics: Any = None, distribution: Any = None,
        callbacks: Any = None, sample_weight: Any = None, monitor: str | None = None,
        find_non_finite: bool = False) -> FitResult:
    """Train ``model`` on (x, y) with its explicit gradient; see the module docstring for
    shapes.  Returns a :class:`FitResult` (``params``, ``history``, ``state``).

    - ``params``: the starting parameters (default ``model.init_params(xp, seed=seed)`` in
      x's dtype, on x's device); ``resume``: a previous result's ``state``, or the path of a
      ``checkpoint`` file, to continue (to ``epochs`` in all, as Keras's ``initial_epoch``);
      the same data and settings give the numbers of an uninterrupted run, bit for bit.  A
      ``resume`` path that is ``checkpoint`` too (fit's own file, never written as a link) is
      not read through a symbolic link.
    - ``checkpoint``: a path written (atomically) every ``checkpoint_every`` epochs and at
      the end: :func:`save_state`; in a multi-process JAX run by process 0 only.
    - ``steps_per_execution``: updates per compiled call where the update is compiled with a
      compiled loop (JAX, no tbptt): None (default) runs up to :data:`AUTO_STEPS_PER_EXECUTION`
      full batches as one ``lax.scan`` program (the rest, and a short last batch, one at a
      time); 1 one program per update.  Results are the same bits either way; the progress
      bar and ``should_stop`` are consulted between programs.  An int > 1 on a backend that
      runs each update eagerly (NumPy, torch, array-api-strict) is refused.
    - ``should_stop()``: asked before every batch (every program, see above); True raises :class:`Stopped` with the
      state of the last complete epoch (the one in progress undone), which ``checkpoint``
      then holds (written now if ``checkpoint_every`` skipped that epoch).  A state that
      had stopped early (``early_stopping``) resumes to no further epoch, as the
      uninterrupted run would.
    - ``validation_data=(x, y[, lengths])`` or ``validation_split`` (the last fraction of
      the samples); each epoch then reports ``val_loss`` and ``val_<metric>``.
    - ``loss``: ``"mse"`` (default), ``"mae"``, ``"huber"``, ``"quantile"``, ``"cross-entropy"``
      (integer labels), ``"bce-logits"``, or a spec with options (``rnnx.losses.Huber(delta=2.0)``,
      ``Quantile(q=0.9)``; :mod:`rnnx.losses`); ``metrics``: names of
      :mod:`rnnx.metrics` (default: rmse and mae, or accuracy for a classification loss).
    - ``optimizer``: ``"adam"`` / ``"sgd"`` / ``"adagrad"`` / ``"rmsprop"`` / ``"adamw"`` with
      ``lr`` (else the optimizer's default; :func:`rnnx.optim.make`), or an :mod:`rnnx.optim` object.
    - ``clip_value`` then ``clip_norm``: gradient clipping per update.
    - ``tbptt=(k1, k2)``: truncated BPTT (many-to-many, equal lengths).
    - ``early_stopping``: patience in epochs on ``val_loss`` (``loss`` without validation);
      ``restore_best_weights`` (default True with it) returns the best epoch's parameters.
    - ``on_epoch(row)``: called after every epoch with its history row; returning True
      stops training ("callback").
    - ``sample_weight`` (B,): each sample's weight (floats >= 0, at least one not 0) in the training
      loss: every update minimises its batch's weighted mean, ``sum_b w_b l_b / sum_b w_b n_b``
      (scikit-learn's convention; :mod:`rnnx.losses`); with ``validation_split`` the weights
      split with the samples and the validation scores are unweighted.  Not with ``tbptt`` or
      ``distribution``.
    - ``callbacks``: a list of :class:`rnnx.training.Callback` (hooks ``on_fit_start``,
      ``on_epoch_end``, ``on_fit_end``; ``run.stop(reason)``; ``state_dict`` kept in the
      checkpoint), e.g. :class:`rnnx.training.EarlyStopping` with its ``monitor``,
      ``min_delta`` and ``mode`` (``early_stopping=N`` is ``EarlyStopping(N)``; give one of the two).
    - ``verbose``: 0 silent, 1 a progress bar (tqdm, reading the loss every
      ``progress_every`` updates), 2 one line per epoch.
    - ``shuffle``: a new order of the training samples every epoch (seeded), else in order.
    - ``freeze``: parameter names that keep their values: the optimizer never sees them (no
      weight decay, momentum or Adam step reaches them; they are left out of the clipping).
      None (the default): the model's own ``model.frozen``, which a converter sets for the
      parameters its source library does not have (``from_keras``: the ``bias_hh`` of a
      one-bias layer), else none; ``()`` trains every parameter.
    - ``diagnostics``: an :class:`rnnx.recorder.Recorder`: per update the gradient norms
      before clipping, whether clipped, the update-to-parameter ratios (in the update's own
      program; read once an epoch), and per epoch (and before the first) the gradient flow,
      Jacobian profile and gate saturation on its probe batch.  One program per update
      (``steps_per_execution`` > 1 refused); not with ``tbptt``.  The numbers trained are
      the same bits as without it.
    - ``distribution``: an :class:`rnnx.distributed.DataParallel`: every update's batch split
      over several devices (JAX), one SPMD program with one all-reduce of the gradients,
      clipping after it; the numbers of one device (see :mod:`rnnx.distributed`: a short last
      batch is padded and masked; ``batch_size`` a multiple of the devices).  The returned
      parameters are on the data's device.  Or an :class:`rnnx.dask_parallel.DaskParallel`
      (NumPy / CuPy): each batch in parts on Dask workers, the optimizer here
      (:class:`~rnnx.dask_parallel.WorkersLost` when they are gone, after the checkpoint).

    Checked once before training (one host read, no per-step sync): ``model`` an
    :class:`rnnx.Model` (TypeError), x with at least one sequence, and x, floating y and the
    starting parameters finite (ValueError naming the array and its first bad element, as
    ``x: 1 non-finite value (first nan at index (2, 3, 0)); ...``); so a :class:`NonFiniteLoss`
    is a loss that diverged from finite inputs.
    """
    _check_model(model)
    loss_name, loss_fn = _loss(model, loss)
    names = _metrics(metrics, loss_name)
    _settings(epochs, batch_size, clip_value, clip_norm, tbptt, early_stopping, restore_best_weights, verbose,
              seed, model, lengths)
    _positive_int("progress_every", progress_every)
    freeze = tuple(getattr(model, "frozen", ())) if freeze is None else freeze  # a converted model's default
    unknown = [k for k in freeze if k not in model.param_shapes()]
    if isinstance(freeze, str) or unknown:
        raise ValueError(f"freeze: expected parameter names of the model ({', '.join(model.param_shapes())}), "
                         f"got {freeze!r}")
    data = prepare(model, x, y, lengths, loss=loss_name, batch_first=batch_first)
    if sample_weight is not None:
        data = replace(data, w=_sample_weight(sample_weight, data, x, tbptt=tbptt, distribution=distribution))
    train, val = _validation(model, data, validation_data, validation_split, loss=loss_name, batch_first=batch_first)
    xp, dev = namespace(x=train.x, y=train.y), compat.device(train.x)
    opt = _optimizer(optimizer, lr)
    bounds.check_training(model, batch_size=batch_size, steps=int(train.x.shape[0]), sequences=train.n,
                          itemsize=xp.finfo(train.x.dtype).bits // 8, slots=bounds.optimizer_slots(opt),
                          transforms=(clip_value is not None) + (clip_norm is not None) + bool(freeze))

    cbs, stopper = _callbacks(callbacks, on_epoch, early_stopping, restore_best_weights)
    own = list(callbacks or [])  # the caller's: their state_dict()s go into the checkpoint
    _positive_int("checkpoint_every", checkpoint_every)
    if checkpoint is not None and not (isinstance(checkpoint, str) or callable(checkpoint)):
        raise TypeError(f"checkpoint: expected a file path or a callable write(state), got {type(checkpoint).__name__}")
    if monitor is not None and (not isinstance(monitor, str) or not monitor):
        raise ValueError(f"monitor: expected a history key such as 'val_loss', got {monitor!r}")
    if not isinstance(find_non_finite, bool):
        raise TypeError(f"find_non_finite: expected True or False, got {find_non_finite!r}")
    if should_stop is not None and not callable(should_stop):
        raise TypeError(f"should_stop: expected a callable returning True to stop, got {type(should_stop).__name__}")
    # the epoch the checkpoint file holds (a run resumed from that very file: its epoch)
    written = -1
    if isinstance(resume, str) and isinstance(checkpoint, str) and os.path.abspath(resume) == os.path.abspath(checkpoint):
        written = None  # set to the loaded state's epoch below
    run = _run_settings(opt, train, batch_size=batch_size, shuffle=shuffle, seed=seed, loss=loss_fn.label,
                        clip_value=clip_value, clip_norm=clip_norm, tbptt=tbptt, freeze=tuple(freeze),
                        early_stopping=_stopper_setting(stopper), dtype=train.x.dtype)
    if sample_weight is not None:  # only when given: checkpoints written without it still resume
        run["sample_weight"] = True
    if isinstance(resume, str):
        # the run's own checkpoint (resume == checkpoint): written by fit, never as a link, so never read through one
        resume, stored = load_state(resume, model, opt, xp=xp, device=dev, dtype=train.x.dtype,
                                    nofollow=written is None)
        # (a setting written only when used, as sample_weight, is compared when either side has it)
        changed = [k for k in (*run, *(k for k in ("sample_weight",) if k in stored and k not in run))
                   if stored.get(k) != run.get(k)]
        if changed:
            k = changed[0]
            raise ValueError(f"resume: the checkpoint was written with {k}={stored.get(k)!r}, this fit has "
                             f"{k}={run.get(k)!r}; expected the run's own settings to continue it")
    if resume is not None:
        if not isinstance(resume, FitState):
            raise TypeError(f"resume: expected the FitState of a previous fit (result.state), got "
                            f"{type(resume).__name__}")
        if params is not None:
            raise ValueError("params: a resumed run continues from resume.params; give one of params, resume")
        st = replace(resume, history=list(resume.history))
        if written is None:
            written = st.epoch
    else:
        if params is None:
            params = model.init_params(xp, seed=seed, dtype=train.x.dtype, device=dev)
        namespace(x=train.x, **{f"params[{k!r}]": v for k, v in params.items()})
        st = FitState(params=dict(params), opt_state=opt.init(params))
    _check_inputs(x, y, data, st.params, xp=xp, resumed=resume is not None, batch_first=batch_first,
                  validation=None if validation_data is None else (*validation_data[:2], val))

    apply = make_apply(opt, clip_value=clip_value, clip_norm=clip_norm, freeze=tuple(freeze), xp=xp)
    jit = capabilities(xp).jit
    compiled = jit is not None and tbptt is None
    rec, stats = _recorder(diagnostics, model, train, loss_fn, loss_name, tbptt=tbptt, clip_value=clip_value,
                           clip_norm=clip_norm, freeze=tuple(freeze), steps_per_execution=steps_per_execution,
                           jit=jit, xp=xp)
    par = distributed.plan(distribution, xp, batch_size=batch_size, tbptt=tbptt, diagnostics=diagnostics,
                           model=model, loss_name=loss_name, home=dev)
    update = make_update(model, apply, loss_fn, stats=stats)
    it = index_dtype(xp, dev)
    home = par.home if par is not None else (lambda tree: tree)
    writer = capabilities(xp).process_index() == 0  # several processes (jax.distributed): process 0 writes
    spe = 1 if rec is not None else _steps_per_execution(steps_per_execution, compiled,
                                                         capabilities(xp).scan is not None, train.n // batch_size)
    if compiled and par is None:
        one = make_step(update, y_axis=train.y_axis, index_dtype=it, xp=xp)
        step = _compiled_update(model, opt, loss_fn.label, clip_value, clip_norm, tuple(freeze), xp, jit, one,
                                extra=("step", str(it), "stats" if stats is not None else ""))
        if spe > 1:
            steps = _compiled_update(model, opt, loss_fn.label, clip_value, clip_norm, tuple(freeze), xp, jit,
                                     make_steps(one, scan=capabilities(xp).scan, xp=xp),
                                     extra=("steps", str(it)))
    elif compiled:  # data parallel: the same update as one SPMD program over par.devices
        one = distributed.make_step(model, apply, loss_name, loss_fn, y_axis=train.y_axis, index_dtype=it, xp=xp,
                                    all_sum=par.all_sum)
        spmd = functools.partial(_spmd, par)
        step = _compiled_update(model, opt, loss_fn.label, clip_value, clip_norm, tuple(freeze), xp,
                                functools.partial(spmd, split=(0, None)), one,
                                extra=("dp-step", str(it), *par.key()), jit_key="dp")
        padded = _compiled_update(model, opt, loss_fn.label, clip_value, clip_norm, tuple(freeze), xp,
                                  functools.partial(spmd, split=(0, None, 0)), one,
                                  extra=("dp-padded", str(it), *par.key()), jit_key="dp")
        if spe > 1:
            steps = _compiled_update(model, opt, loss_fn.label, clip_value, clip_norm, tuple(freeze), xp,
                                     functools.partial(spmd, split=(1, None)),
                                     make_steps(one, scan=capabilities(xp).scan, xp=xp),
                                     extra=("dp-steps", str(it), *par.key()), jit_key="dp")
    if compiled:
        st.opt_state = optim.as_arrays(st.opt_state, xp=xp, device=dev, params=st.params)
    local = train  # on the data's device (what a replay of a non-finite epoch runs on)
    if par is not None:
        train = Batches(*par.place((train.x, train.y, train.lengths)), train.y_axis)
        val = None if val is None else Batches(*par.place((val.x, val.y, val.lengths)), val.y_axis)
        st.params, st.opt_state = par.place(st.params), par.place(st.opt_state)
    predictor = _predictor(model, xp)
    finite_c = _compile(functools.partial(_all_finite, xp=xp), xp) if compiled else None
    dropout = model.layer.dropout > 0
    n_batches = -(-train.n // batch_size)
    progress = _Progress(verbose, epochs, n_batches)
    stopped = "done"
    monitor = monitor or ("val_loss" if val is not None else "loss")
    view = C.Run(st, monitor, home if par is not None else None)
    for cb, stored in zip(own, st.callbacks):
        cb.load_state_dict(stored)

    def snapshot(state: FitState) -> FitState:
        """``state`` with its arrays on the data's device and the optimizer's step a Python int."""
        return replace(state, history=list(state.history), opt_state=optim.as_python(home(state.opt_state)),
                       params=home(state.params), best_params=home(state.best_params))

    def save(state: FitState) -> None:
        if callable(checkpoint):  # the caller's writer (the CLI's run folder)
            checkpoint(snapshot(state))
        else:
            save_state(checkpoint, model, state, run)

    def stop(updates0: int) -> Stopped:
        """The epoch in progress undone; the last complete one kept (and in the checkpoint)."""
        progress.abort()
        st.updates = updates0
        kept = snapshot(st)
        if checkpoint is not None and written != kept.epoch and writer:
            save(kept)
        return Stopped(kept)

    def explained(epoch: int, value: float, start: tuple, reason: str, plain: str | None) -> NonFiniteLoss:
        """The error of an epoch that went non-finite: with ``find_non_finite``, the epoch
        replayed from ``start`` names its first non-finite loss, gradient or parameter (or,
        none being so, says so and gives ``reason``); else ``plain``."""
        if not find_non_finite:
            return NonFiniteLoss(epoch, value, plain)
        p0, o0, order0, updates0 = start
        def seed_of(k: int) -> int | None:  # the dropout seed after k updates of the epoch: its own masks
            return random.Random(f"{seed}:dropout:{updates0 + k}").getrandbits(31) if dropout else None

        where = _find_non_finite(model, apply, loss_fn, local, order0, home(p0), home(o0), seed_of, epoch=epoch,
                                 batch_size=batch_size, shuffle=shuffle, tbptt=tbptt, xp=xp)
        return NonFiniteLoss(epoch, value, where or "every update's loss, gradients and parameters are finite, "
                             f"but {reason}")

    def weights(b: Batches) -> tuple:
        """The sample weights as a trailing argument of a compiled step, only when there are
        some (the data-parallel step, which refuses them, takes none)."""
        return () if b.w is None else (b.w,)

    def dropout_seed():
        s = random.Random(f"{seed}:dropout:{st.updates}").getrandbits(31)
        return xp.asarray(s, dtype=it, device=dev) if compiled else s

    def dropout_seeds(k: int):
        """The seeds of the next k updates, one array: what k calls of dropout_seed give."""
        return xp.asarray([random.Random(f"{seed}:dropout:{st.updates + j}").getrandbits(31) for j in range(k)],
                          dtype=it, device=dev)

    dask = _dask_session(distribution, model, train, loss_fn, xp, tbptt=tbptt, diagnostics=rec)
    try:
        for cb in cbs:  # the run is set up: training starts now
            cb.on_fit_start(view)
    except BaseException:
        if dask is not None:
            dask.close()
        raise
    stopped = view.stopped or "done"
    if rec is not None:
        rec.truncate(st.epoch)
        if not any(r["epoch"] == st.epoch for r in rec.epochs):
            rec.record_epoch(st.epoch, st.params)  # where training starts (epoch 0: the initial parameters)

    # each batch runs to its own longest sequence (padding is masked: the same loss, the
    # gradients up to the order of their sums over time): the lengths read to the host once
    T = int(train.x.shape[0])
    host_lengths = None
    if train.lengths is not None and par is None and dask is None and rec is None:
        host_lengths = host_ints(train.lengths)
    cut_data: dict[int, Batches] = {}  # the training data cut to each length used (views, or one copy each)

    def cut(steps: int) -> Batches:
        if steps not in cut_data:
            cut_data[steps] = train.cut(steps)
        return cut_data[steps]

    def epoch_order(epoch: int) -> tuple:
        """Epoch ``epoch``'s sample order, its index array (one host-to-device copy) and,
        where updates are compiled, each program's indices by first sample (sliced here, so
        that this host work can run while the device computes the epoch before)."""
        order = list(range(train.n))
        if shuffle:
            random.Random(f"{seed}:{epoch}").shuffle(order)
        perm, chunks = None, {}
        if shuffle or compiled:
            perm = index_array(order, xp=xp, dtype=it, device=dev)
            if par is not None:
                perm = par.place(perm)
        a, spans = 0, []
        while compiled and a < train.n:
            if spe > 1 and train.n - a >= spe * batch_size:
                chunks[a] = xp.reshape(perm[a:a + spe * batch_size], (spe, batch_size))
                spans.append((a, a + spe * batch_size))
                a += spe * batch_size
            else:
                chunks[a] = perm[a:min(a + batch_size, train.n)]
                spans.append((a, min(a + batch_size, train.n)))
                a += batch_size
        if not compiled:
            spans = [(a, min(a + batch_size, train.n)) for a in range(0, train.n, batch_size)]
        cuts = None if host_lengths is None else batch_cuts(host_lengths, order, spans, T, compiled=compiled)
        return epoch, order, perm, chunks, cuts

    ahead = None  # the next epoch's epoch_order, made while the device computes this one
    if compiled:
        zeros = (xp.zeros((), dtype=train.x.dtype, device=dev), xp.zeros((), dtype=it, device=dev))
        if par is not None:
            zeros = par.place(zeros)
    try:
        while st.epoch < epochs and stopped == "done":
            t0 = time.perf_counter()
            updates0 = st.updates
            epoch_stats: list = []
            _, order, perm, chunks, cuts = ahead if ahead is not None and ahead[0] == st.epoch else epoch_order(st.epoch)
            ahead = None
            params, opt_state = st.params, st.opt_state
            start = (params, opt_state, order, updates0)  # what a replay of this epoch starts from
            total, clipped_n, done = None, None, 0
            if compiled:
                total, clipped_n = zeros  # arrays are never mutated: the same two every epoch
            progress.start(st.epoch + 1)
            a = 0
            while a < train.n:
                if should_stop is not None and should_stop():
                    raise stop(updates0)
                before = done
                src = train if cuts is None else cut(cuts[a])  # this batch's time steps
                if compiled and spe > 1 and train.n - a >= spe * batch_size:  # spe full batches: one program
                    e = a + spe * batch_size
                    params, opt_state, total, clipped_n = steps(
                        params, opt_state, total, clipped_n, src.x, src.y, src.lengths, chunks[a],
                        dropout_seeds(spe) if dropout else None, *weights(src))
                    st.updates += spe
                    done += spe
                elif par is not None and train.n - a < batch_size and (train.n - a) % par.n:
                    e = train.n  # a short last batch that does not split evenly: padded, the padding masked
                    idx, valid = par.pad(order[a:e])
                    params, opt_state, total, clipped_n = padded(
                        params, opt_state, total, clipped_n, train.x, train.y, train.lengths,
                        par.place(index_array(idx, xp=xp, dtype=it, device=dev)), None,
                        par.place(xp.asarray(valid, dtype=xp.bool, device=dev)))
                    st.updates += 1
                    done += 1
                elif compiled:  # the gather, the update and the sums: one program
                    e = min(a + batch_size, train.n)
                    params, opt_state, total, clipped_n, *rec_u = step(params, opt_state, total, clipped_n, src.x,
                                                                       src.y, src.lengths, chunks[a],
                                                                       dropout_seed() if dropout else None,
                                                                       *weights(src))
                    epoch_stats += rec_u
                    st.updates += 1
                    done += 1
                if compiled:
                    a = e
                    if progress.bar is not None and (done // progress_every > before // progress_every
                                                     or done == n_batches):
                        progress.batches(done, float(total) / done)
                    continue
                e = min(a + batch_size, train.n)
                b = src.take(perm[a:e], xp=xp) if shuffle else src.part(a, e)
                if tbptt is not None:
                    def tb_update(p, g):  # one optimizer step per window: each one an update
                        nonlocal opt_state, clipped_n
                        p, opt_state, c = apply(p, opt_state, g)
                        c = xp.astype(c, it)
                        clipped_n = c if clipped_n is None else clipped_n + c
                        st.updates += 1
                        return p

                    params, window_losses = TB.run(model, params, b.x, b.y, k1=tbptt[0], k2=tbptt[1], update=tb_update,
                                                   loss=loss_fn, seed=dropout_seed() if dropout else None)
                    value = sum(window_losses[1:], window_losses[0]) / len(window_losses)
                else:
                    if dask is not None:  # the batch's parts on the Dask workers; clip and step here
                        try:
                            value, grads = dask.loss_and_grad(model, params, order[a:e])
                        except WorkersLost as lost:
                            kept = stop(updates0).state
                            where = (f"; its last checkpoint (epoch {kept.epoch}): {checkpoint}"
                                     if isinstance(checkpoint, str) else "")
                            raise WorkersLost(f"{lost}; the run stops{where}") from None
                        params, opt_state, c = apply(params, opt_state, grads)
                        rec_u = []
                    else:
                        params, opt_state, value, c, *rec_u = update(params, opt_state, b.x, b.y, b.lengths,
                                                                     dropout_seed() if dropout else None, b.w)
                    epoch_stats += rec_u
                    c = xp.astype(c, it)
                    clipped_n = c if clipped_n is None else clipped_n + c
                    st.updates += 1
                total = value if total is None else total + value
                done += 1
                a = e
                if progress.bar is not None and (done % progress_every == 0 or done == n_batches):
                    progress.batches(done, float(total) / done)
            finite_flag = None
            if compiled:  # queued behind the epoch's updates, and the next epoch's host work done meanwhile
                finite_flag = finite_c(params)
                if st.epoch + 1 < epochs:
                    ahead = epoch_order(st.epoch + 1)
            epoch_loss = float(total) / done  # the one host read of the epoch
            if rec is not None:  # before the finiteness check: an update that exploded is on record
                rec.record_updates(st.epoch + 1, updates0, epoch_stats, xp)
            if not math.isfinite(epoch_loss) or not (bool(finite_flag) if compiled else _finite(params, xp=xp)):
                progress.end({"epoch": st.epoch + 1, "seconds": time.perf_counter() - t0})
                raise explained(st.epoch + 1, epoch_loss, start, "the sum of the batch losses overflows",
                                None if math.isfinite(epoch_loss) else "lower lr, or clip the gradient (clip_norm=1.0)")
            st.params, st.opt_state, st.epoch = params, opt_state, st.epoch + 1
            row: dict[str, Any] = {"epoch": st.epoch, "loss": epoch_loss}
            if val is not None:
                pred = _predict_tm(model, params, val, batch_size, xp=xp, compiled=predictor)
                row.update({f"val_{k}": float(v) for k, v in _scores(model, pred, val, loss_fn, names, xp=xp).items()})
            n_clipped = int(clipped_n) if clipped_n is not None else 0
            st.clipped += n_clipped
            row["clipped"] = n_clipped / max(1, st.updates - updates0)  # of the epoch's optimizer steps
            try:
                for cb in cbs:  # numbers a callback adds to the row, before anything reads it
                    _add_metrics(row, cb.on_epoch_metrics(view, dict(row)), cb)
            except NonFiniteLoss as e:  # e.g. the predictions overflow with finite parameters
                raise explained(e.epoch, e.value, start, e.where, e.where) from None
            if st.epoch == 1 or len(st.history) == 0:
                _check_monitor(monitor, row)
            row["seconds"] = time.perf_counter() - t0
            if rec is not None:
                rec.record_epoch(st.epoch, params)
            st.history.append(row)
            if stopper is None:  # the best epoch on the run's monitor (EarlyStopping keeps it by its own rule)
                score = row[monitor]
                if score < st.best_score:
                    st.best_score, st.best_epoch, st.best_params = score, st.epoch, params
            progress.end(row)
            for cb in cbs:
                cb.on_epoch_end(view, dict(row))
            stopped = view.stopped or "done"
            st.callbacks = [cb.state_dict() for cb in own]
            if checkpoint is not None and writer and (stopped != "done" or st.epoch >= epochs
                                                      or st.epoch % checkpoint_every == 0):
                save(st)
                written = st.epoch
    finally:
        if dask is not None:
            dask.close()
    if par is not None:
        st.params, st.best_params, st.opt_state = home(st.params), home(st.best_params), home(st.opt_state)
    if compiled:
        st.opt_state = optim.as_python(st.opt_state)
    restore = stopper is not None and stopper.restore_best_weights and st.best_params is not None
    for cb in cbs:
        cb.on_fit_end(view)
    return FitResult(st.best_params if restore else st.params, st.history, stopped, st.best_epoch, st)


def _callbacks(callbacks: Any, on_epoch: Any, early_stopping: int | None,
               restore_best_weights: bool | None) -> tuple[list, C.EarlyStopping | None]:
    """The run's callbacks in calling order (``on_epoch`` first, then ``callbacks``, then
    ``EarlyStopping(early_stopping)``) and the one :class:`~rnnx.training.EarlyStopping`."""
    if callbacks is None:
        callbacks = []
    if isinstance(callbacks, C.Callback) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks: expected a list of rnnx.training.Callback, got {type(callbacks).__name__}")
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, C.Callback):
            raise TypeError(f"callbacks[{i}]: expected an rnnx.training.Callback (subclass it, or use "
                            f"LambdaCallback), got {type(cb).__name__}")
    if on_epoch is not None and not callable(on_epoch):
        raise TypeError(f"on_epoch: expected a callable taking the history row, got {type(on_epoch).__name__}")
    stoppers = [cb for cb in callbacks if isinstance(cb, C.EarlyStopping)]
    if len(stoppers) > 1 or (stoppers and early_stopping is not None):
        raise ValueError("callbacks: one EarlyStopping per run (it keeps the best epoch); got "
                         + ("early_stopping=%r and an EarlyStopping callback" % early_stopping if early_stopping
                            is not None else f"{len(stoppers)}"))
    cbs = list(callbacks)
    if on_epoch is not None:
        cbs.insert(0, C.LambdaCallback(on_epoch_end=lambda run, row: run.stop("callback") if on_epoch(row) is True
                                       else None))
    if early_stopping is not None:
        stoppers = [C.EarlyStopping(early_stopping, restore_best_weights=restore_best_weights is not False)]
        cbs.append(stoppers[0])
    return cbs, (stoppers[0] if stoppers else None)


def _sample_weight(w: Any, data: Batches, x: Any, *, tbptt: Any, distribution: Any) -> Any:
    """``fit``'s ``sample_weight`` checked (one host read): an array (B,) of real floats >= 0,
    finite, at least one not zero, on x's library and device; in x's dtype."""
    if tbptt is not None or distribution is not None:
        raise ValueError(f"sample_weight: weights the whole-sequence loss of one process; got it with "
                         f"{'tbptt' if tbptt is not None else 'distribution'}")
    xp0 = compat.array_namespace(x)
    w = _as_array("sample_weight", w, x, xp0)
    xp = namespace(x=x, sample_weight=w)
    if w.ndim != 1 or w.shape[0] != data.n:
        raise ValueError(f"sample_weight: expected shape ({data.n},) (one weight per sequence of x), got "
                         f"{tuple(w.shape)}")
    if not (xp.isdtype(w.dtype, "real floating") or xp.isdtype(w.dtype, "integral")):
        raise TypeError(f"sample_weight: expected real numbers, got dtype {w.dtype}")
    w = xp.astype(w, x.dtype)
    if not bool(xp.all(xp.isfinite(w))) or bool(xp.any(w < 0)) or not bool(xp.any(w > 0)):
        raise ValueError(f"sample_weight: expected finite weights >= 0, at least one weight not zero; got values in "
                         f"[{float(xp.min(w))}, {float(xp.max(w))}]")
    return w


def _stopper_setting(stopper: C.EarlyStopping | None) -> Any:
    """The run setting a resume compares: None, the patience (``early_stopping=N``, as files
    before callbacks stored it), or every setting of a non-default EarlyStopping."""
    if stopper is None:
        return None
    if stopper.settings() == C.EarlyStopping(stopper.patience).settings():
        return stopper.patience
    return stopper.settings()
