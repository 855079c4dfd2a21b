"""Optimizers and clipping against ``torch.optim`` / ``torch.nn.utils`` on the same
gradients: float64, 20 steps, norm-wise relative error <= 1e-12."""

from __future__ import annotations

import numpy as np
import pytest

from rnnx.cli.testing import rel_err
from rnnx import optim

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")
xp = pytest.importorskip("array_api_compat.numpy")

SHAPES = {"weight_ih_l0": (8, 3), "weight_hh_l0": (8, 2), "bias_ih_l0": (8,), "weight_hy": (1, 2)}
STEPS = 20

CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "amsgrad": True}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.1}),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{'-'.join(map(str, k))}" for n, k in CASES])
def test_matches_torch_optim(name, kw):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(STEPS)]
    ours = optim.OPTIMIZERS[name](**kw)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    topt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}[name](
        list(tparams.values()), **kw)
    state = ours.init(params)
    for g in grads:
        params, state = ours.step(params, g, state, xp=xp)
        for k, p in tparams.items():
            p.grad = torch.tensor(g[k])
        topt.step()
    assert state["step"] == STEPS
    for k in params:
        assert rel_err(params[k], tparams[k].detach().numpy()) <= 1e-12, k


def test_defaults_are_torchs():
    import inspect

    for ours, theirs in ((optim.SGD, torch.optim.SGD), (optim.Adam, torch.optim.Adam),
                         (optim.Adagrad, torch.optim.Adagrad)):
        sig = inspect.signature(theirs).parameters
        for f, v in ours.__dataclass_fields__.items():
            assert sig[f].default == v.default, (ours.__name__, f)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_by_global_norm_matches_torch(max_norm):
    rng = np.random.default_rng(1)
    g = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    clipped, total = optim.clip_by_global_norm(g, max_norm, xp=xp)
    tp = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES.values()]
    for p, k in zip(tp, SHAPES):
        p.grad = torch.tensor(g[k])
    ttotal = torch.nn.utils.clip_grad_norm_(tp, max_norm)
    assert abs(float(total) - float(ttotal)) <= 1e-12 * float(ttotal)
    for p, k in zip(tp, SHAPES):
        assert rel_err(clipped[k], p.grad.numpy()) <= 1e-15
    assert (float(total) > max_norm) == (max_norm == 0.5)


def test_clip_by_value_matches_torch():
    rng = np.random.default_rng(2)
    g = {k: 3 * rng.standard_normal(s) for k, s in SHAPES.items()}
    clipped, gmax = optim.clip_by_value(g, 1.0, xp=xp)
    tp = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES.values()]
    for p, k in zip(tp, SHAPES):
        p.grad = torch.tensor(g[k])
    torch.nn.utils.clip_grad_value_(tp, 1.0)
    for p, k in zip(tp, SHAPES):
        assert np.array_equal(clipped[k], p.grad.numpy())
    assert float(gmax) == max(np.abs(v).max() for v in g.values())


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate(bad):
    for cls in (optim.SGD, optim.Adam, optim.Adagrad):
        with pytest.raises(ValueError, match=r"lr: expected a finite number > 0, got"):
            cls(lr=bad)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov: requires momentum > 0"):
        optim.SGD(lr=0.1, nesterov=True)
