"""rnnx.fit's callbacks (rnnx.training): EarlyStopping's monitor/min_delta/mode, a user's
stop, callback state through a checkpoint, the old arguments as callbacks, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx
from rnnx.training import Callback, EarlyStopping, LambdaCallback

MODEL = rnnx.Model("gru", 2, 4)


def _data(n=40, t=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, t, 2))
    return x, x[:, -3:, :].sum(axis=(1, 2))[:, None] + 0.3 * rng.standard_normal((n, 1))


KW = dict(lr=0.05, validation_split=0.25, seed=1, batch_size=8)


def _same(a, b):
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _expected_stop(scores, patience, min_delta, sign=1.0):
    """The epoch EarlyStopping stops at, and its best epoch, from a full history's scores."""
    best, best_epoch = np.inf, 0
    for e, s in enumerate(scores, 1):
        if sign * s < best - min_delta:
            best, best_epoch = sign * s, e
        if e - best_epoch >= patience:
            return e, best_epoch
    return len(scores), best_epoch


def _no_time(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def test_early_stopping_callback_is_early_stopping_argument_bit_for_bit():
    x, y = _data()
    a = rnnx.fit(MODEL, x, y, epochs=60, early_stopping=2, **KW)
    b = rnnx.fit(MODEL, x, y, epochs=60, callbacks=[EarlyStopping(2)], **KW)
    assert a.stopped == b.stopped == "early-stopped" and a.best_epoch == b.best_epoch
    _same(a.params, b.params)
    assert _no_time(a.history) == _no_time(b.history)


@pytest.mark.parametrize("monitor,min_delta,mode", [("val_loss", 0.05, "min"), ("val_rmse", 0.0, "min"),
                                                    ("loss", 0.0, "max")])
def test_early_stopping_rule_from_the_history(monitor, min_delta, mode):
    """The stop epoch and best epoch follow the stated rule applied to an uninterrupted run's
    history; restore_best_weights returns that epoch's parameters (a run of that many epochs)."""
    x, y = _data()
    full = rnnx.fit(MODEL, x, y, epochs=25, **KW)
    scores = [r[monitor] for r in full.history]
    want_stop, want_best = _expected_stop(scores, 3, min_delta, 1.0 if mode == "min" else -1.0)
    assert want_stop < 25, "the data must make it stop"
    r = rnnx.fit(MODEL, x, y, epochs=25, callbacks=[EarlyStopping(3, monitor=monitor, min_delta=min_delta,
                                                                  mode=mode)], **KW)
    assert (len(r.history), r.best_epoch, r.stopped) == (want_stop, want_best, "early-stopped")
    _same(r.params, rnnx.fit(MODEL, x, y, epochs=want_best, **KW).params)
    last = rnnx.fit(MODEL, x, y, epochs=25, callbacks=[EarlyStopping(3, monitor=monitor, min_delta=min_delta,
                                                                     mode=mode, restore_best_weights=False)], **KW)
    _same(last.params, rnnx.fit(MODEL, x, y, epochs=want_stop, **KW).params)


class Converged(Callback):
    """Stops once the training loss is below a bound; counts the epochs it saw (its state)."""

    def __init__(self, bound):
        self.bound, self.seen, self.ended = bound, 0, False

    def on_epoch_end(self, run, row):
        self.seen += 1
        assert run.epoch == row["epoch"] and run.history[-1]["loss"] == row["loss"]
        if row["loss"] < self.bound:
            run.stop("converged")

    def on_fit_end(self, run):
        self.ended = True

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = state["seen"]


def test_a_users_callback_stops_with_its_reason_and_changes_no_number():
    x, y = _data()
    full = rnnx.fit(MODEL, x, y, epochs=12, **KW)
    bound = full.history[6]["loss"] + 1e-12  # epoch 7 is the first below it (the loss need not fall monotonically)
    first = next(r["epoch"] for r in full.history if r["loss"] < bound)
    cb = Converged(bound)
    r = rnnx.fit(MODEL, x, y, epochs=12, callbacks=[cb], **KW)
    assert r.stopped == "converged" and len(r.history) == first == cb.seen and cb.ended
    _same(r.params, rnnx.fit(MODEL, x, y, epochs=first, **KW).params)
    never = rnnx.fit(MODEL, x, y, epochs=12, callbacks=[Converged(-1.0)], **KW)
    assert never.stopped == "done"
    _same(never.params, full.params)


def test_callback_state_goes_through_the_checkpoint_and_resume_is_bit_for_bit(tmp_path):
    x, y = _data()
    ck = str(tmp_path / "state.npz")
    es = dict(monitor="val_loss", min_delta=1e-3)
    whole = rnnx.fit(MODEL, x, y, epochs=30, callbacks=[Converged(-1.0), EarlyStopping(4, **es)], **KW)
    part = rnnx.fit(MODEL, x, y, epochs=3, callbacks=[Converged(-1.0), EarlyStopping(4, **es)], checkpoint=ck, **KW)
    assert part.stopped == "done"
    again = Converged(-1.0)
    rest = rnnx.fit(MODEL, x, y, epochs=30, callbacks=[again, EarlyStopping(4, **es)], resume=ck, checkpoint=ck, **KW)
    assert again.seen == len(whole.history)  # 3 from the file, the rest counted here
    assert (rest.stopped, rest.best_epoch) == (whole.stopped, whole.best_epoch)
    assert _no_time(rest.history) == _no_time(whole.history)
    _same(rest.params, whole.params)
    with pytest.raises(ValueError, match=r"^resume: the checkpoint was written with early_stopping="):
        rnnx.fit(MODEL, x, y, epochs=30, callbacks=[EarlyStopping(4, min_delta=1e-2)], resume=ck, **KW)


def test_on_epoch_stop_wins_over_early_stopping_in_the_same_epoch():
    x, y = _data()
    ref = rnnx.fit(MODEL, x, y, epochs=60, early_stopping=2, **KW)
    at = len(ref.history)
    r = rnnx.fit(MODEL, x, y, epochs=60, early_stopping=2, on_epoch=lambda row: row["epoch"] == at, **KW)
    assert (r.stopped, len(r.history)) == ("callback", at)
    seen = []
    lam = LambdaCallback(on_fit_start=lambda run: seen.append(("start", run.epoch)),
                         on_epoch_end=lambda run, row: seen.append(row["epoch"]),
                         on_fit_end=lambda run: seen.append(("end", run.stopped)))
    rnnx.fit(MODEL, x, y, epochs=3, callbacks=[lam], **KW)
    assert seen == [("start", 0), 1, 2, 3, ("end", None)]


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(callbacks=EarlyStopping(2)), TypeError, r"^callbacks: expected a list of rnnx.training.Callback, got "
                                                  r"EarlyStopping$"),
    (dict(callbacks=[print]), TypeError, r"^callbacks\[0\]: expected an rnnx.training.Callback"),
    (dict(callbacks=[EarlyStopping(2), EarlyStopping(3)]), ValueError, r"^callbacks: one EarlyStopping per run"),
    (dict(callbacks=[EarlyStopping(2)], early_stopping=3), ValueError, r"^callbacks: one EarlyStopping per run"),
    (dict(callbacks=[EarlyStopping(2, monitor="val_accuracy")]), ValueError,
     r"^EarlyStopping: monitor 'val_accuracy' is not in the history; it has epoch, loss, val_loss"),
])
def test_bad_callbacks_are_one_line(kw, exc, msg):
    x, y = _data()
    with pytest.raises(exc, match=msg) as e:
        rnnx.fit(MODEL, x, y, epochs=2, **{**KW, **kw})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kw,msg", [(dict(patience=0), r"^patience: expected an int >= 1, got 0$"),
                                    (dict(patience=2, min_delta=-1), r"^min_delta: expected a finite number >= 0"),
                                    (dict(patience=2, mode="up"), r"^mode: expected 'min' or 'max', got 'up'$"),
                                    (dict(patience=2, monitor=""), r"^monitor: expected a history key")])
