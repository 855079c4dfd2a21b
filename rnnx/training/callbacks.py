r"""Callbacks: what happens around the training loop, outside the update.

    class Stopper(rnnx.training.Callback):
        def on_epoch_end(self, run, row):
            if row["loss"] < 1e-4:
                run.stop("converged")

    rnnx.fit(model, x, y, callbacks=[Stopper(), EarlyStopping(patience=5, min_delta=1e-4)])

A callback is an object with any of the hooks below (the base class :class:`Callback`
defines each as doing nothing); the engine calls them in list order:

- ``on_fit_start(run)``: once, when the run is set up, before the first epoch of this call
  (a resumed run too);
- ``on_epoch_queued(run, params)``: when an epoch's last update is queued, before the host
  waits for it (arrays only): ``params`` its parameters (being computed where the backend
  runs asynchronously, as JAX), ``run`` still the epoch before (``run.epoch + 1`` is this
  one's; ``run.updates`` counts its updates).  Queue device work on them here, never read
  them (the epoch may yet go non-finite), so it runs right behind the updates;
- ``on_epoch_metrics(run, row)``: after every epoch, before anything reads its row: returns
  a dict of numbers to add to it (new keys), or None.  Early stopping, the best-epoch record
  and every ``on_epoch_end`` see them (e.g. a score on the series' own scale; ``monitor=``
  of ``fit`` or of :class:`EarlyStopping` may name one).  Raising
  :class:`rnnx.training.state.NonFiniteLoss` here ends the run as a loss that went non-finite;
- ``on_epoch_end(run, row)``: after every epoch, with its history row (``epoch``, ``loss``,
  ``val_*``, ``clipped``, what ``on_epoch_metrics`` added, ``seconds``);
- ``on_update_end(run, loss)``: after every update of a stream source
  (:func:`rnnx.fit` of a :class:`~rnnx.training.sources.Stream`), with the update's 0-d loss array on the device
  (reading it is a host read: keep it there, as the text history does);
- ``on_fit_end(run)``: once, after the last epoch (not when the run raised);
- ``state_dict()`` / ``load_state_dict(state)``: a JSON-able dict of the callback's own
  counters, written into ``fit``'s checkpoint and handed back on resume (PyTorch
  Lightning's convention), so a resumed run's callbacks continue as the uninterrupted
  run's would.

``run`` (a :class:`Run`) is the engine's view for callbacks: the epoch and update
counts, the parameters after the last epoch (on the data's device), the history, the monitored quantity, and
:meth:`Run.stop`, the one stop flag.  Hooks run on the host between epochs: they may read
arrays (one sync per epoch), never inside an update.

No callback touches the numbers trained: a run with callbacks that never stop it gives the
same bits as one without.
"""

from __future__ import annotations

import math
from typing import Any, Callable

__all__ = ["Callback", "Run", "EarlyStopping", "LambdaCallback", "ProgressBar", "STOP_REASONS"]

#: ``FitResult.stopped`` of a run that was not stopped by a callback, and the two built-in reasons.
STOP_REASONS = ("done", "early-stopped", "callback")


class Callback:
    """The hooks, each doing nothing; subclass and override the ones you need."""

    def on_fit_start(self, run: Run) -> None:
        pass

    def on_epoch_queued(self, run: Run, params: dict) -> None:
        pass

    def on_epoch_metrics(self, run: Run, row: dict) -> dict | None:
        return None

    def on_epoch_end(self, run: Run, row: dict) -> None:
        pass

    def on_update_end(self, run: Run, loss: Any) -> None:
        pass

    def on_fit_end(self, run: Run) -> None:
        pass

    def state_dict(self) -> dict:
        """The callback's counters, JSON-able (numbers, strings, lists, dicts): stored in the
        checkpoint.  Default: nothing to store."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``, what :meth:`state_dict` returned in the run resumed."""


