"""``rnnx train --npz / --ts / --uea``: sequence classification from panel data.

    rnnx train --uea BasicMotions                    # sktime's bundled UEA/UCR set, its own test split
    rnnx train --ts TRAIN.ts --test-ts TEST.ts       # a .ts pair; validation cases from TRAIN.ts
    rnnx train --npz cases.npz --split 0.7,0.15,0.15 # x (N, T, I), y (N,) or (N, T), lengths (N,)

:func:`start_run` runs one classification: labels encoded (:func:`rnnx.data.panel.encode_labels`,
the classes sorted), a stratified seeded split, features standardised on the training
cases (valid steps only), a :class:`rnnx.Model` of ``len(classes)`` logits trained by
:func:`rnnx.fit` with the cross-entropy, early stopping on the validation loss (best
weights restored).  Labels per sequence (N,) make a many-to-one model; labels per step
(N, T) a many-to-many one (sequence labelling, the loss masked past each length).

The split, ``--split``:

- no test file (``--npz``, or ``--ts`` alone): three fractions train,val,test of the cases
  (default 0.7,0.15,0.15), each > 0;
- a test file (``--ts`` with ``--test-ts``, or ``--uea``: its official TEST file): two
  fractions train,val of the training file's cases (default 0.8,0.2), each > 0; the test
  cases are the test file's.

Each class is split on its own (a seeded shuffle, ``random.Random(f"{seed}:split")``);
per-step labels are split without strata.

The run folder (``--out``, default ``runs/<name>``) is written as :mod:`rnnx.cli.run` says
(the lock, signals, errors), in this order:

1. ``classes.json``: the run's record (classes, label kind, standardisation, settings,
   and the data: each file's absolute path, size and SHA-256), ``finished`` null;
2. ``checkpoint.npz``: a ``fit-state`` file (:func:`rnnx.training.state.save_state`), the
   record less ``finished`` under its ``run`` (:func:`run_record`), every
   ``--checkpoint-every`` epochs, at the last epoch and on a signal;
3. ``history.csv``, ``model.npz`` (:func:`rnnx.save`), ``convergence.png``,
   ``confusion.png``, ``metrics.json``;
4. ``classes.json`` again, ``finished`` set (``done`` or ``early-stopped``): the marker.

``--resume``: :mod:`rnnx.cli.tasks.classification_resume`; ``rnnx predict``:
:mod:`rnnx.cli.tasks.classification_predict`.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shlex
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from rnnx.cli import run, runfolder, table
from rnnx.cli.errors import AppError, flag_for
from rnnx.training import EarlyStopping, ProgressBar
from rnnx.training.defaults import CLASSIFICATION as _TABLE

__all__ = ["CLASSES_FILE", "DEFAULTS", "check_dask", "check_values", "holds_run", "resume_run",
           "start_run", "wants",
           # the parts resuming (panel_resume), predicting (panel_predict) and diagnosing a run share
           "DATA_FLAGS", "Cases", "RunData", "build_model", "checked_model", "panel_error", "part_arrays",
           "read_data", "run_record", "run_summary", "scaled_cases", "train_in"]

#: The file of a classification run that names its classes (and marks the folder as one).
CLASSES_FILE = "classes.json"
#: The settings of a classification run when not given on the command line: the
#: ``classification`` row of :mod:`rnnx.training.defaults` (the table RNNClassifier reads too).
DEFAULTS: dict[str, Any] = dict(table.DEFAULTS["classification"])
#: Settings a run folder of an older rnnx lacks, and the value it trained with.
OLDER_SETTINGS: dict[str, Any] = {"min_epochs": 0}
#: The flags that name a classification run's data (its record's ``data.kind``).
DATA_FLAGS = ("npz", "ts", "uea")
_SPLIT_NO_TEST, _SPLIT_WITH_TEST = _TABLE.split, (round(1.0 - _TABLE.validation, 12), _TABLE.validation)
_REGRESSION = "applies to regression on a CSV, not to classification"
#: Flags of ``rnnx train`` that mean nothing to a classification run, and why.
REFUSED: dict[str, str] = {
    "resume": "continues a run with its own data and settings; give --resume DIR without a data flag (only --epochs "
              "may extend it)",
    "preset": "brings its own regression data; give one data source",
    "csv": "is regression data; give one data source",
    **dict.fromkeys(("column", "inputs", "targets", "time_column", "missing", "difference", "window", "horizon",
                     "tbptt"), _REGRESSION),
    "objective": "follows the labels in classification (per sequence: many-to-one, per step: many-to-many)",
    "output_activation": "a classifier outputs logits (the softmax is in the cross-entropy)",
    "text": "is a character model's data; give one data source",
}
#: The task's name in rnnx.cli.table and rnnx.cli.tasks.REGISTRY.
TASK = "classification"


def wants(args: argparse.Namespace) -> bool:
    """Did the command line ask for a classification run (any of its data flags:
    ``--npz``, ``--ts``, ``--test-ts``, ``--uea``)?  Then ``rnnx train`` calls :func:`start_run`."""
    return any(getattr(args, k, None) is not None for k in (*DATA_FLAGS, "test_ts"))


def holds_run(folder: str) -> bool:
    """Does ``folder`` hold a classification run (its :data:`CLASSES_FILE`)?  Then
    ``rnnx train --resume`` calls :func:`resume_run` and ``rnnx predict``
    :func:`rnnx.cli.tasks.classification_predict.predict_panel`."""
    return os.path.lexists(os.path.join(folder, CLASSES_FILE))  # not a regular file: its reader says what it is


# -- the command line ---------------------------------------------------------------------------
def _given(args: argparse.Namespace, key: str) -> bool:
    return getattr(args, key, None) not in (None, False)


def _data_flag(args: argparse.Namespace) -> str:
    """The one data flag given (``npz``, ``ts`` or ``uea``); conflicts refused."""
    given = [k for k in DATA_FLAGS if _given(args, k)]
    if _given(args, "test_ts") and "ts" not in given:
        raise AppError("--test-ts: applies with --ts TRAIN.ts (the test cases of that training file)"
                       + (f"; --uea {args.uea} brings its own test cases" if "uea" in given else
                          f"; got {'--npz ' + args.npz if 'npz' in given else 'no --ts'}"))
    if len(given) > 1:
        raise AppError(f"--{given[1]}: give one data source, got --{given[0]} and --{given[1]}; expected one of "
                       "--npz, --ts, --uea")
    if not given:
        raise AppError("train: give --npz FILE, --ts TRAIN.ts or --uea NAME for a classification run")
    return given[0]


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """:data:`DEFAULTS` overlaid with the flags given, ``--no-early-stopping`` / ``--no-clip``
    applied, every number checked (AppError naming the flag)."""
    s = {k: (getattr(args, k) if getattr(args, k, None) is not None else v) for k, v in DEFAULTS.items()}
    s.update(dict.fromkeys(table.turned_off([k for k in table.OFF if getattr(args, k, False)], vars(args))))
    if s["early_stopping"] is None and getattr(args, "min_epochs", None) is not None:
        raise AppError("--min-epochs: delays early stopping, which --no-early-stopping turned off; expected one of "
                       "them")
    check_values(s)
    s["model_options"] = table.cell_options(vars(args), s["cell"])
    from rnnx.cli import run_diagnostics

    run_diagnostics.check(s["diagnostics"], s["probe_size"], s["cell"],
                          probe_given=getattr(args, "probe_size", None) is not None)
    if s["diagnostics"] is not None:
        s["diagnostics"] = list(s["diagnostics"])
    check_dask(s, timeout_given=getattr(args, "dask_timeout", None) is not None)
    return s


def check_values(s: dict[str, Any], name=flag_for) -> None:
    """The numbers and choices of a classification run's settings ``s`` (AppError naming the
    setting: ``name(key)``, its flag by default): :func:`rnnx.cli.table.check`, and the
    optimizer's name and momentum."""
    table.check(s, "classification", name=name)
    from rnnx.optim import OPTIMIZERS

    if s["optimizer"] not in OPTIMIZERS:
        raise AppError(f"{name('optimizer')}: expected one of {', '.join(OPTIMIZERS)}, "
                       f"got {s['optimizer']!r}")
    if s["optimizer"] != "sgd" and (s["momentum"] or s["nesterov"]):
        flag = name("momentum") if s["momentum"] else name("nesterov")
        raise AppError(f"{flag}: applies to --optimizer sgd only, got --optimizer {s['optimizer']}")


