"""``rnnx train --npz / --ts / --uea`` (rnnx.cli.tasks.classification): classification runs, their run
folder, determinism, every refusal (one line naming the flag, exit 2, no folder left), the
checkpoint, ``--resume`` (bit-identical to an uninterrupted run), signals, and
``rnnx predict`` of a classification run."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnx.cli.tasks import classification as panel_app
from rnnx.cli import signals as sig
from rnnx.cli.commands import predict, train
from rnnx.cli.errors import AppError
from rnnx.io import checkpoint
from rnnx.training import state

HAS_SKTIME = importlib.util.find_spec("sktime") is not None
needs_sktime = pytest.mark.skipif(not HAS_SKTIME, reason="sktime is not installed (the .ts reader and the UEA data)")
RUN_FILES = ("checkpoint.npz", "model.npz", "classes.json", "history.csv", "metrics.json", "confusion.png", "convergence.png")
FAST = ["--quiet", "--hidden", "8", "--epochs", "3"]


def parser() -> argparse.ArgumentParser:
    """The parser of ``rnnx train`` (which has the panel flags), as the CLI builds it."""
    p = argparse.ArgumentParser()
    train.add_arguments(p)
    return p


def run(argv: list[str]) -> int:
    return panel_app.start_run(parser().parse_args(argv))


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


def write_ts(path, cases: list[list[list[float]]], labels: list[str] | None, classes: list[str] | None) -> str:
    """A UEA .ts file: each case a list of channels of values; labels None: '@classLabel false'."""
    equal = len({len(ch) for case in cases for ch in case}) == 1
    head = [f"@problemName {os.path.basename(str(path))}", "@timeStamps false",
            f"@univariate {'true' if len(cases[0]) == 1 else 'false'}", f"@equalLength {str(equal).lower()}",
            f"@classLabel true {' '.join(classes)}" if labels is not None else "@classLabel false", "@data"]
    rows = [":".join(",".join(f"{v:g}" for v in ch) for ch in case) + ("" if lab is None else f":{lab}")
            for case, lab in zip(cases, labels if labels is not None else [None] * len(cases))]
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


def test_per_step_labels_train_a_sequence_labeller(tmp_path, capsys):
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
    capsys.readouterr()
    assert predict.run(predict_args(["--model", out])) == 0  # a row per valid step of each test case
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == test_steps and abs(summary["accuracy"] - m["test_accuracy"]) < 1e-12
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0] == "case,step,length,true,predicted,p_5,p_6" and len(rows) == 1 + test_steps
    # unlabelled cases: a row per step within lengths (all T steps without lengths), 'true' empty, no accuracy
    np.savez(tmp_path / "lab.npz", x=x[:5], y=y[:5], lengths=lengths[:5])
    np.savez(tmp_path / "unl.npz", x=x[:5], lengths=lengths[:5])
    csvs = {}
    for name in ("lab", "unl"):
        assert predict.run(predict_args(["--model", out, "--npz", tmp_path / f"{name}.npz", "--out",
                                         tmp_path / f"{name}.csv"])) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["steps"] == sum(lengths[:5]) and summary["cases"] == 5
        csvs[name] = [r.split(",") for r in (tmp_path / f"{name}.csv").read_text().splitlines()]
    assert summary["accuracy"] is None and csvs["unl"][0] == csvs["lab"][0]
    assert csvs["unl"][1:] == [[*r[:3], "", *r[4:]] for r in csvs["lab"][1:]]
    np.savez(tmp_path / "full.npz", x=x[:5])
    assert predict.run(predict_args(["--model", out, "--npz", tmp_path / "full.npz", "--out", tmp_path / "f.csv"])) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 5 * t_max
    np.savez(tmp_path / "nan.npz", x=np.where(valid[:5, :, None], x[:5], np.nan))
    with pytest.raises(AppError, match=re.escape(f"--npz: {str(tmp_path / 'nan.npz')!r}: x[0] step ")) as e:
        predict.run(predict_args(["--model", out, "--npz", tmp_path / "nan.npz", "--out", tmp_path / "n.csv"]))
    assert "give each sequence's length in a lengths (N,) key" in str(e.value)
    assert not (tmp_path / "n.csv").exists()


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
    from rnnx.training import engine
    from rnnx.training.state import NonFiniteLoss

    def diverging(*args, **kwargs):
        raise NonFiniteLoss(2, float("nan"))

    monkeypatch.setattr(engine, "fit", diverging)
    npz = frequency_npz(tmp_path / "freq.npz", n=30)
    out = tmp_path / "div"
    with pytest.raises(AppError) as e:
        run(["--npz", npz, "--out", str(out), *FAST])
    assert e.value.code == 3
    assert str(e.value) == ("train: the loss became nan at epoch 2; stopped, no checkpoint had been written yet; "
                            "try --clip-norm 1.0 or a lower --lr")
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
    (["--resume", "runs/x"], "--resume: continues a run with its own data and settings; give --resume DIR without a "
                             "data flag"),
    (["--csv", "a.csv"], "--csv: is regression data"),
    (["--split", "0.5,0.5"], "--split: expected 3 fractions train,val,test of the cases"),
    (["--split", "0.8,0,0.2"], "--split: expected 3"),
    (["--lr", "-1"], "--lr: expected a finite learning rate > 0, got -1.0"),  # the one wording of every task
    (["--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["--momentum", "0.9"], "--momentum: applies to --optimizer sgd only"),
    (["--no-clip", "--clip-norm", "2"], "--no-clip: turns --clip-norm off"),
    (["--proj-size", "2"], "--proj-size: applies to --cell lstm only, got --cell gru"),
    (["--backend", "nope"], "--backend:"),
    (["--checkpoint-every", "0"], "--checkpoint-every: expected a positive integer, got 0"),
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
        panel_app.start_run(p.parse_args(["--npz", npz, "--seq-len", "5", "--out", str(tmp_path / "o")]))
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
    unl = write_ts(tmp_path / "unl.ts", [[[1.0, 2.0, 3.0]]] * 4, None, None)
    if HAS_SKTIME:  # an unlabelled .ts (cases to predict on) is refused for training and as its test file
        refused(["--ts", unl], tmp_path / "o", f"--ts: {unl!r} has no class labels (its header says "
                                                "'@classLabel false'); expected labelled cases")
        refused(["--ts", write_ts(tmp_path / "l.ts", *ts_cases(8, 1, 0), ["a", "b"]), "--test-ts", unl],
                tmp_path / "o", f"--test-ts: {unl!r} has no class labels")
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


def test_holds_run_and_wants_panel():
    assert not panel_app.holds_run("/nonexistent")
    assert panel_app.wants(parser().parse_args(["--test-ts", "x.ts"]))
    assert not panel_app.wants(parser().parse_args(["--csv", "x.csv", "--column", "a"]))


# -- checkpoint, resume, signals ------------------------------------------------------------------------
def main_train(argv: list[str]) -> int:
    """``rnnx train ARGV`` as the CLI dispatches it (a classification run or --resume)."""
    return train.run(parser().parse_args([str(a) for a in argv]))


def params_of(path) -> dict[str, bytes]:
    meta, groups = checkpoint.load(str(path))
    return {k: v.tobytes() for k, v in groups["params"].items()}


def history_of(folder) -> list[list[str]]:
    """history.csv without its seconds column."""
    rows = [r.split(",") for r in (folder / "history.csv").read_text().splitlines()]
    keep = [i for i, k in enumerate(rows[0]) if k != "seconds"]
    return [[r[i] for i in keep] for r in rows]


def snapshot(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
            if p.is_file()}


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def record(folder) -> dict:
    return json.loads((folder / "classes.json").read_text())


RESUMABLE = ["--quiet", "--hidden", "6", "--epochs", "4", "--batch-size", "16"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 4-epoch run: its npz and folder."""
    root = tmp_path_factory.mktemp("ref")
    npz = frequency_npz(root / "f.npz", n=45)
    assert main_train(["--npz", npz, "--out", root / "ref", *RESUMABLE]) == 0
    return npz, root / "ref"


