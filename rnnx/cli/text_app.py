"""``rnnx train --text FILE``: a character-level model trained as min-char-rnn trains one
(:func:`rnnx.text.fit_text`), written to a run folder that ``rnnx sample`` reads.

:func:`add_text_arguments` adds the text flags to ``rnnx train``'s parser; :func:`run_text`
trains from the parsed flags.  Of ``rnnx train``'s other flags it reads the model's
(``--cell``, ``--hidden``, ``--layers`` and the cell options), ``--optimizer``/``--lr``,
``--epochs``, ``--clip-value``/``--no-clip``, ``--seed``, ``--backend``/``--device``/
``--dtype``, ``--out``, ``--overwrite`` and ``--quiet``; any other one given is refused, one
line naming it.  Defaults where a flag is not given: an RNN of 100 units, one layer,
Adagrad lr 0.1 (eps 1e-8; another --optimizer: its own default lr), 25 characters per update, 1 stream, 1 epoch, clip 5.

The text (a UTF-8 file, or ``bundled``: :func:`rnnx.text.bundled_text`) is split 90/10: the
first 90% trains, the last 10% gives the validation bits per character.  The vocabulary is
every character of the whole text.  The run folder (default ``runs/<text name>``), written
under its lock (:class:`rnnx.cli.runfolder.Lock`), each file atomically, in this order:

- ``text.json``: ``{"kind": "rnnx-text", "version": 1, "vocabulary": "<characters>",
  "first": "<the text's first character>", "text": {name, path, chars, sha256},
  "seq_len", "streams", "split": 0.9, "dtype"}``;
- ``model.npz``: :func:`rnnx.save` of the model and its trained parameters;
- ``history.csv``: ``update,epoch,loss,bpc`` (mean of every 10 updates, nats and bits/char);
- ``metrics.json`` (last: a folder with it is complete): train and validation bits per
  character of the trained model, updates, seconds, settings.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import sys
import time
from typing import Any

from rnnx.cli.errors import AppError

TEXT_FILE = "text.json"
#: The share of the text that trains; the rest gives the validation bits per character.
TRAIN_SHARE = 0.9
#: History rows: the mean of every this many updates.
LOG_EVERY = 10
#: Characters of each sample printed by ``--sample-every``.
SAMPLE_LENGTH = 200
#: ``rnnx train``'s flags that a text run reads (by their ``args`` names).
USED = ("text", "seq_len", "streams", "max_updates", "sample_every", "cell", "hidden", "layers", "optimizer",
        "lr", "epochs", "clip_value", "no_clip", "seed", "backend", "device", "dtype", "out", "overwrite", "quiet",
        "command")
DEFAULTS = {"cell": "rnn", "hidden": 100, "layers": 1, "optimizer": "adagrad", "lr": None, "epochs": 1,
            "seq_len": 25, "streams": 1, "clip_value": 5.0, "seed": 0, "backend": "numpy", "dtype": "float64"}


def add_text_arguments(p: argparse.ArgumentParser) -> None:
    """``--text``, ``--seq-len``, ``--streams``, ``--max-updates``, ``--sample-every``."""
    g = p.add_argument_group("character model (--text)")
    g.add_argument("--text", metavar="FILE", help="train a character model on this UTF-8 text file, or on "
                   "'bundled' (the pydoc topics CPython ships, 465,000 characters)")
    g.add_argument("--seq-len", type=int, help="characters per update and stream (default 25)")
    g.add_argument("--streams", type=int, help="contiguous streams of the text read in parallel, the batch "
                   "(default 1)")
    g.add_argument("--max-updates", type=int, help="stop after this many updates (default: every chunk of "
                   "every --epochs)")
    g.add_argument("--sample-every", type=int, metavar="N", help=f"print a {SAMPLE_LENGTH}-character sample "
                   "every N updates")


def _refuse_others(args: argparse.Namespace) -> None:
    """A flag of ``rnnx train`` that a text run does not read is refused, not ignored."""
    from rnnx.cli import settings

    options = set(settings.all_options())
    for k, v in vars(args).items():
        if k not in USED and k not in options and v not in (None, False):
            flag = "--" + k.replace("_", "-")
            raise AppError(f"{flag}: does not apply to a character model (--text); drop it")


def _choice(args: argparse.Namespace, name: str) -> Any:
    v = getattr(args, name, None)
    return DEFAULTS[name] if v is None else v


def _positive(flag: str, v: Any) -> None:
    if v is not None and v < 1:
        raise AppError(f"{flag}: expected a positive integer, got {v}")


def _settings(args: argparse.Namespace) -> dict:
    """The run's settings: the flags given over :data:`DEFAULTS`, checked."""
    s = {k: _choice(args, k) for k in DEFAULTS}
    if args.no_clip:
        if args.clip_value is not None:
            raise AppError("--no-clip: conflicts with --clip-value; give one")
        s["clip_value"] = None
    s["max_updates"], s["sample_every"] = args.max_updates, args.sample_every
    s["device"] = getattr(args, "device", None)
    for flag, k in (("--seq-len", "seq_len"), ("--streams", "streams"), ("--epochs", "epochs"),
                    ("--hidden", "hidden"), ("--layers", "layers"), ("--max-updates", "max_updates"),
                    ("--sample-every", "sample_every")):
        _positive(flag, s[k])
    if s["seed"] < 0:
        raise AppError(f"--seed: expected an integer >= 0, got {s['seed']}")
    if s["lr"] is not None and not (math.isfinite(s["lr"]) and s["lr"] > 0):
        raise AppError(f"--lr: expected a finite number > 0, got {s['lr']}")
    return s


