"""A classification run's record (``classes.json``) read back and checked, and ``rnnx train
--resume DIR`` of such a run (:mod:`rnnx.cli.tasks.classification` trains it): the data files hashed
before they are read, the run continued from its ``checkpoint.npz`` with its own settings (the
record that file holds under ``run``, which must agree with ``classes.json``; an older rnnx's
checkpoint, without one: ``classes.json``'s)."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

from rnnx.cli import run, runfolder, settings
from rnnx.cli.tasks import classification as panel_app
from rnnx.cli.errors import AppError
from rnnx.cli.tasks.classification import (CLASSES_FILE, DATA_FLAGS, DEFAULTS, OLDER_SETTINGS, RunData, checked_model,
                                           read_data, run_summary, train_in)

_HEX64 = frozenset("0123456789abcdef")
#: The most bytes of a ``classes.json`` read (a record of a few thousand classes is far less).
MAX_RECORD_BYTES = 16 * 2**20


def _is_sha256(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 64 and set(v) <= _HEX64


def _data_problem(d: Any) -> str | None:
    """What is wrong with a record's ``data`` (None: nothing)."""
    if not isinstance(d, dict) or d.get("kind") not in DATA_FLAGS:
        return f"data: expected an object with kind one of {', '.join(DATA_FLAGS)}"
    if not (isinstance(d.get("path"), str) and os.path.isabs(d["path"])) or not _is_sha256(d.get("sha256")):
        return "data: records no absolute path and SHA-256 of its file (written by an older rnnx)"
    if d.get("test_path") is not None and not (isinstance(d["test_path"], str) and os.path.isabs(d["test_path"])
                                               and _is_sha256(d.get("test_sha256"))):
        return "data: records no absolute path and SHA-256 of its test file"
    if d["kind"] == "uea" and not isinstance(d.get("name"), str):
        return "data: records no UEA dataset name"
    split = d.get("split")
    if not (isinstance(split, list) and len(split) in (2, 3) and all(_is_number(f) for f in split)):
        return f"data.split: expected 2 or 3 fractions, got {split!r}"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _record_problem(rec: Any, *, resume: bool, own_data: bool) -> str | None:
    """What is wrong with a ``classes.json`` for its use (None: nothing): classifying needs
    the classes, label kind, input size, standardisation and target settings; the run's own
    cases its data record; resuming every setting too."""
    if not isinstance(rec, dict) or rec.get("kind") != "rnnx-classes":
        return "expected a JSON object of kind 'rnnx-classes'"
    classes = rec.get("classes")
    if not (isinstance(classes, list) and len(classes) >= 2
            and all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in classes)
            and len({str(c) for c in classes}) == len(classes)):
        return "classes: expected a list of at least two distinct labels"
    if rec.get("labels") not in ("per-sequence", "per-step"):
        return f"labels: expected 'per-sequence' or 'per-step', got {rec.get('labels')!r}"
    n = rec.get("input_size")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        return f"input_size: expected a positive integer, got {n!r}"
    st = rec.get("standardisation")
    for key in ("mean", "std"):
        v = st.get(key) if isinstance(st, dict) else None
        if not (isinstance(v, list) and len(v) == n and all(_is_number(x) for x in v)) or (
                key == "std" and min(v) <= 0):
            return f"standardisation.{key}: expected {n} finite numbers{' > 0' if key == 'std' else ''}"
    s = rec.get("settings")
    need = (*(k for k in DEFAULTS if k not in OLDER_SETTINGS), "model_options") if resume else \
        ("backend", "device", "dtype")
    if not isinstance(s, dict) or any(k not in s for k in need):
        missing = [k for k in need if not isinstance(s, dict) or k not in s]
        return f"settings: expected {', '.join(need)}; missing {', '.join(missing)} (written by an older rnnx)"
    if resume and not isinstance(s["model_options"], dict):
        return "settings.model_options: expected an object"
    if resume and rec.get("finished") not in (None, "done", "early-stopped"):
        return f"finished: expected null, 'done' or 'early-stopped', got {rec.get('finished')!r}"
    return _data_problem(rec.get("data")) if own_data else None


def read_record(folder: str, option: str, *, resume: bool = False, own_data: bool = False) -> dict:
    """``folder/classes.json``, checked for its use (:func:`_record_problem`); every problem
    one AppError line naming the file."""
    from rnnx.cli.errors import os_error
    from rnnx.io.inputs import NotARegularFile, open_regular

    path = os.path.join(folder, CLASSES_FILE)
    try:
        with open_regular(path, nofollow=True) as f:  # a run's file: never through a link, a FIFO or a device
            if os.fstat(f.fileno()).st_size > MAX_RECORD_BYTES:
                raise AppError(f"{option}: {path!r} is larger than {MAX_RECORD_BYTES} bytes; expected a run's record")
            rec = json.loads(f.read(MAX_RECORD_BYTES + 1).decode("utf-8"))
    except NotARegularFile as e:
        raise AppError(f"{option}: {path!r} {e.strerror}") from None
    except OSError as e:
        raise AppError(f"{option}: {os_error(e)}", code=1) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise AppError(f"{option}: {path!r} is not a readable run record ({type(e).__name__}: {e})") from None
    why = _record_problem(rec, resume=resume, own_data=own_data)
    if why:
        raise AppError(f"{option}: {path!r} is not a classification run's record this rnnx can use: {why}")
    return rec


