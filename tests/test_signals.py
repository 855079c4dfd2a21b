"""Every long command stops on SIGINT, SIGTERM and SIGHUP (issue 27 item 5): one line on
stderr, exit 128 + the signal's number, no temporary left, no output half-written; a write in
progress finishes first; ``diagnose --compare`` stops between its inner runs and says which
finished, also when the signal arrives while an inner run writes its results.

Each case runs the command as a subprocess through a small wrapper (:data:`CHILD`) that holds
it at one point of its work (the ``n``-th call of a function: a batch, a bench row, an inner
run's result writes) until the signal has arrived, after creating a marker file the test waits
for; so the signal always lands where the case says, whatever the machine's speed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from rnnx.cli import main
from rnnx.cli import signals as sig

PY = sys.executable

#: ``python -c CHILD MARKER N MODULE:QUALNAME ARGV...``: rnnx with the N-th call of
#: MODULE.QUALNAME held until a signal arrives (at most 5 minutes), MARKER created when it starts.
CHILD = r"""
import functools, importlib, os, sys, time
marker, nth, where, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
mod, qual = where.split(":")
owner = importlib.import_module(mod)
*path, attr = qual.split(".")
for p in path:
    owner = getattr(owner, p)
orig = getattr(owner, attr)
calls = [0]

@functools.wraps(orig)
def held(*a, **k):
    calls[0] += 1
    if calls[0] == nth:
        from rnnx.cli import signals
        open(marker, "w").close()
        for _ in range(6000):  # a signal answered at once raises here; one that waits is seen below
            s = signals.current()
            if s is not None and s.pending is not None:
                break
            time.sleep(0.05)
    return orig(*a, **k)

setattr(owner, attr, held)
from rnnx.cli import main
sys.argv = ["rnnx", *argv]
sys.exit(main())
"""


def run_held(cwd, where: str, argv: list[str], signum: int, *, nth: int = 1) -> tuple[int, str, str]:
    """Run ``rnnx ARGV`` in ``cwd`` held at the ``nth`` call of ``where``; send ``signum``
    once it is there; return (exit status, stdout, stderr)."""
    marker = os.path.join(cwd, "held.marker")
    proc = subprocess.Popen([PY, "-c", CHILD, marker, str(nth), where, *map(str, argv)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not os.path.exists(marker):
        if proc.poll() is not None or time.monotonic() - t0 > 300:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"never reached {where} (call {nth}): exit {proc.returncode}\n{out}\n{err}")
        time.sleep(0.02)
    os.unlink(marker)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def temporaries(root) -> list[str]:
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names
            if n.startswith((".tmp-", ".rnnx-tmp-")) or n.endswith(".tmp")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished regression run (2 epochs of the seed001 preset)."""
    root = tmp_path_factory.mktemp("signals")
    assert main(["train", "--preset", "seed001", "--epochs", "2", "--quiet", "--out", str(root / "r")]) == 0
    return root / "r"


# -- the mechanism, in process ----------------------------------------------------------------------
def test_a_signal_seen_by_an_inner_run_reaches_the_outer_one():
    """diagnose --compare's inner training run has its own handlers; the signal it receives is
    the outer loop's too, and its handlers are the outer ones again after it."""
    with sig.stopping() as outer:
        handler = signal.getsignal(signal.SIGTERM)
        with sig.Signals() as inner:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0)  # the handler runs here
            assert inner.pending == signal.SIGTERM
        assert outer.pending == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) == handler
        with pytest.raises(sig.Forced):
            outer.check()
        outer.pending = None  # leave the block quietly


def test_stopping_waits_for_a_write_block():
    from rnnx.cli.errors import AppError

    done = []
    with pytest.raises(AppError) as e:
        with sig.stopping() as s:
            with s.writing():
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(0)
                done.append("the write went on")
            done.append("not reached")
    assert done == ["the write went on"]
    assert e.value.code == 128 + signal.SIGHUP and str(e.value).startswith("stopped by SIGHUP")


