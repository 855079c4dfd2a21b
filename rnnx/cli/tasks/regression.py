"""The ``regression`` task of ``rnnx train`` (windows of a series or a table: ``--preset``,
``--csv``) and ``predict`` / ``forecast`` on its runs: :func:`train`, :func:`resume`,
:func:`predict`, :func:`forecast`.

Its folder (``checkpoint.npz``, ``model.npz``, ``metrics.json``, ``history.csv``, the plots) is
written as :mod:`rnnx.cli.run` says: the lock, the write order, signals and errors, one line
each.  A checkpoint records where its data came from (a preset, or the CSV's absolute path,
size and SHA-256): a resumed run refuses a CSV that changed unless ``--allow-changed-data``,
and ``predict``/``forecast`` read a run's CSV only after its hash matches.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import time
import warnings
from typing import Any

from rnnx import backends, data
from rnnx.nn import head
from rnnx.nn import params as P
from rnnx.cli import bounds, partial, run, run_diagnostics, runfolder, table
from rnnx.cli.errors import AppError, flag_for
from rnnx.cli.run import distribution_for, optimizer_for, out_file, target_for, writing_into
from rnnx.cli.runfolder import CHECKPOINT, MODEL, Lock
from rnnx.cli.signals import stage
from rnnx.cli.runrecord import RUN_KIND, model_for
from rnnx.cli.settings import TrainSettings
from rnnx.data.dataset import PRESETS, Dataset, build, preset_series, preset_table
from rnnx.io import atomic, checkpoint
from rnnx.nn.model import Model
from rnnx.data.tables import build_table
from rnnx.training.engine import fit
from rnnx.training.state import FitState
from rnnx.training import EarlyStopping, LambdaCallback, ProgressBar, state
from rnnx.training.windows import SeriesMetrics, WindowScores, history_row

#: ``rnnx forecast --steps`` at most (each step is one forward pass, host round trip included).
MAX_FORECAST_STEPS = 1_000_000
# history.csv's train_mse (a forward over every training window) at epochs 1, 10, 20, ..., the last and
# the best; batch_loss and val_mse are every epoch's (docs/training.md, "The run folder")
TRAIN_MSE_EVERY = 10

__all__ = ["AppError", "forecast", "predict", "resume", "train"]


# -- the command line (rnnx.cli.tasks.REGISTRY) -------------------------------------------------------
#: The task's name in rnnx.cli.table and rnnx.cli.tasks.REGISTRY.
TASK = "regression"
#: Why a series run refuses a flag it does not read (any other: the table's words).
WHY = {"min_epochs": "applies to classification runs (--npz, --ts, --uea); a series run keeps its best validation "
                     "epoch"}


def wants(args: argparse.Namespace) -> bool:
    """A series run is what ``rnnx train`` does when no other task's data flag is given."""
    return True


def holds_run(folder: str) -> bool:
    """Does ``folder`` hold a run's checkpoint (a series run's, when no other task claims it)?"""
    return os.path.lexists(os.path.join(folder, CHECKPOINT))


def start_run(args: argparse.Namespace) -> int:
    """``rnnx train --preset NAME | --csv FILE ...``: a new run from the flags given over the
    preset and the defaults (:func:`rnnx.cli.settings.resolve`); one summary line."""
    from rnnx.cli.settings import resolve

    table.refuse_unused(args, TASK, why=WHY)
    given = {k: v for k, v in vars(args).items() if k in table.used(TASK) and k not in table.NOT_SETTINGS}
    unset = tuple(k for k, on in (("early_stopping", args.no_early_stopping), ("clip", args.no_clip)) if on)
    try:
        m = train(resolve(given, unset), out=args.out, quiet=args.quiet, overwrite=args.overwrite)
    except ValueError as e:  # --column NAME is --targets NAME: name the flag the user gave
        if args.column is None or not str(e).startswith("targets: "):
            raise
        raise type(e)("column: " + str(e).removeprefix("targets: ")) from None
    return _summary(m)


def resume_run(args: argparse.Namespace) -> int:
    """``rnnx train --resume DIR`` of a series run: :func:`rnnx.cli.run.resume_run` (:func:`resumed`)."""
    return run.resume_run(args, sys.modules[__name__])


def _summary(m: dict) -> int:
    print(summary(m, m["out"]))
    return 0


def summary(m: dict, out: str) -> str:
    """The line ``rnnx train`` prints when a series run ends (``m``: its metrics): the test MSE,
    the one-step test accuracy and the multi-step one from the test origin
    (:func:`accuracy_record`)."""
    return (f"rnnx train: {m['epochs']} epochs ({m['stopped']}) in {m['seconds_training']:.2f} s on "
            f"{m['target']} {m['dtype']}; test MSE {m['test_mse']:.3g} "
            f"(persistence {m['persistence_test_mse']:.3g}, best val epoch {m['best_epoch']}); "
            f"{_accuracy_text(m)}clipped {m['clipped_updates']}/{m['updates']} updates; wrote {out}")


def _accuracy_text(m: dict) -> str:
    """``test MAE .. RMSE .. MAPE ..% sMAPE ..% MASE .. (m=M); N steps fed back from the test
    origin: MAE .. ...; `` (empty for metrics without ``test_accuracy``)."""
    def five(a: dict) -> str:
        def num(k: str, unit: str = "") -> str:
            return f"{k.upper().replace('SM', 'sM')} " + ("n/a" if a.get(k) is None else f"{a[k]:.3g}{unit}")
        return " ".join((num("mae"), num("rmse"), num("mape", "%"), num("smape", "%"), num("mase")))

    if not m.get("test_accuracy"):
        return ""
    text = f"test {five(m['test_accuracy'])} (m={m['seasonal_period']['m']}); "
    multi = m.get("multistep")
    if multi is None:
        return text + "no multi-step test forecast (metrics.json: multistep_note); "
    return text + f"{multi['steps']} steps fed back from the test origin: {five(multi)}; "


# -- what a run is built from ------------------------------------------------------------------
def series_for(s: TrainSettings) -> tuple[list[float], dict]:
    """The series of a series preset and the record of where it came from (``data`` in
    checkpoints and model files).  A CSV column is a run of one target (:func:`table_for`)."""
    return preset_series(PRESETS[s.preset]["series"]), {"kind": "preset", "path": None, "sha256": None, "bytes": None}


