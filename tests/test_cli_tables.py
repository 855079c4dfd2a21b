"""``rnnx train`` on named CSV columns: --inputs/--targets, --time-column, --missing,
--difference, --no-shuffle, the seed004 preset; predict and resume of such runs; refusals."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from rnnx.cli import main


def _csv(path, n=240, gaps=(), trend=0.0, seed=0):
    """date, a (a seasonal series with an optional trend), b (a second variable leading a)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    a = 10 + trend * i + 3 * np.sin(2 * np.pi * i / 12) + rng.normal(0, 0.2, n)
    b = np.cos(2 * np.pi * i / 12) + rng.normal(0, 0.1, n)
    with open(path, "w") as f:
        f.write("date,a,b,notes\n")
        for k in range(n):
            cell = "" if k in gaps else f"{b[k]:.6f}"
            f.write(f"{2000 + k // 12}-{k % 12 + 1:02d}-01,{a[k]:.6f},{cell},x\n")
    return str(path)


def _train(tmp_path, capsys, *argv, out="r"):
    code = main(["train", *argv, "--out", str(tmp_path / out), "--quiet"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    with open(tmp_path / out / "metrics.json") as f:
        return json.load(f), cap.err


def test_named_columns_train_predict_and_equal_the_one_column_path(tmp_path, capsys):
    f = _csv(tmp_path / "d.csv")
    common = ["--csv", f, "--epochs", "3", "--window", "12", "--hidden", "8"]
    m, _ = _train(tmp_path, capsys, *common, "--inputs", "a,b", "--targets", "a", "--time-column", "date")
    assert m["inputs"] == ["a", "b"] and m["targets"] == ["a"] and m["model"]["input_size"] == 2
    assert math.isfinite(m["test_mse"]) and os.path.exists(tmp_path / "r" / "predictions.png")
    assert main(["predict", "--model", str(tmp_path / "r")]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["windows"] == m["windows"]["test"] and math.isclose(p["mse"], m["test_mse"], rel_tol=1e-12)
    # --targets a alone (inputs: its own past) computes what --column a computes
    one, _ = _train(tmp_path, capsys, *common, "--targets", "a", out="t")
    col, _ = _train(tmp_path, capsys, *common, "--column", "a", out="c")
    assert one["model"]["input_size"] == 1
    assert math.isclose(one["test_mse"], col["test_mse"], rel_tol=1e-12), (one["test_mse"], col["test_mse"])
    assert one["persistence_test_mse"] == col["persistence_test_mse"]


def test_missing_values_policies(tmp_path, capsys):
    f = _csv(tmp_path / "g.csv", gaps=(30, 31, 100))
    args = ["--csv", f, "--inputs", "a,b", "--targets", "a", "--epochs", "1", "--window", "12"]
    code = main(["train", *args, "--out", str(tmp_path / "e"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and not os.path.exists(tmp_path / "e")
    assert err == (f"rnnx train: error: --csv: {f!r} row 32, column 'b': missing value; pass --missing interpolate "
                   "or --missing drop\n"), err
    full, _ = _train(tmp_path, capsys, *args, "--missing", "interpolate", out="i")
    dropped, _ = _train(tmp_path, capsys, *args, "--missing", "drop", out="d")
    n = 240 - 12  # windows of a 240-row table
    assert sum(full["windows"].values()) == n and sum(dropped["windows"].values()) == n - 3


def test_difference_models_the_change_and_the_range_warning(tmp_path, capsys):
    f = _csv(tmp_path / "trend.csv", n=300, trend=0.12)
    args = ["--csv", f, "--targets", "a", "--epochs", "30", "--window", "12", "--lr", "0.01"]
    level, err = _train(tmp_path, capsys, *args, out="l")
    assert "test values leave the training range" in err and "--difference" in err
    diff, err = _train(tmp_path, capsys, *args, "--difference", out="d")
    assert "leave the training range" not in err
    assert diff["difference"] is True
    assert diff["test_mse"] < 0.5 * diff["persistence_test_mse"] < level["test_mse"], (diff, level)
    # predictions are levels: the run's predict reproduces the metric
    assert main(["predict", "--model", str(tmp_path / "d")]) == 0
    assert math.isclose(json.loads(capsys.readouterr().out)["mse"], diff["test_mse"], rel_tol=1e-12)


def test_resume_of_a_table_run_equals_uninterrupted_and_no_shuffle(tmp_path, capsys):
    f = _csv(tmp_path / "d.csv")
    args = ["--csv", f, "--inputs", "a,b", "--targets", "a", "--window", "12", "--hidden", "6", "--no-shuffle"]
    _train(tmp_path, capsys, *args, "--epochs", "2", out="half")
    assert main(["train", "--resume", str(tmp_path / "half"), "--epochs", "4", "--quiet"]) == 0
    capsys.readouterr()
    whole, _ = _train(tmp_path, capsys, *args, "--epochs", "4", out="whole")
    with open(tmp_path / "half" / "metrics.json") as fh:
        resumed = json.load(fh)
    assert resumed["test_mse"] == whole["test_mse"]
    assert whole["train"]["shuffle"] is False
    shuffled, _ = _train(tmp_path, capsys, *args[:-1], "--epochs", "4", out="shuf")
    assert shuffled["test_mse"] != whole["test_mse"]


def test_seed004_preset(tmp_path, capsys):
    pytest.importorskip("vega_datasets", reason="the seed004 preset's data: pip install 'rnnx[data]'")
    m, _ = _train(tmp_path, capsys, "--preset", "seed004", "--epochs", "1")
    assert m["inputs"] == ["precipitation", "temp_max", "temp_min", "wind"] and m["targets"] == ["temp_max"]
    assert m["windows"] == {"train": 1013, "val": 217, "test": 217}
    assert m["model"]["hidden_size"] == 50 and m["model"]["activation"] == "sigmoid"
    assert m["train"]["batch_size"] == 4 and m["train"]["shuffle"] is False
    assert abs(m["persistence_test_mse"] - 8.5725) < 1e-3


def test_seed004_corrected_preset(tmp_path, capsys):
    pytest.importorskip("vega_datasets", reason="the seed004 preset's data: pip install 'rnnx[data]'")
    m, _ = _train(tmp_path, capsys, "--preset", "seed004-corrected", "--epochs", "1")
    assert m["model"]["objective"] == "many-to-one" and m["model"]["activation"] == "tanh"
    assert m["train"]["batch_size"] == 32 and m["train"]["shuffle"] is True and m["train"]["clip_norm"] == 1.0


REFUSED = [
    (["--csv", "X", "--inputs", "a"], "--targets: required with --inputs"),
    (["--csv", "X", "--column", "a", "--targets", "a"], "--targets: give --column NAME (one series) or --inputs/"),
    (["--csv", "X", "--targets", "a,b"], "--targets: one target column per run (got a,b)"),
    (["--csv", "X", "--column", "a", "--difference"], "--difference: applies to a run of named columns"),
    (["--csv", "X", "--column", "a", "--missing", "drop"], "--missing: applies to a run of named columns"),
    (["--csv", "X", "--targets", "a", "--difference", "--objective", "many-to-many"],
     "--difference: models the change to the value after each window (--objective many-to-one)"),
    (["--csv", "X", "--column", "a", "--time-column", "date"], "--time-column: applies with --inputs/--targets"),
    (["--targets", "a"], "--targets: names columns of --csv, but no --csv was given (got --targets a)"),
    (["--preset", "seed001", "--inputs", "a"], "--inputs: give either --preset or --csv, not both"),
    (["--csv", "X", "--targets", "zzz"], "--targets: X has no column 'zzz' (columns: date, a, b, notes)"),
    (["--csv", "X", "--inputs", "a,a", "--targets", "a"], "--inputs: column 'a' listed twice"),
    (["--csv", "X", "--inputs", "a", "--targets", "a", "--time-column", "a"], "--time-column: 'a' is also in inputs"),
]


@pytest.mark.parametrize("argv,message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_refused_in_one_line(tmp_path, capsys, argv, message):
    f = _csv(tmp_path / "d.csv", n=40)
    argv = [f if a == "X" else a for a in argv]
    message = message.replace("X", repr(f))
    code = main(["train", *argv, "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and message in err, err
    assert not os.path.exists(tmp_path / "r")


def test_column_names_flag_refuses_an_empty_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--csv", "f.csv", "--targets", "a,,b", "--out", str(tmp_path / "r")])
    assert e.value.code == 2
    assert "argument --targets: expected comma-separated column names, got 'a,,b'" in capsys.readouterr().err


def test_forecast_and_predict_column_are_refused_for_a_table_model(tmp_path, capsys):
    f = _csv(tmp_path / "d.csv", n=60)
    _train(tmp_path, capsys, "--csv", f, "--inputs", "a,b", "--targets", "a", "--epochs", "1", "--window", "6")
    assert main(["forecast", "--model", str(tmp_path / "r")]) == 2
    assert "forecast: this model reads a, b and predicts a; feeding predictions back" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "r"), "--csv", f, "--column", "a"]) == 2
    assert "--column: this model reads the columns a, b" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "r"), "--csv", f]) == 0
    assert json.loads(capsys.readouterr().out)["windows"] == 60 - 6
