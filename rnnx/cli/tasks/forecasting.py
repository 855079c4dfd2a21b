"""The ``forecasting`` task of ``rnnx train`` (``--forecast H --csv FILE --targets COLUMN [--inputs
A,B]``): an :class:`rnnx.Forecaster` of one column (the other ``--inputs``: past-observed covariates),
and ``rnnx forecast`` on its runs (:func:`forecast`).

Its folder, written through :func:`rnnx.cli.run.new_run` once the forecaster is fitted:
``forecaster.npz`` (:meth:`rnnx.Forecaster.save`), ``metrics.json`` (the search: each candidate
preprocessing's validation RMSE and, for the finalists, the score of two runs' mean forecast; the
naive and seasonal-naive RMSEs on the same origins; the choice (:attr:`rnnx.Forecaster.chosen_`);
the column's ``unit`` (``--units``, or null); and ``validation_accuracy``: the chosen candidate's MAE, RMSE, MAPE, sMAPE and MASE over
its validation forecasts, :attr:`rnnx.Forecaster.accuracy_`), ``forecast.csv`` (``<time
column>,forecast,lower_80,upper_80,lower_95,upper_95``, the dates continued) and ``forecast.png``
(the series, the forecast and its shaded intervals).  With ``--backtest FOLDS`` (``--backtest-step
S``, default H; ``--backtest-fit-once``) also a rolling-origin backtest
(:meth:`rnnx.Forecaster.backtest`): ``backtest.csv`` (``origin,step,<time column>,actual,forecast,
lower_80,upper_80,lower_95,upper_95``, FOLDS x H rows), ``backtest.png`` (MAE and RMSE by horizon
step beside the seasonal-naive MAE from the same origins) and metrics.json's ``backtest``.  Such a
run is not resumable yet: ``--resume`` is refused.

With ``--future-inputs A,B`` (future-known covariates, :meth:`rnnx.Forecaster.fit`'s
``future_covariates=``) the CSV is a "future frame" (the Prophet / Darts habit): after the last row
with a target value come the rows of the next dates, the target empty and ``A``, ``B`` filled.  The
rows up to the last target value are the history (``--missing`` applies to them); the trailing
rows (at least H, each dated the next step of the --time-column's calendar, every future input
filled) give :meth:`rnnx.Forecaster.predict` its ``future_covariates``.  The first H of them are
kept in the run folder as ``future.csv`` (``<time column>,A,B``), which ``rnnx forecast --model
DIR`` reads.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any

from rnnx.cli import run, table
from rnnx.cli.errors import AppError, flag_for, under_flag
from rnnx.io import atomic

__all__ = ["FILES", "FORECASTER", "FUTURE", "TASK", "forecast", "holds_run", "resume_run", "start_run", "wants"]

#: The task's name in rnnx.cli.table and rnnx.cli.tasks.REGISTRY.
TASK = "forecasting"
FORECASTER = "forecaster.npz"
#: The future inputs' values on the H dates forecast (with --future-inputs).
FUTURE = "future.csv"
#: What a run writes (removed again if it fails before it is done).
FILES = (FORECASTER, "metrics.json", "forecast.csv", "forecast.png", "backtest.csv", "backtest.png", FUTURE)
#: rnnx.Forecaster's parameters whose flag is not ``--`` + their name.
_FLAG_OF = {"horizon": "--forecast", "difference": "--differencing", "patience": "--early-stopping",
            "y": "--targets", "time": "--time-column", "covariates": "--inputs",
            "future_covariates": "--future-inputs"}


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
    if args.backtest is None:
        for k in ("backtest_step", "backtest_fit_once"):
            if getattr(args, k) not in (None, False):
                raise AppError(f"{flag_for(k)}: applies with --backtest FOLDS only; drop it, or give --backtest")
    table.check_units(args.units, args.targets)
    future = args.future_inputs or ()
    for i, c in enumerate(future):
        if c in future[:i]:
            raise AppError(f"--future-inputs: {c!r} listed twice; expected each column once")
        if c == args.targets[0]:
            raise AppError(f"--future-inputs: {c!r} is the --targets column, the series forecast; expected other "
                           "columns of --csv, known ahead")
        if c in (args.inputs or ()):
            raise AppError(f"--future-inputs: {c!r} is also in --inputs (past-observed: its future is unknown); "
                           "expected each column in one of them")
        if args.time_column is not None and c == args.time_column.strip():
            raise AppError(f"--future-inputs: {c!r} is the --time-column (its dates give calendar features "
                           "already); expected other columns of --csv")
    s = {k: d if getattr(args, k) is None else getattr(args, k) for k, d in table.DEFAULTS[TASK].items()}
    return {**s, "window": args.window}


def _fitted(s: dict, horizon: int, values: Any, time: Any, covariates: Any = None, future: Any = None) -> Any:
    """:class:`rnnx.Forecaster` fitted on ``values`` (n,) (with ``covariates`` (n, K): the
    ``--inputs`` other than the target; ``future`` (n, K_f): the ``--future-inputs`` on the
    history rows), its refusals under this command's flags."""
    from rnnx.interop.forecaster import Forecaster

    f = Forecaster(horizon, transform=s["transform"], difference=s["differencing"], period=s["period"],
                   window=s["window"], cell=s["cell"], hidden=s["hidden"], epochs=s["epochs"],
                   patience=s["early_stopping"], batch_size=s["batch_size"], lr=s["lr"], clip_norm=s["clip_norm"],
                   seed=s["seed"], backend=s["backend"], device=s["device"], dtype=s["dtype"], strategy=s["strategy"], ensemble=s["ensemble"])
    try:
        return f.fit(values, time=time, covariates=covariates, future_covariates=future)
    except ValueError as e:
        name, _, rest = str(e).partition(": ")
        if name in _FLAG_OF:  # the library's name of a setting this command calls otherwise
            raise AppError(f"{_FLAG_OF[name]}: {rest}") from None
        raise


