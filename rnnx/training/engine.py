r"""The engine: :func:`fit` (one loop over epochs of updates, ``epochs`` or ``max_updates``, with
callbacks; arrays, or a stream source whose state is carried), :func:`evaluate`, :func:`predict`.

    result = rnnx.fit(model, x, y, epochs=10, batch_size=32, validation_split=0.2, ...)
    result.params, result.history        # the trained parameters, one dict per epoch
    rnnx.evaluate(model, result.params, x_test, y_test)   # {"loss": ..., "rmse": ...}
    rnnx.predict(model, result.params, x_new)             # (B, O) or (B, T, O)

Arrays of any backend (NumPy, JAX, torch, CuPy, array-api-strict); everything runs on the
backend and device of ``x``.  Batch-first, as Keras: x (B, T, I); y (B, O) many-to-one or
(B, T, O) many-to-many (``(B,)`` / ``(B, T)`` when O = 1), or integer class labels (B,) /
(B, T) for ``loss="cross-entropy"``; ``lengths`` (B,) for padded sequences
(``batch_first=False``: x (T, B, I), y (T, B, O)).

One update is one function of arrays::

    loss, g = dL/dparams (explicit BPTT, rnnx.nn.model)      g = clip(g)      params, opt = opt.step(...)

compiled as one program where the backend can (``jax.jit``: forward, backward, clipping
and the optimizer step), and on JAX K consecutive full batches run as one program (a
``lax.scan`` of the update, ``steps_per_execution``: Keras's name; default up to 32),
bit-identical to K separate calls.  No value is read back to the host per update: the epoch's loss
is summed on the device and read once per epoch (and every ``progress_every`` updates by
the progress bar), so NumPy and torch never sync per update either.

The shuffle of epoch e is drawn from ``random.Random(f"{seed}:{e}")`` and the dropout seed
of update n from ``f"{seed}:dropout:{n}"``: a run resumed from a :class:`FitState` repeats
exactly what an uninterrupted one does (``should_stop``, ``max_updates``: :func:`fit`).
"""

from __future__ import annotations

import functools
import math
import os
import random
import sys
import time
from dataclasses import replace
from typing import Any, Callable

import array_api_compat as compat

from rnnx import bounds
from rnnx.training import distributed
from rnnx.training.dask_parallel import WorkersLost
from rnnx import losses as L
from rnnx import metrics as M
from rnnx import optim
from rnnx.training import tbptt as TB
from rnnx._xp import host_ints, index_array, index_dtype, namespace
from rnnx.backends import capabilities
from rnnx.training import callbacks as C
from rnnx.training import state as S
from rnnx.training.sources import (Batches, Stream, as_array, batch_cuts, check_inputs, prepare, sample_weights,
                                   split_validation)
from rnnx.training.state import FitResult, FitState, NonFiniteLoss, Stopped, load_state
from rnnx.training.strategies import (AUTO_STEPS_PER_EXECUTION, all_finite, compile_if_possible,
                                      compiled_update, dask_session, make_apply, make_step, make_steps,
                                      make_update, predictor, replay_epoch, spmd, start_recorder)

__all__ = ["fit", "evaluate", "predict", "zero_state", "check_options", "PARTIAL"]

#: The key of the history row that a state stopped by ``max_updates`` inside an epoch ends
#: with (that epoch's batches so far; with ``partial_updates``, ``partial_loss_sum`` and
#: ``partial_clipped``: what its row needs to come out as the uninterrupted run's).
PARTIAL = "partial_batches"

#: :func:`fit`'s options that only array data has: refused with a stream source.
_ARRAY_ONLY = ("y", "lengths", "validation_data", "validation_split", "batch_size", "shuffle", "metrics", "clip_norm",
               "tbptt", "early_stopping", "restore_best_weights", "on_epoch", "verbose", "batch_first", "freeze",
               "progress_every", "steps_per_execution", "diagnostics", "distribution", "sample_weight", "monitor",
               "find_non_finite")


# -- what every update shares, whatever its source --------------------------------------------------
def _seeds(seed: int, n: int, k: int = 1, *, xp: Any = None, dtype: Any = None, device: Any = None) -> Any:
    """The dropout seeds of updates n .. n + k - 1 of a run seeded ``seed``, each drawn from
    ``f"{seed}:dropout:{n}"`` (a resumed run, of any source, draws the uninterrupted run's
    masks): an int (k = 1, no ``xp``: an eager update), else an index array on ``device``."""
    s = [random.Random(f"{seed}:dropout:{n + j}").getrandbits(31) for j in range(k)]
    return s[0] if xp is None else xp.asarray(s if k > 1 else s[0], dtype=dtype, device=device)


def _loop(st: FitState, view: C.Run, own: list, cbs: list, *, unit: str, epochs: float, limit: float, every: int,
          should_stop: Callable[[], bool] | None, epoch: Callable, stop: Callable[[int], Stopped],
          save: Callable[[], None] | None) -> None:
    """The one training loop, whatever the source: epochs of programs while ``st.epoch < epochs``,
    ``st.updates < limit`` and no callback stopped the run.  ``epoch(updated)`` is a generator
    over one epoch's programs; it yields before each the update count a stop keeps (``unit``
    "epoch": the epoch's start, its updates undone; "update": the last one, the carry being
    state), where ``should_stop()`` is asked (True: ``raise stop(kept)``); an "update" source
    calls ``updated(loss)`` after each update (``on_update_end``; ``save()`` every ``every``).  After
    an "epoch" source's epoch the callbacks' state goes into ``st``, and ``save()`` writes it every
    ``every`` epochs and at the end.  First ``own`` get their stored state back (``load_state_dict``)
    and every callback's ``on_fit_start`` runs: the run is set up, training starts."""
    for cb, stored in zip(own, st.callbacks):
        cb.load_state_dict(stored)
    for cb in cbs:
        cb.on_fit_start(view)

    def updated(loss: Any) -> None:
        for cb in cbs:
            cb.on_update_end(view, loss)
        if save is not None and st.updates % every == 0 and st.updates < limit and view.stopped is None:
            save()

    while st.epoch < epochs and view.stopped is None and st.updates < limit:
        for kept in epoch(updated):
            if view.stopped is not None:
                break
            if should_stop is not None and should_stop():
                raise stop(kept)
        if unit == "epoch":
            st.callbacks = [cb.state_dict() for cb in own]
            if save is not None and (view.stopped is not None or st.epoch >= epochs or st.updates >= limit
                                     or st.epoch % every == 0):
                save()