class Run:
    """The engine's state as callbacks see it.  ``epoch`` (epochs completed), ``updates``,
    ``params`` (after the last completed epoch), ``history`` (the rows so far; do not
    modify), ``monitor`` (``"val_loss"`` with validation data, else ``"loss"``), ``best``
    (``(score, epoch)`` of the best epoch so far: on ``monitor``, or by the run's
    :class:`EarlyStopping`, whose score is negated for ``mode="max"``), ``stopped`` (None,
    or the reason given to :meth:`stop`)."""

    def __init__(self, state: Any, monitor: str, home: Callable | None = None) -> None:
        self._state, self.monitor = state, monitor
        self._home = home  # the parameters onto the data's device (a data-parallel run's are on its mesh)
        self.stopped: str | None = None

    @property
    def epoch(self) -> int:
        return self._state.epoch

    @property
    def updates(self) -> int:
        return self._state.updates

    @property
    def params(self) -> dict:
        p = self._state.params
        return p if self._home is None else self._home(p)

    @property
    def history(self) -> list[dict]:
        return self._state.history

    @property
    def best(self) -> tuple[float, int]:
        return self._state.best_score, self._state.best_epoch

    def stop(self, reason: str = "callback") -> None:
        """End training after this epoch (its checkpoint is written, as for the last
        epoch).  ``FitResult.stopped`` is ``reason``; when several callbacks stop the same
        epoch, a reason other than ``"early-stopped"`` wins (a user's stop is named, as a
        callable ``on_epoch`` returning True always was)."""
        if not isinstance(reason, str) or not reason or reason == "done":
            raise ValueError(f"stop: expected a non-empty reason other than 'done', got {reason!r}")
        if self.stopped is None or self.stopped == "early-stopped":
            self.stopped = reason

    def set_best(self, score: float, epoch: int, params: dict) -> None:
        """Record ``params`` of ``epoch`` as the best so far (what ``restore_best_weights``
        returns and the checkpoint keeps): :class:`EarlyStopping` calls it with its own
        rule."""
        self._state.best_score, self._state.best_epoch, self._state.best_params = score, epoch, params


def _number(name: str, v: Any, *, minimum: float, integer: bool = False) -> None:
    ok = not isinstance(v, bool) and (isinstance(v, int) if integer else isinstance(v, (int, float)))
    if not ok or not math.isfinite(v) or v < minimum:
        kind = "an int" if integer else "a finite number"
        raise ValueError(f"{name}: expected {kind} >= {minimum:g}, got {v!r}")


