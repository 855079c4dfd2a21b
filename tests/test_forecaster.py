"""rnnx.Forecaster (issue 31 item 7): fit a series (array, labels, pandas), the preprocessing
chosen on validation, dated forecasts with nested conformal intervals, refusals in one line.
Small models and few epochs: the wiring is tested here, the accuracy in bench/forecast_baselines.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnnx
from rnnx.data.transforms import Preprocessing

FAST = dict(hidden=4, epochs=3, patience=2, batch_size=16)


def quarterly(n: int = 80, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """A positive series with a trend and a season of 4, labelled 2000Q1, 2000Q2, ..."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 50 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.5, n)
    return y, [f"{2000 + i // 4}Q{i % 4 + 1}" for i in range(n)]


def test_a_dated_series_gets_dated_forecasts_nested_intervals_and_the_best_candidate():
    y, labels = quarterly()
    f = rnnx.Forecaster(4, **FAST).fit(y, time=labels)
    out = f.predict()
    assert out["time"] == ["2020Q1", "2020Q2", "2020Q3", "2020Q4"]
    assert f.period_ == 4 and f.window_ == 10
    assert [(s["transform"], s["difference"]) for s in f.search_] == [
        (t, d) for t in ("none", "log", "boxcox") for d in ("none", "first", "seasonal", "both")]
    best = min(f.search_, key=lambda s: s["val_rmse"])
    assert (f.preprocessing_.transform.kind, f.preprocessing_.differencing.lags) == (
        best["transform"], {"none": (), "first": (1,), "seasonal": (4,), "both": (1, 4)}[best["difference"]])
    assert f.residuals_.shape == (20, 4)
    assert math.isclose(best["val_rmse"], float(np.sqrt(np.mean(f.residuals_ ** 2))))
    lo95, lo80, fc, hi80, hi95 = (np.array(out[k]) for k in ("lower_95", "lower_80", "forecast", "upper_80", "upper_95"))
    assert np.all(lo95 <= lo80) and np.all(lo80 < fc) and np.all(fc < hi80) and np.all(hi80 <= hi95)
    assert set(f.baselines_) == {"naive", "seasonal naive"}
    assert f.predict(2)["forecast"] == out["forecast"][:2]


def test_the_same_seed_gives_the_same_forecast_bit_for_bit():
    y, labels = quarterly(60)
    kw = dict(FAST, transform="log", difference="first")
    a = rnnx.Forecaster(3, **kw).fit(y, time=labels).predict()
    b = rnnx.Forecaster(3, **kw).fit(y, time=labels).predict()
    assert a == b
    c = rnnx.Forecaster(3, **kw, seed=1).fit(y, time=labels).predict()
    assert c["forecast"] != a["forecast"]


def test_the_forecast_is_the_models_output_inverted_through_the_chosen_preprocessing():
    """predict() = T^-1(D^-1(z_hat sigma + mu)) of the refitted model's output on the last window."""
    y, labels = quarterly(70)
    f = rnnx.Forecaster(4, **FAST, transform="log", difference="seasonal").fit(y, time=labels)
    pre = f.preprocessing_
    z = pre.forward(y)
    feats = f.calendar_.features(labels)[pre.differencing.order:]
    x = np.concatenate([z[:, None], feats], axis=1)[None, -f.window_:]
    zhat = np.asarray(rnnx.predict(f.model_, f.params_, x))[0]
    assert np.array_equal(np.array(f.predict()["forecast"]), pre.inverse(zhat, y))
    assert isinstance(pre, Preprocessing) and pre.differencing.lags == (4,)


def test_without_labels_the_positions_continue_and_no_season_is_assumed():
    y, _ = quarterly(60)
    f = rnnx.Forecaster(3, **FAST, transform="none").fit(list(y))
    assert f.period_ == 1 and f.calendar_ is None
    assert [s["difference"] for s in f.search_] == ["none", "first"]
    assert f.predict()["time"] == [60, 61, 62]
    g = rnnx.Forecaster(3, **FAST, transform="none", difference="seasonal", period=4).fit(y)
    assert g.search_[0]["difference"] == "seasonal" and g.period_ == 4


def test_a_series_with_values_at_or_below_zero_is_not_log_transformed():
    y, labels = quarterly(60)
    f = rnnx.Forecaster(3, **FAST, difference="first").fit(y - 60, time=labels)
    assert [s["transform"] for s in f.search_] == ["none"]


