"""The forecasting yardstick of issue 31: rnnx's `train --csv` + `forecast` against a naive, a
seasonal-naive and statsmodels' SARIMA and ETS fitted on the same data, multi-step from the same
origin, on the original scale.

Protocol, per series: the last ``H`` observations are held out; everything before them is written
as a CSV (``date,value``) that rnnx trains on (its own train/validation/test split inside it) and
that statsmodels fits; each method then forecasts ``H`` steps from the end of that CSV, scored
against the held-out values: RMSE, MAE and MASE (the MAE over the seasonal-naive in-sample MAE of
the fitted part, period ``m``).

    python bench/forecast_baselines.py                       # co2, airline, nile; rnnx with 3 seeds
    python bench/forecast_baselines.py --series airline --seeds 0 --rnnx-flags "--difference"
    python bench/forecast_baselines.py --no-rnnx --json out.json
    python bench/forecast_baselines.py --forecaster --series airline --seeds 0,1,2   # rnnx.Forecaster too
    python bench/forecast_baselines.py --no-rnnx --forecaster --series airline --coverage-folds 20  # + coverage over 20 x H

``--forecaster`` adds ``rnnx.Forecaster(H, seed=S).fit(series, time=dates).predict()`` (the Python
API of issue 31: preprocessing chosen on validation, direct multi-step; see docs/forecasting.md),
with the empirical coverage of its 80% and 95% intervals on the held-out values.

Series (what each is, ``H``, ``m``):
- ``co2``: Mauna Loa CO2 (statsmodels' weekly record averaged to months, gaps interpolated;
  1958-03 .. 2001-12), H = 48, m = 12; SARIMA(0,1,1)(0,1,1)12, ETS additive trend and season.
- ``airline``: monthly airline passengers 1949-1960 (sktime's copy), H = 12, m = 12;
  SARIMA(0,1,1)(0,1,1)12 on log (the forecast's exp: the median), ETS additive trend,
  multiplicative season.
- ``nile``: the Nile's yearly volume 1871-1970 (statsmodels), H = 10, m = 1; ARIMA(1,1,1),
  ETS simple (level only).

Needs ``pip install -e '.[forecast-bench]'`` (statsmodels; sktime for airline).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

SERIES = {"co2": (48, 12), "airline": (12, 12), "nile": (10, 1)}


def load(name: str) -> tuple[list[str], np.ndarray]:
    """(dates as ISO strings, values float64) of a series."""
    if name == "co2":
        import statsmodels.api as sm

        d = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
        return [t.strftime("%Y-%m-%d") for t in d.index], d.to_numpy(dtype=float)
    if name == "airline":
        from sktime.datasets import load_airline

        y = load_airline()
        return [p.strftime("%Y-%m-%d") for p in y.index.to_timestamp()], y.to_numpy(dtype=float)
    if name == "nile":
        import statsmodels.api as sm

        d = sm.datasets.nile.load_pandas().data
        return [f"{int(v)}-01-01" for v in d["year"]], d["volume"].to_numpy(dtype=float)
    raise SystemExit(f"--series: unknown series {name!r}; expected one of {sorted(SERIES)}")


def scores(actual: np.ndarray, forecast: np.ndarray, fitted: np.ndarray, m: int) -> dict:
    """RMSE, MAE and MASE (against the seasonal-naive in-sample MAE of ``fitted``, period m)."""
    e = np.asarray(forecast, dtype=float) - actual
    scale = float(np.mean(np.abs(fitted[m:] - fitted[:-m])))
    mae = float(np.mean(np.abs(e)))
    return {"rmse": float(np.sqrt(np.mean(e**2))), "mae": mae, "mase": mae / scale}


def baselines(name: str, y: np.ndarray, h: int, m: int) -> dict[str, np.ndarray]:
    """Each baseline's ``h``-step forecast from the end of ``y``."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    out = {"naive": np.full(h, y[-1])}
    if m > 1:
        out["seasonal naive"] = np.array([y[len(y) - m + (i % m)] for i in range(h)])
    if name == "airline":
        fit = SARIMAX(np.log(y), order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=False)
        out["SARIMA(0,1,1)(0,1,1)12 log"] = np.exp(fit.forecast(h))
        ets = ExponentialSmoothing(y, trend="add", seasonal="mul", seasonal_periods=12).fit()
    elif name == "co2":
        fit = SARIMAX(y, order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=False)
        out["SARIMA(0,1,1)(0,1,1)12"] = fit.forecast(h)
        ets = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=12).fit()
    else:
        fit = SARIMAX(y, order=(1, 1, 1)).fit(disp=False)
        out["ARIMA(1,1,1)"] = fit.forecast(h)
        ets = ExponentialSmoothing(y).fit()
    out["ETS"] = ets.forecast(h)
    return out


