"""Character-model training (rnnx.text.fit_text / evaluate_text), ``rnnx train --text``
(rnnx.cli.tasks.text) and ``rnnx sample``: min-char-rnn's loop with carried state, against
torch autograd and one long forward."""

from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np
import pytest

import rnnx
from rnnx import optim
from rnnx import text as T
from rnnx.cli import main
from rnnx.cli.errors import AppError
from rnnx.data import DataError
from rnnx.training.state import NonFiniteLoss

TEXT = "the cat sat on the mat. the dog ate the hat; a rat ran at the cat.\n" * 12


def _ids(text: str = TEXT) -> tuple[T.Vocabulary, np.ndarray]:
    vocab = T.Vocabulary.from_text(text)
    return vocab, vocab.encode(text)


def _model(cell: str, v: int, hidden: int = 12) -> rnnx.Model:
    return rnnx.Model(cell, v, hidden, v, objective="many-to-many")


def _copy(p: dict) -> dict:
    return {k: np.array(a, copy=True) for k, a in p.items()}


def test_loss_falls_and_validation_bpc_drops():
    vocab, ids = _ids()
    m = _model("rnn", vocab.size, 24)
    p0 = m.init_params(np, seed=1, dtype=np.float64)
    before = T.evaluate_text(m, p0, ids, seq_len=10)
    p, hist = T.fit_text(m, p0, ids, seq_len=10, epochs=4, log_every=10)
    assert [r["update"] for r in hist] == list(range(10, 321, 10))  # 80 chunks x 4 epochs
    assert {r["epoch"] for r in hist} == {1, 2, 3, 4}
    first, last = np.mean([r["bpc"] for r in hist[:2]]), np.mean([r["bpc"] for r in hist[-4:]])
    assert last < first - 1.5, (first, last)
    assert T.evaluate_text(m, p, ids, seq_len=10) < before - 1.5
    assert all(math.isclose(r["bpc"], r["loss"] / math.log(2)) for r in hist)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_carried_chunk_to_chunk_equals_one_forward(cell):
    """The chunks fit_text/evaluate_text read, each run from the state the previous one
    ended in, give the outputs, final state and bits per character of one forward over
    the three chunks joined."""
    vocab, ids = _ids()
    ids = ids[:16]  # 3 chunks of 5 (+1 target)
    m = _model(cell, vocab.size)
    p = m.init_params(np, seed=3, dtype=np.float64)
    xs, _ = T.stream_chunks(ids, seq_len=5, streams=1)
    assert xs.shape == (3, 5, 1)
    state, outs = None, []
    for n in range(3):
        pred, state = m.predict(p, T.one_hot(xs[n], vocab.size, xp=np, dtype=np.float64), state)
        outs.append(pred)
    whole, whole_state = m.predict(p, T.one_hot(ids[:15, None], vocab.size, xp=np, dtype=np.float64))
    np.testing.assert_allclose(np.concatenate(outs), whole, rtol=0, atol=1e-13)
    for a, b in zip(state if isinstance(state, tuple) else (state,),
                    whole_state if isinstance(whole_state, tuple) else (whole_state,)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    ce = rnnx.losses.cross_entropy(whole, ids[1:16, None], xp=np)[0]
    assert abs(T.evaluate_text(m, p, ids, seq_len=5) - float(ce) / math.log(2)) < 1e-13


def _torch_grads(torch, cell, p, x_ids, y_ids, h0, v):
    """Gradients of min-char-rnn's chunk loss (CE summed over steps, mean over streams) for
    torch's nn.RNN/LSTM/GRU + nn.Linear holding ``p``, from the state ``h0``; and the
    final state (detached)."""
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    hidden = p["weight_hh_l0"].shape[1]
    rnn, lin = cls(v, hidden, dtype=torch.float64), torch.nn.Linear(hidden, v, dtype=torch.float64)
    with torch.no_grad():
        for k, a in rnn.named_parameters():
            a.copy_(torch.from_numpy(p[k]))
        lin.weight.copy_(torch.from_numpy(p["weight_hy"]))
        lin.bias.copy_(torch.from_numpy(p["bias_y"]))
    x = torch.nn.functional.one_hot(torch.from_numpy(x_ids), v).to(torch.float64)  # (T, B, V)
    y, hn = rnn(x, h0)
    z = lin(y)
    steps, streams = x_ids.shape
    loss = torch.nn.functional.cross_entropy(z.reshape(-1, v), torch.from_numpy(y_ids).reshape(-1),
                                             reduction="sum") / streams
    loss.backward()
    grads = {k: a.grad.numpy() for k, a in rnn.named_parameters()}
    grads.update(weight_hy=lin.weight.grad.numpy(), bias_y=lin.bias.grad.numpy())
    hn = tuple(h.detach() for h in hn) if isinstance(hn, tuple) else hn.detach()
    return float(loss.detach()) / steps, grads, hn


@pytest.mark.parametrize("cell,clip", [("rnn", None), ("lstm", None), ("gru", None), ("rnn", 0.05)])
def test_updates_equal_torch_autograd_with_the_carried_state(cell, clip):
    """Two updates of SGD(lr=1) on 2 streams: update n moves the params by exactly
    -clip(grad), and grad equals torch autograd of the same model on chunk n from the
    state chunk n-1 ended in (computed with the params of that time, detached)."""
    torch = pytest.importorskip("torch")
    vocab, ids = _ids()
    m = _model(cell, vocab.size, 7)
    p0 = m.init_params(np, seed=5, dtype=np.float64)
    seen = [p0]
    _, hist = T.fit_text(m, p0, ids, seq_len=6, streams=2, max_updates=2, optimizer=optim.SGD(lr=1.0),
                         clip_value=clip, on_update=lambda n, q, loss: seen.append(_copy(q)))
    xs, ys = T.stream_chunks(ids, seq_len=6, streams=2)
    h = None
    for n in range(2):
        loss, g, h = _torch_grads(torch, cell, seen[n], xs[n], ys[n], h, vocab.size)  # h: the state carried on
        assert abs(hist[n]["loss"] - loss) < 1e-12
        for k in p0:
            want = g[k] if clip is None else np.clip(g[k], -clip, clip)
            np.testing.assert_allclose(seen[n][k] - seen[n + 1][k], want, rtol=0, atol=1e-12, err_msg=k)
    if clip is not None:
        assert any(np.abs(g[k]).max() > clip for k in g)  # the clip did act


def test_two_streams_equal_two_independent_runs():
    vocab, ids = _ids()
    s = len(ids) // 2
    a, b = ids[:s], ids[s:2 * s]
    m = _model("gru", vocab.size)
    p0 = m.init_params(np, seed=2, dtype=np.float64)
    both = T.evaluate_text(m, p0, ids, seq_len=7, streams=2)
    assert abs(both - (T.evaluate_text(m, p0, a, seq_len=7) + T.evaluate_text(m, p0, b, seq_len=7)) / 2) < 1e-13
    sgd = optim.SGD(lr=1.0)
    p2, h2 = T.fit_text(m, p0, ids, seq_len=7, streams=2, max_updates=1, optimizer=sgd, clip_value=None)
    pa, ha = T.fit_text(m, p0, a, seq_len=7, max_updates=1, optimizer=sgd, clip_value=None)
    pb, hb = T.fit_text(m, p0, b, seq_len=7, max_updates=1, optimizer=sgd, clip_value=None)
    assert abs(h2[0]["loss"] - (ha[0]["loss"] + hb[0]["loss"]) / 2) < 1e-13
    for k in p0:  # the 2-stream gradient is the mean of the two streams'
        np.testing.assert_allclose(p0[k] - p2[k], ((p0[k] - pa[k]) + (p0[k] - pb[k])) / 2, rtol=0, atol=1e-13)


def test_jax_compiled_updates_equal_numpy():
    jnp = pytest.importorskip("jax.numpy")
    vocab, ids = _ids()
    m = _model("rnn", vocab.size)
    p0 = m.init_params(np, seed=4, dtype=np.float64)
    p, hist = T.fit_text(m, p0, ids, seq_len=4, max_updates=4)  # Adagrad(0.1, eps 1e-8), clip 5
    pj, hj = T.fit_text(m, {k: jnp.asarray(a) for k, a in p0.items()}, ids, seq_len=4, max_updates=4)
    assert max(abs(r["loss"] - q["loss"]) for r, q in zip(hist, hj)) < 1e-12
    for k in p:
        np.testing.assert_allclose(np.asarray(pj[k]), p[k], rtol=0, atol=1e-12, err_msg=k)
    assert abs(T.evaluate_text(m, pj, ids[:200], seq_len=4) - T.evaluate_text(m, p, ids[:200], seq_len=4)) < 1e-12
    with pytest.raises(T.Stopped) as e:  # stopped before update 3 and resumed (one more compile): bit for bit
        T.fit_text(m, {k: jnp.asarray(a) for k, a in p0.items()}, ids, seq_len=4, max_updates=4,
                   should_stop=_stop_before(3))
    pr, hr = T.fit_text(m, None, ids, seq_len=4, max_updates=4, resume=e.value.state)
    assert hr == hj and _same(pr, pj)


def test_a_jax_run_resumed_from_a_file_continues_on_jax(tmp_path):
    """resume=PATH loads the state onto the backend and device of the ids (a JAX array here),
    not NumPy: the run continues on JAX, bit for bit the uninterrupted JAX run."""
    jax = pytest.importorskip("jax")
    vocab, ids = _ids()
    m = _model("gru", vocab.size)
    p0 = {k: jax.numpy.asarray(a) for k, a in m.init_params(np, seed=4, dtype=np.float64).items()}
    kw = dict(seq_len=4, max_updates=9, log_every=2)
    want, hist = T.fit_text(m, p0, ids, **kw)
    ck = str(tmp_path / "c.npz")
    with pytest.raises(T.Stopped):
        T.fit_text(m, p0, ids, **kw, should_stop=_stop_before(6), checkpoint=ck)
    got, got_hist = T.fit_text(m, None, jax.numpy.asarray(ids), **kw, resume=ck)
    assert all(isinstance(a, jax.Array) for a in got.values())
    assert got_hist == hist and _same(got, want)


def test_history_rows_and_on_update_stop():
    vocab, ids = _ids()
    m = _model("rnn", vocab.size)
    losses: list[float] = []

    def watch(n, params, loss):
        losses.append(float(loss))
        return True if n == 8 else None

    _, hist = T.fit_text(m, None, ids, seq_len=5, log_every=3, on_update=watch)
    assert [r["update"] for r in hist] == [3, 6, 8]
    assert len(losses) == 8
    for r, part in zip(hist, (losses[0:3], losses[3:6], losses[6:8])):
        assert abs(r["loss"] - sum(part) / len(part)) < 1e-12


def test_divergence_is_one_error():
    vocab, ids = _ids()
    m = _model("rnn", vocab.size)
    p = m.init_params(np, seed=0, dtype=np.float64)
    p = {**p, "bias_y": p["bias_y"] * np.nan}
    with pytest.raises(NonFiniteLoss, match=r"update 1: lower the learning rate"):
        T.fit_text(m, p, ids, seq_len=5, max_updates=3)


# -- stopping, checkpoints and resuming ----------------------------------------------------------------
def _stop_before(k: int):
    """A should_stop that says stop before update ``k`` (it is polled once before each one)."""
    polls = []
    return lambda: polls.append(1) or len(polls) == k


def _same(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes() for k in a)


def test_stopped_and_resumed_equals_uninterrupted_bit_for_bit(tmp_path):
    """Stopped before update 53 (in epoch 2, between history rows, the state carried from
    update 52), resumed from the checkpoint file: the params and every history row of an
    uninterrupted run, bit for bit; so is a run extended from its end checkpoint.  (Two
    LSTM layers with dropout: a carried pair of states, seeded masks.)"""
    vocab, ids = _ids()
    m = rnnx.Model("lstm", vocab.size, 8, vocab.size, objective="many-to-many", num_layers=2, dropout=0.2)
    kw = dict(seq_len=10, streams=2, epochs=2, log_every=7, seed=3)  # 40 chunks an epoch, 80 updates
    want, hist = T.fit_text(m, None, ids, **kw)
    ck = str(tmp_path / "c.npz")
    with pytest.raises(T.Stopped) as e:
        T.fit_text(m, None, ids, **kw, should_stop=_stop_before(53), checkpoint=ck, checkpoint_every=5)
    st, meta = T.load_state(ck, m)
    assert e.value.updates == st.updates == 52 and (meta["kind"], meta["version"]) == ("fit-state", 2)
    assert [r["update"] for r in st.history] == [7, 14, 21, 28, 35, 42, 49] and st.count == 3
    assert _same(st.params, e.value.state.params)
    got, got_hist = T.fit_text(m, None, ids, **kw, resume=ck)
    assert _same(got, want) and got_hist == hist
    short = str(tmp_path / "short.npz")  # ends between rows (update 33); extended to the whole run
    _, h33 = T.fit_text(m, None, ids, **kw, max_updates=33, checkpoint=short)
    assert [r["update"] for r in h33][-2:] == [28, 33]
    got, got_hist = T.fit_text(m, None, ids, **kw, resume=short)
    assert _same(got, want) and got_hist == hist


def test_checkpoints_are_written_every_n_updates_and_in_memory_resume():
    vocab, ids = _ids()
    m = _model("rnn", vocab.size)
    seen = []
    _, hist = T.fit_text(m, None, ids, seq_len=10, max_updates=23, log_every=10,
                         checkpoint=lambda st, s: seen.append(st), checkpoint_every=10)
    assert [st.updates for st in seen] == [10, 20, 23]
    assert seen[-1].history == hist[:-1] and seen[-1].count == 3 and hist[-1]["update"] == 23
    assert seen[-1].state.shape == (1, 1, 12)
    with pytest.raises(T.Stopped) as e:
        T.fit_text(m, None, ids, seq_len=10, max_updates=23, log_every=10, should_stop=_stop_before(1))
    assert e.value.updates == 0 and e.value.state.history == []
    p, h = T.fit_text(m, None, ids, seq_len=10, max_updates=23, log_every=10, resume=e.value.state)  # in memory
    assert _same(p, seen[-1].params) and h == hist


def test_the_text_state_is_the_engines_fit_state(tmp_path):
    """fit_text's state is the engine's FitState (a TextState reads .state, .window and .count
    from its carry and callback state): the state a Stopped carries, written by
    rnnx.training.state.save_state (every run kind's writer), resumes bit for bit."""
    from rnnx.training import state as S

    vocab, ids = _ids()
    m = _model("gru", vocab.size)
    kw = dict(seq_len=10, streams=2, max_updates=23, log_every=10)
    want, hist = T.fit_text(m, None, ids, **kw)
    seen = []
    with pytest.raises(T.Stopped) as e:
        T.fit_text(m, None, ids, **kw, should_stop=_stop_before(15), checkpoint=lambda st, s: seen.append(s))
    st = e.value.state
    assert isinstance(st, S.FitState) and st.state is st.carry and st.carry.shape == (1, 2, 12)
    assert st.callbacks == [{"window": st.window, "count": 4}] and [r["update"] for r in st.history] == [10]
    ck = str(tmp_path / "c.npz")
    S.save_state(ck, m, st, seen[-1])
    assert S.read_state(ck).state.updates == 14
    got, got_hist = T.fit_text(m, None, ids, **kw, resume=ck)
    assert _same(got, want) and got_hist == hist


def test_a_resume_with_no_update_left_returns_the_runs_history(tmp_path):
    """Resumed from its end checkpoint (23 updates, 3 since the last row) with the same
    max_updates: no update runs and the history is the run's, its last row that of update 23."""
    vocab, ids = _ids()
    m = _model("rnn", vocab.size)
    ck = str(tmp_path / "c.npz")
    p, hist = T.fit_text(m, None, ids, seq_len=10, max_updates=23, log_every=10, checkpoint=ck)
    again, h = T.fit_text(m, None, ids, seq_len=10, max_updates=23, log_every=10, resume=ck)
    assert [r["update"] for r in hist] == [10, 20, 23] and h == hist and _same(again, p)


def test_resume_refuses_what_does_not_continue_the_run(tmp_path):
    vocab, ids = _ids()
    m = _model("rnn", vocab.size)
    ck = str(tmp_path / "c.npz")
    T.fit_text(m, None, ids, seq_len=10, max_updates=20, checkpoint=ck)
    st, _ = T.load_state(ck)
    for kwargs, exc, start in [
        ({"seq_len": 5}, ValueError, "resume: the checkpoint was written with seq_len=10, this fit has seq_len=5"),
        ({"ids": ids[:-10]}, ValueError, "resume: the checkpoint was written with ids="),
        ({"max_updates": 10}, ValueError, "resume: the state is after 20 updates, more than this run's 10"),
        ({"params": st.params}, ValueError, "params: a resumed run continues from its state's params"),
        ({"streams": 2, "resume": st}, ValueError, "resume: the carried state has shapes ((1, 1, 12),), expected "
                                                   "((1, 2, 12),) (streams=2)"),
        ({"resume": 3}, TypeError, "resume: expected a TextState"),
        ({"should_stop": 1}, TypeError, "should_stop: expected a callable returning True to stop, got int"),
        ({"checkpoint": 1}, TypeError, "checkpoint: expected a file path, a function (state, settings) or None"),
        ({"checkpoint_every": 0}, ValueError, "checkpoint_every: expected a positive integer, got 0"),
    ]:
        kw = {"seq_len": 10, "resume": ck, **kwargs}
        with pytest.raises(exc) as e:
            T.fit_text(m, kw.pop("params", None), kw.pop("ids", ids), **kw)
        assert str(e.value).startswith(start) and "\n" not in str(e.value), str(e.value)
    with pytest.raises(ValueError, match=r"^resume: .* was written for the model"):
        T.load_state(ck, _model("gru", vocab.size))


_V = T.Vocabulary.from_text(TEXT).size


@pytest.mark.parametrize("kwargs,model,exc,start", [
    ({"streams": 0}, None, ValueError, "streams: expected a positive int, got 0"),
    ({"seq_len": 0}, None, ValueError, "seq_len: expected a positive int, got 0"),
    ({"seq_len": 2000}, None, DataError, "text: 804 characters, expected at least seq_len + 1 = 2001"),
    ({"streams": 100, "seq_len": 10}, None, DataError, "text: 804 characters make 100 streams of 8, expected"),
    ({"epochs": 0}, None, ValueError, "epochs: expected a positive int"),
    ({"max_updates": 0}, None, ValueError, "max_updates: expected a positive integer, got 0"),
    ({"clip_value": -1.0}, None, ValueError, "clip_value: expected a finite number > 0, got -1.0"),
    ({"clip_value": "5"}, None, ValueError, "clip_value: expected a finite number > 0, got '5'"),
    ({"log_every": 0}, None, ValueError, "log_every: expected a positive int"),
    ({"on_update": 3}, None, TypeError, "on_update: expected a function"),
    ({"seed": -1}, None, ValueError, "seed: expected an int >= 0"),
    ({"optimizer": "adamax"}, None, ValueError, "optimizer: expected one of sgd, adam, adagrad, rmsprop, adamw"),
    ({}, ("rnn", _V, 8, _V + 1, "many-to-many"), ValueError, f"model: input_size {_V}, output_size {_V + 1}"),
    ({}, ("rnn", _V, 8, _V, "many-to-one"), ValueError, "model: input_size"),
    ({}, ("rnn", _V - 1, 8, _V - 1, "many-to-many"), ValueError, f"ids: id {_V - 1} is outside [0, {_V - 1})"),
    ({"ids": np.zeros(50)}, None, TypeError, "ids: expected a 1-D array of integer character ids"),
])
def test_bad_arguments_are_one_line(kwargs, model, exc, start):
    vocab, ids = _ids()
    kwargs = dict(kwargs)
    ids = kwargs.pop("ids", ids)
    m = rnnx.Model(model[0], model[1], model[2], model[3], objective=model[4]) if model else \
        _model("rnn", vocab.size)
    with pytest.raises(exc) as e:
        T.fit_text(m, None, ids, **kwargs)
    assert str(e.value).startswith(start) and "\n" not in str(e.value), str(e.value)


# -- the CLI -------------------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    from rnnx.cli.commands import train

    p = argparse.ArgumentParser()
    train.add_arguments(p)  # the text flags included
    return p.parse_args(list(argv))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from rnnx.cli.tasks.text import start_run

    d = tmp_path_factory.mktemp("text")
    (d / "t.txt").write_text(TEXT * 3, encoding="utf-8")
    out = d / "run"
    assert start_run(_args("--text", str(d / "t.txt"), "--hidden", "16", "--max-updates", "30", "--seq-len", "10",
                          "--streams", "2", "--quiet", "--out", str(out))) == 0
    return out


def test_train_text_writes_the_run_folder(run_dir):
    assert sorted(os.listdir(run_dir)) == ["checkpoint.npz", "history.csv", "metrics.json", "model.npz", "text.json"]
    rec = json.loads((run_dir / "text.json").read_text(encoding="utf-8"))
    assert rec["kind"] == "rnnx-text" and rec["vocabulary"] == "".join(T.Vocabulary.from_text(TEXT).chars)
    assert (rec["seq_len"], rec["streams"], rec["text"]["chars"]) == (10, 2, 3 * len(TEXT))
    m = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert m["updates"] == 30 and m["train_chars"] == int(0.9 * 3 * len(TEXT))
    assert 0 < m["train_bpc"] < math.log2(_V) + 1 and 0 < m["val_bpc"] < math.log2(_V) + 1
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert rows[0] == "update,epoch,loss,bpc" and len(rows) == 4  # every 10 updates
    model, _ = rnnx.load(str(run_dir / "model.npz"))
    assert (model.layer.input_size, model.layer.hidden_size, model.output_size) == (_V, 16, _V)


def test_sample_is_deterministic_for_a_seed(run_dir, capsys):
    outs = []
    for seed in (4, 4, 5):
        assert main(["sample", "--model", str(run_dir), "--length", "60", "--seed", str(seed), "--prime", "the "]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] != outs[2]
    assert outs[0].startswith("the ") and len(outs[0]) == 4 + 60 + 1


def test_train_text_refuses_a_used_folder_and_other_flags(run_dir, tmp_path):
    from rnnx.cli.tasks.text import start_run

    src = str(run_dir.parent / "t.txt")
    before = (run_dir / "model.npz").read_bytes()
    with pytest.raises(AppError, match=r"^--out: .* already holds a run \(checkpoint.npz\); continue it with --resume"):
        start_run(_args("--text", src, "--quiet", "--out", str(run_dir)))
    assert (run_dir / "model.npz").read_bytes() == before
    with pytest.raises(AppError, match=r"^--window: does not apply to a character model \(--text\); drop it$"):
        start_run(_args("--text", src, "--window", "5", "--out", str(tmp_path / "x")))
    for flag in ("--batch-size", "--early-stopping", "--momentum"):  # 0 too: it was taken as "not given" and ignored
        with pytest.raises(AppError, match=rf"^{flag}: does not apply to a character model \(--text\); drop it$"):
            start_run(_args("--text", src, flag, "0", "--out", str(tmp_path / "x")))
    with pytest.raises(AppError, match=r"^--seq-len: expected a positive integer, got 0$"):
        start_run(_args("--text", src, "--seq-len", "0", "--out", str(tmp_path / "x")))
    with pytest.raises(AppError, match=r"^--no-clip: turns --clip-value off, but --clip-value 2.0 was given too; "
                       r"expected one of them$"):  # every task's words (rnnx.cli.table.turned_off)
        start_run(_args("--text", src, "--no-clip", "--clip-value", "2", "--out", str(tmp_path / "x")))
    with pytest.raises(AppError, match=r"^--proj-size: applies to --cell lstm only, got --cell rnn$"):
        start_run(_args("--text", src, "--proj-size", "2", "--out", str(tmp_path / "x")))  # every task's words
    with pytest.raises(AppError, match=r"^--text: 804 characters; the first 90% trains"):
        (tmp_path / "short.txt").write_text(TEXT, encoding="utf-8")
        start_run(_args("--text", str(tmp_path / "short.txt"), "--streams", "100", "--out", str(tmp_path / "x")))
    with pytest.raises(AppError, match=r"^--text: expected a UTF-8 text file or 'bundled', got none$"):
        start_run(_args("--seq-len", "5", "--out", str(tmp_path / "x")))
    with pytest.raises(DataError, match=r"^text: file .* does not exist"):
        start_run(_args("--text", str(tmp_path / "none.txt"), "--out", str(tmp_path / "x")))
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("case,argv,code,message", [
    ("no folder", ["--model", "{tmp}/nope"], 2, "--model: '{tmp}/nope' is not a folder"),
    ("not text", ["--model", "{tmp}"], 2, "--model: '{tmp}' holds no text.json: not a character model's run"),
    ("prime", ["--model", "{run}", "--prime", "Q"], 2, "--prime: character 'Q' is not in the model's vocabulary"),
    ("temperature", ["--model", "{run}", "--temperature", "0"], 2, "--temperature: expected a finite number > 0"),
    ("seed", ["--model", "{run}", "--seed", "-1"], 2, "--seed: expected an int >= 0, got -1"),  # rnnx.text.sample's
    ("empty prime", ["--model", "{run}", "--prime", ""], 2, "--prime: expected at least one character, got ''"),
    ("length", ["--model", "{run}", "--length", "-1"], 2, "--length: expected 0 to 1,000,000 characters, got -1"),
    ("damaged", ["--model", "{tmp}/bad"], 1, "--model: '{tmp}/bad/text.json' cannot be read as JSON"),
    ("no model", ["--model", "{tmp}/nomodel"], 1, "--model: '{tmp}/nomodel' holds no model.npz"),
    ("unfinished", ["--model", "{tmp}/stopped"], 2, "--model: '{tmp}/stopped' holds a character model's run that has "
     "not finished (no text.json yet); finish it with: rnnx train --resume {tmp}/stopped"),
])
def test_sample_bad_inputs_are_one_line(run_dir, tmp_path, capsys, case, argv, code, message):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "text.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "nomodel").mkdir()
    (tmp_path / "stopped").mkdir()
    (tmp_path / "stopped" / "checkpoint.npz").write_bytes((run_dir / "checkpoint.npz").read_bytes())
    (tmp_path / "nomodel" / "text.json").write_text((run_dir / "text.json").read_text(encoding="utf-8"),
                                                    encoding="utf-8")
    fill = {"tmp": str(tmp_path), "run": str(run_dir)}
    assert main(["sample", *(a.format(**fill) for a in argv)]) == code
    err = capsys.readouterr().err
    assert err.startswith("rnnx sample: error: " + message.format(**fill)) and err.count("\n") == 1, err


# -- rnnx train --resume / signals of a text run ------------------------------------------------------
def _files(folder) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in sorted(os.listdir(folder))}


