"""The three features issue 15 adds through the cell spec, each against the real library, and
the spec's own promises:

a. ``proj_size`` (torch's ``nn.LSTM(proj_size=P)``): every output and gradient against torch;
b. ``dropout`` between stacked layers: reproducible masks on every backend, gradients against
   finite differences, ``jax.vjp`` and a torch network built by hand with the same masks;
c. Keras's ``activation`` / ``recurrent_activation`` (and the RNN's ``nonlinearity``): every
   variant against ``jax.vjp`` and finite differences, the activation table against jax.nn
   and keras.ops;
d. the fused step against the textbook reference step (``fused=False``);
e. configuration round trips (layer, Model, save/load).

float64 throughout unless a test says otherwise; non-zero biases (PyTorch's init) and
non-zero initial states everywhere; norm-wise relative errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rnnx
from rnnx.backends import Target
from rnnx.cells import CELLS
from rnnx.cells.activations import ACTIVATIONS
from rnnx.testing.harness import finite_differences

NUMPY = Target("numpy", "cpu")
TORCH = Target("torch", "cpu")
JAX = Target("jax", "cpu")
STRICT = Target("array_api_strict", "device1")

TOL = 1e-12  # float64, against autodiff / torch
FUSED_TOL = 1e-13  # fused step against the reference step
EPS, FD_TOL = 1e-6, 1e-6  # central finite differences, as tests/test_finite_differences.py

ACT_KEYS = ("activation", "recurrent_activation", "nonlinearity")


def _skip_unless(t: Target):
    why = t.unavailable()
    if why:
        pytest.skip(f"{t.id} unavailable: {why}")


def _target(t: Target):
    why = t.unavailable()
    return pytest.param(t, id=t.id, marks=[pytest.mark.skip(reason=f"{t.id} unavailable: {why}")] if why else [])


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (nb if nb > 0 else 1.0))


def assert_all_close(got: dict, want: dict, tol: float, what: str) -> None:
    assert got.keys() == want.keys(), (sorted(got), sorted(want))
    bad = {k: f"{rel_err(got[k], want[k]):.3e}" for k in want if not rel_err(got[k], want[k]) <= tol}
    assert not bad, f"{what}: relative errors above {tol:.0e}: {bad}"


def _tup(s):
    return s if isinstance(s, tuple) else (s,)


def _pack(layer, s: tuple):
    return s if len(layer.spec.state) > 1 else s[0]


def inputs(layer, T: int, B: int, seed: int, *, scale: float = 1.0) -> dict:
    """Seeded float64 inputs: PyTorch-initialised parameters (non-zero biases) times
    ``scale``, x, a non-zero initial state, dy and dstate."""
    rng = np.random.default_rng(seed)
    p = {k: scale * v for k, v in layer.init_params(np, seed=seed, dtype=np.float64).items()}
    lead, D = layer.num_layers * layer.num_directions, layer.num_directions
    return {
        "params": p,
        "x": rng.standard_normal((T, B, layer.input_size)),
        "s0": tuple(rng.standard_normal((lead, B, n)) for n in layer.state_sizes),
        "dy": rng.standard_normal((T, B, D * layer.output_size)),
        "ds": tuple(rng.standard_normal((lead, B, n)) for n in layer.state_sizes),
    }


def named(y, state, dparams, dx, dstate0) -> dict:
    out = {"y": y}
    out.update({f"{n}_n": s for n, s in zip("hc", _tup(state))})
    out.update({f"d{k}": v for k, v in dparams.items()})
    out["dx"] = dx
    out.update({f"d{n}0": s for n, s in zip("hc", _tup(dstate0))})
    return out


def run(layer, d: dict, target: Target = NUMPY, lengths=None, **fw):
    """Forward (``fw``: train, seed) + explicit backward on ``target``; every result as a
    NumPy float64 array by name, and the cache."""
    conv = target.from_numpy
    params = {k: conv(v) for k, v in d["params"].items()}
    n = None if lengths is None else conv(np.asarray(lengths))
    y, st, cache = layer.forward(params, conv(d["x"]), _pack(layer, tuple(conv(a) for a in d["s0"])), lengths=n, **fw)
    g, dx, ds0 = layer.backward(params, cache, conv(d["dy"]), _pack(layer, tuple(conv(a) for a in d["ds"])))
    out = {k: np.asarray(target.to_numpy(v), dtype=np.float64) for k, v in named(y, st, g, dx, ds0).items()}
    return out, cache


def masks(cache, target: Target = NUMPY) -> list[np.ndarray]:
    """The dropout masks a forward drew, layer 1 up (the cache's ``dropout`` entries)."""
    layers = cache.data["layers"]
    return [np.asarray(target.to_numpy(lay["dropout"])) for lay in layers[1:]]


def jax_vjp(layer, d: dict, lengths=None, **fw) -> dict:
    """Gradients of <y, dy> + <state, dstate> by ``jax.vjp`` of rnnx's own forward."""
    import jax
    import jax.numpy as jnp

    n = None if lengths is None else jnp.asarray(np.asarray(lengths))

    def f(p, x, s0):
        y, st, _ = layer.forward(p, x, _pack(layer, s0), lengths=n, **fw)
        return y, st

    params = {k: jnp.asarray(v) for k, v in d["params"].items()}
    (y, st), vjp = jax.vjp(f, params, jnp.asarray(d["x"]), tuple(jnp.asarray(a) for a in d["s0"]))
    dp, dx, ds0 = vjp((jnp.asarray(d["dy"]), _pack(layer, tuple(jnp.asarray(a) for a in d["ds"]))))
    return {k: np.asarray(v, dtype=np.float64) for k, v in named(y, st, dp, dx, ds0).items()}


def loss(layer, d: dict, params, x, s0, lengths=None, **fw) -> float:
    """L = <y, dy> + <state, dstate> in NumPy float64 (training mode with ``fw``)."""
    if fw:
        y, st, _ = layer.forward(params, x, _pack(layer, s0), lengths=lengths, **fw)
    else:
        y, st = layer(params, x, _pack(layer, s0), lengths=lengths)
    return float(np.sum(y * d["dy"]) + sum(np.sum(a * b) for a, b in zip(_tup(st), d["ds"])))


def fd(f, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences (EPS) of scalar f with respect to every element of a (in place),
    and the kink mask: :func:`rnnx.testing.harness.finite_differences`."""
    return finite_differences(f, a, EPS)


def fd_errors(layer, d: dict, exact: dict, lengths=None, **fw) -> tuple[dict, int, int]:
    """Norm-wise relative error of every exact gradient against finite differences over the
    differentiable elements; also the number of kinks masked and of elements."""
    params = {k: v.copy() for k, v in d["params"].items()}
    x, s0 = d["x"].copy(), tuple(a.copy() for a in d["s0"])
    f = lambda: loss(layer, d, params, x, s0, lengths, **fw)  # noqa: E731
    errs, kinks, total = {}, 0, 0
    for name, arr in [*((f"d{k}", v) for k, v in params.items()), ("dx", x), *zip(("dh0", "dc0"), s0)]:
        g, kink = fd(f, arr)
        errs[name] = rel_err(np.where(kink, 0.0, exact[name]), np.where(kink, 0.0, g))
        kinks, total = kinks + int(kink.sum()), total + kink.size
    return errs, kinks, total


# ========================================================================================================
# a. proj_size
# ========================================================================================================
P_I, P_H, P_P, P_T, P_B = 3, 4, 2, 5, 3
P_LENGTHS = np.array([5, 2, 4])


def _torch_lstm_run(mod, d: dict, lengths, *, bidirectional=True) -> dict:
    import torch

    nn = torch.nn
    t = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
    x, s0 = t(d["x"]), tuple(t(a) for a in d["s0"])
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(lengths), enforce_sorted=False)
    y, st = mod(packed, s0)
    y, _ = nn.utils.rnn.pad_packed_sequence(y, total_length=x.shape[0])
    lo = (y * torch.from_numpy(d["dy"])).sum() + sum((a * torch.from_numpy(g)).sum() for a, g in zip(st, d["ds"]))
    lo.backward()
    out = named(y, st, {k: p.grad for k, p in mod.named_parameters()}, x.grad, tuple(a.grad for a in s0))
    return {k: v.detach().numpy() for k, v in out.items()}


@pytest.mark.parametrize("fused", [None, False], ids=["fused", "reference"])
@pytest.mark.parametrize("target", [_target(NUMPY), _target(TORCH)])
def test_proj_size_matches_torch(target, fused):
    """rnnx.LSTM(proj_size=P, num_layers=2, bidirectional=True) against torch.nn.LSTM with the
    same state_dict, lengths through pack_padded_sequence, h0 (L*D, B, P) and c0 (L*D, B, H)
    non-zero: outputs, final states and every gradient (weight_hr_l* included) <= 1e-12."""
    torch = pytest.importorskip("torch")
    layer = rnnx.LSTM(P_I, P_H, proj_size=P_P, num_layers=2, bidirectional=True, fused=fused)
    assert layer.kernel.name.startswith("lstm/fused" if fused is None else "lstm/reference"), layer.kernel.name
    mod = torch.nn.LSTM(P_I, P_H, proj_size=P_P, num_layers=2, bidirectional=True, dtype=torch.float64)
    sd = mod.state_dict()
    assert list(layer.param_shapes()) == list(sd), "keys and order of torch's state_dict"
    assert layer.param_shapes() == {k: tuple(v.shape) for k, v in sd.items()}
    assert {k for k in sd if k.startswith("weight_hr")} == {"weight_hr_l0", "weight_hr_l0_reverse", "weight_hr_l1",
                                                             "weight_hr_l1_reverse"}
    d = inputs(layer, P_T, P_B, seed=11)
    assert [a.shape for a in d["s0"]] == [(4, P_B, P_P), (4, P_B, P_H)]
    assert all(np.abs(v).min() > 0 for k, v in d["params"].items() if k.startswith("bias"))
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in d["params"].items()})
    want = _torch_lstm_run(mod, d, P_LENGTHS)
    got, _ = run(layer, d, target, lengths=P_LENGTHS)
    assert got["y"].shape == (P_T, P_B, 2 * P_P) and got["h_n"].shape == (4, P_B, P_P)
    assert {k for k in got if k.startswith("dweight_hr")} == {"dweight_hr_l0", "dweight_hr_l0_reverse",
                                                               "dweight_hr_l1", "dweight_hr_l1_reverse"}
    assert_all_close(got, want, TOL, f"proj_size {target.id} fused={fused}")


def test_proj_size_unbatched_and_batch_first_match_torch():
    """The other layouts torch takes with a projection: batch_first and unbatched (T, I)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for kw in ({"batch_first": True}, {}):
        layer = rnnx.LSTM(P_I, P_H, proj_size=P_P, num_layers=2, **kw)
        mod = torch.nn.LSTM(P_I, P_H, proj_size=P_P, num_layers=2, dtype=torch.float64, **kw)
        p = layer.init_params(np, seed=5, dtype=np.float64)
        mod.load_state_dict({k: torch.from_numpy(v) for k, v in p.items()})
        if kw:
            x, h0, c0 = rng.standard_normal((P_B, P_T, P_I)), rng.standard_normal((2, P_B, P_P)), \
                rng.standard_normal((2, P_B, P_H))
        else:
            x, h0, c0 = rng.standard_normal((P_T, P_I)), rng.standard_normal((2, P_P)), rng.standard_normal((2, P_H))
        y, (h, c) = layer(p, x, (h0, c0))
        yt, (ht, ct) = mod(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
        for a, b in ((y, yt), (h, ht), (c, ct)):
            assert a.shape == tuple(b.shape)
            assert rel_err(a, b.detach().numpy()) <= TOL


@pytest.mark.parametrize("value,allowed", [(-1, ">= 0"), (P_H, "< hidden_size"), (P_H + 3, "< hidden_size"),
                                           (1.5, "int"), ("2", "int"), (True, "int")])
def test_proj_size_bad_values(value, allowed):
    with pytest.raises((ValueError, TypeError)) as e:
        rnnx.LSTM(P_I, P_H, proj_size=value)
    msg = str(e.value)
    assert msg.startswith("proj_size"), msg
    assert repr(value) in msg or str(value) in msg, f"says what it got: {msg}"
    assert allowed in msg, f"says what is allowed ({allowed!r}): {msg}"


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_proj_size_on_a_cell_without_it(cell):
    for make in (lambda: rnnx.layer(cell, 2, 4, proj_size=2),
                 lambda: {"gru": rnnx.GRU, "rnn": rnnx.RNN}[cell](2, 4, proj_size=2),
                 lambda: rnnx.Model(cell, 2, 4, proj_size=2)):
        with pytest.raises((ValueError, TypeError)) as e:
            make()
        msg = str(e.value)
        assert msg.startswith("proj_size"), msg
        assert CELLS[cell].title in msg, f"names the cell: {msg}"
        for o in CELLS[cell].option_names:  # what is allowed: the cell's options
            assert o in msg, f"lists {o}: {msg}"


def test_proj_size_zero_is_the_plain_lstm():
    a, b = rnnx.LSTM(2, 3, proj_size=0), rnnx.LSTM(2, 3)
    assert a == b and a.param_shapes() == b.param_shapes() and "weight_hr_l0" not in a.param_shapes()


# ========================================================================================================
# b. dropout
# ========================================================================================================
D_I, D_H, D_T, D_B, D_P = 2, 3, 4, 2, 0.4
D_LENGTHS = np.array([4, 2])
DROP_CELLS = list(CELLS)


def _drop_layer(cell, **kw):
    return rnnx.layer(cell, D_I, D_H, num_layers=3, dropout=D_P, **kw)


@pytest.mark.parametrize("cell", DROP_CELLS)
def test_dropout_masks_depend_on_the_seed_only(cell):
    """(1) train=True with a seed differs from inference and from another seed; the same
    seed gives the same masks and outputs; the masks are 0 or 1/(1-p), and are what layer
    l > 0 reads: its cached input is the layer below's output times its mask."""
    layer = _drop_layer(cell, bidirectional=True)
    d = inputs(layer, D_T, D_B, seed=21)
    inf, _ = run(layer, d)
    a, ca = run(layer, d, train=True, seed=123)
    a2, ca2 = run(layer, d, train=True, seed=123)
    b, cb = run(layer, d, train=True, seed=124)
    for k in a:
        np.testing.assert_array_equal(a[k], a2[k])
    assert rel_err(a["y"], inf["y"]) > 1e-3 and rel_err(a["y"], b["y"]) > 1e-3
    ma, mb = masks(ca), masks(cb)
    assert len(ma) == 2 and all(m.shape == (D_T, D_B, 2 * D_H) for m in ma)
    for m in ma + mb:
        assert set(np.unique(m).tolist()) == {0.0, 1.0 / (1.0 - D_P)}
    assert not np.array_equal(ma[0], ma[1]), "each layer its own mask"
    assert not np.array_equal(ma[0], mb[0]), "another seed, another mask"
    for m, m2 in zip(ma, masks(ca2)):
        np.testing.assert_array_equal(m, m2)
    # the mask is applied: layer k's input = (layer k-1's output) * mask_k
    lay = ca.data["layers"]
    ys = [np.concatenate([dd["states"][0] for dd in lay[k]["dirs"]], axis=-1) for k in range(3)]
    for k in (1, 2):
        np.testing.assert_array_equal(np.asarray(lay[k]["x"]), ys[k - 1] * ma[k - 1])
    assert "dropout" not in lay[0]


def test_dropout_seed_arrays_and_large_seeds():
    """An integer array of shape () draws the same masks as the same Python int; seeds that
    differ only above bit 32 still differ."""
    layer = _drop_layer("gru")
    d = inputs(layer, D_T, D_B, seed=22)
    _, c_int = run(layer, d, train=True, seed=7)
    for arr in (np.asarray(7), np.asarray(7, dtype=np.int32), np.asarray(7, dtype=np.uint8)):
        _, c_arr = run(layer, d, train=True, seed=arr)
        for m, m2 in zip(masks(c_int), masks(c_arr)):
            np.testing.assert_array_equal(m, m2)
    _, c_big = run(layer, d, train=True, seed=7 + (1 << 32))
    assert any(not np.array_equal(m, m2) for m, m2 in zip(masks(c_int), masks(c_big)))


@pytest.mark.parametrize("cell", DROP_CELLS)
def test_dropout_same_masks_on_every_backend(cell):
    """(1) the same seed gives bit-identical masks on numpy, torch-cpu, jax-cpu and
    array-api-strict (an int seed and each backend's own 0-d integer array), and outputs and
    gradients within 1e-12 of numpy's."""
    layer = _drop_layer(cell, bidirectional=True)
    d = inputs(layer, D_T, D_B, seed=23)
    ref, cref = run(layer, d, train=True, seed=2024, lengths=D_LENGTHS)
    ran = []
    for t in (TORCH, JAX, STRICT):
        if t.unavailable():
            continue
        for seed in (2024, t.from_numpy(np.asarray(2024))):
            got, c = run(layer, d, t, train=True, seed=seed, lengths=D_LENGTHS)
            for k, (m, mref) in enumerate(zip(masks(c, t), masks(cref))):
                assert np.array_equal(m, mref), f"{t.id}: layer {k + 1}'s mask differs from numpy's"
            assert_all_close(got, ref, TOL, f"dropout {cell} on {t.id}")
        ran.append(t.id)
    assert ran, "no other backend to compare with"


@pytest.mark.parametrize("cell", DROP_CELLS)
def test_dropout_gradients_match_finite_differences(cell):
    """(2) explicit BPTT with the masks against float64 central differences of
    <y, dy> + <state, dstate> with the seed fixed (the masks are a function of the seed only),
    three layers, with lengths (bidirectional masks: the jax.vjp and torch tests)."""
    layer = _drop_layer(cell)
    d = inputs(layer, D_T, D_B, seed=24)
    exact, cache = run(layer, d, train=True, seed=99, lengths=D_LENGTHS)
    assert any((m == 0).any() for m in masks(cache))
    errs, kinks, _ = fd_errors(layer, d, exact, D_LENGTHS, train=True, seed=99)
    assert kinks == 0
    bad = {k: e for k, e in errs.items() if not e <= FD_TOL}
    assert not bad, f"dropout {cell}: gradients off finite differences: {bad}"


@pytest.mark.parametrize("cell", DROP_CELLS)
def test_dropout_gradients_match_jax_vjp(cell):
    """(3) explicit BPTT against jax.vjp of rnnx's own forward with the same seed, on JAX."""
    _skip_unless(JAX)
    import jax.numpy as jnp

    layer = _drop_layer(cell, bidirectional=True)
    d = inputs(layer, D_T, D_B, seed=25)
    got, _ = run(layer, d, JAX, train=True, seed=jnp.asarray(5), lengths=D_LENGTHS)
    want = jax_vjp(layer, d, D_LENGTHS, train=True, seed=jnp.asarray(5))
    assert_all_close(got, want, TOL, f"dropout {cell} vs jax.vjp")


def _torch_stack_by_hand(cell, layer, d, drop_masks, lengths):
    """The same network in torch from single-layer nn modules, rnnx's masks between them."""
    import torch

    nn = torch.nn
    L, D = layer.num_layers, layer.num_directions
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
    t = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
    x, s0 = t(d["x"]), tuple(t(a) for a in d["s0"])
    n = torch.from_numpy(lengths)
    inp, finals, mods = x, [], []
    for k in range(L):
        fan_in = layer.input_size if k == 0 else D * layer.output_size
        mod = cls(fan_in, layer.hidden_size, bidirectional=D == 2, dtype=torch.float64)
        mod.load_state_dict({key: torch.from_numpy(d["params"][key.replace("_l0", f"_l{k}")])
                             for key in mod.state_dict()})
        mods.append((k, mod))
        if k > 0:
            inp = inp * torch.from_numpy(drop_masks[k - 1])
        h0 = tuple(s[k * D:(k + 1) * D] for s in s0)
        out, st = mod(nn.utils.rnn.pack_padded_sequence(inp, n, enforce_sorted=False), h0 if cell == "lstm" else h0[0])
        inp, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
        finals.append(st if cell == "lstm" else (st,))
    state = tuple(torch.cat([f[j] for f in finals], dim=0) for j in range(len(s0)))
    lo = (inp * torch.from_numpy(d["dy"])).sum() + sum((a * torch.from_numpy(g)).sum() for a, g in zip(state, d["ds"]))
    lo.backward()
    grads = {}
    for k, mod in mods:
        grads.update({key.replace("_l0", f"_l{k}"): p.grad for key, p in mod.named_parameters()})
    grads = {key: grads[key] for key in d["params"]}
    out = named(inp, state, grads, x.grad, tuple(a.grad for a in s0))
    return {k: v.detach().numpy() for k, v in out.items()}


@pytest.mark.parametrize("cell", DROP_CELLS)
def test_dropout_matches_torch_built_by_hand(cell):
    """(4) torch's dropout RNG cannot be matched, so the torch network is built by hand:
    three single-layer bidirectional nn modules, packed sequences, rnnx's masks applied to
    each layer's input but the first; outputs and every gradient <= 1e-12."""
    pytest.importorskip("torch")
    layer = _drop_layer(cell, bidirectional=True)
    d = inputs(layer, D_T, D_B, seed=26)
    got, cache = run(layer, d, train=True, seed=31, lengths=D_LENGTHS)
    want = _torch_stack_by_hand(cell, layer, d, masks(cache), D_LENGTHS)
    assert_all_close(got, want, TOL, f"dropout {cell} vs torch by hand")
    # and without the masks torch's plain stack differs: the masks matter
    plain = _torch_stack_by_hand(cell, layer, d, [np.ones_like(m) for m in masks(cache)], D_LENGTHS)
    assert rel_err(plain["y"], want["y"]) > 1e-3


@pytest.mark.parametrize("cell", DROP_CELLS)
def test_inference_ignores_dropout(cell):
    """(5) layer(params, x) and forward() without train equal the same network with dropout=0,
    bit for bit, and draw no mask."""
    layer = _drop_layer(cell, bidirectional=True)
    plain = rnnx.layer_from_config({**layer.config(), "dropout": 0.0})
    d = inputs(layer, D_T, D_B, seed=27)
    p, s0 = d["params"], _pack(layer, d["s0"])
    y, st = layer(p, d["x"], s0, lengths=D_LENGTHS)
    y2, st2, cache = layer.forward(p, d["x"], s0, lengths=D_LENGTHS)
    y0, st0 = plain(p, d["x"], s0, lengths=D_LENGTHS)
    for a, b, c in zip((y, *_tup(st)), (y2, *_tup(st2)), (y0, *_tup(st0))):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)
    assert all("dropout" not in lay for lay in cache.data["layers"])
    yt, _, _ = layer.forward(p, d["x"], s0, lengths=D_LENGTHS, train=True, seed=1)
    assert rel_err(yt, y0) > 1e-3
    # a Model's predict and forward(train=False) ignore it too
    m = rnnx.Model(cell, D_I, D_H, num_layers=3, dropout=D_P)
    mp = m.init_params(np, seed=1, dtype=np.float64)
    m0 = rnnx.Model.from_config({**m.config(), "dropout": 0.0})
    np.testing.assert_array_equal(m.predict(mp, d["x"])[0], m0.predict(mp, d["x"])[0])
    np.testing.assert_array_equal(m.forward(mp, d["x"])[0], m0.predict(mp, d["x"])[0])


@pytest.mark.parametrize("p", [0.1, 0.4, 0.75])
def test_dropout_mask_fraction_of_zeros(p):
    """(6) the fraction of zeros in a large mask is p within 4 sigma; kept entries are exactly
    1/(1-p); masks of two streams or two seeds agree on p^2 + (1-p)^2 of the entries (within
    4 sigma), as independent draws do."""
    import array_api_compat.numpy as xp

    from rnnx.random import dropout_mask

    shape = (400, 250)
    n = shape[0] * shape[1]
    m = dropout_mask(12345, 1, shape, p, xp=xp, dtype=np.float64, device="cpu")
    assert m.shape == shape
    assert set(np.unique(m).tolist()) == {0.0, 1.0 / (1.0 - p)}
    frac = float(np.mean(m == 0))
    sigma = (p * (1 - p) / n) ** 0.5
    assert abs(frac - p) <= 4 * sigma, f"zeros {frac} vs p={p} (sigma {sigma:.2e})"
    q = p * p + (1 - p) * (1 - p)
    s_q = (q * (1 - q) / n) ** 0.5
    for other in (dropout_mask(12345, 2, shape, p, xp=xp, dtype=np.float64, device="cpu"),
                  dropout_mask(12346, 1, shape, p, xp=xp, dtype=np.float64, device="cpu")):
        agree = float(np.mean((m == 0) == (other == 0)))
        assert abs(agree - q) <= 4 * s_q, f"agreement {agree} vs {q}"
    # rows and columns are not patterned: every row's zero count is plausible
    rows = np.mean(m == 0, axis=1)
    assert np.all(np.abs(rows - p) <= 6 * (p * (1 - p) / shape[1]) ** 0.5)


@pytest.mark.parametrize("cell", ["lstm"])  # the masks' code is the stack's, one for every cell
def test_dropout_under_jit_with_a_traced_seed(cell):
    """(7) the seed a traced integer array under jax.jit: forward and backward equal eager with
    the same (int) seed, masks included; another seed gives another result without
    recompiling."""
    _skip_unless(JAX)
    import jax
    import jax.numpy as jnp

    layer = _drop_layer(cell)
    d = inputs(layer, D_T, D_B, seed=28)
    p = {k: jnp.asarray(v) for k, v in d["params"].items()}
    x, s0 = jnp.asarray(d["x"]), _pack(layer, tuple(jnp.asarray(a) for a in d["s0"]))
    dy = jnp.asarray(d["dy"])
    traces = []

    def f(p, x, s0, seed):
        traces.append(1)
        y, st, cache = layer.forward(p, x, s0, train=True, seed=seed)
        return y, st, [lay["dropout"] for lay in cache.data["layers"][1:]], layer.backward(p, cache, dy)

    jf = jax.jit(f)
    ys = []
    for s in (17, 18):
        jitted = jf(p, x, s0, jnp.asarray(s))
        ys.append(np.asarray(jitted[0]))
        eager = f(p, x, s0, s)
        lj, le = jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager)
        assert len(lj) == len(le)
        for a, b in zip(lj, le):
            assert float(jnp.max(jnp.abs(a - b))) <= 1e-13
        for a, b in zip(jitted[2], eager[2]):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert rel_err(ys[0], ys[1]) > 1e-3, "another seed, another result"
    assert len(traces) == 3, "one trace for both seeds (plus the two eager calls)"


def test_dropout_masks_without_x64_match_numpy(tmp_path):
    """(8) JAX without jax_enable_x64 (a subprocess with a clean environment, float32 arrays):
    rnnx's random numbers take the uint32 path and must draw numpy's masks."""
    _skip_unless(JAX)
    out = tmp_path / "masks.npz"
    code = textwrap.dedent(f"""
        import jax
        assert not jax.config.read("jax_enable_x64")
        import jax.numpy as jnp
        import numpy as np
        import rnnx
        from rnnx.random import dropout_mask

        assert not jax.config.read("jax_enable_x64")
        res = {{}}
        for cell in ("rnn", "lstm", "gru"):
            layer = rnnx.layer(cell, 2, 3, num_layers=3, dropout={D_P}, bidirectional=True)
            p = layer.init_params(jnp, seed=0, dtype=jnp.float32)
            x = jnp.ones((4, 2, 2), dtype=jnp.float32)
            for s in (5, 2**31 + 7):
                y, st, cache = layer.forward(p, x, train=True, seed=s)
                for k, lay in enumerate(cache.data["layers"][1:]):
                    res[f"{{cell}}_{{s}}_{{k}}"] = np.asarray(lay["dropout"])
        res["big"] = np.asarray(dropout_mask(77, 3, (64, 97), 0.3, xp=jnp, dtype=jnp.float32, device=None))
        np.savez(r"{out}", **res)
        print("ok")
    """)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LANG") if k in os.environ}
    env["JAX_PLATFORMS"] = "cpu"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180, check=False,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, f"JAX without x64 failed to draw dropout masks:\n{r.stderr[-3000:]}"
    got = dict(np.load(out))
    import array_api_compat.numpy as xp

    from rnnx.random import dropout_mask

    want_big = dropout_mask(77, 3, (64, 97), 0.3, xp=xp, dtype=np.float32, device="cpu")
    np.testing.assert_array_equal(got["big"], want_big)
    for cell in ("rnn", "lstm", "gru"):
        layer = rnnx.layer(cell, 2, 3, num_layers=3, dropout=D_P, bidirectional=True)
        p = layer.init_params(np, seed=0, dtype=np.float32)
        for s in (5, 2**31 + 7):
            _, _, cache = layer.forward(p, np.ones((4, 2, 2), dtype=np.float32), train=True, seed=s)
            for k, m in enumerate(masks(cache)):
                np.testing.assert_array_equal(got[f"{cell}_{s}_{k}"], m, err_msg=f"{cell} seed {s} layer {k + 1}")


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, "0.2", True, None])
def test_dropout_bad_values(value):
    with pytest.raises((ValueError, TypeError)) as e:
        rnnx.LSTM(2, 3, num_layers=2, dropout=value)
    msg = str(e.value)
    assert msg.startswith("dropout"), msg
    assert repr(value) in msg, f"says what it got: {msg}"
    assert "[0, 1)" in msg, f"says what is allowed: {msg}"


