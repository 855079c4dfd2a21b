"""Variable lengths through the model (against torch's packed sequences) and the training
loop :func:`rnnx.fit` / ``evaluate`` / ``predict``: shapes, losses, determinism, resume,
early stopping, backends, the compiled update, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnnx
from conftest import target_params
from rnnx.testing.harness import rel_err
from rnnx.nn.model import Model

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")
T, B, I, H = 7, 5, 3, 4
LENGTHS = [7, 3, 5, 1, 6]


def _torch(model: Model, params: dict):
    """torch.nn RNN/LSTM/GRU + Linear with rnnx's weights, float64."""
    L = model.layer
    kw = dict(num_layers=L.num_layers, bidirectional=L.bidirectional, dtype=torch.float64)
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[model.cell]
    rnn = cls(L.input_size, L.hidden_size, **kw)
    rnn.load_state_dict({k: torch.tensor(v) for k, v in params.items() if k not in ("weight_hy", "bias_y")})
    lin = torch.nn.Linear(L.num_directions * L.hidden_size, model.output_size, dtype=torch.float64)
    lin.load_state_dict({"weight": torch.tensor(params["weight_hy"]), "bias": torch.tensor(params["bias_y"])})
    return rnn, lin


def _packed(rnn, x, lengths):
    """torch's padded output (T, B, D*H) and h_n of a packed batch."""
    pack = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), enforce_sorted=False)
    out, st = rnn(pack)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
    return y, (st[0] if isinstance(st, tuple) else st)


def _grads(rnn, lin):
    g = {k: p.grad.numpy() for k, p in rnn.named_parameters()}
    g.update(weight_hy=lin.weight.grad.numpy(), bias_y=lin.bias.grad.numpy())
    return g


CASES = [(c, layers, bi) for c in ("rnn", "lstm", "gru") for layers, bi in ((1, False), (2, True))]


@pytest.mark.parametrize("cell,layers,bi", CASES, ids=[f"{c}-L{n}-{'bi' if b else 'uni'}" for c, n, b in CASES])
def test_many_to_one_lengths_match_torch_packed(cell, layers, bi):
    """Each sequence's last valid step feeds the head (torch: the padded output at L-1; one
    direction: h_n); loss and every gradient equal torch autograd's, padding NaN."""
    model = Model(cell, I, H, 2, num_layers=layers, bidirectional=bi)
    params = model.init_params(np, seed=1, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I))
    lengths = np.asarray(LENGTHS)
    for b, n in enumerate(LENGTHS):
        x[n:, b] = np.nan  # never read
    target = rng.standard_normal((B, 2))
    loss, grads, _ = model.loss_and_grad(params, x, target, lengths=lengths)
    rnn, lin = _torch(model, params)
    y, h_n = _packed(rnn, np.nan_to_num(x), lengths)
    last = y[torch.tensor(lengths) - 1, torch.arange(B)]
    if not bi and layers == 1:
        assert torch.allclose(last, h_n[-1], rtol=0, atol=1e-15)
    tloss = torch.nn.functional.mse_loss(lin(last), torch.tensor(target))
    tloss.backward()
    assert abs(float(loss) - tloss.item()) <= 1e-12 * tloss.item()
    tg = _grads(rnn, lin)
    for k in params:
        assert rel_err(grads[k], tg[k]) <= 1e-12, k
    pred, _ = model.predict(params, x, lengths=lengths)
    assert rel_err(pred, lin(last).detach().numpy()) <= 1e-13


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_many_to_many_cross_entropy_with_lengths_matches_torch(cell):
    """Per-step labels on padded sequences: cross-entropy over valid steps only."""
    C = 4
    model = Model(cell, I, H, C, num_layers=2, bidirectional=True, objective="many-to-many")
    params = model.init_params(np, seed=2, dtype=np.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I))
    lengths = np.asarray(LENGTHS)
    labels = rng.integers(0, C, (T, B))
    loss, grads, _ = model.loss_and_grad(params, x, labels, lengths=lengths, loss="cross-entropy")
    rnn, lin = _torch(model, params)
    y, _ = _packed(rnn, x, lengths)
    valid = torch.arange(T)[:, None] < torch.tensor(lengths)[None, :]
    tloss = torch.nn.functional.cross_entropy(lin(y)[valid], torch.tensor(labels)[valid])
    tloss.backward()
    assert abs(float(loss) - tloss.item()) <= 1e-12 * tloss.item()
    tg = _grads(rnn, lin)
    for k in params:
        assert rel_err(grads[k], tg[k]) <= 1e-12, k