def _params(path) -> dict:
    return rnnx.load(str(path))[1]


@pytest.fixture
def text_file(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT * 3, encoding="utf-8")
    return tmp_path / "t.txt"


SMALL = ["--hidden", "12", "--seq-len", "10", "--streams", "2", "--quiet"]


def test_cli_resume_extends_bit_for_bit_and_a_finished_run_is_left_alone(text_file, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--text", str(text_file), *SMALL, "--max-updates", "25", "--checkpoint-every", "7",
                 "--out", str(a)]) == 0
    assert main(["train", "--text", str(text_file), *SMALL, "--max-updates", "60", "--out", str(b)]) == 0
    before = _files(a)
    capsys.readouterr()
    assert main(["train", "--resume", str(a)]) == 0  # finished: one line, nothing rewritten
    out, err = capsys.readouterr()
    assert out == f"rnnx train: {a} is finished (25 updates); nothing was changed; extend it with --resume {a} " \
                  "--max-updates N\n" and err == ""
    assert _files(a) == before
    assert main(["train", "--resume", str(a), "--max-updates", "60", "--quiet"]) == 0
    assert _same(_params(a / "model.npz"), _params(b / "model.npz"))
    assert (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()
    meta, _ = rnnx.io.checkpoint.load(str(a / "checkpoint.npz"))
    assert meta["run"]["finished"] and meta["updates"] == 60 and meta["run"]["settings"]["max_updates"] == 60
    assert json.loads((a / "metrics.json").read_text(encoding="utf-8"))["updates"] == 60


@pytest.mark.parametrize("argv,change,message", [
    (["--hidden", "4", "--seq-len", "5"], None,
     "--resume: continues with the run's own settings (only --max-updates or --epochs may extend it); drop --hidden, "
     "--seq-len"),
    (["--out", "{tmp}/elsewhere"], None, "--resume: continues with the run's own settings (only --max-updates or "
     "--epochs may extend it); drop --out"),
    (["--max-updates", "20"], None, "--max-updates: the run in '{tmp}/a' has 25 updates and --epochs 1 x "),
    (["--max-updates", "40"], "changed", "--resume: text: '{tmp}/t.txt' changed since the run began (sha256 "),
    (["--max-updates", "40", "--allow-changed-data"], "changed", "--resume: the text now holds 'Q', a character "
     "outside the run's vocabulary of 16; restore the text it trained on (nothing was changed)"),
])
def test_cli_resume_refusals_are_one_line_and_change_nothing(text_file, tmp_path, capsys, argv, change, message):
    a = tmp_path / "a"
    assert main(["train", "--text", str(text_file), *SMALL, "--max-updates", "25", "--out", str(a)]) == 0
    if change:
        text_file.write_text(TEXT * 3 + "Q", encoding="utf-8")
    before = _files(a)
    capsys.readouterr()
    assert main(["train", "--resume", str(a), *(x.format(tmp=tmp_path) for x in argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnx train: error: " + message.format(tmp=tmp_path)) and err.count("\n") == 1, err
    assert _files(a) == before


def test_sigterm_stops_a_text_run_that_resumes_bit_for_bit(text_file, tmp_path, capsys):
    """A subprocess run stopped by SIGTERM: exit 143, one line naming the update kept; the
    folder resumed (extended to 15 updates more) equals a run trained to there at once."""
    import re
    import signal
    import subprocess
    import sys
    import time

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout's rnnx in the subprocess
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "rnnx", "train", "--text", "t.txt", *SMALL, "--epochs", "100000",
                             "--out", "s"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lock, t0 = tmp_path / "s" / ".rnnx.lock", time.monotonic()
    while not (lock.exists() and lock.read_text().startswith(f"pid {proc.pid} ")) and proc.poll() is None:
        if time.monotonic() - t0 > 600:  # a timeout of minutes for a stuck start, not a speed bound
            proc.kill()
            pytest.fail(f"the run never took its folder's lock: {proc.communicate()}")
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    m = re.fullmatch(r"rnnx train: stopped by SIGTERM; kept update (\d+) in s/checkpoint\.npz; continue with: "
                     r"rnnx train --resume s\n", err)
    assert m, err
    n = int(m[1])
    assert os.listdir(tmp_path / "s") == ["checkpoint.npz"]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["train", "--resume", "s", "--max-updates", str(n + 15), "--quiet"]) == 0
        assert main(["train", "--text", "t.txt", *SMALL, "--epochs", "100000", "--max-updates", str(n + 15),
                     "--out", "r"]) == 0
    finally:
        os.chdir(cwd)
    assert _same(_params(tmp_path / "s" / "model.npz"), _params(tmp_path / "r" / "model.npz"))
    assert (tmp_path / "s" / "history.csv").read_bytes() == (tmp_path / "r" / "history.csv").read_bytes()
