"""What ``rnnx.fit`` gives a caller that builds a run kind on it (the CLI's windows of a
series, issue 29): a checkpoint writer, callbacks that add numbers to the epoch's row before
anything reads it, the monitored key, an epoch that went non-finite replayed to name its
first non-finite number, the clipped-update count, and early stopping counted from an
extension."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnnx
from rnnx.training.state import NonFiniteLoss, load_state
from rnnx.training import Callback, EarlyStopping


def _data(n=24, T=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, 2))
    return x, np.tanh(x.sum(axis=(1, 2)))[:, None]


def _model():
    return rnnx.Model("gru", 2, 5, 1)


class Score(Callback):
    """Adds ``score``: a number derived from the parameters (what the CLI's series MSE is)."""

    def __init__(self, values=None):
        self.values = values

    def on_epoch_metrics(self, run, row):
        v = self.values[run.epoch - 1] if self.values else float(np.sum(np.asarray(run.params["weight_ih_l0"]) ** 2))
        return {"score": v}


def test_checkpoint_callable_gets_the_state_a_path_would_hold(tmp_path):
    x, y = _data()
    got = []
    r1 = rnnx.fit(_model(), x, y, epochs=5, batch_size=8, checkpoint=got.append, checkpoint_every=2, seed=1)
    r2 = rnnx.fit(_model(), x, y, epochs=5, batch_size=8, checkpoint=str(tmp_path / "c.npz"), checkpoint_every=2,
                  seed=1)
    assert [s.epoch for s in got] == [2, 4, 5]
    st, _ = load_state(str(tmp_path / "c.npz"), _model(), rnnx.optim.make("adam"), xp=np, device="cpu",
                               dtype=np.float64)
    last = got[-1]
    assert last.epoch == st.epoch == 5 and last.updates == st.updates == 15
    assert all(np.array_equal(last.params[k], st.params[k]) for k in st.params)
    assert isinstance(last.opt_state["step"], int) and last.opt_state["step"] == st.opt_state["step"]
    assert all(np.array_equal(r1.params[k], r2.params[k]) for k in r1.params)


def test_checkpoint_refuses_what_is_neither_a_path_nor_callable():
    x, y = _data()
    with pytest.raises(TypeError, match=r"^checkpoint: expected a file path or a callable write\(state\), got int"):
        rnnx.fit(_model(), x, y, epochs=1, checkpoint=3)


def test_metrics_callback_adds_keys_that_early_stopping_and_the_best_epoch_read():
    x, y = _data()
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, run, row):
            seen.append(dict(row))

    scores = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 3.8]
    r = rnnx.fit(_model(), x, y, epochs=7, batch_size=8,
                 callbacks=[Score(scores), Spy(), EarlyStopping(2, monitor="score")])
    assert [row["score"] for row in r.history] == scores[:5]
    assert r.stopped == "early-stopped" and r.best_epoch == 3 and seen[0]["score"] == 5.0
    assert list(r.history[0])[-2:] == ["score", "seconds"]
    # without EarlyStopping, fit(monitor=) keeps the best epoch on that key
    r = rnnx.fit(_model(), x, y, epochs=5, batch_size=8, callbacks=[Score([2.0, 1.0, 3.0, 0.5, 0.7])], monitor="score")
    assert r.best_epoch == 4 and r.stopped == "done"


def test_monitor_that_no_row_has_is_one_line():
    x, y = _data()
    with pytest.raises(ValueError, match=r"^monitor: 'score' is not in the history; it has epoch, loss, clipped$"):
        rnnx.fit(_model(), x, y, epochs=2, monitor="score")
    with pytest.raises(ValueError, match=r"^monitor: expected a history key"):
        rnnx.fit(_model(), x, y, epochs=2, monitor="")


@pytest.mark.parametrize("bad, msg", [
    (lambda run, row: [1.0], r"^callbacks: Bad.on_epoch_metrics returned list; expected a dict of new history keys"),
    (lambda run, row: {"loss": 1.0}, r"^callbacks: Bad.on_epoch_metrics returned 'loss', already in the history row"),
])
def test_metrics_callback_returning_something_else_is_refused(bad, msg):
    class Bad(Callback):
        def on_epoch_metrics(self, run, row):
            return bad(run, row)

    x, y = _data()
    with pytest.raises((TypeError, ValueError), match=msg):
        rnnx.fit(_model(), x, y, epochs=1, callbacks=[Bad()])