def table_for(s: TrainSettings, record: dict | None = None, *, option: str = "--csv",
              allow_changed: bool = False) -> tuple[Any, dict]:
    """The named columns of a run (``--csv --targets [--inputs]`` or a preset of a bundled
    table) as a :class:`rnnx.data.tables.Table`, and the record of where they came from (as
    :func:`series_for`; the file's bytes hashed before any is parsed)."""
    from rnnx.data import tables

    preset = s.preset is not None
    if preset:
        try:
            path = preset_table(PRESETS[s.preset]["table"])
        except data.DataError as e:
            raise AppError(f"--preset {s.preset}: {str(e).removeprefix('preset: ')}") from None
    else:
        path = os.path.abspath(s.csv)
    want = None
    if record is not None and record.get("sha256"):
        if record.get("path") not in (None, path):
            raise AppError(f"{option}: the file records its data as {record.get('path')!r} but its settings as "
                           f"{path!r}; expected the same file (the file was edited by hand?)")
        want = None if allow_changed else record.get("sha256")
    try:
        table = tables.read_table(path, inputs=s.inputs or s.targets, targets=s.targets, time_column=s.time_column,
                                  missing=s.missing, sha256=want)
    except data.DataChanged as e:
        if option == "--resume":
            raise AppError(f"--resume: {e}; {run.CHANGED}") from None
        raise AppError(f"{option}: {e}; predict on a file as it is now with --csv FILE") from None
    except data.DataError as e:  # the inputs default to the targets: name the flag that was given
        if s.inputs is None and str(e).startswith("inputs: "):
            raise data.DataError("targets: " + str(e).removeprefix("inputs: ")) from None
        raise
    return table, {"kind": "preset" if preset else "csv", "path": path, "sha256": table.digest,
                   "bytes": os.path.getsize(path)}


#: metrics.json's ``train``: the run's training settings (the record's keys since the first runs)
TRAIN_RECORD = ("epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "clip_value", "clip_norm", "tbptt",
                "loss", "seed", "early_stopping", "freeze", "shuffle")


def train_record(s: TrainSettings) -> dict[str, Any]:
    """metrics.json's ``train`` object, from the run's settings (``check_finite``: always on,
    a non-finite epoch is replayed to name its first non-finite number)."""
    d = {k: getattr(s, k) for k in TRAIN_RECORD}
    return {**d, "tbptt": list(s.tbptt) if s.tbptt else None, "freeze": list(s.freeze), "check_finite": True}


def dataset_for(s: TrainSettings, series: Any, target: backends.Target,
                norms: tuple[data.Normaliser, ...] | None = None, scalers: tuple | None = None) -> Dataset:
    """The windows of the run on its target (``series``: a list of values, or a
    :class:`rnnx.data.tables.Table` for a run of named columns); ``norms`` (one per target, and
    ``scalers``, a table run's input columns'): a resumed run's own normalisation.  A new
    run under a bounded ``--output-activation`` scales its targets onto the activation's
    range (:data:`rnnx.nn.head.RANGES`) instead of standardising them; a resumed run keeps the
    scaling it stored, whichever it was."""
    xp = target.namespace()
    scale_to = head.RANGES.get(s.output_activation) if s.normalise else None
    if s.table:
        return build_table(series.values, columns=series.columns, inputs=s.inputs or s.targets,
                           targets=s.targets, window=s.window, horizon=s.horizon, split=s.split,
                           every_step=s.objective == "many-to-many", difference=s.difference,
                           final_target_every_step=s.final_target_every_step, time=series.time, xp=xp,
                           dtype=getattr(xp, s.dtype), device=target.device_obj(), norm=norms, scalers=scalers,
                           target_range=scale_to)
    norm = norms[0] if norms else None
    if not s.normalise:
        norm = data.Normaliser(0.0, 1.0)
    return build(series, window=s.window, horizon=s.horizon, split=s.split,
                 every_step=s.objective == "many-to-many", final_target_every_step=s.final_target_every_step,
                 xp=xp, dtype=getattr(xp, s.dtype), device=target.device_obj(), norm=norm, target_range=scale_to)


def _warn_range(ds: Dataset, names: tuple[str, ...]) -> None:
    """A test part whose targets leave the training range (a trending series): one line
    naming each target that does, and that --difference models the change instead."""
    import numpy as np

    from rnnx.data import tables

    train, test = ds.parts["train"], ds.parts["test"]
    if train.n and test.n:
        msg = tables.range_warning(np.asarray(train.last_targets).T, np.asarray(test.last_targets).T, list(names))
        if msg:
            print(f"rnnx train: {msg}", file=sys.stderr)


def _norm_meta(ds: Dataset) -> dict:
    """The normalisation a model file and a checkpoint record: ``norm`` (the first or only
    target's ``[mean, std]``, as every file has), ``target_norms`` (one ``[mean, std]`` per
    target: a run of several targets only, so a one-target file is as before) and
    ``scalers`` (a table run's input columns')."""
    meta: dict = {"norm": [ds.norm.mean, ds.norm.std]}
    if ds.n_targets > 1:
        meta["target_norms"] = [[n.mean, n.std] for n in ds.target_norms]
    if ds.scalers:
        meta["scalers"] = [[n.mean, n.std] for n in ds.scalers]
    return meta


def stored_norms(meta: dict, s: TrainSettings, path: str, option: str) -> tuple[data.Normaliser, ...]:
    """One normaliser per target of a stored run (``target_norms``, else ``norm``: a file of
    one target, also one written before several targets existed); a count that is not the
    run's number of targets is one AppError."""
    stored = meta.get("target_norms")
    norms = tuple(data.Normaliser(*v) for v in stored) if stored else (data.Normaliser(*meta["norm"]),)
    want = len(s.targets) if s.table else 1
    if len(norms) != want:
        raise AppError(f"{option}: {path!r} holds {len(norms)} target normaliser(s) for the {want} target "
                       f"column(s) of its settings; expected one per target (the file was edited by hand?)")
    return norms


# -- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(out: str, s: TrainSettings, model: Model, ds: Dataset, st: FitState, target, *,
                    source: dict, patience_from: int, finished: str | None = None,
                    settings: dict | None = None) -> None:
    """``out/checkpoint.npz``: the engine's state after ``st.epoch`` epochs as the one training
    checkpoint, ``fit-state`` version 2 (:func:`rnnx.training.state.save_state`; the history in
    the run's columns, :func:`rnnx.training.windows.history_row`; ``settings``: fit's, default
    ``st.settings``), and under ``run`` what a series run keeps besides the engine's state: its
    TrainSettings (``settings``), the normalisation (``norm``, ``target_norms``, ``scalers``),
    ``rng``, the ``data`` record, ``finished`` (why the run ended, once every output file is
    written) and ``patience_from``."""
    record = {"kind": RUN_KIND, "settings": s.to_json(), "norm": [ds.norm.mean, ds.norm.std],
              "rng": {"seed": s.seed, "epoch": st.epoch}, "data": source, "finished": finished,
              "patience_from": patience_from, **_norm_meta(ds)}
    state.save_state(os.path.join(out, CHECKPOINT), model,
                     dataclasses.replace(st, history=[history_row(r) for r in st.history]),
                     settings if settings is not None else (st.settings or {}), run=record,
                     to_numpy=target.to_numpy)


