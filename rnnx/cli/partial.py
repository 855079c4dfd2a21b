"""What a regression run whose loss became non-finite leaves besides its last checkpoint:
``history.csv``, ``convergence.png`` and (with ``--diagnostics``) ``diagnostics.png`` up to
the explosion, each marked with where the run stopped.

``rnnx train``'s handler of :class:`rnnx.training.state.NonFiniteLoss` calls
:func:`write_partial_results` after it saved ``diagnostics.json``.  Everything is read back
from the run folder's own files (never through a link): the history from the last
checkpoint's ``history`` (the epochs up to that checkpoint; the epochs after it up to the
explosion are not on record, and the marked row says so), the diagnostics from
``diagnostics.json`` (every update up to the explosion).  The checkpoint itself is left as
it is, so ``--resume`` still continues from it; no ``model.npz`` or ``metrics.json`` is
written (the run did not finish: ``rnnx diagnose --model`` reads its last checkpoint)."""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

from rnnx.cli import run_diagnostics
from rnnx.cli.run_diagnostics import FIGURE
from rnnx.cli.runfolder import CHECKPOINT
from rnnx.cli.runrecord import checkpoint_record

HISTORY, CONVERGENCE = "history.csv", "convergence.png"
#: What a failure to write one partial file is (that file is then left out).
_FAILURES = (OSError, ValueError, TypeError, KeyError, OverflowError, FloatingPointError, ImportError)


def stopped_note(error: Any) -> str:
    """``stopped: loss inf at epoch 17`` from a :class:`~rnnx.training.state.NonFiniteLoss`."""
    return f"stopped: loss {error.value} at epoch {error.epoch}"


def write_partial_results(out: str, error: Any) -> list[str]:
    """Write the partial results of the run in ``out`` that stopped with ``error`` (a
    :class:`~rnnx.training.state.NonFiniteLoss`: its ``epoch`` and ``value``); returns the names
    of the files written, in order (``history.csv``, ``convergence.png``, ``diagnostics.png``;
    one whose source is absent, or that cannot be written, is left out).  Never raises for
    a file it cannot write: the caller's one-line error stays the run's message."""
    from rnnx.cli.settings import TrainSettings
    from rnnx.diagnostics import plots
    from rnnx.io import checkpoint

    wrote: list[str] = []
    note = stopped_note(error)
    meta = None
    with contextlib.suppress(*_FAILURES):  # a CheckpointError is a ValueError
        meta = checkpoint_record(checkpoint.load(os.path.join(out, CHECKPOINT), nofollow=True)[0])
    name = os.path.basename(os.path.abspath(out))
    if meta is not None:
        head = name
        with contextlib.suppress(*_FAILURES):
            s = TrainSettings.from_json(meta.get("settings") or {})
            name = f"{s.name}: {str(meta['model']['cell']).upper()} H={s.hidden}"
            head = f"{name}, {s.backend} {s.dtype}"
        history = [dict(r) for r in meta.get("history") or []]
        last = int(meta.get("epoch") or 0)
        if _write(wrote, HISTORY, lambda: _history(out, history, last, error, note)) and history:
            _write(wrote, CONVERGENCE, lambda: plots.convergence(
                [{k: v for k, v in r.items() if k != "note"} for r in history], os.path.join(out, CONVERGENCE),
                f"{head}\n{note}; history to epoch {last} (the last checkpoint){_off_scale(history)}"))
    _write(wrote, FIGURE, lambda: _diagnostics(out, name, note))
    return wrote


def _write(wrote: list[str], file: str, write) -> bool:
    """Run ``write()`` (False: nothing to write); record ``file`` when it wrote."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            done = write()
    except _FAILURES:
        return False
    if done is not False:
        wrote.append(file)
    return done is not False


def _history(out: str, history: list[dict], last: int, error: Any, note: str) -> None:
    """history.csv: the checkpoint's rows, a ``note`` column, and one row for the epoch
    whose loss became non-finite (its ``batch_loss`` that value), saying which epochs
    between are not on record."""
    from rnnx.cli import run
    from rnnx.io import atomic
    from rnnx.training.windows import history_row

    rows = [{**history_row(r), "note": ""} for r in history]
    fields = list(rows[0]) if rows else ["epoch", "batch_loss", "train_mse", "val_mse", "clipped", "seconds", "note"]
    gap = (f"; epochs {last + 1}-{error.epoch - 1} after the last checkpoint not on record"
           if error.epoch - 1 > last + 1 else
           f"; epoch {last + 1} after the last checkpoint not on record" if error.epoch - 1 == last + 1 else "")
    rows.append({**{k: "" for k in fields}, "epoch": error.epoch, "batch_loss": error.value, "note": note + gap})
    atomic.write_text(os.path.join(out, HISTORY), run.history_csv(rows, fields))


def _off_scale(history: list[dict]) -> str:
    """``; MSE off the scale from epoch 5``: a log axis leaves out values it cannot show
    (:func:`rnnx.diagnostics.plots.plottable`), which in an exploding run is its last epochs."""
    from rnnx.diagnostics import plots

    for r in history:
        vals = [r.get(k) for k in ("train_mse", "val_mse")]
        if any(isinstance(v, float) and v == v and plots.plottable([v])[0] != v for v in vals):  # NaN: no val part
            return f"; MSE off the scale from epoch {r['epoch']}"
    return ""


def _diagnostics(out: str, name: str, note: str) -> bool:
    """diagnostics.png from the run's diagnostics.json (False when there is none)."""
    from rnnx.diagnostics import plots

    d = run_diagnostics.read(out)
    if d is None:
        return False
    plots.diagnostics(d, os.path.join(out, FIGURE), f"{name}, probe batch {d.get('probe_size')}\n{note}")
    return True
