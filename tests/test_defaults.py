"""One defaults table (rnnx/training/defaults.py) read by ``rnnx train`` and the estimators
(issue 29, item 3): the command's defaults for each kind of run and the estimators'
``__init__`` defaults are the table's, so they cannot drift apart again."""

from __future__ import annotations

import argparse
import inspect

import pytest

import rnnx
from rnnx.cli import settings
from rnnx.cli.tasks import classification as panel_app
from rnnx.cli.tasks import text as text_app
from rnnx.cli.commands import train
from rnnx.training.defaults import CLASSIFICATION, DEFAULTS, REGRESSION, TEXT

#: An estimator's parameter -> the table's field.
ESTIMATOR_FIELDS = {"cell": "cell", "hidden_size": "hidden", "num_layers": "layers", "epochs": "epochs",
                    "batch_size": "batch_size", "optimizer": "optimizer", "lr": "lr",
                    "validation_fraction": "validation", "early_stopping": "patience", "clip_norm": "clip_norm",
                    "min_epochs": "min_epochs"}


def _parsed(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    train.add_arguments(p)
    return p.parse_args(list(argv))


def test_table_has_every_task():
    assert set(DEFAULTS) == {"regression", "classification", "text"}
    for d in DEFAULTS.values():
        assert abs(sum(d.split) - 1.0) < 1e-12 and 0.0 <= d.validation < 1.0 and d.why


def test_regression_command_reads_the_table():
    args = _parsed("--csv", "x.csv")
    for k in ("cell", "hidden", "layers", "epochs", "batch_size", "optimizer", "lr", "early_stopping", "clip_norm",
              "clip_value", "split"):
        assert getattr(args, k) is None, k  # not given: the table applies
    s = settings.resolve({"csv": "x.csv", "column": "y"})
    got = {"cell": s.cell, "hidden": s.hidden, "layers": s.layers, "epochs": s.epochs, "batch_size": s.batch_size,
           "optimizer": s.optimizer, "lr": s.lr, "split": s.split, "patience": s.early_stopping,
           "clip_norm": s.clip_norm, "clip_value": s.clip_value}
    assert got == {k: getattr(REGRESSION, k) for k in got}
    assert s.split[1] == REGRESSION.validation


def test_classification_command_reads_the_table():
    d = panel_app.DEFAULTS
    got = {"cell": d["cell"], "hidden": d["hidden"], "layers": d["layers"], "epochs": d["epochs"],
           "batch_size": d["batch_size"], "optimizer": d["optimizer"], "lr": d["lr"], "patience": d["early_stopping"],
           "clip_norm": d["clip_norm"], "clip_value": d["clip_value"], "min_epochs": d["min_epochs"]}
    assert got == {k: getattr(CLASSIFICATION, k) for k in got}
    help_text = argparse.ArgumentParser()
    train.add_arguments(help_text)
    text = help_text.format_help()
    assert f"--hidden {CLASSIFICATION.hidden} " in text and f"--early-stopping {CLASSIFICATION.patience} " in text
    assert f"--min-epochs {CLASSIFICATION.min_epochs} " in text


def test_text_command_reads_the_table():
    d = text_app.DEFAULTS
    got = {"cell": d["cell"], "hidden": d["hidden"], "layers": d["layers"], "epochs": d["epochs"],
           "batch_size": d["streams"], "optimizer": d["optimizer"], "lr": d["lr"], "clip_value": d["clip_value"]}
    assert got == {k: getattr(TEXT, k) for k in got}
    assert text_app.TRAIN_SHARE == TEXT.split[0] == 1 - TEXT.validation


@pytest.mark.parametrize("estimator, row", [(rnnx.RNNClassifier, CLASSIFICATION), (rnnx.RNNRegressor, REGRESSION)])
def test_estimators_read_the_table(estimator, row):
    params = inspect.signature(estimator.__init__).parameters
    got = {field: params[name].default for name, field in ESTIMATOR_FIELDS.items()}
    assert got == {f: getattr(row, f) for f in got}
    assert estimator().get_params()["hidden_size"] == row.hidden


def test_classifier_default_validates_on_a_stratified_part():
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5, 1))
    y = np.array([0, 1] * 10)
    clf = rnnx.RNNClassifier(epochs=2, hidden_size=4, random_state=0).fit(X, y)
    assert "val_loss" in clf.history_[0]  # the command's 20% stratified validation part, by default


