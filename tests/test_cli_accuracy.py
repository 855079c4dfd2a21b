"""``rnnx train`` of a series or named columns (the regression task): metrics.json's and the
summary line's test accuracy (issue 31 item 4): MAE, RMSE, MAPE, sMAPE and MASE of the one-step
test predictions in the target's levels, and of the forecast fed back from the test origin,
each equal to :func:`rnnx.data.accuracy.accuracy` recomputed from ``rnnx predict``'s
predictions.csv and from ``rnnx forecast`` on the data cut at the test origin."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rnnx.cli import main
from rnnx.data.accuracy import ACCURACY_METRICS, accuracy
from rnnx.data.dataset import PRESETS, preset_series

SMALL = ["--epochs", "2", "--window", "12", "--hidden", "6"]


def _csv(path, n=240, seed=0):
    """date (monthly), a (seasonal, period 12, positive), b."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    a = 10 + 0.02 * i + 3 * np.sin(2 * np.pi * i / 12) + rng.normal(0, 0.2, n)
    b = np.cos(2 * np.pi * i / 12) + rng.normal(0, 0.1, n)
    with open(path, "w") as f:
        f.write("date,a,b\n")
        f.writelines(f"{2000 + k // 12}-{k % 12 + 1:02d}-01,{a[k]:.6f},{b[k]:.6f}\n" for k in range(n))
    return str(path), _column(path, 1), _column(path, 2)  # the values as the file holds them