def start_run(args: argparse.Namespace) -> int:
    """``rnnx train --csv F --targets COL [--time-column T] --forecast H``: fit the forecaster,
    then write its run folder; the candidates' validation RMSEs (unless ``--quiet``) and one
    summary line."""
    s = _settings(args)
    out = args.out or os.path.join("runs", os.path.splitext(os.path.basename(args.csv))[0])
    run.check_new(out, overwrite=args.overwrite)
    run.need(quiet=True)
    target = run.target(s["backend"], s["device"], s["dtype"])
    path = os.path.abspath(args.csv)
    column = args.targets[0]
    others = [c for c in (args.inputs or ()) if c != column]  # past-observed covariates
    future = list(args.future_inputs or ())  # future-known covariates
    data = _history(path, column, others, future, args.time_column, s["missing"], args.forecast)
    values, time, cov, fut = data["values"], data["time"], data["covariates"], data["future"]
    ahead = data["ahead"]
    f = _fitted(s, args.forecast, values, time, cov, fut)
    chosen = f.chosen_
    bt = None
    if s["backtest"] is not None:
        bt = _backtest(f, s, values, time, cov, fut)
    unit = args.units[0] if args.units else None
    metrics = {"kind": "rnnx-forecasting-run", "column": column, "unit": unit, "time_column": args.time_column,
               "rows": len(values), "horizon": f.horizon, "period": f.period_, "window": f.window_,
               "validation_origins": f.validation_, "covariates": others, "future_covariates": future,
               "future_rows": 0 if ahead is None else ahead["given"], "search": f.search_,
               "baselines": {k.replace(" ", "_"): v for k, v in f.baselines_.items()},
               "chosen": chosen, "validation_accuracy": f.accuracy_,
               "settings": {**f.get_params(), "levels": list(f.levels)},
               "data": {"kind": "csv", "path": path, "sha256": data["digest"], "bytes": os.path.getsize(path)},
               "target": target.id, "versions": run.versions(target)}
    if bt is not None:
        metrics["backtest"] = {k: bt[k] for k in ("folds", "step", "refit", "origins", "metrics", "by_step",
                                                  "coverage", "chosen")}

    def work(folder: str) -> dict:
        f.save(os.path.join(folder, FORECASTER), overwrite=True)
        atomic.write_text(os.path.join(folder, "metrics.json"), run.json_text(metrics))
        history = {"time": list(time) if time is not None else list(range(len(values))),
                   "levels": values.tolist()}
        rows = None
        if ahead is not None:  # the future inputs on the H dates forecast: what rnnx forecast --model reads
            rows = ahead["values"][:f.horizon]
            atomic.write_text(os.path.join(folder, FUTURE), run.csv_text(
                [args.time_column or "index", *future], ([t, *r] for t, r in zip(ahead["time"], rows.tolist()))))
        got = _write_forecast(os.path.join(folder, "forecast.csv"), f, f.horizon, history, column, args.time_column,
                              rows, unit)
        if bt is not None:
            _write_backtest(folder, bt, column, args.time_column, unit)
        return got

    if not args.quiet:
        for r in f.search_:
            again = f"; mean of {r['runs']} runs {r['score']:.6g}" if r["runs"] > 1 else ""
            print(f"  transform {r['transform']:6s} differencing {r['difference']:8s} {r['strategy']:9s} "
                  f"validation RMSE {r['val_rmse']:.6g}{again} (best epoch {r['best_epoch']})"
                  + (" <- chosen" if r["chosen"] else ""))
    got = run.new_run(out, overwrite=args.overwrite, work=work, undo=FILES)
    base = ", ".join(f"{k} {v:.4g}" for k, v in f.baselines_.items())
    print(f"rnnx train: forecasting {column}: chose transform {chosen['transform']}, differencing "
          f"{chosen['difference']}, {chosen['strategy']} (validation {_accuracy_text(f.accuracy_)}; RMSE of {base}); {f.horizon} steps "
          f"{got['time'][0]} .. {got['time'][-1]}; wrote {out}")
    if bt is not None:
        m = bt["metrics"]
        cover = ", ".join(f"{v:.0%} ({k}% nominal)" for k, v in bt["coverage"].items())
        print(f"rnnx train: forecasting backtest: {_origins(bt)}: RMSE {m['rmse']:.4g}, MASE {_number(m['mase'])}, "
              f"MAE {m['mae']:.4g}; interval coverage {cover}; wrote backtest.csv, backtest.png")
    return 0


