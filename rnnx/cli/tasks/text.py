"""``rnnx train --text FILE``: a character-level model trained as min-char-rnn trains one
(:func:`rnnx.text.fit_text`), written to a run folder that ``rnnx sample`` reads;
``rnnx train --resume DIR`` continues one (:func:`resume_run`).

:func:`start_run` trains from the flags :mod:`rnnx.cli.table` gives the ``text`` task (its
defaults: :data:`DEFAULTS`, min-char-rnn's); any other flag given is refused, one line.

The text (a UTF-8 file, or ``bundled``: :func:`rnnx.text.bundled_text`) is split 90/10: the
first 90% trains, the last 10% gives the validation bits per character.  The vocabulary is
every character of the whole text.  The run folder (default ``runs/<text name>``) is
written as :mod:`rnnx.cli.run` says (the lock, signals, errors), in this order:

- ``checkpoint.npz`` (:func:`rnnx.training.state.save_state`: ``fit-state`` version 2, the run's record in
  ``run``; a folder of an older rnnx has a ``text-state`` file, which resumes too) every
  ``--checkpoint-every`` updates, on a signal and after the last update: the whole training
  state (params, optimizer slots, the streams' carried state, history, the pending loss
  window) and, under ``run``, what ``--resume`` needs: the settings, the text's record
  (name, absolute path, bytes, SHA-256), the vocabulary;
- ``text.json``: ``{"kind": "rnnx-text", "version": 1, "vocabulary": "<characters>",
  "first": "<the text's first character>", "text": {name, path, bytes, sha256, chars},
  "seq_len", "streams", "split": 0.9, "dtype"}`` (sha256: of the file's bytes; of the
  UTF-8 text for ``bundled``);
- ``model.npz``: :func:`rnnx.save` of the model and its trained parameters;
- ``history.csv``: ``update,epoch,loss,bpc`` (mean of every 10 updates, nats and bits/char);
- ``metrics.json`` (a folder with it is complete): train and validation bits per
  character of the trained model, updates, seconds, settings;
- ``checkpoint.npz`` again, its record marked ``finished``.

``--resume`` continues with the run's own settings (``--max-updates``/``--epochs`` may extend
it), bit for bit as an uninterrupted run; a text whose bytes changed is refused unless
``--allow-changed-data``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import time
from typing import Any

from rnnx.cli import run, table
from rnnx.cli.errors import AppError
from rnnx.cli.runfolder import CHECKPOINT
from rnnx.training.defaults import TEXT as _TABLE

TEXT_FILE = "text.json"
#: The share of the text that trains; the rest gives the validation bits per character.
TRAIN_SHARE = _TABLE.split[0]
#: History rows: the mean of every this many updates.
LOG_EVERY = 10
#: ``--checkpoint-every`` of a text run, in updates, when it is not given.
CHECKPOINT_EVERY = table.DEFAULTS["text"]["checkpoint_every"]
#: Characters of each sample printed by ``--sample-every``.
SAMPLE_LENGTH = 200
#: The task's name in rnnx.cli.table and rnnx.cli.tasks.REGISTRY.
TASK = "text"
#: A text run's settings when not given: the ``text`` row of :mod:`rnnx.training.defaults`
#: (``streams`` is its batch size), and the text's own (:data:`rnnx.cli.table.DEFAULTS`).
DEFAULTS = table.DEFAULTS["text"]


def _choice(args: argparse.Namespace, name: str) -> Any:
    v = getattr(args, name, None)
    return DEFAULTS[name] if v is None else v


def _settings(args: argparse.Namespace) -> dict:
    """The run's settings: the flags given over :data:`DEFAULTS`, checked."""
    s = {k: _choice(args, k) for k in DEFAULTS}
    s.update({k: None for k in table.turned_off(["no_clip"] if args.no_clip else [], vars(args)) if k in s})
    s["max_updates"], s["sample_every"] = args.max_updates, args.sample_every
    s["device"] = getattr(args, "device", None)
    table.check(s, "text")
    return s


