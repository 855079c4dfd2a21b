"""``rnnx train --npz / --ts / --uea`` (rnnx.cli.panel_app): classification runs, their run
folder, determinism, and every refusal (one line naming the flag, exit 2, no folder left)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os

import numpy as np
import pytest

from rnnx.cli import panel_app
from rnnx.cli.commands import train
from rnnx.cli.errors import AppError

HAS_SKTIME = importlib.util.find_spec("sktime") is not None
needs_sktime = pytest.mark.skipif(not HAS_SKTIME, reason="sktime is not installed (the .ts reader and the UEA data)")
RUN_FILES = ("model.npz", "classes.json", "history.csv", "metrics.json", "confusion.png", "convergence.png")
FAST = ["--quiet", "--hidden", "8", "--epochs", "3"]


def parser() -> argparse.ArgumentParser:
    """The parser of ``rnnx train`` (which has the panel flags), as the CLI builds it."""
    p = argparse.ArgumentParser()
    train.add_arguments(p)
    return p


def run(argv: list[str]) -> int:
    return panel_app.run_panel(parser().parse_args(argv))


def frequency_npz(path, n: int = 90, t_max: int = 24, seed: int = 0) -> str:
    """3 classes of noisy sines of frequency 0.05, 0.15, 0.3 cycles/step, random phase,
    lengths 12..t_max (padding NaN: never read)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(12, t_max + 1, n)
    y = np.arange(n) % 3
    t = np.arange(t_max)
    f = np.array([0.05, 0.15, 0.3])[y]
    x = np.sin(2 * np.pi * f[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, n)[:, None])
    x = x + 0.05 * rng.standard_normal((n, t_max))
    x = np.where(t[None, :] < lengths[:, None], x, np.nan)
    np.savez(path, x=x[..., None], y=np.array(["high", "low", "mid"])[[1, 2, 0]][y], lengths=lengths)
    return str(path)


def write_ts(path, cases: list[list[list[float]]], labels: list[str], classes: list[str]) -> str:
    """A UEA .ts file: each case a list of channels of values."""
    head = [f"@problemName {os.path.basename(str(path))}", "@timeStamps false",
            f"@univariate {'true' if len(cases[0]) == 1 else 'false'}", "@equalLength true",
            f"@classLabel true {' '.join(classes)}", "@data"]
    rows = [":".join(",".join(f"{v:g}" for v in ch) for ch in case) + f":{lab}" for case, lab in zip(cases, labels)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(head + rows) + "\n")
    return str(path)


def ts_cases(n: int, channels: int, seed: int, labels=("a", "b")) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    lab = [labels[i % len(labels)] for i in range(n)]
    cases = [[list(rng.standard_normal(8) + (labels.index(c))) for _ in range(channels)] for c in lab]
    return cases, lab


def refused(argv: list[str], out, text: str) -> str:
    """The run is refused with an AppError (exit 2) containing ``text``, and ``out`` is not created."""
    with pytest.raises(AppError) as e:
        run([*argv, "--out", str(out)])
    msg = str(e.value)
    assert e.value.code == 2
    assert text in msg, msg
    assert "\n" not in msg
    assert not os.path.exists(out)
    return msg