def _history(path: str, column: str, others: list[str], future: list[str], time_column: str | None, missing: str,
             h: int) -> dict:
    """The series to fit from ``--csv``: ``values`` (n,), ``time`` (labels or None), ``covariates``
    (n, K) and ``future`` (n, K_f) (None without them), ``digest`` (the file's sha256) and
    ``ahead`` (None without ``--future-inputs``, else the trailing rows: ``time`` their labels,
    positions n, n+1, ... without a time column, ``values`` (k, K_f), ``given`` k)."""
    from rnnx.data import tables

    ahead, last = None, None
    if future:
        scan = _future_rows(path, column, others, future, time_column, missing, h)
        if scan is not None:
            ahead, last = scan
    tab = tables.read_table(path, inputs=[column, *others, *future], targets=[column], time_column=time_column,
                            missing="interpolate" if ahead is not None and missing == "error" else missing,
                            sha256=None if ahead is None else ahead["digest"])
    n = len(tab.values) if last is None else int((tab.rows <= last).sum())  # the rows up to the last target value
    v = tab.values[:n]
    ins = tab.input_index()
    time = None if tab.time is None else tab.time[:n]
    if ahead is not None:
        ahead["time"] = _continued(path, time_column, time, ahead, n)
    return {"values": v[:, tab.target_index()[0]], "time": time,
            "covariates": v[:, ins[1:1 + len(others)]] if others else None,
            "future": v[:, ins[1 + len(others):]] if future else None, "digest": tab.digest, "ahead": ahead}