def test_early_stopping_refuses_bad_settings(kw, msg):
    with pytest.raises(ValueError, match=msg):
        EarlyStopping(**kw)


def test_a_users_stop_reason_is_checked():
    x, y = _data()
    with pytest.raises(ValueError, match=r"^stop: expected a non-empty reason other than 'done', got 'done'$"):
        rnnx.fit(MODEL, x, y, epochs=2, callbacks=[LambdaCallback(on_epoch_end=lambda run, row: run.stop("done"))],
                 **KW)


def test_start_from_epoch_neither_keeps_nor_stops_before_it():
    """Keras's ``start_from_epoch``: epochs 1..k are not monitored (no best kept, no stop);
    from epoch k+1 the rule is the usual one on the rest of the history."""
    x, y = _data()
    full = rnnx.fit(MODEL, x, y, epochs=25, **KW)
    scores = [r["val_loss"] for r in full.history]
    plain = rnnx.fit(MODEL, x, y, epochs=25, callbacks=[EarlyStopping(2)], **KW)
    k = len(plain.history)  # a warm-up over the epoch the plain rule stops at
    assert plain.stopped == "early-stopped" and k < 20
    stop, best = _expected_stop(scores[k:], 2, 0.0)
    r = rnnx.fit(MODEL, x, y, epochs=25, callbacks=[EarlyStopping(2, start_from_epoch=k)], **KW)
    assert (len(r.history), r.best_epoch) == (k + stop, k + best)
    assert r.best_epoch > k and len(r.history) > k