def check_dask(s: dict[str, Any], *, timeout_given: bool) -> None:
    """``--dask-scheduler`` / ``--dask-workers`` / ``--dask-timeout`` (``timeout_given``: on the
    command line) and ``--devices`` against the run's other settings: the checks of a
    regression run (:func:`rnnx.cli.settings.check_dask`, :func:`~rnnx.cli.settings.check_devices`)."""
    from rnnx.cli import settings

    given = {k: v for k, v in s.items() if k != "dask_timeout" or timeout_given}  # named as they are, no origin
    settings.check_dask(SimpleNamespace(**s), given)
    settings.check_devices(SimpleNamespace(**s), given)


def _split_fractions(args: argparse.Namespace, has_test: bool, flag: str) -> tuple[float, ...]:
    """``--split`` as (train, val, test) without a test file, (train, val) with one."""
    sp = tuple(args.split) if getattr(args, "split", None) is not None else (
        _SPLIT_WITH_TEST if has_test else _SPLIT_NO_TEST)
    text = ",".join(f"{f:g}" for f in sp)
    if has_test:
        want, words = 2, ("fractions train,val of the training file's cases, each > 0, summing to 1 (e.g. 0.8,0.2; "
                          f"the test cases are those of --{'uea' if flag == 'uea' else 'test-ts'})")
    else:
        want, words = 3, "fractions train,val,test of the cases, each > 0, summing to 1 (e.g. 0.7,0.15,0.15)"
    if (len(sp) != want or not all(math.isfinite(f) and 0 < f < 1 for f in sp)
            or abs(math.fsum(sp) - 1) > 1e-9):
        raise AppError(f"--split: expected {want} {words}; got {text}")
    return sp


