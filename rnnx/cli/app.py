"""What ``rnnx train``, ``predict``, ``forecast`` and ``save`` do, apart from parsing:
:func:`train` (a new run from :class:`~rnnx.cli.settings.TrainSettings`), :func:`resume`,
:func:`predict` and :func:`forecast` (from a run folder), :func:`save_from_torch`.

A failure of the command's own is an :class:`AppError` worded for the command line; the
library's errors (a ValueError naming a parameter: ``lr: ...``, ``window: ...``) pass
through, and the CLI names the flag (:mod:`rnnx.cli.errors`).

A run's folder holds ``checkpoint.npz`` (resumable state), ``model.npz`` (the trained
model), ``metrics.json``, ``history.csv`` and the PNG plots; every file is written to a
temporary name and renamed, so nothing already there is ever half-overwritten.
"""

from __future__ import annotations

import contextlib
import csv as _csv
import io
import json
import math
import os
import platform
import sys
import time
import warnings
from typing import Any

import rnnx
from rnnx import backends, data
from rnnx import params as P
from rnnx.cli.errors import AppError
from rnnx.cli.settings import TrainSettings
from rnnx.dataset import PRESETS, Dataset, build, preset_series
from rnnx.io import checkpoint
from rnnx.model import Model
from rnnx.train import NonFiniteLoss, TrainConfig, Trainer, TrainState

CHECKPOINT, MODEL = "checkpoint.npz", "model.npz"

__all__ = ["AppError", "forecast", "predict", "resume", "save_from_torch", "train"]


# -- what a run is built from ------------------------------------------------------------------
def target_for(backend: str, device: str | None) -> backends.Target:
    """The backend target, or an AppError saying why it is unusable and how to install it."""
    try:
        mod = backends.get(backend)
    except ValueError as e:
        raise AppError(f"--backend: {e}") from None
    dev = device or mod.DEVICES[0]
    if dev not in mod.DEVICES and not (backend.replace("-", "_") == "array_api_strict"):
        raise AppError(f"--device: {backend} has no device {dev!r}; expected one of {', '.join(mod.DEVICES)}")
    t = backends.Target(mod.NAME, dev)
    why = t.unavailable()
    if why:
        raise AppError(f"--backend: {t.id} is not usable here: {why}")
    return t


def series_for(s: TrainSettings) -> list[float]:
    if s.csv is not None:
        return data.load_csv(s.csv, s.column)
    return preset_series(PRESETS[s.preset]["series"])


def model_for(s: TrainSettings) -> Model:
    return Model(s.cell, 1, s.hidden, 1, num_layers=s.layers, bidirectional=s.bidirectional, **s.model_options,
                 output_activation=s.output_activation, objective=s.objective)


def train_config(s: TrainSettings) -> TrainConfig:
    return TrainConfig(epochs=s.epochs, batch_size=s.batch_size, optimizer=s.optimizer, lr=s.lr, momentum=s.momentum,
                       nesterov=s.nesterov, clip_value=s.clip_value, clip_norm=s.clip_norm, tbptt=s.tbptt,
                       loss=s.loss, seed=s.seed, early_stopping=s.early_stopping, freeze=s.freeze)


def dataset_for(s: TrainSettings, series: list[float], target: backends.Target) -> Dataset:
    xp = target.namespace()
    return build(series, window=s.window, horizon=s.horizon, split=s.split,
                 every_step=s.objective == "many-to-many", final_target_every_step=s.final_target_every_step,
                 xp=xp, dtype=getattr(xp, s.dtype), device=target.device_obj(),
                 norm=None if s.normalise else data.Normaliser(0.0, 1.0))


def _dtype_ok(s: TrainSettings, target: backends.Target) -> None:
    if s.dtype not in target.dtypes():
        raise AppError(f"--dtype: {target.id} has no {s.dtype}; expected one of {', '.join(target.dtypes())}")


# -- output folder ------------------------------------------------------------------------------
def prepare_out(out: str, *, resume: bool) -> None:
    if os.path.exists(out) and not os.path.isdir(out):
        raise AppError(f"--out: {out!r} is a file, expected a folder (it is left as it is)")
    if not resume and os.path.exists(os.path.join(out, CHECKPOINT)):
        raise AppError(f"--out: {out!r} already holds a run ({CHECKPOINT}); continue it with --resume {out} "
                       "or choose another --out (nothing was overwritten)")
    os.makedirs(out, exist_ok=True)


