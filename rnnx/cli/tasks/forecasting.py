"""The ``forecasting`` task of ``rnnx train`` (``--forecast H --csv FILE --targets COLUMN [--inputs
A,B]``): an :class:`rnnx.Forecaster` of one column (the other ``--inputs``: past-observed covariates),
and ``rnnx forecast`` on its runs (:func:`forecast`).

Its folder, written through :func:`rnnx.cli.run.new_run` once the forecaster is fitted:
``forecaster.npz`` (:meth:`rnnx.Forecaster.save`), ``metrics.json`` (the search: each candidate
preprocessing's validation RMSE, the naive and seasonal-naive RMSEs on the same origins, the
choice), ``forecast.csv`` (``<time column>,forecast,lower_80,upper_80,lower_95,upper_95``, the
dates continued) and ``forecast.png`` (the series, the forecast and its shaded intervals).  Such a
run is not resumable yet: ``--resume`` is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any

from rnnx.cli import run, table
from rnnx.cli.errors import AppError, under_flag
from rnnx.io import atomic

__all__ = ["FILES", "FORECASTER", "TASK", "forecast", "holds_run", "resume_run", "start_run", "wants"]

#: The task's name in rnnx.cli.table and rnnx.cli.tasks.REGISTRY.
TASK = "forecasting"
FORECASTER = "forecaster.npz"
#: What a run writes (removed again if it fails before it is done).
FILES = (FORECASTER, "metrics.json", "forecast.csv", "forecast.png")
#: rnnx.Forecaster's parameters whose flag is not ``--`` + their name.
_FLAG_OF = {"horizon": "--forecast", "difference": "--differencing", "patience": "--early-stopping",
            "y": "--targets", "time": "--time-column"}


def wants(args: argparse.Namespace) -> bool:
    """``--forecast H`` given."""
    return getattr(args, "forecast", None) is not None


def holds_run(folder: str) -> bool:
    """Does ``folder`` hold a forecasting run (its ``forecaster.npz``)?"""
    return os.path.lexists(os.path.join(folder, FORECASTER))


def resume_run(args: argparse.Namespace) -> int:
    raise AppError(f"--resume: {args.resume!r} holds a forecasting run (--forecast), which cannot be resumed yet; "
                   "train it again (--out, or --overwrite)")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given over the task's defaults (:data:`rnnx.cli.table.DEFAULTS`), checked in the
    table's words; one AppError line for the data flags this task needs."""
    table.refuse_unused(args, TASK)
    table.check({k: getattr(args, k) for k in table.used(TASK)}, TASK)
    if args.forecast < 1:
        raise AppError(f"--forecast: expected a positive number of steps, got {args.forecast}")
    if args.csv is None:
        raise AppError("--forecast: needs --csv FILE and --targets COLUMN, the series to forecast")
    if args.targets is None or len(args.targets) != 1:
        got = "none" if args.targets is None else ",".join(args.targets)
        raise AppError(f"--targets: --forecast forecasts one column of --csv; got {got}; expected one column name")
    s = {k: d if getattr(args, k) is None else getattr(args, k) for k, d in table.DEFAULTS[TASK].items()}
    return {**s, "window": args.window}


def _fitted(s: dict, horizon: int, values: Any, time: Any, covariates: Any = None) -> Any:
    """:class:`rnnx.Forecaster` fitted on ``values`` (n,) (with ``covariates`` (n, K): the
    ``--inputs`` other than the target), its refusals under this command's flags."""
    from rnnx.interop.forecaster import Forecaster

    f = Forecaster(horizon, transform=s["transform"], difference=s["differencing"], period=s["period"],
                   window=s["window"], cell=s["cell"], hidden=s["hidden"], epochs=s["epochs"],
                   patience=s["early_stopping"], batch_size=s["batch_size"], lr=s["lr"], clip_norm=s["clip_norm"],
                   seed=s["seed"], backend=s["backend"], device=s["device"], dtype=s["dtype"])
    try:
        return f.fit(values, time=time, covariates=covariates)
    except ValueError as e:
        name, _, rest = str(e).partition(": ")
        if name in _FLAG_OF:  # the library's name of a setting this command calls otherwise
            raise AppError(f"{_FLAG_OF[name]}: {rest}") from None
        raise