# -- the data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cases:
    """Cases on the host: ``x`` (N, T, I) float64, ``lengths`` (N,) int64, ``y`` (N,) or
    (N, T) int64 class codes (0 past each length), or None (unlabelled cases to predict on)."""

    x: Any
    lengths: Any
    y: Any

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    def take(self, idx: list[int]) -> Cases:
        import numpy as np

        i = np.asarray(idx, dtype=np.int64)
        return Cases(self.x[i], self.lengths[i], self.y[i])

    def valid(self) -> Any:
        """(N, T) bool: step t of case i is within its length."""
        import numpy as np

        return np.arange(self.x.shape[1])[None, :] < self.lengths[:, None]


def panel_error(e: Exception, flag: str) -> AppError:
    """A :mod:`rnnx.data.panel` error (``panel: ...``, ``name: ...``) worded with the flag that named the file."""
    text = str(e)
    for head in ("panel: ", "name: "):
        if text.startswith(head):
            text = text[len(head):]
            break
    return AppError(f"--{flag.replace('_', '-')}: {text}")


def _hashed(path: str, want: str | None, *, option: str, allow_changed: bool, hint: str) -> dict:
    """``{"path", "bytes", "sha256"}`` of the data file ``path``, hashed before a byte of it
    is parsed.  ``want``: the SHA-256 a stored run records; another file is an AppError
    naming ``option`` (ending with ``hint``) unless ``allow_changed``."""
    from rnnx import data

    try:
        digest, size = data.file_digest(path)
    except OSError as e:
        if want is None:  # a new run: the reader names the problem (no such file, a folder)
            return {"path": path, "bytes": None, "sha256": None}
        raise AppError(f"{option}: the run's data {path!r} cannot be read ({e.strerror or e}); restore it") from None
    if want is not None and digest != want and not allow_changed:
        raise AppError(f"{option}: {path!r} changed since the run began (sha256 {digest[:12]}... now, {want[:12]}... "
                       f"recorded); {hint}")
    return {"path": path, "bytes": size, "sha256": digest}


def _load(args: argparse.Namespace, flag: str, stored: dict | None = None, *, option: str | None = None,
          allow_changed: bool = False) -> tuple[Any, Any, dict]:
    """(training panel, test panel or None, the record of where they came from: the kind,
    each file's absolute path, size and SHA-256).  ``stored``: a run's record, whose files
    are read (named by ``option``) only when their hashes match it (``allow_changed``: as
    they are now)."""
    from rnnx.data import panel
    from rnnx.data import DataError

    if stored is None:
        if flag == "uea":
            try:
                paths = [panel.bundled_uea(args.uea, part) for part in ("train", "test")]
            except DataError as e:
                raise panel_error(e, flag) from None
        else:  # read as given (the messages name the file so), recorded absolute
            paths = [getattr(args, flag), args.test_ts if flag == "ts" else None]
        wants = [None, None]
    else:
        paths, wants = [stored["path"], stored.get("test_path")], [stored["sha256"], stored.get("test_sha256")]
    flags = [option or flag, option or ("uea" if flag == "uea" else "test_ts")]
    hints = [f"predict on it as it is now with --{'npz' if flag == 'npz' else 'ts'} {shlex.quote(p or '')}"
             if option == "--model" else run.CHANGED
             for p in paths]
    files = [None if p is None else _hashed(p, w, option=option or f"--{flag}", allow_changed=allow_changed, hint=h)
             for p, w, h in zip(paths, wants, hints)]
    read = panel.load_npz if flag == "npz" else panel.load_ts
    panels = []
    for p, f in zip(paths, flags):
        try:
            panels.append(None if p is None else read(p))
        except DataError as e:
            raise panel_error(e, f.lstrip("-")) from None
    test = files[1] or {}
    source = {"kind": flag, **({"name": args.uea} if flag == "uea" else {}), **files[0],
              "path": os.path.abspath(paths[0]), "test_path": paths[1] and os.path.abspath(paths[1]),
              "test_bytes": test.get("bytes"), "test_sha256": test.get("sha256")}
    return panels[0], panels[1], source


