r"""Training and scoring a character model (:func:`fit_text`, :func:`evaluate_text`) on the
ids of a text, as min-char-rnn does: chunks of the text, the state carried from chunk to
chunk, scored in bits per character.  The host-side text (file reading, the vocabulary, the
ids, the chunks, one-hot and sampling) is :mod:`rnnx.data.text`; its public names are
importable from here too.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from rnnx.data.text import (MAX_TEXT_BYTES, MAX_VOCABULARY, Vocabulary, bundled_text, chunks, host_ids, ids_record,
                            one_hot, read_text, read_text_digest, sample, stream_chunks)
from rnnx.training.callbacks import Callback, LambdaCallback
from rnnx.training.state import FitState

__all__ = ["MAX_TEXT_BYTES", "MAX_VOCABULARY", "STATE_KIND", "Stopped", "TextHistory", "TextState", "Vocabulary", "bundled_text", "chunks",
           "evaluate_text", "fit_text", "load_state", "one_hot", "read_text", "read_text_digest", "sample",
           "stream_chunks", "summed_cross_entropy"]


# -- training a character model (min-char-rnn's loop) ---------------------------------------------
#: Loss values kept on the device before one host read turns them into history rows.
_FLUSH_EVERY = 256


def _positive_int(name: str, v: Any) -> None:
    """``name``: a positive int, else one ValueError line."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}: expected a positive int, got {v!r}")


def _check_char_model(model: Any) -> int:
    """A character model: many-to-many, one direction, logits (no output activation),
    reading and scoring the same V characters; returns V."""
    layer = getattr(model, "layer", None)
    if layer is None or not hasattr(model, "loss_and_grad"):
        raise TypeError(f"model: expected an rnnx.Model, got {type(model).__name__}")
    v, o = layer.input_size, model.output_size
    if (v != o or model.objective != "many-to-many" or layer.num_directions != 1
            or model.output_activation != "none"):
        raise ValueError(f"model: input_size {v}, output_size {o}, {model.objective}, {layer.num_directions} "
                         f"direction(s), output_activation {model.output_activation!r}; expected input_size = "
                         "output_size (the vocabulary), many-to-many, one direction, output_activation 'none'")
    return v


def summed_cross_entropy(pred: Any, target: Any, *, xp: Any) -> tuple[Any, Any]:
    r"""min-char-rnn's loss of a chunk: cross-entropy summed over the T steps and averaged
    over the B streams, :math:`L = \frac1B \sum_{t,b} -\log \mathrm{softmax}(z_{t,b})_{y_{t,b}}`
    = T x :func:`rnnx.losses.cross_entropy` (the mean), gradient likewise T x the mean's:
    the scale at which ``clip_value=5`` clips as min-char-rnn does.  pred (T, B, V)."""
    from rnnx import losses

    value, grad = losses.cross_entropy(pred, target, xp=xp)
    steps = pred.shape[0]
    return value * steps, grad * steps


def _text_optimizer(optimizer: Any) -> Any:
    """min-char-rnn's Adagrad (lr=0.1, eps=1e-8) for None, else a name or an rnnx.optim object
    (:func:`rnnx.optim.make`)."""
    from rnnx import optim

    return optim.make("adagrad", lr=0.1, eps=1e-8) if optimizer is None else optim.make(optimizer)


def _device_chunks(ids: Any, model: Any, params: dict, seq_len: int, streams: int) -> tuple[Any, Any, Any, Any]:
    """``(xp, device, inputs, targets)``: the stream chunks as integer arrays on the
    backend and device of ``params['weight_hy']`` (ids only: the one-hot is made per chunk)."""
    import array_api_compat as compat

    from rnnx._xp import index_dtype

    v = _check_char_model(model)
    w = params.get("weight_hy") if hasattr(params, "get") else None
    if w is None or not compat.is_array_api_obj(w):
        raise ValueError(f"params: expected the model's parameters (a dict with 'weight_hy'), got "
                         f"{type(params).__name__}")
    x, y = stream_chunks(host_ids(ids, v), seq_len=seq_len, streams=streams)
    xp, dev = compat.array_namespace(w), compat.device(w)
    it = index_dtype(xp, dev)
    return xp, dev, xp.asarray(x, dtype=it, device=dev), xp.asarray(y, dtype=it, device=dev)