def _future_rows(path: str, column: str, others: list[str], future: list[str], time_column: str | None,
                 missing: str, h: int) -> tuple[dict, int] | None:
    """``--future-inputs``: the CSV's rows after its last ``column`` value (the future frame) and
    that last row's number; None where the file's header lacks ``column``, an ``others`` column
    (past-observed) or the time column (:func:`rnnx.data.tables.read_table` then says so).  One AppError line naming
    ``--future-inputs`` for: a future input not in the file, fewer than ``h`` trailing rows, a
    trailing row without its date or a future input, an empty ``column`` cell before the last
    value (under ``--missing error``; the other policies fill or drop it).  Under ``--missing
    error`` a missing cell of the history in another used column is the error read_table gives."""
    import hashlib

    import numpy as np

    from rnnx.data import DataError, cell_value, column_index, csv_records, decode, read_bytes
    from rnnx.data.tables import MISSING_CELLS

    raw = read_bytes(path)
    records = csv_records(path, decode(path, raw))
    header = next(records, (1, None))[1]
    names = [c.strip() for c in header or []]
    for c in future:
        if names and c not in names:
            raise AppError(f"--future-inputs: {path!r} has no column {c!r} (columns: {', '.join(names[:20])})")
    tc = None if time_column is None else time_column.strip()
    used = [column, *others, *future, *([tc] if tc is not None else [])]
    if any(c not in names for c in used):
        return None
    at = {c: column_index(path, header, c) for c in used}

    def absent(row: list[str], c: str) -> bool:
        return at[c] >= len(row) or row[at[c]].strip().lower() in MISSING_CELLS

    rows = [(r, row) for r, row in records if row and any(c.strip() for c in row)]
    filled = [i for i, (_, row) in enumerate(rows) if not absent(row, column)]
    if not filled:
        return None  # no value at all: read_table's refusal
    last = filled[-1]
    history, trailing = rows[:last + 1], rows[last + 1:]
    if missing == "error":
        for r, row in history:  # read_table reads the file with "interpolate": the history must be whole
            for c in used:
                if absent(row, c):
                    if c == column:
                        raise AppError(f"--future-inputs: {path!r} row {r}, column {column!r}: missing value before "
                                       f"the last {column} value (row {rows[last][0]}); only the future rows after it "
                                       "may leave it empty; fill it, or pass --missing interpolate or --missing drop")
                    advice = "fill it or pass --missing drop" if c == tc else \
                        "pass --missing interpolate or --missing drop"
                    raise DataError(f"csv: {path!r} row {r}, column {c!r}: missing value; {advice}")
    if len(trailing) < h:
        raise AppError(f"--future-inputs: {path!r} has {len(trailing)} row{'' if len(trailing) == 1 else 's'} after "
                       f"the last {column} value (row {rows[last][0]}); a {h}-step forecast (--forecast {h}) reads "
                       f"{', '.join(future)} on the next {h} dates; expected at least {h} such rows")
    values, labels = [], []
    for r, row in trailing:
        if tc is not None:
            if absent(row, tc):
                raise AppError(f"--future-inputs: {path!r} row {r}, column {tc!r}: missing date in a future row "
                               f"(after the last {column} value, row {rows[last][0]}); expected the next date")
            labels.append(row[at[tc]].strip())
        line = []
        for c in future:
            if absent(row, c):
                raise AppError(f"--future-inputs: {path!r} row {r}, column {c!r}: missing value in a future row "
                               f"(after the last {column} value, row {rows[last][0]}); expected its value known "
                               "for that date")
            try:
                line.append(cell_value(path, r, c, row[at[c]]))
            except DataError as e:
                raise AppError(f"--future-inputs: {str(e).partition(': ')[2]}") from None
        values.append(line)
    return {"values": np.array(values, dtype=np.float64), "labels": labels, "rows": [r for r, _ in trailing],
            "given": len(trailing), "digest": hashlib.sha256(raw).hexdigest()}, rows[last][0]


