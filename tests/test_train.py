"""The main job: presets reach their accuracy (shortened where needed), backends agree,
checkpoints resume bit for bit (also after SIGKILL), early stopping keeps the best."""

from __future__ import annotations

import csv

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnx.cli.tasks import regression as app
from rnnx.cli.settings import resolve
from rnnx.io import checkpoint
from rnnx.backends import Target

CPU = [t for t in ("numpy", "torch", "jax", "array_api_strict") if not Target(t, "cpu" if t != "array_api_strict"
       else "device1").unavailable()]


def train(tmp_path, name="run", **cli):
    return app.train(resolve(cli), out=str(tmp_path / name), quiet=True)


def test_seed001_preset_reaches_1e_4(tmp_path):
    m = train(tmp_path, preset="seed001")
    assert m["test_mse"] <= 1e-4, m["test_mse"]
    assert m["persistence_test_mse"] == pytest.approx(0.00491, rel=0.01)
    assert m["windows"] == {"train": 713, "val": 79, "test": 198}
    out = tmp_path / "run"
    for f in ("metrics.json", "history.csv", "convergence.png", "predictions.png", "checkpoint.npz", "model.npz"):
        assert (out / f).stat().st_size > 0, f
    saved = json.loads((out / "metrics.json").read_text())
    for k in ("final", "best", "persistence_test_mse", "epochs", "seconds_training", "backend", "versions"):
        assert k in saved
    assert set(saved["final"]) == {"train", "val", "test"}
    assert (out / "history.csv").read_text().count("\n") == m["epochs"] + 1


_SEED000: dict = {}


def _seed000(tmp_path_factory, backend):
    """25 epochs of seed000 (the preset runs up to 300) in float64, once per backend."""
    if backend not in _SEED000:
        out = tmp_path_factory.mktemp(f"seed000-{backend}")
        _SEED000[backend] = app.train(resolve({"preset": "seed000", "backend": backend.replace("_", "-"), "epochs": 25}),
                                      out=str(out / "run"), quiet=True)["test_mse"]
    return _SEED000[backend]


@pytest.mark.parametrize("backend", CPU)
def test_seed000_shortened_on_every_cpu_backend(tmp_path_factory, backend):
    """<= 1e-4 on every CPU backend, and the same test MSE as NumPy to 3 significant figures."""
    got, ref = _seed000(tmp_path_factory, backend), _seed000(tmp_path_factory, "numpy")
    assert got <= 1e-4
    assert f"{got:.3g}" == f"{ref:.3g}", (got, ref)


def test_early_stopping_keeps_best(tmp_path):
    m = train(tmp_path, preset="seed001", epochs=60, early_stopping=3, lr=0.05)
    assert m["stopped"] == "early-stopped" and m["epochs"] == m["best_epoch"] + 3
    assert m["used_params"] == "best" and m["test_mse"] == m["best"]["test"]


def _params(path):
    return checkpoint.load(str(path))[1]["params"]


@pytest.mark.parametrize("extra", [{}, {"cell": "gru", "hidden": 8, "layers": 2, "dropout": 0.3},
                                   {"output_activation": "tanh"}], ids=["rnn", "gru-dropout", "tanh-scaled"])
def test_resume_equals_uninterrupted_bit_for_bit(tmp_path, monkeypatch, extra):
    """Interrupted in epoch 7 (last checkpoint: epoch 4), resumed: same params, bit for bit
    (with dropout: the same masks)."""
    full = train(tmp_path, name="full", preset="seed001", epochs=12, checkpoint_every=4, early_stopping=None, **extra)
    from rnnx.training.windows import SeriesMetrics

    real = SeriesMetrics.on_epoch_metrics

    def interrupted(self, run, row):  # in epoch 7, its updates done, before anything is recorded
        if run.epoch == 7:
            raise KeyboardInterrupt
        return real(self, run, row)

    monkeypatch.setattr(SeriesMetrics, "on_epoch_metrics", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, name="cut", preset="seed001", epochs=12, checkpoint_every=4, **extra)
    assert checkpoint.load(str(tmp_path / "cut" / "checkpoint.npz"))[0]["epoch"] == 4
    monkeypatch.setattr(SeriesMetrics, "on_epoch_metrics", real)
    resumed = app.resume(str(tmp_path / "cut"), quiet=True)
    a, b = _params(tmp_path / "full" / "model.npz"), _params(tmp_path / "cut" / "model.npz")
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert resumed["test_mse"] == full["test_mse"] and resumed["epochs"] == 12
    ha = (tmp_path / "full" / "history.csv").read_text().splitlines()
    hb = (tmp_path / "cut" / "history.csv").read_text().splitlines()
    strip = lambda rows: [r.rsplit(",", 1)[0] for r in rows]  # noqa: E731  (drop the seconds column)
    assert strip(ha) == strip(hb)


