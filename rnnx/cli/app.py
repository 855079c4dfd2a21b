"""What ``rnnx train``, ``rnnx predict`` and ``rnnx forecast`` do, apart from parsing.

Every user-facing failure is an :class:`AppError` (one line, a non-zero exit in the CLI).
A run's folder holds ``checkpoint.npz`` (resumable state), ``model.npz`` (the trained
model), ``metrics.json``, ``history.csv`` and the PNG plots; every file is written to a
temporary name and renamed, so nothing already there is ever half-overwritten.
"""

from __future__ import annotations

import contextlib
import csv
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
from rnnx.io import checkpoint
from rnnx import params as P
from rnnx.dataset import PRESETS, Dataset, build, preset_series
from rnnx.model import Model
from rnnx.train import NonFiniteLoss, Trainer, TrainConfig, TrainState

CHECKPOINT, MODEL = "checkpoint.npz", "model.npz"

#: Defaults of every setting, before a preset and the command line.
DEFAULTS: dict[str, Any] = dict(
    preset=None, csv=None, column=None, window=20, horizon=1, split=(0.7, 0.15, 0.15),
    backend="numpy", device=None, dtype="float64", cell="lstm", hidden=32, layers=1, bidirectional=False,
    nonlinearity="tanh", output_activation="none", objective="many-to-one", optimizer="adam", lr=1e-3,
    momentum=0.0, nesterov=False, batch_size=32, epochs=100, clip_value=None, clip_norm=None, tbptt=None,
    seed=0, early_stopping=None, checkpoint_every=10, loss="mse", init="torch", final_target_every_step=False,
    freeze=(), normalise=True,
)