def _rows(pending: list, n_chunks: int) -> list[dict]:
    """History rows from ``pending`` (update, 0-d mean loss) pairs: one host read for all;
    the epoch of update u (1-based) is ``(u - 1) // n_chunks + 1``."""
    from rnnx.backends import to_numpy

    if not pending:
        return []
    import array_api_compat as compat

    xp = compat.array_namespace(pending[0][1])
    values = to_numpy(xp.stack([v for _, v in pending])).tolist()
    return [{"update": u, "epoch": (u - 1) // n_chunks + 1, "loss": v, "bpc": v / math.log(2.0)}
            for (u, _), v in zip(pending, values)]


def _check_fit_text(epochs: Any, log_every: Any, seed: Any, on_update: Any, checkpoint: Any) -> None:
    """fit_text's own checks (those it shares with rnnx.fit: :func:`rnnx.training.engine.check_options`)."""
    _positive_int("epochs", epochs)
    _positive_int("log_every", log_every)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
    if on_update is not None and not callable(on_update):
        raise TypeError(f"on_update: expected a function (update, params, loss) or None, got "
                        f"{type(on_update).__name__}")
    if checkpoint is not None and not (isinstance(checkpoint, str) or callable(checkpoint)):
        raise TypeError(f"checkpoint: expected a file path, a function (state, settings) or None, got "
                        f"{type(checkpoint).__name__}")


# -- the state of a run: in memory, and as a checkpoint file ---------------------------------------------
class TextState(FitState):
    """:func:`fit_text`'s state: the engine's :class:`rnnx.training.state.FitState` of a stream
    run (``params``, ``opt_state`` with the step a Python int, ``updates``, ``history``: the rows
    completed so far, ``carry``: the streams' state after ``updates`` updates, ``callbacks``:
    ``[{"window", "count"}]``, the sum of the mean losses of the ``count`` updates since the last
    row, None and 0 at a row's end), with ``state``, ``window`` and ``count`` read from it.  The
    row of a run that ends between rows is in the history :func:`fit_text` returns, not in the
    state, so a run extended from its end state writes the rows of an uninterrupted longer run."""

    state = property(lambda self: self.carry)
    window = property(lambda self: self.callbacks[0]["window"] if self.callbacks else None)
    count = property(lambda self: self.callbacks[0]["count"] if self.callbacks else 0)


class Stopped(Exception):
    """``should_stop()`` returned True before update ``updates + 1``: training stopped after
    the last complete update; ``state`` (a :class:`TextState`) is that update's, the state
    the checkpoint (when one was asked for) holds."""

    def __init__(self, state: TextState) -> None:
        super().__init__(f"stopped after update {state.updates}")
        self.state, self.updates = state, state.updates


#: The ``kind`` of the checkpoint file of :func:`fit_text` before it wrote ``fit-state`` version 2
#: (:func:`load_state` still reads it).
STATE_KIND = "text-state"


def load_state(path: str, model: Any = None, *, xp: Any = None, device: Any = None, dtype: Any = None,
               nofollow: bool = False) -> tuple[TextState, dict]:
    """The checkpoint at ``path`` (:func:`rnnx.training.state.save_state`'s ``fit-state`` version 2
    of a character model's run, or an older ``text-state`` file: :func:`rnnx.training.state.read_state`)
    as ``(TextState, meta)``, its arrays on ``xp`` (default NumPy) and ``device`` in ``dtype``
    (default: as stored); ``meta``: ``kind`` and ``version`` read, ``model``, ``updates``,
    ``settings`` and ``run`` (the caller's record, ``{}`` if none).  ``model``: the model it
    must have been written for (None: any; build it with ``rnnx.Model.from_config(meta["model"])``).
    A file of another kind, of another model, or without a carried state: ValueError
    ``resume: '<path>' ...``; a damaged one: :class:`rnnx.io.checkpoint.CheckpointError` naming
    the file and the field (with ``nofollow``, a run's own file, a symbolic link too)."""
    from rnnx import backends
    from rnnx.nn.model import Model
    from rnnx.training import state as S

    xp = backends.get("numpy").load() if xp is None else xp
    expect = "the checkpoint of a character model (written by fit_text(..., checkpoint=PATH))"
    got = S.read_state(path, nofollow=nofollow, expect=expect)
    fs = got.state
    if got.kind == "checkpoint" or fs.carry is None or len(fs.callbacks) != 1 \
            or set(fs.callbacks[0]) != {"window", "count"}:
        raise ValueError(f"resume: {path!r} is the checkpoint of another run kind ({got.kind} {got.version}, "
                         f"no carried text state), expected {expect}")
    w, n = fs.callbacks[0]["window"], fs.callbacks[0]["count"]
    number = isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w)
    if isinstance(n, bool) or not isinstance(n, int) or not ((w is None and n == 0) or (number and n >= 1)):
        from rnnx.io.checkpoint import CheckpointError

        raise CheckpointError(f"checkpoint: {path!r}: meta.callbacks[0]: expected {{'window': sum, 'count': n}}: "
                              f"a finite number and an int >= 1, or null and 0, got {fs.callbacks[0]!r:.80}")
    if model is not None and Model.from_config(got.model).config() != model.config():
        raise ValueError(f"resume: {path!r} was written for the model {got.model}, not {model.config()}")

    def arr(a: Any) -> Any:
        return xp.asarray(a, device=device) if dtype is None else xp.asarray(a, dtype=dtype, device=device)

    carry = tuple(map(arr, fs.carry)) if isinstance(fs.carry, tuple) else arr(fs.carry)
    slots = {g: {k: arr(a) for k, a in d.items()} for g, d in fs.opt_state["slots"].items()}
    st = TextState(**{**vars(fs), "params": {k: arr(a) for k, a in fs.params.items()}, "carry": carry,
                      "opt_state": {"step": fs.opt_state["step"], "slots": slots}})
    return st, {"kind": got.kind, "version": got.version, "model": got.model, "updates": fs.updates,
                "settings": got.settings, "run": got.run}