# -- fit -----------------------------------------------------------------------------------------------
def _sine_task(n=64, t=12, seed=0):
    """Many-to-one: the next value of a noisy sine from 12 steps of it (and its square)."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 2 * np.pi, n)
    steps = start[:, None] + 0.3 * np.arange(t + 1)[None, :]
    s = np.sin(steps)
    x = np.stack([s[:, :t], s[:, :t] ** 2], axis=-1)
    return x, s[:, t:t + 1]


def test_fit_learns_and_evaluates():
    x, y = _sine_task()
    model = Model("gru", 2, 16, 1)
    base = rnnx.evaluate(model, model.init_params(np, seed=0, dtype=np.float64), x, y)
    res = rnnx.fit(model, x, y, epochs=40, batch_size=16, lr=1e-2, validation_split=0.25, seed=0)
    assert [r["epoch"] for r in res.history] == list(range(1, 41))
    assert set(res.history[0]) == {"epoch", "loss", "val_loss", "val_rmse", "val_mae", "clipped", "seconds"}
    ev = rnnx.evaluate(model, res.params, x, y)
    assert ev["loss"] < 0.05 * base["loss"], (ev, base)
    assert math.isclose(ev["rmse"], math.sqrt(ev["loss"]), rel_tol=1e-12)
    pred = rnnx.predict(model, res.params, x)
    assert pred.shape == (64, 1)
    assert math.isclose(float(np.mean((pred - y) ** 2)), ev["loss"], rel_tol=1e-12)
    assert res.history_by_key()["loss"] == [r["loss"] for r in res.history]


def test_fit_is_deterministic_and_resume_is_bit_identical():
    x, y = _sine_task(40)
    model = Model("lstm", 2, 8, 1)
    kw = dict(batch_size=8, clip_norm=0.5, seed=3)
    full = rnnx.fit(model, x, y, epochs=4, **kw)
    again = rnnx.fit(model, x, y, epochs=4, **kw)
    half = rnnx.fit(model, x, y, epochs=2, **kw)
    rest = rnnx.fit(model, x, y, epochs=4, resume=half.state, **kw)
    for k in full.params:
        assert np.array_equal(full.params[k], again.params[k])
        assert np.array_equal(full.params[k], rest.params[k]), k
    assert [r["loss"] for r in rest.history] == [r["loss"] for r in full.history]


def test_shuffle_false_takes_the_samples_in_order():
    """shuffle=False with one sample per batch equals a hand-written SGD loop in order."""
    x, y = _sine_task(6)
    model = Model("rnn", 2, 3, 1)
    p0 = model.init_params(np, seed=0, dtype=np.float64)
    res = rnnx.fit(model, x, y, epochs=1, batch_size=1, shuffle=False, optimizer="sgd", lr=0.1, params=p0)
    p = p0
    for i in range(6):
        _, g, _ = model.loss_and_grad(p, np.transpose(x[i:i + 1], (1, 0, 2)), y[i:i + 1])
        p = {k: p[k] - 0.1 * g[k] for k in p}
    for k in p:
        assert rel_err(res.params[k], p[k]) <= 1e-14, k


def test_early_stopping_restores_the_best_epoch():
    x, y = _sine_task(48)
    model = Model("gru", 2, 8, 1)
    seen = []
    res = rnnx.fit(model, x, y, epochs=200, lr=0.05, early_stopping=3, validation_split=0.25, seed=1,
                   on_epoch=seen.append)
    assert res.stopped == "early-stopped"
    best = min(r["val_loss"] for r in res.history)
    assert res.history[res.best_epoch - 1]["val_loss"] == best
    assert len(res.history) == res.best_epoch + 3
    vx, vy = x[36:], y[36:]
    assert math.isclose(rnnx.evaluate(model, res.params, vx, vy)["loss"], best, rel_tol=1e-12)
    assert len(seen) == len(res.history)
    stop = rnnx.fit(model, x, y, epochs=50, on_epoch=lambda row: row["epoch"] == 2)
    assert stop.stopped == "callback" and len(stop.history) == 2


def test_classification_with_lengths_and_labels():
    """Which of 3 frequencies is a sequence (lengths 5..12)? Accuracy well above chance."""
    rng = np.random.default_rng(0)
    n, t = 90, 12
    labels = np.arange(n) % 3
    lengths = rng.integers(5, t + 1, n)
    steps = np.arange(t)[None, :] * (0.4 + 0.5 * labels[:, None]) + rng.uniform(0, 6, (n, 1))
    x = np.where(np.arange(t)[None, :] < lengths[:, None], np.sin(steps), 0.0)[..., None]
    model = Model("gru", 1, 16, 3)
    res = rnnx.fit(model, x, labels, lengths=lengths, loss="cross-entropy", epochs=30, lr=1e-2, seed=0)
    assert set(res.history[0]) == {"epoch", "loss", "clipped", "seconds"}
    ev = rnnx.evaluate(model, res.params, x, labels, lengths=lengths, loss="cross-entropy")
    assert set(ev) == {"loss", "accuracy"}
    assert ev["accuracy"] >= 0.9, ev


@pytest.mark.parametrize("target", target_params())
def test_fit_is_the_same_on_every_backend(target):
    """Two epochs (Adam, clipping, shuffling, dropout masks) on each backend equal NumPy's
    to 1e-12 (JAX: the whole update as one compiled program)."""
    xp, dev = target.namespace(), target.device_obj()
    x, y = _sine_task(24)
    model = Model("lstm", 2, 6, 1, num_layers=2, dropout=0.2)
    kw = dict(epochs=2, batch_size=10, clip_norm=0.1, seed=5, validation_split=0.25)
    ref = rnnx.fit(model, x, y, **kw)
    with target.scope():
        res = rnnx.fit(model, target.from_numpy(x), target.from_numpy(y), **kw)
        for k in ref.params:
            assert rel_err(target.to_numpy(res.params[k]), ref.params[k]) <= 1e-12, (target.id, k)
    for a, b in zip(res.history, ref.history):
        assert math.isclose(a["val_loss"], b["val_loss"], rel_tol=1e-12)
        assert a["clipped"] == b["clipped"]
    assert xp is not None and dev is not None


def test_tbptt_in_fit_matches_the_tbptt_module():
    x, _ = _sine_task(8, t=10)
    y = np.roll(x[..., :1], -1, axis=1)
    model = Model("rnn", 2, 4, 1, objective="many-to-many")
    p0 = model.init_params(np, seed=0, dtype=np.float64)
    res = rnnx.fit(model, x, y, epochs=1, batch_size=8, optimizer="sgd", lr=0.1, tbptt=(3, 5), params=p0)
    from rnnx.training import tbptt

    want, _ = tbptt.run(model, p0, np.transpose(x, (1, 0, 2)), np.transpose(y, (1, 0, 2)), k1=3, k2=5,
                        update=lambda p, g: {k: p[k] - 0.1 * g[k] for k in p})
    for k in want:
        assert rel_err(res.params[k], want[k]) <= 1e-14, k


BAD = [
    (dict(x=np.zeros((4, 3)), y=np.zeros((4, 1))), ValueError, "x: expected a 3-D array (B, T, I), got shape (4, 3)"),
    (dict(y=np.zeros((5, 1))), ValueError, "y: expected shape (4, 1) (many-to-one, output_size=1), got (5, 1)"),
    (dict(y=np.zeros((4, 2))), ValueError, "y: expected shape (4, 1)"),
    (dict(lengths=np.asarray([1, 2, 3])), ValueError, "lengths: expected shape (4,) (one length per sequence of x)"),
    (dict(lengths=np.asarray([1, 2, 3, 9])), ValueError, "lengths: expected every length in [1, T=6], got values in [1, 9]"),
    (dict(lengths=np.asarray([1.0, 2, 3, 4])), TypeError, "lengths: expected integers, got dtype float64"),
    (dict(epochs=0), ValueError, "epochs: expected a positive integer, got 0"),
    (dict(batch_size=2.5), ValueError, "batch_size: expected a positive integer, got 2.5"),
    (dict(clip_norm=-1), ValueError, "clip_norm: expected a finite number > 0, got -1"),
    (dict(optimizer="adamax"), ValueError, "optimizer: expected one of sgd, adam, adagrad, rmsprop, adamw"),
    (dict(loss="hinge"), ValueError, "loss: expected one of"),
    (dict(metrics=["r2"]), ValueError, "metric"),
    (dict(restore_best_weights=True), ValueError, "restore_best_weights: applies with early_stopping"),
    (dict(validation_split=1.0), ValueError, "validation_split: expected a fraction in [0, 1), got 1.0"),
    (dict(validation_split=0.8), ValueError, "validation_split: 0.8 of 4 samples leaves 0 to train on and 4"),
    (dict(validation_split=0.5, validation_data=(np.zeros((2, 6, 2)), np.zeros((2, 1)))), ValueError,
     "validation_split: give validation_data or validation_split, not both"),
    (dict(validation_data=(np.zeros((2, 6, 3)), np.zeros((2, 1)))), ValueError,
     "validation_data[0]: expected 2 features on the last axis"),
    (dict(tbptt=(2, 3)), ValueError, "tbptt: truncated BPTT needs objective='many-to-many'"),
    (dict(verbose=3), ValueError, "verbose: expected 0 (silent), 1 (a progress bar) or 2"),
    (dict(freeze=("weight_xx",)), ValueError, "freeze: expected parameter names of the model"),
    (dict(y=np.zeros((4,), dtype=np.int64), loss="cross-entropy"), ValueError, None),
    (dict(y=np.asarray([0, 1, 2, 1]), loss="cross-entropy"), ValueError,
     "y: expected class labels in [0, 1) (the model's output_size), got values in [0, 2]"),
    (dict(y=np.zeros((4,)), loss="cross-entropy"), TypeError, "y: expected integer class labels of shape (4,)"),
    (dict(x=np.zeros((4, 6, 2), dtype=np.float32)), TypeError, "y: expected dtype float32 (that of x), got float64"),
    (dict(y=np.asarray([[0.0], [1.0], [1.5], [0.2]]), loss="bce-logits"), ValueError,
     "y: expected targets in [0, 1] for bce-logits, got values in [0, 1.5]"),
]


@pytest.mark.parametrize("loss,y", [("cross-entropy", np.asarray([0, 2, 1, 2, 0, 1])),
                                    ("bce-logits", np.asarray([[0.0, 1, 0], [1, 1, 0], [0.5, 0, 1]] * 2))])
def test_fit_checks_labels_once_and_the_updates_read_nothing(monkeypatch, loss, y):
    """fit checks the labels (or bce targets) once in prepare(); the loss inside each update
    then runs with check_values=False: no host read of the labels per update."""
    from rnnx import losses

    reads = []
    monkeypatch.setattr(losses, "_check_label_range", lambda *a: reads.append("labels"))
    real = losses.check_binary
    monkeypatch.setattr(losses, "check_binary", lambda p, t, m, xp, check_values=True: (
        reads.append("bce") if check_values else None, real(p, t, m, xp, check_values))[1])
    model = Model("gru", 2, 3, 3)
    x = np.random.default_rng(0).normal(size=(6, 5, 2))
    result = rnnx.fit(model, x, y, loss=loss, epochs=2, batch_size=2, seed=0)
    assert len(result.history) == 2 and reads == []


@pytest.mark.parametrize("kw,exc,msg", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_one_clear_error(kw, exc, msg):
    model = Model("gru", 2, 3, 1)
    args = {"x": np.zeros((4, 6, 2)), "y": np.zeros((4, 1)), **kw}
    x, y = args.pop("x"), args.pop("y")
    if msg is None:  # labels [0, 0, 0, 0] for output_size 1: valid, trains
        rnnx.fit(model, x, y, **{"epochs": 1, **args})
        return
    with pytest.raises(exc) as e:
        rnnx.fit(model, x, y, **{"epochs": 1, **args})
    assert str(e.value).startswith(msg) or msg in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_x_and_y_from_different_libraries_are_refused():
    model = Model("gru", 2, 3, 1)
    with pytest.raises(TypeError, match=r"^x, y: expected arrays from one library|different libraries"):
        rnnx.fit(model, np.zeros((4, 6, 2)), torch.zeros((4, 1), dtype=torch.float64), epochs=1)


def test_checkpoint_file_resumes_bit_for_bit(tmp_path):
    x, y = _sine_task(40)
    model = Model("lstm", 2, 8, 1)
    kw = dict(batch_size=8, clip_norm=0.5, seed=3, validation_split=0.25, optimizer="sgd", lr=0.05)
    full = rnnx.fit(model, x, y, epochs=4, **kw)
    path = str(tmp_path / "state.npz")
    rnnx.fit(model, x, y, epochs=2, checkpoint=path, **kw)
    rest = rnnx.fit(model, x, y, epochs=4, resume=path, checkpoint=path, **kw)
    for k in full.params:
        assert np.array_equal(full.params[k], rest.params[k]), k
    assert [r["val_loss"] for r in rest.history] == [r["val_loss"] for r in full.history]
    with pytest.raises(ValueError, match=r"^resume: the checkpoint was written with batch_size=8, this fit has "
                                         r"batch_size=4; expected the run's own settings"):
        rnnx.fit(model, x, y, epochs=6, resume=path, **{**kw, "batch_size": 4})
    with pytest.raises(ValueError, match=r"^resume: .* was written for the model"):
        rnnx.fit(Model("gru", 2, 8, 1), x, y, epochs=6, resume=path, **kw)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_checkpoint_with_jax_compiled_update(tmp_path, momentum):
    jnp = pytest.importorskip("jax.numpy")
    x, y = _sine_task(24)
    model = Model("gru", 2, 4, 1)
    from rnnx.optim import SGD

    kw = dict(batch_size=8, seed=1, optimizer=SGD(lr=0.05, momentum=momentum))
    full = rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), epochs=3, **kw)
    path = str(tmp_path / "s.npz")
    rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), epochs=1, checkpoint=path, **kw)
    rest = rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), epochs=3, resume=path, **kw)
    for k in full.params:
        assert np.array_equal(np.asarray(full.params[k]), np.asarray(rest.params[k])), k


def _stop_at(call: int):
    """A ``should_stop`` that says yes at its ``call``-th question (and after)."""
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) >= call

    return should_stop


@pytest.mark.parametrize("backend, every", [("numpy", 1), ("numpy", 10), ("jax", 10)])
def test_should_stop_mid_epoch_keeps_the_last_epoch_and_resumes_bit_identical(tmp_path, backend, every):
    """Stopped before the 3rd of 4 batches of epoch 3: epoch 2 kept (in the checkpoint too,
    written then when checkpoint_every skipped it), resumed to the end == uninterrupted."""
    from rnnx.training.state import Stopped
    from rnnx.io import checkpoint

    xp = pytest.importorskip("jax.numpy") if backend == "jax" else np
    kw = dict(batch_size=8, clip_norm=0.5, seed=3)
    if backend == "jax":  # the compiled update, kept small: 32 samples, one batch shape, no validation to compile
        x, y = (xp.asarray(a) for a in _sine_task(32))
        model, resumes = Model("gru", 2, 3, 1), ("path",)
    else:  # dropout: the update count seeds the masks, so the undone epoch's updates must not count
        x, y = _sine_task(40)
        kw.update(validation_split=0.25, early_stopping=20)  # 30 to train on: 4 batches an epoch
        model, resumes = Model("gru", 2, 4, 1, num_layers=2, dropout=0.25), ("path", "state")
    if backend == "jax":
        kw.update(steps_per_execution=2)  # 4 batches an epoch as 2 programs: should_stop asked twice an epoch
    full = rnnx.fit(model, x, y, epochs=4, **kw)
    path = str(tmp_path / "state.npz")
    at = 2 * 2 + 2 if backend == "jax" else 2 * 4 + 3  # before epoch 3's 2nd program / 3rd batch
    with pytest.raises(Stopped) as e:
        rnnx.fit(model, x, y, epochs=4, checkpoint=path, checkpoint_every=every, should_stop=_stop_at(at), **kw)
    st = e.value.state
    assert e.value.epoch == st.epoch == 2 and st.updates == 8 and [r["epoch"] for r in st.history] == [1, 2]
    meta, _ = checkpoint.load(path)
    assert meta["epoch"] == 2 and meta["updates"] == 8
    for resume in (path if r == "path" else st for r in resumes):
        rest = rnnx.fit(model, x, y, epochs=4, resume=resume, **kw)
        for k in full.params:
            assert np.array_equal(np.asarray(full.params[k]), np.asarray(rest.params[k])), k
        drop = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
        assert drop(rest.history) == drop(full.history)
    with pytest.raises(TypeError, match=r"^should_stop: expected a callable"):
        rnnx.fit(model, x, y, epochs=1, should_stop=True)


def test_steps_per_execution_is_bit_identical_and_refused_where_it_does_nothing():
    """On JAX, K full batches as one lax.scan program give the bits of K separate programs
    (dropout seeds, a short last batch, validation, clipping); NumPy refuses K > 1."""
    jnp = pytest.importorskip("jax.numpy")
    x, y = (jnp.asarray(a) for a in _sine_task(44))  # 33 to train: 4 full batches of 8 and one of 1
    model = Model("lstm", 2, 3, 1, num_layers=2, dropout=0.3)
    kw = dict(epochs=2, batch_size=8, clip_norm=0.5, validation_split=0.25, seed=5)
    runs = [rnnx.fit(model, x, y, steps_per_execution=k, **kw) for k in (1, 3, None)]
    for r in runs[1:]:
        for k in runs[0].params:
            assert np.array_equal(np.asarray(runs[0].params[k]), np.asarray(r.params[k])), k
        assert [row["loss"] for row in r.history] == [row["loss"] for row in runs[0].history]
    with pytest.raises(ValueError, match=r"^steps_per_execution: 2 needs a backend that compiles"):
        rnnx.fit(model, *_sine_task(44), steps_per_execution=2, epochs=1)
    with pytest.raises(ValueError, match=r"^steps_per_execution: expected a positive integer, got 0"):
        rnnx.fit(model, x, y, steps_per_execution=0, epochs=1)


def test_an_early_stopped_state_resumes_to_no_further_epoch(tmp_path):
    x, y = _sine_task(48)
    model = Model("gru", 2, 4, 1)
    kw = dict(lr=0.05, early_stopping=2, validation_split=0.25, seed=1)
    path = str(tmp_path / "s.npz")
    res = rnnx.fit(model, x, y, epochs=200, checkpoint=path, **kw)
    assert res.stopped == "early-stopped"
    again = rnnx.fit(model, x, y, epochs=200, resume=path, **kw)
    assert again.stopped == "early-stopped" and len(again.history) == len(res.history)
    for k in res.params:
        assert np.array_equal(res.params[k], again.params[k]), k


@pytest.mark.parametrize("xp_name", ["numpy", "jax"])
def test_fit_takes_a_loss_spec_with_its_options(xp_name, tmp_path):
    """loss=Huber(delta=...) trains with that delta (a compiled update is not reused from
    "huber"), Huber() is "huber" bit for bit, a checkpoint records the options and resumes
    only with them; quantile trains by name."""
    from rnnx import losses as L

    x, y = _sine_task(16)
    if xp_name == "jax":
        jnp = pytest.importorskip("jax.numpy")
        x, y = jnp.asarray(x), jnp.asarray(y)
    model = Model("gru", 2, 4, 1)
    kw = dict(batch_size=8, seed=1, epochs=2)
    named = rnnx.fit(model, x, y, loss="huber", **kw)
    same = rnnx.fit(model, x, y, loss=L.Huber(), **kw)
    small = rnnx.fit(model, x, y, loss=L.Huber(delta=0.01), **kw)
    for k in named.params:
        assert np.array_equal(np.asarray(named.params[k]), np.asarray(same.params[k])), k
    assert any(not np.array_equal(np.asarray(named.params[k]), np.asarray(small.params[k])) for k in named.params)
    path = str(tmp_path / "s.npz")
    rnnx.fit(model, x, y, loss=L.Huber(delta=0.01), checkpoint=path, **kw)
    with pytest.raises(ValueError, match=r"^resume: the checkpoint was written with loss='huber\(delta=0.01\)', "
                                         r"this fit has loss='huber'"):
        rnnx.fit(model, x, y, loss="huber", resume=path, **{**kw, "epochs": 3})
    rnnx.fit(model, x, y, loss=L.Huber(delta=0.01), resume=path, **{**kw, "epochs": 3})
    q = rnnx.fit(model, x, y, loss=L.Quantile(q=0.9), **kw)
    assert np.isfinite(q.history[-1]["loss"])
    with pytest.raises(TypeError, match="^loss: expected a loss name"):
        rnnx.fit(model, x, y, loss=3, **kw)
