"""Issue 31's multivariate yardstick: ``rnnx.Forecaster`` with and without the other columns as
past-observed covariates against a naive, a seasonal-naive, SARIMA and ETS forecast, on
rolling origins of one series.

Protocol, per series: ``folds`` origins ``step`` apart at the end of the series, each forecasting
the next ``H`` values; every method is fitted ONCE on the values before the first origin and
forecasts from each origin with the history up to it (statsmodels: the fitted parameters applied
to the longer history, ``results.apply``; rnnx: ``Forecaster.backtest(refit=False)``, the same as
``rnnx train ... --forecast H --backtest FOLDS --backtest-step S --no-backtest-refit``).  Scores over
all folds x H values on the original scale: RMSE, MAE, MASE (rnnx.data.accuracy; MASE scaled by
the seasonal-naive in-sample MAE of the fitted part) and the 80% / 95% intervals' coverage.

statsmodels' models are chosen as an analyst would without seeing the test part: SARIMA's
differencing ``d`` by the KPSS test (5%), ``(p, q)`` in 0..2 by AIC, then a seasonal ``(1, 0, 1)_m``
part kept if it lowers the AIC; ETS (state space, additive) with no trend, a trend or a damped
trend by AIC.  So that no one reads a chosen model as a weak one, every SARIMA of the grid is
also scored on the test part, and the best of them in hindsight is printed too (no analyst could
have picked it in advance: the bar rnnx is held to).

    python bench/forecast_multivariate.py                         # seattle, seeds 0,1,2
    python bench/forecast_multivariate.py --series macro-unemp --seeds 0 --json out.json

Series:
- ``seattle``: Seattle's daily weather 2012-2015 (vega_datasets' bundled copy): temp_max, the
  covariates temp_min, precipitation, wind; H = 7, 52 weekly origins (the last year), m = 7.
- ``seattle-next-day``: the same, H = 1 (the next day's temp_max, seed004's question), 364 daily
  origins (the last year).
- ``macro-unemp`` / ``macro-realgdp``: statsmodels' US macrodata 1959Q1-2009Q3: the target and
  the other eleven columns as covariates; H = 4, 40 quarterly origins one apart, m = 4.

Needs ``pip install -e '.[forecast-bench]'`` (statsmodels, vega_datasets).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings

import numpy as np

MACRO = ["realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop", "infl",
         "realint"]
SERIES = {"seattle": {"h": 7, "folds": 52, "step": 7, "target": "temp_max",
                      "covariates": ["temp_min", "precipitation", "wind"]},
          "seattle-next-day": {"h": 1, "folds": 364, "step": 1, "target": "temp_max",
                               "covariates": ["temp_min", "precipitation", "wind"]},
          "macro-unemp": {"h": 4, "folds": 40, "step": 1, "target": "unemp"},
          "macro-realgdp": {"h": 4, "folds": 40, "step": 1, "target": "realgdp"}}


def load(name: str) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """(time labels, target (n,), covariates (n, K), covariate names) of a series."""
    spec = SERIES[name]
    if name.startswith("seattle"):
        try:
            from vega_datasets import data
        except ImportError:
            raise SystemExit("seattle needs vega_datasets: pip install -e '.[forecast-bench]'") from None
        d = data.seattle_weather()
        labels = [t.strftime("%Y-%m-%d") for t in d["date"]]
    else:
        import statsmodels.api as sm

        d = sm.datasets.macrodata.load_pandas().data
        labels = [f"{int(a)}Q{int(b)}" for a, b in zip(d["year"], d["quarter"])]
    names = spec.get("covariates") or [c for c in MACRO if c != spec["target"]]
    return labels, d[spec["target"]].to_numpy(float), d[names].to_numpy(float), names


def rolling(fit_once, y: np.ndarray, origins: list[int], h: int) -> np.ndarray:
    """(folds, h): ``fit_once`` (fitted on y[:origins[0]]) forecasting h steps from each origin."""
    return np.stack([np.asarray(fit_once(y[:o]), dtype=float)[:h] for o in origins])


def statsmodels_rows(y: np.ndarray, origins: list[int], h: int, m: int) -> dict[str, dict]:
    """Each statsmodels model's rolling forecasts and how it was chosen."""
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    from statsmodels.tsa.stattools import kpss

    train = y[:origins[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = int(kpss(train, regression="c", nlags="auto")[1] < 0.05)
        grid = {}
        for p, dd, q in itertools.product(range(3), range(2), range(3)):
            res = SARIMAX(train, order=(p, dd, q), trend="c" if dd == 0 else "n").fit(disp=False)
            grid[(p, dd, q)] = (res.aic, rolling(lambda v, r=res: r.apply(v).forecast(h), y, origins, h))
        order = min((k for k in grid if k[1] == d), key=lambda k: grid[k][0])
        aic, fc = grid[order]
        name = f"SARIMA{order}"
        if m > 1:
            res = SARIMAX(train, order=order, seasonal_order=(1, 0, 1, m), trend="c" if d == 0 else "n").fit(disp=False)
            if res.aic < aic:
                name, fc = f"SARIMA{order}(1,0,1){m}", rolling(lambda v: res.apply(v).forecast(h), y, origins, h)
        out = {f"{name} (KPSS d, AIC)": {"forecast": fc}}
        ets = {}
        for label, kw in (("none", {"trend": False}), ("trend", {"trend": True}),
                          ("damped", {"trend": True, "damped_trend": True})):
            res = ExponentialSmoothing(train, **kw).fit(disp=False)
            ets[label] = (res.aic, res)
        label = min(ets, key=lambda k: ets[k][0])
        out[f"ETS {label} (AIC)"] = {"forecast": rolling(lambda v: ets[label][1].apply(v).forecast(h), y, origins, h)}
    act = np.stack([y[o:o + h] for o in origins])
    hind = min(grid, key=lambda k: float(np.sqrt(np.mean((grid[k][1] - act) ** 2))))
    out[f"SARIMA{hind} (best of the grid on the test, hindsight)"] = {"forecast": grid[hind][1], "hindsight": True}
    return out


def main(argv: list[str] | None = None) -> int:
    import rnnx
    from rnnx.data.accuracy import accuracy
    from rnnx.data.calendar import infer_calendar

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", default="seattle", help="comma-separated: " + ", ".join(SERIES) + " (default seattle)")
    ap.add_argument("--seeds", default="0,1,2", help="rnnx seeds (default 0,1,2); empty: the baselines only")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    results = {}
    for name in a.series.split(","):
        if name not in SERIES:
            raise SystemExit(f"--series: unknown series {name!r}; expected one of {', '.join(SERIES)}")
        spec = SERIES[name]
        labels, y, cov, names = load(name)
        h, folds, step = spec["h"], spec["folds"], spec["step"]
        origins = [len(y) - h - (folds - 1 - k) * step for k in range(folds)]
        m = infer_calendar(labels).period
        act = np.stack([y[o:o + h] for o in origins])
        rows = {"naive": {"forecast": np.stack([np.full(h, y[o - 1]) for o in origins])},
                "seasonal naive": {"forecast": np.stack([y[o - m + np.arange(h) % m] for o in origins])}}
        rows.update(statsmodels_rows(y, origins, h, m))
        for label, c in (("rnnx.Forecaster", None), ("rnnx.Forecaster + covariates", cov)):
            runs = []
            for s in (int(v) for v in a.seeds.split(",") if v):
                t0 = time.perf_counter()
                bt = rnnx.Forecaster(h, seed=s).backtest(y, time=labels, covariates=c, folds=folds, step=step,
                                                         refit=False)
                runs.append({"seed": s, "forecast": np.array(bt["forecast"]), "coverage": bt["coverage"],
                             "chosen": bt["chosen"], "seconds": time.perf_counter() - t0})
            if runs:
                rows[label] = {"runs": runs}
        train = y[:origins[0]]
        for v in rows.values():
            for r in v.get("runs", [v]):
                r.update(accuracy(act, r.pop("forecast"), train, m))
            if "runs" in v:
                v.update({k: float(np.mean([r[k] for r in v["runs"]])) for k in ("rmse", "mae", "mase")})
        fair = min(v["rmse"] for k, v in rows.items() if k.startswith(("SARIMA", "ETS")) and not v.get("hindsight"))
        best = min(v["rmse"] for k, v in rows.items() if k.startswith(("SARIMA", "ETS")))
        results[name] = {"h": h, "m": m, "folds": folds, "step": step, "n_fitted": origins[0], "covariates": names,
                         "methods": rows, "best_chosen_statsmodels_rmse": fair, "best_statsmodels_rmse": best}
        print(f"\n{name}: {spec['target']}, {origins[0]} values fitted, {folds} origins {step} apart x {h} steps, m = {m}; "
              f"covariates {', '.join(names)}")
        print(f"  {'method':58s} {'RMSE':>8s} {'MAE':>8s} {'MASE':>6s} {'/ chosen sm':>11s} {'/ best sm':>9s}")
        for k, v in rows.items():
            print(f"  {k:58s} {v['rmse']:8.4f} {v['mae']:8.4f} {v['mase']:6.3f} {v['rmse'] / fair:11.3f} "
                  f"{v['rmse'] / best:9.3f}")
            for r in v.get("runs", []):
                print(f"    seed {r['seed']}: RMSE {r['rmse']:.4f}, coverage 80% {r['coverage']['80']:.2f}, 95% "
                      f"{r['coverage']['95']:.2f}; chose {r['chosen'][0]['transform']} lags {r['chosen'][0]['lags']}; "
                      f"{r['seconds']:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