def fit_text(model: Any, params: dict | None, ids: Any, *, seq_len: int = 25, streams: int = 1, epochs: int = 1,
             max_updates: int | None = None, optimizer: Any = None, clip_value: float | None = 5.0, seed: int = 0,
             log_every: int = 1, on_update: Any = None, should_stop: Any = None, checkpoint: Any = None,
             checkpoint_every: int = 100, resume: Any = None) -> tuple[dict, list[dict]]:
    r"""Train a character model on integer ``ids`` (len N, values in [0, V)) as min-char-rnn
    does, with ``streams`` = B parallel streams (char-rnn's batches): :func:`rnnx.fit` of a
    :class:`~rnnx.training.sources.Stream` of the :func:`stream_chunks` of the text.

    Update n reads chunk n of every stream, one-hot (seq_len, B, V) made on the params' backend
    and device (never the whole text one-hot), runs ``model`` (many-to-many, input and output
    size V) from the state the previous chunk ended in (a constant: no gradient flows into it;
    zeros at each epoch's start), takes :func:`summed_cross_entropy` against the next
    characters, its explicit BPTT gradient, the clip (``clip_value``, elementwise, as
    min-char-rnn's ``np.clip(d, -5, 5)``) and the optimizer step (default
    ``Adagrad(lr=0.1, eps=1e-8)``; a name or an :mod:`rnnx.optim` object): one compiled program
    where the backend has ``jax.jit``.  ``params``: the starting parameters, or None for
    ``model.init_params`` (NumPy float64, ``seed``); ``epochs``, ``max_updates``, ``seed`` (the
    dropout masks of update n too), ``should_stop`` and ``checkpoint_every`` (in updates) are
    :func:`rnnx.fit`'s.

    History: one row per ``log_every`` updates, ``{"update", "epoch", "loss", "bpc"}``: the mean
    loss per character of those updates in nats and in bits (= nats / ln 2), read from the
    device 256 rows at a time; a run that ends between rows ends with a row of its last updates.
    ``on_update(update, params, loss)`` is called after every update with its 0-d loss
    (``float(loss)`` is a host read) and stops training by returning True.  A NaN/Inf loss
    raises :class:`rnnx.training.state.NonFiniteLoss`.  Returns ``(params, history)``.

    The whole state is a :class:`TextState`.  A stop (``should_stop`` True) keeps the last complete
    update: the checkpoint (if any) is written, then :class:`Stopped` raised with it.
    ``checkpoint``: a path (:func:`rnnx.training.state.save_state`, atomically) or a function
    ``checkpoint(state, settings)``, every ``checkpoint_every`` updates, on a stop and at the end
    (each write reads the pending losses).  ``resume``: a :class:`TextState` or a checkpoint path
    (``params`` None; a path's arrays go to the backend and device of ``ids`` when those are a
    device array such as JAX's, else NumPy), whose settings (seq_len, streams, optimizer, clip,
    seed, log_every, dtype and the ids' SHA-256) must be this call's; ``epochs`` and
    ``max_updates`` may grow.  A run stopped after update k and continued gives the params and
    history of an uninterrupted run bit for bit (NumPy; JAX: the same compiled program)."""

    import array_api_compat as compat

    from rnnx import backends
    from rnnx.training import engine
    from rnnx.training import state as S
    from rnnx.training.sources import Stream

    _check_fit_text(epochs, log_every, seed, on_update, checkpoint)
    engine.check_options(max_updates=max_updates, checkpoint_every=checkpoint_every, should_stop=should_stop,
                         clip_value=clip_value)  # rnnx.fit's checks, before anything reads them
    if resume is not None and params is not None:
        raise ValueError("params: a resumed run continues from its state's params; give one of params, resume")
    stored = None
    if isinstance(resume, str):  # on the ids' backend and device (a device array), else NumPy; the stored dtype
        on = compat.is_array_api_obj(ids) and not compat.is_numpy_array(ids)
        resume, meta = load_state(resume, model, **({"xp": compat.array_namespace(ids), "device": compat.device(ids)}
                                                     if on else {}))
        stored = meta["settings"]
    if resume is not None and not isinstance(resume, TextState):
        raise TypeError(f"resume: expected a TextState (a Stopped's .state, load_state) or a checkpoint path, got "
                        f"{type(resume).__name__}")
    opt = _text_optimizer(optimizer)
    if resume is not None:
        params = resume.params
    elif params is None:
        if hasattr(model, "param_shapes") and all(isinstance(v, int) and v > 0 for v in (seq_len, streams)):
            from rnnx import bounds  # before the parameters are drawn: a model that cannot fit is refused

            bounds.check_training(model, batch_size=streams, steps=seq_len, sequences=streams,
                                  slots=bounds.optimizer_slots(opt), transforms=int(clip_value is not None),
                                  names=("model", "streams", "seq_len"))
        np = backends.get("numpy").load()
        params = model.init_params(np, seed=seed, dtype=np.float64) if hasattr(model, "init_params") else None
    xp, dev, x_all, y_all = _device_chunks(ids, model, params, seq_len, streams)
    v, dtype = model.layer.input_size, params["weight_hy"].dtype
    run = None  # what must not change between a run and its continuation (epochs and max_updates may)
    if checkpoint is not None or stored is not None:
        run = {"seq_len": seq_len, "streams": streams, "optimizer": repr(opt),
               "clip_value": None if clip_value is None else float(clip_value), "seed": seed,
               "log_every": log_every, "dtype": str(dtype).removeprefix("torch."), "ids": ids_record(ids, v)}
        S.check_settings(stored, run, "settings and ids")
    start, log = TextState(params, opt.init(params)), TextHistory(log_every, x_all.shape[0])
    if resume is not None:
        extra = sorted(set(resume.opt_state["slots"]) - set(start.opt_state["slots"]))
        if extra:
            raise ValueError(f"resume: the state holds optimizer slots {extra} that {opt!r} does not have; "
                             "expected the run's own optimizer")
        slots = {s: resume.opt_state["slots"].get(s) or d for s, d in start.opt_state["slots"].items()}
        start = TextState(**{**vars(resume), "opt_state": {"step": resume.opt_state["step"], "slots": slots}})
    callbacks = [log] if on_update is None else [log, LambdaCallback(
        on_update_end=lambda run, loss: run.stop("callback") if on_update(run.updates, run.params, loss) is True
        else None)]
    source = Stream(x_all, y_all, lambda x_ids: one_hot(x_ids, v, xp=xp, dtype=dtype, device=dev), per_step=True)
    own = lambda fs: replace(fs, callbacks=fs.callbacks[:1])  # noqa: E731 (TextHistory's: on_update keeps none)
    save = None if checkpoint is None else (lambda fs: checkpoint(own(fs), run) if callable(checkpoint)
                                            else S.save_state(checkpoint, model, own(fs), run, run={}))
    try:
        result = engine.fit(model, source, None, resume=start, loss=summed_cross_entropy, optimizer=opt,
                            epochs=epochs, max_updates=max_updates, clip_value=clip_value, seed=seed,
                            callbacks=callbacks, should_stop=should_stop, checkpoint=save,
                            checkpoint_every=checkpoint_every)
    except S.Stopped as e:
        raise Stopped(own(e.state)) from None
    return result.params, result.history + log.tail()