def _write_text(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(out: str, s: TrainSettings, model: Model, ds: Dataset, st: TrainState, target) -> None:
    meta = {"kind": "checkpoint", "settings": s.to_json(), "model": model.config(), "epoch": st.epoch,
            "opt_step": st.opt_state["step"], "history": st.history, "best_val": st.best_val,
            "best_epoch": st.best_epoch, "clipped": st.clipped, "updates": st.updates,
            "norm": [ds.norm.mean, ds.norm.std], "rng": {"seed": s.seed, "epoch": st.epoch}}
    groups = {"params": st.params, "best": st.best_params or st.params}
    groups.update({f"opt.{slot}": d for slot, d in st.opt_state["slots"].items()})
    checkpoint.save(os.path.join(out, CHECKPOINT), meta, groups, to_numpy=target.to_numpy)


def _read_run_file(folder: str, name: str, kind: str, option: str, what: str) -> tuple[dict, dict, TrainSettings]:
    """Read ``folder/name`` (a file of ``kind``) and the settings it stores; every problem
    is one AppError line."""
    path = os.path.join(folder, name)
    if not os.path.isdir(folder):
        raise AppError(f"{option}: {folder!r} is not a folder holding a run")
    try:
        meta, groups = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        raise AppError(str(e)) from None
    if meta.get("kind") != kind:
        raise AppError(f"{option}: {path!r} is a {meta.get('kind')!r} file, expected {what}")
    try:
        s = TrainSettings.from_json(meta.get("settings") or {})
    except (ValueError, TypeError) as e:
        raise AppError(f"{option}: {path!r} holds settings this rnnx cannot read ({e})") from None
    return meta, groups, s


def load_run(folder: str) -> tuple[dict, dict, TrainSettings]:
    return _read_run_file(folder, CHECKPOINT, "checkpoint", "--resume", "a training checkpoint")


def _restore(groups: dict, model: Model, target, dtype: str, path: str, group: str) -> dict:
    arrs = groups.get(group, {})
    try:
        checkpoint.check_params(path, arrs, model.param_shapes(), f"{model.layer!r} + head")
    except checkpoint.CheckpointError as e:
        raise AppError(str(e)) from None
    return {k: target.from_numpy(arrs[k].astype(dtype)) for k in model.param_shapes()}


def _same_model(stored: dict, model: Model) -> bool:
    """Does a stored ``Model.config()`` describe ``model`` (an older file's config, with
    fewer keys, read as this version reads it)?"""
    try:
        return Model.from_config(stored).config() == model.config()
    except (ValueError, TypeError):
        return False


# -- train ------------------------------------------------------------------------------------------
def train(s: TrainSettings, *, out: str | None = None, quiet: bool = True) -> dict:
    """``rnnx train``: a new run in ``out`` (default ``runs/<preset or csv name>``); returns
    the metrics it wrote."""
    out = out or os.path.join("runs", s.preset or os.path.splitext(os.path.basename(str(s.csv)))[0])
    if os.path.exists(out) and not os.path.isdir(out):
        raise AppError(f"--out: {out!r} is a file, expected a folder (it is left as it is)")
    return _run(s, out, None, quiet)


def resume(folder: str, *, quiet: bool = True) -> dict:
    """``rnnx train --resume``: continue the run in ``folder`` with its own settings."""
    meta, groups, s = load_run(folder)
    return _run(s, folder, (meta, groups), quiet)


def _run(s: TrainSettings, out: str, resumed: tuple[dict, dict] | None, quiet: bool) -> dict:
    t_start = time.perf_counter()
    _need("matplotlib", "the plots")
    if not quiet:
        _need("tqdm", "the progress bar (or pass --quiet)")
    target = target_for(s.backend, s.device)
    with target.scope():  # the backend's precision scope (JAX float64 on, torch no TF32), undone after
        return _run_on(target, s, out, resumed, quiet, t_start)


def _run_on(target, s: TrainSettings, out: str, resumed: tuple[dict, dict] | None, quiet: bool, t_start: float
            ) -> dict:
    _dtype_ok(s, target)
    cfg = train_config(s)  # library errors (ValueError naming the parameter) go to the CLI as they are
    series = series_for(s)
    ds = dataset_for(s, series, target)
    model = model_for(s)
    if cfg.tbptt and model.objective != "many-to-many":
        raise AppError("--tbptt: truncated BPTT needs --objective many-to-many (a target at every step)")
    if resumed is None:  # only now, with every input checked, touch the output folder
        prepare_out(out, resume=False)
    xp, dev, dtype = target.namespace(), target.device_obj(), getattr(target.namespace(), s.dtype)
    opt = cfg.make_optimizer()
    if resumed is not None:
        meta, groups = resumed
        path = os.path.join(out, CHECKPOINT)
        if not _same_model(meta["model"], model):
            raise AppError(f"checkpoint: {path!r} was written for {meta['model']}, not {model.config()}")
        params = _restore(groups, model, target, s.dtype, path, "params")
        best = _restore(groups, model, target, s.dtype, path, "best")
        opt_state = opt.init(params)
        opt_state["step"] = meta["opt_step"]
        for slot in opt_state["slots"]:
            if meta["opt_step"] > 0 or slot == "sum":
                opt_state["slots"][slot] = {k: target.from_numpy(v.astype(s.dtype))
                                            for k, v in groups.get(f"opt.{slot}", {}).items()}
        st = TrainState(params, opt_state, meta["epoch"], meta["history"], best, meta["best_val"],
                        meta["best_epoch"], meta["clipped"], meta["updates"])
    else:
        if s.init == "normal-0.01":
            params = P.init_normal(xp, model.param_shapes(), std=0.01, seed=s.seed, dtype=dtype, device=dev)
        else:
            params = model.init_params(xp, seed=s.seed, dtype=dtype, device=dev)
        st = TrainState(params, opt.init(params))
    trainer = Trainer(model, ds, cfg, st, target=target)
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, initial=st.epoch, desc=f"rnnx train {s.name}",
                   unit="epoch", file=sys.stderr, dynamic_ncols=True)

    def on_epoch(row: dict) -> None:
        if bar is not None:
            bar.set_postfix(loss=f"{row['train_mse']:.3g}", val=f"{row['val_mse']:.3g}", refresh=False)
            bar.update(1)

    def ckpt(last: bool) -> None:
        save_checkpoint(out, s, model, ds, st, target)

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():  # overflow on the way to a NaN loss is reported below
            warnings.simplefilter("ignore", RuntimeWarning)
            why = trainer.run(on_epoch=on_epoch, checkpoint=ckpt, checkpoint_every=s.checkpoint_every)
    except NonFiniteLoss as e:
        if bar is not None:
            bar.close()
        kept = os.path.exists(os.path.join(out, CHECKPOINT))
        last = f"the last good checkpoint (epoch {_ckpt_epoch(out)}) is kept in {out}" if kept else \
            "no checkpoint had been written yet"
        raise AppError(f"train: the loss became {e.value} at epoch {e.epoch}; stopped, {last}; "
                       "try --clip-norm 1.0 or a lower --lr", code=3) from None
    train_seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    final = st.params
    use = st.best_params if (cfg.early_stopping and st.best_params is not None) else final
    metrics = _metrics(s, trainer, ds, final, use, why, target, train_seconds, t_start)
    _write_outputs(out, s, model, ds, trainer, use, metrics, target)
    metrics["seconds_total"] = time.perf_counter() - t_start
    _write_text(os.path.join(out, "metrics.json"), json.dumps(_finite_or_null(metrics), indent=2, allow_nan=False) + "\n")
    return {**metrics, "out": out}


