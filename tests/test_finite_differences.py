"""Every gradient (each parameter, x, the initial state) against float64 central finite
differences of the loss L = <y, dy> + <state, dstate>, whose exact gradient is what
``backward(params, cache, dy, dstate)`` returns.  Norm-wise relative error <= 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

from rnnx.testing.harness import classic_cases as all_cases  # its kink rule and zero states know the classic ids
from rnnx.testing.harness import finite_differences
from rnnx.testing.harness import data, reference, rel_err

EPS = 1e-6
TOL = 1e-6


def _loss(layer, d, params, x, s0):
    y, state = layer(params, x, s0, lengths=d.lengths)
    st = state if isinstance(state, tuple) else (state,)
    ds = d.dstate if isinstance(d.dstate, tuple) else (d.dstate,)
    return float(np.sum(y * d.dy) + sum(np.sum(a * b) for a, b in zip(st, ds)))


def _fd(f, a):
    """Central differences (EPS) of scalar f with respect to every element of a, and the
    mask of the elements where f has a kink (:func:`rnnx.testing.harness.finite_differences`)."""
    return finite_differences(f, a, EPS)


def _check(ref, fd_and_kink, cell):
    """Norm-wise relative error over the differentiable elements.

    Only ReLU has kinks: without bias and with a zero initial state, a layer-2
    pre-activation is exactly W_hh 0 = 0 wherever layer 1's ReLU output is all zero, so
    the loss is not differentiable in h0 there; rnnx, like torch, takes relu'(0) = 0.
    """
    fd, kink = fd_and_kink
    assert cell == "rnn_relu" or not kink.any(), "only ReLU may have kinks"
    return rel_err(np.where(kink, 0.0, ref), np.where(kink, 0.0, fd))


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.id)
def test_gradients_match_finite_differences(case):
    d = data(case, "float64")
    layer = case.layer()
    params = {k: v.copy() for k, v in d.params.items()}
    x = d.x.copy()
    D = 2 if case.bidirectional else 1
    zeros = np.zeros((case.num_layers * D, 3, 3))
    s0 = d.state0 if d.state0 is not None else ((zeros, zeros.copy()) if case.state_size == 2 else zeros)
    s0 = tuple(a.copy() for a in s0) if isinstance(s0, tuple) else s0.copy()
    f = lambda: _loss(layer, d, params, x, s0)  # noqa: E731
    ref = reference(case)
    errs = {f"d{k}": _check(ref[f"d{k}"], _fd(f, params[k]), case.cell) for k in params}
    errs["dx"] = _check(ref["dx"], _fd(f, x), case.cell)
    for name, a in zip("hc", s0 if isinstance(s0, tuple) else (s0,)):
        errs[f"d{name}0"] = _check(ref[f"d{name}0"], _fd(f, a), case.cell)
    bad = {k: e for k, e in errs.items() if not e <= TOL}
    assert not bad, f"{case.id}: gradients off finite differences: {bad}"