def start_run(args: argparse.Namespace) -> int:
    """``rnnx train --csv F --targets COL [--time-column T] --forecast H``: fit the forecaster,
    then write its run folder; the candidates' validation RMSEs (unless ``--quiet``) and one
    summary line."""
    from rnnx.data import tables

    s = _settings(args)
    out = args.out or os.path.join("runs", os.path.splitext(os.path.basename(args.csv))[0])
    run.check_new(out, overwrite=args.overwrite)
    run.need(quiet=True)
    target = run.target(s["backend"], s["device"], s["dtype"])
    path = os.path.abspath(args.csv)
    column = args.targets[0]
    others = [c for c in (args.inputs or ()) if c != column]  # past-observed covariates
    tab = tables.read_table(path, inputs=[column, *others], targets=args.targets, time_column=args.time_column,
                            missing=s["missing"])
    ins = tab.input_index()
    f = _fitted(s, args.forecast, tab.values[:, tab.target_index()[0]], tab.time,
                tab.values[:, ins[1:]] if others else None)
    chosen = min(f.search_, key=lambda r: r["val_rmse"])
    metrics = {"kind": "rnnx-forecasting-run", "column": column, "time_column": args.time_column,
               "rows": len(tab.values), "horizon": f.horizon, "period": f.period_, "window": f.window_,
               "validation_origins": f.validation, "covariates": others, "search": f.search_,
               "baselines": {k.replace(" ", "_"): v for k, v in f.baselines_.items()},
               "chosen": chosen, "settings": {**f.get_params(), "levels": list(f.levels)},
               "data": {"kind": "csv", "path": path, "sha256": tab.digest, "bytes": os.path.getsize(path)},
               "target": target.id, "versions": run.versions(target)}

    def work(folder: str) -> dict:
        f.save(os.path.join(folder, FORECASTER), overwrite=True)
        atomic.write_text(os.path.join(folder, "metrics.json"), run.json_text(metrics))
        history = {"time": list(tab.time) if tab.time is not None else list(range(len(tab.values))),
                   "levels": tab.values[:, tab.target_index()[0]].tolist()}
        return _write_forecast(os.path.join(folder, "forecast.csv"), f, f.horizon, history, column, args.time_column)

    if not args.quiet:
        for r in f.search_:
            print(f"  transform {r['transform']:6s} differencing {r['difference']:8s} validation RMSE "
                  f"{r['val_rmse']:.6g} (best epoch {r['best_epoch']})")
    got = run.new_run(out, overwrite=args.overwrite, work=work, undo=FILES)
    base = ", ".join(f"{k} {v:.4g}" for k, v in f.baselines_.items())
    print(f"rnnx train: forecasting {column}: chose transform {chosen['transform']}, differencing "
          f"{chosen['difference']} (validation RMSE {chosen['val_rmse']:.4g}; {base}); {f.horizon} steps "
          f"{got['time'][0]} .. {got['time'][-1]}; wrote {out}")
    return 0


def _iso(label: Any) -> Any:
    """A quarter, month or year label as the ISO date it starts on (``1959Q2`` -> ``1959-04-01``),
    so that the plot's axis shows dates; any other label as it is."""
    text = str(label)
    m = re.fullmatch(r"(\d{4})-?Q([1-4])", text)
    if m:
        return f"{m[1]}-{3 * int(m[2]) - 2:02d}-01"
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", text)
    return f"{m[1]}-{m[2] or '01'}-01" if m else text


def _write_forecast(out: str, f: Any, steps: int, history: dict, column: str, time_column: str | None) -> dict:
    """``out`` (forecast.csv: the time label, the forecast and its interval bounds per step) and
    its plot beside it (the last ``5 W`` values of ``history`` then the forecast and its shaded
    intervals, dates on the axis when the labels are dates, quarters, months or years)."""
    from rnnx.diagnostics import plots

    got = f.predict(steps)
    cols = [k for k in got if k != "time"]
    text = run.csv_text([time_column or "index", *cols], zip(*(got[k] for k in ("time", *cols))))
    k = min(len(history["levels"]), 5 * f.window_)
    labels = [*history["time"][-k:], *got["time"]]
    xs, xlabel = plots.time_axis(list(range(len(labels))), tuple(map(_iso, labels)), time_column) if time_column \
        else (labels, "series index")
    bands = {c[len("lower_"):]: (got[c], got["upper_" + c[len("lower_"):]]) for c in cols if c.startswith("lower_")}
    atomic.write_text(out, text)
    plots.forecast_bands(xs[:k], history["levels"][-k:], xs[k:], got["forecast"], bands,
                         os.path.splitext(out)[0] + ".png", f"{steps}-step forecast with "
                         + " and ".join(f"{b}%" for b in bands) + " conformal intervals", xlabel=xlabel,
                         ylabel=column)
    return {"steps": steps, "time": got["time"], "forecast": got["forecast"], "out": out,
            "plot": os.path.splitext(out)[0] + ".png"}


def forecast(folder: str, steps: int | None = None, *, out: str | None = None, backend: str | None = None,
             device: str | None = None, overwrite: bool = False) -> dict:
    """``rnnx forecast --model DIR`` of a forecasting run: ``steps`` (default and at most its H)
    from the end of its stored series, written as the run wrote its own forecast.csv and .png."""
    from rnnx.interop.forecaster import Forecaster

    path = os.path.join(folder, FORECASTER)
    try:
        f = Forecaster.load(path, backend, device, nofollow=True)
    except ValueError as e:
        raise AppError(under_flag("--model", str(e))) from None
    steps = f.horizon if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= f.horizon:
        raise AppError(f"--steps: expected 1 to {f.horizon} (the run forecasts {f.horizon} steps at once; train "
                       f"with a larger --forecast for more), got {steps}")
    column, time_column = _columns(folder)
    out = run.out_file(folder, out, "forecast.csv", overwrite=overwrite, also=(".png",))
    with run.writing_into(folder, out):  # the run folder's lock while writing into it
        return _write_forecast(out, f, steps, f.history_, column, time_column)


def _columns(folder: str) -> tuple[str, str | None]:
    """The names of the column forecast and of the time column (or None) that the run recorded in
    its metrics.json (data: checked, never run)."""
    path = os.path.join(folder, "metrics.json")
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.loads(fh.read(1 << 22))
        names = rec["column"], rec["time_column"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AppError(f"--model: {path!r} is not a forecasting run's metrics.json ({type(e).__name__})") from None
    if not isinstance(names[0], str) or not (names[1] is None or isinstance(names[1], str)):
        raise AppError(f"--model: {path!r}: column, time_column: expected column names, got {str(names)[:60]}")
    return names