def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
    """A run killed with SIGKILL mid-training resumes from its last checkpoint to the same
    final params as a run that was never interrupted."""
    args = ["--preset", "seed001", "--epochs", "150", "--checkpoint-every", "5", "--quiet"]
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "rnnx", "train", *args, "--out", str(ref)], check=True,
                   capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "rnnx", "train", *args, "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = run / "checkpoint.npz"
    deadline = time.time() + 60
    while time.time() < deadline:
        if ck.exists():
            try:
                if checkpoint.load(str(ck))[0]["epoch"] >= 10:
                    break
            except checkpoint.CheckpointError:
                pass  # never happens with atomic writes, but keep polling
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = checkpoint.load(str(ck))[0]["epoch"]
    final_epochs = json.loads((ref / "metrics.json").read_text())["epochs"]
    assert 10 <= killed_at < final_epochs, "the run must be killed before it finished"
    assert not (run / "metrics.json").exists()
    r = subprocess.run([sys.executable, "-m", "rnnx", "train", "--resume", str(run), "--quiet"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    a, b = _params(ref / "model.npz"), _params(run / "model.npz")
    assert a.keys() == b.keys() and all(a[k].tobytes() == b[k].tobytes() for k in a)
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (ref, run))
    assert ma["test_mse"] == mb["test_mse"] and ma["epochs"] == mb["epochs"]


@pytest.mark.parametrize("backend", [b for b in CPU if b != "numpy"])
def test_checkpoint_loads_on_any_backend(tmp_path, backend):
    train(tmp_path, preset="seed001", epochs=5)
    ref = app.predict(str(tmp_path / "run"), out=str(tmp_path / "p0.csv"))
    got = app.predict(str(tmp_path / "run"), backend=backend.replace("_", "-"), out=str(tmp_path / "p1.csv"))
    assert got["windows"] == ref["windows"] == 198
    assert abs(got["mse"] - ref["mse"]) <= 1e-9 * ref["mse"]


def test_resume_on_a_finished_run_changes_nothing(tmp_path):
    train(tmp_path, preset="seed001", epochs=3)
    before = _params(tmp_path / "run" / "model.npz")
    app.resume(str(tmp_path / "run"), quiet=True)
    after = _params(tmp_path / "run" / "model.npz")
    assert all(before[k].tobytes() == after[k].tobytes() for k in before)


def test_forecast_feeds_predictions_back(tmp_path):
    train(tmp_path, preset="seed001", epochs=40)
    r = app.forecast(str(tmp_path / "run"), 20)
    assert len(r["values"]) == 20 and os.path.getsize(r["plot"]) > 0
    truth = np.sin(np.linspace(0, 100, 1000)[-1] + (100 / 999) * np.arange(1, 21))
    assert np.max(np.abs(np.asarray(r["values"]) - truth)) < 0.05


def test_tbptt_and_other_optimizers_train(tmp_path):
    m = train(tmp_path, preset="seed001", objective="many-to-many", tbptt=(5, 8), epochs=3, cell="gru",
              optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True)
    assert m["epochs"] == 3 and np.isfinite(m["test_mse"])
    m = train(tmp_path, name="ada", preset="seed001", epochs=3, optimizer="adagrad", lr=0.05, clip_value=0.5)
    assert m["epochs"] == 3 and 0 <= m["clipped_fraction"] <= 1


@pytest.mark.parametrize("kw,argv,msg,line", [
    (dict(lr=0), ["--lr", "0"], "lr: expected a finite number > 0, got 0",
     "--lr: expected a finite learning rate > 0, got 0.0"),
    (dict(lr=float("nan")), ["--lr", "nan"], "lr: expected a finite number > 0, got nan",
     "--lr: expected a finite learning rate > 0, got nan"),
    (dict(batch_size=0), ["--batch-size", "0"], "batch_size: expected a positive integer, got 0",
     "--batch-size: expected a positive integer, got 0"),
    (dict(epochs=True), ["--epochs", "0"], "epochs: expected a positive integer, got True",
     "--epochs: expected a positive integer, got 0"),
    (dict(optimizer="adamax"), ["--optimizer", "adamax"],
     "optimizer: expected one of sgd, adam, adagrad, rmsprop, adamw, got 'adamax'",
     "argument --optimizer: invalid choice: 'adamax' (choose from 'sgd', 'adam', 'adagrad', 'rmsprop', 'adamw')"),
    (dict(clip_value=-1.0), ["--clip-value", "-1"], "clip_value: expected a finite number > 0, got -1.0",
     "--clip-value: expected a finite number > 0, got -1.0"),
    (dict(early_stopping=0), ["--early-stopping", "0"], "early_stopping: expected a positive integer, got 0",
     "--early-stopping: expected a patience >= 1 epoch, got 0"),
])
def test_training_settings_are_refused_once_naming_the_parameter_or_flag(capsys, tmp_path, monkeypatch, kw, argv,
                                                                         msg, line):
    """A bad training setting is refused in one line: by rnnx.fit naming its parameter, and by
    ``rnnx train`` naming the flag (the settings table, rnnx/cli/table.py) before any folder
    is made.  (These were TrainConfig's checks, a third copy of the two, gone in issue 29.)"""
    import rnnx
    from rnnx.cli import main

    x, y = np.zeros((8, 5, 1)), np.zeros((8, 1))
    with pytest.raises(ValueError) as e:
        rnnx.fit(rnnx.Model("rnn", 1, 3, 1), x, y, **{"epochs": 1, "validation_split": 0.25, **kw})
    assert str(e.value) == msg
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["train", "--preset", "seed001", *argv, "--out", "out"])
    except SystemExit as stop:  # argparse's refusal of a choice
        code = stop.code
    assert code == 2
    assert capsys.readouterr().err == f"rnnx train: error: {line}\n"
    assert not (tmp_path / "out").exists()


