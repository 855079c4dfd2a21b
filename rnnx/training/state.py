r"""The state of a training run and its file: :class:`FitState` (everything needed to
continue a run bit for bit), :class:`FitResult`, the ``fit-state`` checkpoint
(:func:`save_state` / :func:`load_state`), and the two ways a run ends early:
:class:`NonFiniteLoss`, :class:`Stopped`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


from rnnx import optim
from rnnx.training.sources import Batches

__all__ = ["NonFiniteLoss", "Stopped", "FitState", "FitResult", "run_settings", "save_state", "load_state"]



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
    carry: Any = None  # a stream source's state after ``updates`` updates (fit_stream), else None


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


def run_settings(opt, train: Batches, *, batch_size, shuffle, seed, loss, clip_value, clip_norm, tbptt, freeze,
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