def _source_text(flag: str, args: argparse.Namespace) -> str:
    return f"--{flag} {getattr(args, flag)}"


def _encode(train, test, flag: str, args: argparse.Namespace) -> tuple[Cases, Cases | None, tuple, str]:
    """Both panels with class codes of the training panel's classes; (train, test, classes,
    ``"per-sequence"`` or ``"per-step"``)."""
    import numpy as np

    from rnnx.data import panel

    where = _source_text(flag, args)
    per_step = np.ndim(train.y) == 2
    valid = np.arange(train.x.shape[1])[None, :] < train.lengths[:, None]
    y = train.y
    if per_step:  # the steps past a length (any padding value) take a real label, then code 0
        y = np.where(valid, y, y[valid][0])
    try:
        codes, classes = panel.encode_labels(y)
    except (ValueError, TypeError) as e:
        raise AppError(f"--{flag}: {train.source!r}: {e}") from None
    if len(classes) < 2:
        raise AppError(f"--{flag}: {train.source!r} has one class ({classes[0]!r}); expected at least two to classify")
    cases = Cases(train.x, train.lengths, np.where(valid, codes, 0) if per_step else codes)
    if test is None:
        return cases, None, tuple(classes), "per-step" if per_step else "per-sequence"
    test_flag = "uea" if flag == "uea" else "test-ts"
    if test.x.shape[2] != train.x.shape[2]:
        raise AppError(f"--{test_flag}: {test.source!r} has {test.x.shape[2]} features per step, the training file "
                       f"{train.source!r} has {train.x.shape[2]}; expected the same features")
    index = {c: k for k, c in enumerate(classes)}
    labels = np.asarray(test.y).tolist()
    unseen = [v for v in labels if v not in index]
    if unseen:
        raise AppError(f"--{test_flag}: class {unseen[0]!r} of {test.source!r} is not among the training cases' "
                       f"classes ({', '.join(map(repr, classes))}); expected only classes seen in training ({where})")
    return cases, Cases(test.x, test.lengths, np.asarray([index[v] for v in labels], dtype=np.int64)), \
        tuple(classes), "per-sequence"


def _stratified(cases: Cases, fractions: tuple[float, ...], seed: int, per_step: bool) -> list[list[int]]:
    """Case indices of each part (len(fractions) parts, the first training): each class's
    cases shuffled by ``random.Random(f"{seed}:split")``, ``round(n_c * f)`` to every part
    after the first, the rest to training."""
    rng = random.Random(f"{seed}:split")
    groups: dict[int, list[int]] = {}
    for i in range(cases.n):
        groups.setdefault(0 if per_step else int(cases.y[i]), []).append(i)
    parts: list[list[int]] = [[] for _ in fractions]
    for c in sorted(groups):
        members = groups[c]
        rng.shuffle(members)
        left = len(members)
        for p in range(1, len(fractions)):
            k = min(left, round(len(members) * fractions[p]))
            parts[p] += members[left - k:left]
            left -= k
        parts[0] += members[:left]
    return [sorted(p) for p in parts]


def _check_parts(parts: list[list[int]], cases: Cases, classes: tuple, fractions: tuple, per_step: bool,
                 where: str) -> None:
    """Every part holds a case; the training part a case of every class."""
    names = ("train on", "validate", "test")
    text = ",".join(f"{f:g}" for f in fractions)
    if any(not p for p in parts):
        counts = ", ".join(f"{len(p)} to {names[i]}" for i, p in enumerate(parts))
        raise AppError(f"--split: {text} of the {cases.n} cases of {where} leaves {counts}; expected at least one "
                       "case in each part (more cases, or other --split fractions)")
    if not per_step:
        seen = {int(cases.y[i]) for i in parts[0]}
        missing = [classes[k] for k in range(len(classes)) if k not in seen]
        if missing:
            raise AppError(f"--split: {text} of the {cases.n} cases of {where} leaves no training case of class "
                           f"{missing[0]!r}; expected every class in the training part (more cases, or a larger "
                           "train fraction)")


def scaled_cases(p: Cases, mean: Any, std: Any) -> Cases:
    """``(x - mean) / std`` at the valid steps of ``p``, 0 past each length."""
    import numpy as np

    return Cases(np.where(p.valid()[..., None], (p.x - mean) / std, 0.0), p.lengths, p.y)


