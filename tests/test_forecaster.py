"""rnnx.Forecaster (issue 31 item 7): fit a series (array, labels, pandas), the preprocessing
chosen on validation, dated forecasts with nested conformal intervals, refusals in one line.
Small models and few epochs: the wiring is tested here, the accuracy in bench/forecast_baselines.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnnx
from rnnx.data.transforms import Preprocessing

FAST = dict(hidden=4, epochs=3, patience=2, batch_size=16, ensemble=1)


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
    grid = [(t, d) for t in ("none", "log", "boxcox") for d in ("none", "first", "seasonal", "both")]
    assert [(s["transform"], s["difference"], s["strategy"]) for s in f.search_[:12]] == [(*c, "direct") for c in grid]
    top = min(f.search_[:12], key=lambda s: s["val_rmse"])  # then the recursive model on the best preprocessing
    assert len(f.search_) == 13 and f.search_[12]["strategy"] == "recursive" and (
        f.search_[12]["transform"], f.search_[12]["difference"]) == (top["transform"], top["difference"])
    best = min(f.search_, key=lambda s: s["val_rmse"])
    assert f.strategy_ == best["strategy"]
    assert (f.preprocessing_.transform.kind, f.preprocessing_.differencing.lags) == (
        best["transform"], {"none": (), "first": (1,), "seasonal": (4,), "both": (1, 4)}[best["difference"]])
    assert f.residuals_.shape == (20, 4)
    assert math.isclose(best["val_rmse"], float(np.sqrt(np.mean(f.residuals_ ** 2))))
    lo95, lo80, fc, hi80, hi95 = (np.array(out[k]) for k in ("lower_95", "lower_80", "forecast", "upper_80", "upper_95"))
    assert np.all(lo95 <= lo80) and np.all(lo80 < fc) and np.all(fc < hi80) and np.all(hi80 <= hi95)
    assert set(f.baselines_) == {"naive", "seasonal naive"}
    assert f.predict(2)["forecast"] == out["forecast"][:2]
    from rnnx.data.accuracy import accuracy  # the chosen candidate's validation forecasts, scored

    actual = np.stack([y[o:o + 4] for o in range(80 - 23, 80 - 3)])
    assert f.accuracy_ == accuracy(actual, actual - f.residuals_, y[:80 - 23], 4)
    assert math.isclose(f.accuracy_["rmse"], best["val_rmse"])


def test_the_three_best_candidates_are_scored_again_by_the_mean_forecast_of_two_runs():
    """ensemble >= 2: the three lowest one-run validation RMSEs are finalists, each run again with seed
    s + 1; its score is the RMSE of the two runs' mean forecast (each run as a one-candidate fit of
    that preprocessing with that seed), the lowest score is chosen, its residuals are that mean's and
    the members train for the runs' mean best epoch."""
    y, labels = quarterly(70)
    kw = dict(FAST, epochs=6, patience=3, transform="none", strategy="direct")
    f = rnnx.Forecaster(4, **{**kw, "ensemble": 2}, seed=3).fit(y, time=labels)
    rows = f.search_
    assert [r["difference"] for r in rows] == ["none", "first", "seasonal", "both"]
    finalists = sorted(rows, key=lambda r: r["val_rmse"])[:3]
    assert [r["runs"] for r in rows] == [2 if r in finalists else 1 for r in rows]
    for r in rows:
        one = [rnnx.Forecaster(4, **{**kw, "difference": r["difference"]}, seed=s).fit(y, time=labels)
               for s in ((3, 4) if r["runs"] == 2 else (3,))]
        assert r["val_rmse"] == one[0].search_[0]["val_rmse"]
        mean = np.mean([g.residuals_ for g in one], axis=0)
        assert r["score"] == pytest.approx(float(np.sqrt(np.mean(mean ** 2))), rel=1e-12)
        assert r["best_epoch"] == max(1, round(np.mean([g.search_[0]["best_epoch"] for g in one])))
        if r["chosen"]:
            np.testing.assert_allclose(f.residuals_, mean, rtol=1e-12)
    assert sum(r["chosen"] for r in rows) == 1 and f.chosen_ == min(finalists, key=lambda r: r["score"])
    assert rnnx.Forecaster(4, **kw).fit(y, time=labels).search_[0]["runs"] == 1  # ensemble=1: one run each


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
    f = rnnx.Forecaster(4, **FAST, transform="log", difference="seasonal", strategy="direct").fit(y, time=labels)
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
    assert [s["difference"] for s in f.search_ if s["strategy"] == "direct"] == ["none", "first"]
    assert f.predict()["time"] == [60, 61, 62]
    g = rnnx.Forecaster(3, **FAST, transform="none", difference="seasonal", period=4).fit(y)
    assert g.search_[0]["difference"] == "seasonal" and g.period_ == 4


