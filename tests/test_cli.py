"""``rnnx train / predict / forecast`` bad input: one clear line on stderr naming the
problem, a non-zero exit, and nothing overwritten."""

from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pytest

from rnnx.cli import main
from rnnx.io import checkpoint


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
    assert err.startswith("rnnx train: error: --column: ") and "has no column 'price' (columns: t, value, label)" in err
    err = one_line_error(capsys, "train", "--csv", str(series_csv), "--column", "label", "--out", out)
    assert "row 2" in err and "'x' is not a number" in err
    bad = tmp_path / "nan.csv"
    bad.write_text("value\n1.0\n2.0\nnan\n3.0\n")
    assert "row 4" in (e := one_line_error(capsys, "train", "--csv", str(bad), "--column", "value", "--out", out)) and "missing value; pass --missing interpolate" in e
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
    assert "is not an rnnx file (.npz): it is not a zip archive" in one_line_error(capsys, "train", "--resume",
                                                                                  str(finished_run))
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

    m = re.search(r"the loss became (nan|inf) at epoch (\d+) \((.*)\); stopped, the last good checkpoint \(epoch (\d+)\)",
                  err)
    assert m and re.match(r"update \d+ of epoch \d+: ", m[3]), err  # check_finite names where it went wrong
    m = (None, m[1], m[2], m[4])
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
    code, out, err = run(capsys, "forecast", "--model", str(finished_run), "--steps", "5")
    assert code == 0 and '"steps": 5' in out
    assert err == ("rnnx forecast: note: a one-step model fed its own predictions 5 times; for a model of the 5 steps "
                   "at once, its preprocessing chosen on validation and prediction intervals: rnnx train --csv FILE "
                   "--targets COLUMN --time-column DATE --forecast 5 (docs/forecasting.md)\n")


# -- the command table, typed settings, errors that name flags ---------------------------------------
def test_option_of_another_cell_is_an_error(capsys, tmp_path):
    out = tmp_path / "o"
    err = one_line_error(capsys, "train", "--preset", "seed001", "--cell", "lstm", "--nonlinearity", "relu",
                         "--out", str(out))
    assert "--nonlinearity: applies to --cell rnn only, got --cell lstm" in err
    err = one_line_error(capsys, "train", "--csv", "s.csv", "--column", "v", "--nonlinearity", "tanh", "--out", str(out))
    assert "--nonlinearity: applies to --cell rnn only, got --cell lstm" in err  # lstm: the default cell
    err = one_line_error(capsys, "train", "--preset", "seed001", "--activation", "relu", "--out", str(out))
    assert "--activation: applies to --cell lstm, gru only, got --cell rnn" in err
    err = one_line_error(capsys, "train", "--preset", "seed001", "--cell", "gru", "--proj-size", "2", "--out", str(out))
    assert "--proj-size: applies to --cell lstm only, got --cell gru" in err
    err = one_line_error(capsys, "train", "--preset", "seed001", "--cell", "lstm", "--no-reset-after", "--out", str(out))
    assert "--reset-after: applies to --cell gru only, got --cell lstm" in err
    assert not out.exists()


def test_model_flags_are_the_registry(capsys):
    """A flag for every layer and cell option a run sets (the option's name, - for _)."""
    from rnnx.cells import CELLS
    from rnnx.cli import _parser
    from rnnx.cli.settings import all_options, options_of

    flags = _parser("train")[1].option_strings()
    for name in all_options():
        assert "--" + name.replace("_", "-") in flags, name
    for flag in ("--nonlinearity", "--activation", "--recurrent-activation", "--proj-size", "--reset-after",
                 "--no-reset-after", "--dropout"):
        assert flag in flags
    for cell, spec in CELLS.items():  # every option of the cell is set by a run, but how it is computed
        assert {o.name for o in spec.options} - {o.name for o in options_of(cell)} <= {"fused"}