def test_metrics_train_record_is_the_runs_training_settings(tmp_path):
    """metrics.json's ``train``: the training settings of the run, under the keys it always had
    (they were TrainConfig's fields; now taken from the run's settings)."""
    cli = dict(preset="seed001", epochs=1, optimizer="sgd", lr=0.02, momentum=0.5, nesterov=True, clip_norm=2.0,
               seed=3, batch_size=50)
    m = train(tmp_path, **cli)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["train"]
    assert saved == m["train"]
    assert set(saved) == {"epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "clip_value",
                          "clip_norm", "tbptt", "loss", "seed", "early_stopping", "freeze", "shuffle", "check_finite"}
    assert {k: saved[k] for k in cli if k != "preset"} == {k: v for k, v in cli.items() if k != "preset"}
    s = resolve(cli)
    assert saved["loss"] == s.loss and saved["shuffle"] is s.shuffle and saved["check_finite"] is True
    assert saved["clip_value"] is None and saved["tbptt"] is None and saved["freeze"] == [] \
        and saved["early_stopping"] == s.early_stopping


@pytest.mark.parametrize("backend", CPU)
def test_short_last_batch_on_every_cpu_backend(tmp_path, backend):
    """seed001: 713 training windows in batches of 64, the last one of 9 (the standard leaves
    a slice past the end unspecified, and array-api-strict refuses it)."""
    m = train(tmp_path, preset="seed001", backend=backend.replace("_", "-"), epochs=1)
    assert m["updates"] == 12 and np.isfinite(m["test_mse"])


def test_dropout_changes_training_only(tmp_path):
    """``--dropout`` from the settings reaches training (another model than without it; the
    same seed, the same model) and not evaluation (predict gives the run's test MSE)."""
    kw = dict(preset="seed001", cell="gru", hidden=8, layers=2, epochs=2)
    a = train(tmp_path, "a", dropout=0.3, **kw)
    b = train(tmp_path, "b", dropout=0.3, **kw)
    d = train(tmp_path, "d", **kw)
    pa, pb, pd = (_params(tmp_path / n / "model.npz") for n in "abd")
    assert all(pa[k].tobytes() == pb[k].tobytes() for k in pa)
    assert any(pa[k].tobytes() != pd[k].tobytes() for k in pa)
    assert a["test_mse"] == b["test_mse"] != d["test_mse"] and a["model"]["dropout"] == 0.3
    assert app.predict(str(tmp_path / "a"))["mse"] == pytest.approx(a["test_mse"], rel=1e-12)
    with open(tmp_path / "a" / "history.csv") as f:  # the epoch's mean batch loss is kept
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(float(r["batch_loss"]) > 0 for r in rows)