class EarlyStopping(Callback):
    r"""Stop when ``monitor`` has not improved for ``patience`` epochs; keep the best epoch.

    An epoch improves when its score :math:`s` beats the best so far :math:`b` by more than
    ``min_delta``: :math:`s < b - \delta` (``mode="min"``) or :math:`s > b + \delta`
    (``"max"``, e.g. ``val_accuracy``).  Training stops after epoch :math:`e` when
    :math:`e - e_{best} \ge` ``patience``.  ``monitor``: a history key (``"val_loss"``,
    ``"val_rmse"``, ``"loss"``...; default the run's: ``val_loss`` with validation data, else
    ``loss``); ``restore_best_weights``: ``fit`` returns the best epoch's parameters (else
    the last's).  A history row without ``monitor`` is an error naming the keys it has.
    ``start_from_epoch`` (Keras's): epochs 1 to it are a warm-up, neither kept as the best
    nor counted towards a stop (0, the default: every epoch is monitored).  ``patience_from``:
    the patience counts from this epoch even when the best is older (a finished run that is
    extended: its first new epochs are not a stop at once; 0, the default: from the best).

    Its state is the engine's best-epoch record (kept in the checkpoint), so a resumed run
    stops exactly where the uninterrupted one does; a run that had stopped resumes to no
    further epoch."""

    def __init__(self, patience: int, *, monitor: str | None = None, min_delta: float = 0.0, mode: str = "min",
                 restore_best_weights: bool = True, start_from_epoch: int = 0, patience_from: int = 0) -> None:
        _number("patience", patience, minimum=1, integer=True)
        _number("start_from_epoch", start_from_epoch, minimum=0, integer=True)
        _number("patience_from", patience_from, minimum=0, integer=True)
        _number("min_delta", min_delta, minimum=0)
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        if monitor is not None and (not isinstance(monitor, str) or not monitor):
            raise ValueError(f"monitor: expected a history key such as 'val_loss', got {monitor!r}")
        if not isinstance(restore_best_weights, bool):
            raise TypeError(f"restore_best_weights: expected True or False, got {restore_best_weights!r}")
        self.patience, self.monitor, self.min_delta, self.mode = patience, monitor, float(min_delta), mode
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.patience_from = patience_from

    def __repr__(self) -> str:
        return (f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, min_delta={self.min_delta!r}, "
                f"mode={self.mode!r}, restore_best_weights={self.restore_best_weights}, "
                f"start_from_epoch={self.start_from_epoch}"
                + (f", patience_from={self.patience_from})" if self.patience_from else ")"))

    def settings(self) -> dict:
        """What a resumed run must share with the run it continues."""
        out = {"patience": self.patience, "monitor": self.monitor, "min_delta": self.min_delta, "mode": self.mode}
        if self.start_from_epoch:  # only when set: files written before it existed still resume
            out["start_from_epoch"] = self.start_from_epoch
        return out

    def key(self, run: Run) -> str:
        return self.monitor or run.monitor

    def _sign(self) -> float:
        return 1.0 if self.mode == "min" else -1.0

    def _due(self, run: Run) -> bool:
        """``e - max(e_best, start_from_epoch, patience_from) >= patience``."""
        return run.epoch - max(run.best[1], self.start_from_epoch, self.patience_from) >= self.patience

    def on_fit_start(self, run: Run) -> None:
        if run.epoch > self.start_from_epoch and self._due(run):
            run.stop("early-stopped")  # a resumed state that had stopped: the uninterrupted run trains no further

    def on_epoch_end(self, run: Run, row: dict) -> None:
        key = self.key(run)
        if key not in row:
            raise ValueError(f"EarlyStopping: monitor {key!r} is not in the history; it has {', '.join(row)}")
        if run.epoch <= self.start_from_epoch:
            return
        score = self._sign() * row[key]  # stored as a quantity to minimise (inf: no epoch yet)
        best, _ = run.best
        if score < best - self.min_delta:
            run.set_best(score, run.epoch, run.params)
        if self._due(run):
            run.stop("early-stopped")


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda run, row: ...)``;
    ``on_fit_start(run)``, ``on_epoch_end(run, row)``, ``on_update_end(run, loss)``, ``on_fit_end(run)``."""

    def __init__(self, *, on_fit_start: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_fit_end: Callable | None = None, on_update_end: Callable | None = None) -> None:
        for name, f in (("on_fit_start", on_fit_start), ("on_epoch_end", on_epoch_end), ("on_fit_end", on_fit_end),
                        ("on_update_end", on_update_end)):
            if f is not None and not callable(f):
                raise TypeError(f"{name}: expected a callable, got {type(f).__name__}")
        self._start, self._epoch, self._end, self._update = on_fit_start, on_epoch_end, on_fit_end, on_update_end

    def on_fit_start(self, run: Run) -> None:
        if self._start is not None:
            self._start(run)

    def on_epoch_end(self, run: Run, row: dict) -> None:
        if self._epoch is not None:
            self._epoch(run, row)

    def on_update_end(self, run: Run, loss: Any) -> None:
        if self._update is not None:
            self._update(run, loss)

    def on_fit_end(self, run: Run) -> None:
        if self._end is not None:
            self._end(run)


class ProgressBar(Callback):
    """A tqdm bar over the epochs (what ``rnnx train`` shows): from the run's epoch at
    ``on_fit_start`` to ``epochs``, one step per epoch, its postfix the row's numbers named by
    ``postfix`` (label -> ``(history key, format)``; a key the row lacks shows ``nan``).
    Closed at ``on_fit_end``; call :meth:`close` when the run raised.  tqdm is imported when
    the run starts (the ``cli`` extra: ``pip install -e '.[cli]'`` from a checkout).

        ProgressBar(300, desc="rnnx train run", postfix={"loss": ("loss", ".3g"),
                                                          "val_acc": ("val_accuracy", ".3f")})"""

    def __init__(self, epochs: int, *, desc: str, postfix: dict | None = None, file: Any = None) -> None:
        _number("epochs", epochs, minimum=1, integer=True)
        self.epochs, self.desc, self.postfix, self.file = epochs, desc, dict(postfix or {}), file
        self.bar: Any = None

    def on_fit_start(self, run: Run) -> None:
        import sys

        from tqdm import tqdm

        self.bar = tqdm(total=self.epochs, initial=run.epoch, desc=self.desc, unit="epoch",
                        file=self.file if self.file is not None else sys.stderr, dynamic_ncols=True)

    def on_epoch_end(self, run: Run, row: dict) -> None:
        if self.bar is None:
            return
        shown = {label: format(row.get(key, math.nan), fmt) for label, (key, fmt) in self.postfix.items()}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_fit_end(self, run: Run) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