def _read_checkpoint(path: str, option: str, what: str) -> tuple[dict, dict]:
    """A series run's checkpoint (``fit-state`` version 2, or the ``checkpoint`` kind before it:
    :func:`rnnx.cli.run.read_checkpoint`) as (its run record with ``kind``, ``version``, ``model``,
    ``epoch``, ``best_epoch`` and the engine's host ``state``; the array groups ``params`` and ``best``)."""
    got = run.read_checkpoint(path, option, what)
    if got.kind != "checkpoint" and got.run.get("kind") != RUN_KIND:
        raise AppError(f"{option}: {path!r} is the {got.kind} file of another run kind (its run record: "
                       f"{got.run.get('kind')!r}), expected {what}")
    st = got.state
    meta = {**got.run, "kind": got.kind, "version": got.version, "model": got.model, "state": st, "epoch": st.epoch,
            "best_epoch": st.best_epoch}
    return meta, {"params": st.params, "best": st.best_params if st.best_params is not None else st.params}


def _read_run_file(folder: str, name: str, kind: str, option: str, what: str) -> tuple[dict, dict, TrainSettings]:
    """Read ``folder/name`` (a file of ``kind``: ``model``, or ``checkpoint``: the run's training
    checkpoint, :func:`_read_checkpoint`) and the settings it stores; every problem is one
    AppError line."""
    path = os.path.join(folder, name)
    if not os.path.isdir(folder):
        raise AppError(f"{option}: {folder!r} is not a folder holding a run")
    if kind == "checkpoint":
        meta, groups = _read_checkpoint(path, option, what)
    else:
        try:
            meta, groups = checkpoint.load(path, nofollow=True)  # a run's file: never through a link
        except checkpoint.CheckpointError as e:
            raise AppError(str(e)) from None
        if meta.get("kind") != kind:
            raise AppError(f"{option}: {path!r} is a {meta.get('kind')!r} file, expected {what}")
    try:
        s = TrainSettings.from_json(meta.get("settings") or {})
    except (ValueError, TypeError) as e:
        raise AppError(f"{option}: {path!r} holds settings this rnnx cannot read ({e})") from None
    if s.table and "scalers" not in meta and (meta.get("settings") or {}).get("column") is not None:
        meta = {**meta, "scalers": [meta.get("norm")]}  # a --column run's file: its one input is its target
    if s.preset is not None and (not isinstance(s.preset, str) or s.preset not in PRESETS):
        shown = repr(s.preset) if len(repr(s.preset)) <= 80 else repr(s.preset)[:77] + "..."
        raise AppError(f"{option}: {path!r} holds settings.preset {shown}, not one of rnnx's presets "
                       f"({', '.join(PRESETS)}); the file is malformed (edited by hand?)")
    return meta, groups, s


def _checked(groups: dict, model: Model, path: str, group: str) -> dict:
    """The arrays ``groups[group]`` of a stored run, which must be ``model``'s parameters (one AppError line)."""
    arrs = groups.get(group, {})
    try:
        checkpoint.check_params(path, arrs, model.param_shapes(), f"{model.layer!r} + head")
    except checkpoint.CheckpointError as e:
        raise AppError(str(e)) from None
    return arrs


def _restore(groups: dict, model: Model, target, dtype: str, path: str, group: str) -> dict:
    """:func:`_checked`'s arrays on ``target`` in ``dtype``."""
    arrs = _checked(groups, model, path, group)
    return {k: target.from_numpy(arrs[k].astype(dtype)) for k in model.param_shapes()}


def _same_model(stored: dict, model: Model) -> bool:
    """Does a stored ``Model.config()`` describe ``model`` (an older file's config, with
    fewer keys, read as this version reads it)?"""
    try:
        return Model.from_config(stored).config() == model.config()
    except (ValueError, TypeError):
        return False


# -- train ------------------------------------------------------------------------------------------
def train(s: TrainSettings, *, out: str | None = None, quiet: bool = True, overwrite: bool = False) -> dict:
    """``rnnx train``: a new run in ``out`` (default ``runs/<preset or csv name>``); returns
    the metrics it wrote.  ``out`` must be missing or empty unless ``overwrite`` (which
    replaces a previous run's files there and leaves any other file)."""
    out = out if out is not None else os.path.join(
        "runs", s.preset or os.path.splitext(os.path.basename(str(s.csv)))[0])
    run.check_new(out, overwrite=overwrite)
    if s.csv is not None:  # the run records where its data is, from wherever it is resumed
        s = dataclasses.replace(s, csv=os.path.abspath(s.csv))
    return _run(s, out, None, quiet, overwrite=overwrite)


def resume(folder: str, *, quiet: bool = True, epochs: int | None = None, allow_changed_data: bool = False,
           dask: dict | None = None) -> dict:
    """``rnnx train --resume``: continue the run in ``folder`` with its own settings
    (:func:`rnnx.cli.run.resume`); ``epochs`` extends it (also a finished one; without it a
    finished run is reported, ``{"finished": LINE, ...}``, and nothing written).  ``dask``: the
    ``--dask-*`` given, where it trains (never the file's: :func:`rnnx.cli.settings.placement`)."""
    from rnnx.cli.settings import DASK

    args = argparse.Namespace(resume=folder, quiet=quiet, epochs=epochs, allow_changed_data=allow_changed_data,
                              **{k: (dask or {}).get(k) for k in DASK})
    got = run.resume(args, sys.modules[__name__])
    return {"finished": got, "out": folder} if isinstance(got, str) else got


def resumed(folder: str, args: argparse.Namespace, lock: Lock) -> dict | str:
    """A series run's part of :func:`rnnx.cli.run.resume`: its checkpoint read (its record, its
    own settings; ``--dask-*``: where it trains now), ``--epochs`` extending it (early stopping
    then counts its patience from the epoch it was at), trained on in the locked folder."""
    from rnnx.cli import settings

    dask, epochs = {k: getattr(args, k, None) for k in settings.DASK}, args.epochs
    table.check({"epochs": epochs}, TASK)
    meta, groups, s = _read_run_file(folder, CHECKPOINT, "checkpoint", "--resume", "a training checkpoint")
    placed, note = settings.placement(meta.get("settings") or {}, dask)
    s = dataclasses.replace(s, **placed)
    settings.check_resumed_dask(s, dask)
    done = meta.get("finished")
    if run.extending(folder, meta["epoch"], done, epochs, dask):
        return run.finished_line(folder, f"{meta['epoch']} epochs, {done}, best val epoch {meta['best_epoch']}")
    if epochs is not None:
        if epochs > s.epochs or done:  # early stopping counts its patience from here
            meta = {**meta, "patience_from": meta["epoch"]}
        s = dataclasses.replace(s, epochs=epochs)
    return _run(s, folder, (meta, groups), args.quiet, lock=lock, allow_changed_data=args.allow_changed_data, note=note)


def _run(s: TrainSettings, out: str, resumed: tuple[dict, dict] | None, quiet: bool, *, overwrite: bool = False,
         lock: Lock | None = None, allow_changed_data: bool = False, note: str | None = None) -> dict:
    t_start = time.perf_counter()
    run.need(quiet=quiet)
    target = target_for(s.backend, s.device)
    with target.scope():  # the backend's precision scope (JAX float64 on, torch no TF32), undone after
        return _run_on(target, s, out, resumed, quiet, t_start, overwrite=overwrite, lock=lock,
                       allow_changed_data=allow_changed_data, note=note)