def _continued(path: str, time_column: str | None, time: Any, ahead: dict, n: int) -> list:
    """The future rows' labels, checked to continue the history's calendar (the dates the forecast
    gets, :meth:`rnnx.data.calendar.Calendar.future`); positions n, n+1, ... without a time column."""
    from rnnx.data.calendar import infer_calendar

    if time_column is None:
        return list(range(n, n + ahead["given"]))
    try:
        cal = infer_calendar(list(time), arg="time")
    except ValueError as e:  # the history's own calendar: the refusal fit would give
        raise AppError(f"--time-column: {str(e).partition(': ')[2]}") from None
    want = cal.future(ahead["given"])
    for i, (got, exp) in enumerate(zip(ahead["labels"], want)):
        if got != exp:
            before = want[i - 1] if i else time[-1]
            raise AppError(f"--future-inputs: {path!r} row {ahead['rows'][i]} is dated {got!r}; expected {exp!r}, the "
                           f"step after {before!r} (the future rows continue the {time_column} column's calendar, "
                           "one row per date)")
    return list(want)


def _apart(folds: int, step: int) -> str:
    """``3 origins 4 steps apart``, ``1 origin``, ``2 origins 1 step apart``."""
    return "1 origin" if folds == 1 else f"{folds} origins {step} step{'s' if step > 1 else ''} apart"


def _origins(bt: dict) -> str:
    """A backtest's origins in words: ``3 origins 4 steps apart (2017Q1 .. 2019Q1), refitted at each origin``."""
    o = bt["origins"]
    if bt["folds"] == 1:
        return f"1 origin ({o[0]}), fitted on the history before it"
    how = "refitted at each origin" if bt["refit"] else "fitted once at the first origin"
    return f"{_apart(bt['folds'], bt['step'])} ({o[0]} .. {o[-1]}), {how}"


def _number(v: float | None, unit: str = "") -> str:
    """``v`` to 4 significant digits (then ``unit``), or ``n/a`` for an undefined metric (None)."""
    return "n/a" if v is None else f"{v:.4g}{unit}"


def _accuracy_text(acc: dict) -> str:
    """``MAE 1.2, RMSE 1.5, MAPE 2.1%, sMAPE 2%, MASE 0.81`` of :attr:`rnnx.Forecaster.accuracy_`."""
    return (f"MAE {_number(acc['mae'])}, RMSE {_number(acc['rmse'])}, MAPE {_number(acc['mape'], '%')}, "
            f"sMAPE {_number(acc['smape'], '%')}, MASE {_number(acc['mase'])}")


def _backtest(f: Any, s: dict, values: Any, time: Any, covariates: Any, future: Any = None) -> dict:
    r"""``--backtest FOLDS``: :meth:`rnnx.Forecaster.backtest` of a fresh copy of ``f`` on the
    series ``values`` (n,), with the origins' positions :math:`o_k = n - H - (F - 1 - k) S`
    (``positions``) and, per horizon step :math:`j = 0 \dots H-1`, the seasonal-naive MAE over the
    same origins (``future``: the ``--future-inputs`` on the history rows, sliced by the library
    as ``values``; ``by_step["seasonal_naive_mae"]``: :math:`\hat y_{o+j} = y_{o - m + (j \bmod m)}`,
    :math:`m` = ``f.period_``; :math:`m = 1`: the naive :math:`y_{o-1}`).  The library's refusals
    in this command's words: a backtest too long for the series names ``--backtest``."""
    import numpy as np

    from rnnx.interop.forecaster import Forecaster

    folds, h = s["backtest"], f.horizon
    step = h if s["backtest_step"] is None else s["backtest_step"]
    refit = not s["backtest_fit_once"]
    n = len(values)
    first = n - h - (folds - 1) * step
    try:
        bt = Forecaster(**f.get_params()).backtest(values, time=time, covariates=covariates, future_covariates=future,
                                                   folds=folds, step=step, refit=refit)
    except ValueError as e:
        name, _, rest = str(e).partition(": ")
        if name == "folds":
            raise AppError(f"--backtest: {rest}; expected fewer folds or a smaller --backtest-step") from None
        if name == "y":  # the fit at the first origin: the history before it is too short
            too_few = (f"--backtest: {_apart(folds, step)} {'leaves' if folds == 1 else 'leave'} {first} observations "
                       f"before the first to fit on, too few ({rest})")
            raise AppError(f"{too_few}; expected fewer folds or a smaller --backtest-step") from None
        if name in _FLAG_OF:
            raise AppError(f"{_FLAG_OF[name]}: {rest}") from None
        raise
    positions = [first + k * step for k in range(folds)]
    y, m = np.asarray(values, dtype=np.float64), f.period_
    snaive = np.stack([y[o - m + np.arange(h) % m] for o in positions])
    err = np.abs(np.asarray(bt["actual"]) - snaive)
    bt["by_step"] = {**bt["by_step"], "seasonal_naive_mae": err.mean(axis=0).tolist()}
    return {**bt, "folds": folds, "step": step, "refit": refit, "positions": positions, "period": m,
            "time": None if time is None else list(time)}


