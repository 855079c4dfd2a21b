"""rnnx.fit(sample_weight=): every update minimises its batch's weighted mean (scikit-learn's
convention), on eager and compiled backends; weights of 1 are the unweighted run; integer
weights on one batch equal repeating the samples; bad weights are one line."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx
from rnnx import backends

MODEL = rnnx.Model("gru", 2, 4)


def _data(n=24, t=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, t, 2))
    return x, x[:, -2:, :].sum(axis=(1, 2))[:, None] + 0.1 * rng.standard_normal((n, 1))


def _np(params):
    return {k: backends.to_numpy(v) for k, v in params.items()}


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_unit_weights_are_the_unweighted_run(backend):
    xp = pytest.importorskip("jax.numpy") if backend == "jax" else np
    x, y = _data()
    kw = dict(epochs=3, batch_size=8, lr=0.05, seed=2)
    a = rnnx.fit(MODEL, xp.asarray(x), xp.asarray(y), **kw)
    b = rnnx.fit(MODEL, xp.asarray(x), xp.asarray(y), sample_weight=xp.ones(24, dtype=xp.float64), **kw)
    pa, pb = _np(a.params), _np(b.params)
    assert all(np.allclose(pa[k], pb[k], rtol=1e-13, atol=1e-15) for k in pa)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_integer_weights_on_one_batch_equal_repeated_samples(backend):
    """One batch of all samples (no shuffle): weights k_b give the update of the data with
    sample b repeated k_b times; a 0 weight drops the sample."""
    xp = pytest.importorskip("jax.numpy") if backend == "jax" else np
    x, y = _data(n=10)
    k = np.array([1, 2, 0, 3, 1, 1, 2, 1, 0, 1])
    rep = np.repeat(np.arange(10), k)
    kw = dict(epochs=4, lr=0.05, seed=2, shuffle=False)
    a = rnnx.fit(MODEL, xp.asarray(x), xp.asarray(y), sample_weight=xp.asarray(k.astype(float)), batch_size=10, **kw)
    b = rnnx.fit(MODEL, xp.asarray(x[rep]), xp.asarray(y[rep]), batch_size=len(rep), **kw)
    pa, pb = _np(a.params), _np(b.params)
    assert all(np.allclose(pa[k_], pb[k_], rtol=1e-12, atol=1e-14) for k_ in pa)
    assert not np.allclose(_np(rnnx.fit(MODEL, xp.asarray(x), xp.asarray(y), batch_size=10, **kw).params)["bias_y"],
                           pa["bias_y"])  # the weights change the run


def test_weights_split_with_the_samples_and_resume_bit_for_bit(tmp_path):
    x, y = _data(n=30)
    w = np.linspace(0.5, 2.0, 30)
    kw = dict(batch_size=8, lr=0.05, seed=1, validation_split=0.2, sample_weight=w)
    whole = rnnx.fit(MODEL, x, y, epochs=4, **kw)
    ck = str(tmp_path / "s.npz")
    rnnx.fit(MODEL, x, y, epochs=2, checkpoint=ck, **kw)
    rest = rnnx.fit(MODEL, x, y, epochs=4, resume=ck, **kw)
    assert all(np.array_equal(whole.params[k], rest.params[k]) for k in whole.params)
    with pytest.raises(ValueError, match=r"^resume: the checkpoint was written with sample_weight=True"):
        rnnx.fit(MODEL, x, y, epochs=4, resume=ck, **{k: v for k, v in kw.items() if k != "sample_weight"})


@pytest.mark.parametrize("w,exc,msg", [
    (np.ones(5), ValueError, r"^sample_weight: expected shape \(24,\) \(one weight per sequence of x\), got \(5,\)$"),
    (-np.ones(24), ValueError, r"^sample_weight: expected finite weights >= 0, at least one weight not zero"),
    (np.zeros(24), ValueError, r"^sample_weight: expected finite weights >= 0, at least one weight not zero"),
    (np.full(24, np.nan), ValueError, r"^sample_weight: expected finite weights"),
    ("w", TypeError, r"^sample_weight: expected an array, got str$"),
])
def test_bad_weights_are_one_line(w, exc, msg):
    x, y = _data()
    with pytest.raises(exc, match=msg):
        rnnx.fit(MODEL, x, y, epochs=1, sample_weight=w)


def test_weights_are_refused_where_they_would_do_nothing():
    x, y = _data()
    m2m = rnnx.Model("gru", 2, 4, objective="many-to-many")
    with pytest.raises(ValueError, match=r"^sample_weight: weights the whole-sequence loss of one process; got it "
                                         r"with tbptt$"):
        rnnx.fit(m2m, x, np.repeat(y[:, None, :], 5, axis=1), epochs=1, tbptt=(2, 3), sample_weight=np.ones(24))