def _load(text_arg: str | None, stored: dict | None = None, *, allow_changed: bool = False) -> tuple[str, str, dict]:
    """``(name, text, source)`` of ``--text``: a file (source: its name, absolute path, size
    and the SHA-256 of its bytes), or ``bundled`` (None: the SHA-256 of the text's UTF-8).
    ``stored``: a resumed run's text record; its file must be unchanged (its bytes hashed
    before any is decoded) unless ``allow_changed``, and the bundled text the one it trained on."""
    from rnnx import data
    from rnnx import text as T

    want = None if stored is None or allow_changed else stored.get("sha256")
    if text_arg in ("bundled", None):
        name, text = T.bundled_text()
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if stored is not None and not allow_changed and digest != stored.get("sha256"):
            raise AppError(f"--resume: the bundled text ({name}) of this Python differs from the one the run began "
                           "on (another CPython version?); resume on it as it is with --allow-changed-data")
        return name, text, {"name": name, "path": None, "bytes": None, "sha256": digest}
    path = os.path.abspath(text_arg)
    try:
        text, digest = T.read_text_digest(text_arg, sha256=want)
    except data.DataChanged as e:
        raise AppError(f"--resume: {e}; {run.CHANGED}") from None
    return os.path.splitext(os.path.basename(text_arg))[0] or "text", text, \
        {"name": os.path.basename(text_arg) if stored is None else stored.get("name"), "path": path,
         "bytes": os.path.getsize(path), "sha256": digest}


def _split(ids: Any, seq_len: int, streams: int) -> int:
    """Where the validation part starts; both parts must hold one chunk (of every stream)."""
    n = len(ids)
    cut = int(n * TRAIN_SHARE)
    need_train, need_val = streams * (seq_len + 1), seq_len + 1
    if cut < need_train or n - cut < need_val:
        raise AppError(f"--text: {n} characters; the first {TRAIN_SHARE:.0%} trains and needs at least --streams x "
                       f"(--seq-len + 1) = {need_train}, the last {1 - TRAIN_SHARE:.0%} validates and needs "
                       f"--seq-len + 1 = {need_val}; give a longer text or a smaller --seq-len/--streams")
    return cut


