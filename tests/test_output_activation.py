"""A bounded output activation (tanh, sigmoid) on the head of a regression run: the targets
are scaled onto its range (min-max of the training targets onto the middle 90% of it) instead
of standardised, so the activation can reach every training target (issue 30, item 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnx import data
from rnnx.data import dataset, tables
from rnnx.nn import head
from rnnx.cli.tasks import regression as app
from rnnx.cli.settings import resolve
from rnnx.io import checkpoint

BOUNDED = [("tanh", (-1.0, 1.0)), ("sigmoid", (0.0, 1.0))]


def train(tmp_path, name="run", **cli):
    return app.train(resolve(cli), out=str(tmp_path / name), quiet=True)


def test_head_names_the_range_of_each_bounded_activation():
    assert head.RANGES == {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
    assert set(head.RANGES) < set(head.ACTIVATIONS)


@pytest.mark.parametrize("act,rng", BOUNDED)
def test_fit_range_maps_min_and_max_onto_90_percent_of_the_range(act, rng):
    values = [3.0, -7.5, 12.25, 0.5, 4.0]
    n = data.Normaliser.fit_range(values, *rng)
    lo, hi = rng
    margin = 0.05 * (hi - lo)
    assert n(min(values)) == pytest.approx(lo + margin) and n(max(values)) == pytest.approx(hi - margin)
    assert all(n.inverse(n(v)) == pytest.approx(v) for v in values)


def test_fit_range_of_a_constant_or_huge_series():
    n = data.Normaliser.fit_range([2.0, 2.0], -1.0, 1.0)
    assert n.std == 1.0 and n(2.0) == 0.0
    n = data.Normaliser.fit_range([-1.5e308, 1.5e308], -1.0, 1.0)  # max - min overflows: halves first
    assert math.isfinite(n.std) and n(1.5e308) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="low"):
        data.Normaliser.fit_range([1.0], 1.0, -1.0)


@pytest.mark.parametrize("act,rng", BOUNDED)
def test_build_puts_the_training_targets_inside_the_range(act, rng):
    series = (3.0 + 2.0 * np.sin(np.linspace(0, 30, 300))).tolist()
    ds = dataset.build(series, window=10, horizon=1, split=(0.7, 0.1, 0.2), every_step=False, xp=np,
                       dtype=np.float64, device="cpu", target_range=rng)
    y = np.asarray(ds.parts["train"].y)
    lo, hi = rng
    margin = 0.05 * (hi - lo)
    assert y.min() >= lo + margin - 1e-12 and y.max() <= hi - margin + 1e-12
    assert y.min() == pytest.approx(lo + margin, abs=1e-3) and y.max() == pytest.approx(hi - margin, abs=1e-3)


@pytest.mark.parametrize("act,rng", BOUNDED)
def test_build_table_scales_the_targets_and_standardises_the_inputs(act, rng):
    t = np.linspace(0, 30, 300)
    values = np.stack([10 + 5 * np.sin(t), 100 + 20 * np.cos(t)], axis=1)
    ds = tables.build_table(values, columns=("a", "b"), inputs=("a", "b"), targets=("a",), window=8, horizon=1,
                            split=(0.7, 0.1, 0.2), every_step=False, xp=np, dtype=np.float64, device="cpu",
                            target_range=rng)
    y = np.asarray(ds.parts["train"].y)
    lo, hi = rng
    assert y.min() == pytest.approx(lo + 0.05 * (hi - lo), abs=1e-3)
    assert y.max() == pytest.approx(hi - 0.05 * (hi - lo), abs=1e-3)
    x = np.asarray(ds.parts["train"].x)
    assert abs(float(x.mean())) < 0.2 and x.std() == pytest.approx(1.0, abs=0.2)  # inputs: standardised


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_seed001_with_a_bounded_output_activation_beats_persistence(tmp_path, act):
    """Standardised targets (+-1.41 for a sine) under tanh flattened the predictions at +-1
    std (test MSE 0.024, sigmoid 0.297; persistence 0.0049): scaled onto the range, the
    activation's run is a true answer to "does it help"."""
    m = train(tmp_path, preset="seed001", output_activation=act)
    assert m["test_mse"] < m["persistence_test_mse"], m["test_mse"]
    meta = checkpoint.load(str(tmp_path / "run" / "model.npz"))[0]
    norm = data.Normaliser(*meta["norm"])
    series = data.sine(1000, 0.0, 100.0)
    lo, hi = head.RANGES[act]
    z = [norm(v) for v in series]  # a sine: the test part stays in the training range
    assert lo < min(z) and max(z) < hi
    assert m["normalisation"]["mean"] == meta["norm"][0] and m["normalisation"]["std"] == meta["norm"][1]


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_predict_and_forecast_invert_the_stored_scaling(tmp_path, act):
    """model.npz's ``norm`` = [offset, scale] is read back by predict and forecast as a
    [mean, std]: predict's MSE is the run's test MSE, forecast's first step is the next value
    (to the one-step error) and every forecast lies inside the activation's image."""
    m = train(tmp_path, preset="seed001", output_activation=act)
    p = app.predict(str(tmp_path / "run"))
    assert p["mse"] == pytest.approx(m["test_mse"], rel=1e-9)
    r = app.forecast(str(tmp_path / "run"), 20)
    truth = math.sin(100 + 100 / 999)
    assert abs(r["values"][0] - truth) < 0.05
    norm = data.Normaliser(*checkpoint.load(str(tmp_path / "run" / "model.npz"))[0]["norm"])
    lo, hi = (norm.inverse(v) for v in head.RANGES[act])
    assert all(lo < v < hi for v in r["values"])


def test_without_normalisation_the_targets_stay_raw(tmp_path):
    """seed001-original trains on raw values: a bounded activation does not rescale them."""
    train(tmp_path, preset="seed001-original", output_activation="tanh", epochs=1)
    assert checkpoint.load(str(tmp_path / "run" / "model.npz"))[0]["norm"] == [0.0, 1.0]