@pytest.mark.parametrize("cell", DROP_CELLS)
def test_dropout_with_one_layer_is_refused(cell):
    for make in (lambda: rnnx.layer(cell, 2, 3, dropout=0.2), lambda: rnnx.Model(cell, 2, 3, dropout=0.2)):
        with pytest.raises(ValueError) as e:
            make()
        msg = str(e.value)
        assert msg.startswith("dropout"), msg
        assert "num_layers=1" in msg and "torch" in msg and "warns" in msg and "refuses" in msg, msg
    rnnx.layer(cell, 2, 3, dropout=0.0)  # p = 0 with one layer is fine (torch's default)


def test_dropout_train_and_seed_rules():
    layer = _drop_layer("lstm")
    d = inputs(layer, D_T, D_B, seed=29)
    p, x = d["params"], d["x"]
    with pytest.raises(ValueError, match=r"^seed: .*needs a seed"):
        layer.forward(p, x, train=True)
    with pytest.raises(ValueError, match=r"^seed: .*train=True"):
        layer.forward(p, x, seed=3)
    with pytest.raises(ValueError, match=r"^seed: .*dropout"):
        rnnx.LSTM(2, 3, num_layers=3).forward(p, x, train=True, seed=3)  # no dropout: no mask to draw
    for bad in (np.asarray(3.0), np.asarray([3]), 3.5, "3", True):
        with pytest.raises(TypeError) as e:
            layer.forward(p, x, train=True, seed=bad)
        assert str(e.value).startswith("seed"), str(e.value)
    # train=True without dropout needs no seed
    plain = rnnx.LSTM(2, 3, num_layers=3)
    y, _, _ = plain.forward(p, x, train=True)
    np.testing.assert_array_equal(y, plain(p, x)[0])


