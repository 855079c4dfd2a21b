"""float64 outputs and every gradient against ``torch.nn.RNN/LSTM/GRU`` with the same
weights copied in (``load_state_dict``), lengths through ``pack_padded_sequence``, and
gradients from ``torch.autograd``.  Norm-wise relative error <= 1e-12."""

from __future__ import annotations

import numpy as np
import pytest

from rnnx.testing.harness import B, H, I, assert_close, data, reference
from rnnx.testing.harness import classic_cases as all_cases  # its torch_run builds modules from the five classic ids

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")
TOL = 1e-12


def torch_run(case, d):
    """The same forward + loss <y, dy> + <state, dstate> in torch; returns named arrays."""
    nn = torch.nn
    kw = dict(num_layers=case.num_layers, bidirectional=case.bidirectional,
              batch_first=case.batch_first, bias=case.bias, dtype=torch.float64)
    if case.cell.startswith("rnn"):
        mod = nn.RNN(I, H, nonlinearity=case.cell[4:], **kw)
    else:
        mod = {"lstm": nn.LSTM, "gru": nn.GRU}[case.cell](I, H, **kw)
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in d.params.items()})  # weights load by copying
    t = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
    x = t(d.x)
    D = 2 if case.bidirectional else 1
    s0 = d.state0 if d.state0 is not None else (
        tuple(np.zeros((case.num_layers * D, B, H)) for _ in range(case.state_size)))
    s0 = tuple(t(a) for a in s0) if isinstance(s0, tuple) else (t(s0),)
    inp = x
    if case.lengths:
        inp = nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(d.lengths), batch_first=case.batch_first,
                                                enforce_sorted=False)
    y, state = mod(inp, s0 if case.state_size == 2 else s0[0])
    if case.lengths:
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=case.batch_first, total_length=x.shape[1 if case.batch_first else 0])
    st = state if case.state_size == 2 else (state,)
    ds = d.dstate if case.state_size == 2 else (d.dstate,)
    loss = (y * torch.from_numpy(d.dy)).sum() + sum((s * torch.from_numpy(g)).sum() for s, g in zip(st, ds))
    loss.backward()
    names = ("h", "c")[: case.state_size]
    out = {"y": y}
    out.update({f"{n}_n": s for n, s in zip(names, st)})
    out.update({f"d{k}": p.grad for k, p in mod.named_parameters()})
    out["dx"] = x.grad
    out.update({f"d{n}0": s.grad for n, s in zip(names, s0)})
    return {k: v.detach().numpy() for k, v in out.items()}


TORCH_CASES = [c for c in all_cases() if c.cell != "gru_reset_before"]  # torch has only reset-after


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_matches_torch_nn_modules(case):
    want = torch_run(case, data(case))
    got = reference(case)
    assert_close(got, {k: want[k] for k in got}, out_tol=TOL, grad_tol=TOL, what=case.id)


def test_unbatched_matches_torch():
    """(T, I) input and (L*D, H) states, as torch takes them."""
    import rnnx

    rng = np.random.default_rng(3)
    layer = rnnx.LSTM(I, H, num_layers=2, bidirectional=True)
    p = layer.init_params(np, seed=1, dtype=np.float64)
    mod = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, dtype=torch.float64)
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in p.items()})
    x, h0, c0 = rng.standard_normal((5, I)), rng.standard_normal((4, H)), rng.standard_normal((4, H))
    y, (h, c), cache = layer.forward(p, x, (h0, c0))
    xt = torch.tensor(x, requires_grad=True)
    yt, (ht, ct) = mod(xt, (torch.tensor(h0), torch.tensor(c0)))
    assert y.shape == (5, 2 * H) and h.shape == c.shape == (4, H)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(h, ht.detach().numpy(), rtol=0, atol=1e-14)
    dy = rng.standard_normal(y.shape)
    (yt * torch.from_numpy(dy)).sum().backward()
    dp, dx, (dh0, dc0) = layer.backward(p, cache, dy)
    assert dx.shape == x.shape and dh0.shape == (4, H)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-14)
    for k, prm in mod.named_parameters():
        np.testing.assert_allclose(dp[k], prm.grad.numpy(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_param_layout_is_torch_state_dict(cell):
    """Keys, order and shapes of init_params equal the torch module's state_dict."""
    from _cases import Case

    case = Case(cell, num_layers=3, bidirectional=True)
    layer = case.layer()
    mod = (torch.nn.RNN if cell.startswith("rnn") else {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell])(
        I, H, num_layers=3, bidirectional=True)
    sd = mod.state_dict()
    p = layer.init_params(np, seed=0)
    assert list(p) == list(sd)
    assert {k: tuple(v.shape) for k, v in p.items()} == {k: tuple(v.shape) for k, v in sd.items()}
    bound = 1 / np.sqrt(H)
    assert all(np.abs(v).max() <= bound for v in p.values())


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_one_input_feature_matches_torch(cell, lib):
    """I = 1 (the sine-wave workloads) takes a broadcast multiply instead of a K=1 product
    for the input projection: same numbers as torch.nn, on NumPy and on the torch namespace
    (whose LSTM step runs on the native sigmoid)."""
    import rnnx

    rng = np.random.default_rng(4)
    T_, B_, H_ = 6, 3, 4
    layer = rnnx.RNN(1, H_) if cell == "rnn_tanh" else {"lstm": rnnx.LSTM, "gru": rnnx.GRU}[cell](1, H_)
    p = layer.init_params(np, seed=2, dtype=np.float64)
    p = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in p.items()}  # non-zero biases
    mod = {"rnn_tanh": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](1, H_, dtype=torch.float64)
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in p.items()})
    x = rng.standard_normal((T_, B_, 1))
    s0 = tuple(rng.standard_normal((1, B_, H_)) for _ in range(2 if cell == "lstm" else 1))
    dy = rng.standard_normal((T_, B_, H_))
    conv = (lambda a: a) if lib == "numpy" else torch.from_numpy  # noqa: E731
    pp = {k: conv(v) for k, v in p.items()}
    s0_ = tuple(conv(s) for s in s0)
    y, _, cache = layer.forward(pp, conv(x), s0_ if cell == "lstm" else s0_[0])
    dp, dx, _ = layer.backward(pp, cache, conv(dy))
    xt = torch.tensor(x, requires_grad=True)
    st = tuple(torch.tensor(s) for s in s0)
    yt, _ = mod(xt, st if cell == "lstm" else st[0])
    (yt * torch.from_numpy(dy)).sum().backward()
    as_np = (lambda a: np.asarray(a)) if lib == "numpy" else (lambda a: a.numpy())  # noqa: E731
    np.testing.assert_allclose(as_np(y), yt.detach().numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(as_np(dx), xt.grad.numpy(), rtol=0, atol=1e-13)
    for k, prm in mod.named_parameters():
        np.testing.assert_allclose(as_np(dp[k]), prm.grad.numpy(), rtol=0, atol=1e-13)