def stop_after(monkeypatch, calls: int, signum=signal.SIGTERM) -> None:
    """The first signal, arriving before the ``calls``-th batch: Signals.stop_requested says so."""
    asked = []

    def stop_requested(self) -> bool:
        asked.append(1)
        if len(asked) >= calls and self.pending is None:
            self.pending = signum
        return self.pending is not None

    monkeypatch.setattr(sig.Signals, "stop_requested", stop_requested)


def test_a_stopped_run_keeps_its_last_epoch_and_resumes_bit_identical(tmp_path, monkeypatch, capsys, reference):
    npz, ref = reference
    out = tmp_path / "r"
    assert json.loads((ref / "metrics.json").read_text())["data"]["cases"]["train"] == 33  # 3 batches of 16 an epoch
    stop_after(monkeypatch, 2 * 3 + 2)  # before the 2nd batch of epoch 3
    with pytest.raises(AppError) as e:
        main_train(["--npz", npz, "--out", out, *RESUMABLE])
    assert e.value.code == 128 + signal.SIGTERM and e.value.label is None
    assert str(e.value) == (f"stopped by SIGTERM; kept epoch 2 in {out}/checkpoint.npz; continue with: "
                            f"rnnx train --resume {out}")
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "classes.json"]  # --checkpoint-every 10: written at the stop
    assert checkpoint.load(str(out / "checkpoint.npz"))[0]["epoch"] == 2 and record(out)["finished"] is None
    assert record(out)["data"]["sha256"] == sha256(npz)
    monkeypatch.undo()
    assert main_train(["--resume", out, "--quiet"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote {out}")
    assert params_of(out / "model.npz") == params_of(ref / "model.npz")
    assert history_of(out) == history_of(ref)
    assert record(out)["finished"] == "done" and sorted(os.listdir(out)) == sorted(RUN_FILES)
    before = snapshot(out)
    assert main_train(["--resume", out]) == 0
    assert capsys.readouterr().out.strip() == (f"rnnx train: {out} is finished (4 epochs, done, best val epoch "
                                               f"{json.loads((ref / 'metrics.json').read_text())['best_epoch']}); "
                                               f"nothing was changed; extend it with --resume {out} --epochs N")
    for argv, text in ((["--epochs", "4"], "--epochs: the run in"), (["--lr", "0.1"], "--resume: continues with the "
                       "run's own settings (only --epochs may extend it); drop --lr"),
                       (["--npz", npz], "--resume: continues a run with its own data"),
                       (["--checkpoint-every", "2"], "drop --checkpoint-every")):
        with pytest.raises(AppError, match=re.escape(text)):
            main_train(["--resume", out, *argv])
    assert snapshot(out) == before
    assert main_train(["--resume", out, "--epochs", "5", "--quiet"]) == 0  # extended
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 5 and record(out)["settings"]["epochs"] == 5


def test_a_changed_data_file_is_refused_on_resume(tmp_path, capsys):
    npz = frequency_npz(tmp_path / "f.npz", n=30)
    out = tmp_path / "r"
    assert main_train(["--npz", npz, "--out", out, *FAST]) == 0
    with np.load(npz) as f:
        arrays = dict(f)
    np.savez(npz, **{**arrays, "x": arrays["x"] * 1.01})
    before = snapshot(tmp_path)
    with pytest.raises(AppError, match=r"^--resume: '.*f\.npz' changed since the run began \(sha256 .* recorded\); "
                                       "resume on it as it is now with --allow-changed-data, or restore it$"):
        main_train(["--resume", out, "--epochs", "4", "--quiet"])
    with pytest.raises(AppError, match=r"^--model: '.*f\.npz' changed since the run began .*; predict on it as it is "
                                       r"now with --npz "):
        predict.run(predict_args(["--model", out]))
    assert snapshot(tmp_path) == before
    assert main_train(["--resume", out, "--epochs", "4", "--quiet", "--allow-changed-data"]) == 0
    assert "changed since the run began (--allow-changed-data): training on it as it is now from epoch 4" in \
        capsys.readouterr().err
    assert record(out)["data"]["sha256"] == sha256(npz)


def test_an_early_stopped_run_is_not_extended(tmp_path):
    npz = frequency_npz(tmp_path / "f.npz", n=30)
    out = tmp_path / "r"
    assert main_train(["--npz", npz, "--out", out, "--quiet", "--hidden", "4", "--epochs", "40", "--early-stopping",
                       "1", "--min-epochs", "0", "--lr", "0.3"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["stopped"] == "early-stopped" and m["epochs"] < 40
    with pytest.raises(AppError, match=rf"^--epochs: the run in .* stopped early at epoch {m['epochs']} "):
        main_train(["--resume", out, "--epochs", "50"])
    # killed after its last checkpoint, before its results: resumed, it writes them and trains no further
    os.unlink(out / "model.npz")
    (out / "classes.json").write_text(json.dumps({**record(out), "finished": None}))
    assert main_train(["--resume", out, "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == m["epochs"]
    assert record(out)["finished"] == "early-stopped"
    # with --min-epochs: stopped after it, and known as stopped when asked to extend
    late = tmp_path / "late"
    assert main_train(["--npz", npz, "--out", late, "--quiet", "--hidden", "4", "--epochs", "40", "--early-stopping",
                       "1", "--min-epochs", "6", "--lr", "0.3"]) == 0
    m = json.loads((late / "metrics.json").read_text())
    assert m["stopped"] == "early-stopped" and 7 < m["epochs"] < 40 and m["best_epoch"] > 6, m
    with pytest.raises(AppError, match=rf"^--epochs: the run in .* stopped early at epoch {m['epochs']} "):
        main_train(["--resume", late, "--epochs", "50"])


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    npz = frequency_npz(tmp_path / "f.npz", n=30)
    out = tmp_path / "r"
    assert main_train(["--npz", npz, "--out", out, *FAST]) == 0
    os.unlink(out / "checkpoint.npz")  # a run of an rnnx before classification checkpoints
    with pytest.raises(AppError, match=r"holds no checkpoint\.npz \(not a run folder, a run of an older rnnx"):
        main_train(["--resume", out])
    (out / "classes.json").write_text("{not json")
    with pytest.raises(AppError, match=r"^--model: .*classes\.json' is not a readable run record"):
        predict.run(predict_args(["--model", out]))


def test_sigterm_stops_a_run_that_then_resumes(tmp_path, capsys):
    """A real SIGTERM through the CLI: one line, exit 143, the last complete epoch kept."""
    npz = frequency_npz(tmp_path / "f.npz", n=45)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "rnnx", "train", "--npz", npz, "--out", "r", "--quiet", "--hidden",
                             "6", "--epochs", "100000", "--no-early-stopping", "--checkpoint-every", "1000"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock, t0 = tmp_path / "r" / ".rnnx.lock", time.monotonic()
    while not (lock.exists() and lock.read_text().startswith(f"pid {proc.pid} ")):
        assert proc.poll() is None, proc.communicate()
        if time.monotonic() - t0 > 600:  # a timeout of minutes for a stuck start, not a speed bound
            proc.kill()
            pytest.fail(f"the run never took its folder's lock: {proc.communicate()}")
        time.sleep(0.01)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    m = re.fullmatch(r"rnnx train: stopped by SIGTERM; kept epoch (\d+) in r/checkpoint\.npz; continue with: "
                     r"rnnx train --resume r\n", err)
    assert m, err
    meta, _ = checkpoint.load(str(tmp_path / "r" / "checkpoint.npz"))
    assert meta["epoch"] == int(m[1]) and len(meta["history"]) == int(m[1])
    assert not (tmp_path / "r" / "model.npz").exists()
    assert main_train(["--resume", tmp_path / "r", "--epochs", int(m[1]) + 1, "--quiet"]) == 0
    assert f"{int(m[1]) + 1} epochs (done)" in capsys.readouterr().out


# -- the run record in the checkpoint ---------------------------------------------------------------------
OLD_RUN = os.path.join(os.path.dirname(__file__), "data", "classification-run-epoch2")
V1_RUN = os.path.join(os.path.dirname(__file__), "data", "classification-run-v1-epoch2")  # fit-state version 1
OLD_ARGV = ["--quiet", "--hidden", "3", "--epochs", "4", "--batch-size", "8"]  # tests/data/.../README.md


def old_folder(tmp_path, source=OLD_RUN):
    """A copy of the folder an older rnnx wrote (its checkpoint's ``run`` empty or absent), its
    record pointed at a copy of its data (the same bytes): (the data file, the folder)."""
    npz, out = tmp_path / "f.npz", tmp_path / "old"
    shutil.copyfile(os.path.join(source, "f.npz"), npz)
    out.mkdir()
    for name in ("checkpoint.npz", "classes.json"):
        shutil.copyfile(os.path.join(source, name), out / name)
    rec = record(out)
    assert rec["data"]["sha256"] == sha256(npz)
    (out / "classes.json").write_text(json.dumps({**rec, "data": {**rec["data"], "path": str(npz)}}))
    return str(npz), out


def run_of(path) -> dict:
    """The run record of a checkpoint (its ``run``)."""
    return state.read_state(str(path)).run


def test_the_checkpoint_holds_the_run_record(reference):
    """The record classes.json holds (but ``finished``) is the checkpoint's ``run``: the file alone says whose it is."""
    _, ref = reference
    rec, run = record(ref), run_of(ref / "checkpoint.npz")
    assert run["kind"] == "rnnx-classes" and rec["finished"] == "done"
    assert run == {k: v for k, v in rec.items() if k != "finished"}


@pytest.mark.parametrize("source, version", [(OLD_RUN, 2), (V1_RUN, 1)], ids=["fit-state-v2-empty-run", "fit-state-v1"])
def test_an_older_folder_resumes_bit_for_bit(tmp_path, capsys, source, version):
    """A folder of an rnnx before the record was in the checkpoint (``run: {}``, or a fit-state
    version 1 file without ``run``): its record read from classes.json, resumed to the same
    parameters as an uninterrupted run, bit for bit; its checkpoint then holds the record."""
    npz, old = old_folder(tmp_path, source)
    meta = checkpoint.load(str(old / "checkpoint.npz"))[0]
    assert meta["version"] == version and meta["epoch"] == 2 and meta.get("run", {}) == {}
    assert run_of(old / "checkpoint.npz") == {}
    assert main_train(["--resume", old, "--quiet"]) == 0
    ref = tmp_path / "ref"
    assert main_train(["--npz", npz, "--out", ref, *OLD_ARGV]) == 0
    for name in ("model.npz", "checkpoint.npz"):
        assert params_of(old / name) == params_of(ref / name), name
    assert history_of(old) == history_of(ref) and record(old)["finished"] == "done"
    assert run_of(old / "checkpoint.npz") == {k: v for k, v in record(old).items() if k != "finished"}


def test_a_new_folder_resumes_bit_for_bit_from_its_checkpoint(tmp_path, monkeypatch):
    """The same run stopped after epoch 2 by today's rnnx, resumed: the uninterrupted run's params."""
    npz, _ = old_folder(tmp_path)
    out, ref = tmp_path / "new", tmp_path / "ref"
    stop_after(monkeypatch, 3 * 2 + 2)  # 3 batches an epoch: before the 2nd batch of epoch 3
    with pytest.raises(AppError, match="kept epoch 2 in"):
        main_train(["--npz", npz, "--out", out, *OLD_ARGV])
    monkeypatch.undo()
    assert run_of(out / "checkpoint.npz")["classes"] == record(out)["classes"]
    assert main_train(["--resume", out, "--quiet"]) == 0
    assert main_train(["--npz", npz, "--out", ref, *OLD_ARGV]) == 0
    for name in ("model.npz", "checkpoint.npz"):
        assert params_of(out / name) == params_of(ref / name), name


def edit_run(path, **fields) -> None:
    """Change the run record of a checkpoint (as someone editing it would)."""
    meta, groups = checkpoint.load(str(path))
    meta["run"].update(fields)
    checkpoint.save(str(path), {k: v for k, v in meta.items() if k not in ("format", "version")}, groups,
                    to_numpy=np.asarray)


@pytest.mark.parametrize("where, change, text", [
    ("classes.json", lambda r: {"standardisation": {**r["standardisation"], "mean": [r["standardisation"]["mean"][0]
                                                                                       + 1]}}, "standardisation"),
    ("classes.json", lambda r: {"classes": ["high", "low", "other"]}, "classes"),
    ("classes.json", lambda r: {"settings": {**r["settings"], "hidden": 5}}, "settings.hidden"),
    ("checkpoint.npz", lambda r: {"labels": "per-step"}, "labels"),
])
def test_resume_refuses_a_record_that_disagrees_with_its_checkpoint(tmp_path, capsys, where, change, text):
    npz = frequency_npz(tmp_path / "f.npz", n=30)
    out = tmp_path / "r"
    assert main_train(["--npz", npz, "--out", out, *FAST]) == 0
    if where == "classes.json":
        (out / where).write_text(json.dumps({**record(out), **change(record(out))}))
    else:
        edit_run(out / where, **change(record(out)))
    before = snapshot(tmp_path)
    with pytest.raises(AppError) as e:
        main_train(["--resume", out, "--epochs", "4", "--quiet"])
    assert str(e.value) == (f"--resume: {str(out / 'checkpoint.npz')!r} and {str(out / 'classes.json')!r} disagree "
                            f"on {text} (edited by hand?); expected the run's record in both (nothing was changed)")
    assert snapshot(tmp_path) == before


def test_resume_refuses_a_checkpoint_of_another_run_kind(tmp_path):
    npz = frequency_npz(tmp_path / "f.npz", n=30)
    out = tmp_path / "r"
    assert main_train(["--npz", npz, "--out", out, *FAST]) == 0
    edit_run(out / "checkpoint.npz", kind="rnnx-series-run")
    before = snapshot(tmp_path)
    with pytest.raises(AppError, match=r"^--resume: '.*checkpoint\.npz' is the fit-state file of another run kind \(its "
                                       r"run record: 'rnnx-series-run'\), expected the checkpoint of a classification "
                                       r"run$"):
        main_train(["--resume", out, "--epochs", "4", "--quiet"])
    assert snapshot(tmp_path) == before


# -- predict ----------------------------------------------------------------------------------------------
def predict_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    predict.add_arguments(p)
    return p.parse_args([str(a) for a in argv])


def test_predict_classifies_the_run_test_cases_and_new_ones(tmp_path, capsys):
    npz = frequency_npz(tmp_path / "f.npz", n=30)
    out = tmp_path / "r"
    assert main_train(["--npz", npz, "--out", out, *FAST]) == 0
    m = json.loads((out / "metrics.json").read_text())
    capsys.readouterr()
    assert predict.run(predict_args(["--model", out])) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == m["data"]["cases"]["test"] and summary["data"] == "the run's test cases"
    assert abs(summary["accuracy"] - m["test_accuracy"]) < 1e-12 and summary["out"] == str(out / "predictions.csv")
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0] == "case,length,true,predicted,p_high,p_low,p_mid" and len(rows) == 1 + summary["cases"]
    with np.load(npz) as f:
        y, lengths = f["y"], f["lengths"]
    for row in rows[1:]:
        case, length, truth, guess, *p = row.split(",")
        assert truth == y[int(case)] and int(length) == lengths[int(case)] and guess in ("high", "low", "mid")
        assert abs(sum(map(float, p)) - 1) < 1e-12
    new = frequency_npz(tmp_path / "new.npz", n=9, seed=5)
    assert predict.run(predict_args(["--model", out, "--npz", new, "--out", tmp_path / "new.csv"])) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == 9 and summary["data"] == new and 0 <= summary["accuracy"] <= 1
    labelled = [r.split(",") for r in (tmp_path / "new.csv").read_text().splitlines()]
    assert len(labelled) == 10
    with np.load(new) as f:  # the same cases without y: the same rows and probabilities, 'true' empty
        np.savez(tmp_path / "unl.npz", x=f["x"], lengths=f["lengths"])
    assert predict.run(predict_args(["--model", out, "--npz", tmp_path / "unl.npz", "--out", tmp_path / "u.csv"])) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == 9 and summary["accuracy"] is None and summary["data"] == str(tmp_path / "unl.npz")
    unlabelled = [r.split(",") for r in (tmp_path / "u.csv").read_text().splitlines()]
    assert unlabelled[0] == labelled[0] and unlabelled[1:] == [[*r[:2], "", *r[3:]] for r in labelled[1:]]
    if HAS_SKTIME:  # a .ts of '@classLabel false', unequal lengths
        ts = write_ts(tmp_path / "unl.ts", [[[0.1 * k for k in range(n)]] for n in (12, 20, 15)], None, None)
        assert predict.run(predict_args(["--model", out, "--ts", ts, "--out", tmp_path / "ts.csv"])) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["cases"] == 3 and summary["accuracy"] is None and summary["data"] == ts
        rows = [r.split(",") for r in (tmp_path / "ts.csv").read_text().splitlines()[1:]]
        assert [r[:3] for r in rows] == [["0", "12", ""], ["1", "20", ""], ["2", "15", ""]]
        assert all(r[3] in ("high", "low", "mid") and abs(sum(map(float, r[4:])) - 1) < 1e-12 for r in rows)
        two = write_ts(tmp_path / "two.ts", [[[1.0, 2.0], [3.0, 4.0]]] * 2, None, None)
        with pytest.raises(AppError, match=re.escape(f"--ts: {two!r} has 2 features per step, the run's model "
                                                     "reads 1; expected the same features")):
            predict.run(predict_args(["--model", out, "--ts", two, "--out", tmp_path / "two.csv"]))
    np.savez(tmp_path / "two.npz", x=np.zeros((3, 5, 2)), y=np.array(["low"] * 3))
    np.savez(tmp_path / "other.npz", x=np.zeros((3, 5)), y=np.array(["low", "top", "mid"]))
    for argv, text in (
            (["--npz", tmp_path / "two.npz"], f"--npz: {str(tmp_path / 'two.npz')!r} has 2 features per step, the "
                                              "run's model reads 1; expected the same features"),
            (["--npz", tmp_path / "other.npz"], "--npz: class 'top' of"),
            (["--csv", npz], "--csv: "),
            (["--npz", new, "--ts", new], "--ts: give the new cases in one file"),
            (["--out", out / "model.npz"], "is a file of the run"),
            (["--out", tmp_path / "new.csv"], "exists; pass --overwrite"),
    ):
        with pytest.raises(AppError, match=re.escape(text)):
            predict.run(predict_args(["--model", out, *argv]))
    with pytest.raises(AppError, match=r"^--npz: applies to a classification run"):
        predict.run(predict_args(["--model", tmp_path, "--npz", new]))
