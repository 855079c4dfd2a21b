"""One defaults table (rnnx/training/defaults.py) read by ``rnnx train`` and the estimators
(issue 29, item 3): the command's defaults for each kind of run and the estimators'
``__init__`` defaults are the table's, so they cannot drift apart again."""

from __future__ import annotations

import argparse
import inspect

import pytest

import rnnx
from rnnx.cli import panel_app, settings, text_app
from rnnx.cli.commands import train
from rnnx.training.defaults import CLASSIFICATION, DEFAULTS, REGRESSION, TEXT

#: An estimator's parameter -> the table's field.
ESTIMATOR_FIELDS = {"cell": "cell", "hidden_size": "hidden", "num_layers": "layers", "epochs": "epochs",
                    "batch_size": "batch_size", "optimizer": "optimizer", "lr": "lr",
                    "validation_fraction": "validation", "early_stopping": "patience", "clip_norm": "clip_norm"}


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
           "clip_norm": d["clip_norm"], "clip_value": d["clip_value"]}
    assert got == {k: getattr(CLASSIFICATION, k) for k in got}
    help_text = argparse.ArgumentParser()
    train.add_arguments(help_text)
    text = help_text.format_help()
    assert f"--hidden {CLASSIFICATION.hidden} " in text and f"--early-stopping {CLASSIFICATION.patience} " in text


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