# -- each long command, as a subprocess --------------------------------------------------------------
def test_predict_finishes_its_write_then_stops(run, tmp_path):
    """SIGTERM while predictions.csv is being written (its temporary open): the file is
    written whole, then the command stops."""
    code, out, err = run_held(tmp_path, "os:fsync", ["predict", "--model", run, "--out", "p.csv"], signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err
    line = one_line(err)
    assert line == "rnnx predict: stopped by SIGTERM; written whole before it stopped: 'p.csv'", line
    assert (tmp_path / "p.csv").read_text().startswith("index,truth,prediction,persistence\n")
    assert not temporaries(tmp_path) and not temporaries(run)


def test_forecast_stops_before_writing(run, tmp_path):
    code, out, err = run_held(tmp_path, "rnnx.nn.model:Model.forward", ["forecast", "--model", run, "--out", "f.csv",
                                                                     "--steps", "5"], signal.SIGHUP, nth=2)
    assert code == 128 + signal.SIGHUP, err
    assert one_line(err) == "rnnx forecast: stopped by SIGHUP; nothing was written"
    assert not os.path.exists(tmp_path / "f.csv") and not os.path.exists(tmp_path / "f.png")
    assert not temporaries(tmp_path) and not temporaries(run)


def test_diagnose_model_stops(run, tmp_path):
    code, out, err = run_held(tmp_path, "rnnx.diagnostics.recorder:Recorder.record_gradient",
                              ["diagnose", "--model", run, "--out", "d"], signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err
    assert one_line(err) == "rnnx diagnose: stopped by SIGTERM; nothing was written"
    assert not [n for n in os.listdir(tmp_path / "d") if not n.startswith(".")] if (tmp_path / "d").exists() else True
    assert not temporaries(tmp_path) and not temporaries(run)


def test_bench_stops_between_rows(tmp_path):
    code, out, err = run_held(tmp_path, "rnnx.cli.bench:_time_once",
                              ["bench", "--cells", "rnn", "--sizes", "2,3,2,4", "--backend", "numpy",
                               "--repeat", "2", "--warmup", "0", "--no-anchors", "--settle", "0", "--json", "b.json"],
                              signal.SIGHUP)
    assert code == 128 + signal.SIGHUP, err
    assert one_line(err) == "rnnx bench: stopped by SIGHUP; nothing was written"
    assert os.listdir(tmp_path) == []


def test_parity_stops_between_rows(tmp_path):
    code, out, err = run_held(tmp_path, "rnnx.testing.rows:_row",
                              ["parity", "--backend", "numpy", "--cells", "rnn_tanh", "--json", "p.json"],
                              signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err
    assert one_line(err) == "rnnx parity: stopped by SIGTERM; nothing was written"
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("text")
    (d / "t.txt").write_text("the quick brown fox jumps over the lazy dog. " * 20, encoding="utf-8")
    assert main(["train", "--text", str(d / "t.txt"), "--hidden", "8", "--seq-len", "10", "--streams", "2",
                 "--max-updates", "5", "--quiet", "--out", str(d / "run")]) == 0
    return d / "run"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_sample_stops_on_each_signal(text_run, tmp_path, signum):
    code, out, err = run_held(tmp_path, "rnnx.text:sample", ["sample", "--model", text_run, "--length", "50"],
                              signum)
    assert code == 128 + signum, err
    assert one_line(err) == f"rnnx sample: stopped by {signum.name}; nothing was printed"
    assert out == ""


# -- diagnose --compare: its inner runs ------------------------------------------------------------------
COMPARE = ["diagnose", "--compare", "cell", "--preset", "seed001", "--epochs", "1", "--seeds", "3", "--quiet",
           "--out", "cmp"]


def test_compare_stops_after_the_inner_run_that_was_writing_its_results(tmp_path):
    """The signal arrives while the first inner run writes its results: that run finishes,
    and the study stops there (it went on with the other 8 runs and exited 0)."""
    code, out, err = run_held(tmp_path, "rnnx.cli.tasks.regression:_write_outputs", COMPARE, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err
    line = one_line(err)
    assert line.startswith("rnnx diagnose: stopped by SIGTERM; 1 of 9 runs finished: ")
    assert os.path.join("cmp", "rnn", "seed0") in line and "compare" in line
    assert sorted(os.listdir(tmp_path / "cmp")) == ["rnn"]
    assert json.loads((tmp_path / "cmp" / "rnn" / "seed0" / "metrics.json").read_text())["epochs"] == 1
    assert not temporaries(tmp_path)


def test_compare_stopped_inside_an_inner_run_names_the_finished_ones_and_the_resume(tmp_path):
    code, out, err = run_held(tmp_path, "rnnx.training.windows:SeriesMetrics.on_fit_start", COMPARE,
                                 signal.SIGINT, nth=2)
    assert code == 128 + signal.SIGINT, err
    line = one_line(err)
    seed0, seed1 = os.path.join("cmp", "rnn", "seed0"), os.path.join("cmp", "rnn", "seed1")
    assert re.match(r"rnnx diagnose: stopped by SIGINT; 1 of 9 runs finished: ", line), line
    assert seed0 in line and f"rnnx train --resume {seed1}" in line
    assert not (tmp_path / "cmp" / "compare.json").exists() and not temporaries(tmp_path)