def _standardise(parts: dict[str, Cases], stats: tuple | None = None) -> tuple[dict[str, Cases], Any, Any]:
    """Each feature's mean and std over the valid steps of the training cases (std 0 -> 1),
    or ``stats`` (a stored run's); every part scaled by them, 0 past each length."""
    import numpy as np

    if stats is None:
        tr = parts["train"]
        v = tr.x[tr.valid()]
        mean, std = v.mean(axis=0), v.std(axis=0)
        std = np.where(std > 0, std, 1.0)
    else:
        mean, std = (np.asarray(v, dtype=np.float64) for v in stats)
    return {k: scaled_cases(p, mean, std) for k, p in parts.items()}, mean, std


@dataclass(frozen=True)
class RunData:
    """A run's standardised parts ``train``/``val``/``test``, its classes, label kind
    (``per-sequence``/``per-step``), the record of its files and split, the
    standardisation, and each test case's row in its file."""

    parts: dict[str, Cases]
    classes: tuple
    kind: str
    source: dict
    mean: Any
    std: Any
    test_rows: list[int]


def read_data(args: argparse.Namespace, flag: str, seed: int, stored: dict | None = None, *, option: str | None = None,
              allow_changed: bool = False, stats: tuple | None = None) -> RunData:
    """Read, encode, split and standardise a run's data: a new run's (the flags of
    ``args``), or, with ``stored`` (a run's data record) and ``stats`` (its mean and std),
    the same cases again from the recorded files once their hashes match."""
    train, test, source = _load(args, flag, stored, option=option, allow_changed=allow_changed)
    from rnnx.cli import bounds

    bounds.check_panel_data(_source_text(flag, args), tuple(train.x.shape))  # the copies made below
    cases, test_cases, classes, kind = _encode(train, test, flag, args)
    per_step = kind == "per-step"
    fractions = _split_fractions(args, test_cases is not None, flag)
    idx = _stratified(cases, fractions, seed, per_step)
    _check_parts(idx, cases, classes, fractions, per_step, _source_text(flag, args))
    parts = {"train": cases.take(idx[0]), "val": cases.take(idx[1]),
             "test": test_cases if test_cases is not None else cases.take(idx[2])}
    parts, mean, std = _standardise(parts, stats)
    source = {**source, "split": list(fractions), "cases": {k: p.n for k, p in parts.items()}}
    rows = list(range(test_cases.n)) if test_cases is not None else idx[2]
    return RunData(parts, classes, kind, source, mean, std, rows)


# -- the model and its training -------------------------------------------------------------------
def _library(e: Exception) -> AppError:
    """A library error ``param: ...`` as the flag's."""
    text = str(e)
    head, sep, rest = text.partition(": ")
    return AppError(f"{flag_for(head)}: {rest}" if sep and head.isidentifier() else text)


def build_model(s: dict, n_in: int, n_classes: int, kind: str):
    """The classifier the settings ``s`` describe: ``n_in`` inputs, ``n_classes`` logits, one
    per sequence or per step (``kind``)."""
    try:
        return run.model_of(s, n_in, n_classes, objective="many-to-many" if kind == "per-step" else "many-to-one")
    except (ValueError, TypeError) as e:
        raise _library(e) from None


def checked_model(s: dict, data: RunData, n_in: int, source: str):
    """:func:`build_model` of a run of ``data`` (``n_in`` features), once the whole run fits the
    memory available (:func:`rnnx.cli.bounds.check_panel`; ``source``: the data, as the refusal names it)."""
    from rnnx.cli import bounds

    tr = data.parts["train"]
    bounds.check_panel(s, cases=tuple(tr.x.shape), fitted=tr.n + data.parts["val"].n, n_classes=len(data.classes),
                       per_step=data.kind == "per-step", source=source)  # before the model's arrays
    return build_model(s, n_in, len(data.classes), data.kind)


def _optimizer(s: dict):
    try:
        return run.optimizer_for(s)
    except (ValueError, TypeError) as e:
        raise _library(e) from None


def part_arrays(target, p: Cases, dtype: str) -> tuple[Any, Any, Any]:
    """(x, y, lengths) of a part on the target; y None for unlabelled cases, lengths None
    when every case is full length."""
    import numpy as np

    x = target.from_numpy(np.ascontiguousarray(p.x, dtype=dtype))
    y = None if p.y is None else target.from_numpy(np.ascontiguousarray(p.y))
    full = bool(np.all(p.lengths == p.x.shape[1]))
    return x, y, None if full else target.from_numpy(np.ascontiguousarray(p.lengths))