def _run_on(target, s: TrainSettings, out: str, resumed: tuple[dict, dict] | None, quiet: bool, t_start: float,
            *, overwrite: bool, lock: Lock | None, allow_changed_data: bool, note: str | None = None) -> dict:
    run.check_dtype(target, s.dtype)
    opt = optimizer_for(s)  # before the folder is touched (a library ValueError goes to the CLI as it is)
    bounds.check_fits(s)  # before anything is allocated: sizes whose training state cannot fit in memory
    meta = resumed[0] if resumed is not None else None
    if s.table:
        series, source = table_for(s, meta.get("data") if meta else None, option="--resume" if meta else "--csv",
                                   allow_changed=allow_changed_data)
    else:
        series, source = series_for(s)
    if s.csv is not None:
        bounds.check_fits(s, series_length=len(series.values))
    if meta is not None and meta.get("data"):
        run.changed_note(s.csv, meta["data"], source, "epoch", meta["epoch"] + 1)
    norms = stored_norms(meta, s, os.path.join(out, CHECKPOINT), "--resume") if meta is not None else None
    scalers = tuple(data.Normaliser(*v) for v in meta["scalers"]) if meta is not None and meta.get("scalers") else None
    try:
        ds = dataset_for(s, series, target, norms, scalers)
    except data.DataError as e:  # --window, --horizon, --split against this series: say which series
        if s.csv is None or not str(e).startswith(("window:", "horizon:", "split:")):
            raise
        raise data.DataError(f"{e} (--csv {s.csv})") from None
    if s.table and not s.difference and resumed is None:
        _warn_range(ds, s.targets)
    model = model_for(s)
    if s.tbptt and model.objective != "many-to-many":
        raise AppError("--tbptt: truncated BPTT needs --objective many-to-many (a target at every step)")
    if resumed is None:  # only now, with every input checked, touch the output folder
        return run.new_run(out, overwrite=overwrite,
                           work=lambda o: _train_in(target, s, o, None, quiet, t_start, opt, ds, model, source,
                                                    data_=series))
    run.continue_run(out, lock)
    return _train_in(target, s, out, resumed, quiet, t_start, opt, ds, model, source, note=note, data_=series)


def _initial_state(target, s: TrainSettings, out: str, resumed, model: Model, opt) -> tuple[FitState, int]:
    """The engine's state to start from (new, or the checkpoint's) and the epoch early
    stopping counts its patience from (an extended run's)."""
    xp, dev, dtype = target.namespace(), target.device_obj(), getattr(target.namespace(), s.dtype)
    if resumed is None:
        if s.init == "normal-0.01":
            params = P.init_normal(xp, model.param_shapes(), std=0.01, seed=s.seed, dtype=dtype, device=dev)
        else:
            params = model.init_params(xp, seed=s.seed, dtype=dtype, device=dev)
        return FitState(params, opt.init(params)), 0
    meta, groups = resumed
    path = os.path.join(out, CHECKPOINT)
    if not _same_model(meta["model"], model):
        raise AppError(f"checkpoint: {path!r} was written for {meta['model']}, not {model.config()}")
    for group in ("params", "best"):  # each checked: one line naming the file
        _checked(groups, model, path, group)
    st = state.to_device(dataclasses.replace(meta["state"], best_params=groups["best"], callbacks=[], run=None), model,
                         opt, path=path, xp=xp, device=dev, dtype=dtype)  # (best_score: converted by read_state)
    return st, meta.get("patience_from", 0)


def _train_in(target, s: TrainSettings, out: str, resumed, quiet: bool, t_start: float, opt: Any,
              ds: Dataset, model: Model, source: dict, *, note: str | None = None, data_: Any = None) -> dict:
    """Train in the locked folder ``out`` with :func:`rnnx.fit` (the one engine) and write
    the run's files.  The windows' series-scale MSEs are :class:`~rnnx.training.windows.SeriesMetrics`
    (early stopping and the best epoch monitor its ``score``), the checkpoint is the run
    folder's ``checkpoint.npz`` (written by fit's ``checkpoint`` callable), a non-finite epoch
    is replayed to name its first non-finite number (``find_non_finite``).  ``note``: where a
    resumed run trains against where it trained (:func:`rnnx.cli.settings.placement`),
    printed once the run is placed (a refusal before stays one line).  ``data_``: the run's
    series (a list) or table, for the test part's accuracy (:func:`accuracy_record`)."""
    st, patience_from = _initial_state(target, s, out, resumed, model, opt)
    rec = run_diagnostics.recorder_for(s.diagnostics, s.probe_size, s.seed)
    scores = WindowScores(model, ds, target)
    last: dict = {}  # fit's run settings, for the last write too

    def ckpt(fs: FitState) -> None:
        run_diagnostics.save(rec, out)  # first: the diagnostics file always covers the checkpoint's epochs
        last["settings"] = fs.settings
        save_checkpoint(out, s, model, ds, fs, target, source=source, patience_from=patience_from)

    bar = None if quiet else ProgressBar(s.epochs, desc=f"rnnx train {s.name}",
                                         postfix={"batch_loss": ("loss", ".3g"), "val_mse": ("val_mse", ".3g")})
    series = SeriesMetrics(scores, train_every=TRAIN_MSE_EVERY)

    def train(t, seen: dict):
        def started(run) -> None:
            seen["started"] = True
            if note is not None:
                runfolder.say([note])
            if rec is not None and resumed is not None:
                run_diagnostics.load(rec, out)

        callbacks = [series, LambdaCallback(on_fit_start=started), *([] if bar is None else [bar])]
        if s.early_stopping:
            callbacks.append(EarlyStopping(s.early_stopping, monitor="score", patience_from=patience_from))
        part = ds.parts["train"]
        scores.check_inputs(st.params)
        with warnings.catch_warnings():  # overflow on the way to a NaN loss is reported below
            warnings.simplefilter("ignore", RuntimeWarning)
            return fit(model, part.x, part.y, batch_first=False, epochs=s.epochs, batch_size=s.batch_size,
                       shuffle=s.shuffle, optimizer=opt, loss=s.loss, clip_value=s.clip_value, clip_norm=s.clip_norm,
                       tbptt=s.tbptt, seed=s.seed, freeze=s.freeze, resume=st, checkpoint=ckpt,
                       checkpoint_every=s.checkpoint_every or s.epochs + 1, should_stop=t.stop_requested,
                       diagnostics=rec, distribution=distribution_for(s), callbacks=callbacks, monitor="score",
                       find_non_finite=True)

    def results(result, train_seconds: float) -> dict:
        st, final = result.state, result.state.params
        use = st.best_params if (s.early_stopping and st.best_params is not None) else final
        _fill_train_mse(series, st, final)
        with stage("metrics.json"):
            metrics = _metrics(s, model, scores, st, final, use, result.stopped, target, train_seconds, t_start,
                               source)
            metrics.update(accuracy_record(s, model, scores, use, target, data_))
        _write_outputs(out, s, model, ds, scores, st, use, metrics, target, source)
        return metrics

    return run.train_task(out, s, fit=train, results=results, t_start=t_start, rec=rec, bar=bar,
                          title=f"{s.name}: {model.cell.upper()} H={s.hidden}", resumed=resumed is not None,
                          what="training windows", diverged=lambda e: partial.write_partial_results(out, e),
                          finish=lambda r: save_checkpoint(out, s, model, ds, r.state, target, source=source,
                                                           patience_from=patience_from, finished=r.stopped,
                                                           settings=last.get("settings") or {}))


