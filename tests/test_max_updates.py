"""``rnnx.fit(..., max_updates=N)``: the run stops after N optimizer updates, mid-epoch where
N falls there; its state (and checkpoint file) holds that partial epoch, so a resumed run
(a larger ``max_updates`` or ``epochs``) continues bit for bit as the uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx
from rnnx.nn.model import Model


def _sine_task(n=40, t=12, seed=0):
    rng = np.random.default_rng(seed)
    steps = rng.uniform(0, 2 * np.pi, n)[:, None] + 0.3 * np.arange(t + 1)[None, :]
    s = np.sin(steps)
    return np.stack([s[:, :t], s[:, :t] ** 2], axis=-1), s[:, t:t + 1]


def _rows(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def _same(a, b):
    for k in a.params:
        assert np.array_equal(np.asarray(a.params[k]), np.asarray(b.params[k])), k
    assert _rows(a.history) == _rows(b.history)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_max_updates_stops_mid_epoch_and_resumes_bit_for_bit(tmp_path, backend):
    """4 batches an epoch; stopped after 6 updates (2 into epoch 2), then 9 (a file), then
    the end: the params and history of the uninterrupted run, bit for bit."""
    if backend == "jax":  # 3 updates per compiled program: the stops fall inside a program's span
        jnp = pytest.importorskip("jax.numpy")
        x, y = (jnp.asarray(a) for a in _sine_task(32))
        model, kw = Model("gru", 2, 3, 1), dict(batch_size=8, clip_norm=0.5, seed=3, steps_per_execution=3)
    else:  # dropout (seeded by the update count), validation, clipping
        x, y = _sine_task(40)
        model = Model("gru", 2, 4, 1, num_layers=2, dropout=0.25)
        kw = dict(batch_size=8, clip_norm=0.5, seed=3, validation_split=0.25)
    full = rnnx.fit(model, x, y, epochs=4, **kw)
    part = rnnx.fit(model, x, y, epochs=4, max_updates=6, **kw)
    assert part.state.updates == 6 and part.state.epoch == 1 and part.stopped == "done"
    assert int(part.state.opt_state["step"]) == 6
    assert _rows(part.history) == _rows(full.history[:1])
    path = str(tmp_path / "s.npz")
    more = rnnx.fit(model, x, y, epochs=4, max_updates=9, resume=part.state, checkpoint=path, **kw)
    assert more.state.updates == 9 and more.state.epoch == 2
    rest = rnnx.fit(model, x, y, epochs=4, resume=path, **kw)
    _same(full, rest)
    assert rest.state.updates == full.state.updates == 16


def test_max_updates_alone_trains_that_many_updates_and_an_epoch_boundary_is_epochs():
    x, y = _sine_task(32)
    model = Model("lstm", 2, 3, 1)
    kw = dict(batch_size=8, seed=1)
    r = rnnx.fit(model, x, y, max_updates=13, **kw)  # no epochs given: no epoch limit
    assert r.state.updates == 13 and r.state.epoch == 3 and len(r.history) == 3
    whole = rnnx.fit(model, x, y, max_updates=8, **kw)
    _same(whole, rnnx.fit(model, x, y, epochs=2, **kw))
    first = rnnx.fit(model, x, y, epochs=1, max_updates=100, **kw)  # whichever comes first
    assert first.state.updates == 4 and first.state.epoch == 1


def test_max_updates_with_tbptt_counts_windows_and_resumes_bit_for_bit():
    """tbptt=(2, 2) over 6 steps: 3 updates a batch, 2 batches an epoch; a stop after 9
    updates (epoch 2, after its first batch) resumes to the uninterrupted run."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 6, 2))
    y = np.tanh(np.cumsum(x.sum(axis=2), axis=1))[..., None]
    model = Model("gru", 2, 4, 1, objective="many-to-many", dropout=0.2, num_layers=2)
    kw = dict(batch_size=4, tbptt=(2, 2), clip_norm=0.5, seed=2)
    full = rnnx.fit(model, x, y, epochs=3, **kw)
    part = rnnx.fit(model, x, y, epochs=3, max_updates=9, **kw)
    assert part.state.updates == 9 and part.state.epoch == 1
    _same(full, rnnx.fit(model, x, y, epochs=3, resume=part.state, **kw))
    with pytest.raises(ValueError, match=r"^max_updates: with tbptt=\(2, 2\) every batch makes 3 updates \(one per "
                                         r"window\); expected a multiple of 3, got 7$"):
        rnnx.fit(model, x, y, epochs=3, max_updates=7, **kw)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "3"])
def test_max_updates_refuses_what_is_not_a_positive_integer(bad):
    x, y = _sine_task(8)
    with pytest.raises(ValueError, match=r"^max_updates: expected a positive integer, got "):
        rnnx.fit(Model("gru", 2, 3, 1), x, y, max_updates=bad)


def test_a_state_past_max_updates_is_refused_and_should_stop_keeps_the_partial_epoch(tmp_path):
    x, y = _sine_task(32)
    model = Model("gru", 2, 3, 1)
    kw = dict(batch_size=8, seed=1)
    part = rnnx.fit(model, x, y, max_updates=6, **kw)
    with pytest.raises(ValueError, match=r"^max_updates: the resumed state is after 6 updates, more than "
                                         r"max_updates=5; expected max_updates >= 6$"):
        rnnx.fit(model, x, y, max_updates=5, resume=part.state, **kw)
    asked = []

    def stop():  # yes at the 2nd question: the update after the resume point undone, the partial epoch kept
        asked.append(1)
        return len(asked) >= 2

    with pytest.raises(rnnx.training.state.Stopped) as e:
        rnnx.fit(model, x, y, epochs=3, resume=part.state, should_stop=stop, **kw)
    assert e.value.state.updates == 6 and e.value.state.epoch == 1
    full = rnnx.fit(model, x, y, epochs=3, **kw)
    _same(full, rnnx.fit(model, x, y, epochs=3, resume=e.value.state, **kw))
    with pytest.raises(ValueError, match=r"^diagnostics: "):
        from rnnx.diagnostics import recorder

        rnnx.fit(model, x, y, epochs=3, resume=part.state, diagnostics=recorder.Recorder(), **kw)