def test_clipped_updates_are_counted_in_the_state_and_its_file(tmp_path):
    x, y = _data()
    path = str(tmp_path / "c.npz")
    r = rnnx.fit(_model(), x, y, epochs=3, batch_size=8, clip_norm=1e-3, lr=0.01, checkpoint=path)
    assert r.state.clipped == 9 == round(sum(row["clipped"] * 3 for row in r.history))
    st, _ = load_state(path, _model(), rnnx.optim.make("adam", lr=0.01), xp=np, device="cpu",
                               dtype=np.float64)
    assert st.clipped == 9
    r2 = rnnx.fit(_model(), x, y, epochs=5, batch_size=8, clip_norm=1e-3, lr=0.01, resume=r.state)
    assert r2.state.clipped == 15


def _exploding(find):
    x, y = _data(n=16)
    return rnnx.fit(rnnx.Model("rnn", 2, 5, 1, nonlinearity="relu"), x * 50, y, epochs=30, batch_size=4,
                    optimizer="sgd", lr=50.0, find_non_finite=find)


def test_find_non_finite_names_the_first_non_finite_number_of_the_epoch():
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLoss) as plain:
        _exploding(False)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLoss) as found:
        _exploding(True)
    assert found.value.epoch == plain.value.epoch
    where = found.value.where
    assert where.startswith("update ") and f" of epoch {found.value.epoch}: " in where, where
    assert "non-finite value" in where or "the loss is" in where, where
    assert plain.value.where is None or "lower lr" in plain.value.where


def test_a_metrics_callback_that_finds_overflow_ends_the_run_with_its_reason():
    class Overflow(Callback):
        def on_epoch_metrics(self, run, row):
            if run.epoch == 2:
                raise NonFiniteLoss(run.epoch, math.inf, "the predictions on the training windows overflow")

    x, y = _data()
    with pytest.raises(NonFiniteLoss) as e:
        rnnx.fit(_model(), x, y, epochs=4, callbacks=[Overflow()], find_non_finite=True)
    assert e.value.epoch == 2 and e.value.where == ("every update's loss, gradients and parameters are finite, but the "
                                                    "predictions on the training windows overflow")
    with pytest.raises(NonFiniteLoss) as e:
        rnnx.fit(_model(), x, y, epochs=4, callbacks=[Overflow()])
    assert e.value.where == "the predictions on the training windows overflow"


def test_find_non_finite_must_be_a_bool():
    x, y = _data()
    with pytest.raises(TypeError, match=r"^find_non_finite: expected True or False, got 1$"):
        rnnx.fit(_model(), x, y, epochs=1, find_non_finite=1)


def test_patience_from_counts_an_extended_run_from_where_it_was_extended():
    x, y = _data()
    scores = [3.0, 2.0, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0]
    r = rnnx.fit(_model(), x, y, epochs=8, batch_size=8, callbacks=[Score(scores), EarlyStopping(2, monitor="score")])
    assert r.stopped == "early-stopped" and r.state.epoch == 4
    # extended from epoch 4: patience counts from 4, not from the best (epoch 2)
    again = rnnx.fit(_model(), x, y, epochs=8, batch_size=8, resume=r.state,
                     callbacks=[Score(scores), EarlyStopping(2, monitor="score", patience_from=4)])
    assert again.stopped == "early-stopped" and again.state.epoch == 6
    stays = rnnx.fit(_model(), x, y, epochs=8, batch_size=8, resume=r.state,
                     callbacks=[Score(scores), EarlyStopping(2, monitor="score")])
    assert stays.state.epoch == 4  # as the uninterrupted run: no further epoch
    with pytest.raises(ValueError, match=r"^patience_from: expected an int >= 0, got -1$"):
        EarlyStopping(2, patience_from=-1)