def _fill_train_mse(series: SeriesMetrics, st: FitState, final: dict) -> None:
    """history.csv's ``train_mse`` at the run's last epoch (``final``) and its best epoch
    (``st.best_params``), where :class:`SeriesMetrics` left them out (it computes the
    training windows' MSE every :data:`TRAIN_MSE_EVERY` epochs)."""
    by_epoch = {r["epoch"]: r for r in st.history}
    if st.epoch in by_epoch:
        series.fill(by_epoch[st.epoch], final)
    if st.best_params is not None and st.best_epoch in by_epoch:
        series.fill(by_epoch[st.best_epoch], st.best_params)


def _metrics(s: TrainSettings, model: Model, scores: WindowScores, st: FitState, final: dict,
             use: dict, why: str, target, train_seconds, t_start, source: dict):
    """metrics.json's record (its failure said as ``writing metrics.json: ...``)."""
    ds = scores.ds
    m = {
        "preset": s.preset, "csv": s.csv, "inputs": list(ds.inputs) or None,
        "targets": list(s.targets) if s.table else None, "difference": s.difference,
        "backend": target.backend, "device": target.device, "target": target.id, "dtype": s.dtype,
        "model": model.config(), "train": train_record(s),
        "stopped": why, "epochs": st.epoch, "best_epoch": st.best_epoch,
        "final": {p: scores.mse(p, final) for p in ("train", "val", "test")},
        "best": {p: scores.mse(p, st.best_params or final) for p in ("train", "val", "test")},
        "used_params": "best" if use is not final else "final",
        "test_mse": scores.mse("test", use),
        "persistence_test_mse": ds.persistence_mse("test"),
        "clipped_updates": st.clipped, "updates": st.updates,
        "clipped_fraction": st.clipped / max(1, st.updates),
        "seconds_training": train_seconds, "seconds_to_train_end": time.perf_counter() - t_start,
        "versions": run.versions(target), "windows": {k: p.n for k, p in ds.parts.items()},
        "normalisation": {"mean": ds.norm.mean, "std": ds.norm.std},
        "settings": s.to_json(), "data": source,
    }
    if ds.n_targets > 1:
        m["per_target"] = _per_target(scores, final, use, st.best_params or final)
        m["persistence_test_mse"] = math.fsum(ds.persistence_mse("test", k) for k in range(ds.n_targets)) / ds.n_targets
    return m


def _levels(ds: Dataset, data_: Any, k: int) -> list[float]:
    """Target ``k``'s levels at every row of the run's data (a series: the series)."""
    if not ds.targets:
        return list(ds.series)
    return [float(v) for v in data_.values[:, list(data_.columns).index(ds.targets[k])]]


def _season(s: TrainSettings, ds: Dataset) -> tuple[int, str]:
    """MASE's seasonal period m and where it came from: the time column's calendar
    (:func:`rnnx.data.calendar.infer_calendar`), else 1 (the naive forecast)."""
    from rnnx.data.calendar import infer_calendar

    if ds.time is None:
        return 1, "no --time-column"
    try:
        cal = infer_calendar(list(ds.time))
    except data.DataError as e:
        return 1, f"--time-column {s.time_column}: no regular calendar ({e})"
    return cal.period, f"--time-column {s.time_column}: {cal.frequency}"


def _scored(actual: list[float], forecast: list[float], train: list[float], m: int) -> dict:
    """:func:`rnnx.data.accuracy.accuracy` of a test forecast (original scale) and ``note`` where
    a metric cannot be had: a training part of m values or fewer leaves MASE None, a non-finite
    forecast every metric."""
    import numpy as np

    from rnnx.data.accuracy import ACCURACY_METRICS, accuracy

    with np.errstate(all="ignore"):  # errors beyond float64 read as inf, as the MSEs do
        try:
            return accuracy(actual, forecast, train, m)
        except data.DataError as e:
            if not str(e).startswith("train: "):
                return {**dict.fromkeys(ACCURACY_METRICS), "note": str(e)}
            # the pair is checked before the training series: only MASE's scale is missing
            return {**accuracy(actual, forecast, [0.0, 1.0], 1), "mase": None, "note": f"mase: {e}"}


def accuracy_record(s: TrainSettings, model: Model, scores: WindowScores, use: dict, target, data_: Any) -> dict:
    r"""metrics.json's test-part accuracy, each target in its own levels (:mod:`rnnx.data.accuracy`):

    - ``test_accuracy``: MAE, RMSE, MAPE, sMAPE, MASE of the one-step predictions after each test
      window (those of ``rnnx predict``); MASE's scale is the seasonal-naive in-sample MAE
      :math:`\frac1{n-m}\sum_{t\ge m} |y_t - y_{t-m}|` of the levels from the first row to the last
      training target's; with several targets each is in ``per_target_accuracy`` and the top
      level holds their means (None where a target's is);
    - ``seasonal_period``: ``{"m", "from"}`` (:func:`_season`);
    - ``multistep``: the same five of the forecast from the test origin (the first test target's
      row ``o``): the model reads only the rows before ``o`` and each prediction is fed back
      (:func:`fed_back`, as ``rnnx forecast`` from a series ending at row ``o - 1``) for every test
      row; ``{"origin", "origin_time", "steps", <metrics>}`` (its wall time: ``seconds_multistep``),
      or None with ``multistep_note`` saying why (several targets, or feeding back undefined:
      :func:`feedback_refusal`)."""
    ds = scores.ds
    train, test = ds.parts["train"], ds.parts["test"]
    m, why_m = _season(s, ds)
    out: dict = {"seasonal_period": {"m": m, "from": why_m}, "test_accuracy": None, "multistep": None}
    if not test.n or not train.n:
        out["multistep_note"] = "no test part" if not test.n else "no training part"
        return out
    end = train.target_index[-1] + 1
    levels = [_levels(ds, data_, k) for k in range(ds.n_targets)]
    one = [_scored(truth, pred, lv[:end], m)
           for truth, pred, lv in zip(test.last_targets, scores.predict_all("test", use), levels)]
    if ds.n_targets == 1:
        out["test_accuracy"] = one[0]
    else:
        names = list(one[0])
        out["test_accuracy"] = {k: None if any(a.get(k) is None for a in one) else
                                math.fsum(a[k] for a in one) / len(one) for k in names if k != "note"}
        out["per_target_accuracy"] = dict(zip(ds.targets, one))
    why = "a run of several targets" if ds.n_targets > 1 else feedback_refusal(s, ds.horizon)
    o = test.target_index[0]
    if why is None and test.target_index != list(range(o, o + test.n)):
        why = "the test part's rows are not consecutive"
    if why is not None:
        out["multistep_note"] = why
        return out
    meta = {"window": ds.window, **_norm_meta(ds)}
    if s.table:
        import types

        _, inputs, feed = _fed_table("", meta, s, types.SimpleNamespace(values=data_.values[:o],
                                                                         columns=data_.columns))
    else:
        _, inputs, feed = _fed_series(meta, levels[0][:o])
    t0 = time.perf_counter()
    steps = fed_back(model, use, target, s.dtype, ds.window, inputs, feed, test.n)
    out["multistep"] = {"origin": o, "origin_time": ds.time[o] if ds.time is not None else None, "steps": test.n,
                        **_scored(test.last_target, [v[0] for v in steps], levels[0][:end], m)}
    out["seconds_multistep"] = time.perf_counter() - t0  # a timing: top level, as seconds_training
    return out


