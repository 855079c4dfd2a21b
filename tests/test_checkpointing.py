"""Memory-bounded BPTT (``checkpoint=k``): the same outputs and gradients as full BPTT on
every backend (and under jax.jit), a cache of O(T/k) states, and clear bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx
from rnnx.testing.harness import CELLS, Case, assert_close, data, flatten, reference
from conftest import target_params

OPTIONS = [dict(num_layers=2, bidirectional=True, lengths=True), dict(batch_first=True, bias=False, state0=False)]


def run(case, d, k, convert, to_numpy):
    layer = case.layer()
    conv = lambda s: None if s is None else (tuple(convert(a) for a in s) if isinstance(s, tuple) else convert(s))  # noqa: E731
    p = {n: convert(v) for n, v in d.params.items()}
    y, st, cache = layer.forward(p, convert(d.x), conv(d.state0), lengths=conv(d.lengths), checkpoint=k)
    dp, dx, ds0 = layer.backward(p, cache, convert(d.dy), conv(d.dstate))
    return flatten(case, y, st, dp, dx, ds0, to_numpy)


@pytest.mark.parametrize("k", [1, "sqrt"])
@pytest.mark.parametrize("opts", OPTIONS, ids=["L2-bi-len", "bf-nobias-zeroh0"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("target", target_params())
def test_checkpointed_equals_full(target, cell, opts, k):
    case = Case(cell, **opts)
    d = data(case, "float64" if "float64" in target.dtypes() else "float32")
    dtype = "float64" if "float64" in target.dtypes() else "float32"
    got = run(case, d, k, target.from_numpy, target.to_numpy)
    tol = target.tolerance(dtype)
    assert_close(got, reference(case, dtype), out_tol=tol["out"], grad_tol=tol["grad"], what=f"{case.id} k={k}")


def test_checkpointed_under_jit():
    from rnnx.backends import Target

    t = Target("jax", "cpu")
    if t.unavailable():
        pytest.skip(t.unavailable())
    jnp = t.namespace()
    import jax

    layer = rnnx.LSTM(3, 5, num_layers=2, bidirectional=True)
    p = layer.init_params(jnp, seed=2, dtype=jnp.float64)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((23, 4, 3)))

    def grads(p, x, k):
        y, _, cache = layer.forward(p, x, checkpoint=k)
        return layer.backward(p, cache, y)

    full = jax.jit(lambda p, x: grads(p, x, None))(p, x)
    seg = jax.jit(lambda p, x: grads(p, x, 5))(p, x)
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(seg)):
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-13


def test_cache_holds_o_of_t_over_k_states():
    """LSTM, T=1000, sqrt: the cache is under 1/10 of the full one (it keeps 32 states,
    not 1000 states and their gates)."""
    layer = rnnx.LSTM(4, 8)
    p = layer.init_params(np, dtype=np.float32)
    x = np.zeros((1000, 2, 4), dtype=np.float32)
    full = layer.forward(p, x)[2].nbytes
    seg = layer.forward(p, x, checkpoint="sqrt")[2]
    assert seg.checkpoint == 32
    assert seg.nbytes * 10 <= full
    assert full == 1000 * 2 * (1 + 4 + 1 + 1) * 8 * 4 + 2 * 2 * 8 * 4  # h, P, q, f per step (c lives on in P and f); state0


@pytest.mark.parametrize("bad", [0.5, -1, "log", True])
def test_bad_checkpoint(bad):
    layer = rnnx.GRU(2, 3)
    p = layer.init_params(np)
    with pytest.raises(ValueError, match=r"checkpoint: expected None, a segment length >= 1 or 'sqrt', got"):
        layer.forward(p, np.zeros((5, 1, 2)), checkpoint=bad)