def test_tbptt_counts_each_window_as_an_update():
    """Truncated BPTT steps the optimizer once per window: ``updates`` (what the dropout seeds
    count) is the optimizer's step count, and ``clipped`` a fraction of those steps (it
    counted batches: fractions above 1)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 8, 2))
    y = np.tanh(np.cumsum(x.sum(axis=2), axis=1))[..., None]
    model = rnnx.Model("gru", 2, 4, 1, objective="many-to-many")
    r = rnnx.fit(model, x, y, epochs=2, batch_size=4, tbptt=(2, 2), clip_norm=1e-3)
    assert r.state.updates == int(r.state.opt_state["step"]) == 2 * 3 * 4  # epochs x batches x windows
    assert all(0 < row["clipped"] <= 1 for row in r.history)
    assert r.state.clipped == 24


def _stream(n_chunks=5, T=4, B=3, seed=2):
    from rnnx.training.sources import Stream

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_chunks, T, B, 2))
    y = np.tanh(x.sum(axis=3, keepdims=True))
    return Stream(x, y, lambda chunk: chunk)


def _mse(pred, target, *, xp):
    return rnnx.losses.get("mse")(pred, target, xp=xp)


def test_fit_of_a_stream_stops_after_an_update_and_resumes_bit_for_bit():
    """The engine's loop for a stateful source: a run stopped before update 7 (of 3 passes
    of 5 chunks) and resumed from its state (carry included) ends with the uninterrupted
    run's parameters; on_update_end sees every update once; checkpoints at the cadence."""
    from rnnx.training.state import FitState, Stopped

    model = rnnx.Model("gru", 2, 4, 1, objective="many-to-many", num_layers=2, dropout=0.2)
    opt = rnnx.optim.make("adam", lr=0.01)
    p0 = model.init_params(np, seed=0)

    class Count(Callback):
        def __init__(self):
            self.seen = []

        def on_update_end(self, run, loss):
            self.seen.append((run.updates, float(loss)))

    kw = dict(loss=_mse, optimizer=opt, epochs=3, clip_value=0.5, seed=4)
    whole, saved = Count(), []
    full = rnnx.fit(model, _stream(), None, resume=FitState(dict(p0), opt.init(p0)), callbacks=[whole],
                             checkpoint=saved.append, checkpoint_every=4, **kw)
    assert [u for u, _ in whole.seen] == list(range(1, 16)) and full.state.updates == 15
    assert [s.updates for s in saved] == [4, 8, 12, 15]
    calls = iter(range(100))
    with pytest.raises(Stopped) as e:
        rnnx.fit(model, _stream(), None, resume=FitState(dict(p0), opt.init(p0)),
                          should_stop=lambda: next(calls) == 6, **kw)
    assert e.value.state.updates == 6 and e.value.state.carry is not None
    part = Count()
    again = rnnx.fit(model, _stream(), None, resume=e.value.state, callbacks=[part], **kw)
    assert [u for u, _ in part.seen] == list(range(7, 16))
    assert [v for _, v in part.seen] == [v for _, v in whole.seen[6:]]
    assert all(np.array_equal(again.params[k], full.params[k]) for k in full.params)


def test_fit_of_a_stream_resets_the_carry_at_each_pass_and_refuses_a_state_past_its_end():
    from rnnx.training.state import FitState

    model = rnnx.Model("rnn", 2, 3, 1, objective="many-to-many")
    opt = rnnx.optim.make("sgd", lr=1e-300)  # (almost) no learning: every pass computes the same losses
    p0 = model.init_params(np, seed=0)
    losses = []

    class Keep(Callback):
        def on_update_end(self, run, loss):
            losses.append(float(loss))

    rnnx.fit(model, _stream(), None, resume=FitState(dict(p0), opt.init(p0)), loss=_mse, optimizer=opt, epochs=2,
                      callbacks=[Keep()])
    assert losses[:5] == losses[5:]  # the second pass starts from zeros again
    with pytest.raises(ValueError, match=r"^resume: the state is after 12 updates, more than this run's 10"):
        rnnx.fit(model, _stream(), None, resume=FitState(dict(p0), opt.init(p0), updates=12), loss=_mse, optimizer=opt,
                          epochs=2)