# -- scores ---------------------------------------------------------------------------------------
def _counted(p: Cases) -> Any:
    """Which labels count: every case (N,), or the valid steps (N, T)."""
    import numpy as np

    return p.valid() if p.y.ndim == 2 else np.ones(p.y.shape, dtype=bool)


def _scores(target, model, params: dict, parts: dict[str, Cases], classes: tuple, dtype: str) -> dict:
    """Loss and accuracy of every part, the test part's confusion matrix (``m[i][j]``: the
    counted labels of class i predicted as class j), per-class accuracy and the
    majority-class baseline (the training part's most frequent class)."""
    import numpy as np

    from rnnx.training import engine

    out: dict[str, Any] = {}
    for k, p in parts.items():
        x, y, lengths = part_arrays(target, p, dtype)
        out[k] = engine.evaluate(model, params, x, y, lengths=lengths, loss="cross-entropy", metrics=("accuracy",))
    test, n = parts["test"], len(classes)
    x, _, lengths = part_arrays(target, test, dtype)
    logits = np.asarray(target.to_numpy(engine.predict(model, params, x, lengths=lengths)))
    counted = _counted(test)
    truth, pred = test.y[counted], np.argmax(logits, axis=-1)[counted]
    matrix = np.bincount(truth * n + pred, minlength=n * n).reshape(n, n).tolist()
    per_class = [{"class": c, "cases": int(sum(matrix[i])),
                  "accuracy": matrix[i][i] / sum(matrix[i]) if sum(matrix[i]) else None}
                 for i, c in enumerate(classes)]
    tr = parts["train"]
    majority = int(np.argmax(np.bincount(tr.y[_counted(tr)], minlength=n)))
    out.update({
        "test_accuracy": out["test"]["accuracy"],
        "per_class_test_accuracy": per_class,
        "confusion": {"classes": list(classes), "rows": "true class", "columns": "predicted class",
                      "matrix": matrix},
        "majority_class": {"class": classes[majority], "test_accuracy": float(np.mean(truth == majority))},
    })
    return out


# -- the files ------------------------------------------------------------------------------------
def plot_convergence(history: list[dict], best_epoch: int, path: str, title: str) -> None:
    """Training and validation cross-entropy (left axis) and validation accuracy (right
    axis) per epoch, the best validation epoch marked."""
    from rnnx.diagnostics import plots

    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    ep = [r["epoch"] for r in history]
    ax.plot(ep, [r["loss"] for r in history], label="train loss")
    ax.plot(ep, [r.get("val_loss", float("nan")) for r in history], label="validation loss")
    if best_epoch:  # 0: no epoch was monitored (a run shorter than --min-epochs)
        ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats)")
    ax.grid(True, alpha=0.3)
    acc = ax.twinx()
    acc.plot(ep, [r.get("val_accuracy", float("nan")) for r in history], color="tab:green",
             label="validation accuracy")
    acc.set_ylim(0, 1.02)
    acc.set_ylabel("accuracy")
    lines = ax.get_legend_handles_labels(), acc.get_legend_handles_labels()
    ax.legend(lines[0][0] + lines[1][0], lines[0][1] + lines[1][1], loc="center right")
    ax.set_title(title)
    plots.save(plt, fig, path)


def plot_confusion(matrix: list[list[int]], classes: tuple, path: str, title: str) -> None:
    """The test confusion matrix: rows the true class, columns the predicted, each cell's count."""
    from rnnx.diagnostics import plots

    plt = plots.pyplot()
    n = len(classes)
    size = min(12.0, 4.5 + 0.5 * n)
    fig, ax = plt.subplots(figsize=(size, size), layout="constrained")
    ax.imshow(matrix, cmap="Blues")
    names = [str(c) for c in classes]
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    top = max(max(r) for r in matrix) or 1
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(matrix[i][j]), ha="center", va="center",
                        color="white" if matrix[i][j] > top / 2 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=9)
    plots.save(plt, fig, path)


def _record(data: RunData, s: dict, finished: str | None) -> dict:
    """``classes.json``: all that classifying (and resuming) needs besides the parameters."""
    return {"kind": "rnnx-classes", "classes": list(data.classes), "labels": data.kind,
            "input_size": int(data.mean.shape[0]),
            "standardisation": {"mean": data.mean.tolist(), "std": data.std.tolist()}, "model_file": runfolder.MODEL,
            "settings": s, "data": data.source, "finished": finished}


