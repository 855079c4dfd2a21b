"""Messages that must tell the truth (issue 27, item 12): a run that fails for a full disk
before its first checkpoint does not advise ``--resume`` of a folder it removed; ``predict``
describes a model that does not fit its run in words, not as ``<rnnx.model.Model object at
0x...>``; a ``text.json`` edited by hand is blamed, not ``--prime``."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

import rnnx
from rnnx.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def no_space(path, *args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_before_the_first_checkpoint_does_not_advise_resume(capsys, tmp_path, monkeypatch):
    from rnnx.cli import app

    monkeypatch.setattr(app, "save_checkpoint", lambda out, *a, **k: no_space(os.path.join(out, "checkpoint.npz")))
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", "--preset", "seed001", "--epochs", "2", "--quiet", "--out", out)
    assert code == 1 and err.count("\n") == 1 and not out.exists()
    assert "--resume" not in err
    assert err == (f"rnnx train: error: {str(out / 'checkpoint.npz')!r}: No space left on device (ENOSPC); no "
                   "checkpoint was written; free space or fix permissions, then start the run again\n")


def test_a_full_disk_before_the_first_checkpoint_of_a_classification_run(capsys, tmp_path, monkeypatch):
    from rnnx.training import state

    monkeypatch.setattr(state, "save_state", no_space)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", x=rng.standard_normal((20, 8, 1)), y=np.arange(20) % 2)
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", "--npz", tmp_path / "f.npz", "--epochs", "2", "--hidden", "4", "--quiet",
                       "--out", out)
    assert code == 1 and not out.exists()
    assert err == (f"rnnx train: error: {str(out / 'checkpoint.npz')!r}: No space left on device (ENOSPC); no "
                   "checkpoint was written; free space or fix permissions, then start the run again\n")


def test_predict_describes_a_model_that_does_not_fit_its_run(capsys, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", x=rng.standard_normal((30, 8, 1)), y=np.arange(30) % 3)
    out = tmp_path / "r"
    assert run(capsys, "train", "--npz", tmp_path / "f.npz", "--epochs", "1", "--hidden", "4", "--quiet",
               "--out", out)[0] == 0
    other = rnnx.Model("gru", 1, 4, 5)
    rnnx.save(str(out / "model.npz"), other, other.init_params(np), overwrite=True)
    code, _, err = run(capsys, "predict", "--model", out)
    assert code == 2 and err.count("\n") == 1
    assert " object at 0x" not in err
    assert err == (f"rnnx predict: error: --model: {str(out / 'model.npz')!r} holds a many-to-one model of 1 "
                   "feature(s) and 5 outputs, its classes.json 3 classes per-sequence of 1 feature(s); expected the "
                   "run's own model\n")


@pytest.mark.parametrize("first", ["Z", "", "hh"])
def test_a_tampered_text_record_is_blamed_not_prime(capsys, tmp_path, first):
    text = tmp_path / "t.txt"
    text.write_text("hello world, this is text. " * 40)
    out = tmp_path / "r"
    assert run(capsys, "train", "--text", text, "--max-updates", "3", "--hidden", "8", "--quiet", "--out", out)[0] == 0
    rec = json.loads((out / "text.json").read_text())
    (out / "text.json").write_text(json.dumps({**rec, "first": first}))
    code, _, err = run(capsys, "sample", "--model", out)
    assert code == 1 and err.count("\n") == 1 and "--prime:" not in err
    assert err.startswith(f"rnnx sample: error: --model: {str(out / 'text.json')!r} holds first {first!r}, expected "
                          "one character of its vocabulary"), err
    code, printed, _ = run(capsys, "sample", "--model", out, "--prime", "h", "--length", "5")
    assert code == 0 and printed.startswith("h")  # the record's other fields are still usable with --prime
