"""The model (recurrent layers + linear head + output activation) and its MSE gradient
against torch (nn.RNN/LSTM/GRU + nn.Linear + autograd) and finite differences; truncated
BPTT against a torch implementation of the same (k1, k2) schedule."""

from __future__ import annotations

import numpy as np
import pytest

from rnnx.testing.harness import rel_err
from rnnx.training import tbptt
from rnnx.nn.model import Model

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")
xp = pytest.importorskip("array_api_compat.numpy")
T, B, I, H, O = 6, 3, 2, 4, 2


def torch_model(model: Model, params: dict):
    L = model.layer
    kw = dict(num_layers=L.num_layers, bidirectional=L.bidirectional, dtype=torch.float64)
    rnn = (torch.nn.RNN(I, H, nonlinearity=L.nonlinearity, **kw) if model.cell == "rnn"
           else {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[model.cell](I, H, **kw))
    rnn.load_state_dict({k: torch.tensor(v) for k, v in params.items() if k not in ("weight_hy", "bias_y")})
    lin = torch.nn.Linear(L.num_directions * H, O, dtype=torch.float64)
    lin.load_state_dict({"weight": torch.tensor(params["weight_hy"]), "bias": torch.tensor(params["bias_y"])})
    act = {"none": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[model.output_activation]

    def fwd(x, state=None):
        y, st = rnn(x, state)
        h = y[-1] if model.objective == "many-to-one" else y
        return act(lin(h)), st

    def grads():
        g = {k: p.grad.numpy() for k, p in rnn.named_parameters()}
        g.update(weight_hy=lin.weight.grad.numpy(), bias_y=lin.bias.grad.numpy())
        return g

    return rnn, lin, fwd, grads


CONFIGS = [(c, a, o, bi) for c in ("rnn", "lstm", "gru") for a in ("none", "tanh", "sigmoid")
           for o in ("many-to-one", "many-to-many") for bi in (False, True) if bi == (a == "tanh")]


@pytest.mark.parametrize("cell,act,obj,bi", CONFIGS, ids=["-".join(map(str, c)) for c in CONFIGS])
def test_model_gradient_matches_torch(cell, act, obj, bi):
    model = Model(cell, I, H, O, num_layers=2, bidirectional=bi, output_activation=act, objective=obj)
    params = model.init_params(np, seed=3, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I))
    target = rng.standard_normal((B, O) if obj == "many-to-one" else (T, B, O))
    loss, grads, _ = model.loss_and_grad(params, x, target)
    rnn, lin, fwd, tgrads = torch_model(model, params)
    pred, _ = fwd(torch.tensor(x))
    tloss = torch.nn.functional.mse_loss(pred, torch.tensor(target))
    tloss.backward()
    assert abs(float(loss) - tloss.item()) <= 1e-12 * tloss.item()
    tg = tgrads()
    assert list(grads) == list(params)
    for k in params:
        assert rel_err(grads[k], tg[k]) <= 1e-12, k


@pytest.mark.parametrize("act", ["none", "tanh", "sigmoid"])
def test_model_gradient_matches_finite_differences(act):
    model = Model("gru", I, H, O, output_activation=act, objective="many-to-many")
    params = model.init_params(np, seed=4, dtype=np.float64)
    rng = np.random.default_rng(1)
    x, target = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, O))
    _, grads, _ = model.loss_and_grad(params, x, target)
    for k in ("weight_hy", "bias_y", "weight_hh_l0"):
        p, fd = params[k], np.empty_like(params[k])
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + 1e-6
            up = float(model.loss_and_grad(params, x, target)[0])
            p[idx] = old - 1e-6
            down = float(model.loss_and_grad(params, x, target)[0])
            p[idx] = old
            fd[idx] = (up - down) / 2e-6
        assert rel_err(grads[k], fd) <= 1e-6, k


def _sgd(lr):
    return lambda p, g: {k: p[k] - lr * g[k] for k in p}


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_tbptt_with_k1_k2_T_is_full_bptt(cell):
    model = Model(cell, I, H, O, objective="many-to-many")
    params = model.init_params(np, seed=5, dtype=np.float64)
    rng = np.random.default_rng(2)
    x, target = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, O))
    full_loss, g, _ = model.loss_and_grad(params, x, target)
    full = _sgd(0.1)(params, g)
    got, losses = tbptt.run(model, params, x, target, k1=T, k2=T, update=_sgd(0.1))
    assert len(losses) == 1 and float(losses[0]) == float(full_loss)
    assert all(np.array_equal(got[k], full[k]) for k in full)


def torch_tbptt(model, params, x, target, k1, k2, lr):
    """The (k1, k2) schedule written independently in torch, state detached at window starts."""
    rnn, lin, fwd, _ = torch_model(model, params)
    ps = list(rnn.parameters()) + list(lin.parameters())
    x, target = torch.tensor(x), torch.tensor(target)
    n, state, done = x.shape[0], None, 0
    while done < n:
        e = min(done + k1, n)
        s = max(0, done + k1 - k2)
        nxt = min(e, max(s, done + 2 * k1 - k2))
        carried = state
        with torch.no_grad():  # the state the next window starts from, under the current params
            if nxt > s:
                _, carried = fwd(x[s:nxt], state)
        pred, _ = fwd(x[s:e], state)
        loss = torch.nn.functional.mse_loss(pred[done - s:], target[done:e])
        for p in ps:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= lr * p.grad
        state = carried
        done = e
    out = {k: p.detach().numpy() for k, p in rnn.named_parameters()}
    out.update(weight_hy=lin.weight.detach().numpy(), bias_y=lin.bias.detach().numpy())
    return out


