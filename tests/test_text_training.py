"""Character-model training (rnnx.text.fit_text / evaluate_text), ``rnnx train --text``
(rnnx.cli.text_app) and ``rnnx sample``: min-char-rnn's loop with carried state, against
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
from rnnx.fitting import NonFiniteLoss

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


_V = T.Vocabulary.from_text(TEXT).size


@pytest.mark.parametrize("kwargs,model,exc,start", [
    ({"streams": 0}, None, ValueError, "streams: expected a positive int, got 0"),
    ({"seq_len": 0}, None, ValueError, "seq_len: expected a positive int, got 0"),
    ({"seq_len": 2000}, None, DataError, "text: 804 characters, expected at least seq_len + 1 = 2001"),
    ({"streams": 100, "seq_len": 10}, None, DataError, "text: 804 characters make 100 streams of 8, expected"),
    ({"epochs": 0}, None, ValueError, "epochs: expected a positive int"),
    ({"max_updates": 0}, None, ValueError, "max_updates: expected a positive int or None"),
    ({"clip_value": -1.0}, None, ValueError, "clip_value: expected a finite number > 0 or None"),
    ({"log_every": 0}, None, ValueError, "log_every: expected a positive int"),
    ({"on_update": 3}, None, TypeError, "on_update: expected a function"),
    ({"seed": -1}, None, ValueError, "seed: expected an int >= 0"),
    ({"optimizer": "rmsprop"}, None, ValueError, "optimizer: expected one of sgd, adam, adagrad"),
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
    from rnnx.cli.text_app import run_text

    d = tmp_path_factory.mktemp("text")
    (d / "t.txt").write_text(TEXT * 3, encoding="utf-8")
    out = d / "run"
    assert run_text(_args("--text", str(d / "t.txt"), "--hidden", "16", "--max-updates", "30", "--seq-len", "10",
                          "--streams", "2", "--quiet", "--out", str(out))) == 0
    return out


def test_train_text_writes_the_run_folder(run_dir):
    assert sorted(os.listdir(run_dir)) == ["history.csv", "metrics.json", "model.npz", "text.json"]
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
    from rnnx.cli.text_app import run_text

    src = str(run_dir.parent / "t.txt")
    before = (run_dir / "model.npz").read_bytes()
    with pytest.raises(AppError, match=r"^--out: .* holds rnnx results"):
        run_text(_args("--text", src, "--quiet", "--out", str(run_dir)))
    assert (run_dir / "model.npz").read_bytes() == before
    with pytest.raises(AppError, match=r"^--window: does not apply to a character model \(--text\); drop it$"):
        run_text(_args("--text", src, "--window", "5", "--out", str(tmp_path / "x")))
    with pytest.raises(AppError, match=r"^--seq-len: expected a positive integer, got 0$"):
        run_text(_args("--text", src, "--seq-len", "0", "--out", str(tmp_path / "x")))
    with pytest.raises(AppError, match=r"^--text: 804 characters; the first 90% trains"):
        (tmp_path / "short.txt").write_text(TEXT, encoding="utf-8")
        run_text(_args("--text", str(tmp_path / "short.txt"), "--streams", "100", "--out", str(tmp_path / "x")))
    with pytest.raises(AppError, match=r"^--text: expected a UTF-8 text file or 'bundled', got none$"):
        run_text(_args("--seq-len", "5", "--out", str(tmp_path / "x")))
    with pytest.raises(DataError, match=r"^text: file .* does not exist"):
        run_text(_args("--text", str(tmp_path / "none.txt"), "--out", str(tmp_path / "x")))
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("case,argv,code,message", [
    ("no folder", ["--model", "{tmp}/nope"], 2, "--model: '{tmp}/nope' is not a folder"),
    ("not text", ["--model", "{tmp}"], 2, "--model: '{tmp}' holds no text.json: not a character model's run"),
    ("prime", ["--model", "{run}", "--prime", "Q"], 2, "--prime: character 'Q' is not in the model's vocabulary"),
    ("temperature", ["--model", "{run}", "--temperature", "0"], 2, "--temperature: expected a finite number > 0"),
    ("length", ["--model", "{run}", "--length", "-1"], 2, "--length: expected 0 to 1,000,000 characters, got -1"),
    ("damaged", ["--model", "{tmp}/bad"], 1, "--model: '{tmp}/bad/text.json' cannot be read as JSON"),
    ("no model", ["--model", "{tmp}/nomodel"], 1, "--model: '{tmp}/nomodel' holds no model.npz"),
])
def test_sample_bad_inputs_are_one_line(run_dir, tmp_path, capsys, case, argv, code, message):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "text.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "nomodel").mkdir()
    (tmp_path / "nomodel" / "text.json").write_text((run_dir / "text.json").read_text(encoding="utf-8"),
                                                    encoding="utf-8")
    fill = {"tmp": str(tmp_path), "run": str(run_dir)}
    assert main(["sample", *(a.format(**fill) for a in argv)]) == code
    err = capsys.readouterr().err
    assert err.startswith("rnnx sample: error: " + message.format(**fill)) and err.count("\n") == 1, err