def test_settings_carry_model_options_into_model():
    from rnnx.cli.tasks import regression as app
    from rnnx.cli.settings import resolve

    s = resolve({"preset": "seed001", "cell": "lstm", "hidden": 6, "layers": 2, "dropout": 0.25, "proj_size": 3,
                 "recurrent_activation": "hard_sigmoid"})
    cfg = app.model_for(s).config()
    assert (cfg["cell"], cfg["hidden_size"], cfg["num_layers"], cfg["dropout"], cfg["proj_size"]) == ("lstm", 6, 2, 0.25, 3)
    assert cfg["recurrent_activation"] == "hard_sigmoid" and cfg["activation"] == "tanh"


@pytest.mark.parametrize("argv,config", [
    (["--nonlinearity", "relu"], {"cell": "rnn", "nonlinearity": "relu"}),
    (["--cell", "lstm", "--hidden", "4", "--proj-size", "2", "--activation", "sigmoid"],
     {"cell": "lstm", "proj_size": 2, "activation": "sigmoid", "recurrent_activation": "sigmoid"}),
    (["--cell", "gru", "--hidden", "4", "--no-reset-after", "--recurrent-activation", "hard_sigmoid", "--no-bias"],
     {"cell": "gru", "reset_after": False, "recurrent_activation": "hard_sigmoid", "bias": False}),
    (["--cell", "gru", "--hidden", "4", "--layers", "2", "--dropout", "0.25"], {"cell": "gru", "num_layers": 2, "dropout": 0.25}),
    (["--objective", "many-to-many", "--tbptt", "5,5", "--layers", "2", "--dropout", "0.1"],
     {"cell": "rnn", "objective": "many-to-many", "dropout": 0.1}),
])
def test_model_options_reach_model_and_settings(capsys, tmp_path, argv, config):
    import json

    out = tmp_path / "o"
    code, _, err = run(capsys, "train", "--preset", "seed001", *argv, "--epochs", "1", "--quiet", "--out", str(out))
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert {k: m["model"][k] for k in config} == config
    assert {k: m["settings"]["model_options"][k] for k in config if k in m["settings"]["model_options"]} == \
        {k: v for k, v in config.items() if k in m["settings"]["model_options"]}
    assert checkpoint.load(str(out / "model.npz"))[0]["settings"] == m["settings"]
    code, out_, err = run(capsys, "predict", "--model", str(out))
    assert code == 0 and '"windows": 198' in out_, err


def test_settings_precedence_and_json():
    import dataclasses

    from rnnx.cli.settings import TrainSettings, defaults_of, resolve

    assert resolve({"csv": "a.csv", "column": "v"}).lr == TrainSettings.lr == 1e-3  # the defaults table
    s = resolve({"preset": "seed001", "lr": None, "hidden": None})
    assert (s.lr, s.hidden, s.window, s.cell, s.model_options) == (0.01, 16, 10, "rnn", defaults_of("rnn"))
    assert s.model_options["nonlinearity"] == "tanh" and s.model_options["dropout"] == 0.0
    s = resolve({"preset": "seed001", "lr": 0.2, "split": [0.5, 0.25, 0.25], "cell": "gru", "reset_after": False})
    assert (s.lr, s.split, s.window, s.cell, s.model_options) == (0.2, (0.5, 0.25, 0.25), 10, "gru",
                                                                   {**defaults_of("gru"), "reset_after": False})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = 1.0
    j = s.to_json()
    assert j == dataclasses.asdict(s) | {"split": [0.5, 0.25, 0.25], "freeze": []} and TrainSettings.from_json(j) == s
    assert list(j) == [f.name for f in dataclasses.fields(TrainSettings)]
    with pytest.raises(ValueError, match=r"settings: unknown key\(s\) \['colour'\]"):
        TrainSettings.from_json({**j, "colour": "red"})