class TextHistory(Callback):
    """:func:`fit_text`'s history as a callback of the engine (:func:`rnnx.fit` of a stream source):
    one row ``{"update", "epoch", "loss", "bpc"}`` per ``log_every`` updates, the mean of
    their losses (nats per character, and bits), appended to the run's history; the losses
    stay on the device and are read ``256`` rows at a time.  Its state (``window``, the sum of
    the losses since the last row as a float, and their ``count``) goes into the checkpoint; a
    non-finite loss is :class:`rnnx.training.state.NonFiniteLoss` naming the update."""

    def __init__(self, log_every: int, n_chunks: int) -> None:
        self.log_every, self.n_chunks, self.count, self.done = log_every, n_chunks, 0, 0
        self.rows: list[dict] = []
        self.pending: list = []
        self.window: Any = None

    def load_state_dict(self, state: dict) -> None:
        self.window, self.count = state["window"], state["count"]

    def on_fit_start(self, run: Any) -> None:
        import array_api_compat as compat

        self.rows, self.done, p = run.history, run.updates, run.params["weight_hy"]
        if self.window is not None:  # a resumed window: a 0-d array of the params' dtype, as it was summed
            self.window = compat.array_namespace(p).asarray(self.window, dtype=p.dtype, device=compat.device(p))

    def on_update_end(self, run: Any, loss: Any) -> None:
        self.done = run.updates
        self.window, self.count = (loss if self.window is None else self.window + loss), self.count + 1
        if self.count >= self.log_every:
            self.pending.append((run.updates, self.window / self.count))
            self.window, self.count = None, 0
            if len(self.pending) >= _FLUSH_EVERY:
                self.flush()

    def flush(self) -> None:
        self.rows.extend(_checked(_rows(self.pending, self.n_chunks)))
        self.pending.clear()

    def state_dict(self) -> dict:
        self.flush()
        w = None if self.window is None else float(self.window)
        if w is not None:  # a sum gone non-finite: NonFiniteLoss naming its last update
            _checked([{"update": self.done, "epoch": (self.done - 1) // self.n_chunks + 1, "loss": w}])
        return {"window": w, "count": self.count}

    def tail(self) -> list[dict]:
        """The row of the updates since the last one (a run that ends between rows)."""
        self.flush()
        return [] if self.window is None else _checked(_rows([(self.done, self.window / self.count)], self.n_chunks))


def _checked(rows: list[dict]) -> list[dict]:
    from rnnx.training.state import NonFiniteLoss

    bad = next((r for r in rows if not math.isfinite(r["loss"])), None)
    if bad is not None:
        raise NonFiniteLoss(bad["epoch"], bad["loss"], f"update {bad['update']}: lower the learning rate "
                            "or clip the gradient (clip_value)")
    return rows


def evaluate_text(model: Any, params: dict, ids: Any, *, seq_len: int = 25, streams: int = 1) -> float:
    """Mean bits per character of ``model`` over the held-out text ``ids``, cut as
    :func:`fit_text` cuts it, the state carried from chunk to chunk (so the value is that
    of one forward over each whole stream, less its last ``(S - 1) % seq_len``
    characters).  The losses are summed on the device and read once."""
    from rnnx import losses

    xp, dev, x_all, y_all = _device_chunks(ids, model, params, seq_len, streams)
    v, dtype = model.layer.input_size, params["weight_hy"].dtype

    def chunk(p, x_ids, y_ids, state):
        pred, state = model.predict(p, one_hot(x_ids, v, xp=xp, dtype=dtype, device=dev), state)
        return losses.cross_entropy(pred, y_ids, xp=xp)[0], state

    from rnnx.training.engine import zero_state
    from rnnx.training.strategies import compile_if_possible

    chunk = compile_if_possible(chunk, xp)

    total, state = None, zero_state(model.layer, streams, xp=xp, dtype=dtype, device=dev)
    for n in range(x_all.shape[0]):
        value, state = chunk(params, x_all[n], y_all[n], state)
        total = value if total is None else total + value
    return float(total) / x_all.shape[0] / math.log(2.0)