def test_a_series_with_values_at_or_below_zero_is_not_log_transformed():
    y, labels = quarterly(60)
    f = rnnx.Forecaster(3, **FAST, difference="first").fit(y - 60, time=labels)
    assert [s["transform"] for s in f.search_ if s["strategy"] == "direct"] == ["none"]


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


def test_a_fit_once_backtest_calibrates_later_intervals_on_the_errors_already_observed():
    """Origins 63 and 66, H 4, fitted once on y[:63]: at origin 66 the first fold's steps 0-2 (y[63:66])
    are observed, step 3 (y[66]) is not; each step's half-width is the k-th smallest |score| of the
    latest N_v scores (the validation residuals in origin order, then those errors), k = ceil((N_v + 1)
    level)."""
    y, labels = quarterly(70)
    kw = dict(FAST, transform="none", difference="first")
    once = rnnx.Forecaster(4, **kw).backtest(y, time=labels, folds=2, step=3, refit=False)
    f = rnnx.Forecaster(4, **kw).fit(y[:63], time=labels[:63])
    err0 = np.array(once["actual"][0]) - np.array(once["forecast"][0])
    for level in ("80", "95"):
        half = np.array(once["upper_" + level]) - np.array(once["forecast"])
        first = np.sort(np.abs(f.residuals_), axis=0)[int(np.ceil((len(f.residuals_) + 1) * int(level) / 100)) - 1]
        np.testing.assert_allclose(half[0], first, rtol=1e-12)  # the first origin: validation residuals only
        for i in range(4):
            scores = np.abs(np.concatenate([f.residuals_[:, i], err0[i:i + 1] if i < 3 else []]))[-len(f.residuals_):]
            k = int(np.ceil((len(scores) + 1) * int(level) / 100))
            assert half[1][i] == pytest.approx(np.sort(scores)[k - 1], rel=1e-12), (level, i)


# -- the file: Forecaster.save / Forecaster.load, pickle -----------------------------------------------
def _fitted(n: int = 60, **kw):
    y, labels = quarterly(n)
    return rnnx.Forecaster(3, **{**FAST, "transform": "log", "difference": "both", **kw}).fit(y, time=labels)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_saved_forecaster_loads_back_and_predicts_the_same_bit_for_bit(tmp_path, dtype):
    f = _fitted(dtype=dtype)
    path = str(tmp_path / "f.npz")
    f.save(path)
    g = rnnx.Forecaster.load(path)
    assert g.predict() == f.predict() and g.predict(2) == f.predict(2)
    assert g.get_params() == f.get_params() and g.search_ == f.search_ and g.baselines_ == f.baselines_
    assert g.accuracy_ == f.accuracy_
    assert np.array_equal(g.residuals_, f.residuals_) and g.calendar_ == f.calendar_ and g.preprocessing_ == f.preprocessing_
    assert {k: np.asarray(v).dtype for k, v in g.params_.items()} == {k: np.dtype(dtype) for k in f.params_}
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        f.save(path)
    f.save(path, overwrite=True)
    unlabelled = rnnx.Forecaster(3, **FAST, transform="none", difference="first").fit(quarterly(60)[0])
    unlabelled.save(str(tmp_path / "u.npz"))
    assert rnnx.Forecaster.load(str(tmp_path / "u.npz")).predict() == unlabelled.predict()  # positions 60, 61, 62