# -- evaluation -----------------------------------------------------------------------------------
def _predict_tm(model, params: dict, data: Batches, batch_size: int, *, xp: Any, compiled: Callable) -> Any:
    """Predictions of every sample, in batches of ``batch_size``, in the model's layout."""
    outs = []
    for a in range(0, data.n, batch_size):
        part = data.part(a, min(a + batch_size, data.n))
        outs.append(compiled(params, part.x, part.lengths))
    return outs[0] if len(outs) == 1 else xp.concat(outs, axis=1 if model.objective == "many-to-many" else 0)


def _scores(model, pred: Any, data: Batches, loss_fn: Callable, metric_names: tuple[str, ...], *, xp: Any) -> dict:
    """The loss and metrics (0-d arrays) of ``pred`` against ``data`` (masked past lengths)."""
    kw = {}
    if data.lengths is not None and model.objective == "many-to-many":
        kw["mask"] = model.step_mask(pred.shape[0], data.lengths, xp=xp, device=compat.device(pred))
    return {"loss": loss_fn(pred, data.y, xp=xp, **kw)[0],
            **{name: M.get(name)(pred, data.y, xp=xp, **kw) for name in metric_names}}


def evaluate(model, params: dict, x: Any, y: Any, *, lengths: Any = None, loss: str | None = None,
             metrics: Any = None, batch_size: int = 256, batch_first: bool = True) -> dict[str, float]:
    """The loss and metrics of ``params`` on (x, y): ``{"loss": ..., "<metric>": ...}`` as
    Python floats, each the exact mean over every sample (valid steps only with
    ``lengths``), not a mean of batch means.  ``loss`` and ``metrics`` default as in
    :func:`fit`."""
    loss_fn, names = _metrics(metrics, loss)
    data = prepare(model, x, y, lengths, loss=loss_fn.name, batch_first=batch_first)
    _positive_int("batch_size", batch_size)
    xp = namespace(x=data.x, y=data.y)
    pred = _predict_tm(model, params, data, batch_size, xp=xp, compiled=predictor(model, xp))
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
    lengths = as_array("lengths", lengths, x, xp)
    data = Batches(x_tm, xp.zeros((x_tm.shape[1],), dtype=x.dtype, device=compat.device(x)), lengths, 0)  # no y
    pred = _predict_tm(model, params, data, batch_size, xp=xp, compiled=predictor(model, xp))
    if batch_first and pred.ndim == 3:
        return xp.permute_dims(pred, (1, 0, 2))
    return pred


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


def _metrics(metrics: Any, loss: Any) -> tuple[Callable, tuple[str, ...]]:
    """The training loss (a name, "mse" unless given, or a spec such as Huber(delta=2.0)) and the metrics' names."""
    loss_fn = L.for_training(loss)
    names = tuple(M.default_metrics(loss_fn.name)) if metrics is None else (
        (metrics,) if isinstance(metrics, str) else tuple(metrics))
    for n in names:
        M.get(n)  # ValueError naming the metrics
    if len(set(names)) != len(names):
        raise ValueError(f"metrics: each metric once, got {list(names)}")
    return loss_fn, names


def check_options(*, epochs: Any = None, max_updates: Any = None, checkpoint_every: Any = None, should_stop: Any = None,
                  clip_value: Any = None, clip_norm: Any = None, seed: Any = 0) -> None:
    """The checks of :func:`fit`'s options that every source (arrays, a Stream) takes: a bad one
    is one line naming it (ValueError, TypeError for a non-callable or a seed not an int)."""
    for name, v in (("epochs", epochs), ("max_updates", max_updates), ("checkpoint_every", checkpoint_every)):
        if v is not None:
            _positive_int(name, v)
    if should_stop is not None and not callable(should_stop):
        raise TypeError(f"should_stop: expected a callable returning True to stop, got {type(should_stop).__name__}")
    for name, v in (("clip_value", clip_value), ("clip_norm", clip_norm)):
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                  and v > 0):
            raise ValueError(f"{name}: expected a finite number > 0, got {v!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")