#: The settings a run stored before they became a dataclass (every key of the old DEFAULTS,
#: ``nonlinearity`` at the top level for every cell), here those of ``--preset seed001 --epochs 2``.
OLD_LAYOUT = dict(
    preset="seed001", csv=None, column=None, window=10, horizon=1, split=[0.72, 0.08, 0.2],
    backend="numpy", device=None, dtype="float64", cell="rnn", hidden=16, layers=1, bidirectional=False,
    nonlinearity="tanh", output_activation="none", objective="many-to-one", optimizer="adam", lr=0.01,
    momentum=0.0, nesterov=False, batch_size=64, epochs=2, clip_value=None, clip_norm=1.0, tbptt=None,
    seed=0, early_stopping=30, checkpoint_every=10, loss="mse", init="torch", final_target_every_step=False,
    freeze=[], normalise=True,
)
#: ``Model.config()`` as those files hold it (``nonlinearity`` for every cell, too).
OLD_MODEL = dict(cell="rnn", input_size=1, hidden_size=16, output_size=1, num_layers=1, bidirectional=False,
                 nonlinearity="tanh", output_activation="none", objective="many-to-one")


def _write_old_layout(folder, settings, model):
    for name in ("checkpoint.npz", "model.npz"):
        meta, groups = checkpoint.load(str(folder / name))
        if meta["kind"] == "fit-state":  # the checkpoint kind of the series CLI before fit-state version 2
            meta = {"kind": "checkpoint", "model": meta["model"], "epoch": meta["epoch"], "updates": meta["updates"],
                    "opt_step": meta["opt_step"], "history": meta["history"], "best_val": meta["best_score"],
                    "best_epoch": meta["best_epoch"], "clipped": meta["clipped"],
                    **{k: meta["run"][k] for k in ("norm", "rng")}}
        meta["settings"], meta["model"] = settings, model
        old = {k: v for k, v in meta.items() if k not in ("format", "version", "data", "finished", "patience_from")}
        checkpoint.save(str(folder / name), old, groups, to_numpy=np.asarray)  # the fields before issue 16: none


@pytest.fixture(params=["rnn", "lstm"])
def old_layout_run(request, capsys, tmp_path):
    """A finished 2-epoch run whose files hold the settings and model config in the old
    layout, and the epochs its settings now ask for (one more)."""
    cell, out = request.param, tmp_path / "old"
    hidden = 16 if cell == "rnn" else 4
    assert run(capsys, "train", "--preset", "seed001", "--cell", cell, "--hidden", str(hidden), "--epochs", "2",
               "--quiet", "--out", str(out))[0] == 0
    _write_old_layout(out, {**OLD_LAYOUT, "cell": cell, "hidden": hidden, "epochs": 3},
                      {**OLD_MODEL, "cell": cell, "hidden_size": hidden})
    return out


def test_old_layout_run_resumes_and_predicts(capsys, old_layout_run):
    code, out, err = run(capsys, "predict", "--model", str(old_layout_run))
    assert code == 0 and '"windows": 198' in out, err
    code, out, err = run(capsys, "train", "--resume", str(old_layout_run), "--quiet")
    assert code == 0 and "rnnx train: 3 epochs" in out, err
    assert checkpoint.load(str(old_layout_run / "checkpoint.npz"))[0]["epoch"] == 3


def test_old_layout_settings():
    from rnnx.cli.settings import TrainSettings, defaults_of

    s = TrainSettings.from_json(OLD_LAYOUT)
    assert s.model_options == defaults_of("rnn") and s.split == (0.72, 0.08, 0.2) and s.freeze == ()
    assert TrainSettings.from_json({**OLD_LAYOUT, "nonlinearity": "relu"}).model_options["nonlinearity"] == "relu"
    lstm = TrainSettings.from_json({**OLD_LAYOUT, "cell": "lstm", "nonlinearity": "relu"})  # ignored then, dropped now
    assert lstm.model_options == defaults_of("lstm") and "nonlinearity" not in lstm.model_options
    assert TrainSettings.from_json(s.to_json()) == s