def test_min_epochs_delays_early_stopping_in_the_command_and_the_estimator(tmp_path):
    """--min-epochs / min_epochs (the table's, 100 for classification): no stop and no best
    epoch before it (docs/real-data.md 2b: GunPoint stopped at epoch 31 with its best at 1);
    the command and the estimator train the same epochs."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    import json
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6, 2))
    y = rng.integers(0, 2, size=40)  # no signal: the validation loss stops improving within a few epochs
    np.savez(tmp_path / "d.npz", x=x, y=y)
    argv = [sys.executable, "-m", "rnnx", "train", "--npz", "d.npz", "--hidden", "16", "--lr", "0.05", "--epochs", "40",
            "--early-stopping", "3", "--min-epochs", "12", "--quiet"]
    r = subprocess.run([*argv, "--out", "r"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["best_epoch"] > 12 and m["epochs"] >= 15, m  # neither stopped nor best before epoch 13
    r0 = subprocess.run([*argv[:-3], "--min-epochs", "0", "--quiet", "--out", "r0"], capture_output=True, text=True,
                        cwd=tmp_path, timeout=600)
    assert r0.returncode == 0, r0.stderr
    m0 = json.loads((tmp_path / "r0" / "metrics.json").read_text())
    assert m0["epochs"] < m["epochs"], (m0["epochs"], m["epochs"])  # without it the run stops earlier
    clf = rnnx.RNNClassifier(hidden_size=16, lr=0.05, epochs=40, early_stopping=3, min_epochs=12,
                             random_state=0).fit(x, y)
    assert clf.best_epoch_ > 12 and clf.n_epochs_ >= 15
    with pytest.raises(ValueError, match=r"^min_epochs: expected an int >= 0, got -1$"):
        rnnx.RNNClassifier(min_epochs=-1).fit(x, y)


def test_a_run_folder_without_min_epochs_resumes_as_it_trained(tmp_path):
    """A classification run of an older rnnx has no settings.min_epochs in classes.json: it
    resumes with 0 (what it trained with), bit for bit as an uninterrupted run of the same
    settings; --min-epochs with --resume is refused (the run's own settings)."""
    np = pytest.importorskip("numpy")
    import json
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(40, 6, 2)), y=rng.integers(0, 2, size=40))
    base = [sys.executable, "-m", "rnnx", "train", "--npz", "d.npz", "--hidden", "8", "--early-stopping", "30",
            "--min-epochs", "0", "--checkpoint-every", "1", "--quiet"]
    for out, epochs in (("old", "3"), ("whole", "6")):
        r = subprocess.run([*base, "--epochs", epochs, "--out", out], capture_output=True, text=True, cwd=tmp_path,
                           timeout=600)
        assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "old" / "classes.json").read_text())
    del record["settings"]["min_epochs"]  # as an older rnnx wrote it
    (tmp_path / "old" / "classes.json").write_text(json.dumps(record))
    r = subprocess.run([sys.executable, "-m", "rnnx", "train", "--resume", "old", "--epochs", "6", "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    a = np.load(tmp_path / "old" / "model.npz")
    b = np.load(tmp_path / "whole" / "model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in b.files if k != "meta")
    r = subprocess.run([sys.executable, "-m", "rnnx", "train", "--resume", "old", "--epochs", "8", "--min-epochs", "5"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 2 and r.stderr.strip().endswith("drop --min-epochs"), r.stderr
