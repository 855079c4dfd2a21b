"""Variable lengths in :func:`rnnx.fit`: each batch runs to its own longest sequence (not the
panel's), with the numbers of the uncut run, and a bounded number of compiled programs."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import rnnx
from rnnx.training.sources import CUT_RATIO, cut_length
from rnnx.nn.model import Model

N, T, I = 24, 60, 3


def _panel(objective: str, rng, *, lo: int = 4, hi: int = 40):
    lengths = rng.integers(lo, hi + 1, N)  # every sequence shorter than the panel: T is padding for all
    x = rng.standard_normal((N, T, I))
    x[np.arange(T)[None, :] >= lengths[:, None]] = np.nan  # padding is never read
    y = rng.standard_normal((N, 2)) if objective == "many-to-one" else rng.standard_normal((N, T, 2))
    return x, y, lengths


def _steps_run(monkeypatch, fn):
    """The time steps of every update's x while ``fn`` runs (numpy: each update calls
    Model.loss_and_grad once)."""
    seen = []
    real = Model.loss_and_grad

    def spy(self, params, x, *a, **k):
        seen.append(int(x.shape[0]))
        return real(self, params, x, *a, **k)

    monkeypatch.setattr(Model, "loss_and_grad", spy)
    out = fn()
    monkeypatch.setattr(Model, "loss_and_grad", real)
    return seen, out


@pytest.mark.parametrize("shuffle", [True, False])
def test_each_batch_runs_to_its_longest_sequence(monkeypatch, shuffle):
    """numpy (eager): the update over samples order[a:e] runs max(lengths[order[a:e]]) steps."""
    rng = np.random.default_rng(0)
    x, y, lengths = _panel("many-to-one", rng)
    model = Model("gru", I, 5, 2)
    seen, _ = _steps_run(monkeypatch, lambda: rnnx.fit(model, x, y, lengths=lengths, epochs=2, batch_size=5,
                                                        shuffle=shuffle, seed=3))
    want = []
    for epoch in range(2):
        order = list(range(N))
        if shuffle:
            random.Random(f"3:{epoch}").shuffle(order)
        want += [int(max(lengths[order[a:a + 5]])) for a in range(0, N, 5)]
    assert seen == want
    assert max(want) < T


CASES = [(cell, layers, bi, obj) for cell in ("rnn", "lstm", "gru") for layers, bi in ((1, False), (2, True))
         for obj in ("many-to-one", "many-to-many")]


@pytest.mark.parametrize("cell,layers,bi,objective", CASES,
                         ids=[f"{c}-L{n}-{'bi' if b else 'uni'}-{o[5:]}" for c, n, b, o in CASES])
def test_cut_batches_train_as_the_whole_panel(monkeypatch, cell, layers, bi, objective):
    """float64, 3 epochs, shuffled batches of 5: the parameters are those of the same fit run
    over all T steps per batch.

    Every loss is bit for bit the same (the forward is per step; padded steps are masked).
    The weight gradients are each one product over the T*B rows (``outer_sum``) whose
    reduction order the BLAS picks from T*B (its K blocking): the padded rows add exact
    zeros, but the blocks of the valid rows move, so a gradient element differs by a few
    ulps of its sum of |terms|, and Adam carries that into the parameters at ~1e-12."""
    rng = np.random.default_rng(1)
    x, y, lengths = _panel(objective, rng)
    model = Model(cell, I, 6, 2, num_layers=layers, bidirectional=bi, objective=objective)
    kw = dict(lengths=lengths, epochs=3, batch_size=5, seed=2, lr=1e-2)
    seen, cut = _steps_run(monkeypatch, lambda: rnnx.fit(model, x, y, **kw))
    assert max(seen) <= 40 < T
    full = _uncut_fit(monkeypatch, model, x, y, **kw)
    for k, v in full.params.items():
        np.testing.assert_allclose(cut.params[k], v, rtol=0, atol=1e-11 * max(1.0, float(np.abs(v).max())))
    np.testing.assert_allclose([r["loss"] for r in cut.history], [r["loss"] for r in full.history], rtol=1e-11)


def _uncut_fit(monkeypatch, model, x, y, **kw):
    """rnnx.fit with every batch over all T steps (the cut disabled)."""
    monkeypatch.setattr(rnnx.training.sources.Batches, "cut", lambda self, steps: self)
    try:
        return rnnx.fit(model, x, y, **kw)
    finally:
        monkeypatch.undo()


def test_first_update_loss_is_bit_identical_and_gradients_within_reduction_order():
    """One batch, float64: the loss of the cut batch is the same bits (many-to-one; within 2 ulp
    many-to-many, a pairwise sum over the steps); each gradient equals the
    uncut one to reduction-order rounding (|diff| <= 8 ulp of the element's sum of |terms|
    bound, taken here as 64 * eps * max|g| over the array)."""
    rng = np.random.default_rng(4)
    for cell, objective in [(c, o) for c in ("rnn", "lstm", "gru") for o in ("many-to-one", "many-to-many")]:
        model = Model(cell, I, 8, 2, num_layers=2, bidirectional=True, objective=objective)
        p = model.init_params(np, seed=1, dtype=np.float64)
        x = rng.standard_normal((T, 7, I))
        lengths = rng.integers(5, 30, 7)
        y = rng.standard_normal((T, 7, 2) if objective == "many-to-many" else (7, 2))
        m = int(lengths.max())
        l1, g1, _ = model.loss_and_grad(p, x, y, lengths=lengths)
        l2, g2, _ = model.loss_and_grad(p, x[:m], y[:m] if objective == "many-to-many" else y, lengths=lengths)
        if objective == "many-to-one":
            assert float(l1) == float(l2)  # the last valid steps' outputs: the same bits
        else:  # a sum over the (T, B) steps: NumPy's pairwise sum splits by the count, zeros or not
            assert abs(float(l1) - float(l2)) <= 2 * np.spacing(float(l1))
        for k in g1:
            np.testing.assert_allclose(g2[k], g1[k], rtol=0, atol=64 * np.finfo(np.float64).eps
                                       * max(1e-300, float(np.abs(g1[k]).max())))


def test_cut_lengths_are_few():
    """Compiled: at most 2*ceil(log2(T))+1 distinct lengths for a panel of T, each covering
    its batch with at most ~CUT_RATIO times the steps; eager: the batch's own longest."""
    for steps in (7, 60, 1344, 5000):
        cuts = {cut_length(m, steps, compiled=True) for m in range(1, steps + 1)}
        assert len(cuts) <= 2 * math.ceil(math.log2(steps)) + 1, (steps, len(cuts))
        for m in range(1, steps + 1):
            c = cut_length(m, steps, compiled=True)
            assert m <= c <= steps and (c <= 8 or c <= CUT_RATIO * m + 8)
            assert cut_length(m, steps, compiled=False) == m


def test_jax_compiles_few_programs_and_matches_numpy(monkeypatch):
    """JAX (compiled updates): the update traced once per distinct cut length, and fewer
    lengths than the panel's T; the loss history that of the numpy run (float32 and XLA:
    to float32 rounding)."""
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(5)
    x, y, lengths = _panel("many-to-one", rng, lo=4, hi=T)
    x = np.nan_to_num(x).astype(np.float32)
    y = y.astype(np.float32)
    model = Model("gru", I, 5, 2)
    traced, res = _steps_run(monkeypatch, lambda: rnnx.fit(model, jnp.asarray(x), jnp.asarray(y),
                                                           lengths=jnp.asarray(lengths), epochs=3, batch_size=5,
                                                           seed=7, steps_per_execution=1))
    n_lengths = len({cut_length(m, T, compiled=True) for m in range(1, T + 1)})
    assert 1 < len(set(traced)) <= n_lengths
    assert len(traced) <= 2 * n_lengths  # one trace per (cut length, batch size): full and the short last batch
    ref = rnnx.fit(model, x, y, lengths=lengths, epochs=3, batch_size=5, seed=7)
    np.testing.assert_allclose([r["loss"] for r in res.history], [r["loss"] for r in ref.history], rtol=1e-4)