def _per_target(scores: WindowScores, final: dict, use: dict, best: dict) -> dict:
    """metrics.json's ``per_target`` (a run of several targets): each target's MSEs in its
    own units, as the top-level keys (which are their means over the targets) hold them."""
    parts, ds = ("train", "val", "test"), scores.ds
    fin = {p: scores.mse_per_target(p, final) for p in parts}
    bst = {p: scores.mse_per_target(p, best) for p in parts}
    test = scores.mse_per_target("test", use)
    return {name: {"test_mse": test[k], "persistence_test_mse": ds.persistence_mse("test", k),
                   "final": {p: fin[p][k] for p in parts}, "best": {p: bst[p][k] for p in parts},
                   "normalisation": {"mean": norm.mean, "std": norm.std}}
            for k, (name, norm) in enumerate(zip(ds.targets, ds.target_norms))}


def _write_outputs(out, s: TrainSettings, model, ds, scores: WindowScores, st: FitState, use, metrics, target,
                   source: dict) -> None:
    """history.csv, model.npz and the plots.  A failure names its stage (``writing
    model.npz: ...``, :func:`rnnx.cli.signals.stage`; the run stays resumable); a plot that
    cannot be drawn is left out with a note naming it (:func:`_plot`), never failing the run."""
    with stage("history.csv"):
        history = [history_row(r) for r in st.history]
        atomic.write_text(os.path.join(out, "history.csv"), run.history_csv(history))
    with stage(MODEL):
        meta = {"kind": "model", "model": model.config(), "norm": [ds.norm.mean, ds.norm.std], "window": ds.window,
                "horizon": ds.horizon, "dtype": s.dtype, "settings": s.to_json(), "data": source}
        meta.update(_norm_meta(ds))
        checkpoint.save(os.path.join(out, MODEL), meta, {"params": use}, to_numpy=target.to_numpy)
    from rnnx.diagnostics import plots

    name = s.preset or os.path.basename(str(s.csv))
    title = f"{name}: {model.cell.upper()} H={s.hidden}, {s.backend} {s.dtype}"
    _plot(os.path.join(out, "convergence.png"),
          lambda path: plots.convergence(history, path, title, metrics.get("best_epoch")))
    test = ds.parts["test"]
    if not test.n:
        return
    xs, xlabel = plots.time_axis(test.target_index, ds.time, s.time_column)
    path = os.path.join(out, "predictions.png")
    if ds.n_targets == 1:
        target_name = ds.targets[0] if ds.targets else name  # a series preset: its name
        _plot(path, lambda path: plots.predictions(
            xs, test.last_target, scores.predict("test", use), test.last_input, path,
            f"{name} test part, one-step predictions: MSE {metrics['test_mse']:.3g} "
            f"(persistence {metrics['persistence_test_mse']:.3g})", xlabel, target_name, (s.units or ("",))[0]))
        return
    per = metrics["per_target"]
    titles = [f"{t}: test MSE {per[t]['test_mse']:.3g} (persistence {per[t]['persistence_test_mse']:.3g})"
              for t in ds.targets]
    _plot(path, lambda path: plots.prediction_panels(
        xs, list(ds.targets), list(test.last_targets), scores.predict_all("test", use), list(test.last_inputs), path,
        titles, f"{name} test part, one-step predictions", xlabel, list(s.units or ("",) * ds.n_targets)))


def _axis_names(s: TrainSettings, names: tuple[str, ...]) -> list[str]:
    """The targets' names for the value axes: ``temp_max (degC)`` with ``--units degC``."""
    return [table.with_unit(n, u) for n, u in zip(names, s.units or ("",) * len(names))]


def _plot(path: str, draw) -> None:
    """``draw(path)``, a plot of the run's results; one that matplotlib cannot draw (a
    ValueError, OverflowError or FloatingPointError from its range arithmetic) is left out
    with a note naming it, and an older file of that name removed (it would show another
    state of the run).  Other failures name the stage (``writing predictions.png: ...``)."""
    with stage(os.path.basename(path)):
        try:
            draw(path)
        except (ValueError, OverflowError, FloatingPointError) as e:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            print(f"rnnx train: note: {path} not drawn ({type(e).__name__}: {' '.join(str(e).split())}); the "
                  "numbers are in metrics.json", file=sys.stderr)


# -- predict / forecast --------------------------------------------------------------------------------
@contextlib.contextmanager
def loaded_model(folder: str, backend: str | None, device: str | None, *, from_checkpoint: bool = False):
    """The model of a run folder (:func:`rnnx.cli.run.stored_model`): yields ``(meta, settings,
    target, dtype, model, params)``.  ``from_checkpoint``: the params of
    the run's last checkpoint instead (a run that did not finish has no model file; ``meta``
    then has the model file's ``window``, ``horizon`` and ``dtype`` from its settings)."""
    name, kind, what = (CHECKPOINT, "checkpoint", "a training checkpoint") if from_checkpoint else \
        (MODEL, "model", "a model file")
    path = os.path.join(folder, name)
    meta, groups, s = _read_run_file(folder, name, kind, "--model", what)
    if from_checkpoint:
        meta = {**meta, "window": s.window, "horizon": s.horizon, "dtype": s.dtype}
    with run.stored_model(path, s, meta["dtype"], lambda target, dtype: (
            model := Model.from_config(meta["model"]), _restore(groups, model, target, dtype, path, "params")),
            backend, device) as got:
        yield meta, s, *got


#: The data flags of ``train`` that ``predict``/``forecast``/``diagnose --model`` take too (``--column
#: NAME`` is ``--targets NAME``): each given must be the model's (``--missing``: how a new ``--csv`` is read).
DATA_FLAGS = ("targets", "inputs", "time_column", "missing")