def _load(text_arg: str) -> tuple[str, str, dict]:
    """``(name, text, source)`` of ``--text``: a file, or ``bundled``."""
    from rnnx import text as T

    if text_arg == "bundled":
        name, text = T.bundled_text()
        return name, text, {"name": name, "path": None}
    text = T.read_text(text_arg)
    return os.path.splitext(os.path.basename(text_arg))[0] or "text", text, \
        {"name": os.path.basename(text_arg), "path": os.path.abspath(text_arg)}


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


def _model(s: dict, vocab_size: int, args: argparse.Namespace):
    from rnnx.cli import settings
    from rnnx.model import Model

    options = {k: getattr(args, k) for k in settings.all_options() if getattr(args, k, None) is not None}
    return Model(s["cell"], vocab_size, s["hidden"], vocab_size, objective="many-to-many", num_layers=s["layers"],
                 **options)


def _optimizer(s: dict):
    from rnnx import optim

    if s["optimizer"] == "adagrad":  # min-char-rnn's
        return optim.Adagrad(lr=0.1 if s["lr"] is None else s["lr"], eps=1e-8)
    cls = optim.OPTIMIZERS[s["optimizer"]]
    return cls() if s["lr"] is None else cls(lr=s["lr"])


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


def _history_csv(history: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["update", "epoch", "loss", "bpc"], lineterminator="\n")
    w.writeheader()
    w.writerows(history)
    return buf.getvalue()