def test_pandas_series_come_back_as_frames_indexed_by_the_next_dates():
    pd = pytest.importorskip("pandas")
    y, _ = quarterly(60)
    s = pd.Series(y, index=pd.period_range("1990Q1", periods=60, freq="Q"))
    out = rnnx.Forecaster(2, **FAST, transform="none", difference="first").fit(s).predict()
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["forecast", "lower_80", "upper_80", "lower_95",
                                                                  "upper_95"]
    assert list(out.index) == list(pd.period_range("2005Q1", periods=2, freq="Q"))
    monthly = pd.Series(y, index=pd.date_range("2001-01-01", periods=60, freq="MS"))
    f = rnnx.Forecaster(2, **FAST, transform="none", difference="first").fit(monthly)
    assert f.period_ == 12
    assert list(f.predict().index) == list(pd.to_datetime(["2006-01-01", "2006-02-01"]))


@pytest.mark.parametrize("kwargs, fit, match", [
    (dict(horizon=0), {}, r"^horizon: expected an int >= 1, got 0$"),
    (dict(horizon=3, transform="sqrt"), {}, r"^transform: expected 'auto' or one of none, log, boxcox, got 'sqrt'$"),
    (dict(horizon=3, difference="seasonal"), dict(time="none"), r"^difference: 'seasonal' needs a seasonal period >= 2; got period 1"),
    (dict(horizon=3, validation=10), {}, r"^validation: 10 origins give no finite 0.95 interval; expected at least 19"),
    (dict(horizon=3, levels=(0.8, 95)), {}, r"^levels: expected a tuple of coverages in \(0, 1\)"),
    (dict(horizon=3, dtype="float16"), {}, r"^dtype: expected 'float32' or 'float64', got 'float16'$"),
    (dict(horizon=3), dict(y="nan"), r"^y: position 7 is nan; expected finite numbers"),
    (dict(horizon=3), dict(y="2d"), r"^y: expected one series of numbers \(n,\), got shape \(60, 2\)"),
    (dict(horizon=3), dict(y="short", time="none"), r"^y: 30 observations are too few for horizon 3, window 10 and 20 validation"),
    (dict(horizon=3), dict(time="short"), r"^time: 59 labels for 60 observations; expected one per observation$"),
    (dict(horizon=3), dict(time="gap"), r"^time: "),
])
def test_bad_settings_and_data_are_refused_in_one_line(kwargs, fit, match):
    y, labels = quarterly(60)
    y = {"nan": np.where(np.arange(60) == 7, np.nan, y), "2d": np.stack([y, y], 1), "short": y[:30]}.get(fit.get("y"), y)
    labels = {"short": labels[:-1], "gap": labels[:10] + labels[11:] + ["2099Q1"], "none": None}.get(
        fit.get("time"), labels)
    with pytest.raises(ValueError, match=match) as e:
        rnnx.Forecaster(**{**FAST, **kwargs}).fit(y, time=labels)
    assert "\n" not in str(e.value)


def test_predict_before_fit_or_beyond_the_horizon_is_refused():
    with pytest.raises(RuntimeError, match="not fitted yet"):
        rnnx.Forecaster(3).predict()
    y, labels = quarterly(60)
    f = rnnx.Forecaster(3, **FAST, transform="none", difference="first").fit(y, time=labels)
    with pytest.raises(ValueError, match=r"^horizon: 4 steps from a model fitted for 3; expected <= 3"):
        f.predict(4)


def test_a_backtest_forecasts_from_each_origin_and_its_last_fold_is_fit_then_predict():
    y, labels = quarterly(70)
    kw = dict(FAST, transform="none", difference="first")
    f = rnnx.Forecaster(4, **kw)
    bt = f.backtest(y, time=labels, folds=2, step=3)
    assert bt["origins"] == [labels[63], labels[66]]
    assert np.array(bt["forecast"]).shape == (2, 4) and np.array(bt["actual"]).tolist() == [
        y[63:67].tolist(), y[66:70].tolist()]
    last = rnnx.Forecaster(4, **kw).fit(y[:66], time=labels[:66]).predict()
    assert bt["forecast"][1] == last["forecast"] and bt["upper_95"][1] == last["upper_95"]
    err = np.array(bt["actual"]) - np.array(bt["forecast"])
    assert np.allclose(bt["by_step"]["rmse"], np.sqrt(np.mean(err ** 2, axis=0)))
    assert set(bt["coverage"]) == {"80", "95"} and all(0 <= v <= 1 for v in bt["coverage"].values())
    assert [c["origin"] for c in bt["chosen"]] == [63, 66] and not hasattr(f, "params_")  # f itself stays unfitted
    once = f.backtest(y, time=labels, folds=2, step=3, refit=False)
    assert len(once["chosen"]) == 1 and once["forecast"][0] == bt["forecast"][0]
    with pytest.raises(ValueError, match=r"^folds: 30 origins 3 steps apart, each forecasting 4, need more than 91"):
        f.backtest(y, time=labels, folds=30, step=3)