class AppError(Exception):
    """A failure to report as one line on stderr; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


# -- settings --------------------------------------------------------------------------------
def resolve(cli: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the preset's values, then what the command line gave explicitly."""
    s = dict(DEFAULTS)
    preset = cli.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            raise AppError(f"--preset: unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
        s.update({k: v for k, v in PRESETS[preset].items() if k != "series"})
    s.update({k: v for k, v in cli.items() if v is not None and k in DEFAULTS})
    if preset is None and s["csv"] is None:
        raise AppError("train: give --preset NAME or --csv FILE --column NAME")
    if s["csv"] is not None and s["column"] is None:
        raise AppError("--column: required with --csv (the name of the column to model)")
    s["split"], s["freeze"] = tuple(s["split"]), tuple(s["freeze"])
    s["tbptt"] = tuple(s["tbptt"]) if s["tbptt"] else None
    return s


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


def series_for(s: dict) -> list[float]:
    if s["csv"] is not None:
        return data.load_csv(s["csv"], s["column"])
    return preset_series(PRESETS[s["preset"]]["series"])


def model_for(s: dict) -> Model:
    cell_opts = {"nonlinearity": s["nonlinearity"]} if s["cell"] == "rnn" else {}
    return Model(s["cell"], 1, s["hidden"], 1, num_layers=s["layers"], bidirectional=s["bidirectional"],
                 output_activation=s["output_activation"], objective=s["objective"], **cell_opts)


def train_config(s: dict) -> TrainConfig:
    keys = ("epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "clip_value", "clip_norm",
            "tbptt", "loss", "seed", "early_stopping", "freeze")
    try:
        return TrainConfig(**{k: s[k] for k in keys})
    except (ValueError, TypeError) as e:
        raise AppError(str(e)) from None


def dataset_for(s: dict, series: list[float], target: backends.Target) -> Dataset:
    xp = target.namespace()
    return build(series, window=s["window"], horizon=s["horizon"], split=s["split"],
                 every_step=s["objective"] == "many-to-many", final_target_every_step=s["final_target_every_step"],
                 xp=xp, dtype=getattr(xp, s["dtype"]), device=target.device_obj(),
                 norm=None if s["normalise"] else data.Normaliser(0.0, 1.0))


def _dtype_ok(s: dict, target: backends.Target) -> None:
    if s["dtype"] not in target.dtypes():
        raise AppError(f"--dtype: {target.id} has no {s['dtype']}; expected one of {', '.join(target.dtypes())}")


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
def save_checkpoint(out: str, s: dict, model: Model, ds: Dataset, st: TrainState, target) -> None:
    meta = {"kind": "checkpoint", "settings": _jsonable(s), "model": model.config(), "epoch": st.epoch,
            "opt_step": st.opt_state["step"], "history": st.history, "best_val": st.best_val,
            "best_epoch": st.best_epoch, "clipped": st.clipped, "updates": st.updates,
            "norm": [ds.norm.mean, ds.norm.std], "rng": {"seed": s["seed"], "epoch": st.epoch}}
    groups = {"params": st.params, "best": st.best_params or st.params}
    groups.update({f"opt.{slot}": d for slot, d in st.opt_state["slots"].items()})
    checkpoint.save(os.path.join(out, CHECKPOINT), meta, groups, to_numpy=target.to_numpy)


def _jsonable(s: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()}


def _read_run_file(folder: str, name: str, kind: str, option: str, what: str) -> tuple[dict, dict]:
    """Read ``folder/name`` (a file of ``kind``); every problem is one AppError line."""
    path = os.path.join(folder, name)
    if not os.path.isdir(folder):
        raise AppError(f"{option}: {folder!r} is not a folder holding a run")
    try:
        meta, groups = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        raise AppError(str(e)) from None
    if meta.get("kind") != kind:
        raise AppError(f"{option}: {path!r} is a {meta.get('kind')!r} file, expected {what}")
    return meta, groups


def load_run(folder: str) -> tuple[dict, dict]:
    return _read_run_file(folder, CHECKPOINT, "checkpoint", "--resume", "a training checkpoint")


def _restore(groups: dict, model: Model, target, dtype: str, path: str, group: str) -> dict:
    arrs = groups.get(group, {})
    try:
        checkpoint.check_params(path, arrs, model.param_shapes(), f"{model.layer!r} + head")
    except checkpoint.CheckpointError as e:
        raise AppError(str(e)) from None
    return {k: target.from_numpy(arrs[k].astype(dtype)) for k in model.param_shapes()}


# -- train ------------------------------------------------------------------------------------------
def train(cli: dict, *, out: str | None, resume: str | None, quiet: bool) -> dict:
    """``rnnx train``: returns the metrics it wrote.  The run computes inside its backend's
    precision scope (JAX: float64 on; torch: no TF32), left as it was after it."""
    with contextlib.ExitStack() as scopes:
        return _train(cli, out=out, resume=resume, quiet=quiet, scopes=scopes)


def _train(cli: dict, *, out: str | None, resume: str | None, quiet: bool, scopes: contextlib.ExitStack) -> dict:
    t_start = time.perf_counter()
    _need("matplotlib", "the plots")
    if not quiet:
        _need("tqdm", "the progress bar (or pass --quiet)")
    if resume:
        meta, groups = load_run(resume)
        s = resolve({**DEFAULTS, **meta["settings"]})  # the run's own settings, as stored
        out = resume
    else:
        s = resolve(cli)
        out = out or os.path.join("runs", s["preset"] or os.path.splitext(os.path.basename(s["csv"]))[0])
        if os.path.exists(out) and not os.path.isdir(out):
            raise AppError(f"--out: {out!r} is a file, expected a folder (it is left as it is)")
    target = target_for(s["backend"], s["device"])
    scopes.enter_context(target.scope())
    _dtype_ok(s, target)
    cfg = train_config(s)
    try:
        series = series_for(s)
        ds = dataset_for(s, series, target)
        model = model_for(s)
    except (data.DataError, ValueError) as e:
        raise AppError(str(e)) from None
    if cfg.tbptt and model.objective != "many-to-many":
        raise AppError("--tbptt: truncated BPTT needs --objective many-to-many (a target at every step)")
    if not resume:  # only now, with every input checked, touch the output folder
        prepare_out(out, resume=False)
    xp, dev, dtype = target.namespace(), target.device_obj(), getattr(target.namespace(), s["dtype"])
    opt = cfg.make_optimizer()
    if resume:
        path = os.path.join(resume, CHECKPOINT)
        if Model.from_config(meta["model"]).config() != model.config():
            raise AppError(f"checkpoint: {path!r} was written for {meta['model']}, not {model.config()}")
        params = _restore(groups, model, target, s["dtype"], path, "params")
        best = _restore(groups, model, target, s["dtype"], path, "best")
        opt_state = opt.init(params)
        opt_state["step"] = meta["opt_step"]
        for slot in opt_state["slots"]:
            if meta["opt_step"] > 0 or slot == "sum":
                opt_state["slots"][slot] = {k: target.from_numpy(v.astype(s["dtype"]))
                                            for k, v in groups.get(f"opt.{slot}", {}).items()}
        st = TrainState(params, opt_state, meta["epoch"], meta["history"], best, meta["best_val"],
                        meta["best_epoch"], meta["clipped"], meta["updates"])
    else:
        if s["init"] == "normal-0.01":
            params = P.init_normal(xp, model.param_shapes(), std=0.01, seed=s["seed"], dtype=dtype, device=dev)
        else:
            params = model.init_params(xp, seed=s["seed"], dtype=dtype, device=dev)
        st = TrainState(params, opt.init(params))
    trainer = Trainer(model, ds, cfg, st, target=target)
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, initial=st.epoch, desc=f"rnnx train {s['preset'] or s['csv']}",
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
            why = trainer.run(on_epoch=on_epoch, checkpoint=ckpt, checkpoint_every=s["checkpoint_every"])
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


def _metrics(s, trainer: Trainer, ds: Dataset, final: dict, use: dict, why: str, target, train_seconds, t_start):
    st = trainer.state
    m = {
        "preset": s["preset"], "csv": s["csv"], "column": s["column"],
        "backend": target.backend, "device": target.device, "target": target.id, "dtype": s["dtype"],
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
    }
    return m


def _write_outputs(out, s, model, ds, trainer: Trainer, use, metrics, target) -> None:
    buf = io.StringIO()
    if trainer.state.history:
        w = csv.DictWriter(buf, fieldnames=list(trainer.state.history[0]))
        w.writeheader()
        w.writerows(trainer.state.history)
    _write_text(os.path.join(out, "history.csv"), buf.getvalue())
    meta = {"kind": "model", "model": model.config(), "norm": [ds.norm.mean, ds.norm.std], "window": ds.window,
            "horizon": ds.horizon, "dtype": s["dtype"], "settings": _jsonable(s)}
    checkpoint.save(os.path.join(out, MODEL), meta, {"params": use}, to_numpy=target.to_numpy)
    from rnnx import plots

    name = s["preset"] or os.path.basename(s["csv"])
    title = f"{name}: {model.cell.upper()} H={s['hidden']}, {s['backend']} {s['dtype']}"
    plots.convergence(trainer.state.history, os.path.join(out, "convergence.png"), title)
    test = ds.parts["test"]
    if test.n:
        plots.predictions(test.target_index, test.last_target, trainer.predict("test", use), test.last_input,
                          os.path.join(out, "predictions.png"),
                          f"{name} test part: MSE {metrics['test_mse']:.3g} "
                          f"(persistence {metrics['persistence_test_mse']:.3g})")


# -- predict / forecast --------------------------------------------------------------------------------
def load_model(folder: str, backend: str | None, device: str | None, scopes: contextlib.ExitStack):
    path = os.path.join(folder, MODEL)
    meta, groups = _read_run_file(folder, MODEL, "model", "--model", "a model file")
    s = {**DEFAULTS, **meta["settings"]}
    target = target_for(backend or s["backend"], device if backend else (device or s["device"]))
    scopes.enter_context(target.scope())
    dtype = meta["dtype"] if meta["dtype"] in target.dtypes() else "float32"
    model = Model.from_config(meta["model"])
    params = _restore(groups, model, target, dtype, path, "params")
    return meta, s, target, dtype, model, params


def _series_arg(s: dict, cli: dict) -> list[float]:
    if cli.get("csv"):
        if not cli.get("column"):
            raise AppError("--column: required with --csv")
        return data.load_csv(cli["csv"], cli["column"])
    return series_for(s)


def predict(folder: str, cli: dict) -> dict:
    """One-step forecasts of every window of the run's test part, or of every window of a
    new series (``--csv``), normalised as the model was trained."""
    with contextlib.ExitStack() as scopes:
        return _predict(folder, cli, scopes)


def _predict(folder: str, cli: dict, scopes: contextlib.ExitStack) -> dict:
    meta, s, target, dtype, model, params = load_model(folder, cli.get("backend"), cli.get("device"), scopes)
    xp = target.namespace()
    try:
        series = _series_arg(s, cli)
        ds = build(series, window=meta["window"], horizon=meta["horizon"],
                   split=(0.0, 0.0, 1.0) if cli.get("csv") else tuple(s["split"]),
                   every_step=model.objective == "many-to-many", xp=xp, dtype=getattr(xp, dtype),
                   device=target.device_obj(), norm=data.Normaliser(*meta["norm"]))
    except data.DataError as e:
        raise AppError(str(e)) from None
    tr = Trainer(model, ds, TrainConfig(), TrainState(params, {"step": 0, "slots": {}}), target=target)
    test = ds.parts["test"]
    pred = tr.predict("test")
    out = cli.get("out") or os.path.join(folder, "predictions.csv")
    lines = ["index,truth,prediction,persistence"] + [
        f"{i},{t!r},{p!r},{b!r}" for i, t, p, b in zip(test.target_index, test.last_target, pred, test.last_input)]
    _write_text(out, "\n".join(lines) + "\n")
    mse = math.fsum((a - b) ** 2 for a, b in zip(pred, test.last_target)) / max(1, test.n)
    return {"windows": test.n, "mse": mse, "persistence_mse": ds.persistence_mse("test"), "out": out}


def forecast(folder: str, cli: dict, steps: int) -> dict:
    """Autoregressive forecast from the end of the series: each prediction is fed back."""
    if steps < 1:
        raise AppError(f"--steps: expected a positive number of steps, got {steps}")
    with contextlib.ExitStack() as scopes:
        return _forecast(folder, cli, steps, scopes)


def _forecast(folder: str, cli: dict, steps: int, scopes: contextlib.ExitStack) -> dict:
    meta, s, target, dtype, model, params = load_model(folder, cli.get("backend"), cli.get("device"), scopes)
    if meta["horizon"] != 1:
        raise AppError(f"forecast: feeding predictions back needs a horizon-1 model, this one has horizon "
                       f"{meta['horizon']}")
    try:
        series = _series_arg(s, cli)
    except data.DataError as e:
        raise AppError(str(e)) from None
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
    out = cli.get("out") or os.path.join(folder, "forecast.csv")
    n = len(series)
    _write_text(out, "index,forecast\n" + "".join(f"{n + i},{v!r}\n" for i, v in enumerate(values)))
    from rnnx import plots

    k = min(n, 5 * W)
    png = os.path.splitext(out)[0] + ".png"
    plots.forecast(list(range(n - k, n)), series[-k:], list(range(n, n + steps)), values, png,
                   f"{steps}-step autoregressive forecast")
    return {"steps": steps, "values": values, "out": out, "plot": png}