def rnnx_forecast(csv: str, h: int, seed: int, flags: list[str], work: str) -> tuple[np.ndarray, float]:
    """``rnnx train --csv CSV --targets value --time-column date --seed S FLAGS`` then
    ``rnnx forecast --steps h``: the forecast and the training seconds."""
    out = os.path.join(work, f"run-{seed}")
    cmd = [sys.executable, "-m", "rnnx", "train", "--csv", csv, "--targets", "value", "--time-column", "date",
           "--seed", str(seed), "--out", out, "--quiet", "--overwrite", *flags]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)}\n{p.stderr.strip()}")
    seconds = time.perf_counter() - t0
    fc = os.path.join(work, f"forecast-{seed}.csv")
    p = subprocess.run([sys.executable, "-m", "rnnx", "forecast", "--model", out, "--steps", str(h), "--out", fc,
                        "--overwrite"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"rnnx forecast --model {out}: {p.stderr.strip()}")
    with open(fc) as f:
        rows = f.read().splitlines()[1:]
    return np.array([float(r.split(",")[-1]) for r in rows]), seconds


def forecaster(dates: list[str], fitted: np.ndarray, h: int, seed: int) -> tuple[dict, dict]:
    """``rnnx.Forecaster(h, seed=seed)`` on ``fitted``: its forecast with intervals and what it chose."""
    import rnnx

    f = rnnx.Forecaster(h, seed=seed).fit(fitted, time=dates)
    pre = f.preprocessing_
    return f.predict(), {"transform": pre.transform.kind, "lags": list(pre.differencing.lags), "window": f.window_,
                         "search": f.search_}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", default=",".join(SERIES), help="comma-separated: " + ", ".join(SERIES))
    ap.add_argument("--seeds", default="0,1,2", help="rnnx seeds (default 0,1,2)")
    ap.add_argument("--rnnx-flags", default="", help="more `rnnx train` flags, one string (default: none: the data flags only)")
    ap.add_argument("--no-rnnx", action="store_true", help="no `rnnx train --csv` runs")
    ap.add_argument("--forecaster", action="store_true", help="rnnx.Forecaster with each seed too")
    ap.add_argument("--coverage-folds", type=int, default=0, metavar="K",
                    help="with --forecaster: also a fit-once rolling backtest of K origins, 1 step apart, ending at "
                         "the held-out part's origin (Forecaster.backtest(refit=False): intervals recalibrated on "
                         "the errors already observed), for the intervals' coverage over K x H values")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    results = {}
    for name in a.series.split(","):
        if name not in SERIES:
            raise SystemExit(f"--series: unknown series {name!r}; expected one of {sorted(SERIES)}")
        h, m = SERIES[name]
        dates, y = load(name)
        fitted, held = y[:-h], y[-h:]
        rows = {k: scores(held, f, fitted, m) for k, f in baselines(name, fitted, h, m).items()}
        if not a.no_rnnx:
            with tempfile.TemporaryDirectory(prefix=f"rnnx-fc-{name}-") as work:
                csv = os.path.join(work, f"{name}.csv")
                with open(csv, "w") as f:
                    f.write("date,value\n" + "".join(f"{d},{float(v)!r}\n" for d, v in zip(dates[:-h], fitted)))
                runs = []
                for s in (int(v) for v in a.seeds.split(",")):
                    fc, sec = rnnx_forecast(csv, h, s, shlex.split(a.rnnx_flags), work)
                    runs.append({**scores(held, fc, fitted, m), "seed": s, "seconds": sec})
                key = "rnnx" + (f" {a.rnnx_flags}" if a.rnnx_flags else "")
                rows[key] = {k: float(np.mean([r[k] for r in runs])) for k in ("rmse", "mae", "mase")}
                rows[key]["runs"] = runs
        if a.forecaster:
            runs = []
            for s in (int(v) for v in a.seeds.split(",")):
                t0 = time.perf_counter()
                out, chose = forecaster(dates[:-h], fitted, h, s)
                fc = np.array(out["forecast"])
                cover = {lv: float(np.mean((held >= np.array(out[f"lower_{lv}"])) & (held <= np.array(out[f"upper_{lv}"]))))
                         for lv in ("80", "95")}
                runs.append({**scores(held, fc, fitted, m), "seed": s, "seconds": time.perf_counter() - t0,
                             "coverage": cover, **chose})
            rows["rnnx.Forecaster"] = {k: float(np.mean([r[k] for r in runs])) for k in ("rmse", "mae", "mase")}
            rows["rnnx.Forecaster"]["runs"] = runs
            if a.coverage_folds:
                import rnnx

                for r in runs:  # the last fold is the held-out part's origin, from a fit K - 1 steps earlier
                    bt = rnnx.Forecaster(h, seed=r["seed"]).backtest(y, time=dates, folds=a.coverage_folds, step=1,
                                                                     refit=False)
                    r["backtest"] = {"folds": a.coverage_folds, "coverage": bt["coverage"], **bt["metrics"]}
        best = min((v["rmse"] for k, v in rows.items() if k.startswith(("SARIMA", "ARIMA", "ETS"))), default=math.nan)
        results[name] = {"h": h, "m": m, "n_fitted": len(fitted), "methods": rows, "best_statsmodels_rmse": best}
        print(f"\n{name}: {len(fitted)} observations fitted, {h} steps held out, m = {m}")
        print(f"  {'method':40s} {'RMSE':>9s} {'MAE':>9s} {'MASE':>7s} {'RMSE / best sm':>15s}")
        for k, v in rows.items():
            print(f"  {k:40s} {v['rmse']:9.3f} {v['mae']:9.3f} {v['mase']:7.3f} {v['rmse'] / best:15.2f}")
        for r in rows.get("rnnx.Forecaster", {}).get("runs", []):
            print(f"    Forecaster seed {r['seed']}: RMSE {r['rmse']:.3f}, chose {r['transform']} with lags {r['lags']}, "
                  f"window {r['window']}; test coverage 80% {r['coverage']['80']:.2f}, 95% {r['coverage']['95']:.2f}; "
                  f"{r['seconds']:.0f} s")
            if "backtest" in r:
                b = r["backtest"]
                print(f"      backtest, {b['folds']} origins 1 step apart fitted once: RMSE {b['rmse']:.3f}; coverage "
                      f"80% {b['coverage']['80']:.3f}, 95% {b['coverage']['95']:.3f} over {b['folds'] * h} values")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
