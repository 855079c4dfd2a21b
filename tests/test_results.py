"""A run's last writes (issue 27 item 6): values near the float64 limit still give a finished
run with honest metrics (null where a number is not finite) and plots drawn to scale; a plot
that cannot be drawn is left out with a note naming it; any other failure while writing the
results is one line naming the stage and file, and ``--resume`` then writes them."""

from __future__ import annotations

import json
import math

import pytest

import rnnx.cli
from rnnx.io import checkpoint


def _train(csv, out, *extra) -> list[str]:
    return ["train", "--csv", str(csv), "--column", "v", "--out", str(out), "--quiet", "--epochs", "3",
            "--hidden", "4", *extra]


def _finished(out) -> bool:
    return bool(checkpoint.load(str(out / "checkpoint.npz"))[0]["run"].get("finished"))


@pytest.fixture
def sine(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("v\n" + "".join(f"{math.sin(i / 5)!r}\n" for i in range(150)))
    return f


def test_values_near_the_float64_limit_finish_with_honest_metrics(tmp_path, capsys):
    """1.79e308 * (0.999 + 0.001 sin i): the squared errors overflow, and matplotlib could not
    compute the prediction plot's ticks ("arange: cannot compute length"): the run stopped
    without metrics.json or its finished mark, and --resume failed the same way."""
    f = tmp_path / "big.csv"
    f.write_text("v\n" + "".join(f"{1.79e308 * (0.999 + 0.001 * math.sin(i))!r}\n" for i in range(200)))
    out = tmp_path / "r"
    rc = rnnx.cli.main(_train(f, out))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert err == "", err
    m = json.loads((out / "metrics.json").read_text())
    assert m["epochs"] == 3 and m["test_mse"] is None and m["persistence_test_mse"] is None  # inf: null
    assert _finished(out)
    assert (out / "predictions.png").stat().st_size > 10_000
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert rnnx.cli.main(["train", "--resume", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_a_plot_that_cannot_be_drawn_is_left_out_with_a_note(sine, tmp_path, capsys, monkeypatch):
    from rnnx.diagnostics import plots

    def cannot(*a, **k):
        raise ValueError("arange: cannot compute length")

    monkeypatch.setattr(plots, "predictions", cannot)
    out = tmp_path / "r"
    rc = rnnx.cli.main(_train(sine, out))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert err == (f"rnnx train: note: {out / 'predictions.png'} not drawn (ValueError: arange: cannot compute "
                   "length); the numbers are in metrics.json\n")
    assert _finished(out) and (out / "metrics.json").exists() and not (out / "predictions.png").exists()


def test_a_failure_while_writing_results_names_the_stage_and_resume_writes_them(sine, tmp_path, capsys,
                                                                                monkeypatch):
    from rnnx.io import atomic

    real = atomic.write_text

    def fails_on_history(path, text, **k):
        if path.endswith("history.csv"):
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "a planted failure")
        return real(path, text, **k)

    monkeypatch.setattr(atomic, "write_text", fails_on_history)
    out = tmp_path / "r"
    rc = rnnx.cli.main(_train(sine, out))
    err = capsys.readouterr().err
    assert rc == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnx train: error: writing history.csv: UnicodeEncodeError: "), err
    assert lines[0].endswith(f"the trained state is in {out / 'checkpoint.npz'}; write the results with: "
                             f"rnnx train --resume {out}"), err
    assert not _finished(out) and not (out / "metrics.json").exists()
    monkeypatch.setattr(atomic, "write_text", real)
    assert rnnx.cli.main(["train", "--resume", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert _finished(out) and (out / "metrics.json").exists() and (out / "history.csv").exists()