# -- runs -------------------------------------------------------------------------------------------------
def test_frequency_npz_reaches_high_accuracy_and_writes_the_run(tmp_path, capsys):
    npz = frequency_npz(tmp_path / "freq.npz")
    out = tmp_path / "run"
    assert run(["--npz", npz, "--out", str(out), "--quiet", "--hidden", "16", "--epochs", "30", "--lr", "0.01",
                "--early-stopping", "10"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("rnnx train: ") and line.endswith(f"wrote {out}") and "test accuracy" in line
    m = json.loads((out / "metrics.json").read_text())
    assert m["test_accuracy"] >= 0.9, m["test_accuracy"]
    assert m["classes"] == ["high", "low", "mid"] and m["labels"] == "per-sequence"
    assert m["data"]["cases"] == {"train": 66, "val": 12, "test": 12}  # 30 per class: 22 / 4 / 4 (30 * 0.15 -> 4)
    assert abs(m["majority_class"]["test_accuracy"] - 1 / 3) < 1e-12
    assert sum(map(sum, m["confusion"]["matrix"])) == 12
    assert sorted(os.listdir(out)) == sorted(RUN_FILES)
    c = json.loads((out / "classes.json").read_text())
    assert c["classes"] == m["classes"] and len(c["standardisation"]["mean"]) == 1


@needs_sktime
def test_uea_italy_power_demand_writes_every_file(tmp_path, capsys):
    out = tmp_path / "ipd"
    assert run(["--uea", "ItalyPowerDemand", "--out", str(out), *FAST]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == sorted(RUN_FILES)
    m = json.loads((out / "metrics.json").read_text())
    for key in ("train", "val", "test", "test_accuracy", "per_class_test_accuracy", "confusion", "majority_class",
                "epochs", "best_epoch", "stopped", "seconds_training", "seconds_total", "versions", "settings"):
        assert key in m, key
    for part in ("train", "val", "test"):
        assert 0.0 <= m[part]["accuracy"] <= 1.0 and m[part]["loss"] > 0
    assert m["data"]["cases"] == {"train": 53, "val": 14, "test": 1029}  # TRAIN 67 (34 + 33) at 0.8,0.2 per class; TEST
    assert m["epochs"] == 3 and m["classes"] == ["1", "2"]
    assert m["model"]["cell"] == "gru" and m["settings"]["lr"] == 3e-3 and m["settings"]["clip_norm"] == 1.0
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].split(",")[:4] == ["epoch", "loss", "val_loss", "val_accuracy"] and len(rows) == 4
    import rnnx

    model, params = rnnx.load(str(out / "model.npz"))
    assert model.output_size == 2 and set(params) == set(model.param_shapes())


def test_per_step_labels_train_a_sequence_labeller(tmp_path):
    """Label of step t: is x[t] above 0; padding labels (-1) are no class and not scored."""
    rng = np.random.default_rng(1)
    n, t_max = 60, 16
    lengths = rng.integers(6, t_max + 1, n)
    x = rng.standard_normal((n, t_max, 1))
    valid = np.arange(t_max)[None, :] < lengths[:, None]
    y = np.where(valid, (x[..., 0] > 0).astype(np.int64) + 5, -1)
    np.savez(tmp_path / "steps.npz", x=x, y=y, lengths=lengths)
    out = tmp_path / "steps"
    assert run(["--npz", str(tmp_path / "steps.npz"), "--out", str(out), "--quiet", "--hidden", "8", "--epochs",
                "25", "--lr", "0.02"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["labels"] == "per-step" and m["classes"] == [5, 6]
    assert m["model"]["objective"] == "many-to-many"
    test_steps = sum(map(sum, m["confusion"]["matrix"]))  # the valid steps of the test cases only
    assert 6 * m["data"]["cases"]["test"] <= test_steps <= t_max * m["data"]["cases"]["test"]
    assert m["test_accuracy"] >= 0.9, m["test_accuracy"]


def test_a_seed_fixes_the_run(tmp_path):
    npz = frequency_npz(tmp_path / "freq.npz", n=30)
    outs = [tmp_path / f"r{i}" for i in range(3)]
    for out, seed in zip(outs, ("4", "4", "5")):
        run(["--npz", npz, "--out", str(out), *FAST, "--seed", seed])
    hist = [[r.split(",")[:4] for r in (o / "history.csv").read_text().splitlines()] for o in outs]  # no seconds
    assert hist[0] == hist[1] and hist[0] != hist[2]
    m = [json.loads((o / "metrics.json").read_text()) for o in outs]
    assert m[0]["test"] == m[1]["test"]
    with np.load(outs[0] / "model.npz") as a, np.load(outs[1] / "model.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_a_diverging_run_exits_3_and_leaves_no_folder(tmp_path, monkeypatch):
    from rnnx import fitting

    def diverging(*args, **kwargs):
        raise fitting.NonFiniteLoss(2, float("nan"))

    monkeypatch.setattr(fitting, "fit", diverging)
    npz = frequency_npz(tmp_path / "freq.npz", n=30)
    out = tmp_path / "div"
    with pytest.raises(AppError) as e:
        run(["--npz", npz, "--out", str(out), *FAST])
    assert e.value.code == 3
    assert str(e.value) == ("train: the loss became nan at epoch 2; stopped, nothing was written; try --clip-norm 1.0 "
                            "or a lower --lr")
    assert not os.path.exists(out)


# -- refusals -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, text", [
    (["--difference"], "--difference: applies to regression on a CSV, not to classification (--npz)"),
    (["--window", "5"], "--window: applies to regression on a CSV, not to classification (--npz)"),
    (["--horizon", "2"], "--horizon: applies to regression"),
    (["--column", "a"], "--column: applies to regression"),
    (["--inputs", "a"], "--inputs: applies to regression"),
    (["--targets", "a"], "--targets: applies to regression"),
    (["--missing", "drop"], "--missing: applies to regression"),
    (["--tbptt", "2,4"], "--tbptt: applies to regression"),
    (["--objective", "many-to-many"], "--objective: follows the labels"),
    (["--output-activation", "tanh"], "--output-activation: a classifier outputs logits"),
    (["--resume", "runs/x"], "--resume: not supported yet for classification runs; start again with --out"),
    (["--csv", "a.csv"], "--csv: is regression data"),
    (["--split", "0.5,0.5"], "--split: expected 3 fractions train,val,test of the cases"),
    (["--split", "0.8,0,0.2"], "--split: expected 3"),
    (["--lr", "-1"], "--lr: expected a finite number > 0, got -1.0"),
    (["--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["--momentum", "0.9"], "--momentum: applies to --optimizer sgd only"),
    (["--no-clip", "--clip-norm", "2"], "--no-clip: turns --clip-norm off"),
    (["--proj-size", "2"], "--proj-size: applies to --cell lstm only, got --cell gru"),
    (["--backend", "nope"], "--backend:"),
    (["--checkpoint-every", "5"], "--checkpoint-every: classification runs write no checkpoint"),
    (["--allow-changed-data"], "--allow-changed-data: applies with --resume only (--npz)"),
    (["--preset", "seed001"], "--preset: brings its own regression data; give one data source (--npz)"),
])
def test_flags_that_mean_nothing_here_are_refused(tmp_path, extra, text):
    npz = frequency_npz(tmp_path / "freq.npz", n=12)
    refused(["--npz", npz, "--quiet", *extra], tmp_path / "out", text)


def test_a_flag_no_classification_run_reads_is_refused(tmp_path):
    p = parser()
    npz = frequency_npz(tmp_path / "freq.npz", n=12)
    with pytest.raises(AppError, match=r"^--seq-len: does not apply to a classification run; drop it \(--npz\)$"):
        panel_app.run_panel(p.parse_args(["--npz", npz, "--seq-len", "5", "--out", str(tmp_path / "o")]))
    assert not os.path.exists(tmp_path / "o")


def test_data_sources_conflicts(tmp_path):
    npz = frequency_npz(tmp_path / "freq.npz", n=12)
    refused(["--npz", npz, "--ts", "x.ts"], tmp_path / "o", "--ts: give one data source, got --npz and --ts")
    refused(["--npz", npz, "--test-ts", "x.ts"], tmp_path / "o", "--test-ts: applies with --ts TRAIN.ts")
    refused(["--uea", "BasicMotions", "--test-ts", "x.ts"], tmp_path / "o", "--uea BasicMotions brings its own test")


def test_panel_file_errors_keep_their_text(tmp_path):
    refused(["--npz", str(tmp_path / "missing.npz")], tmp_path / "o", f"--npz: {str(tmp_path / 'missing.npz')!r} "
            "does not exist")
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 4)))
    refused(["--npz", str(tmp_path / "bad.npz")], tmp_path / "o", "--npz: ", )
    msg = refused(["--npz", str(tmp_path / "bad.npz")], tmp_path / "o", "missing key(s) ['y']")
    assert not msg.startswith("panel:")
    np.savez(tmp_path / "one.npz", x=np.zeros((3, 4)), y=np.array([1, 1, 1]))
    refused(["--npz", str(tmp_path / "one.npz")], tmp_path / "o", "has one class (1); expected at least two")


def test_too_few_cases_for_the_split(tmp_path):
    np.savez(tmp_path / "few.npz", x=np.random.default_rng(0).standard_normal((4, 5)), y=np.array([0, 1, 0, 1]))
    refused(["--npz", str(tmp_path / "few.npz")], tmp_path / "o",
            "--split: 0.7,0.15,0.15 of the 4 cases of --npz")
    np.savez(tmp_path / "rare.npz", x=np.ones((12, 5)), y=np.array([0] * 10 + [7] * 2))
    refused(["--npz", str(tmp_path / "rare.npz"), "--split", "0.2,0.4,0.4"], tmp_path / "o",
            "--split: 0.2,0.4,0.4 of the 12 cases of --npz")  # class 7: 1 to validate, 1 to test, none to train
    refused(["--npz", str(tmp_path / "rare.npz"), "--split", "0.2,0.4,0.4"], tmp_path / "o",
            "leaves no training case of class 7; expected every class in the training part")


@needs_sktime
def test_unknown_uea_name_lists_them(tmp_path):
    msg = refused(["--uea", "NoSuchSet"], tmp_path / "o", "--uea: 'NoSuchSet' is not a UEA/UCR dataset")
    assert "BasicMotions" in msg and "ItalyPowerDemand" in msg
    refused(["--uea", "ItalyPowerDemand", "--split", "0.7,0.15,0.15"], tmp_path / "o",
            "--split: expected 2 fractions train,val of the training file's cases, each > 0, summing to 1 (e.g. 0.8,0.2; "
            "the test cases are those of --uea); got 0.7,0.15,0.15")


@needs_sktime
def test_a_test_file_must_match_the_training_file(tmp_path):
    cases, labels = ts_cases(20, 2, 0)
    train_ts = write_ts(tmp_path / "A_TRAIN.ts", cases, labels, ["a", "b"])
    cases1, labels1 = ts_cases(6, 1, 1)
    refused(["--ts", train_ts, "--test-ts", write_ts(tmp_path / "one.ts", cases1, labels1, ["a", "b"])],
            tmp_path / "o", "--test-ts: ")
    msg = refused(["--ts", train_ts, "--test-ts", str(tmp_path / "one.ts")], tmp_path / "o",
                  "has 1 features per step, the training file")
    assert "expected the same features" in msg
    cases2, labels2 = ts_cases(6, 2, 2, labels=("a", "b", "z"))
    refused(["--ts", train_ts, "--test-ts", write_ts(tmp_path / "z.ts", cases2, labels2, ["a", "b", "z"])],
            tmp_path / "o", "--test-ts: class 'z' of")


@needs_sktime
def test_a_ts_pair_trains_and_names_the_run(tmp_path, monkeypatch, capsys):
    cases, labels = ts_cases(20, 2, 0)
    train_ts = write_ts(tmp_path / "A_TRAIN.ts", cases, labels, ["a", "b"])
    test_ts = write_ts(tmp_path / "A_TEST.ts", *ts_cases(8, 2, 3), ["a", "b"])
    monkeypatch.chdir(tmp_path)
    assert run(["--ts", train_ts, "--test-ts", test_ts, *FAST]) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote {os.path.join('runs', 'A')}")
    m = json.loads((tmp_path / "runs" / "A" / "metrics.json").read_text())
    assert m["data"]["cases"] == {"train": 16, "val": 4, "test": 8}


def test_a_folder_holding_files_is_refused_and_left_alone(tmp_path):
    npz = frequency_npz(tmp_path / "freq.npz", n=12)
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(AppError, match="--out: .* is not empty"):
        run(["--npz", npz, "--out", str(out), *FAST])
    assert os.listdir(out) == ["notes.txt"]


def test_resume_of_a_classification_folder_is_refused(tmp_path):
    npz = frequency_npz(tmp_path / "freq.npz", n=30)
    out = tmp_path / "done"
    run(["--npz", npz, "--out", str(out), *FAST])
    with pytest.raises(AppError, match="not supported yet for classification runs; start again with --out"):
        panel_app.refuse_resume(str(out))
    panel_app.refuse_resume(str(tmp_path))  # not a classification run: nothing to say
    assert panel_app.wants_panel(parser().parse_args(["--test-ts", "x.ts"]))
    assert not panel_app.wants_panel(parser().parse_args(["--csv", "x.csv", "--column", "a"]))