def _flag_value(v: Any) -> str:
    return ",".join(v) if isinstance(v, (tuple, list)) else str(v)


def check_columns(s: TrainSettings, columns: dict | None, csv: str | None) -> str:
    """The data flags given to a command on a trained model (:data:`DATA_FLAGS`, None: not
    given) against the model's own; returns the missing-value policy to read ``csv`` with.
    A model of a series preset reads one column of a new ``--csv`` (``--targets``/``--column``)."""
    given = {k: v for k, v in (columns or {}).items() if v is not None}
    if not s.table:  # a series preset: --column/--targets names the column of a new series
        other = next((k for k in given if k != "targets"), None)
        if other is not None:
            raise AppError(f"{flag_for(other)}: applies to a model of named columns; this model of the series preset "
                           f"{s.preset} reads one column: give --csv FILE --column NAME")
        if "targets" in given and len(given["targets"]) != 1:
            raise AppError(f"--targets: this model of the series preset {s.preset} reads one column; got "
                           f"{_flag_value(given['targets'])}")
        if "targets" in given and not csv:
            raise AppError("--column: applies with --csv only (without it the run's own data is used)")
        if csv and "targets" not in given:
            raise AppError("--column: required with --csv (the name of the column to predict)")
        return "error"
    own = {"targets": s.targets, "inputs": s.inputs or s.targets, "time_column": s.time_column, "missing": s.missing}
    for k, v in given.items():
        if k == "missing" and csv:
            continue  # how the new file is read
        if (tuple(v) if isinstance(v, (tuple, list)) else v) != own[k]:
            how = "reads" if k in ("inputs", "time_column", "missing") else "predicts"
            raise AppError(f"{flag_for(k)}: this model {how} {flag_for(k)} {_flag_value(own[k]) if own[k] else 'none'} "
                           f"(as it was trained), got {_flag_value(v)}; give its own or leave the flag out")
    return given.get("missing", s.missing)


def _model_data(folder: str, meta: dict, s: TrainSettings, csv: str | None, columns: dict | None) -> Any:
    """The data a run's model reads, once the data flags given fit it (:func:`check_columns`):
    a model of named columns, a table: ``csv`` (which must have the run's columns) or its
    run's own file, unchanged (its SHA-256 matches); a model of a series preset, a list of
    floats: ``csv``'s ``--column`` or the preset's series."""
    from rnnx.data import tables

    missing = check_columns(s, columns, csv)
    if csv:
        return tables.read_table(csv, inputs=s.inputs or s.targets, targets=s.targets, time_column=s.time_column,
                                 missing=missing) if s.table else data.load_csv(csv, columns["targets"][0])
    if not s.table:
        return series_for(s)[0]
    if not (meta.get("data") or {}).get("sha256"):
        raise AppError(f"--model: {os.path.join(folder, MODEL)!r} records no checksum of its data; pass --csv FILE")
    return table_for(s, meta.get("data"), option="--model")[0]


def model_windows(folder: str, meta: dict, s: TrainSettings, csv: str | None, columns: dict | None, target,
                  dtype: str, model: Model) -> Dataset:
    """The windows a run's model reads (``predict``, ``diagnose --model``): its run's test part
    (:func:`_model_data`), or every window of ``csv``, normalised as it was trained."""
    xp, path = target.namespace(), os.path.join(folder, MODEL)
    got = _model_data(folder, meta, s, csv, columns)
    size = f"{len(got.values)} rows" if s.table else f"{len(got)} values"
    how = dict(window=meta["window"], horizon=meta["horizon"], split=(0.0, 0.0, 1.0) if csv else s.split, xp=xp,
               dtype=getattr(xp, dtype), device=target.device_obj())
    try:
        if s.table:
            return build_table(got.values, columns=got.columns, inputs=s.inputs or s.targets, targets=s.targets,
                               every_step=s.objective == "many-to-many", difference=s.difference,
                               final_target_every_step=s.final_target_every_step, time=got.time,
                               norm=stored_norms(meta, s, path, "--model"),
                               scalers=tuple(data.Normaliser(*v) for v in meta["scalers"]), **how)
        return build(got, every_step=model.objective == "many-to-many", norm=data.Normaliser(*meta["norm"]), **how)
    except data.DataError as e:  # the data against the model's window: name the one at fault
        raise AppError(f"--csv: {csv!r} ({size}) does not fit the model: {e}" if csv else
                       f"--model: {path!r} does not fit its run's data: {e}") from None


def predict(folder: str, *, csv: str | None = None, columns: dict | None = None, out: str | None = None,
            backend: str | None = None, device: str | None = None, overwrite: bool = False) -> dict:
    """One-step forecasts of every window of the run's test part, or of every window of a
    new series (``csv``), normalised as the model was trained.  ``columns``: the data flags
    given (:func:`check_columns`)."""
    with loaded_model(folder, backend, device) as (meta, s, target, dtype, model, params):
        out = out_file(folder, out, "predictions.csv", overwrite=overwrite)
        ds = model_windows(folder, meta, s, csv, columns, target, dtype, model)
        test = ds.parts["test"]
        preds = WindowScores(model, ds, target).predict_all("test", params)
    with writing_into(folder, out):
        atomic.write_text(out, _predictions_csv(ds, preds))
    mses = [math.fsum((a - b) * (a - b) for a, b in zip(pred, truth)) / max(1, test.n)
            for pred, truth in zip(preds, test.last_targets)]
    if ds.n_targets == 1:
        return {"windows": test.n, "mse": mses[0], "persistence_mse": ds.persistence_mse("test"), "out": out}
    pers = [ds.persistence_mse("test", k) for k in range(ds.n_targets)]
    per = {t: {"mse": m, "persistence_mse": p} for t, m, p in zip(ds.targets, mses, pers)}
    return {"windows": test.n, "mse": math.fsum(mses) / len(mses), "persistence_mse": math.fsum(pers) / len(pers),
            "per_target": per, "out": out}


def _predictions_csv(ds: Dataset, preds: list[list[float]]) -> str:
    """predictions.csv: ``index,truth,prediction,persistence`` for one target; for several,
    ``index`` then ``<target>,<target>_predicted,<target>_persistence`` for each target."""
    test = ds.parts["test"]
    names = ["truth", "prediction", "persistence"] if ds.n_targets == 1 else \
        [f"{t}{end}" for t in ds.targets for end in ("", "_predicted", "_persistence")]
    cols = [c for k in range(ds.n_targets) for c in (test.last_targets[k], preds[k], test.last_inputs[k])]
    return run.csv_text(["index", *names], ([i, *(c[j] for c in cols)] for j, i in enumerate(test.target_index)))


