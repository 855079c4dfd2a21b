"""A run whose loss explodes (issue 30, item 4): it keeps its history, convergence plot and
diagnostics plot up to the explosion, marked as such (rnnx.cli.partial), and
``rnnx diagnose --model`` reads it (its last checkpoint: there is no model.npz)."""

from __future__ import annotations

import csv
import math

import pytest

from rnnx.cli import main
from rnnx.io import checkpoint
from rnnx.training.state import NonFiniteLoss

EXPLODE = ["train", "--preset", "seed001", "--optimizer", "sgd", "--lr", "3", "--nonlinearity", "relu", "--no-clip",
           "--diagnostics", "all", "--quiet"]


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    assert "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def exploded(tmp_path_factory):
    """The exploding run (the loss is inf in epoch 17; the last checkpoint is epoch 10); each
    test's copy (:func:`_copy`) is the folder as it was before the handler's call of
    write_partial_results (its outputs removed)."""
    out = tmp_path_factory.mktemp("boom") / "run"
    code = main([*EXPLODE, "--out", str(out)])
    assert code == 3
    return out


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    for name in ("history.csv", "convergence.png", "diagnostics.png"):  # what write_partial_results wrote
        (dst / name).unlink(missing_ok=True)
    return dst


def test_write_partial_results_keeps_the_history_up_to_the_explosion(exploded, tmp_path):
    from rnnx.cli import partial

    out = _copy(exploded, tmp_path / "run")
    before = (out / "checkpoint.npz").read_bytes()
    meta = checkpoint.load(str(out / "checkpoint.npz"))[0]
    wrote = partial.write_partial_results(str(out), NonFiniteLoss(17, math.inf, "update 11 of epoch 17: ..."))
    assert wrote == ["history.csv", "convergence.png", "diagnostics.png"]
    rows = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [*range(1, meta["epoch"] + 1), 17]
    assert [float(r["train_mse"]) if r["train_mse"] else None for r in rows[:-1]] == \
        [h["train_mse"] for h in meta["history"]]  # empty where the run did not compute it (epochs 2-9)
    assert all(r["note"] == "" for r in rows[:-1])
    assert rows[-1]["batch_loss"] == "inf" and "loss inf" in rows[-1]["note"]
    assert "epochs 11-16" in rows[-1]["note"]  # after the last checkpoint: not on record
    for f in ("convergence.png", "diagnostics.png"):
        assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "checkpoint.npz").read_bytes() == before  # still the run's resumable state
    assert not (out / "model.npz").exists() and not (out / "metrics.json").exists()


def test_the_titles_say_where_the_run_stopped(exploded, tmp_path, monkeypatch):
    from rnnx.diagnostics import plots
    from rnnx.cli import partial

    titles = {}
    monkeypatch.setattr(plots, "convergence", lambda h, path, title: titles.setdefault("convergence", title))
    monkeypatch.setattr(plots, "diagnostics", lambda d, path, title: titles.setdefault("diagnostics", title))
    out = _copy(exploded, tmp_path / "run")
    partial.write_partial_results(str(out), NonFiniteLoss(17, math.inf))
    for t in titles.values():
        assert "stopped: loss inf at epoch 17" in t, t
    assert "history to epoch 10" in titles["convergence"]
    assert "MSE off the scale from epoch 5" in titles["convergence"]  # beyond 1e100: not drawn


def test_without_a_checkpoint_only_the_diagnostics_are_drawn(exploded, tmp_path):
    from rnnx.cli import partial

    out = _copy(exploded, tmp_path / "run")
    (out / "checkpoint.npz").unlink()
    assert partial.write_partial_results(str(out), NonFiniteLoss(3, math.nan)) == ["diagnostics.png"]
    assert not (out / "history.csv").exists()
    (out / "diagnostics.json").unlink()
    (out / "diagnostics.png").unlink()
    assert partial.write_partial_results(str(out), NonFiniteLoss(3, math.nan)) == []


def test_write_partial_results_never_follows_a_planted_link(exploded, tmp_path):
    from rnnx.cli import partial

    out = _copy(exploded, tmp_path / "run")
    victim = tmp_path / "victim.csv"
    victim.write_text("mine\n")
    (out / "history.csv").symlink_to(victim)
    partial.write_partial_results(str(out), NonFiniteLoss(17, math.inf))
    assert victim.read_text() == "mine\n"


def test_diagnose_model_reads_a_run_that_did_not_finish(exploded, tmp_path, capsys):
    out = _copy(exploded, tmp_path / "run")
    capsys.readouterr()
    assert main(["diagnose", "--model", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no model.npz" in err and "last checkpoint (epoch 10)" in err
    assert (out / "diagnose" / "diagnostics.json").stat().st_size > 0
    assert (out / "diagnose" / "diagnostics.png").stat().st_size > 0


def test_predict_still_needs_a_model_file(exploded, tmp_path, capsys):
    out = _copy(exploded, tmp_path / "run")
    capsys.readouterr()
    assert main(["predict", "--model", str(out)]) == 2
    assert "model.npz" in one_line(capsys.readouterr().err)


def test_the_exploding_command_leaves_its_history(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*EXPLODE, "--out", str(out)]) == 3
    line = one_line(capsys.readouterr().err)
    assert "the loss became inf at epoch 17" in line and "history.csv" in line
    for f in ("history.csv", "convergence.png", "diagnostics.json", "diagnostics.png", "checkpoint.npz"):
        assert (out / f).stat().st_size > 0, f
    assert main(["diagnose", "--model", str(out)]) == 0