# ========================================================================================================
# c. activations
# ========================================================================================================
def _activation_variants():
    out = []
    for cell, s in CELLS.items():
        for vid, opts in s.variants.items():
            if set(opts) & set(ACT_KEYS):
                out.append(pytest.param(cell, vid, id=vid))
    return out


ACT_VARIANTS = _activation_variants()
A_I, A_H, A_T, A_B = 2, 3, 4, 2  # the dropout tests' sizes: JAX compiles each op shape once per process
A_LENGTHS = np.array([4, 1])


def _act_scale(cell, vid) -> float:
    """Weights x2.5 so pre-activations reach past hard_sigmoid's +-3 (and both sides of relu's
    0); x0.5 where a gate or an LSTM/GRU activation is linear (unbounded, they compound: x2.5
    overflows float64 or leaves finite differences at 1e-6 of values ~1e3)."""
    opts = CELLS[cell].variants[vid]
    unbounded = "linear" in (opts.get("recurrent_activation"), opts.get("activation"))
    return 0.5 if unbounded and cell != "rnn" else 2.5


def test_activation_variants_cover_every_activation():
    assert len(ACT_VARIANTS) >= 9
    seen = {v for c, s in CELLS.items() for o in s.variants.values() for k, v in o.items() if k in ACT_KEYS}
    assert {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"} <= seen, seen


def _act_layer(cell, vid, bidirectional=True):
    return rnnx.layer(cell, A_I, A_H, num_layers=2, bidirectional=bidirectional, **CELLS[cell].variants[vid])


@pytest.mark.parametrize("cell,vid", ACT_VARIANTS)
def test_activation_variant_matches_jax_vjp(cell, vid):
    """Explicit BPTT against jax.vjp of rnnx's own forward (float64 <= 1e-12), two layers,
    bidirectional, with lengths, weights large enough to reach every branch."""
    _skip_unless(JAX)
    layer = _act_layer(cell, vid)
    d = inputs(layer, A_T, A_B, seed=31, scale=_act_scale(cell, vid))
    got, _ = run(layer, d, JAX, lengths=A_LENGTHS)
    want = jax_vjp(layer, d, A_LENGTHS)
    assert_all_close(got, want, TOL, f"{vid} vs jax.vjp")
    ref, _ = run(layer, d, NUMPY, lengths=A_LENGTHS)
    assert_all_close(got, ref, TOL, f"{vid}: jax vs numpy")


@pytest.mark.parametrize("cell,vid", ACT_VARIANTS)
def test_activation_variant_matches_finite_differences(cell, vid):
    """Explicit BPTT against float64 central differences (<= 1e-6) over the differentiable
    elements; kinks (relu at 0, hard_sigmoid at +-3) are masked as in
    tests/test_finite_differences.py, and may only appear where such an activation is used
    (and then on a small fraction of the elements).  Two layers, one direction (both
    directions: the jax.vjp test)."""
    layer = _act_layer(cell, vid, bidirectional=False)
    d = inputs(layer, A_T, A_B, seed=32, scale=_act_scale(cell, vid))
    exact, _ = run(layer, d, lengths=A_LENGTHS)
    errs, kinks, total = fd_errors(layer, d, exact, A_LENGTHS)
    acts = {v for k, v in CELLS[cell].variants[vid].items() if k in ACT_KEYS}
    if not acts & {"relu", "hard_sigmoid"}:
        assert kinks == 0, f"{vid}: {kinks} kinks in a smooth cell"
    assert kinks <= 0.05 * total, f"{vid}: {kinks} of {total} elements masked as kinks"
    bad = {k: e for k, e in errs.items() if not e <= FD_TOL}
    assert not bad, f"{vid}: gradients off finite differences: {bad}"
    if cell == "rnn":  # the output is phi itself: both sides of each clip/kink are reached
        y = exact["y"][np.arange(A_T)[:, None] < A_LENGTHS[None, :]]
        act = CELLS[cell].variants[vid]["nonlinearity"]
        if act == "hard_sigmoid":
            assert ((y == 0) | (y == 1)).any() and ((y > 0) & (y < 1)).any()
        if act == "relu":
            assert (y == 0).any() and (y > 0).any()


_POINTS = np.concatenate([np.linspace(-9.0, 9.0, 721), [-3.0001, -2.9999, 2.9999, 3.0001, -1e-4, 1e-4,
                                                        -40.0, -20.0, 20.0, 40.0]])
_KINKS = {"relu": (0.0,), "hard_sigmoid": (-3.0, 3.0)}


def _jax_definitions():
    import jax
    import jax.numpy as jnp

    return {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "hard_sigmoid": jax.nn.hard_sigmoid,
            "linear": lambda v: v}


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "hard_sigmoid", "linear"])
def test_activation_table_matches_jax_nn(name):
    """rnnx.cells.activations.ACTIVATIONS against jax.nn's definitions (Keras 3's): values
    and derivatives (jax.grad) at many points, float64; at the kinks rnnx's documented
    convention (derivative 0: torch's relu'(0) = 0, hard_sigmoid flat where clipped)."""
    _skip_unless(JAX)
    import array_api_compat.numpy as xp
    import jax
    import jax.numpy as jnp

    f, back = ACTIVATIONS[name]
    ref = _jax_definitions()[name]
    x = np.asarray(_POINTS, dtype=np.float64)
    y = np.asarray(f(x, xp=xp))
    y_ref = np.asarray(ref(jnp.asarray(x)))
    assert y.dtype == np.float64 and y_ref.dtype == np.float64
    np.testing.assert_allclose(y, y_ref, rtol=4e-15, atol=1e-300)  # a few ulp: libm's tanh/exp vs XLA's
    smooth = np.ones(x.shape, dtype=bool)
    for k in _KINKS.get(name, ()):
        smooth &= np.abs(x - k) > 1e-9
    dy = np.linspace(-2.0, 3.0, x.size)
    dx = np.asarray(back(dy, y, xp=xp))
    dref = np.asarray(jax.vmap(jax.grad(ref))(jnp.asarray(x))) * dy
    # from the output y: y (1 - y) near y = 1 carries y's rounding (relative 1e-16 of dy, not of dx)
    err = np.abs(dx - dref)
    ok = err <= 1e-14 * np.abs(dref) + 8 * 2.0**-52 * np.abs(dy)
    assert ok[smooth].all(), f"{name}': worst {err[smooth & ~ok].max():.3e} at x={x[smooth & ~ok][:5]}"
    for k in _KINKS.get(name, ()):
        yk = f(np.asarray([k]), xp=xp)
        assert float(np.asarray(back(np.asarray([1.0]), yk, xp=xp))[0]) == 0.0
    # the same on JAX arrays through the table (the namespace is the only difference)
    yj = np.asarray(f(jnp.asarray(x), xp=jnp))
    np.testing.assert_allclose(yj, y_ref, rtol=4e-15, atol=1e-300)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "hard_sigmoid", "linear"])