class _Reporter:
    """``on_update`` of :func:`rnnx.text.fit_text`: a progress line on stderr every tenth
    of the run (unless ``quiet``) and a sample on stdout every ``sample_every`` updates;
    the loss is read from the device only then."""

    def __init__(self, model, vocab, first: str, s: dict, total: int, quiet: bool) -> None:
        self.model, self.vocab, self.first, self.s, self.total = model, vocab, first, s, total
        self.every = None if quiet else max(1, total // 10)
        self.t0 = time.perf_counter()

    def __call__(self, update: int, params: dict, loss: Any) -> None:
        from rnnx import text as T

        if self.every is not None and (update % self.every == 0 or update == self.total):
            print(f"rnnx train: update {update}/{self.total}: {float(loss) / math.log(2.0):.3f} bits/char "
                  f"({time.perf_counter() - self.t0:.1f} s)", file=sys.stderr)
        k = self.s["sample_every"]
        if k and update % k == 0:
            text = T.sample(self.model, params, self.vocab, prime=self.first, length=SAMPLE_LENGTH,
                            temperature=1.0, seed=self.s["seed"])
            print(f"--- sample at update {update} ({float(loss) / math.log(2.0):.3f} bits/char) ---\n{text}",
                  flush=True)


def _text_record(vocab, text: str, source: dict, s: dict) -> dict:
    return {"kind": "rnnx-text", "version": 1, "vocabulary": "".join(vocab.chars), "first": text[0],
            "text": {**source, "chars": len(text)}, "seq_len": s["seq_len"], "streams": s["streams"],
            "split": TRAIN_SHARE, "dtype": s["dtype"]}


def _run_record(s: dict, name: str, vocab, text: str, source: dict) -> dict:
    """What ``--resume`` needs beside the training state (``run`` in checkpoint.npz): the
    settings, the text's record (name, path, bytes, SHA-256, characters), the vocabulary."""
    return {"kind": "rnnx-text-run", "name": name, "settings": s, "text": {**source, "chars": len(text)},
            "vocabulary": "".join(vocab.chars), "first": text[0], "finished": False}


def _train_in(out: str, s: dict, name: str, text: str, source: dict, target, t_start: float, *, model, vocab,
              quiet: bool, resumed=None) -> dict:
    """Train (from ``resumed``, a :class:`rnnx.text.TextState` on the host, or afresh) and write the
    run's files into the locked folder ``out``: checkpoint.npz every ``checkpoint_every``
    updates, on a signal and at the end; then text.json, model.npz, history.csv,
    metrics.json and the checkpoint again, marked finished."""
    import rnnx
    from rnnx import text as T
    from rnnx.training.state import save_state, to_device
    from rnnx.io import atomic

    xp, dev = target.namespace(), target.device_obj()
    ids = vocab.encode(text)
    cut = _split(ids, s["seq_len"], s["streams"])
    params = None if resumed is not None else \
        model.init_params(xp, seed=s["seed"], dtype=getattr(xp, s["dtype"]), device=dev)
    total = _total(s, ids[:cut])
    record = _run_record(s, name, vocab, text, source)
    path, last = os.path.join(out, CHECKPOINT), {}

    def ckpt(st, settings: dict) -> None:
        save_state(path, model, st, settings, run=record)
        last.update(state=st, settings=settings)

    report = _Reporter(model, vocab, text[0], s, total, quiet)
    mcr = s["optimizer"] == "adagrad"  # min-char-rnn's: lr 0.1 where not given, eps 1e-8
    opt = run.optimizer_for({**s, "lr": 0.1 if mcr and s["lr"] is None else s["lr"]}, **({"eps": 1e-8} if mcr else {}))
    if resumed is not None:  # the checkpoint's state (on the host) on the target, in the run's dtype
        resumed = to_device(resumed, model, opt, path=path, xp=xp, device=dev, dtype=getattr(xp, s["dtype"]))

    def results(got, seconds_training: float) -> dict:
        params, history = got
        val_bpc = T.evaluate_text(model, params, ids[cut:], seq_len=s["seq_len"], streams=1)
        train_bpc = T.evaluate_text(model, params, ids[:cut], seq_len=s["seq_len"], streams=1)
        atomic.write_text(os.path.join(out, TEXT_FILE), run.json_text(_text_record(vocab, text, source, s)))
        rnnx.save(os.path.join(out, "model.npz"), model, params, to_numpy=target.to_numpy, overwrite=True)
        atomic.write_text(os.path.join(out, "history.csv"),
                          run.history_csv(history, ["update", "epoch", "loss", "bpc"], end="\n"))
        # "seconds" (from the command's start): filled in by run.train_task with metrics.json
        return {"kind": "text", "text": name, "chars": len(text), "vocabulary_size": vocab.size, "train_chars": cut,
                "val_chars": len(ids) - cut, "train_bpc": train_bpc, "val_bpc": val_bpc,
                "updates": last["state"].updates, "chars_per_update": s["seq_len"] * s["streams"],
                "seconds_training": seconds_training, "seconds": None, "target": target.id, "model": model.config(),
                "settings": s}

    return run.train_task(
        out, s, placed=False, unit="update", hint="try --clip-value 1.0 or a lower --lr", t_start=t_start,
        total="seconds", results=results,
        fit=lambda t, seen: T.fit_text(model, params, ids[:cut], seq_len=s["seq_len"], streams=s["streams"],
                                       epochs=s["epochs"], max_updates=s["max_updates"], optimizer=opt,
                                       clip_value=s["clip_value"], seed=s["seed"], log_every=LOG_EVERY,
                                       on_update=report, should_stop=t.stop_requested, checkpoint=ckpt,
                                       checkpoint_every=s["checkpoint_every"], resume=resumed),
        finish=lambda got: save_state(path, model, last["state"], last["settings"], run={**record, "finished": True}))


def _total(s: dict, train_ids: Any) -> int:
    """The updates of a run: every chunk of every epoch, at most ``max_updates``."""
    from rnnx import text as T

    n_chunks = T.stream_chunks(train_ids, seq_len=s["seq_len"], streams=s["streams"])[0].shape[0]
    return n_chunks * s["epochs"] if s["max_updates"] is None else min(n_chunks * s["epochs"], s["max_updates"])


def summary(m: dict, out: str) -> str:
    """The line ``rnnx train`` prints when a text run ends (``m``: its metrics)."""
    return (f"rnnx train: {m['updates']} updates of {m['chars_per_update']} characters in "
            f"{m['seconds_training']:.2f} s on {m['target']} {m['settings']['dtype']}; bits per character: train "
            f"{m['train_bpc']:.3f}, validation {m['val_bpc']:.3f} (vocabulary {m['vocabulary_size']}); wrote {out}")


def start_run(args: argparse.Namespace) -> int:
    """``rnnx train --text ...``: train, write the run folder, print one summary line."""
    from rnnx import text as T

    t_start = time.perf_counter()
    if not getattr(args, "text", None):
        raise AppError("--text: expected a UTF-8 text file or 'bundled', got none")
    table.refuse_unused(args, TASK)
    s = _settings(args)
    name, text, source = _load(args.text)
    out = args.out if args.out is not None else os.path.join("runs", name)
    run.check_new(out, overwrite=args.overwrite)
    options = table.cell_options(vars(args), s["cell"])
    target = run.target(s["backend"], s["device"], s["dtype"])
    with target.scope():
        vocab = T.Vocabulary.from_text(text)
        from rnnx.cli import bounds

        bounds.check_text(s, vocabulary=vocab.size, source=f"--text {args.text}",  # before the model's arrays
                          model_options=options)
        model = run.model_of({**s, "model_options": options}, vocab.size, vocab.size, objective="many-to-many")
        m = run.new_run(out, overwrite=args.overwrite, work=lambda o: _train_in(o, s, name, text, source, target, t_start,
                                                                    model=model, vocab=vocab, quiet=args.quiet))
    print(summary(m, out))
    return 0


# -- rnnx train --resume DIR (a text run) -------------------------------------------------------------
def wants(args: argparse.Namespace) -> bool:
    """Did the command line ask for a character model (``--text``)?  Then ``rnnx train`` calls :func:`start_run`."""
    return getattr(args, "text", None) is not None


def holds_run(folder: str) -> bool:
    """Does ``folder`` hold a character model's run (its text.json, or a text checkpoint)?"""
    from rnnx import text as T
    from rnnx.io import checkpoint

    if not os.path.isdir(folder):
        return False
    if os.path.lexists(os.path.join(folder, TEXT_FILE)):  # not a regular file: its reader says what it is
        return True
    try:  # a link or a FIFO here: not read (the resume of a regression run then names it)
        meta = checkpoint.load(os.path.join(folder, CHECKPOINT), nofollow=True)[0]
    except checkpoint.CheckpointError:
        return False
    return meta["kind"] == T.STATE_KIND or (meta["kind"] == "fit-state" and isinstance(meta.get("run"), dict)
                                            and meta["run"].get("kind") == "rnnx-text-run")


def _stored_run(folder: str) -> tuple[Any, dict, dict]:
    """``(TextState on NumPy, meta, run record)`` of the folder's checkpoint; one AppError line
    for a damaged or foreign one."""
    from rnnx import text as T
    from rnnx.io import checkpoint

    path = os.path.join(folder, CHECKPOINT)
    try:
        st, meta = T.load_state(path, nofollow=True)  # a run's file: never through a link
    except checkpoint.CheckpointError as e:
        raise AppError(str(e), code=1) from None
    except ValueError as e:
        raise AppError(f"--resume: {e}") from None
    rec = meta.get("run")
    want = {"kind", "name", "settings", "text", "vocabulary", "first", "finished"}
    if not isinstance(rec, dict) or set(rec) != want or rec["kind"] != "rnnx-text-run" \
            or not isinstance(rec["settings"], dict) \
            or set(rec["settings"]) != {*DEFAULTS, "max_updates", "sample_every", "device"}:
        raise AppError(f"--resume: {path!r} holds no record of an rnnx train --text run (a checkpoint of "
                       "rnnx.text.fit_text? continue it with fit_text(..., resume=PATH))", code=1)
    return st, meta, rec


def _check_memory(s: dict, rec: dict, meta: dict, folder: str) -> None:
    """A resumed run against the memory available with its stored settings and model
    options (:func:`rnnx.cli.bounds.check_text`), as a new run is checked."""
    from rnnx.cli import bounds, settings

    stored = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    try:
        bounds.check_text(s, vocabulary=len(rec["vocabulary"]), source=f"--resume {folder} (its text)",
                          model_options={k: stored[k] for k in settings.all_options() if k in stored})
    except (TypeError, KeyError, ValueError) as e:  # a setting of the wrong type or value: the file, edited
        raise AppError(f"--resume: {os.path.join(folder, CHECKPOINT)!r} holds settings this rnnx cannot use "
                       f"({type(e).__name__}: {e}); the file is malformed (edited by hand?), nothing was changed",
                       code=1) from None


def resume_run(args: argparse.Namespace) -> int:
    """``rnnx train --resume DIR`` of a character model's run: :func:`rnnx.cli.run.resume_run` (:func:`resumed`)."""
    return run.resume_run(args, sys.modules[__name__])


def resumed(folder: str, args: argparse.Namespace, lock: Any) -> dict | str:
    """A text run's part of :func:`rnnx.cli.run.resume`: continued with its own settings
    (``--max-updates``/``--epochs`` extend it, also a finished one; a finished run without
    them: its line, nothing written)."""
    from rnnx import text as T
    from rnnx.nn.model import Model

    t_start = time.perf_counter()
    st, meta, rec = _stored_run(folder)
    s = dict(rec["settings"])
    extend = [(f, k, v) for f, k, v in (("--max-updates", "max_updates", args.max_updates),
                                        ("--epochs", "epochs", args.epochs)) if v is not None]
    if rec["finished"] and not extend:
        return run.finished_line(folder, f"{st.updates} updates", "--max-updates")
    s.update({k: v for _, k, v in extend})
    _check_memory(s, rec, meta, folder)  # the whole run, as a new run is: before the text or the model
    _, text, source = _load(rec["text"].get("path"), rec["text"], allow_changed=args.allow_changed_data)
    vocab = T.Vocabulary(tuple(rec["vocabulary"]))
    missing = next((c for c in dict.fromkeys(text) if c not in set(vocab.chars)), None)
    if missing is not None:
        raise AppError(f"--resume: the text now holds {missing!r}, a character outside the run's vocabulary of "
                       f"{vocab.size}; restore the text it trained on (nothing was changed)")
    run.changed_note(source["path"] or source["name"], rec["text"], source, "update", st.updates + 1)
    ids = vocab.encode(text)
    train_ids = ids[:_split(ids, s["seq_len"], s["streams"])]
    total = _total(s, train_ids)
    if total < st.updates or (rec["finished"] and total == st.updates):
        flag = extend[0][0] if extend else "--max-updates"
        n_chunks = T.stream_chunks(train_ids, seq_len=s["seq_len"], streams=s["streams"])[0].shape[0]
        raise AppError(f"{flag}: the run in {folder!r} has {st.updates} updates and --epochs {s['epochs']} x "
                       f"{n_chunks} chunks, --max-updates {s['max_updates']} give {total}; expected more to extend "
                       "it (nothing was changed)")
    target = run.target_for(s["backend"], s["device"])
    with target.scope():
        run.continue_run(folder, lock)
        return _train_in(folder, s, rec["name"], text, source, target, t_start,
                         model=Model.from_config(meta["model"]), vocab=vocab, quiet=args.quiet, resumed=st)