def run_record(record: dict) -> dict:
    """The run record a classification run keeps under ``run`` of its ``checkpoint.npz``
    (:func:`rnnx.training.state.save_state`): its ``classes.json`` record (:func:`_record`: kind
    ``rnnx-classes``, classes, label kind, input size, standardisation, settings, data) less
    ``finished``, which only ``classes.json`` holds (written there last, once every result is)."""
    return {k: v for k, v in record.items() if k != "finished"}


# -- the run ----------------------------------------------------------------------------------------
def _default_out(flag: str, args: argparse.Namespace) -> str:
    """``runs/<name>``: the UEA name in lower case, or the data file's name without its
    extension (and a ``_TRAIN`` suffix)."""
    if flag == "uea":
        return os.path.join("runs", args.uea.lower())
    stem = os.path.splitext(os.path.basename(getattr(args, flag)))[0]
    if stem.upper().endswith("_TRAIN") and len(stem) > 6:
        stem = stem[:-6]
    return os.path.join("runs", stem or flag)


def run_summary(m: dict, out: str) -> str:
    """The line ``rnnx train`` prints when a classification run ends (``m``: its metrics)."""
    best = f"best val epoch {m['best_epoch']}" if m["best_epoch"] or m["settings"].get("early_stopping") is None \
        else f"no epoch monitored before --min-epochs {m['settings'].get('min_epochs')}: the last epoch's params"
    return (f"rnnx train: {m['epochs']} epochs ({m['stopped']}) in {m['seconds_training']:.1f} s on {m['target']} "
            f"{m['dtype']}; test accuracy {m['test_accuracy']:.3f} (majority class "
            f"{m['majority_class']['test_accuracy']:.3f}, {best}); wrote {out}")


def start_run(args: argparse.Namespace) -> int:
    """``rnnx train --npz FILE | --ts TRAIN.ts [--test-ts TEST.ts] | --uea NAME``: train a
    classifier, write its run folder, print one line; returns 0.  Every refusal is an
    :class:`AppError` (exit 2) naming the flag, raised before the folder is touched."""
    t_start = time.perf_counter()
    flag = _data_flag(args)
    table.refuse_unused(args, TASK, why=REFUSED, where=f" (--{flag})")  # a flag it does not read: REFUSED says why
    s = _settings(args)
    out = args.out if args.out is not None else _default_out(flag, args)
    overwrite = bool(getattr(args, "overwrite", False))
    run.check_new(out, overwrite=overwrite)
    run.need(quiet=args.quiet)
    target = run.target(s["backend"], s["device"], s["dtype"])
    with target.scope():
        m = _prepared(args, flag, s, out, target, overwrite, t_start)
    print(run_summary(m, out))
    return 0


def _run_name(flag: str, args: argparse.Namespace) -> str:
    return args.uea if flag == "uea" else os.path.basename(getattr(args, flag))


def _prepared(args, flag: str, s: dict, out: str, target, overwrite: bool, t_start: float) -> dict:
    """Data and model checked, then the folder made, locked and trained in.  A run that
    fails before its first checkpoint removes its record, and the folder if it created it."""
    data = read_data(args, flag, s["seed"])
    model = checked_model(s, data, int(data.parts["train"].x.shape[2]), _source_text(flag, args))
    _optimizer(s)  # --lr, --momentum against the optimizer, before the folder is touched
    return run.new_run(out, overwrite=overwrite, undo=(CLASSES_FILE,),
                       work=lambda o: train_in(o, target, s, _run_name(flag, args), model, data, quiet=args.quiet,
                                               t_start=t_start, resumed=None))