@pytest.mark.parametrize("name, cut, full", [("rnn", 4, 12), ("gru", 4, 12), ("tbptt", 3, 6)])
def test_a_checkpoint_of_the_old_trainer_resumes_bit_for_bit(tmp_path, name, cut, full):
    """A run folder of rnnx before the CLI trained through rnnx.fit (tests/data/trainer-checkpoints)
    resumes to the parameters of that rnnx's uninterrupted run (gru: 2 layers with dropout; tbptt:
    truncated BPTT with dropout and clipping)."""
    import shutil

    from rnnx.cli import main

    here = os.path.join(os.path.dirname(__file__), "data", "trainer-checkpoints")
    folder = tmp_path / name
    folder.mkdir()
    shutil.copyfile(os.path.join(here, f"{name}-epoch{cut}.npz"), folder / "checkpoint.npz")
    result = app.resume(str(folder), quiet=True, epochs=full)
    assert result["epochs"] == full
    want = checkpoint.load(os.path.join(here, f"{name}-epoch{full}-model.npz"))[1]["params"]
    got = checkpoint.load(str(folder / "model.npz"))[1]["params"]
    assert sorted(got) == sorted(want) and all(np.abs(got[k] - want[k]).max() <= 1e-12 for k in want)
    # Bit for bit where this machine's BLAS reproduces the machine that wrote the files (OpenBLAS picks its
    # kernels by CPU: an AMD EPYC ends 2-3e-16 away): the uninterrupted run of the data README, here.
    extra = {"rnn": [], "gru": ["--cell", "gru", "--hidden", "8", "--layers", "2", "--dropout", "0.3"]}
    extra["tbptt"] = ["--objective", "many-to-many", "--tbptt", "5,5", *extra["gru"], "--clip-norm", "0.5"]
    assert main(["train", "--preset", "seed001", "--epochs", str(full), "--checkpoint-every", str(cut),
                 "--no-early-stopping", *extra[name], "--quiet", "--out", str(tmp_path / "full")]) == 0
    mine = checkpoint.load(str(tmp_path / "full" / "model.npz"))[1]["params"]
    if all(mine[k].tobytes() == want[k].tobytes() for k in want):
        assert all(got[k].tobytes() == want[k].tobytes() for k in want)


def _history_rows(folder):
    with open(folder / "history.csv") as f:
        return list(csv.DictReader(f))


def test_history_train_mse_exact_every_10th_epoch_at_the_last_and_the_best(tmp_path, monkeypatch):
    """history.csv's ``train_mse`` is the exact MSE over every training window (series units)
    at epochs 1, 10, 20, ..., the run's last epoch and its best epoch, and empty at the others
    (``batch_loss`` is every epoch's): the forward over all training windows runs that often,
    not every epoch.  ``val_mse`` (what the best epoch is chosen by) is every epoch's."""
    from rnnx.training.windows import WindowScores

    parts = []
    real = WindowScores.predict_all

    def counted(self, part, params, out=None):  # out: the forward SeriesMetrics queued (JAX)
        parts.append(part)
        return real(self, part, params, out)

    monkeypatch.setattr(WindowScores, "predict_all", counted)
    kw = dict(preset="seed001", epochs=23, early_stopping=None)
    m = train(tmp_path, **kw)
    assert parts.count("val") >= 23 and parts.count("train") <= 3 + 2 + 2  # epochs 1/10/20, last/best, metrics.json
    rows = _history_rows(tmp_path / "run")
    assert [int(r["epoch"]) for r in rows] == list(range(1, 24))
    assert all(r["batch_loss"] and r["val_mse"] for r in rows)
    exact = {int(r["epoch"]): float(r["train_mse"]) for r in rows if r["train_mse"]}
    assert set(exact) == {1, 10, 20, 23, m["best_epoch"]}
    assert exact[23] == pytest.approx(m["final"]["train"], rel=1e-12)
    assert exact[m["best_epoch"]] == pytest.approx(m["best"]["train"], rel=1e-12)
    for n in (1, 10):  # a run that ends there: its final training MSE is the longer run's at that epoch
        assert exact[n] == pytest.approx(train(tmp_path, f"to{n}", **{**kw, "epochs": n})["final"]["train"], rel=1e-12)


def test_series_metrics_train_every():
    """``SeriesMetrics(scores, train_every=N)``: ``train_mse`` at epochs 1, N, 2N, ... (None
    between) while ``val_mse`` and ``score`` are every epoch's; without a validation part
    ``score`` is the training part's, so ``train_mse`` is then every epoch's."""
    import rnnx
    from rnnx import data
    from rnnx.data.dataset import build
    from rnnx.training.windows import SeriesMetrics, WindowScores

    target = Target("numpy", "cpu")
    xp = target.namespace()
    model = rnnx.Model("lstm", input_size=1, hidden_size=4)
    for split, every_epoch in (((0.7, 0.1, 0.2), False), ((0.8, 0.0, 0.2), True)):
        ds = build(data.sine(300, 0.0, 100.0), window=10, horizon=1, split=split, every_step=False, xp=xp,
                   dtype=xp.float64, device=target.device_obj())
        scores = WindowScores(model, ds, target)
        train_part = ds.parts["train"]
        res = rnnx.fit(model, train_part.x, train_part.y, batch_first=False, epochs=5, batch_size=64, lr=0.01,
                       callbacks=[SeriesMetrics(scores, train_every=2)], monitor="score")
        got = [r["train_mse"] is not None for r in res.history]
        assert got == ([True] * 5 if every_epoch else [True, True, False, True, False])
        assert all(r["val_mse"] == r["val_mse"] for r in res.history) != every_epoch  # NaN: no validation part
    with pytest.raises(ValueError, match="train_every"):
        SeriesMetrics(scores, train_every=0)