def test_resume_keeps_its_folder(capsys, tmp_path, finished_run):
    assert "drop --out" in one_line_error(capsys, "train", "--resume", str(finished_run), "--out", str(tmp_path / "x"))


@pytest.mark.parametrize("argv,msg", [
    (["--hidden", "0"], "--hidden: expected a positive int, got 0"),
    (["--layers", "0"], "--layers: expected a positive int"),
    (["--batch-size", "0"], "--batch-size: expected a positive integer, got 0"),
    (["--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["--clip-norm", "-1"], "--clip-norm: expected a finite number > 0, got -1.0"),
    (["--early-stopping", "0"], "--early-stopping: expected a patience >= 1 epoch"),
    (["--window", "0"], "--window: expected a positive length, got 0"),
    (["--horizon", "0"], "--horizon: expected a positive number of steps, got 0"),
    (["--split", "0.5,0.5"], "--split: expected three fractions train,val,test summing to 1"),
    (["--dropout", "0.5"], "--dropout: 0.5 acts between stacked layers"),
    (["--dropout", "1.5", "--layers", "2"], "--dropout: expected a probability in [0, 1), got 1.5"),
    (["--cell", "lstm", "--proj-size", "16"], "--proj-size: "),
])
def test_library_errors_are_reported_with_their_flag(capsys, tmp_path, argv, msg):
    err = one_line_error(capsys, "train", "--preset", "seed001", *argv, "--out", str(tmp_path / "o"))
    assert f"rnnx train: error: {msg}" in err
    assert not (tmp_path / "o").exists()


def test_flag_table():
    """Every flag of the table is one a command has; a message is rewritten only where the
    command has the flag."""
    from rnnx.cli import _parser
    from rnnx.cli.errors import FLAGS, for_cli

    options = {name: _parser(name)[1].option_strings() for name in ("train", "predict", "forecast")}
    assert set(FLAGS.values()) <= set().union(*options.values())
    assert for_cli("lr: expected a finite learning rate > 0, got 0", options["train"]) == \
        "--lr: expected a finite learning rate > 0, got 0"
    assert for_cli("hidden_size: expected a positive int", options["train"]) == "--hidden: expected a positive int"
    assert for_cli("csv: file 'a' does not exist", options["predict"]) == "--csv: file 'a' does not exist"
    assert for_cli("window: a window of 10 steps", options["predict"]) == "window: a window of 10 steps"  # the model's
    assert for_cli("x: expected a 3-D array", options["train"]) == "x: expected a 3-D array"


def test_command_table():
    """Each command's module has its parser and its run; ``rnnx --help`` lists the table in
    order and imports no command module (nor the run machinery)."""
    import importlib
    import subprocess
    import sys

    from rnnx.cli.commands import COMMANDS

    assert list(COMMANDS) == ["train", "predict", "forecast", "sample", "diagnose", "parity", "bench", "save", "load", "demo",
                              "backends"]
    for name, info in COMMANDS.items():
        mod = importlib.import_module(info.module)
        assert callable(mod.add_arguments) and callable(mod.run), name
    code = ("import sys\nfrom rnnx.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0\nprint(sorted(m for m in sys.modules if m.startswith('rnnx.cli')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    *help_lines, loaded = r.stdout.strip().splitlines()
    assert loaded == "['rnnx.cli', 'rnnx.cli.commands', 'rnnx.cli.errors']", loaded
    listed = [line.split()[0] for line in help_lines if line.startswith("    ") and line.split()[0] in COMMANDS]
    assert listed == list(COMMANDS)
    for name, info in COMMANDS.items():
        assert info.summary in " ".join(" ".join(help_lines).split()), name


def test_unknown_command_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["tain", "--preset", "seed001"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err == "rnnx: error: unknown command 'tain'; did you mean 'train'?\n"