class _Progress:
    """verbose=1: a tqdm bar per epoch (a line per epoch without tqdm); 2: a line per epoch."""

    def __init__(self, verbose: int, epochs: int, n_batches: int, every: int) -> None:
        self.verbose, self.epochs, self.n, self.every, self.bar, self.tqdm = verbose, epochs, n_batches, every, None, None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm
                self.tqdm = tqdm
            except ImportError:
                self.verbose = 2

    def start(self, epoch: int) -> None:
        if self.tqdm is not None:
            self.bar = self.tqdm(total=self.n, desc=f"epoch {epoch}/{self.epochs}", unit="batch", leave=False)

    def batches(self, done: int, nb: int, total: Any) -> None:
        """``nb`` more batches done: the bar's loss (a host read of the sum ``total``) every ``every`` batches."""
        if self.bar is not None and (done // self.every > (done - nb) // self.every or done == self.n):
            self.bar.n = done
            self.bar.set_postfix(loss=f"{float(total) / done:.4g}", refresh=False)
            self.bar.refresh()

    def end(self, row: dict | None) -> None:
        """The epoch's bar closed and its line printed (``row`` None: the epoch is undone, no line)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.verbose and row is not None:
            parts = " - ".join(f"{k}: {v:.4g}" for k, v in row.items()
                               if k not in ("epoch", "seconds", "clipped") and isinstance(v, float))
            print(f"epoch {row['epoch']}/{self.epochs} - {row['seconds']:.2f}s - {parts}", file=sys.stderr)


def fit(model, x: Any, y: Any, *, lengths: Any = None, validation_data: Any = None, validation_split: float | None = None,
        epochs: int | None = None, max_updates: int | None = None, batch_size: int | None = None,
        shuffle: bool | None = None,
        optimizer: Any = "adam", lr: float | None = None, loss: str | None = None, metrics: Any = None, clip_norm: float | None = None, clip_value: float | None = None,
        tbptt: tuple[int, int] | None = None, early_stopping: int | None = None,
        restore_best_weights: bool | None = None, on_epoch: Callable[[dict], Any] | None = None, verbose: int = 0,
        seed: int = 0, params: dict | None = None, resume: FitState | str | None = None, batch_first: bool | None = None,
        freeze: tuple[str, ...] | None = None, progress_every: int | None = None, checkpoint: str | None = None,
        checkpoint_every: int = 1, should_stop: Callable[[], bool] | None = None,
        steps_per_execution: int | None = None, diagnostics: Any = None, distribution: Any = None,
        callbacks: Any = None, sample_weight: Any = None, monitor: str | None = None,
        find_non_finite: bool = False) -> FitResult:
    """Train ``model`` on (x, y) with its explicit gradient; see the module docstring for
    shapes.  Returns a :class:`FitResult` (``params``, ``history``, ``state``).

    - ``params``: the starting parameters (default ``model.init_params(xp, seed=seed)`` in
      x's dtype, on x's device); ``resume``: a previous result's ``state``, or the path of a
      ``checkpoint`` file, to continue (to ``epochs`` in all, as Keras's ``initial_epoch``);
      the same data and settings give the numbers of an uninterrupted run, bit for bit.
    - ``x`` a :class:`~rnnx.training.sources.Stream` (y None): its chunks in order, the state
      carried from update to update (``_fit_stream``; what :func:`rnnx.text.fit_text`
      runs); the options of array data (``batch_size``, ``shuffle``, ``validation_*``,
      ``tbptt``, ``sample_weight``, ... left None) are refused with it, in one line naming the option.
    - ``epochs`` (default 10) and ``max_updates`` (optimizer updates in all; each window of
      ``tbptt`` is one, so there a multiple of the windows per batch): the run ends at
      whichever comes first (``max_updates`` alone: no epoch limit).  Ending inside an epoch,
      the state (and ``checkpoint``) keeps that epoch's progress as a last history row (key
      :data:`PARTIAL`; not in ``FitResult.history``, not seen by callbacks), so a resume with
      a larger ``max_updates`` or ``epochs`` ends that epoch as the uninterrupted run, bit for
      bit.  Not with ``diagnostics``.  A
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
    - ``should_stop()``: a plain call (no array read) before every batch (every program, see
      above); True raises :class:`Stopped` with the state of the last complete epoch (the one
      in progress undone, its updates discarded; a state resumed inside an epoch: back to that
      point), which ``checkpoint`` then holds (written now if ``checkpoint_every`` skipped that
      epoch); resuming from it repeats the uninterrupted run bit for bit.  A state that had
      stopped early (``early_stopping``) resumes to no further epoch, as the uninterrupted run would.
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
    - ``diagnostics``: an :class:`rnnx.diagnostics.recorder.Recorder`: per update the gradient norms
      before clipping, whether clipped, the update-to-parameter ratios (in the update's own
      program; read once an epoch), and per epoch (and before the first) the gradient flow,
      Jacobian profile and gate saturation on its probe batch.  One program per update
      (``steps_per_execution`` > 1 refused); not with ``tbptt``.  The numbers trained are
      the same bits as without it.
    - ``distribution``: an :class:`rnnx.training.distributed.DataParallel`: every update's batch split
      over several devices (JAX), one SPMD program with one all-reduce of the gradients,
      clipping after it; the numbers of one device (see :mod:`rnnx.training.distributed`: a short last
      batch is padded and masked; ``batch_size`` a multiple of the devices).  The returned
      parameters are on the data's device.  Or an :class:`rnnx.training.dask_parallel.DaskParallel`
      (NumPy / CuPy): each batch in parts on Dask workers, the optimizer here
      (:class:`~rnnx.training.dask_parallel.WorkersLost` when they are gone, after the checkpoint).

    Checked once before training (one host read, no per-step sync): ``model`` an
    :class:`rnnx.Model` (TypeError), x with at least one sequence, and x, floating y and the
    starting parameters finite (ValueError naming the array and its first bad element, as
    ``x: 1 non-finite value (first nan at index (2, 3, 0)); ...``); so a :class:`NonFiniteLoss`
    is a loss that diverged from finite inputs.
    """
    from rnnx.nn.model import Model

    if not isinstance(model, Model):
        got = f"{type(model).__name__} {model!r}" if isinstance(model, (str, int, float)) else type(model).__name__
        raise TypeError(f"model: expected an rnnx.Model, got {got}; build one with "
                        'rnnx.Model("gru", input_size, hidden_size)')
    check_options(epochs=epochs, max_updates=max_updates, checkpoint_every=checkpoint_every, should_stop=should_stop,
                  clip_value=clip_value, clip_norm=clip_norm, seed=seed)
    stream = isinstance(x, Stream)  # a stream hands its state to a callable and resumes from a FitState only
    if checkpoint is not None and not (callable(checkpoint) or isinstance(checkpoint, str) and not stream):
        raise TypeError(f"checkpoint: {'a stream run hands its state to' if stream else 'expected a file path or'} "
                        f"a callable write(state), got {type(checkpoint).__name__}")
    if resume is not None and not (isinstance(resume, FitState) or isinstance(resume, str) and not stream):
        raise TypeError(f"resume: {'a stream run resumes from' if stream else 'expected'} a FitState (result.state, "
                        f"Stopped.state){'' if stream else ' or a checkpoint path'}, got {type(resume).__name__}")
    if resume is not None and params is not None:
        raise ValueError("params: a resumed run continues from resume.params; give one of params, resume")
    opt = optim.make(optimizer, lr=lr)  # a name (lr its learning rate, else the default) or an rnnx.optim object
    if stream:  # what only array data has is refused, never silently ignored
        given = locals()
        name = next((k for k in _ARRAY_ONLY if given[k] is not None and (given[k] or k not in ("verbose",
                                                                                              "find_non_finite"))), None)
        if name is not None:
            raise ValueError(f"{name}: an option of array data (x, y); got {name}={given[name]!r} with a stream source "
                             "(rnnx.training.sources.Stream: its chunks in order, the state carried); leave it out")
        return _fit_stream(model, x, params=params, resume=resume, loss=loss, optimizer=opt,
                           epochs=epochs, max_updates=max_updates, clip_value=clip_value, seed=seed, callbacks=callbacks,
                           should_stop=should_stop, checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    # the array defaults (None: so that one given with a stream is told from one left out)
    batch_size, shuffle = 32 if batch_size is None else batch_size, True if shuffle is None else shuffle
    batch_first, progress_every = True if batch_first is None else batch_first, 10 if progress_every is None else progress_every
    validation_split = 0.0 if validation_split is None else validation_split
    loss_fn, names = _metrics(metrics, loss)
    loss_name = loss_fn.name
    for name, v in (("batch_size", batch_size), ("progress_every", progress_every), ("early_stopping", early_stopping)):
        if v is not None:
            _positive_int(name, v)
    if early_stopping is None and restore_best_weights is not None:
        raise ValueError("restore_best_weights: applies with early_stopping (a patience in epochs); "
                         "without it the last epoch's parameters are returned")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0 (silent), 1 (a progress bar) or 2 (one line per epoch), got {verbose!r}")
    if tbptt is not None:
        if (not isinstance(tbptt, (tuple, list)) or len(tbptt) != 2
                or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in tbptt)
                or tbptt[0] > tbptt[1]):
            raise ValueError(f"tbptt: expected two integers (k1, k2) with 1 <= k1 <= k2, got {tbptt!r}")
        if model.objective != "many-to-many":
            raise ValueError("tbptt: truncated BPTT needs objective='many-to-many' (a target at every step)")
        if lengths is not None:
            raise ValueError("tbptt: truncated BPTT runs over whole equal-length sequences; got lengths")
    freeze = tuple(getattr(model, "frozen", ())) if freeze is None else freeze  # a converted model's default
    if isinstance(freeze, str) or not set(freeze) <= set(model.param_shapes()):
        raise ValueError(f"freeze: expected parameter names of the model ({', '.join(model.param_shapes())}), "
                         f"got {freeze!r}")
    data = prepare(model, x, y, lengths, loss=loss_name, batch_first=batch_first)
    if sample_weight is not None:
        data = replace(data, w=sample_weights(sample_weight, data, x, tbptt=tbptt, distribution=distribution))
    train, val = split_validation(model, data, validation_data, validation_split, loss=loss_name, batch_first=batch_first)
    xp, dev = namespace(x=train.x, y=train.y), compat.device(train.x)
    bounds.check_training(model, batch_size=batch_size, steps=int(train.x.shape[0]), sequences=train.n,
                          itemsize=xp.finfo(train.x.dtype).bits // 8, slots=bounds.optimizer_slots(opt),
                          transforms=(clip_value is not None) + (clip_norm is not None) + bool(freeze))

    cbs, stopper, own = _callbacks(callbacks, on_epoch, early_stopping, restore_best_weights)
    if monitor is not None and (not isinstance(monitor, str) or not monitor):
        raise ValueError(f"monitor: expected a history key such as 'val_loss', got {monitor!r}")
    if not isinstance(find_non_finite, bool):
        raise TypeError(f"find_non_finite: expected True or False, got {find_non_finite!r}")
    own_file = isinstance(resume, str) and isinstance(checkpoint, str) and os.path.abspath(resume) == os.path.abspath(
        checkpoint)  # a run resumed from its own checkpoint file
    # what must not change between a run and its resumption (the epochs may); sample_weight only when given
    run = {"batch_size": batch_size, "shuffle": shuffle, "seed": seed, "loss": loss_fn.label, "optimizer": repr(opt),
           "clip_value": clip_value, "clip_norm": clip_norm, "tbptt": list(tbptt) if tbptt else None,
           "freeze": list(freeze), "early_stopping": _stopper_setting(stopper), "n_train": train.n,
           "dtype": str(train.x.dtype), **({"sample_weight": True} if sample_weight is not None else {})}
    if isinstance(resume, str):
        # the run's own checkpoint (resume == checkpoint): written by fit, never as a link, so never read through one
        resume, stored = load_state(resume, model, opt, xp=xp, device=dev, dtype=train.x.dtype,
                                    nofollow=own_file)
        S.check_settings(stored, run, optional=("sample_weight",))  # (written only when used)
    if resume is not None:
        st = replace(resume, history=list(resume.history))
    else:
        if params is None:
            params = model.init_params(xp, seed=seed, dtype=train.x.dtype, device=dev)
        namespace(x=train.x, **{f"params[{k!r}]": v for k, v in params.items()})
        st = FitState(params=dict(params), opt_state=opt.init(params))
    written = (st.epoch, st.updates) if own_file else (-1, -1)  # the (epoch, updates) the checkpoint file holds
    check_inputs(x, y, data, st.params, xp=xp, resumed=resume is not None, batch_first=batch_first,
                  validation=None if validation_data is None else (*validation_data[:2], val))
    # a state stopped by max_updates inside an epoch: that epoch's progress, kept out of the rows callbacks see
    partial = st.history.pop() if st.history and PARTIAL in st.history[-1] else None
    upb = -(-int(train.x.shape[0]) // tbptt[0]) if tbptt is not None else 1  # updates per batch (tbptt: windows)
    if max_updates is not None and max_updates % upb:
        raise ValueError(f"max_updates: with tbptt={tuple(tbptt)} every batch makes {upb} updates (one per window); "
                         f"expected a multiple of {upb}, got {max_updates}")
    if diagnostics is not None and (max_updates is not None or partial is not None):
        raise ValueError("diagnostics: recorded by whole epochs; not with max_updates or a state it stopped "
                         "inside an epoch")
    if max_updates is not None and st.updates > max_updates:
        raise ValueError(f"max_updates: the resumed state is after {st.updates} updates, more than "
                         f"max_updates={max_updates}; expected max_updates >= {st.updates}")
    limit = math.inf if max_updates is None else max_updates
    if epochs is None:  # max_updates alone: as many epochs as it takes
        epochs = 10 if max_updates is None else -(-max_updates // (upb * -(-train.n // batch_size)))

    apply = make_apply(opt, clip_value=clip_value, clip_norm=clip_norm, freeze=tuple(freeze), xp=xp)
    jit = capabilities(xp).jit
    compiled = jit is not None and tbptt is None
    rec, stats = start_recorder(diagnostics, model, train, loss_fn, loss_name, tbptt=tbptt, clip_value=clip_value,
                           clip_norm=clip_norm, freeze=tuple(freeze), steps_per_execution=steps_per_execution,
                           jit=jit, xp=xp)
    par = distributed.plan(distribution, xp, batch_size=batch_size, tbptt=tbptt, diagnostics=diagnostics,
                           model=model, loss_name=loss_name, home=dev)
    update = make_update(model, apply, loss_fn, stats=stats)
    it = index_dtype(xp, dev)
    home, place = (par.home, par.place) if par is not None else ((lambda tree: tree),) * 2  # to/from the devices
    writer = capabilities(xp).process_index() == 0  # several processes (jax.distributed): process 0 writes
    spe = 1 if rec is not None else _steps_per_execution(steps_per_execution, compiled,
                                                         capabilities(xp).scan is not None, train.n // batch_size)
    # the compiled programs (one update; spe updates as one scan), cached by the run's settings
    cached = functools.partial(compiled_update, model, opt, loss_fn.label, clip_value, clip_norm, tuple(freeze), xp)
    if compiled and par is None:
        one = make_step(update, y_axis=train.y_axis, index_dtype=it, xp=xp)
        step = cached(jit, one, extra=("step", str(it), "stats" if stats is not None else ""))
        if spe > 1:
            steps = cached(jit, make_steps(one, scan=capabilities(xp).scan, xp=xp), extra=("steps", str(it)))
    elif compiled:  # data parallel: the same update as one SPMD program over par.devices (padded: a short batch)
        one = distributed.make_step(model, apply, loss_name, loss_fn, y_axis=train.y_axis, index_dtype=it, xp=xp,
                                    all_sum=par.all_sum)
        on_mesh = lambda fn, name, split: cached(functools.partial(spmd, par, split=split), fn,  # noqa: E731
                                                 extra=(name, str(it), *par.key()), jit_key="dp")
        step, padded = on_mesh(one, "dp-step", (0, None)), on_mesh(one, "dp-padded", (0, None, 0))
        if spe > 1:
            steps = on_mesh(make_steps(one, scan=capabilities(xp).scan, xp=xp), "dp-steps", (1, None))
    if compiled:
        st.opt_state = optim.as_arrays(st.opt_state, xp=xp, device=dev, params=st.params)
    local = train  # on the data's device (what a replay of a non-finite epoch runs on)
    if par is not None:
        train = Batches(*par.place((train.x, train.y, train.lengths)), train.y_axis)
        val = None if val is None else Batches(*par.place((val.x, val.y, val.lengths)), val.y_axis)
        st.params, st.opt_state = par.place(st.params), par.place(st.opt_state)
    predict_fn = predictor(model, xp)
    finite_c = compile_if_possible(functools.partial(all_finite, xp=xp), xp) if compiled else None
    dropout = model.layer.dropout > 0
    progress = _Progress(verbose, epochs, -(-train.n // batch_size), progress_every)
    monitor = monitor or ("val_loss" if val is not None else "loss")
    view = C.Run(st, monitor, home if par is not None else None)

    def snapshot(state: FitState) -> FitState:
        """``state`` with its arrays on the data's device, the optimizer's step a Python int
        and the partial epoch's row (if any) last in its history."""
        return replace(state, history=[*state.history, *([partial] if partial else [])],
                       opt_state=optim.as_python(home(state.opt_state)), params=home(state.params),
                       best_params=home(state.best_params))

    def save() -> None:
        nonlocal written
        written = (st.epoch, st.updates)
        if callable(checkpoint):  # the caller's writer (the CLI's run folder), handed fit's settings too
            checkpoint(replace(snapshot(st), settings=run))
        else:
            S.save_state(checkpoint, model, replace(st, history=[*st.history, *([partial] if partial else [])]), run)

    def stop(updates0: int) -> Stopped:
        """The updates since ``updates0`` (the epoch's start, or the partial epoch's point)
        undone; the state there kept (and in the checkpoint)."""
        progress.end(None)
        st.updates = updates0
        kept = snapshot(st)
        if checkpoint is not None and written != (kept.epoch, kept.updates) and writer:
            save()
        return Stopped(kept)

    def explained(epoch: int, value: float, start: tuple, reason: str, plain: str | None) -> NonFiniteLoss:
        """The error of an epoch that went non-finite: with ``find_non_finite``, the epoch
        replayed from ``start`` names its first non-finite loss, gradient or parameter (or,
        none being so, says so and gives ``reason``); else ``plain``."""
        if not find_non_finite:
            return NonFiniteLoss(epoch, value, plain)
        p0, o0, order0, updates0, first, end, k0 = start
        seed_of = (lambda k: _seeds(seed, updates0 + k)) if dropout else (lambda k: None)  # after k updates: its masks
        where = replay_epoch(model, apply, loss_fn, local, order0, home(p0), home(o0), seed_of, epoch=epoch,
                             batch_size=batch_size, shuffle=shuffle, tbptt=tbptt, xp=xp, span=(first, end, k0))
        return NonFiniteLoss(epoch, value, where or "every update's loss, gradients and parameters are finite, "
                             f"but {reason}")

    def add(total: Any, value: Any) -> Any:  # an eager update's sums start from its first value
        return value if total is None else total + value

    def weights(b: Batches) -> tuple:  # a compiled step's trailing sample weights (the data-parallel step: none)
        return () if b.w is None else (b.w,)

    def seeds(k: int = 1) -> Any:
        """The dropout seeds of the next k updates (None without dropout)."""
        return _seeds(seed, st.updates, k, **({"xp": xp, "dtype": it, "device": dev} if compiled else {})) if dropout \
            else None

    dask = dask_session(distribution, model, train, loss_fn, xp, tbptt=tbptt, diagnostics=rec)
    if rec is not None:
        rec.truncate(st.epoch)
        if not any(r["epoch"] == st.epoch for r in rec.epochs):
            rec.record_epoch(st.epoch, st.params)  # where training starts (epoch 0: the initial parameters)

    # each batch runs to its own longest sequence (padding is masked: the same loss, the
    # gradients up to the order of their sums over time): the lengths read to the host once
    eager_cuts = train.lengths is not None and par is None and dask is None and rec is None
    host_lengths = host_ints(train.lengths) if eager_cuts else None
    cut = functools.cache(train.cut)  # the training data cut to each length used (views, or one copy each)

    def span_end(first: int, left: float) -> int:  # where the batches from sample ``first`` stop, ``left`` updates to go
        return min(train.n, first + min(left, train.n) // upb * batch_size)

    def epoch_order(epoch: int, first: int, end: int) -> tuple:
        """Epoch ``epoch``'s sample order, its index array (one host-to-device copy) and,
        where updates are compiled, each program's indices by first sample from ``first`` to
        ``end`` (sliced here, so that this host work can run while the device computes the
        epoch before)."""
        order = list(range(train.n))
        if shuffle:
            random.Random(f"{seed}:{epoch}").shuffle(order)
        perm = place(index_array(order, xp=xp, dtype=it, device=dev)) if shuffle or compiled else None
        a, spans = first, []
        while a < end:  # each program's samples [a, e): spe full batches (compiled), else one batch
            full = compiled and spe > 1 and end - a >= spe * batch_size
            spans.append((a, a + spe * batch_size if full else min(a + batch_size, train.n)))
            a = spans[-1][1]
        chunks = {a: xp.reshape(perm[a:e], (spe, batch_size)) if e - a > batch_size else perm[a:e]
                  for a, e in spans} if compiled else {}
        cuts = None if host_lengths is None else batch_cuts(host_lengths, order, spans, int(train.x.shape[0]),
                                                            compiled=compiled)
        return (epoch, first, end), order, perm, chunks, cuts, spans

    ahead = None  # the next epoch's epoch_order, made while the device computes this one

    def sums(loss: float, clipped: int) -> tuple:  # an epoch's running loss sum and clip count: the step's arrays
        return place((xp.asarray(loss, dtype=train.x.dtype, device=dev), xp.asarray(clipped, dtype=it, device=dev)))

    zeros = sums(0.0, 0) if compiled else (None, None)  # arrays never mutated: the same two every epoch

    def programs(updated: Callable) -> Any:
        """One epoch (from the partial epoch's point, if any): yields before each program."""
        nonlocal ahead, partial
        t0 = time.perf_counter()
        updates0 = st.updates  # what a stop undoes to: the epoch's start, or the partial epoch's point
        epoch_stats: list = []
        first = done = clipped0 = k0 = 0
        total, clipped_n = zeros
        if partial is not None:  # the epoch max_updates stopped in: its sums so far, as they were
            done, k0, clipped0 = partial["partial_batches"], partial["partial_updates"], partial["partial_clipped"]
            first = done * batch_size
            total, clipped_n = sums(partial["partial_loss_sum"], clipped0)
        end = span_end(first, limit - updates0)
        key = (st.epoch, first, end)
        _, order, perm, chunks, cuts, spans = ahead if ahead is not None and ahead[0] == key else epoch_order(*key)
        ahead = None
        params, opt_state = st.params, st.opt_state
        start = (params, opt_state, order, updates0 - k0, first, end, k0)  # what a replay starts from
        progress.start(st.epoch + 1)
        for a, e in spans:  # one program a pass: its samples [a, e), k updates of nb batches
            yield updates0  # the loop asks should_stop here: a stop undoes the epoch to updates0
            src = train if cuts is None else cut(cuts[a])  # this batch's time steps
            k = nb = -(-(e - a) // batch_size)
            if nb > 1:  # spe full batches: one program
                params, opt_state, total, clipped_n = steps(params, opt_state, total, clipped_n, src.x, src.y,
                                                            src.lengths, chunks[a], seeds(spe), *weights(src))
            elif par is not None and e - a < batch_size and (e - a) % par.n:
                idx, valid = par.pad(order[a:e])  # a short last batch that does not split evenly: padded, masked
                params, opt_state, total, clipped_n = padded(
                    params, opt_state, total, clipped_n, train.x, train.y, train.lengths,
                    par.place(index_array(idx, xp=xp, dtype=it, device=dev)), None,
                    par.place(xp.asarray(valid, dtype=xp.bool, device=dev)))
            elif compiled:  # the gather, the update and the sums: one program
                params, opt_state, total, clipped_n, *rec_u = step(params, opt_state, total, clipped_n, src.x,
                                                                   src.y, src.lengths, chunks[a], seeds(),
                                                                   *weights(src))
                epoch_stats += rec_u
            else:
                b = src.take(perm[a:e], xp=xp) if shuffle else src.part(a, e)
                if tbptt is not None:
                    def tb_update(p, g):  # one optimizer step per window: each one an update
                        nonlocal opt_state, clipped_n
                        p, opt_state, c = apply(p, opt_state, g)
                        clipped_n = add(clipped_n, xp.astype(c, it))
                        return p
                    params, window_losses = TB.run(model, params, b.x, b.y, k1=tbptt[0], k2=tbptt[1],
                                                   update=tb_update, loss=loss_fn, seed=seeds())
                    value, k = sum(window_losses[1:], window_losses[0]) / len(window_losses), len(window_losses)
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
                    else:
                        params, opt_state, value, c, *rec_u = update(params, opt_state, b.x, b.y, b.lengths,
                                                                     seeds(), b.w)
                        epoch_stats += rec_u
                    clipped_n = add(clipped_n, xp.astype(c, it))
                total = add(total, value)
            st.updates, done = st.updates + k, done + nb
            progress.batches(done, nb, total)
        # queued behind the epoch's updates, and the next epoch's host work done meanwhile
        finite_flag = finite_c(params) if compiled else None
        if end == train.n and cbs:  # a whole epoch queued: the callbacks' device work behind it, before any read
            queued = home(params)
            for cb in cbs:
                cb.on_epoch_queued(view, queued)
        if compiled and st.epoch + 1 < epochs and end == train.n and st.updates < limit:
            ahead = epoch_order(st.epoch + 1, 0, span_end(0, limit - st.updates))
        loss_sum = float(total)  # the one host read of the epoch
        epoch_loss = loss_sum / done
        if rec is not None:  # before the finiteness check: an update that exploded is on record
            rec.record_updates(st.epoch + 1, updates0, epoch_stats, xp)
        if not math.isfinite(epoch_loss) or not bool(finite_flag if compiled else all_finite(params, xp=xp)):
            progress.end({"epoch": st.epoch + 1, "seconds": time.perf_counter() - t0})
            raise explained(st.epoch + 1, epoch_loss, start, "the sum of the batch losses overflows",
                            None if math.isfinite(epoch_loss) else "lower lr, or clip the gradient (clip_norm=1.0)")
        n_clipped = int(clipped_n) if clipped_n is not None else 0
        st.clipped, st.params, st.opt_state = st.clipped + n_clipped - clipped0, params, opt_state
        if end < train.n:  # max_updates reached inside the epoch: its progress kept in the state, exactly
            partial = {"epoch": st.epoch + 1, PARTIAL: done, "partial_updates": st.updates - updates0 + k0,
                       "partial_loss_sum": loss_sum, "partial_clipped": n_clipped}
            progress.end(None)
            return  # max_updates reached: the loop keeps the callbacks' state and writes the checkpoint
        partial, st.epoch = None, st.epoch + 1
        row: dict[str, Any] = {"epoch": st.epoch, "loss": epoch_loss}
        if val is not None:
            pred = _predict_tm(model, params, val, batch_size, xp=xp, compiled=predict_fn)
            row.update({f"val_{k}": float(v) for k, v in _scores(model, pred, val, loss_fn, names, xp=xp).items()})
        row["clipped"] = n_clipped / max(1, st.updates - updates0 + k0)  # of the epoch's optimizer steps
        try:
            for cb in cbs:  # numbers a callback adds to the row (None or a dict of new keys), before anything reads it
                extra = cb.on_epoch_metrics(view, dict(row))
                if extra is not None and not isinstance(extra, dict):
                    raise TypeError(f"callbacks: {type(cb).__name__}.on_epoch_metrics returned {type(extra).__name__}; "
                                    "expected a dict of new history keys, or None")
                taken = [k for k in extra or () if k in row]
                if taken:
                    raise ValueError(f"callbacks: {type(cb).__name__}.on_epoch_metrics returned "
                                     f"{', '.join(map(repr, taken))}, already in the history row; expected new keys")
                row.update(extra or {})
        except NonFiniteLoss as e:  # e.g. the predictions overflow with finite parameters
            raise explained(e.epoch, e.value, start, e.where, e.where) from None
        if (st.epoch == 1 or len(st.history) == 0) and monitor not in row:
            raise ValueError(f"monitor: {monitor!r} is not in the history; it has {', '.join(row)}")
        row["seconds"] = time.perf_counter() - t0
        if rec is not None:
            rec.record_epoch(st.epoch, params)
        st.history.append(row)
        # the best epoch on the run's monitor (EarlyStopping keeps it by its own rule)
        if stopper is None and row[monitor] < st.best_score:
            st.best_score, st.best_epoch, st.best_params = row[monitor], st.epoch, params
        progress.end(row)
        for cb in cbs:
            cb.on_epoch_end(view, dict(row))

    try:
        _loop(st, view, own, cbs, unit="epoch", epochs=epochs, limit=limit, every=checkpoint_every,
              should_stop=should_stop, epoch=programs, stop=stop,
              save=save if checkpoint is not None and writer else None)
    finally:
        if dask is not None:
            dask.close()
    st.params, st.best_params, st.opt_state = home(st.params), home(st.best_params), home(st.opt_state)
    if compiled:
        st.opt_state = optim.as_python(st.opt_state)
    restore = stopper is not None and stopper.restore_best_weights and st.best_params is not None
    for cb in cbs:
        cb.on_fit_end(view)
    history = list(st.history)
    st.history.extend([partial] if partial is not None else [])  # the state keeps the partial epoch's row
    return FitResult(st.best_params if restore else st.params, history, view.stopped or "done", st.best_epoch, st)


def _callbacks(callbacks: Any, on_epoch: Any, early_stopping: int | None,
               restore_best_weights: bool | None) -> tuple[list, C.EarlyStopping | None, list]:
    """The run's callbacks in calling order (``on_epoch`` first, then ``callbacks``, then
    ``EarlyStopping(early_stopping)``), the one :class:`~rnnx.training.EarlyStopping` and the
    caller's ``callbacks`` (their ``state_dict()``s go into the checkpoint)."""
    callbacks = [] if callbacks is None else callbacks
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
    return cbs, (stoppers[0] if stoppers else None), list(callbacks)


def _stopper_setting(stopper: C.EarlyStopping | None) -> Any:
    """The run setting a resume compares: None, the patience (``early_stopping=N``, as files
    before callbacks stored it), or every setting of a non-default EarlyStopping."""
    if stopper is None:
        return None
    if stopper.settings() == C.EarlyStopping(stopper.patience).settings():
        return stopper.patience
    return stopper.settings()


# -- a stream source: the state carried from update to update -----------------------------------------
def zero_state(layer, batch: int, *, xp: Any, dtype: Any, device: Any) -> Any:
    """The layer's zero state for ``batch`` sequences: (L*D, B, n) per state component (a
    pair for LSTM).  Passed explicitly (not None), so a compiled update is traced once."""
    lead = layer.num_layers * layer.num_directions
    parts = tuple(xp.zeros((lead, batch, n), dtype=dtype, device=device) for n in layer.state_sizes)
    return parts if len(layer.spec.state) > 1 else parts[0]


def _fit_stream(model, source: Stream, *, params: dict | None, resume: FitState | None, loss: Any, optimizer: Any,
                epochs: int | None, max_updates: int | None, clip_value: float | None, seed: int, callbacks: Any,
                should_stop: Callable | None, checkpoint: Callable | None, checkpoint_every: int) -> FitResult:
    r""":func:`fit` of a :class:`~rnnx.training.sources.Stream`: the one loop, a pass of the chunks its
    epoch, one update its program and unit.  Update n: chunk ``n % n_chunks`` of every stream,
    ``model.loss_and_grad`` from the carry of update n - 1 (zeros at a pass's start; no gradient
    flows into it), clip (``clip_value``) and step: one program where the backend compiles.  The
    loss callbacks see is divided by T where ``source.per_step``; ``loss`` may also be a callable
    ``loss(pred, target, *, xp) -> (value, dpred)``.  ``resume`` (a :class:`FitState`, ``carry``
    included) else ``params``; a stop keeps the last complete update (the carry is state);
    ``checkpoint(state)`` every ``checkpoint_every`` updates, on a stop and at the end."""
    cbs, _, own = _callbacks(callbacks, None, None, None)
    loss = loss if callable(loss) else L.for_training(loss)
    if resume is None:
        if params is None:
            params = model.init_params(compat.array_namespace(source.y), seed=seed, device=compat.device(source.x))
        resume = FitState(dict(params), optimizer.init(params))
    if epochs is None:  # max_updates alone: as many passes as it takes
        epochs = 10 if max_updates is None else -(-max_updates // source.n_chunks)
    xp, dev = compat.array_namespace(source.x), compat.device(source.x)
    params = resume.params
    dtype = params[next(iter(params))].dtype
    apply = make_apply(optimizer, clip_value=None if clip_value is None else float(clip_value), clip_norm=None, xp=xp)

    def update(p, opt_state, x_ids, y_ids, carry, drop_seed):
        value, grads, carry = model.loss_and_grad(p, source.encode(x_ids), y_ids, carry, loss=loss, seed=drop_seed)
        p, opt_state, _ = apply(p, opt_state, grads)
        return p, opt_state, (value / source.steps if source.per_step else value), carry

    compiled = capabilities(xp).jit is not None
    update = compile_if_possible(update, xp)
    opt_state = optim.as_arrays(resume.opt_state, xp=xp, device=dev, params=params) if compiled else resume.opt_state
    on = {"xp": xp, "dtype": index_dtype(xp, dev), "device": dev} if compiled else {}  # a compiled update's seed: an array
    n_chunks = source.n_chunks
    total = epochs * n_chunks if max_updates is None else min(epochs * n_chunks, max_updates)
    if resume.updates > total:
        raise ValueError(f"resume: the state is after {resume.updates} updates, more than this run's {total} "
                         f"(epochs x {n_chunks} chunks, max_updates); raise epochs or max_updates")
    zeros = zero_state(model.layer, source.streams, xp=xp, dtype=dtype, device=dev)
    if {k: tuple(v.shape) for k, v in params.items()} != {k: tuple(v) for k, v in model.param_shapes().items()}:
        raise ValueError(f"resume: the state's params do not fit {model.layer!r} + head")
    shapes = lambda c: tuple(tuple(a.shape) for a in (c if isinstance(c, tuple) else (c,)))  # noqa: E731
    if resume.carry is not None and shapes(resume.carry) != shapes(zeros):
        raise ValueError(f"resume: the carried state has shapes {shapes(resume.carry)}, expected {shapes(zeros)} "
                         f"(streams={source.streams})")
    st = replace(resume, history=list(resume.history), epoch=resume.updates // n_chunks)
    carry = zeros if st.carry is None else st.carry
    view = C.Run(st, "loss")

    def kept() -> FitState:
        """The state now (the optimizer's step a Python int), handed to ``checkpoint``."""
        st.params, st.carry, st.epoch = params, carry, st.updates // n_chunks
        st.callbacks = [cb.state_dict() for cb in own]
        snap = replace(st, history=list(st.history), opt_state=optim.as_python(opt_state))
        if checkpoint is not None:
            checkpoint(snap)
        return snap

    def programs(updated: Callable) -> Any:
        """The rest of the pass in progress: one update a program, the carry threaded through."""
        nonlocal params, opt_state, carry
        first = st.updates % n_chunks
        if first == 0:
            carry = zeros
        for k in range(first, min(n_chunks, first + total - st.updates)):
            yield st.updates  # a stop keeps every complete update
            params, opt_state, value, carry = update(params, opt_state, source.x[k], source.y[k], carry,
                                                     _seeds(seed, st.updates, **on) if model.layer.dropout > 0 else None)
            st.params, st.updates = params, st.updates + 1
            updated(value)
        st.epoch = st.updates // n_chunks

    _loop(st, view, own, cbs, unit="update", epochs=epochs, limit=total, every=checkpoint_every,
          should_stop=should_stop, epoch=programs, stop=lambda point: Stopped(kept()),
          save=None if checkpoint is None else kept)
    final = kept()
    for cb in cbs:
        cb.on_fit_end(view)
    return FitResult(final.params, final.history, view.stopped or "done", final.best_epoch, final)