def forecast(folder: str, steps: int = 50, *, csv: str | None = None, columns: dict | None = None,
             out: str | None = None, backend: str | None = None, device: str | None = None,
             overwrite: bool = False) -> dict:
    """Autoregressive forecast from the end of the series: each prediction is fed back
    (:func:`fed_back` with :func:`_fed_series` or :func:`_fed_table`)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_FORECAST_STEPS:
        raise AppError(f"--steps: expected a number of steps from 1 to {MAX_FORECAST_STEPS}, got {steps}")
    with loaded_model(folder, backend, device) as (meta, s, target, dtype, model, params):
        out = out_file(folder, out, "forecast.csv", overwrite=overwrite, also=(".png",))
        why = feedback_refusal(s, meta["horizon"])
        if why is not None:
            raise AppError(f"forecast: {why}")
        got, W = _model_data(folder, meta, s, csv, columns), meta["window"]
        n, need, unit = (len(got.values), W + 1 if s.difference else W, "rows") if s.table else (len(got), W, "values")
        if n < need:
            raise AppError(f"--csv: {csv!r} has {n} {unit}, the model's window needs {need}" if csv else
                           f"--model: {os.path.join(folder, MODEL)!r} has a window of {W} steps, its run's data "
                           f"{n} {unit}")
        hist, inputs, feed = _fed_table(folder, meta, s, got) if s.table else _fed_series(meta, got)
        values = fed_back(model, params, target, dtype, W, inputs, feed, steps)
    return _write_forecast(folder, out, s.targets if s.table else None, hist, [list(v) for v in zip(*values)],
                           steps, W, _axis_names(s, s.targets if s.table else ("value",)))


def feedback_refusal(s: TrainSettings, horizon: int) -> str | None:
    """Why feeding a run's predictions back is not defined for its settings ``s`` and
    ``horizon`` (``rnnx forecast`` refuses with these words; a run leaves its multi-step test
    forecast out with them), None where it is: a series, or a table whose inputs are its
    targets, at horizon 1."""
    ins = s.inputs or s.targets
    if s.table and set(ins) != set(s.targets):
        return (f"this model reads {', '.join(ins)} and predicts {', '.join(s.targets)}"
                f"{' changes' if s.difference else ''}; feeding predictions back needs a model whose inputs are "
                "exactly its targets (--targets NAMES without --inputs) or of one series (--column NAME); "
                "use rnnx predict")
    if horizon != 1:
        return f"feeding predictions back needs a horizon-1 model, this one has horizon {horizon}"
    return None


def fed_back(model: Model, params: dict, target, dtype: str, window: int, inputs: list[Any], feed: Any,
             steps: int) -> list[list[float]]:
    """The ``steps``-step autoregressive forecast: the model reads the last ``window`` rows of
    ``inputs`` (each (I,), normalised; a (W, 1, I) batch of one), ``feed`` (:func:`_fed_series`,
    :func:`_fed_table`) turns its normalised prediction (O,) into the next input row, appended,
    and each target's level; returns those levels, one list per step."""
    import numpy as np

    xp, dev, values = target.namespace(), target.device_obj(), []
    for _ in range(steps):
        x = xp.asarray(np.stack(inputs[-window:])[:, None, :], dtype=getattr(xp, dtype), device=dev)
        pred, _, _ = model.forward(params, x)
        row, levels = feed(target.to_numpy(pred if pred.ndim == 2 else pred[-1, ...]).reshape(-1))
        inputs.append(row)
        values.append(levels)
    return values


def _fed_series(meta: dict, series: list[float]) -> tuple[list[list[float]], list[Any], Any]:
    """How :func:`forecast` feeds a series model's predictions back: ``([series], inputs,
    feed)``, ``inputs`` the last values normalised (one (1,) row each) and ``feed(z)`` of the
    model's normalised prediction ``z`` (1,): ``(z, [its level])``."""
    import numpy as np

    norm = data.Normaliser(*meta["norm"])
    return [series], [np.asarray([norm(v)]) for v in series[-meta["window"]:]], \
        lambda z: (z[:1], [norm.inverse(float(z[0]))])


def _fed_table(folder: str, meta: dict, s: TrainSettings, table: Any) -> tuple[list[list[float]], list[Any], Any]:
    """How :func:`forecast` feeds a table model's predictions back (its inputs are its
    targets, in any order): ``(each target's levels, inputs, feed)``.  Each step's row of the
    inputs is the previous predictions (``--difference``: the predicted changes, the levels
    their running sum from the last row), normalised by the run's own scalers; ``inputs``
    the last ``window`` rows so normalised, ``feed(z)`` of the model's normalised
    predictions ``z`` (one per target): ``(the next input row, each target's level)``."""
    import numpy as np

    in_cols = [table.columns.index(c) for c in s.inputs or s.targets]
    t_cols = [table.columns.index(c) for c in s.targets]
    norms = stored_norms(meta, s, os.path.join(folder, MODEL), "--model")
    mean, std = (np.asarray([v[k] for v in meta["scalers"]], dtype=np.float64) for k in (0, 1))
    levels, W = np.asarray(table.values, dtype=np.float64), meta["window"]
    rows = np.diff(levels[-W - 1:], axis=0) if s.difference else levels[-W:]  # the model's input rows
    now = [levels[-1].copy()]

    def feed(z: Any) -> tuple[Any, list[float]]:
        row = np.zeros_like(now[0])
        row[t_cols] = [norm.inverse(float(v)) for norm, v in zip(norms, z.tolist())]  # levels, or changes
        now[0] = now[0] + row if s.difference else row  # every column is a target: the inputs are the targets
        return (row[in_cols] - mean) / std, [float(now[0][j]) for j in t_cols]
    return [levels[:, j].tolist() for j in t_cols], list((rows[:, in_cols] - mean) / std), feed


def _write_forecast(folder: str, out: str, names: tuple[str, ...] | None, hist: list[list[float]],
                    values: list[list[float]], steps: int, W: int, axes: list[str]) -> dict:
    """forecast.csv (``index,forecast`` for one series or target, ``index,<target>,...`` for
    several) and its plot beside it: the last ``5 * W`` values and the forecast, one panel
    per target, its value axis ``axes[k]`` (:func:`_axis_names`)."""
    from rnnx.diagnostics import plots

    n = len(hist[0])
    k = min(n, 5 * W)
    png = os.path.splitext(out)[0] + ".png"
    several = len(values) > 1
    text = run.csv_text(["index", *(names if several else ["forecast"])],
                        ([n + i, *(v[i] for v in values)] for i in range(steps)))
    with writing_into(folder, out):
        atomic.write_text(out, text)
        if several:
            plots.forecast_panels(list(range(n - k, n)), [h[-k:] for h in hist], list(range(n, n + steps)), values,
                                  axes, png, f"{steps}-step autoregressive forecast")
        else:
            plots.forecast(list(range(n - k, n)), hist[0][-k:], list(range(n, n + steps)), values[0], png,
                           f"{steps}-step autoregressive forecast", axes[0])
    return {"steps": steps, "values": dict(zip(names, values)) if several else values[0], "out": out, "plot": png}