def stored_args(record: dict) -> tuple[str, argparse.Namespace]:
    """(the data flag, the flags) that name a stored run's data, as its command line did."""
    d = record["data"]
    ns = argparse.Namespace(npz=None, ts=None, test_ts=None, uea=None, split=tuple(d["split"]))
    flag = d["kind"]
    if flag == "uea":
        ns.uea = d["name"]
    else:
        setattr(ns, flag, d["path"])
        ns.test_ts = d.get("test_path")
    return flag, ns


def _read_state(path: str) -> Any:
    """A classification run's ``checkpoint.npz`` (an rnnx ``fit-state`` file: :func:`rnnx.cli.run.read_checkpoint`)."""
    what = "the checkpoint of a classification run (an rnnx fit-state file)"
    got = run.read_checkpoint(path, "--resume", what)
    if got.kind != "fit-state":
        raise AppError(f"--resume: {path!r} is a {got.kind!r} file, expected {what}")
    return got


#: What a resumed run takes from ``classes.json``, not from its checkpoint's record: what a later
#: command writes there before its first checkpoint (the marker ``finished``; ``settings.epochs``,
#: extended by ``--epochs``) or only shows (the Dask settings: never used, :func:`rnnx.cli.settings.placement`).
_LATEST = ("epochs", *settings.DASK)
#: The fields of a record a resume reads, compared between the checkpoint's and ``classes.json``
#: (a field it adds is never read, so never compared); the settings: those of :data:`DEFAULTS`.
_COMPARED = ("classes", "labels", "input_size", "standardisation")
_COMPARED_DATA = ("kind", "path", "test_path", "name", "split")  # not its hashes: --allow-changed-data writes them


def _disagreement(stored: dict, shown: dict) -> str | None:
    """The first field a resume reads (``classes``, ..., ``settings.<key>``, ``data.<key>``)
    where the checkpoint's record ``stored`` and ``classes.json``'s ``shown`` describe another
    run (None: they agree), the settings of :data:`_LATEST` aside; a setting an older record
    lacks as :data:`OLDER_SETTINGS` says it trained."""
    for key in _COMPARED:
        if stored.get(key) != shown.get(key):
            return key
    for part, keys in (("settings", (*DEFAULTS, "model_options")), ("data", _COMPARED_DATA)):
        a, b = stored[part], shown[part]
        for key in keys:
            if key not in _LATEST and a.get(key, OLDER_SETTINGS.get(key)) != b.get(key, OLDER_SETTINGS.get(key)):
                return f"{part}.{key}"
    return None


def run_of(stored: Any, ckpt: str, shown: dict, classes_path: str) -> dict:
    """The record a classification run resumes with: its checkpoint's ``run`` (``stored``:
    :func:`rnnx.cli.tasks.classification.run_record`), checked as
    ``classes.json`` is (:func:`_record_problem`) and against ``shown`` (``classes.json``'s,
    already read): a record of another run kind, or one that disagrees with it (the fields of
    :data:`_LATEST` aside, which, with ``finished``, are taken from it), is an AppError naming
    the files.  A checkpoint without a record (an rnnx before it kept one: ``run`` empty or
    absent) resumes with ``shown``."""
    if not stored:
        return shown
    if not isinstance(stored, dict) or stored.get("kind") != "rnnx-classes":
        kind = stored.get("kind") if isinstance(stored, dict) else type(stored).__name__
        raise AppError(f"--resume: {ckpt!r} is the fit-state file of another run kind (its run record: {kind!r}), "
                       "expected the checkpoint of a classification run")
    why = _record_problem(stored, resume=True, own_data=True)
    if why:
        raise AppError(f"--resume: {ckpt!r} holds a run record this rnnx cannot use: {why}")
    _stored_settings(stored, ckpt)  # its numbers checked, naming the file
    where = _disagreement(stored, shown)
    if where is not None:
        raise AppError(f"--resume: {ckpt!r} and {classes_path!r} disagree on {where} (edited by hand?); expected "
                       "the run's record in both (nothing was changed)")
    latest = {k: shown["settings"][k] for k in _LATEST if k in shown["settings"]}
    return {**stored, "settings": {**stored["settings"], **latest}, "finished": shown.get("finished")}


#: The line a resumed classification run ends with.
summary = run_summary


