r"""The state of a training run and its file: :class:`FitState` (everything needed to
continue a run bit for bit), :class:`FitResult`, the ``fit-state`` checkpoint of every run
kind (:func:`save_state`; :func:`read_state` / :func:`load_state`, which read the older kinds too), and the two ways a run ends early:
:class:`NonFiniteLoss`, :class:`Stopped`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from rnnx import optim

__all__ = ["NonFiniteLoss", "Stopped", "FitState", "FitResult", "check_settings", "save_state", "load_state",
           "read_state", "to_device", "Stored", "VERSION", "VERSIONS", "KINDS"]



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
    carry: Any = None  # a stream source's state after ``updates`` updates (fit of a Stream), else None
    run: dict | None = None  # the caller's own record, kept in the checkpoint (save_state's ``run``)
    settings: dict | None = None  # fit's run settings, on the state a checkpoint callable is handed


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


def check_settings(stored: dict | None, run: dict, what: str = "settings", *, optional: tuple = ()) -> None:
    """A resumed run's ``run`` settings are those its checkpoint was written with (``stored``; None:
    nothing to compare); a setting in ``optional`` (written only when used) is compared when either
    side has it.  Else one ``ValueError`` line naming ``resume`` and the first setting changed."""
    keys = [*run, *(k for k in optional if stored is not None and k in stored and k not in run)]
    k = None if stored is None else next((k for k in keys if stored.get(k) != run.get(k)), None)
    if k is not None:
        raise ValueError(f"resume: the checkpoint was written with {k}={stored.get(k)!r}, this fit has "
                         f"{k}={run.get(k)!r}; expected the run's own {what} to continue it")


#: The version of the ``fit-state`` file :func:`save_state` writes; :func:`read_state` reads these.
VERSION = 2
VERSIONS = (1, 2)
#: The kinds of training checkpoint :func:`read_state` reads: ``fit-state`` (versions 1 and 2), and the
#: two older kinds it replaced: the series CLI's ``checkpoint`` and :func:`rnnx.text.fit_text`'s ``text-state``.
KINDS = ("fit-state", "checkpoint", "text-state")
#: The engine's fields of a ``checkpoint`` file (the series CLI's before version 2); the others are its
#: run record (its TrainSettings, normalisation, data record, ``finished``, ``patience_from``, ...).
_CHECKPOINT_ENGINE = ("kind", "format", "version", "model", "epoch", "updates", "opt_step", "history", "best_val",
                      "best_epoch", "clipped")


class Stored(NamedTuple):
    """What :func:`read_state` read: the ``state`` (arrays on the host), fit's ``settings``, the
    caller's ``run`` record, the ``model`` configuration it was written for, and the file's
    ``kind`` and ``version`` (``fit-state`` 2 for the current kind)."""

    state: FitState
    settings: dict
    run: dict
    model: dict
    kind: str
    version: int


def _carry_parts(carry: Any) -> tuple:
    return carry if isinstance(carry, tuple) else (carry,)


def save_state(path: str, model, state: FitState, settings: dict, *, run: dict | None = None,
               overwrite: bool = True, to_numpy: Any = None) -> None:
    """``state`` as an rnnx ``fit-state`` file, version :data:`VERSION` (:mod:`rnnx.io.checkpoint`:
    written to a temporary file and renamed, never half-written), the one training checkpoint of
    every run kind.  Arrays: ``params``, ``best`` (the best epoch's params, when kept), ``opt.<slot>`` (the
    optimizer's slots) and, for a stream run (``state.carry``), ``state/<h|c>`` (the carried
    state of ``streams`` streams).  The meta record: the model's configuration, ``epoch``,
    ``updates``, ``opt_step``, ``history``, ``best_score``, ``best_epoch``, ``clipped``,
    ``callbacks`` (each callback's ``state_dict()``), ``settings`` (what must not change to
    continue the run: :func:`rnnx.fit`'s ``run`` dict) and ``run``: the caller's own
    record, any JSON object (``run`` if given, else ``state.run``, else ``{}``).  ``to_numpy``:
    the host transfer (default :func:`rnnx.backends.to_numpy`)."""
    from rnnx import backends
    from rnnx.io import checkpoint

    opt = optim.as_python(state.opt_state)
    record = run if run is not None else (state.run if state.run is not None else {})
    meta = {"kind": "fit-state", "version": VERSION, "model": model.config(), "epoch": state.epoch,
            "updates": state.updates, "opt_step": opt["step"], "history": state.history,
            "best_score": state.best_score if math.isfinite(state.best_score) else 1e308,
            "best_epoch": state.best_epoch, "clipped": state.clipped, "callbacks": list(state.callbacks),
            "settings": settings, "run": record}
    groups = {"params": state.params}
    if state.best_epoch:  # a run that kept no best epoch stores its params once
        groups["best"] = state.best_params if state.best_params is not None else state.params
    groups.update({f"opt.{slot}": d for slot, d in opt["slots"].items() if d})
    if state.carry is not None:
        parts = _carry_parts(state.carry)
        meta["streams"] = int(parts[0].shape[1])
        groups["state"] = dict(zip(model.layer.spec.state, parts))
    checkpoint.save(path, meta, groups, to_numpy=to_numpy or backends.to_numpy, overwrite=overwrite)


def read_state(path: str, *, nofollow: bool = False, expect: str | None = None) -> Stored:
    """A training checkpoint of any kind this rnnx knows (:data:`KINDS`) as :class:`Stored`
    (``state``, ``settings``, ``run``, ``model``, ``kind``, ``version``): the state with its arrays on the host (NumPy, as stored; ``carry`` a NumPy array, a
    tuple of them for LSTM), fit's ``settings`` and the caller's ``run`` record.  The older kinds
    map onto the same state (:data:`KINDS`; ``expect``: another kind is a ``ValueError``
    ``resume: '<path>' is a '<kind>' file, expected <expect>``): a ``fit-state`` of version 1 (no callbacks or clipped count: none);
    the series CLI's ``checkpoint`` (``best_val`` is the best score, the issue-16 conversion of a
    file without ``data`` applied; every other field is its run record, no fit settings); a
    ``text-state`` (``updates``, the carried state, the history rows, ``[window, count]`` as the
    one callback state ``{"window", "count"}``; ``run``: its run record).  Another kind without
    ``expect``: :class:`rnnx.io.checkpoint.CheckpointError` naming the file and the kinds expected (a file of an
    unknown version is refused by the reader, naming the versions known).  ``nofollow``: a symbolic
    link at ``path`` is refused."""
    from rnnx.io import checkpoint

    meta, groups = checkpoint.load(path, nofollow=nofollow)
    kind = meta["kind"]
    if kind not in KINDS:
        if expect is not None:
            raise ValueError(f"resume: {path!r} is a {kind!r} file, expected {expect}")
        raise checkpoint.CheckpointError(f"checkpoint: {path!r} is a {kind!r} file, expected a training checkpoint "
                                         f"({', '.join(map(repr, KINDS))})")
    slots = {g.removeprefix("opt."): d for g, d in groups.items() if g.startswith("opt.")}
    parts = tuple(groups["state"][n] for n in _state_names(meta["model"])) if "state" in groups else (None,)
    best, run, settings, callbacks = math.inf, meta.get("run", {}), meta.get("settings"), meta.get("callbacks", [])
    if kind == "checkpoint":  # best_val in the series' units before issue 16 (no data record): MSE / scale^2
        best = meta["best_val"] if "data" in meta else meta["best_val"] / (meta["norm"][1] * meta["norm"][1])
        run, settings = {k: v for k, v in meta.items() if k not in _CHECKPOINT_ENGINE}, {}
    elif kind == "text-state":  # [window, count]: its one callback's state
        callbacks = [dict(zip(("window", "count"), meta["window"]))]
    elif meta["best_score"] < 1e308:
        best = meta["best_score"]
    best_epoch = meta.get("best_epoch", 0)
    st = FitState(groups["params"], {"step": meta["opt_step"], "slots": slots}, meta.get("epoch", 0), meta["updates"],
                  list(meta["history"]), groups["best"] if kind == "checkpoint" else
                  groups.get("best") if best_epoch else None, best, best_epoch, list(callbacks),
                  0 if kind == "text-state" else meta.get("clipped", 0), parts if len(parts) > 1 else parts[0], run=run)
    return Stored(st, settings, run, meta["model"], kind, meta["version"])


def _state_names(config: dict) -> tuple[str, ...]:
    from rnnx.nn.model import Model

    return tuple(Model.from_config(config).layer.spec.state)


def load_state(path: str, model, opt, *, xp: Any, device: Any, dtype: Any,
               nofollow: bool = False) -> tuple[FitState, dict]:
    """A training checkpoint (:func:`read_state`: ``fit-state`` of any version, or an older kind) back
    as (FitState on ``xp``/``device`` in ``dtype``, its settings), the optimizer state built by
    ``opt`` and filled from the file's slots; a file of another model or kind: ``ValueError``
    naming ``resume`` and the file.  ``nofollow``: a symbolic link at ``path`` is refused (a file
    rnnx wrote itself, never as a link): :class:`rnnx.io.checkpoint.CheckpointError`."""

    got = read_state(path, nofollow=nofollow, expect="the checkpoint of rnnx.fit (fit(..., checkpoint=PATH))")
    if got.model != model.config():
        raise ValueError(f"resume: {path!r} was written for the model {got.model}, not {model.config()}")
    return to_device(got.state, model, opt, path=path, xp=xp, device=device, dtype=dtype), got.settings


def to_device(host: FitState, model, opt, *, path: str, xp: Any, device: Any, dtype: Any) -> FitState:
    """A state read by :func:`read_state` on ``xp``/``device`` in ``dtype`` (None: as stored) for
    ``model`` and ``opt`` (the optimizer's state built by ``opt.init``, each slot the file holds
    filled from it); params of another model: ``ValueError`` naming ``resume`` and ``path``."""
    params = host.params
    if set(params) != set(model.param_shapes()) or any(tuple(params[k].shape) != tuple(s)
                                                          for k, s in model.param_shapes().items()):
        raise ValueError(f"resume: {path!r} does not hold the params of {model.config()}")

    def arr(a):
        return xp.asarray(a, device=device) if dtype is None else xp.asarray(a, dtype=dtype, device=device)

    arrays = lambda d: {k: arr(d[k]) for k in model.param_shapes()}  # noqa: E731
    p = arrays(params)
    st = opt.init(p)
    st["step"] = host.opt_state["step"]
    for slot in st["slots"]:
        if slot in host.opt_state["slots"]:
            st["slots"][slot] = {k: arr(v) for k, v in host.opt_state["slots"][slot].items()}
    carry = None if host.carry is None else (tuple(arr(a) for a in host.carry) if isinstance(host.carry, tuple)
                                             else arr(host.carry))
    return replace(host, params=p, opt_state=st, history=list(host.history),
                   best_params=None if host.best_params is None else arrays(host.best_params),
                   callbacks=list(host.callbacks), carry=carry)