@pytest.mark.parametrize("k1,k2", [(2, 2), (2, 3), (2, 5), (3, 4), (1, 6), (4, 4)])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_tbptt_matches_torch_schedule(cell, k1, k2):
    model = Model(cell, I, H, O, objective="many-to-many")
    params = model.init_params(np, seed=6, dtype=np.float64)
    rng = np.random.default_rng(3)
    x, target = rng.standard_normal((11, B, I)), rng.standard_normal((11, B, O))
    got, losses = tbptt.run(model, params, x, target, k1=k1, k2=k2, update=_sgd(0.05))
    assert len(losses) == -(-11 // k1)
    want = torch_tbptt(model, params, x, target, k1, k2, 0.05)
    for k in want:
        assert rel_err(got[k], want[k]) <= 1e-12, k


def test_tbptt_bad_arguments():
    model = Model("rnn", I, H, O, objective="many-to-many")
    p = model.init_params(np, dtype=np.float64)
    x = np.zeros((T, B, I))
    with pytest.raises(ValueError, match=r"tbptt: expected integers 1 <= k1 <= k2, got k1=3, k2=2"):
        tbptt.run(model, p, x, np.zeros((T, B, O)), k1=3, k2=2, update=_sgd(0.1))
    m1 = Model("rnn", I, H, O)
    with pytest.raises(ValueError, match="many-to-many"):
        tbptt.run(m1, m1.init_params(np, dtype=np.float64), x, np.zeros((B, O)), k1=2, k2=2, update=_sgd(0.1))


def test_predict_equals_forward_without_a_cache():
    """``Model.predict`` / ``layer(...)`` (inference) keep no cache and give forward's numbers."""
    import rnnx
    from rnnx.nn.model import Model

    rng = np.random.default_rng(7)
    for cell in ("lstm", "gru", "rnn"):
        m = Model(cell, 1, 5, 1, num_layers=2)
        p = m.init_params(np, seed=3, dtype=np.float64)
        x = rng.standard_normal((6, 3, 1))
        pred, state, _ = m.forward(p, x)
        pred2, state2 = m.predict(p, x)
        np.testing.assert_array_equal(pred, pred2)
        for a, b in zip(state if isinstance(state, tuple) else (state,), state2 if isinstance(state2, tuple) else (state2,)):
            np.testing.assert_array_equal(a, b)
    layer = rnnx.LSTM(2, 3, bidirectional=True)
    p = layer.init_params(np, seed=0, dtype=np.float64)
    x = rng.standard_normal((4, 2, 2))
    y, (h, c), _ = layer.forward(p, x, lengths=[4, 2])
    y2, (h2, c2) = layer(p, x, lengths=[4, 2])
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(c, c2)


def test_loss_and_grad_resolves_the_namespace_once(monkeypatch):
    """The per-update fixed cost (issue 29 item 5): one update's loss_and_grad resolves the
    array namespace once, from every array of the call, and passes it down (it was 5
    calls, ~12 us each on NumPy); the gradients are those of the layer's own path."""
    import rnnx._xp
    from rnnx.nn import layers as layers_mod
    from rnnx.nn import model as model_mod

    m = Model("gru", I, H, O, objective="many-to-many")
    p = m.init_params(xp, seed=0, dtype=xp.float64)
    x = np.random.default_rng(0).standard_normal((T, B, I))
    y = np.random.default_rng(1).standard_normal((T, B, O))
    want = m.loss_and_grad(p, x, y)
    calls = []
    real = rnnx._xp.namespace

    def counted(**arrays):
        calls.append(sorted(arrays))
        return real(**arrays)

    for mod in (model_mod, layers_mod):
        monkeypatch.setattr(mod, "namespace", counted)
    got = m.loss_and_grad(p, x, y, lengths=[T, 2, 4])
    assert len(calls) == 1, calls
    assert {"x", "lengths", "target", "params['weight_hy']", "params['bias_y']", "params['weight_ih_l0']"} <= set(calls[0])
    calls.clear()
    got = m.loss_and_grad(p, x, y)
    assert len(calls) == 1
    assert float(got[0]) == float(want[0])
    assert all(np.array_equal(got[1][k], want[1][k]) for k in want[1])


def test_loss_and_grad_still_refuses_arrays_of_another_library_or_device():
    """Resolving the namespace once still sees every array: a target of another library
    and a head parameter on another device are refused, each named."""
    m = Model("rnn", I, H, O)
    p = m.init_params(xp, seed=0, dtype=xp.float64)
    x = np.zeros((T, B, I))
    with pytest.raises(TypeError, match=r"different libraries.*torch: target"):
        m.loss_and_grad(p, x, torch.zeros((B, O), dtype=torch.float64))
    xps = pytest.importorskip("array_api_strict")
    q = m.init_params(xps, seed=0, dtype=xps.float64)
    q["weight_hy"] = xps.asarray(q["weight_hy"], device=xps.Device("device1"))
    with pytest.raises(ValueError, match=r"different devices.*params\['weight_hy'\]"):
        m.loss_and_grad(q, xps.zeros((T, B, I), dtype=xps.float64), xps.zeros((B, O), dtype=xps.float64))