def _write_backtest(folder: str, bt: dict, column: str, time_column: str | None, unit: str | None = None) -> None:
    """backtest.csv (one row per origin and horizon step: the origin's label, the step 1..H, the
    label of the value forecast, the actual value, the forecast and its interval bounds) and
    backtest.png (:func:`rnnx.diagnostics.plots.backtest_steps`) in ``folder``."""
    from rnnx.diagnostics import plots

    time = bt["time"]
    bounds = [k for k in bt if k.startswith(("lower_", "upper_"))]
    rows = []
    for k, o in enumerate(bt["positions"]):
        for j in range(len(bt["forecast"][k])):
            rows.append([bt["origins"][k], j + 1, time[o + j] if time is not None else o + j, bt["actual"][k][j],
                         bt["forecast"][k][j], *(bt[b][k][j] for b in bounds)])
    header = ["origin", "step", time_column or "index", "actual", "forecast", *bounds]
    atomic.write_text(os.path.join(folder, "backtest.csv"), run.csv_text(header, rows))
    by = bt["by_step"]
    plots.backtest_steps(by["mae"], by["rmse"], by["seasonal_naive_mae"], os.path.join(folder, "backtest.png"),
                         f"Backtest errors by horizon step: {_origins(bt)}",
                         ylabel=f"error ({column}, {unit})" if unit else f"error ({column})",
                         reference=f"seasonal naive MAE (m = {bt['period']})" if bt["period"] > 1 else "naive MAE")


def _iso(label: Any) -> Any:
    """A quarter, month or year label as the ISO date it starts on (``1959Q2`` -> ``1959-04-01``),
    so that the plot's axis shows dates; any other label as it is."""
    text = str(label)
    m = re.fullmatch(r"(\d{4})-?Q([1-4])", text)
    if m:
        return f"{m[1]}-{3 * int(m[2]) - 2:02d}-01"
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", text)
    return f"{m[1]}-{m[2] or '01'}-01" if m else text


def _write_forecast(out: str, f: Any, steps: int, history: dict, column: str, time_column: str | None,
                    future: Any = None, unit: str | None = None) -> dict:
    """``out`` (forecast.csv: the time label, the forecast and its interval bounds per step) and
    its plot beside it (the last ``5 W`` values of ``history`` then the forecast and its shaded
    intervals, dates on the axis when the labels are dates, quarters, months or years);
    ``future`` (H, K_f): the future inputs on the H dates after the history (None without)."""
    from rnnx.diagnostics import plots

    got = f.predict(steps, future_covariates=future)
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
                         ylabel=table.with_unit(column, unit))
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
    column, time_column, names, unit = _columns(folder)
    future = None if f.future_covariates_ is None else _stored_future(folder, f, names, time_column)
    out = run.out_file(folder, out, "forecast.csv", overwrite=overwrite, also=(".png",))
    with run.writing_into(folder, out):  # the run folder's lock while writing into it
        return _write_forecast(out, f, steps, f.history_, column, time_column, future, unit)


