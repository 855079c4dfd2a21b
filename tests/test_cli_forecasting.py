"""``rnnx train --csv F --targets COL --time-column T --forecast H`` and ``rnnx forecast`` on such a
run (issue 31): the run folder's files, the dates continued, nested intervals, refusals in one
line.  Tiny models (--epochs 3 --hidden 4) on an 80-row quarterly CSV: the wiring is tested here."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

import rnnx
from rnnx.cli import main

pytest.importorskip("matplotlib")
TINY = ["--epochs", "3", "--hidden", "4", "--quiet"]


@pytest.fixture
def quarterly(tmp_path, monkeypatch):
    """An 80-row CSV (quarter, sales): a trend and a season of 4, 2000Q1 .. 2019Q4."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    t = np.arange(80)
    y = 50 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.5, 80)
    (tmp_path / "q.csv").write_text("quarter,sales\n" + "".join(
        f"{2000 + i // 4}Q{i % 4 + 1},{float(v)!r}\n" for i, v in enumerate(y)))
    return tmp_path


def _rows(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _train(*extra: str) -> int:
    return main(["train", "--csv", "q.csv", "--targets", "sales", "--time-column", "quarter", "--forecast", "4",
                 *TINY, "--out", "run", *extra])


def test_a_forecasting_run_writes_its_files_dates_continued_and_nested_intervals(quarterly, capsys):
    assert _train() == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("rnnx train: forecasting sales: chose transform ")
    assert "4 steps 2020Q1 .. 2020Q4; wrote run" in out[0]
    run = quarterly / "run"
    assert sorted(p.name for p in run.iterdir()) == ["forecast.csv", "forecast.png", "forecaster.npz", "metrics.json"]
    rows = _rows(run / "forecast.csv")
    assert rows[0] == ["quarter", "forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert [r[0] for r in rows[1:]] == ["2020Q1", "2020Q2", "2020Q3", "2020Q4"]
    v = np.array([[float(x) for x in r[1:]] for r in rows[1:]])
    fc, lo80, hi80, lo95, hi95 = v.T
    assert np.all(lo95 <= lo80) and np.all(lo80 < fc) and np.all(fc < hi80) and np.all(hi80 <= hi95)
    m = json.loads((run / "metrics.json").read_text())
    assert [r["strategy"] for r in m["search"]] == ["direct"] * 12 + ["recursive"]  # --strategy auto
    assert set(m["baselines"]) == {"naive", "seasonal_naive"}
    finalists = sorted(m["search"][:12], key=lambda r: r["val_rmse"])[:3] + m["search"][12:]
    assert [r["runs"] for r in m["search"]] == [2 if r in finalists else 1 for r in m["search"]]  # ensemble 5
    assert m["chosen"] == min(finalists, key=lambda r: r["score"]) and m["chosen"]["chosen"]
    assert m["period"] == 4 and m["horizon"] == 4 and m["unit"] is None
    f = rnnx.Forecaster.load(str(run / "forecaster.npz"))
    assert f.predict()["forecast"] == fc.tolist()  # the CSV holds the saved forecaster's forecast, exactly


def test_units_name_the_forecast_and_backtest_axes_and_rnnx_forecast_keeps_it(quarterly, capsys):
    from rnnx.diagnostics import plots

    drawn = {}
    real = plots.save
    plots.save = lambda plt, fig, path, **kw: (drawn.__setitem__(os.path.basename(path), [a.get_ylabel() for a in fig.axes]),
                                              real(plt, fig, path, **kw))
    try:
        assert _train("--units", "kEUR", "--ensemble", "1", "--backtest", "2", "--backtest-fit-once") == 0
        assert json.loads((quarterly / "run" / "metrics.json").read_text())["unit"] == "kEUR"
        assert drawn == {"forecast.png": ["sales (kEUR)"], "backtest.png": ["error (sales, kEUR)"]}
        assert main(["forecast", "--model", "run", "--out", "again.csv"]) == 0
        assert drawn["again.png"] == ["sales (kEUR)"]
    finally:
        plots.save = real
    capsys.readouterr()
    assert _train("--units", "kEUR,m", "--out", "other") == 2
    assert capsys.readouterr().err == ("rnnx train: error: --units: 2 units (kEUR,m) for 1 target (sales); expected "
                                       "one per --targets column\n")


def test_rnnx_forecast_on_the_run_equals_the_trains_forecast(quarterly, capsys):
    assert _train() == 0
    trained = (quarterly / "run" / "forecast.csv").read_text()
    assert main(["forecast", "--model", "run", "--out", "again.csv"]) == 0
    assert (quarterly / "again.csv").read_text() == trained and (quarterly / "again.png").stat().st_size > 0
    assert main(["forecast", "--model", "run"]) == 0  # its own forecast.csv, replaced by the same
    assert (quarterly / "run" / "forecast.csv").read_text() == trained
    assert main(["forecast", "--model", "run", "--steps", "2", "--out", "two.csv"]) == 0
    assert (quarterly / "two.csv").read_text().splitlines() == trained.splitlines()[:3]
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["time"] == ["2020Q1", "2020Q2"]


@pytest.mark.parametrize("argv, start", [
    (["--forecast", "4", "--csv", "q.csv"], "--targets: --forecast forecasts one column of --csv; got none"),
    (["--forecast", "4", "--csv", "q.csv", "--targets", "sales,quarter"], "--targets: --forecast forecasts one column"),
    (["--forecast", "4"], "--forecast: needs --csv FILE and --targets COLUMN"),
    (["--forecast", "0", "--csv", "q.csv", "--targets", "sales"], "--forecast: expected a positive number of steps, got 0"),
    (["--forecast", "4", "--csv", "q.csv", "--targets", "sales", "--layers", "2"],
     "--layers: does not apply to a forecasting run (--forecast); drop it"),
    (["--forecast", "4", "--csv", "q.csv", "--targets", "sales", "--hidden", "0"], "--hidden: expected a positive int, got 0"),
    (["--forecast", "4", "--csv", "q.csv", "--targets", "sales", "--differencing", "seasonal"],
     "--differencing: 'seasonal' needs a seasonal period >= 2"),
    (["--forecast", "50", "--csv", "q.csv", "--targets", "sales"], "--targets: 80 observations are too few for horizon 50"),
    (["--forecast", "4", "--csv", "q.csv", "--targets", "sales", "--time-column", "day"], "--time-column: "),
    (["--transform", "log", "--csv", "q.csv", "--targets", "sales"], "--transform: does not apply to a series run"),
])
def test_bad_forecasting_runs_are_refused_in_one_line_and_write_nothing(quarterly, capsys, argv, start):
    assert main(["train", *TINY, *argv, "--out", "run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"rnnx train: error: {start}"), err
    assert not (quarterly / "run").exists()


def test_resume_and_bad_forecast_requests_are_refused_in_one_line(quarterly, capsys):
    assert _train() == 0
    capsys.readouterr()
    for argv, start in [(["train", "--resume", "run"], "rnnx train: error: --resume: 'run' holds a forecasting run "
                                                       "(--forecast), which cannot be resumed yet"),
                        (["forecast", "--model", "run", "--steps", "5"], "rnnx forecast: error: --steps: expected 1 to 4"),
                        (["forecast", "--model", "run", "--csv", "q.csv"], "rnnx forecast: error: --csv: a forecasting "
                                                                          "run forecasts from the end of its own series"),
                        (["forecast", "--model", "run", "--out", "run/forecaster.npz"], "rnnx forecast: error: --out: "),
                        (["predict", "--model", "run"], "rnnx predict: error: --model: 'run' holds a forecasting run "
                                                        "(forecaster.npz), which predicts only its future")]:
        before = {p.name: p.read_bytes() for p in (quarterly / "run").iterdir()}
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith(start), err
        assert {p.name: p.read_bytes() for p in (quarterly / "run").iterdir()} == before
    (quarterly / "run" / "forecaster.npz").rename(quarterly / "elsewhere.npz")
    (quarterly / "run" / "forecaster.npz").symlink_to(quarterly / "elsewhere.npz")  # rnnx never writes a link there
    assert main(["forecast", "--model", "run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("rnnx forecast: error: --model: ") and "link" in err, err
    (quarterly / "run" / "forecaster.npz").unlink()
    (quarterly / "run" / "forecaster.npz").write_bytes(b"PK\x03\x04 not a zip")
    assert main(["forecast", "--model", "run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("rnnx forecast: error: --model: ") and "forecaster.npz" in err, err


def test_inputs_other_than_the_target_are_the_forecasters_covariates(quarterly, capsys):
    rows = (quarterly / "q.csv").read_text().splitlines()
    lead = [float(r.split(",")[1]) for r in rows[2:]] + [0.0]
    (quarterly / "q2.csv").write_text("quarter,sales,lead\n" + "".join(
        f"{r},{v!r}\n" for r, v in zip(rows[1:], lead)))
    argv = ["train", "--csv", "q2.csv", "--targets", "sales", "--time-column", "quarter", "--forecast", "4", *TINY,
            "--transform", "none", "--differencing", "first"]
    assert main([*argv, "--inputs", "lead,sales", "--out", "run"]) == 0
    m = json.loads((quarterly / "run" / "metrics.json").read_text())
    assert m["covariates"] == ["lead"]
    f = rnnx.Forecaster.load(str(quarterly / "run" / "forecaster.npz"))
    assert f.covariates_["names"] == ["x0"] and f.model_.layer.input_size == 1 + 2 + 1
    assert main(["forecast", "--model", "run", "--out", "again.csv"]) == 0
    assert (quarterly / "again.csv").read_text() == (quarterly / "run" / "forecast.csv").read_text()
    assert main([*argv, "--out", "alone"]) == 0  # without --inputs: the series alone, another forecast
    assert json.loads((quarterly / "alone" / "metrics.json").read_text())["covariates"] == []
    assert (quarterly / "alone" / "forecast.csv").read_text() != (quarterly / "run" / "forecast.csv").read_text()
    capsys.readouterr()
    assert main([*argv, "--inputs", "nope", "--out", "bad"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nope" in err and not (quarterly / "bad").exists()


def _line(acc: dict) -> str:
    """The summary's words for a forecaster's accuracy_ (n/a for an undefined metric)."""
    def g(k: str, unit: str = "") -> str:
        return "n/a" if acc[k] is None else f"{acc[k]:.4g}{unit}"

    return f"MAE {g('mae')}, RMSE {g('rmse')}, MAPE {g('mape', '%')}, sMAPE {g('smape', '%')}, MASE {g('mase')}"


def test_the_validation_accuracy_is_in_metrics_json_and_the_summary_line(quarterly, capsys):
    assert _train() == 0
    line = capsys.readouterr().out.strip()
    m = json.loads((quarterly / "run" / "metrics.json").read_text())
    acc = rnnx.Forecaster.load(str(quarterly / "run" / "forecaster.npz")).accuracy_
    assert m["validation_accuracy"] == acc and set(acc) == {"mae", "rmse", "mape", "smape", "mase"}
    assert all(isinstance(v, float) for v in acc.values()) and acc["rmse"] == pytest.approx(m["chosen"]["score"])
    assert f"(validation {_line(acc)}; RMSE of naive " in line, line


def test_an_undefined_metric_is_null_in_metrics_json_and_n_a_in_the_summary(quarterly, capsys):
    rng = np.random.default_rng(1)  # a season of 4 through 0 exactly: no percentage error at the zeros
    y = [0.0 if i % 2 == 0 else (5.0 if i % 4 == 1 else -5.0) + float(rng.normal(0, 0.3)) for i in range(60)]
    (quarterly / "z.csv").write_text("v\n" + "".join(f"{v!r}\n" for v in y))
    assert main(["train", "--csv", "z.csv", "--targets", "v", "--forecast", "2", "--period", "4", *TINY,
                 "--transform", "none", "--differencing", "seasonal", "--out", "run"]) == 0
    line = capsys.readouterr().out.strip()
    acc = json.loads((quarterly / "run" / "metrics.json").read_text())["validation_accuracy"]
    assert acc["mape"] is None and acc["smape"] is not None and acc["mase"] is not None
    assert f"(validation {_line(acc)}; " in line and "MAPE n/a, sMAPE " in line, line


def _backtest_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_backtest_writes_its_rows_errors_by_step_and_a_summary_line(quarterly, capsys):
    assert _train("--backtest", "3") == 0
    out = capsys.readouterr().out.strip().splitlines()
    run = quarterly / "run"
    assert {"backtest.csv", "backtest.png"} <= {p.name for p in run.iterdir()}
    assert (run / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _rows(run / "backtest.csv")[0] == ["origin", "step", "quarter", "actual", "forecast", "lower_80",
                                              "upper_80", "lower_95", "upper_95"]
    rows = _backtest_rows(run / "backtest.csv")
    assert len(rows) == 3 * 4  # folds x H
    origins = [80 - 4 - (3 - 1 - k) * 4 for k in range(3)]  # n - H - (folds - 1 - k) step, step = H
    def label(i: int) -> str:
        return f"{2000 + i // 4}Q{i % 4 + 1}"

    assert [(r["origin"], r["step"], r["quarter"]) for r in rows] == [
        (label(o), str(j + 1), label(o + j)) for o in origins for j in range(4)]
    y = np.array([float(r[1]) for r in _rows(quarterly / "q.csv")[1:]])
    actual = np.array([float(r["actual"]) for r in rows]).reshape(3, 4)
    assert actual.tolist() == [y[o:o + 4].tolist() for o in origins]
    fc = np.array([float(r["forecast"]) for r in rows]).reshape(3, 4)
    lo95, hi95 = (np.array([float(r[k]) for r in rows]).reshape(3, 4) for k in ("lower_95", "upper_95"))
    assert np.all(lo95 < fc) and np.all(fc < hi95)
    b = json.loads((run / "metrics.json").read_text())["backtest"]
    assert set(b) == {"folds", "step", "refit", "origins", "metrics", "by_step", "coverage", "chosen"}
    assert (b["folds"], b["step"], b["refit"], b["origins"]) == (3, 4, True, [label(o) for o in origins])
    assert len(b["chosen"]) == 3 and set(b["coverage"]) == {"80", "95"}
    assert b["by_step"]["mae"] == pytest.approx(np.abs(actual - fc).mean(axis=0).tolist())
    assert b["by_step"]["rmse"] == pytest.approx(np.sqrt(((actual - fc) ** 2).mean(axis=0)).tolist())
    snaive = np.stack([y[o - 4 + np.arange(4) % 4] for o in origins])  # the value a season before each
    assert b["by_step"]["seasonal_naive_mae"] == pytest.approx(np.abs(actual - snaive).mean(axis=0).tolist())
    assert b["coverage"]["95"] == pytest.approx(float(np.mean((actual >= lo95) & (actual <= hi95))))
    assert len(out) == 2 and out[1].startswith("rnnx train: forecasting backtest: 3 origins 4 steps apart "
                                               "(2017Q1 .. 2019Q1), refitted at each origin: "), out
    assert f"RMSE {b['metrics']['rmse']:.4g}, MASE {b['metrics']['mase']:.4g}" in out[1]
    assert f"interval coverage {b['coverage']['80']:.0%} (80% nominal), " in out[1]


def test_backtest_fit_once_fits_at_the_first_origin_only(quarterly, capsys):
    assert _train("--backtest", "2", "--backtest-step", "2", "--backtest-fit-once") == 0
    out = capsys.readouterr().out.strip().splitlines()
    b = json.loads((quarterly / "run" / "metrics.json").read_text())["backtest"]
    assert (b["folds"], b["step"], b["refit"], b["origins"]) == (2, 2, False, ["2018Q3", "2019Q1"])
    assert len(b["chosen"]) == 1 and b["chosen"][0]["origin"] == 74  # one fit, on the rows before 2018Q3
    assert len(_backtest_rows(quarterly / "run" / "backtest.csv")) == 2 * 4
    assert len(b["by_step"]["mae"]) == len(b["by_step"]["seasonal_naive_mae"]) == 4
    assert "2 origins 2 steps apart (2018Q3 .. 2019Q1), fitted once at the first origin: " in out[1], out
    for argv, words in ((["--backtest", "2", "--backtest-step", "1"], ("2 origins 1 step apart (2018Q4 .. 2019Q1), "
                                                                      "refitted at each origin: ")),
                        (["--backtest", "1"], "1 origin (2019Q1), fitted on the history before it: ")):
        assert _train(*argv, "--transform", "none", "--differencing", "seasonal", "--overwrite") == 0
        line = capsys.readouterr().out.strip().splitlines()[1]
        assert line.startswith(f"rnnx train: forecasting backtest: {words}"), line


@pytest.mark.parametrize("argv, start", [
    (["--backtest", "0"], "--backtest: expected a positive integer, got 0"),
    (["--backtest", "2", "--backtest-step", "0"], "--backtest-step: expected a positive integer, got 0"),
    (["--backtest-step", "2"], "--backtest-step: applies with --backtest FOLDS only; drop it, or give --backtest"),
    (["--backtest-fit-once"], "--backtest-fit-once: applies with --backtest FOLDS only"),
    (["--backtest", "30"], ("--backtest: 30 origins 4 steps apart, each forecasting 4, need more than 120 "
                            "observations; got 80; expected fewer folds or a smaller --backtest-step")),
    (["--backtest", "12"], ("--backtest: 12 origins 4 steps apart leave 32 observations before the first to fit on, "
                            "too few (32 observations are too few")),
])
def test_bad_backtests_are_refused_in_one_line_and_write_nothing(quarterly, capsys, argv, start):
    assert _train(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"rnnx train: error: {start}"), err
    assert not (quarterly / "run").exists()


@pytest.mark.parametrize("flag", [["--backtest", "2"], ["--backtest-step", "2"], ["--backtest-fit-once"]])
def test_backtest_flags_are_refused_by_a_series_run(quarterly, capsys, flag):
    assert main(["train", "--csv", "q.csv", "--targets", "sales", *TINY, *flag, "--out", "run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"rnnx train: error: {flag[0]}: does not apply to a series run (--preset, --csv); drop it", err
    assert not (quarterly / "run").exists()


def test_a_failed_backtest_run_leaves_no_backtest_files(quarterly, capsys, monkeypatch):
    from rnnx.diagnostics import plots

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    (quarterly / "run").mkdir()
    (quarterly / "run" / "notes.txt").write_text("mine")
    monkeypatch.setattr(plots, "backtest_steps", full)
    assert _train("--backtest", "2", "--overwrite") != 0
    assert sorted(p.name for p in (quarterly / "run").iterdir()) == ["notes.txt"]  # backtest.csv too: undone


# -- --future-inputs: columns known ahead, given for the next dates after the last target value ----------------
def _label(i: int) -> str:
    return f"{2000 + i // 4}Q{i % 4 + 1}"


def _promo_csv(path, n: int = 80, ahead: int = 4, *, edit=None) -> list[float]:
    """``quarter,sales,promo,price``: sales jump by 8 when the 0/1 promo is 1; the ``ahead`` rows after
    the last sales value carry the quarter and promo with sales (and the past-observed price) empty.
    ``edit(rows)`` may change the data rows (lists of cells) first.  Returns the promo column."""
    rng = np.random.default_rng(2)
    promo = (rng.random(n + ahead) < 0.3).astype(float)
    t = np.arange(n)
    y = 50 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 4) + 8 * promo[:n] + rng.normal(0, 0.5, n)
    rows = [[_label(i), repr(float(y[i])) if i < n else "", repr(float(promo[i])),
             repr(float(rng.normal())) if i < n else ""] for i in range(n + ahead)]
    if edit is not None:
        edit(rows)
    path.write_text("quarter,sales,promo,price\n" + "".join(",".join(r) + "\n" for r in rows))
    return promo.tolist()


def _train_future(*extra: str, csv_name: str = "p.csv") -> int:
    return main(["train", "--csv", csv_name, "--targets", "sales", "--time-column", "quarter", "--forecast", "4",
                 "--future-inputs", "promo", *TINY, "--out", "run", *extra])


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_future_inputs_forecast_from_the_trailing_rows_and_rnnx_forecast_reproduces_it(tmp_path, monkeypatch, capsys,
                                                                                       strategy):
    monkeypatch.chdir(tmp_path)
    promo = _promo_csv(tmp_path / "p.csv", ahead=6)  # 6 future rows given, the first H = 4 read
    assert _train_future("--strategy", strategy) == 0
    assert "4 steps 2020Q1 .. 2020Q4; wrote run" in capsys.readouterr().out
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["forecast.csv", "forecast.png", "forecaster.npz", "future.csv",
                                                     "metrics.json"]
    rows = _rows(run / "forecast.csv")
    assert [r[0] for r in rows[1:]] == ["2020Q1", "2020Q2", "2020Q3", "2020Q4"]
    assert _rows(run / "future.csv") == [["quarter", "promo"], *([_label(80 + i), repr(promo[80 + i])]
                                                                 for i in range(4))]
    m = json.loads((run / "metrics.json").read_text())
    assert (m["future_covariates"], m["covariates"], m["rows"], m["future_rows"]) == (["promo"], [], 80, 6)
    f = rnnx.Forecaster.load(str(run / "forecaster.npz"))
    assert f.future_covariates_ is not None and f.model_.layer.input_size == 1 + 1 + 2 + 1  # z, flag, quarter, promo
    fc = [float(r[1]) for r in rows[1:]]
    assert f.predict(future_covariates=np.array(promo[80:84])[:, None])["forecast"] == fc
    other = f.predict(future_covariates=1 - np.array(promo[80:84])[:, None])["forecast"]
    assert other != fc  # the forecast reads the promo values given
    trained = (run / "forecast.csv").read_text()
    assert main(["forecast", "--model", "run", "--out", "again.csv"]) == 0
    assert (tmp_path / "again.csv").read_text() == trained
    assert main(["forecast", "--model", "run", "--steps", "2", "--out", "two.csv"]) == 0
    assert (tmp_path / "two.csv").read_text().splitlines() == trained.splitlines()[:3]
    capsys.readouterr()
    assert main(["forecast", "--model", "run", "--out", "run/future.csv", "--overwrite"]) == 2  # a file of the run
    assert capsys.readouterr().err.startswith("rnnx forecast: error: --out: ")


def test_future_inputs_with_past_observed_inputs_interpolated_gaps_and_a_backtest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def gaps(rows):
        rows[10][1] = ""  # a sales gap in the history: --missing interpolate fills it
        rows[20][2] = "NA"

    _promo_csv(tmp_path / "p.csv", edit=gaps)
    assert _train_future("--inputs", "price", "--missing", "interpolate", "--backtest", "2") == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (m["future_covariates"], m["covariates"], m["rows"]) == (["promo"], ["price"], 80)
    assert m["backtest"]["folds"] == 2 and len(_backtest_rows(tmp_path / "run" / "backtest.csv")) == 2 * 4
    assert main(["forecast", "--model", "run", "--out", "again.csv"]) == 0
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "run" / "forecast.csv").read_text()


def test_a_run_without_future_inputs_has_no_future_file(quarterly, capsys):
    assert _train() == 0
    m = json.loads((quarterly / "run" / "metrics.json").read_text())
    assert m["future_covariates"] == [] and m["future_rows"] == 0
    assert not (quarterly / "run" / "future.csv").exists()


def _blank(i: int, j: int):
    def edit(rows):
        rows[i][j] = ""
    return edit


@pytest.mark.parametrize("make, extra, start", [
    ({"ahead": 2}, [], ("--future-inputs: '{p}' has 2 rows after the last sales value (row 81); a 4-step forecast "
                        "(--forecast 4) reads promo on the next 4 dates; expected at least 4 such rows")),
    ({"ahead": 0}, [], "--future-inputs: '{p}' has 0 rows after the last sales value (row 81)"),
    ({"edit": lambda rows: rows[81].__setitem__(0, "2020Q3")}, [],
     "--future-inputs: '{p}' row 83 is dated '2020Q3'; expected '2020Q2', the step after '2020Q1'"),
    ({"edit": _blank(82, 2)}, [], "--future-inputs: '{p}' row 84, column 'promo': missing value in a future row"),
    ({"edit": _blank(82, 0)}, [], "--future-inputs: '{p}' row 84, column 'quarter': missing date in a future row"),
    ({"edit": lambda rows: rows[81].__setitem__(2, "yes")}, [], ("--future-inputs: '{p}' row 83, column 'promo': "
                                                                 "'yes' is not a number")),
    ({"edit": _blank(40, 1)}, [], ("--future-inputs: '{p}' row 42, column 'sales': missing value before the last "
                                   "sales value (row 81); only the future rows after it may leave it empty")),
    ({"edit": _blank(40, 2)}, [], "--csv: '{p}' row 42, column 'promo': missing value; pass --missing interpolate"),
    ({}, ["--inputs", "price,promo"], "--future-inputs: 'promo' is also in --inputs (past-observed"),
    ({}, ["--future-inputs", "sales"], "--future-inputs: 'sales' is the --targets column"),
    ({}, ["--future-inputs", "promo,promo"], "--future-inputs: 'promo' listed twice; expected each column once"),
    ({}, ["--future-inputs", "promo,nope"], ("--future-inputs: '{p}' has no column 'nope' (columns: quarter, "
                                                "sales, promo, price)")),
])
def test_bad_future_frames_are_refused_in_one_line_naming_the_flag(tmp_path, monkeypatch, capsys, make, extra, start):
    monkeypatch.chdir(tmp_path)
    _promo_csv(tmp_path / "p.csv", **make)
    assert _train_future(*extra) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("rnnx train: error: " + start.format(p=tmp_path / "p.csv")), err
    assert not (tmp_path / "run").exists()


def test_future_inputs_is_refused_without_forecast(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _promo_csv(tmp_path / "p.csv")
    assert main(["train", "--csv", "p.csv", "--targets", "sales", "--future-inputs", "promo", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "rnnx train: error: --future-inputs: does not apply to a series run (--preset, --csv); drop it"


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.unlink(), "future.csv' does not exist; the forecaster reads future inputs (promo)"),
    (lambda p: p.write_text("quarter,promo\n2020Q1,1.0\n"), ("future.csv': expected 4 rows (one per date forecast), "
                                                            "got 1")),
    (lambda p: p.write_text(p.read_text().replace("2020Q2", "2020Q3")), ("future.csv' row 3: expected 2 cells "
                                                                        "dated '2020Q2'")),
    (lambda p: p.write_text(p.read_text().replace("quarter,promo", "quarter,price")), ("future.csv': expected the "
                                                                                      "header quarter,promo")),
    (lambda p: p.write_text(p.read_text().replace("2020Q4,", "2020Q4,x")), "'x"),
    (lambda p: (p.rename(p.parent.parent / "elsewhere.csv"), p.symlink_to(p.parent.parent / "elsewhere.csv")),
     "link"),  # rnnx never writes a link there
])
def test_rnnx_forecast_checks_the_runs_future_file(tmp_path, monkeypatch, capsys, damage, words):
    monkeypatch.chdir(tmp_path)
    _promo_csv(tmp_path / "p.csv")
    assert _train_future() == 0
    damage(tmp_path / "run" / "future.csv")
    capsys.readouterr()
    assert main(["forecast", "--model", "run", "--out", "again.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("rnnx forecast: error: --model: ") and words in err, err
    assert not (tmp_path / "again.csv").exists()


def test_future_inputs_without_a_time_column_under_missing_drop(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _promo_csv(tmp_path / "p.csv", edit=_blank(10, 1))  # a history row without sales: dropped
    (tmp_path / "n.csv").write_text("\n".join(",".join(r.split(",")[1:3]) for r in
                                              (tmp_path / "p.csv").read_text().splitlines()) + "\n")
    assert main(["train", "--csv", "n.csv", "--targets", "sales", "--forecast", "4", "--future-inputs", "promo",
                 "--missing", "drop", *TINY, "--out", "run"]) == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (m["rows"], m["future_rows"], m["time_column"]) == (79, 4, None)
    assert [r[0] for r in _rows(tmp_path / "run" / "forecast.csv")[1:]] == ["79", "80", "81", "82"]
    assert [r[0] for r in _rows(tmp_path / "run" / "future.csv")] == ["index", "79", "80", "81", "82"]
    assert main(["forecast", "--model", "run", "--steps", "3", "--out", "three.csv"]) == 0
    assert (tmp_path / "three.csv").read_text().splitlines() == \
        (tmp_path / "run" / "forecast.csv").read_text().splitlines()[:4]


def test_rnnx_forecast_reads_a_run_recorded_before_future_inputs(quarterly, capsys):
    assert _train() == 0
    path = quarterly / "run" / "metrics.json"
    m = json.loads(path.read_text())
    del m["future_covariates"], m["future_rows"]  # as a run written before them
    path.write_text(json.dumps(m))
    assert main(["forecast", "--model", "run", "--out", "again.csv"]) == 0
    assert (quarterly / "again.csv").read_text() == (quarterly / "run" / "forecast.csv").read_text()
    m["future_covariates"] = "promo"
    path.write_text(json.dumps(m))
    capsys.readouterr()
    assert main(["forecast", "--model", "run", "--out", "again.csv", "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnx forecast: error: --model: ") and "future_covariates: expected a list" in err, err