def test_save_replaces_a_link_rather_than_writing_through_it(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    link = tmp_path / "f.npz"
    link.symlink_to(target)
    f = _fitted()
    with pytest.raises(FileExistsError):
        f.save(str(link))
    f.save(str(link), overwrite=True)
    assert target.read_text() == "keep me" and not link.is_symlink()
    with pytest.raises(RuntimeError, match="not fitted yet"):
        rnnx.Forecaster(3).save(str(tmp_path / "g.npz"))


def test_a_pandas_fitted_forecaster_loads_back_as_frames(tmp_path):
    pd = pytest.importorskip("pandas")
    y, _ = quarterly(60)
    for index in (pd.period_range("1990Q1", periods=60, freq="Q"), pd.date_range("2001-01-01", periods=60, freq="MS")):
        f = rnnx.Forecaster(2, **FAST, transform="none", difference="first").fit(pd.Series(y, index=index))
        f.save(str(tmp_path / "p.npz"), overwrite=True)
        a, b = f.predict(), rnnx.Forecaster.load(str(tmp_path / "p.npz")).predict()
        assert isinstance(b, pd.DataFrame)
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_fitted_forecaster_pickles(tmp_path):
    import pickle

    f = _fitted()
    g = pickle.loads(pickle.dumps(f))
    assert g.predict() == f.predict()
    joblib = pytest.importorskip("joblib")
    joblib.dump(f, tmp_path / "f.joblib")
    assert joblib.load(tmp_path / "f.joblib").predict() == f.predict()


def _rewrite(path, change):
    """The file at ``path`` with its meta record changed by ``change(meta)`` (arrays kept)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as z:
        arrays = {n[:-4]: np.load(z.open(n)) for n in z.namelist()}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.asarray(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, match", [
    (lambda m: m["forecaster"].pop("residuals"), r"forecaster: expected the fields settings, .* got \["),
    (lambda m: m["forecaster"]["settings"].update(horizon=0), r"forecaster\.settings\.horizon: expected an int >= 1, got 0"),
    (lambda m: m["forecaster"]["settings"].update(colour="red"), r"forecaster\.settings: expected the settings horizon"),
    (lambda m: m["forecaster"]["settings"].update(lr="fast"), r"forecaster\.settings\.lr: expected a finite number > 0, got 'fast'$"),
    (lambda m: m["forecaster"]["settings"].update(seed=0.5), r"forecaster\.settings\.seed: expected an int, got 0\.5$"),
    (lambda m: m["forecaster"].update(preprocessing={"transform": "x"}), r"forecaster\.preprocessing: state: expected"),
    (lambda m: m["forecaster"].update(window=1), r"forecaster\.window: expected an int >= 2, got 1"),
    (lambda m: m["forecaster"].update(n=3), r"forecaster\.n: expected an int >= 15"),
    (lambda m: m["forecaster"]["residuals"].pop(), r"forecaster\.residuals: expected 20 rows"),
    (lambda m: m["forecaster"]["residuals"][3].__setitem__(1, "nan"), r"forecaster\.residuals\[3\]: expected a list of 3 finite"),
    (lambda m: m["forecaster"]["levels"].pop(), r"forecaster\.levels: expected a list of 15 finite numbers"),
    (lambda m: m["forecaster"]["labels"].__setitem__(2, "2013Q4"), r"forecaster\.labels: expected time labels in the calendar's quarter"),
    (lambda m: m["forecaster"]["labels"].__setitem__(2, "tomorrow"), r"forecaster\.labels: expected time labels"),
    (lambda m: m["forecaster"]["calendar"].update(frequency="fortnightly"), r"forecaster\.calendar: expected \{frequency"),
    (lambda m: m["forecaster"]["calendar"].update(last="2019-13-01T00:00:00"), r"forecaster\.calendar: expected"),
    (lambda m: m["forecaster"].update(index="period:Q; import os"), r"forecaster\.index: expected null, 'datetime' or"),
    (lambda m: m["forecaster"]["search"][0].update(transform="sqrt"), r"forecaster\.search: expected a list of"),
    (lambda m: m["forecaster"]["baselines"].update(naive=None), r"forecaster\.baselines\.naive: expected a finite number, got None"),
    (lambda m: m["forecaster"]["accuracy"].update(mase="1"), r"forecaster\.accuracy: expected \{mae, rmse, mape, smape, mase\}"),
    (lambda m: m["forecaster"]["settings"].update(horizon=4), r"forecaster\.residuals\[0\]: expected a list of 4 finite"),
    (lambda m: m.update(kind="rnnx-model", model=m["model"]) or m.pop("forecaster"), r"holds a 'rnnx-model', expected an 'rnnx-forecaster'"),
])
def test_a_damaged_forecaster_file_is_refused_in_one_line_naming_the_field(tmp_path, change, match):
    path = str(tmp_path / "f.npz")
    _fitted().save(path)
    _rewrite(path, change)
    with pytest.raises(ValueError, match=match) as e:
        rnnx.Forecaster.load(path)
    assert "\n" not in str(e.value) and repr(path) in str(e.value)


def test_covariates_are_read_beside_the_series_scaled_on_the_fitted_part(tmp_path):
    pd = pytest.importorskip("pandas")
    y, labels = quarterly(70)
    rng = np.random.default_rng(1)
    cov = pd.DataFrame({"lead": np.r_[y[1:], y[-1]] + rng.normal(0, 1, 70), "noise": rng.normal(5, 2, 70)})
    kw = dict(FAST, transform="none", difference="first")
    f = rnnx.Forecaster(4, **kw).fit(y, time=labels, covariates=cov)
    assert f.covariates_["names"] == ["lead", "noise"]
    cut = 70 - (4 + 20 - 1)
    assert np.allclose(f.covariates_["mean"], cov.to_numpy()[:cut].mean(axis=0))
    assert f.model_.layer.input_size == 1 + 2 + 2  # z, sin/cos of the quarter, two covariates
    pre = f.preprocessing_
    scaled = (cov.to_numpy() - f.covariates_["mean"]) / f.covariates_["std"]
    steps = np.concatenate([pre.forward(y)[:, None], f.calendar_.features(labels)[1:], scaled[1:]], axis=1)
    zhat = np.asarray(rnnx.predict(f.model_, f.params_, steps[None, -f.window_:]))[0]
    assert np.array_equal(np.array(f.predict()["forecast"]), pre.inverse(zhat, y))
    f.save(str(tmp_path / "f.npz"))
    assert rnnx.Forecaster.load(str(tmp_path / "f.npz")).predict() == f.predict()
    bt = rnnx.Forecaster(4, **kw).backtest(y, time=labels, covariates=cov, folds=2, step=2)
    last = rnnx.Forecaster(4, **kw).fit(y[:66], time=labels[:66], covariates=cov[:66]).predict()
    assert bt["forecast"][1] == last["forecast"]
    without = rnnx.Forecaster(4, **kw).fit(y, time=labels).predict()
    assert without["forecast"] != f.predict()["forecast"]


@pytest.mark.parametrize("cov, match", [
    (np.zeros((59, 1)), r"^covariates: expected numbers of shape \(60, K\), one row per observation, got shape \(59, 1\)"),
    (np.where(np.arange(60)[:, None] == 9, np.nan, np.ones((60, 2))), r"^covariates: row 9 column 0 is nan; expected finite"),
    (np.array([["a"]] * 60), r"^covariates: expected numbers of shape \(60, K\)"),
])
def test_bad_covariates_are_refused_in_one_line(cov, match):
    y, labels = quarterly(60)
    with pytest.raises(ValueError, match=match):
        rnnx.Forecaster(3, **FAST).fit(y, time=labels, covariates=cov)


# -- strategies: direct (H outputs) or recursive (one output applied H times) ------------------------------
def _by_hand(f, y, labels, h):
    """The recursive forecast computed here: the one-step model applied ``h`` times, each time the
    window dropping its oldest step and taking the forecast z with the next date's calendar features."""
    pre = f.preprocessing_
    z = pre.forward(y)
    x = np.concatenate([z[:, None], f.calendar_.features(labels)[pre.differencing.order:]], axis=1)[None, -f.window_:]
    ahead = f.calendar_.features(f.calendar_.future(h))
    zs = []
    for j in range(h):
        p = float(np.asarray(rnnx.predict(f.model_, f.params_, x))[0, 0])
        zs.append(p)
        x = np.concatenate([x[:, 1:], np.r_[p, ahead[j]][None, None]], axis=1)
    return pre.inverse(np.array(zs), y)


def test_a_recursive_forecast_applies_the_one_step_model_h_times():
    y, labels = quarterly(70)
    kw = dict(FAST, transform="log", difference="seasonal", strategy="recursive")
    f = rnnx.Forecaster(4, **kw).fit(y, time=labels)
    assert f.strategy_ == "recursive" and f.model_.output_size == 1 and f.model_.layer.input_size == 3
    assert [(s["transform"], s["difference"], s["strategy"]) for s in f.search_] == [("log", "seasonal", "recursive")]
    assert f.residuals_.shape == (20, 4) and math.isclose(f.search_[0]["val_rmse"], float(np.sqrt(np.mean(f.residuals_ ** 2))))
    out = f.predict()
    assert np.array_equal(np.array(out["forecast"]), _by_hand(f, y, labels, 4))
    assert f.predict(2)["forecast"] == out["forecast"][:2] and out["time"] == ["2017Q3", "2017Q4", "2018Q1", "2018Q2"]
    direct = rnnx.Forecaster(4, **{**kw, "strategy": "direct"}).fit(y, time=labels)
    assert direct.model_.output_size == 4 and direct.predict()["forecast"] != out["forecast"]
    bt = rnnx.Forecaster(4, **kw).backtest(y, time=labels, folds=2, step=3)
    assert bt["forecast"][1] == rnnx.Forecaster(4, **kw).fit(y[:66], time=labels[:66]).predict()["forecast"]
    assert [c["strategy"] for c in bt["chosen"]] == ["recursive", "recursive"]
    plain = rnnx.Forecaster(3, **FAST, transform="none", difference="first", strategy="recursive").fit(y)
    assert plain.calendar_ is None and plain.model_.layer.input_size == 1 and len(plain.predict()["forecast"]) == 3


def test_auto_adds_one_recursive_model_on_the_best_preprocessing_and_keeps_the_better():
    y, labels = quarterly(70)
    kept = set()
    for difference, n in (("auto", 4), ("none", 1)):  # here recursive wins the first, direct the second
        f = rnnx.Forecaster(4, **FAST, transform="none", difference=difference, strategy="auto").fit(y, time=labels)
        direct, rec = f.search_[:-1], f.search_[-1]
        assert [s["strategy"] for s in direct] == ["direct"] * n and rec["strategy"] == "recursive"
        top = min(direct, key=lambda s: s["val_rmse"])
        assert (rec["transform"], rec["difference"]) == (top["transform"], top["difference"])
        best = min(f.search_, key=lambda s: s["val_rmse"])
        assert f.strategy_ == best["strategy"] and f.model_.output_size == (1 if best is rec else 4)
        assert math.isclose(best["val_rmse"], float(np.sqrt(np.mean(f.residuals_ ** 2))))
        assert math.isclose(f.accuracy_["rmse"], best["val_rmse"])
        kept.add(f.strategy_)
    assert kept == {"direct", "recursive"}
    cov = np.random.default_rng(1).normal(size=(70, 1))  # past-observed covariates: auto means direct
    g = rnnx.Forecaster(4, **FAST, transform="none", difference="first", strategy="auto").fit(y, time=labels, covariates=cov)
    assert [s["strategy"] for s in g.search_] == ["direct"] and g.strategy_ == "direct"


def test_strategy_refusals_in_one_line():
    y, labels = quarterly(60)
    with pytest.raises(ValueError, match=r"^strategy: expected 'auto' or one of direct, recursive, got 'sideways'$"):
        rnnx.Forecaster(3, **FAST, strategy="sideways").fit(y, time=labels)
    with pytest.raises(ValueError, match=r"^strategy: 'recursive' feeds its own forecasts back and past-observed "
                                         r"covariates have no future values; expected 'direct' or 'auto'") as e:
        rnnx.Forecaster(3, **FAST, strategy="recursive").fit(y, time=labels, covariates=np.ones((60, 1)))
    assert "\n" not in str(e.value)
    f = rnnx.Forecaster(3, **FAST, transform="none", difference="first", strategy="recursive").fit(y, time=labels)
    with pytest.raises(ValueError, match=r"^horizon: 4 steps from a model fitted for 3; expected <= 3 \(the conformal "
                                         r"intervals are calibrated on 3 steps, for either strategy"):
        f.predict(4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_saved_recursive_forecaster_loads_back_and_predicts_the_same_bit_for_bit(tmp_path, dtype):
    f = _fitted(dtype=dtype, strategy="recursive")
    path = str(tmp_path / "r.npz")
    f.save(path)
    g = rnnx.Forecaster.load(path)
    assert g.strategy_ == "recursive" and g.get_params() == f.get_params() and g.search_ == f.search_
    assert g.predict() == f.predict() and g.predict(2) == f.predict(2)


def test_a_file_written_before_the_strategies_loads_as_direct(tmp_path):
    path = str(tmp_path / "f.npz")
    f = _fitted(strategy="direct")
    f.save(path)

    def old(m):
        st = m["forecaster"]
        del st["strategy"], st["settings"]["strategy"]
        for r in st["search"]:
            del r["strategy"]

    _rewrite(path, old)
    g = rnnx.Forecaster.load(path)
    assert g.strategy == g.strategy_ == "direct" and g.search_ == f.search_ and g.predict() == f.predict()


@pytest.mark.parametrize("change, match", [
    (lambda m: m["forecaster"].update(strategy="sideways"), r"forecaster\.strategy: expected one of direct, recursive"),
    (lambda m: m["forecaster"].update(strategy="direct") or m["forecaster"]["settings"].update(strategy="direct")
     or [r.update(strategy="direct") for r in m["forecaster"]["search"]],
     r"model: 3 inputs and 1 outputs; expected 3 and 3 \(horizon\)$"),
    (lambda m: m["forecaster"].update(strategy="direct") or m["forecaster"]["settings"].update(strategy="direct"),
     r"forecaster\.search: expected its chosen row's strategy to be the file's strategy 'direct', got \{"),
    (lambda m: m["forecaster"]["search"][0].update(chosen=not m["forecaster"]["search"][0]["chosen"]),
     r"forecaster\.search: expected a list of \{transform, difference, strategy, val_rmse, best_epoch, runs, score, "
     r"chosen\} rows, one of them chosen"),
    (lambda m: m["forecaster"]["settings"].update(strategy="direct"),
     r"forecaster\.strategy: expected one of direct, recursive that settings\.strategy 'direct' allows"),
    (lambda m: m["forecaster"]["settings"].update(strategy="upward"), r"forecaster\.settings\.strategy: expected 'auto'"),
    (lambda m: m["forecaster"]["search"][0].update(strategy="both"), r"forecaster\.search: expected a list of"),
])
def test_a_damaged_recursive_forecaster_file_is_refused_in_one_line(tmp_path, change, match):
    path = str(tmp_path / "r.npz")
    _fitted(strategy="recursive").save(path)
    _rewrite(path, change)
    with pytest.raises(ValueError, match=match) as e:
        rnnx.Forecaster.load(path)
    assert "\n" not in str(e.value) and repr(path) in str(e.value)


# -- future-known covariates: values known for the forecast dates too ----------------------------------
def _promoted(n: int = 70):
    """The quarterly series plus 8 on the rows of a known-ahead 0/1 promotion column."""
    y, labels = quarterly(n)
    promo = (np.random.default_rng(3).random(n + 8) < 0.3).astype(float)
    return y + 8 * promo[:n], labels, promo[:, None]


def test_future_covariates_direct_windows_end_with_the_h_rows_forecast(tmp_path):
    y, labels, promo = _promoted()
    kw = dict(FAST, transform="none", difference="first")
    f = rnnx.Forecaster(4, **kw).fit(y, time=labels, future_covariates=promo[:70])
    assert f.strategy_ == "direct" and f.future_covariates_["names"] == ["x0"]
    assert f.model_.layer.input_size == 1 + 1 + 2 + 1  # z, the future flag, sin/cos of the quarter, promo
    fs = f.future_covariates_
    assert np.allclose(fs["mean"], promo[:70 - 23].mean(axis=0))
    pre = f.preprocessing_
    cal = f.calendar_.features(labels + list(f.calendar_.future(4)))
    xs = (promo[:74] - fs["mean"]) / fs["std"]
    z = pre.forward(y)
    past = np.concatenate([z[:, None], np.zeros((69, 1)), cal[1:70], xs[1:70]], axis=1)[-f.window_:]
    ahead = np.concatenate([np.zeros((4, 1)), np.ones((4, 1)), cal[70:], xs[70:]], axis=1)
    zhat = np.asarray(rnnx.predict(f.model_, f.params_, np.concatenate([past, ahead])[None]))[0]
    out = f.predict(future_covariates=promo[70:74])
    assert np.array_equal(np.array(out["forecast"]), pre.inverse(zhat, y))
    assert f.predict(2, future_covariates=promo[70:74])["forecast"] == out["forecast"][:2]
    assert f.predict(future_covariates=1 - promo[70:74])["forecast"] != out["forecast"]
    f.save(str(tmp_path / "f.npz"))
    g = rnnx.Forecaster.load(str(tmp_path / "f.npz"))
    assert g.future_covariates_ == f.future_covariates_ and g.predict(future_covariates=promo[70:74]) == out
    bt = rnnx.Forecaster(4, **kw).backtest(y, time=labels, future_covariates=promo[:70], folds=2, step=3)
    last = rnnx.Forecaster(4, **kw).fit(y[:66], time=labels[:66], future_covariates=promo[:66])
    assert bt["forecast"][1] == last.predict(future_covariates=promo[66:70])["forecast"]


def test_future_covariates_recursive_each_row_carries_its_dates_values(tmp_path):
    y, labels, promo = _promoted()
    kw = dict(FAST, transform="none", difference="first", strategy="recursive")
    f = rnnx.Forecaster(4, **kw).fit(y, time=labels, future_covariates=promo[:70])
    assert f.strategy_ == "recursive" and f.model_.output_size == 1 and f.model_.layer.input_size == 5
    pre, fs = f.preprocessing_, f.future_covariates_
    cal = f.calendar_.features(labels + list(f.calendar_.future(4)))
    rows = np.concatenate([cal, (promo[:74] - fs["mean"]) / fs["std"]], axis=1)  # every row's features
    z = pre.forward(y)
    x = np.concatenate([np.concatenate([z[:, None], np.zeros((69, 1)), rows[1:70]], axis=1)[-f.window_:],
                        np.r_[0.0, 1.0, rows[70]][None]])  # the window, then the row forecast (flag 1)
    zs = []
    for j in range(4):
        p = float(np.asarray(rnnx.predict(f.model_, f.params_, x[None]))[0, 0])
        zs.append(p)
        if j < 3:
            x = np.concatenate([x[1:-1], np.r_[p, 0.0, rows[70 + j]][None], np.r_[0.0, 1.0, rows[71 + j]][None]])
    out = f.predict(future_covariates=promo[70:74])
    assert np.array_equal(np.array(out["forecast"]), pre.inverse(np.array(zs), y))
    assert f.predict(2, future_covariates=promo[70:72])["forecast"] == out["forecast"][:2]  # h rows do for h steps
    f.save(str(tmp_path / "r.npz"))
    assert rnnx.Forecaster.load(str(tmp_path / "r.npz")).predict(future_covariates=promo[70:74]) == out
    auto = rnnx.Forecaster(4, **{**kw, "strategy": "auto"}).fit(y, time=labels, future_covariates=promo[:70])
    assert [s["strategy"] for s in auto.search_] == ["direct", "recursive"]


def test_future_covariates_refusals_in_one_line():
    y, labels, promo = _promoted(60)
    kw = dict(FAST, transform="none", difference="first")
    with pytest.raises(ValueError, match=r"^future_covariates: expected numbers of shape \(60, K\), one row per "
                                         r"observation, got shape \(59, 1\)"):
        rnnx.Forecaster(3, **kw).fit(y, time=labels, future_covariates=promo[:59])
    f = rnnx.Forecaster(3, **kw).fit(y, time=labels, future_covariates=promo[:60])
    cases = [
        ({}, (r"^future_covariates: expected 3 rows of x0, the values on the next dates \(a direct model reads all 3 "
              r"future steps\), got None$")),
        ({"h": 2, "future_covariates": promo[60:62]}, r"^future_covariates: expected 3 rows of x0, .* got shape \(2, 1\)$"),
        ({"future_covariates": np.ones((3, 2))}, r"^future_covariates: expected the columns x0 \(as fitted\), got x0, x1$"),
        ({"future_covariates": np.full((3, 1), np.nan)}, r"^future_covariates: row 0 column 0 is nan; expected finite"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match) as e:
            f.predict(call.pop("h", None), **call)
        assert "\n" not in str(e.value)
    r = rnnx.Forecaster(3, **kw, strategy="recursive").fit(y, time=labels, future_covariates=promo[:60])
    with pytest.raises(ValueError, match=r"^future_covariates: expected 2 to 3 rows of x0, .*\(one per step\), got "
                                         r"shape \(1, 1\)$"):
        r.predict(2, future_covariates=promo[60:61])
    plain = rnnx.Forecaster(3, **kw).fit(y, time=labels)
    with pytest.raises(ValueError, match=r"^future_covariates: this Forecaster was fitted without future covariates; "
                                         r"expected None$"):
        plain.predict(future_covariates=promo[60:63])


@pytest.mark.parametrize("change, match", [
    (lambda m: m["forecaster"]["future_covariates"].update(std=[0.0]), r"forecaster\.future_covariates\.std: expected numbers > 0"),
    (lambda m: m["forecaster"]["future_covariates"]["tail"].pop(), r"forecaster\.future_covariates: expected \{names, mean, std, tail\}"),
    (lambda m: m["forecaster"].update(future_covariates=None), r"model: 5 inputs and 3 outputs; expected 3 and 3 \(horizon\)$"),
    (lambda m: m["forecaster"]["future_covariates"].update(names=[], mean=[], std=[], tail=[[]] * 15),
     r"forecaster\.future_covariates: expected null or at least one column"),
])
def test_a_damaged_future_covariates_record_is_refused_in_one_line(tmp_path, change, match):
    y, labels, promo = _promoted(60)
    path = str(tmp_path / "f.npz")
    rnnx.Forecaster(3, **FAST, transform="log", difference="both").fit(y, time=labels, future_covariates=promo[:60]).save(path)
    _rewrite(path, change)
    with pytest.raises(ValueError, match=match) as e:
        rnnx.Forecaster.load(path)
    assert "\n" not in str(e.value) and repr(path) in str(e.value)


# -- ensemble= ---------------------------------------------------------------------------------------
def test_an_ensemble_forecasts_the_mean_of_its_members_refitted_with_consecutive_seeds(tmp_path):
    """ensemble=k: the chosen candidate refitted with seeds s, s+1, ...; the forecast is
    T^-1(D^-1(mean_i z_hat_i)); member 0 is the single model's fit (ensemble=1) bit for bit."""
    y, labels = quarterly(60)
    kw = dict(FAST, transform="log", difference="first", strategy="direct")
    one = rnnx.Forecaster(3, **kw).fit(y, time=labels)
    f = rnnx.Forecaster(3, **{**kw, "ensemble": 3}).fit(y, time=labels)
    assert len(f.members_) == 3 and f.params_ is f.members_[0]
    assert all(np.array_equal(np.asarray(f.params_[k]), np.asarray(one.params_[k])) for k in one.params_)
    assert not np.array_equal(np.asarray(f.members_[1]["weight_hh_l0"]), np.asarray(f.members_[0]["weight_hh_l0"]))
    pre = f.preprocessing_
    z = pre.forward(y)
    x = np.concatenate([z[:, None], f.calendar_.features(labels)[pre.differencing.order:]], axis=1)[None, -f.window_:]
    zbar = np.mean([np.asarray(rnnx.predict(f.model_, p, x))[0] for p in f.members_], axis=0)
    assert np.allclose(f.predict()["forecast"], pre.inverse(zbar, y), rtol=1e-12)
    assert f.predict()["forecast"] != one.predict()["forecast"]
    path = str(tmp_path / "e.npz")
    f.save(path)
    g = rnnx.Forecaster.load(path)
    assert g.ensemble == 3 and len(g.members_) == 3 and g.predict() == f.predict()
    _rewrite(path, lambda m: m["forecaster"]["settings"].update(ensemble=2))  # a member more than it says
    with pytest.raises(ValueError, match=r"unexpected array 'member2/"):
        rnnx.Forecaster.load(path)
    _rewrite(path, lambda m: m["forecaster"]["settings"].update(ensemble=4))  # a member fewer
    with pytest.raises(ValueError, match=r"member3"):
        rnnx.Forecaster.load(path)
    _rewrite(path, lambda m: m["forecaster"]["settings"].update(ensemble="3"))
    with pytest.raises(ValueError, match=r"settings\.ensemble: expected an int from 1 to 1000, got '3'"):
        rnnx.Forecaster.load(path)
    with pytest.raises(ValueError, match=r"^ensemble: expected an int >= 1, got 0$"):
        rnnx.Forecaster(3, ensemble=0).fit(y, time=labels)
    assert rnnx.Forecaster(3).ensemble == 5  # the default


def test_the_default_validation_part_grows_with_the_series_and_is_kept_on_load(tmp_path):
    """validation=None: max(20, min(100, n // 10 - H + 1)) origins; the file keeps them (residuals rows)."""
    short = rnnx.Forecaster(2, **FAST, transform="none", difference="first").fit(quarterly(120)[0])
    assert short.validation is None and short.validation_ == 20 and short.residuals_.shape == (20, 2)
    y, labels = quarterly(300)
    f = rnnx.Forecaster(2, **FAST, transform="none", difference="first").fit(y, time=labels)
    assert f.validation_ == 29 and f.residuals_.shape == (29, 2)
    assert rnnx.Forecaster(12, **FAST, transform="none", difference="first").fit(
        y, time=labels).validation_ == 20  # 30 - 12 + 1 = 19 origins: 20
    assert rnnx.Forecaster(2, **FAST, transform="none", difference="first", validation=25).fit(
        y, time=labels).residuals_.shape == (25, 2)
    path = str(tmp_path / "f.npz")
    f.save(path)
    assert rnnx.Forecaster.load(path).validation_ == 29
    _rewrite(path, lambda m: m["forecaster"].update(n=250))  # 24 origins for 250 observations, not 29
    with pytest.raises(ValueError, match=r"forecaster\.residuals: expected 24 rows"):
        rnnx.Forecaster.load(path)