def train_in(out: str, target, s: dict, name: str, model, data: RunData, *, quiet: bool, t_start: float,
             resumed: int | None, note: str | None = None) -> dict:
    """In the locked folder ``out``: the record, then :func:`rnnx.fit` with the cross-entropy and
    the validation part, its state in ``out/checkpoint.npz`` every ``checkpoint_every`` epochs with
    the record (:func:`run_record`) as its ``run`` (``resumed``: the epoch that file holds,
    continued from it), then the run's files, ``metrics.json`` (with ``seconds_total``: from the
    command's start to it) then ``classes.json`` marked ``finished`` last.  The divergence of the
    loss is an AppError (exit 3).  ``--diagnostics``: the run's Recorder, saved in every epoch that
    checkpoints, before the checkpoint.  The first SIGINT/SIGTERM/SIGHUP stops before the next
    batch (the last complete epoch kept), a second at once; during the last writes a first
    signal waits for them."""
    import rnnx
    from rnnx.cli import run_diagnostics
    from rnnx.io import atomic
    from rnnx.training import engine, state

    record = _record(data, s, None)
    pending = [record] if resumed is not None else []  # a resumed run's record: see should_stop below
    if resumed is None:
        atomic.write_text(os.path.join(out, CLASSES_FILE), run.json_text(record))
    rec = run_diagnostics.recorder_for(s.get("diagnostics"), s.get("probe_size", 32), s["seed"])
    if rec is not None and resumed is not None:
        run_diagnostics.load(rec, out)
    ckpt = os.path.join(out, runfolder.CHECKPOINT)

    def write(fs) -> None:  # fit's checkpoint: its state and settings, the run's record under ``run``
        state.save_state(ckpt, model, fs, fs.settings or {}, run=run_record(record), to_numpy=target.to_numpy)

    def on_epoch(row: dict) -> None:
        if row["epoch"] % s["checkpoint_every"] == 0 or row["epoch"] >= s["epochs"]:
            run_diagnostics.save(rec, out)

    bar = None if quiet else ProgressBar(s["epochs"], desc=f"rnnx train {name}",
                                         postfix={"loss": ("loss", ".3g"), "val_acc": ("val_accuracy", ".3f")})

    def train(t, seen: dict):
        def should_stop() -> bool:
            """Before every batch.  First, a resumed run's record (its settings now, ``finished``
            null) is written: only once rnnx.fit has checked the settings and reached any Dask
            scheduler, so that a refused resume changes no file."""
            if pending:
                atomic.write_text(os.path.join(out, CLASSES_FILE), run.json_text(pending.pop()))
                if note is not None:  # where it trains against where it trained: said once it is placed
                    runfolder.say([note])
            return t.stop_requested()

        xt, yt, lt = part_arrays(target, data.parts["train"], s["dtype"])
        # early stopping on the validation loss, never before --min-epochs (a run without it: 0, as it trained)
        callbacks = [] if s["early_stopping"] is None else [EarlyStopping(s["early_stopping"],
                                                                          start_from_epoch=s.get("min_epochs", 0))]
        return engine.fit(model, xt, yt, lengths=lt, epochs=s["epochs"], batch_size=s["batch_size"],
                          validation_data=part_arrays(target, data.parts["val"], s["dtype"]),
                          shuffle=s["shuffle"], optimizer=_optimizer(s), loss="cross-entropy",
                          metrics=("accuracy",), clip_norm=s["clip_norm"], clip_value=s["clip_value"],
                          callbacks=callbacks + ([] if bar is None else [bar]), on_epoch=on_epoch,
                          seed=s["seed"], checkpoint=write, checkpoint_every=s["checkpoint_every"],
                          resume=None if resumed is None else ckpt, should_stop=should_stop, diagnostics=rec,
                          distribution=run.distribution_for(s))

    title = f"{name}: {model.cell.upper()} H={s['hidden']}, {target.id} {s['dtype']}"

    def results(result, seconds: float) -> dict:
        scores = _scores(target, model, result.params, data.parts, data.classes, s["dtype"])
        metrics = {
            "task": "classification", "labels": data.kind, "data": data.source, "classes": list(data.classes),
            "backend": target.backend, "device": target.device, "target": target.id, "dtype": s["dtype"],
            "model": model.config(), "settings": dict(s), **scores,
            "epochs": len(result.history), "best_epoch": result.best_epoch, "stopped": result.stopped,
            "used_params": "best" if s["early_stopping"] is not None and result.best_epoch else "final",
            "seconds_training": seconds, "versions": run.versions(target),
        }
        atomic.write_text(os.path.join(out, "history.csv"), run.history_csv(result.history))
        rnnx.save(os.path.join(out, runfolder.MODEL), model, result.params, to_numpy=target.to_numpy, overwrite=True)
        plot_convergence(result.history, result.best_epoch, os.path.join(out, "convergence.png"), title)
        plot_confusion(metrics["confusion"]["matrix"], data.classes, os.path.join(out, "confusion.png"),
                       f"{title}\ntest accuracy {metrics['test_accuracy']:.3f}")
        return metrics

    # where it trains (--devices, --dask-*, --probe-size): an error is named before the run is placed
    return run.train_task(out, s, fit=train, results=results, t_start=t_start, rec=rec, bar=bar,
                          title=f"{name}: {model.cell.upper()} H={s['hidden']}",
                          finish=lambda r: atomic.write_text(os.path.join(out, CLASSES_FILE),
                                                             run.json_text({**record, "finished": r.stopped})))


def resume_run(args: argparse.Namespace) -> int:
    """``rnnx train --resume DIR`` of a classification run: :func:`rnnx.cli.run.resume_run`
    (:func:`rnnx.cli.tasks.classification_resume.resumed`)."""
    from rnnx.cli.tasks import classification_resume

    return run.resume_run(args, classification_resume)
