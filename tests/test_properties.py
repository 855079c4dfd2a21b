"""Property-based: random shapes and options, rnnx (NumPy float64) against torch.nn with
copied weights; and the checkpointed backward against the full one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnx.testing.harness import Shape, inputs, rel_err, run, torch_run

pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")

shapes = st.builds(
    Shape,
    T=st.integers(1, 9), B=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(1, 6),
    num_layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(), bias=st.booleans(),
    lengths=st.booleans(),
)


@settings(max_examples=40, deadline=None)
@given(cell=st.sampled_from(["rnn_tanh", "rnn_relu", "lstm", "gru"]), shape=shapes, seed=st.integers(0, 2**16))
def test_random_shapes_match_torch(cell, shape, seed):
    d = inputs(cell, shape, seed)
    got = run(d["layer"], d, lambda a, integer=False: a, np.asarray)
    want = torch_run(cell, shape, d)
    for k in want:
        assert rel_err(got[k], want[k]) <= 1e-12, (k, cell, shape)


@settings(max_examples=25, deadline=None)
@given(cell=st.sampled_from(["lstm", "gru", "gru_reset_before", "rnn_tanh"]), shape=shapes,
       k=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_random_checkpoint_segments_match_full(cell, shape, k, seed):
    d = inputs(cell, shape, seed)
    layer, p = d["layer"], d["params"]
    s0 = d["state0"] if cell == "lstm" else d["state0"][0]
    ds = d["dstate"] if cell == "lstm" else d["dstate"][0]
    outs = []
    for ck in (None, k):
        y, _, cache = layer.forward(p, d["x"], s0, lengths=d["lengths"], checkpoint=ck)
        outs.append(layer.backward(p, cache, d["dy"], ds))
    (g1, dx1, _), (g2, dx2, _) = outs
    assert rel_err(dx2, dx1) <= 1e-13
    assert all(rel_err(g2[n], g1[n]) <= 1e-13 for n in g1)
