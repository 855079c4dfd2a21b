"""``rnnx train`` on named CSV columns: --inputs/--targets (one target or several),
--time-column, --missing, --difference, --no-shuffle, the seed004 preset; predict, forecast
and resume of such runs; refusals."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

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


def test_column_is_targets_of_one_name_with_every_table_flag(tmp_path, capsys):
    """One series = one target: --column NAME trains what --targets NAME trains (the same
    files but for the timings), --time-column/--difference/--missing work with it, and the
    range warning fires for it."""
    f = _csv(tmp_path / "d.csv", n=300, trend=0.12, gaps=(50,))
    common = ["--csv", f, "--epochs", "2", "--window", "12", "--hidden", "6", "--time-column", "date",
              "--missing", "interpolate"]
    col, err = _train(tmp_path, capsys, *common, "--column", "a", out="c")
    assert "test values leave the training range" in err and "'a'" in err
    tgt, _ = _train(tmp_path, capsys, *common, "--targets", "a", out="t")
    same = lambda m: {k: v for k, v in m.items() if not k.startswith("seconds")}  # noqa: E731
    assert same(col) == same(tgt)
    assert col["targets"] == ["a"] and "column" not in col
    a = np.load(tmp_path / "c" / "model.npz")
    b = np.load(tmp_path / "t" / "model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith("params/"))
    d, err = _train(tmp_path, capsys, *common, "--column", "a", "--difference", out="cd")
    assert d["difference"] is True and "leave the training range" not in err


def test_a_column_run_written_before_column_became_targets_resumes_and_predicts(tmp_path, capsys):
    """Files of a --column run as rnnx wrote them before (settings.column, no targets, no
    input scalers): resume continues bit for bit, predict and forecast read them."""
    from rnnx.io import checkpoint

    f = _csv(tmp_path / "d.csv")
    args = ["--csv", f, "--column", "a", "--window", "12", "--hidden", "4"]
    _train(tmp_path, capsys, *args, "--epochs", "2", out="old")
    _train(tmp_path, capsys, *args, "--epochs", "4", out="whole")
    for name in ("checkpoint.npz", "model.npz"):
        path = str(tmp_path / "old" / name)
        meta, groups = checkpoint.load(path)
        if meta["kind"] == "fit-state":  # the series CLI's checkpoint kind before fit-state version 2
            meta = {"kind": "checkpoint", **{k: meta[k] for k in ("model", "epoch", "updates", "opt_step", "history",
                                                                   "best_epoch", "clipped")},
                    "best_val": meta["best_score"], **{k: v for k, v in meta["run"].items() if k != "kind"}}
        meta = {k: v for k, v in meta.items() if k not in ("format", "version", "scalers")}
        meta["settings"] = {**{k: v for k, v in meta["settings"].items() if k not in ("targets", "inputs")},
                            "column": "a", "targets": None, "inputs": None}
        checkpoint.save(path, meta, groups, to_numpy=np.asarray)
    run = str(tmp_path / "old")
    assert main(["forecast", "--model", run, "--steps", "2"]) == 0
    assert main(["predict", "--model", run, "--csv", f, "--column", "a"]) == 0
    assert main(["train", "--resume", run, "--epochs", "4", "--quiet"]) == 0, capsys.readouterr().err
    a, b = np.load(tmp_path / "old" / "model.npz"), np.load(tmp_path / "whole" / "model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in b.files if k.startswith("params/"))


def test_predict_forecast_and_diagnose_take_the_data_flags_train_took(tmp_path, capsys):
    """A forecast in one try: the flags given to train are accepted by predict, forecast and
    diagnose --model when they are the model's; another value is refused in one line."""
    f = _csv(tmp_path / "d.csv")
    data = ["--csv", f, "--targets", "a", "--time-column", "date"]
    _train(tmp_path, capsys, *data, "--epochs", "1", "--window", "12", "--hidden", "4", out="r")
    run = str(tmp_path / "r")
    for cmd, extra in (("forecast", ["--steps", "3"]), ("predict", []),
                       ("diagnose", ["--out", str(tmp_path / "dg")])):
        for flags in (data, ["--csv", f, "--column", "a", "--time-column", "date"], ["--targets", "a"]):
            assert main([cmd, "--model", run, *flags, *extra, "--overwrite"]) == 0, capsys.readouterr().err
            capsys.readouterr()
    for flags, message in (
            (["--targets", "b"], "--targets: this model predicts --targets a (as it was trained), got b"),
            (["--column", "b"], "--targets: this model predicts --targets a (as it was trained), got b"),
            (["--inputs", "a,b"], "--inputs: this model reads --inputs a (as it was trained), got a,b"),
            (["--time-column", "notes"], "--time-column: this model reads --time-column date (as it was trained)"),
            (["--column", "a", "--targets", "a"], "--targets: give --column NAME or --targets NAMES, not both")):
        assert main(["forecast", "--model", run, *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rnnx forecast: error: {message}") and err.count("\n") == 1, err
    _train(tmp_path, capsys, "--preset", "seed001", "--epochs", "1", out="s")
    assert main(["forecast", "--model", str(tmp_path / "s"), "--csv", f, "--targets", "a", "--steps", "2"]) == 0
    capsys.readouterr()
    assert main(["forecast", "--model", str(tmp_path / "s"), "--csv", f, "--column", "a", "--time-column", "date"]) == 2
    assert "--time-column: applies to a model of named columns" in capsys.readouterr().err


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
    pytest.importorskip("vega_datasets", reason="the seed004 preset's data: pip install -e '.[data]'")
    m, _ = _train(tmp_path, capsys, "--preset", "seed004", "--epochs", "1")
    assert m["inputs"] == ["precipitation", "temp_max", "temp_min", "wind"] and m["targets"] == ["temp_max"]
    assert m["windows"] == {"train": 1013, "val": 217, "test": 217}
    assert m["model"]["hidden_size"] == 50 and m["model"]["activation"] == "sigmoid"
    assert m["train"]["batch_size"] == 4 and m["train"]["shuffle"] is False
    assert abs(m["persistence_test_mse"] - 8.5725) < 1e-3


def test_seed004_corrected_preset(tmp_path, capsys):
    pytest.importorskip("vega_datasets", reason="the seed004 preset's data: pip install -e '.[data]'")
    m, _ = _train(tmp_path, capsys, "--preset", "seed004-corrected", "--epochs", "1")
    assert m["model"]["objective"] == "many-to-one" and m["model"]["activation"] == "tanh"
    assert m["train"]["batch_size"] == 32 and m["train"]["shuffle"] is True and m["train"]["clip_norm"] == 1.0


REFUSED = [
    (["--csv", "X", "--inputs", "a"], "--targets: required with --inputs"),
    (["--csv", "X", "--column", "a", "--targets", "a"], "--targets: give --column NAME (one series) or --inputs/"),
    (["--csv", "X", "--targets", "a,a"], "--targets: column 'a' listed twice (got a,a)"),
    (["--csv", "X", "--inputs", "a", "--targets", "a,zzz"], "--targets: X has no column 'zzz' (columns: date, a, b"),
    (["--csv", "X", "--column", "a", "--targets", "a,b"], "--targets: give --column NAME (one series) or --inputs/"),
    (["--csv", "X", "--targets", "a,b", "--difference", "--objective", "many-to-many"],
     "--difference: models the change to the value after each window (--objective many-to-one)"),
    (["--csv", "X", "--targets", "a", "--difference", "--objective", "many-to-many"],
     "--difference: models the change to the value after each window (--objective many-to-one)"),
    (["--targets", "a"], "--targets: names columns of --csv, but no --csv was given (got --targets a)"),
    (["--preset", "seed001", "--difference"], "--difference: applies to a run of named columns (--csv FILE --targets "
     "NAME [--inputs ...], or --column NAME); got the series preset seed001"),
    (["--preset", "seed001", "--inputs", "a"], "--inputs: give either --preset or --csv, not both"),
    (["--preset", "seed004", "--targets", "a,b"], "--targets: give either --preset or --csv, not both (--preset "
     "seed004 brings its own data; got --targets a,b)"),
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


def test_forecast_of_other_inputs_and_another_column_are_refused_for_a_table_model(tmp_path, capsys):
    f = _csv(tmp_path / "d.csv", n=60)
    _train(tmp_path, capsys, "--csv", f, "--inputs", "a,b", "--targets", "a", "--epochs", "1", "--window", "6")
    assert main(["forecast", "--model", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "forecast: this model reads a, b and predicts a; feeding predictions back needs a model whose inputs " \
           "are exactly its targets" in err and err.count("\n") == 1, err
    assert main(["predict", "--model", str(tmp_path / "r"), "--csv", f, "--column", "b"]) == 2
    assert "--targets: this model predicts --targets a (as it was trained), got b" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "r"), "--csv", f, "--column", "a", "--inputs", "a,b"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "r"), "--csv", f]) == 0
    assert json.loads(capsys.readouterr().out)["windows"] == 60 - 6


def _predict(capsys, *argv):
    assert main(["predict", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_one_target_numbers_are_those_before_several_targets(tmp_path, capsys):
    """The numbers of a tiny one-target run as rnnx computed them before runs of several
    targets existed (on this machine they agree bit for bit, every metric, history row,
    parameter and predictions.csv line; the trained numbers here allow 1e-12 for another
    BLAS); the model file and checkpoint have the fields they had."""
    from rnnx.io import checkpoint

    f = _csv(tmp_path / "d.csv", n=80)
    m, _ = _train(tmp_path, capsys, "--csv", f, "--inputs", "a,b", "--targets", "a", "--time-column", "date",
                  "--epochs", "3", "--window", "6", "--hidden", "4")
    assert m["windows"] == {"train": 52, "val": 11, "test": 11} and "per_target" not in m
    assert m["persistence_test_mse"] == 1.2986101837650001
    assert m["normalisation"] == {"mean": 10.093013637931035, "std": 2.096913073185551}
    want = {"test_mse": 5.063413784175543, "train": 4.810507432395248, "val": 4.92418278560533}
    got = {"test_mse": m["test_mse"], "train": m["final"]["train"], "val": m["final"]["val"]}
    assert all(math.isclose(got[k], want[k], rel_tol=1e-12) for k in want), got
    p = _predict(capsys, "--model", str(tmp_path / "r"))
    assert math.isclose(p["mse"], 5.063413784175544, rel_tol=1e-12) and set(p) == {"windows", "mse",
                                                                                    "persistence_mse", "out"}
    with open(tmp_path / "r" / "predictions.csv") as fh:
        assert fh.readline() == "index,truth,prediction,persistence\n"
    old = {"format", "version", "kind", "model", "norm", "window", "horizon", "dtype", "settings", "data", "scalers"}
    assert set(checkpoint.load(str(tmp_path / "r" / "model.npz"))[0]) == old
    assert "target_norms" not in checkpoint.load(str(tmp_path / "r" / "checkpoint.npz"))[0]["run"]


def test_several_targets_train_predict_and_resume(tmp_path, capsys):
    from rnnx.data import Normaliser
    from rnnx.io import checkpoint

    f = _csv(tmp_path / "d.csv", n=80)
    args = ["--csv", f, "--inputs", "b", "--targets", "a,b", "--window", "6", "--hidden", "4", "--no-shuffle"]
    m, _ = _train(tmp_path, capsys, *args, "--epochs", "4", out="whole")
    assert m["targets"] == ["a", "b"] and m["model"]["input_size"] == 1 and m["model"]["output_size"] == 2
    per = m["per_target"]
    assert list(per) == ["a", "b"]
    for key in ("test_mse", "persistence_test_mse"):  # the top level: the mean over the targets, in their units
        assert m[key] == math.fsum(per[t][key] for t in per) / 2
    assert m["final"]["val"] == (per["a"]["final"]["val"] + per["b"]["final"]["val"]) / 2
    # each target normalised on the training rows by its own scaler; the same windows as a run of one target
    one, _ = _train(tmp_path, capsys, "--csv", f, "--inputs", "b", "--targets", "a", "--window", "6",
                    "--hidden", "4", "--epochs", "1", out="one")
    assert per["a"]["normalisation"] == one["normalisation"] == m["normalisation"]
    assert per["a"]["persistence_test_mse"] == one["persistence_test_mse"]
    b = np.loadtxt(f, delimiter=",", skiprows=1, usecols=2)[: 52 + 6]  # the rows of the 52 training windows
    assert per["b"]["normalisation"] == {"mean": Normaliser.fit(b.tolist()).mean, "std": Normaliser.fit(b.tolist()).std}
    meta = checkpoint.load(str(tmp_path / "whole" / "model.npz"))[0]
    assert meta["target_norms"] == [[per[t]["normalisation"]["mean"], per[t]["normalisation"]["std"]] for t in per]
    assert meta["norm"] == meta["target_norms"][0]
    # predict: one true, predicted and persistence column per target, its MSEs the run's
    p = _predict(capsys, "--model", str(tmp_path / "whole"))
    for t in per:
        assert math.isclose(p["per_target"][t]["mse"], per[t]["test_mse"], rel_tol=1e-12)
        assert p["per_target"][t]["persistence_mse"] == per[t]["persistence_test_mse"]
    rows = (tmp_path / "whole" / "predictions.csv").read_text().splitlines()
    assert rows[0] == "index,a,a_predicted,a_persistence,b,b_predicted,b_persistence" and len(rows) == 1 + 11
    assert os.path.getsize(tmp_path / "whole" / "predictions.png") > 0
    # a resumed run of several targets ends where an uninterrupted one does
    _train(tmp_path, capsys, *args, "--epochs", "2", out="half")
    assert main(["train", "--resume", str(tmp_path / "half"), "--epochs", "4", "--quiet"]) == 0
    capsys.readouterr()
    with open(tmp_path / "half" / "metrics.json") as fh:
        resumed = json.load(fh)
    assert resumed["test_mse"] == m["test_mse"] and resumed["per_target"] == per


def test_several_targets_difference_and_the_range_warning_per_target(tmp_path, capsys):
    f = _csv(tmp_path / "trend.csv", n=120, trend=0.12)
    args = ["--csv", f, "--targets", "a,b", "--epochs", "3", "--window", "6", "--hidden", "4"]
    _, err = _train(tmp_path, capsys, *args, out="l")
    assert "leave the training range" in err and "'a' test" in err and "'b' test" not in err, err
    diff, err = _train(tmp_path, capsys, *args, "--difference", out="d")
    assert "leave the training range" not in err
    # each target modelled as its change (its scaler fitted on the changes), predictions and metrics in levels
    assert abs(diff["per_target"]["a"]["normalisation"]["mean"] - 0.12) < 0.05
    p = _predict(capsys, "--model", str(tmp_path / "d"))
    for t in ("a", "b"):
        assert math.isclose(p["per_target"][t]["mse"], diff["per_target"][t]["test_mse"], rel_tol=1e-12)


@pytest.mark.parametrize("difference", [False, True], ids=["levels", "difference"])
def test_forecast_of_a_model_whose_inputs_are_its_targets(tmp_path, capsys, difference):
    f = _csv(tmp_path / "d.csv", n=60)
    extra = ["--difference"] if difference else []
    _train(tmp_path, capsys, "--csv", f, "--inputs", "b,a", "--targets", "a,b", "--epochs", "2", "--window", "6",
           "--hidden", "4", *extra)
    assert main(["forecast", "--model", str(tmp_path / "r"), "--steps", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    steps = (tmp_path / "r" / "forecast.csv").read_text().splitlines()
    assert steps[0] == "index,a,b" and steps[1].startswith("60,") and len(steps) == 3
    assert os.path.getsize(r["plot"]) > 0
    text = Path(f).read_text()
    # the first step is the model's prediction after the last window (predict on one more row)
    with open(tmp_path / "more.csv", "w") as fh:
        fh.write(text + "2099-01-01,0,0,x\n")
    assert main(["predict", "--model", str(tmp_path / "r"), "--csv", str(tmp_path / "more.csv"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    capsys.readouterr()
    last = (tmp_path / "p.csv").read_text().splitlines()[-1].split(",")
    assert math.isclose(float(last[2]), r["values"]["a"][0], rel_tol=1e-12)
    assert math.isclose(float(last[5]), r["values"]["b"][0], rel_tol=1e-12)
    # the second is the first step from the table with the first forecast row appended: each prediction fed back
    with open(tmp_path / "fed.csv", "w") as fh:
        fh.write(text + f"2099-01-01,{r['values']['a'][0]!r},{r['values']['b'][0]!r},x\n")
    assert main(["forecast", "--model", str(tmp_path / "r"), "--steps", "1", "--csv", str(tmp_path / "fed.csv"),
                 "--out", str(tmp_path / "f.csv")]) == 0
    fed = json.loads(capsys.readouterr().out)["values"]
    for t in ("a", "b"):
        assert math.isclose(fed[t][0], r["values"][t][1], rel_tol=1e-9), (fed, r["values"])


def test_several_targets_refusals_of_predict_and_forecast(tmp_path, capsys):
    from rnnx.io import checkpoint

    f = _csv(tmp_path / "d.csv", n=40)
    _train(tmp_path, capsys, "--csv", f, "--inputs", "a", "--targets", "a,b", "--epochs", "1", "--window", "6")
    assert main(["forecast", "--model", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "forecast: this model reads a and predicts a, b; feeding predictions back needs" in err, err
    # a file whose per-target normalisers were removed (edited by hand): one line, nothing written
    path = str(tmp_path / "r" / "model.npz")
    meta, groups = checkpoint.load(path)
    meta = {k: v for k, v in meta.items() if k not in ("format", "version", "target_norms")}
    checkpoint.save(path, meta, groups, to_numpy=np.asarray)
    assert main(["predict", "--model", str(tmp_path / "r"), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "holds 1 target normaliser(s) for the 2 target column(s)" in err and err.count("\n") == 1, err
    assert not os.path.exists(tmp_path / "p.csv")