def _text_record(vocab, text: str, source: dict, s: dict) -> dict:
    return {"kind": "rnnx-text", "version": 1, "vocabulary": "".join(vocab.chars), "first": text[0],
            "text": {**source, "chars": len(text), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()},
            "seq_len": s["seq_len"], "streams": s["streams"], "split": TRAIN_SHARE, "dtype": s["dtype"]}


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _train_in(out: str, s: dict, args, name: str, text: str, source: dict, target, t_start: float) -> dict:
    """Train and write the run's files into the locked folder ``out``."""
    import rnnx
    from rnnx import text as T
    from rnnx.fitting import NonFiniteLoss
    from rnnx.io import atomic

    xp, dev = target.namespace(), target.device_obj()
    vocab = T.Vocabulary.from_text(text)
    ids = vocab.encode(text)
    cut = _split(ids, s["seq_len"], s["streams"])
    model = _model(s, vocab.size, args)
    params = model.init_params(xp, seed=s["seed"], dtype=getattr(xp, s["dtype"]), device=dev)
    n_chunks = T.stream_chunks(ids[:cut], seq_len=s["seq_len"], streams=s["streams"])[0].shape[0]
    total = n_chunks * s["epochs"] if s["max_updates"] is None else min(n_chunks * s["epochs"], s["max_updates"])
    report = _Reporter(model, vocab, text[0], s, total, args.quiet)
    t0 = time.perf_counter()
    try:
        params, history = T.fit_text(model, params, ids[:cut], seq_len=s["seq_len"], streams=s["streams"],
                                     epochs=s["epochs"], max_updates=s["max_updates"], optimizer=_optimizer(s),
                                     clip_value=s["clip_value"], seed=s["seed"], log_every=LOG_EVERY,
                                     on_update=report)
    except NonFiniteLoss as e:
        raise AppError(f"training diverged: {e}; nothing was written", code=3) from None
    seconds_training = time.perf_counter() - t0
    val_bpc = T.evaluate_text(model, params, ids[cut:], seq_len=s["seq_len"], streams=1)
    train_bpc = T.evaluate_text(model, params, ids[:cut], seq_len=s["seq_len"], streams=1)
    atomic.write_text(os.path.join(out, TEXT_FILE), json.dumps(_text_record(vocab, text, source, s), indent=1))
    rnnx.save(os.path.join(out, "model.npz"), model, params, to_numpy=target.to_numpy, overwrite=True)
    atomic.write_text(os.path.join(out, "history.csv"), _history_csv(history))
    updates = history[-1]["update"] if history else 0
    metrics = {"kind": "text", "text": name, "chars": len(text), "vocabulary_size": vocab.size,
               "train_chars": cut, "val_chars": len(ids) - cut, "train_bpc": _finite(train_bpc),
               "val_bpc": _finite(val_bpc), "updates": updates, "chars_per_update": s["seq_len"] * s["streams"],
               "seconds_training": seconds_training, "seconds": time.perf_counter() - t_start,
               "target": target.id, "model": model.config(), "settings": s}
    atomic.write_text(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=1))
    return {**metrics, "out": out}


def _run_in_folder(out: str, overwrite: bool, work) -> dict:
    """``work(out)`` under the folder's lock, the folder checked again there and the
    previous run's files removed; a folder this call created is removed if ``work`` fails."""
    from rnnx.cli import runfolder

    created = not os.path.isdir(out)
    runfolder.make_folder(out)
    try:
        with runfolder.Lock(out, option="--out") as lock:
            runfolder.check_new(out, overwrite=overwrite)
            runfolder.start(out, lock, fresh=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(out, TEXT_FILE))  # no vocabulary of an older run beside a new model
            runfolder.say(lock.notes)
            return work(out)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(out)
        raise


def run_text(args: argparse.Namespace) -> int:
    """``rnnx train --text ...``: train, write the run folder, print one summary line."""
    from rnnx.cli import app, runfolder

    t_start = time.perf_counter()
    if not getattr(args, "text", None):
        raise AppError("--text: expected a UTF-8 text file or 'bundled', got none")
    _refuse_others(args)
    s = _settings(args)
    name, text, source = _load(args.text)
    out = args.out if args.out is not None else os.path.join("runs", name)
    runfolder.check_out(out)
    runfolder.check_new(out, overwrite=args.overwrite)
    target = app.target_for(s["backend"], s["device"])
    with target.scope():
        if s["dtype"] not in target.dtypes():
            raise AppError(f"--dtype: {target.id} has no {s['dtype']}; expected one of {', '.join(target.dtypes())}")
        m = _run_in_folder(out, args.overwrite,
                           lambda o: _train_in(o, s, args, name, text, source, target, t_start))
    print(f"rnnx train: {m['updates']} updates of {m['chars_per_update']} characters in "
          f"{m['seconds_training']:.2f} s on {m['target']} {s['dtype']}; bits per character: train "
          f"{m['train_bpc']:.3f}, validation {m['val_bpc']:.3f} (vocabulary {m['vocabulary_size']}); wrote {out}")
    return 0