def _finite_or_null(obj: Any) -> Any:
    """NaN/Inf become null: metrics.json stays strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def _need(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise AppError(f"train: {module} is not installed, needed for {what}; install it with: "
                       "pip install 'rnnx[cli]'")


def _ckpt_epoch(out: str) -> Any:
    try:
        return checkpoint.load(os.path.join(out, CHECKPOINT))[0]["epoch"]
    except checkpoint.CheckpointError:
        return "?"


def _versions(target) -> dict:
    import importlib.metadata as md

    v = {"rnnx": rnnx.__version__, "python": platform.python_version()}
    for dist in {"numpy", "array-api-compat", target.backend.replace("_", "-")}:
        try:
            v[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return v


def _metrics(s: TrainSettings, trainer: Trainer, ds: Dataset, final: dict, use: dict, why: str, target, train_seconds, t_start):
    st = trainer.state
    m = {
        "preset": s.preset, "csv": s.csv, "column": s.column,
        "backend": target.backend, "device": target.device, "target": target.id, "dtype": s.dtype,
        "model": trainer.model.config(), "train": trainer.cfg.to_json(),
        "stopped": why, "epochs": st.epoch, "best_epoch": st.best_epoch,
        "final": {p: trainer.mse(p, final) for p in ("train", "val", "test")},
        "best": {p: trainer.mse(p, st.best_params or final) for p in ("train", "val", "test")},
        "used_params": "best" if use is not final else "final",
        "test_mse": trainer.mse("test", use),
        "persistence_test_mse": ds.persistence_mse("test"),
        "clipped_updates": st.clipped, "updates": st.updates,
        "clipped_fraction": st.clipped / max(1, st.updates),
        "seconds_training": train_seconds, "seconds_to_train_end": time.perf_counter() - t_start,
        "versions": _versions(target), "windows": {k: p.n for k, p in ds.parts.items()},
        "normalisation": {"mean": ds.norm.mean, "std": ds.norm.std},
        "settings": s.to_json(),
    }
    return m


def _write_outputs(out, s: TrainSettings, model, ds, trainer: Trainer, use, metrics, target) -> None:
    buf = io.StringIO()
    if trainer.state.history:
        w = _csv.DictWriter(buf, fieldnames=list(trainer.state.history[0]))
        w.writeheader()
        w.writerows(trainer.state.history)
    _write_text(os.path.join(out, "history.csv"), buf.getvalue())
    meta = {"kind": "model", "model": model.config(), "norm": [ds.norm.mean, ds.norm.std], "window": ds.window,
            "horizon": ds.horizon, "dtype": s.dtype, "settings": s.to_json()}
    checkpoint.save(os.path.join(out, MODEL), meta, {"params": use}, to_numpy=target.to_numpy)
    from rnnx import plots

    name = s.preset or os.path.basename(str(s.csv))
    title = f"{name}: {model.cell.upper()} H={s.hidden}, {s.backend} {s.dtype}"
    plots.convergence(trainer.state.history, os.path.join(out, "convergence.png"), title)
    test = ds.parts["test"]
    if test.n:
        plots.predictions(test.target_index, test.last_target, trainer.predict("test", use), test.last_input,
                          os.path.join(out, "predictions.png"),
                          f"{name} test part: MSE {metrics['test_mse']:.3g} "
                          f"(persistence {metrics['persistence_test_mse']:.3g})")


# -- predict / forecast --------------------------------------------------------------------------------
@contextlib.contextmanager
def loaded_model(folder: str, backend: str | None, device: str | None):
    """The model of a run folder, on ``backend`` (default: the run's own) and ``device``,
    inside that backend's precision scope (so it computes as it was trained): yields
    ``(meta, settings, target, dtype, model, params)``."""
    path = os.path.join(folder, MODEL)
    meta, groups, s = _read_run_file(folder, MODEL, "model", "--model", "a model file")
    target = target_for(backend or s.backend, device if backend else (device or s.device))
    with target.scope():
        dtype = meta["dtype"] if meta["dtype"] in target.dtypes() else "float32"
        model = Model.from_config(meta["model"])
        yield meta, s, target, dtype, model, _restore(groups, model, target, dtype, path, "params")


def _series(s: TrainSettings, csv_path: str | None, column: str | None) -> list[float]:
    """A new series (``--csv``, ``--column``), or the run's own."""
    if csv_path:
        if not column:
            raise AppError("--column: required with --csv")
        return data.load_csv(csv_path, column)
    return series_for(s)


def predict(folder: str, *, csv: str | None = None, column: str | None = None, out: str | None = None,
            backend: str | None = None, device: str | None = None) -> dict:
    """One-step forecasts of every window of the run's test part, or of every window of a
    new series (``csv``), normalised as the model was trained."""
    with loaded_model(folder, backend, device) as (meta, s, target, dtype, model, params):
        xp = target.namespace()
        series = _series(s, csv, column)
        ds = build(series, window=meta["window"], horizon=meta["horizon"], split=(0.0, 0.0, 1.0) if csv else s.split,
                   every_step=model.objective == "many-to-many", xp=xp, dtype=getattr(xp, dtype),
                   device=target.device_obj(), norm=data.Normaliser(*meta["norm"]))
        tr = Trainer(model, ds, TrainConfig(), TrainState(params, {"step": 0, "slots": {}}), target=target)
        test = ds.parts["test"]
        pred = tr.predict("test")
    out = out or os.path.join(folder, "predictions.csv")
    lines = ["index,truth,prediction,persistence"] + [
        f"{i},{t!r},{p!r},{b!r}" for i, t, p, b in zip(test.target_index, test.last_target, pred, test.last_input)]
    _write_text(out, "\n".join(lines) + "\n")
    mse = math.fsum((a - b) ** 2 for a, b in zip(pred, test.last_target)) / max(1, test.n)
    return {"windows": test.n, "mse": mse, "persistence_mse": ds.persistence_mse("test"), "out": out}


def forecast(folder: str, steps: int = 50, *, csv: str | None = None, column: str | None = None,
             out: str | None = None, backend: str | None = None, device: str | None = None) -> dict:
    """Autoregressive forecast from the end of the series: each prediction is fed back."""
    if steps < 1:
        raise AppError(f"--steps: expected a positive number of steps, got {steps}")
    with loaded_model(folder, backend, device) as (meta, s, target, dtype, model, params):
        if meta["horizon"] != 1:
            raise AppError(f"forecast: feeding predictions back needs a horizon-1 model, this one has horizon "
                           f"{meta['horizon']}")
        series = _series(s, csv, column)
        W = meta["window"]
        if len(series) < W:
            raise AppError(f"forecast: the series has {len(series)} values, the model's window needs {W}")
        norm = data.Normaliser(*meta["norm"])
        xp, dev = target.namespace(), target.device_obj()
        hist = [norm(v) for v in series[-W:]]
        values = []
        for _ in range(steps):
            x = xp.reshape(xp.asarray(hist[-W:], dtype=getattr(xp, dtype), device=dev), (W, 1, 1))
            pred, _, _ = model.forward(params, x)
            last = pred if pred.ndim == 2 else pred[-1, ...]
            z = float(target.to_numpy(last).reshape(-1)[0])
            hist.append(z)
            values.append(norm.inverse(z))
    out = out or os.path.join(folder, "forecast.csv")
    n = len(series)
    _write_text(out, "index,forecast\n" + "".join(f"{n + i},{v!r}\n" for i, v in enumerate(values)))
    from rnnx import plots

    k = min(n, 5 * W)
    png = os.path.splitext(out)[0] + ".png"
    plots.forecast(list(range(n - k, n)), series[-k:], list(range(n, n + steps)), values, png,
                   f"{steps}-step autoregressive forecast")
    return {"steps": steps, "values": values, "out": out, "plot": png}


# -- save ------------------------------------------------------------------------------------------------
def save_from_torch(path: str, out: str, *, nonlinearity: str = "tanh"):
    """``rnnx save``: the torch.save()d module or state dict at ``path`` as an rnnx .npz at
    ``out``; returns the layer."""
    from rnnx.interop import from_torch

    try:
        import torch
    except ImportError:
        raise AppError("save: --from-torch needs torch; install it with: pip install 'rnnx[torch]'") from None
    if not os.path.isfile(path):
        raise AppError(f"--from-torch: {path!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise AppError(f"--from-torch: {path!r} is not a loadable torch file ({type(e).__name__}: {e})") from None
    if os.path.isdir(out):
        raise AppError(f"--out: {out!r} is a folder, expected a file name")
    layer, params = from_torch(obj, nonlinearity=nonlinearity)
    rnnx.save(out, layer, params)
    return layer