def test_activation_table_matches_keras_ops(name):
    """The same values from keras.ops (Keras 3, JAX backend), float64."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip(f"keras runs on {keras.backend.backend()} here")
    import array_api_compat.numpy as xp

    f, _ = ACTIVATIONS[name]
    x = np.asarray(_POINTS, dtype=np.float64)
    kx = keras.ops.convert_to_tensor(x, dtype="float64")
    y_ref = np.asarray(getattr(keras.ops, name)(kx) if name != "linear" else keras.activations.linear(kx))
    y = np.asarray(f(x, xp=xp))
    if y_ref.dtype == np.float32:  # keras 3.15's ops.tanh computes in float32 whatever it is given
        np.testing.assert_allclose(y.astype(np.float32), y_ref, rtol=2 * 2.0**-23, atol=2.0**-126)
    else:
        assert y_ref.dtype == np.float64
        np.testing.assert_allclose(y, y_ref, rtol=4e-15, atol=1e-300)


@pytest.mark.parametrize("cell,option", [("rnn", "nonlinearity"), ("lstm", "activation"),
                                         ("lstm", "recurrent_activation"), ("gru", "activation"),
                                         ("gru", "recurrent_activation")])
@pytest.mark.parametrize("value", ["swish", "Tanh", "", 3])
def test_unknown_activation_is_an_error_naming_it(cell, option, value):
    with pytest.raises((ValueError, TypeError)) as e:
        rnnx.layer(cell, 2, 3, **{option: value})
    msg = str(e.value)
    assert msg.startswith(option), msg
    assert repr(value) in msg, f"says what it got: {msg}"
    for a in ("tanh", "sigmoid", "relu", "hard_sigmoid", "linear"):
        assert a in msg, f"lists what is allowed ({a}): {msg}"


@pytest.mark.parametrize("cell,option", [("rnn", "activation"), ("rnn", "recurrent_activation"),
                                         ("lstm", "nonlinearity"), ("gru", "nonlinearity")])
def test_activation_option_on_a_cell_without_it(cell, option):
    for make in (lambda: rnnx.layer(cell, 2, 3, **{option: "tanh"}),
                 lambda: rnnx.Model(cell, 2, 3, **{option: "tanh"})):
        with pytest.raises((ValueError, TypeError)) as e:
            make()
        msg = str(e.value)
        assert msg.startswith(option), msg
        assert CELLS[cell].title in msg and "options" in msg, msg


# ========================================================================================================
# d. reference vs fused
# ========================================================================================================
def _fused_variants():
    out = []
    for cell, s in CELLS.items():
        for vid, opts in s.variants.items():
            if "fused" in opts:
                continue
            k = rnnx.layer(cell, 2, 3, **opts).kernel.name
            if "/fused" in k:
                out.append(pytest.param(cell, vid, id=vid))
    return out


FUSED_VARIANTS = _fused_variants()


def test_every_cell_has_fused_variants():
    by_cell = {p.values[0] for p in FUSED_VARIANTS}
    assert by_cell == set(CELLS), by_cell
    ids = {p.values[1] for p in FUSED_VARIANTS}
    assert {"rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru", "gru_reset_before"} <= ids, ids


@pytest.mark.parametrize("target", [_target(NUMPY), _target(TORCH)])
@pytest.mark.parametrize("cell,vid", FUSED_VARIANTS)
def test_fused_step_equals_reference_step(cell, vid, target):
    """The fused kernel's outputs and gradients equal the textbook reference kernel's
    (fused=False) to <= 1e-13, two layers, bidirectional, with lengths; fused=True is the
    fused kernel."""
    opts = dict(CELLS[cell].variants[vid])
    kw = dict(num_layers=2, bidirectional=True)
    fused = rnnx.layer(cell, 3, 4, **kw, **opts)
    forced = rnnx.layer(cell, 3, 4, **kw, **opts, fused=True)
    ref = rnnx.layer(cell, 3, 4, **kw, **opts, fused=False)
    assert "/fused" in fused.kernel.name and forced.kernel.name == fused.kernel.name
    assert "/reference" in ref.kernel.name
    assert fused.param_shapes() == ref.param_shapes()
    d = inputs(fused, 5, 3, seed=41, scale=1.5)
    lengths = np.array([5, 1, 3])
    a, _ = run(fused, d, target, lengths=lengths)
    b, _ = run(ref, d, target, lengths=lengths)
    assert_all_close(a, b, FUSED_TOL, f"{vid} fused vs reference on {target.id}")


def _uncovered():
    out = []
    for cell, s in CELLS.items():
        for vid, opts in s.variants.items():
            if "fused" in opts:
                continue
            if "/reference" in rnnx.layer(cell, 2, 3, **opts).kernel.name:
                out.append(pytest.param(cell, vid, id=vid))
    return out


@pytest.mark.parametrize("cell,vid", _uncovered())
def test_fused_true_where_not_covered_is_an_error(cell, vid):
    opts = CELLS[cell].variants[vid]
    with pytest.raises(ValueError) as e:
        rnnx.layer(cell, 2, 3, **opts, fused=True)
    msg = str(e.value)
    assert msg.startswith("fused"), msg
    assert "fused=None or False" in msg, msg


def test_fused_true_where_not_covered_names_fused_for_every_cell():
    for make in (lambda: rnnx.RNN(2, 3, nonlinearity="sigmoid", fused=True),
                 lambda: rnnx.LSTM(2, 3, activation="relu", fused=True),
                 lambda: rnnx.LSTM(2, 3, recurrent_activation="hard_sigmoid", proj_size=1, fused=True),
                 lambda: rnnx.GRU(2, 3, recurrent_activation="linear", fused=True),
                 lambda: rnnx.GRU(2, 3, reset_after=False, activation="sigmoid", fused=True)):
        with pytest.raises(ValueError, match=r"^fused: "):
            make()
    for bad in ("yes", 1, 0):
        with pytest.raises(TypeError, match=r"^fused: .*" + repr(bad)):
            rnnx.LSTM(2, 3, fused=bad)


# ========================================================================================================
# e. configuration round trips
# ========================================================================================================
ALL_VARIANTS = [pytest.param(c, v, id=v) for c, s in CELLS.items() for v in s.variants]
LAYER_KW = dict(num_layers=2, bidirectional=True, dropout=0.25, bias=False, batch_first=True)


@pytest.mark.parametrize("cell,vid", ALL_VARIANTS)
def test_layer_config_round_trip(cell, vid):
    opts = CELLS[cell].variants[vid]
    for kw in ({}, LAYER_KW):
        layer = rnnx.layer(cell, 3, 4, **kw, **opts)
        cfg = layer.config()
        cfg_json = json.loads(json.dumps(cfg))
        assert cfg_json == cfg, "JSON-able"
        for back in (rnnx.layer_from_config(cfg), rnnx.layer_from_config(cfg_json), type(layer).from_config(cfg)):
            assert back == layer
            assert back.config() == cfg
            assert back.kernel.name == layer.kernel.name
            assert back.param_shapes() == layer.param_shapes()
            assert type(back) is type(layer)
        for k, v in {**kw, **opts}.items():
            assert cfg[k] == v, (k, cfg[k], v)
        assert set(CELLS[cell].option_names) <= set(cfg)
    # a changed option is another layer
    other = {**layer.config(), "dropout": 0.5}
    assert rnnx.layer_from_config(other) != layer


@pytest.mark.parametrize("cell,vid", ALL_VARIANTS)
def test_model_config_carries_every_layer_option(cell, vid):
    opts = CELLS[cell].variants[vid]
    kw = dict(num_layers=2, bidirectional=True, dropout=0.3, bias=False)
    m = rnnx.Model(cell, 3, 4, output_size=2, output_activation="sigmoid", objective="many-to-many", **kw, **opts)
    cfg = m.config()
    assert json.loads(json.dumps(cfg)) == cfg
    for k, v in {**kw, **opts}.items():
        assert cfg[k] == v, (k, cfg.get(k), v)
    for o in CELLS[cell].option_names:
        assert o in cfg
    back = rnnx.Model.from_config(cfg)
    assert back.config() == cfg
    assert back.layer == m.layer and back.param_shapes() == m.param_shapes()
    assert back.layer.kernel.name == m.layer.kernel.name


def test_save_load_round_trip_of_a_proj_size_lstm_model(tmp_path):
    m = rnnx.Model("lstm", 3, 5, output_size=2, num_layers=2, bidirectional=True, proj_size=2, dropout=0.2,
                   activation="tanh", recurrent_activation="sigmoid", objective="many-to-many")
    p = m.init_params(np, seed=3, dtype=np.float64)
    assert p["weight_hr_l1_reverse"].shape == (2, 5) and p["weight_hy"].shape == (2, 4)
    path = str(tmp_path / "proj.npz")
    rnnx.save(path, m, p)
    back, q = rnnx.load(path)
    assert isinstance(back, rnnx.Model)
    assert back.config() == m.config() and back.layer.proj_size == 2 and back.layer.dropout == 0.2
    assert q.keys() == p.keys()
    for k in p:
        np.testing.assert_array_equal(np.asarray(q[k]), p[k])
    x = np.random.default_rng(3).standard_normal((4, 2, 3))
    np.testing.assert_array_equal(back.predict(q, x)[0], m.predict(p, x)[0])
    # the layer alone, too
    rnnx.save(str(tmp_path / "layer.npz"), m.layer, {k: v for k, v in p.items() if k not in ("weight_hy", "bias_y")})
    lay, _ = rnnx.load(str(tmp_path / "layer.npz"))
    assert lay == m.layer and lay.param_shapes()["weight_hr_l0"] == (2, 5)
    # a file of another projection is refused where a model is expected
    with pytest.raises(ValueError, match="proj_size"):
        rnnx.load(path, expect=rnnx.Model.from_config({**m.config(), "proj_size": 1}))
