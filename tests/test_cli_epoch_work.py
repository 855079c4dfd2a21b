"""The work of an ``rnnx train`` epoch beyond the engine's (issue 29, item 5; counted, never
timed).  Where the command tunes glibc's malloc (:func:`rnnx.backends.malloc.tune`): only for
a run on a backend it helps (NumPy, torch, CuPy), decided once the run's backend is known;
never for JAX, whose small compiled updates it slows (docs/performance.md), nor for a
command that runs no backend.  A JAX run compiles its programs in its first epochs and none
after (the training windows' MSE every 10th epoch and the checkpoint writes included)."""

from __future__ import annotations

import logging
import math

import pytest

from rnnx.backends import Target, malloc
from rnnx.cli import main


@pytest.fixture
def calls(monkeypatch):
    seen: list[int] = []
    monkeypatch.setattr(malloc, "tune", lambda: seen.append(1) or "counted")
    return seen


@pytest.fixture
def series_csv(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("t,value\n" + "".join(f"{i},{math.sin(0.2 * i)}\n" for i in range(120)))
    return p


def _train(tmp_path, series_csv, backend: str, name: str) -> int:
    return main(["train", "--csv", str(series_csv), "--column", "value", "--window", "8", "--hidden", "4",
                 "--epochs", "1", "--backend", backend, "--quiet", "--out", str(tmp_path / name)])


def test_a_numpy_run_tunes_malloc_once(tmp_path, series_csv, calls, capsys):
    assert _train(tmp_path, series_csv, "numpy", "np") == 0, capsys.readouterr().err
    assert len(calls) == 1


@pytest.mark.skipif(bool(Target("jax", "cpu").unavailable()), reason="JAX not installed")
def test_a_jax_run_leaves_malloc_alone(tmp_path, series_csv, calls, capsys):
    assert _train(tmp_path, series_csv, "jax", "jx") == 0, capsys.readouterr().err
    assert calls == []
    # a resumed JAX run (its backend read from the run's record) leaves it alone too
    assert main(["train", "--resume", str(tmp_path / "jx"), "--epochs", "2", "--quiet"]) == 0, capsys.readouterr().err
    assert calls == []


@pytest.mark.skipif(bool(Target("jax", "cpu").unavailable()), reason="JAX not installed")
def test_rnnx_malloc_tuned_tunes_a_jax_run(tmp_path, series_csv, calls, capsys, monkeypatch):
    monkeypatch.setenv("RNNX_MALLOC", "tuned")
    assert _train(tmp_path, series_csv, "jax", "jx") == 0, capsys.readouterr().err
    assert len(calls) == 1


def test_a_command_without_a_backend_leaves_malloc_alone(calls, capsys):
    assert main(["backends"]) == 0
    assert calls == []


@pytest.mark.skipif(bool(Target("jax", "cpu").unavailable()), reason="JAX not installed")
def test_a_jax_run_compiles_nothing_after_its_first_epochs(tmp_path, series_csv, monkeypatch, caplog):
    """Every XLA compilation of a 12-epoch run (jax_log_compiles' records), counted at the
    end of each epoch: none after epoch 2 (epoch 1 computes the training windows' MSE too),
    though epoch 10 computes it again and writes a checkpoint."""
    import jax

    from rnnx.cli.tasks import regression as app
    from rnnx.training import LambdaCallback

    compiles: list[int] = []

    def count(run, row) -> None:
        compiles.append(sum("Compiling" in r.getMessage() for r in caplog.records))

    real_fit = app.fit
    monkeypatch.setattr(app, "fit", lambda *a, callbacks, **kw: real_fit(
        *a, callbacks=[*callbacks, LambdaCallback(on_epoch_end=count)], **kw))
    caplog.set_level(logging.WARNING)
    with jax.log_compiles(True):
        assert main(["train", "--csv", str(series_csv), "--column", "value", "--window", "8", "--hidden", "4",
                     "--epochs", "12", "--checkpoint-every", "10", "--backend", "jax", "--dtype", "float32",
                     "--quiet", "--out", str(tmp_path / "jx")]) == 0
    assert len(compiles) == 12 and compiles[0] > 0, compiles
    assert compiles[2:] == [compiles[1]] * 10, compiles


@pytest.mark.skipif(bool(Target("jax", "cpu").unavailable()), reason="JAX not installed")
def test_a_jax_run_reads_the_device_a_fixed_number_of_times_an_epoch(tmp_path, series_csv, monkeypatch):
    """No host read per update on the command's JAX path (engine, SeriesMetrics, callbacks):
    the device-to-host reads of an epoch (``jax.Array._value``: ``float``, ``int``, ``bool``,
    ``numpy.asarray`` of an array), counted at the end of epochs 2-9 (epoch 1 reads the
    training windows' MSE too), are the same few with 39 batches an epoch (a 32-update
    program, then 7 one-update programs) as with 5 (a 4-update program and the short batch)."""
    from jax._src import array as jax_array

    from rnnx.cli.tasks import regression as app
    from rnnx.training import LambdaCallback

    reads = [0]
    real = jax_array.ArrayImpl._value
    monkeypatch.setattr(jax_array.ArrayImpl, "_value", property(
        lambda self: (reads.__setitem__(0, reads[0] + 1), real.fget(self))[1]))
    at_end: list[int] = []
    real_fit = app.fit
    monkeypatch.setattr(app, "fit", lambda *a, callbacks, **kw: real_fit(
        *a, callbacks=[*callbacks, LambdaCallback(on_epoch_end=lambda run, row: at_end.append(reads[0]))], **kw))

    def per_epoch(batch: int) -> list[int]:
        at_end.clear()
        assert main(["train", "--csv", str(series_csv), "--column", "value", "--window", "8", "--hidden", "4",
                     "--epochs", "9", "--batch-size", str(batch), "--backend", "jax", "--dtype", "float32",
                     "--no-early-stopping", "--quiet", "--out", str(tmp_path / f"b{batch}")]) == 0
        return [b - a for a, b in zip(at_end[:-1], at_end[1:])]

    small, large = per_epoch(2), per_epoch(16)  # 39 and 5 batches of the 78 training windows
    assert len(small) == 8 and small == large, (small, large)
    assert max(small) <= 6, small


@pytest.mark.skipif(bool(Target("jax", "cpu").unavailable()), reason="JAX not installed")
def test_a_jax_run_queues_the_series_forwards_before_its_first_read_of_an_epoch(tmp_path, series_csv, monkeypatch):
    """The host waits for the device once an epoch: ``SeriesMetrics``' forwards (the validation
    windows every epoch, the training windows at epochs 1 and 10) are queued behind the epoch's
    updates (``on_epoch_queued``) before its first device-to-host read (``jax.Array._value``: the
    loss sum), not dispatched after it; each forward once (none recomputed after the read).  (No
    checkpoint between epochs: its write reads the parameters.)"""
    from jax._src import array as jax_array

    from rnnx.cli.tasks import regression as app
    from rnnx.training import LambdaCallback

    events: list[str] = []
    real = jax_array.ArrayImpl._value
    monkeypatch.setattr(jax_array.ArrayImpl, "_value", property(lambda self: (events.append("read"), real.fget(self))[1]))

    class Logged(app.WindowScores):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            forward = self._predict
            self._predict = lambda p, x: (events.append(f"forward {x.shape[1]}"), forward(p, x))[1]

    monkeypatch.setattr(app, "WindowScores", Logged)
    real_fit = app.fit
    monkeypatch.setattr(app, "fit", lambda *a, callbacks, **kw: real_fit(
        *a, callbacks=[*callbacks, LambdaCallback(on_fit_start=lambda run: events.clear(),  # the reads of set-up
                                                  on_epoch_end=lambda run, row: events.append("end"))], **kw))
    assert main(["train", "--csv", str(series_csv), "--column", "value", "--window", "8", "--hidden", "4",
                 "--epochs", "12", "--batch-size", "8", "--checkpoint-every", "20", "--backend", "jax",
                 "--dtype", "float32", "--no-early-stopping", "--quiet", "--out", str(tmp_path / "jx")]) == 0
    ends = [i for i, e in enumerate(events) if e == "end"]
    epochs = [events[a + 1:b] for a, b in zip([-1, *ends], ends)]  # each epoch's events, training to its row
    assert len(epochs) == 12
    for n, ev in enumerate(epochs, 1):
        forwards = [i for i, e in enumerate(ev) if e.startswith("forward")]
        assert len(forwards) == (2 if n in (1, 10) else 1), (n, ev)  # 78 training and 17 validation windows
        assert max(forwards) < ev.index("read"), (n, ev)


def test_on_epoch_queued_sees_each_whole_epoch_once_with_its_final_parameters():
    """``Callback.on_epoch_queued(run, params)``: once per whole epoch, before its row (``run``
    still the epoch before, ``run.updates`` this one's), ``params`` the ones the epoch's row and
    ``run.params`` then hold; not for an epoch that ``max_updates`` ends inside."""
    import numpy as np

    import rnnx
    from rnnx.training import Callback

    seen: list = []

    class Log(Callback):
        def on_epoch_queued(self, run, params):
            seen.append(("queued", run.epoch + 1, run.updates, params))

        def on_epoch_end(self, run, row):
            seen.append(("end", run.epoch, run.updates, run.params))

    x = np.random.default_rng(0).standard_normal((20, 5, 2))
    rnnx.fit(rnnx.Model("rnn", 2, 3), x, x[:, -1, :1], epochs=3, max_updates=8, batch_size=8, callbacks=[Log()])
    assert [s[:3] for s in seen] == [
        ("queued", 1, 3), ("end", 1, 3), ("queued", 2, 6), ("end", 2, 6)]  # epoch 3 stops after 2 of its 3 updates
    assert seen[0][3] is seen[1][3] and seen[2][3] is seen[3][3]
