"""``rnnx train / predict / forecast`` bad input: one clear line on stderr naming the
problem, a non-zero exit, and nothing overwritten."""

from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pytest

from rnnx.io import checkpoint
from rnnx.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv, code=2):
    got, out, err = run(capsys, *argv)
    assert got == code, (got, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def series_csv(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("t,value,label\n" + "".join(f"{i},{math.sin(0.2 * i)},x\n" for i in range(300)))
    return p


def test_csv_problems(capsys, tmp_path, series_csv):
    out = str(tmp_path / "o")
    assert "does not exist" in one_line_error(capsys, "train", "--csv", str(tmp_path / "no.csv"), "--column", "v", "--out", out)
    (tmp_path / "empty.csv").write_text("")
    assert "is empty" in one_line_error(capsys, "train", "--csv", str(tmp_path / "empty.csv"), "--column", "v", "--out", out)
    (tmp_path / "header.csv").write_text("t,value\n")
    assert "no data rows" in one_line_error(capsys, "train", "--csv", str(tmp_path / "header.csv"), "--column", "value", "--out", out)
    err = one_line_error(capsys, "train", "--csv", str(series_csv), "--column", "price", "--out", out)
    assert "'price' is not a column" in err and "['t', 'value', 'label']" in err
    err = one_line_error(capsys, "train", "--csv", str(series_csv), "--column", "label", "--out", out)
    assert "row 2" in err and "'x' is not a number" in err
    bad = tmp_path / "nan.csv"
    bad.write_text("value\n1.0\n2.0\nnan\n3.0\n")
    assert "row 4" in (e := one_line_error(capsys, "train", "--csv", str(bad), "--column", "value", "--out", out)) and "NaN/Inf" in e
    bad.write_text("value\n1.0\ninf\n")
    assert "row 3" in one_line_error(capsys, "train", "--csv", str(bad), "--column", "value", "--out", out)
    short = tmp_path / "short.csv"
    short.write_text("value\n" + "".join(f"{i}\n" for i in range(10)))
    err = one_line_error(capsys, "train", "--csv", str(short), "--column", "value", "--out", out)
    assert "--window" in err and "needs at least 21 values, the series has 10" in err
    err = one_line_error(capsys, "train", "--csv", str(series_csv), "--column", "value", "--window", "400", "--out", out)
    assert "needs at least 401 values, the series has 300" in err
    assert not os.path.exists(out), "a failed run must not create its output folder"


@pytest.mark.parametrize("lr", ["0", "-0.1", "nan", "inf"])
def test_bad_learning_rate(capsys, tmp_path, lr):
    err = one_line_error(capsys, "train", "--preset", "seed001", "--lr", lr, "--out", str(tmp_path / "o"))
    assert "--lr: expected a finite learning rate > 0" in err


def test_unknown_and_missing_backend(capsys, tmp_path):
    err = one_line_error(capsys, "train", "--preset", "seed001", "--backend", "tensorflow", "--out", str(tmp_path / "o"))
    assert "unknown backend 'tensorflow'" in err and "numpy" in err
    try:
        import cupy  # noqa: F401

        pytest.skip("cupy is installed here")
    except ImportError:
        pass
    err = one_line_error(capsys, "train", "--preset", "seed001", "--backend", "cupy", "--out", str(tmp_path / "o"))
    assert "cupy is not installed" in err and "pip install" in err


def test_out_is_a_file(capsys, tmp_path):
    f = tmp_path / "taken"
    f.write_text("precious")
    err = one_line_error(capsys, "train", "--preset", "seed001", "--out", str(f))
    assert "is a file" in err and f.read_text() == "precious"


def test_out_with_a_run_is_not_overwritten(capsys, tmp_path):
    out = tmp_path / "o"
    assert run(capsys, "train", "--preset", "seed001", "--epochs", "2", "--quiet", "--out", str(out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    err = one_line_error(capsys, "train", "--preset", "seed001", "--epochs", "3", "--quiet", "--out", str(out))
    assert "already holds a run" in err and "--resume" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.fixture
def finished_run(capsys, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, "train", "--preset", "seed001", "--epochs", "2", "--quiet", "--out", str(out))[0] == 0
    return out


def test_corrupt_truncated_and_foreign_checkpoints(capsys, tmp_path, finished_run):
    ck = finished_run / "checkpoint.npz"
    good = ck.read_bytes()
    ck.write_bytes(good[: len(good) // 2])
    assert "corrupt or truncated" in one_line_error(capsys, "train", "--resume", str(finished_run))
    ck.write_bytes(b"not a zip file at all")
    assert "corrupt or truncated" in one_line_error(capsys, "train", "--resume", str(finished_run))
    np.savez(ck, weights=np.zeros(3))  # some other program's npz
    assert "not an rnnx checkpoint" in one_line_error(capsys, "train", "--resume", str(finished_run))
    assert "is not a folder" in one_line_error(capsys, "train", "--resume", str(tmp_path / "nowhere"))
    shutil.copy(finished_run / "model.npz", ck)  # a model file where a checkpoint belongs
    assert "expected a training checkpoint" in one_line_error(capsys, "train", "--resume", str(finished_run))


def test_checkpoint_of_another_cell_or_size(capsys, tmp_path, finished_run):
    """Arrays that do not fit the model the file describes: named key and shapes."""
    other = tmp_path / "gru"
    assert run(capsys, "train", "--preset", "seed001", "--cell", "gru", "--hidden", "8", "--epochs", "1", "--quiet",
               "--out", str(other))[0] == 0
    meta, groups = checkpoint.load(str(finished_run / "checkpoint.npz"))
    _, theirs = checkpoint.load(str(other / "checkpoint.npz"))
    groups["params"] = theirs["params"]
    checkpoint.save(str(finished_run / "checkpoint.npz"), {k: v for k, v in meta.items() if k not in ("format", "version")},
                    groups, to_numpy=np.asarray)
    err = one_line_error(capsys, "train", "--resume", str(finished_run))
    assert "does not fit RNN(1, 16) + head" in err and "weight_ih_l0 has shape (24, 1), expected (16, 1)" in err
    shutil.copy(other / "model.npz", finished_run / "model.npz")
    meta2, g2 = checkpoint.load(str(finished_run / "model.npz"))
    meta2["model"]["hidden_size"] = 16
    checkpoint.save(str(finished_run / "model.npz"), {k: v for k, v in meta2.items() if k not in ("format", "version")},
                    g2, to_numpy=np.asarray)
    assert "does not fit GRU(1, 16) + head" in one_line_error(capsys, "predict", "--model", str(finished_run))


def test_resume_takes_no_other_settings(capsys, finished_run):
    err = one_line_error(capsys, "train", "--resume", str(finished_run), "--lr", "0.1")
    assert "drop --lr" in err


def test_nan_loss_stops_and_keeps_last_good_checkpoint(capsys, tmp_path, series_csv):
    out = tmp_path / "o"
    err = one_line_error(capsys, "train", "--csv", str(series_csv), "--column", "value", "--cell", "rnn",
                         "--optimizer", "sgd", "--lr", "5", "--checkpoint-every", "1",
                         "--epochs", "30", "--quiet", "--out", str(out), code=3)
    import re

    m = re.search(r"the loss became (nan|inf) at epoch (\d+); stopped, the last good checkpoint \(epoch (\d+)\)", err)
    assert m and int(m[3]) == int(m[2]) - 1 >= 1, err
    assert "--clip-norm" in err and "lower --lr" in err
    meta, groups = checkpoint.load(str(out / "checkpoint.npz"))
    assert meta["epoch"] == int(m[3]) and all(np.isfinite(v).all() for v in groups["params"].values())
    assert not (out / "metrics.json").exists()


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--tbptt", "3,x"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected comma-separated integers" in err


def test_tbptt_needs_many_to_many(capsys, tmp_path):
    err = one_line_error(capsys, "train", "--preset", "seed001", "--tbptt", "5,5", "--out", str(tmp_path / "o"))
    assert "many-to-many" in err


def test_predict_and_forecast_problems(capsys, tmp_path, finished_run):
    assert "--model: " in (e := one_line_error(capsys, "predict", "--model", str(tmp_path / "none"))) and "is not a folder holding a run" in e
    assert "--steps" in one_line_error(capsys, "forecast", "--model", str(finished_run), "--steps", "0")
    code, out, _ = run(capsys, "forecast", "--model", str(finished_run), "--steps", "5")
    assert code == 0 and '"steps": 5' in out