def _stored_future(folder: str, f: Any, names: list[str], time_column: str | None) -> Any:
    """The future inputs (H, K_f) the run kept in its ``future.csv`` (data: checked, never run;
    one AppError line naming the file): the header ``<time column or index>,<names>``, then one
    row per date forecast, dated as the forecaster continues its calendar (positions without one),
    each a finite number per future input."""
    import numpy as np

    from rnnx.data import DataError, cell_value, csv_records, decode
    from rnnx.io.inputs import NotARegularFile, open_regular

    path = os.path.join(folder, FUTURE)
    h = f.horizon
    if len(names) != len(f.future_covariates_["names"]):
        raise AppError(f"--model: {os.path.join(folder, 'metrics.json')!r}: future_covariates: expected the "
                       f"{len(f.future_covariates_['names'])} future inputs' names the forecaster reads, got {names}")
    try:
        with open_regular(path, nofollow=True) as fh:
            raw = fh.read(1 << 22)
        rows = list(csv_records(path, decode(path, raw)))
    except FileNotFoundError:
        raise AppError(f"--model: {path!r} does not exist; the forecaster reads future inputs ({', '.join(names)}) "
                       "and its run keeps their values there (train it again)") from None
    except NotARegularFile as e:
        raise AppError(f"--model: {path!r} {e.strerror}; expected the run's own CSV file") from None
    except (OSError, DataError) as e:
        raise AppError(f"--model: {path!r}: not the run's future inputs ({str(e)[:80]})") from None
    header = [time_column or "index", *names]
    if not rows or [c.strip() for c in rows[0][1]] != header:
        raise AppError(f"--model: {path!r}: expected the header {','.join(header)}, got "
                       f"{','.join(rows[0][1])[:80] if rows else 'an empty file'}")
    data = [(r, row) for r, row in rows[1:] if row and any(c.strip() for c in row)]
    after = f.history_["time"][-1]  # the last label, or position n - 1 without a time column
    want = list(f.calendar_.future(h)) if f.calendar_ is not None else [str(after + 1 + i) for i in range(h)]
    if len(data) != h:
        raise AppError(f"--model: {path!r}: expected {h} rows (one per date forecast), got {len(data)}")
    out = []
    for (r, row), label in zip(data, want):
        if len(row) != len(header) or row[0].strip() != label:
            raise AppError(f"--model: {path!r} row {r}: expected {len(header)} cells dated {label!r} (the forecast's "
                           f"dates), got {','.join(row)[:80]!r}")
        try:
            out.append([cell_value(path, r, c, v) for c, v in zip(names, row[1:])])
        except DataError as e:
            raise AppError(f"--model: {str(e).partition(': ')[2]}") from None
    return np.array(out, dtype=np.float64)


def _columns(folder: str) -> tuple[str, str | None, list[str], str | None]:
    """The names of the column forecast, of the time column (or None) and of the future inputs
    (``future_covariates``; none for a run written before them), and the column's unit (None
    without ``--units``), that the run recorded in its metrics.json (data: checked, never run)."""
    path = os.path.join(folder, "metrics.json")
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.loads(fh.read(1 << 22))
        names = rec["column"], rec["time_column"]
        future = rec.get("future_covariates", [])
        unit = rec.get("unit")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise AppError(f"--model: {path!r} is not a forecasting run's metrics.json ({type(e).__name__})") from None
    if not isinstance(names[0], str) or not (names[1] is None or isinstance(names[1], str)):
        raise AppError(f"--model: {path!r}: column, time_column: expected column names, got {str(names)[:60]}")
    if not (isinstance(future, list) and all(isinstance(c, str) for c in future)):
        raise AppError(f"--model: {path!r}: future_covariates: expected a list of column names, got {str(future)[:60]}")
    if not (unit is None or (isinstance(unit, str) and len(unit) <= 100)):
        raise AppError(f"--model: {path!r}: unit: expected null or a short text, got {str(unit)[:60]}")
    return (*names, future, unit)