def resumed(folder: str, args: argparse.Namespace, lock: Any) -> dict | str:
    """A classification run's part of :func:`rnnx.cli.run.resume`: continued from its checkpoint
    with its own settings and data (its record, checked against ``classes.json``: :func:`run_of`),
    to its ``--epochs`` or to ``args.epochs``.  The data files are hashed before they are read (a
    changed one refused unless ``--allow-changed-data``); where it trains comes from the command
    line only (:func:`rnnx.cli.settings.placement`); a refused resume changes no file."""
    t_start = time.perf_counter()
    epochs, ckpt = args.epochs, os.path.join(folder, runfolder.CHECKPOINT)
    run.need(quiet=args.quiet)
    given = {k: getattr(args, k, None) for k in settings.DASK}
    classes_path = os.path.join(folder, CLASSES_FILE)
    shown = read_record(folder, "--resume", resume=True, own_data=True)
    _stored_settings(shown, classes_path)  # its numbers checked, naming the file
    got = _read_state(ckpt)
    record = run_of(got.run, ckpt, shown, classes_path)  # the checkpoint's record, where it holds one
    s, done, at = _stored_settings(record, ckpt if record is not shown else classes_path), \
        record.get("finished"), got.state.epoch
    placed, note = settings.placement(record["settings"], given)  # never the file's address or worker count
    s.update(placed)
    panel_app.check_dask(s, timeout_given=given["dask_timeout"] is not None)
    if run.extending(folder, at, done, epochs, given):
        return run.finished_line(folder, f"{at} epochs, {done}, best val epoch {got.state.best_epoch}")
    stopped_early = s["early_stopping"] is not None and at > s["min_epochs"] and \
        at - max(got.state.best_epoch, s["min_epochs"]) >= s["early_stopping"]
    if epochs is not None:
        if stopped_early and epochs > at:
            raise AppError(f"--epochs: the run in {folder!r} stopped early at epoch {at} (no better validation "
                           f"loss in {s['early_stopping']} epochs); more epochs would train none, as an "
                           "uninterrupted run of as many stops there too; start a new run with a larger "
                           "--early-stopping or --no-early-stopping (nothing was changed)")
        s["epochs"] = epochs
    target = run.target(s["backend"], s["device"], s["dtype"])
    flag, ns = stored_args(record)
    std = record["standardisation"]
    with target.scope():
        data = read_data(ns, flag, s["seed"], record["data"], option="--resume",
                         allow_changed=args.allow_changed_data, stats=(std["mean"], std["std"]))
        _same_run(data, record, folder)
        for part in ("", "test_"):
            run.changed_note(data.source[f"{part}path"], {"sha256": record["data"].get(f"{part}sha256")},
                             {"sha256": data.source[f"{part}sha256"]}, "epoch", at + 1)
        model = checked_model(s, data, record["input_size"],
                              f"--resume {folder} (its --{flag} {ns.uea if flag == 'uea' else getattr(ns, flag)})")
        name = ns.uea if flag == "uea" else os.path.basename(record["data"]["path"])
        run.continue_run(folder, lock)  # only now: a refused resume changes no file
        return train_in(folder, target, s, name, model, data, quiet=args.quiet, t_start=t_start, resumed=at,
                        note=note)


def _stored_settings(record: dict, path: str) -> dict[str, Any]:
    """The settings of a stored run (``record["settings"]``): the keys of :data:`DEFAULTS` and
    ``model_options``, nothing else of the file (a key it adds is never read), their numbers
    checked: a bad one is an AppError naming the file and the setting.  The Dask settings are
    still the file's here: :func:`resumed` replaces them with the command line's."""
    stored = record["settings"]
    s = {k: stored[k] if k in stored or k not in OLDER_SETTINGS else OLDER_SETTINGS[k]
         for k in (*DEFAULTS, "model_options")}
    try:
        panel_app.check_values(s, name=lambda key: f"settings.{key}")
    except AppError as e:
        raise AppError(f"--resume: {path!r} holds {e}; the file is malformed (edited by hand?), nothing was "
                       "changed") from None
    return s


def _same_run(data: RunData, record: dict, folder: str) -> None:
    """The data read again (changed, with --allow-changed-data) still fits the run: its
    classes, label kind and features."""
    n_in = int(data.parts["train"].x.shape[2])
    if [str(c) for c in data.classes] != [str(c) for c in record["classes"]] or data.kind != record["labels"]:
        raise AppError(f"--allow-changed-data: the data of {folder!r} now has the classes {list(data.classes)} "
                       f"({data.kind}), the run {record['classes']} ({record['labels']}); expected the run's classes "
                       "to continue it")
    if n_in != record["input_size"]:
        raise AppError(f"--allow-changed-data: the data of {folder!r} now has {n_in} features per step, the run "
                       f"{record['input_size']}; expected the run's features to continue it")