def test_a_lambda_callback_takes_on_update_end_and_stops_a_stream_run():
    """LambdaCallback(on_update_end=f): f(run, loss) after every update of a stream source;
    run.stop() in it ends the run after that update (what fit_text's on_update does)."""
    from rnnx.training import LambdaCallback
    from rnnx.training.state import FitState

    model = rnnx.Model("gru", 2, 4, 1, objective="many-to-many")
    opt = rnnx.optim.make("adam", lr=0.01)
    p0 = model.init_params(np, seed=0)
    seen = []

    def f(run, loss):
        seen.append(run.updates)
        if run.updates == 3:
            run.stop("callback")

    r = rnnx.fit(model, _stream(), None, resume=FitState(dict(p0), opt.init(p0)), loss=_mse, optimizer=opt, epochs=2,
                          callbacks=[LambdaCallback(on_update_end=f)])
    assert seen == [1, 2, 3] and r.stopped == "callback" and r.state.updates == 3
    with pytest.raises(TypeError, match=r"^on_update_end: expected a callable, got int$"):
        LambdaCallback(on_update_end=1)


@pytest.mark.parametrize("option, value", [("batch_size", 8), ("shuffle", False), ("validation_split", 0.2),
                                           ("tbptt", (2, 2)), ("sample_weight", [1.0]), ("lengths", [4]),
                                           ("clip_norm", 1.0), ("early_stopping", 3), ("verbose", 1),
                                           ("steps_per_execution", 1), ("batch_first", False)])
def test_fit_refuses_an_array_option_given_with_a_stream_source(option, value):
    """rnnx.fit trains a Stream through the one loop; an option that only means something
    for arrays (batches, shuffling, validation, tbptt, weights...) is refused in one line
    naming it, never silently ignored."""
    from rnnx.training.state import FitState

    model = rnnx.Model("gru", 2, 4, 1, objective="many-to-many")
    p0 = model.init_params(np, seed=0)
    opt = rnnx.optim.make("adam", lr=0.01)
    with pytest.raises(ValueError, match=rf"^{option}: an option of array data \(x, y\); got {option}=.*"
                                         r"with a stream source"):
        rnnx.fit(model, _stream(), None, loss=_mse, optimizer=opt, epochs=1,
                 resume=FitState(dict(p0), opt.init(p0)), **{option: value})


def test_fit_of_a_stream_takes_a_callable_checkpoint_and_a_fitstate_resume_only(tmp_path):
    """A stream run's state is handed to a callable writer (fit_text's file has its own
    settings), and resumes from a FitState; a path for either is refused in one line.  Without
    params or resume it starts from model.init_params(seed) on the source's backend."""
    model = rnnx.Model("gru", 2, 4, 1, objective="many-to-many")
    with pytest.raises(TypeError, match=r"^checkpoint: a stream run hands its state to a callable write\(state\), "
                                        r"got str$"):
        rnnx.fit(model, _stream(), None, loss=_mse, epochs=1, checkpoint=str(tmp_path / "c.npz"))
    with pytest.raises(TypeError, match=r"^resume: a stream run resumes from a FitState .*got str$"):
        rnnx.fit(model, _stream(), None, loss=_mse, epochs=1, resume=str(tmp_path / "c.npz"))
    assert not list(tmp_path.iterdir())
    a = rnnx.fit(model, _stream(), None, loss=_mse, epochs=1, seed=3)
    p0 = model.init_params(np, seed=3)
    b = rnnx.fit(model, _stream(), None, loss="mse", epochs=1, params=p0)
    assert a.state.updates == 5 and all(np.array_equal(a.params[k], b.params[k]) for k in p0)


@pytest.mark.parametrize("option,value", [("clip_value", -1.0), ("clip_value", 0), ("clip_value", float("nan")),
                                          ("clip_value", True), ("clip_norm", 0.0), ("clip_norm", float("inf")),
                                          ("seed", 1.5)])
def test_fit_checks_the_shared_options_of_a_stream_as_of_arrays(option, value):
    """clip_value, clip_norm and seed are checked by one validation for both sources: a bad
    value is the same one line with a stream source as with arrays."""
    model = rnnx.Model("gru", 2, 4, 1, objective="many-to-many")
    x = np.zeros((3, 4, 2))
    messages = []
    for data in ((_stream(), None), (x, np.zeros((3, 4, 1)))):
        with pytest.raises((ValueError, TypeError)) as e:
            rnnx.fit(model, *data, loss=_mse if data[1] is None else "mse", epochs=1, **{option: value})
        assert str(e.value).startswith(f"{option}: expected ") and "\n" not in str(e.value), str(e.value)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