def test_start_from_epoch_resumes_bit_for_bit(tmp_path):
    x, y = _data()
    ck = str(tmp_path / "state.npz")
    whole = rnnx.fit(MODEL, x, y, epochs=25, callbacks=[EarlyStopping(2, start_from_epoch=6)], **KW)
    part = rnnx.fit(MODEL, x, y, epochs=4, callbacks=[EarlyStopping(2, start_from_epoch=6)], checkpoint=ck, **KW)
    assert part.stopped == "done"  # 4 epochs, none monitored: no stop, though 4 - 0 >= patience
    rest = rnnx.fit(MODEL, x, y, epochs=25, callbacks=[EarlyStopping(2, start_from_epoch=6)], resume=ck, **KW)
    assert (rest.stopped, rest.best_epoch) == (whole.stopped, whole.best_epoch)
    assert _no_time(rest.history) == _no_time(whole.history)
    _same(rest.params, whole.params)
    with pytest.raises(ValueError, match=r"^resume: the checkpoint was written with early_stopping="):
        rnnx.fit(MODEL, x, y, epochs=25, callbacks=[EarlyStopping(2, start_from_epoch=3)], resume=ck, **KW)


def test_start_from_epoch_refuses_bad_values():
    with pytest.raises(ValueError, match=r"^start_from_epoch: expected an int >= 0, got -1$"):
        EarlyStopping(2, start_from_epoch=-1)
    with pytest.raises(ValueError, match=r"^start_from_epoch: expected an int >= 0, got 1.5$"):
        EarlyStopping(2, start_from_epoch=1.5)


def test_progress_bar_counts_epochs_from_where_the_run_starts_and_shows_the_row():
    """ProgressBar, the one epoch bar of rnnx train (regression and classification): from the
    resumed epoch to ``epochs``, the postfix from the row's keys, closed at the end."""
    import io

    from rnnx.training import ProgressBar

    x, y = _data()
    model = rnnx.Model("gru", x.shape[2], 4, y.shape[1])
    out = io.StringIO()
    bar = ProgressBar(6, desc="run", postfix={"loss": ("loss", ".3g"), "gone": ("val_accuracy", ".2f")}, file=out)
    r = rnnx.fit(model, x, y, epochs=3, callbacks=[bar])
    text = out.getvalue()
    assert "run: " in text and "3/6" in text and f"loss={r.history[-1]['loss']:.3g}" in text and "gone=nan" in text
    assert bar.bar is None  # closed by on_fit_end
    out2 = io.StringIO()
    rnnx.fit(model, x, y, epochs=6, resume=r.state,
             callbacks=[ProgressBar(6, desc="run", postfix={"loss": ("loss", ".3g")}, file=out2)])
    assert "3/6" in out2.getvalue() and "6/6" in out2.getvalue() and "1/6" not in out2.getvalue()
    with pytest.raises(ValueError, match=r"^epochs: expected an int >= 1, got 0$"):
        ProgressBar(0, desc="run")