def _train(tmp_path, capsys, *argv, out="r"):
    code = main(["train", *argv, "--out", str(tmp_path / out), "--quiet"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    with open(tmp_path / out / "metrics.json") as f:
        return json.load(f), cap.out


def _same(got: dict, want: dict) -> None:
    for k in ACCURACY_METRICS:
        assert (got[k] is None) == (want[k] is None), (k, got, want)
        assert got[k] is None or math.isclose(got[k], want[k], rel_tol=1e-12), (k, got, want)


def _column(path, col: int) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=col, ndmin=1)


def _line_shows(line: str, a: dict) -> None:
    assert (f"MAE {a['mae']:.3g} RMSE {a['rmse']:.3g} MAPE {a['mape']:.3g}% sMAPE {a['smape']:.3g}% "
            f"MASE {a['mase']:.3g}") in line, line


@pytest.mark.parametrize("difference", [False, True], ids=["levels", "difference"])
def test_table_run_reports_one_step_and_fed_back_test_accuracy(tmp_path, capsys, difference):
    f, a, _ = _csv(tmp_path / "d.csv")
    extra = ["--difference"] if difference else []
    m, out = _train(tmp_path, capsys, "--csv", f, "--targets", "a", "--time-column", "date", *SMALL, *extra)
    assert m["seasonal_period"] == {"m": 12, "from": "--time-column date: monthly"}
    end = m["windows"]["train"] + 12 + (1 if difference else 0)  # the last training target's row + 1
    # one step: rnnx predict's predictions.csv (the run's own test part)
    assert main(["predict", "--model", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    pred = tmp_path / "r" / "predictions.csv"
    truth, one = _column(pred, 1), _column(pred, 2)
    _same(m["test_accuracy"], accuracy(truth, one, a[:end], 12))
    assert "test_mse" in m and "persistence_test_mse" in m  # the keys tests and users read are kept
    # fed back: rnnx forecast from the rows before the test origin, for every test row
    multi, n = m["multistep"], m["windows"]["test"]
    origin = len(a) - n
    assert multi["origin"] == origin and multi["steps"] == n and multi["origin_time"] == \
        f"{2000 + origin // 12}-{origin % 12 + 1:02d}-01"
    with open(f) as fh:
        lines = fh.read().splitlines()
    with open(tmp_path / "cut.csv", "w") as fh:
        fh.write("\n".join(lines[:origin + 1]) + "\n")
    assert main(["forecast", "--model", str(tmp_path / "r"), "--csv", str(tmp_path / "cut.csv"), "--steps", str(n),
                 "--out", str(tmp_path / "f.csv")]) == 0
    capsys.readouterr()
    fed = _column(tmp_path / "f.csv", 1)
    _same(multi, accuracy(a[origin:], fed, a[:end], 12))
    assert not np.allclose(fed, one)  # not the one-step predictions again
    _line_shows(out, m["test_accuracy"])
    _line_shows(out, multi)
    assert f"(m=12); {n} steps fed back from the test origin: MAE" in out


def test_series_preset_run_reports_them_with_m_1(tmp_path, capsys):
    m, out = _train(tmp_path, capsys, "--preset", "seed001", "--epochs", "2")
    series = np.asarray(preset_series(PRESETS["seed001"]["series"]))
    W = PRESETS["seed001"]["window"]
    end = m["windows"]["train"] + W
    assert m["seasonal_period"] == {"m": 1, "from": "no --time-column"}
    assert main(["predict", "--model", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    pred = tmp_path / "r" / "predictions.csv"
    _same(m["test_accuracy"], accuracy(_column(pred, 1), _column(pred, 2), series[:end], 1))
    n = m["windows"]["test"]
    origin = len(series) - n
    with open(tmp_path / "cut.csv", "w") as fh:
        fh.write("y\n" + "".join(f"{float(v)!r}\n" for v in series[:origin]))
    assert main(["forecast", "--model", str(tmp_path / "r"), "--csv", str(tmp_path / "cut.csv"), "--column", "y",
                 "--steps", str(n), "--out", str(tmp_path / "f.csv")]) == 0
    capsys.readouterr()
    _same(m["multistep"], accuracy(series[origin:], _column(tmp_path / "f.csv", 1), series[:end], 1))
    assert m["multistep"]["origin_time"] is None
    _line_shows(out, m["test_accuracy"])
    assert f"(m=1); {n} steps fed back from the test origin: " in out


def test_runs_that_cannot_feed_back_say_why_and_several_targets_report_each(tmp_path, capsys):
    f, a, b = _csv(tmp_path / "d.csv")
    m, out = _train(tmp_path, capsys, "--csv", f, "--inputs", "a,b", "--targets", "a", *SMALL, out="in")
    assert m["multistep"] is None and m["multistep_note"].startswith(
        "this model reads a, b and predicts a; feeding predictions back needs a model whose inputs are exactly")
    assert m["seasonal_period"] == {"m": 1, "from": "no --time-column"} and m["test_accuracy"]["mase"] > 0
    assert "no multi-step test forecast (metrics.json: multistep_note)" in out
    _line_shows(out, m["test_accuracy"])

    m, _ = _train(tmp_path, capsys, "--csv", f, "--targets", "a", "--horizon", "2", *SMALL, out="h2")
    assert m["multistep"] is None and m["multistep_note"] == \
        "feeding predictions back needs a horizon-1 model, this one has horizon 2"

    m, out = _train(tmp_path, capsys, "--csv", f, "--targets", "a,b", "--time-column", "date", *SMALL, out="ab")
    assert m["multistep"] is None and m["multistep_note"] == "a run of several targets"
    assert main(["predict", "--model", str(tmp_path / "ab")]) == 0
    capsys.readouterr()
    pred, end = tmp_path / "ab" / "predictions.csv", m["windows"]["train"] + 12
    each = {"a": accuracy(_column(pred, 1), _column(pred, 2), a[:end], 12),
            "b": accuracy(_column(pred, 4), _column(pred, 5), b[:end], 12)}
    for t in ("a", "b"):
        _same(m["per_target_accuracy"][t], each[t])
    for k in ACCURACY_METRICS:
        assert math.isclose(m["test_accuracy"][k], (each["a"][k] + each["b"][k]) / 2, rel_tol=1e-12)
    _line_shows(out, m["test_accuracy"])


def test_a_training_part_shorter_than_the_season_leaves_mase_out(tmp_path, capsys):
    f, a, _ = _csv(tmp_path / "d.csv", n=24)
    m, out = _train(tmp_path, capsys, "--csv", f, "--targets", "a", "--time-column", "date", "--window", "2",
                    "--split", "0.3,0.2,0.5", "--epochs", "1", "--hidden", "3")
    end = m["windows"]["train"] + 2
    assert end <= 12 and m["seasonal_period"]["m"] == 12
    for got in (m["test_accuracy"], m["multistep"]):
        assert got["mase"] is None and got["note"] == \
            f"mase: train: expected more than m=12 values for the seasonal-naive scale, got {end}"
        assert got["mae"] > 0 and got["smape"] > 0
    assert main(["predict", "--model", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    pred = tmp_path / "r" / "predictions.csv"
    want = accuracy(_column(pred, 1), _column(pred, 2), a[:end], 1)
    for k in ("mae", "rmse", "mape", "smape"):
        assert math.isclose(m["test_accuracy"][k], want[k], rel_tol=1e-12)
    assert "MASE n/a (m=12)" in out
