"""Gradient flow collected from the explicit backward pass (``collect=``) against autodiff,
and the diagnostics of :mod:`rnnx.diagnostics`.

The reference is written here, independent of rnnx's kernels: the cells with torch's
equations and gate order on the same parameters, a loop with packed-sequence semantics, and
additive zero perturbations e on each h_t (and c_t), on each direction's input x_t: dL/de
is the flow (``jax.grad``; torch: ``h_t.retain_grad()`` and zero leaves on nn.*Cell loops).
Gate saturation against a direct NumPy count; the Jacobian profile against explicit products
of per-step Jacobians (torch autograd).
"""

from __future__ import annotations

import array_api_compat as compat
import numpy as np
import pytest

import rnnx
from rnnx import diagnostics, losses
from rnnx.random import dropout_mask

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")

TOL = 1e-12
T, B, I, H = 5, 3, 2, 3


def _sig(a, xp):
    return 1.0 / (1.0 + xp.exp(-a))


def _jnp_cell(cell, p, x_t, s):
    """One step with torch's equations and gate order (plain array ops)."""
    xp = compat.array_namespace(x_t)
    a_x = x_t @ xp.matrix_transpose(p["weight_ih"]) + p["bias_ih"]
    a_h = s[0] @ xp.matrix_transpose(p["weight_hh"]) + p["bias_hh"]
    if cell == "rnn":
        return (xp.tanh(a_x + a_h),)
    if cell == "lstm":
        a = a_x + a_h
        i, f, o = _sig(a[:, :H], xp), _sig(a[:, H : 2 * H], xp), _sig(a[:, 3 * H :], xp)
        c = f * s[1] + i * xp.tanh(a[:, 2 * H : 3 * H])
        return (o * xp.tanh(c), c)
    r, z = _sig(a_x[:, :H] + a_h[:, :H], xp), _sig(a_x[:, H : 2 * H] + a_h[:, H : 2 * H], xp)
    n = xp.tanh(a_x[:, 2 * H :] + r * a_h[:, 2 * H :])
    return ((1.0 - z) * n + z * s[0],)


def reference_y(cell, params, x, lengths, *, L, D, step, perturb, perturb_x, drops=None):
    """y (T, B, D*H) of an L-layer, D-direction network; ``step(l, d, x_t, s)`` is the cell,
    ``perturb(l, d, t, new, m)`` returns the state after step t (the perturbation hook),
    ``perturb_x(l, d, x)`` the input direction d reads; ``drops[l]`` layer l's dropout mask."""
    xp = compat.array_namespace(x)
    nT, nB = x.shape[0], x.shape[1]
    if lengths is None:
        mask = xp.ones((nT, nB, 1), dtype=xp.bool)
    else:
        mask = (xp.arange(nT)[:, None] < xp.asarray(lengths)[None, :])[..., None]
    inp = x
    for layer in range(L):
        if drops is not None and layer > 0:
            inp = inp * drops[layer]
        outs = []
        for d in range(D):
            xin = perturb_x(layer, d, inp)
            s = tuple(xp.zeros((nB, H), dtype=x.dtype) for _ in range(2 if cell == "lstm" else 1))
            hs = [None] * nT
            for t in reversed(range(nT)) if d else range(nT):
                new = step(layer, d, xin[t], s)
                new = tuple(xp.where(mask[t], n, o) for n, o in zip(new, s))  # past the end: keep the state
                s = perturb(layer, d, t, new, mask[t])
                hs[t] = xp.where(mask[t], s[0], 0.0)
            outs.append(xp.stack(hs))
        inp = outs[0] if D == 1 else xp.concat(outs, axis=-1)
    return inp


def _dir_params(params, layer, d):
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    return {b: params[b + sfx] for b in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def _eps(L, D, fan0, zeros):
    fan = [fan0] + [D * H] * (L - 1)
    return {"h": zeros((L, D, T, B, H)), "c": zeros((L, D, T, B, H)),
            "x": [zeros((D, T, B, fan[layer])) for layer in range(L)]}


def _perturbed(cell, e, params, x, lengths, loss_of_y, *, L, D, drops):
    """loss_of_y(y, params) of the reference with the perturbations ``e`` added."""
    xp = compat.array_namespace(x)

    def perturb(layer, d, t, new, m):
        out = (new[0] + xp.where(m, e["h"][layer, d, t], 0.0),)
        return out + ((new[1] + xp.where(m, e["c"][layer, d, t], 0.0),) if cell == "lstm" else ())

    y = reference_y(cell, params, x, lengths, L=L, D=D, drops=drops,
                    step=lambda layer, d, x_t, s: _jnp_cell(cell, _dir_params(params, layer, d), x_t, s),
                    perturb=perturb, perturb_x=lambda layer, d, a: a + e["x"][layer][d])
    return loss_of_y(y, params)


def jax_flows(cell, params, x, lengths, loss_of_y, *, L, D, drops=None):
    """dL/de for zero perturbations e of h_t, c_t and each direction's input: jax.grad."""
    jp = {k: jnp.asarray(v) for k, v in params.items()}
    drops = None if drops is None else {k: jnp.asarray(v) for k, v in drops.items()}
    loss = lambda e: _perturbed(cell, e, jp, jnp.asarray(x), lengths, loss_of_y, L=L, D=D, drops=drops)  # noqa: E731
    return jax.grad(loss)(_eps(L, D, x.shape[-1], jnp.zeros))


def torch_flows(cell, params, x, lengths, loss_of_y, *, L, D, drops=None):
    """The same dL/de by torch autograd (zero leaves)."""
    tp = {k: torch.from_numpy(v) for k, v in params.items()}
    drops = None if drops is None else {k: torch.from_numpy(v) for k, v in drops.items()}
    e = _eps(L, D, x.shape[-1], lambda shape: torch.zeros(shape, dtype=torch.float64, requires_grad=True))
    _perturbed(cell, e, tp, torch.from_numpy(x), lengths, loss_of_y, L=L, D=D, drops=drops).backward()
    return {"h": e["h"].grad, "c": e["c"].grad if cell == "lstm" else None, "x": [a.grad for a in e["x"]]}


def _norms(a):
    return np.sqrt(np.sum(np.asarray(a) ** 2, axis=-1))


def assert_flows(flow, ref, cell, *, units):
    """``flow`` (rnnx, GradientFlow) equals the reference dL/de (units, or their norms)."""
    f = (lambda a: np.asarray(a)) if units else _norms
    np.testing.assert_allclose(np.asarray(flow.h), f(ref["h"]), rtol=0, atol=TOL)
    if cell == "lstm":
        np.testing.assert_allclose(np.asarray(flow.c), f(ref["c"]), rtol=0, atol=TOL)
    else:
        assert flow.c is None
    xs = flow.x if units else [flow.x[layer] for layer in range(len(ref["x"]))]
    for got, want in zip(xs, ref["x"]):
        np.testing.assert_allclose(np.asarray(got), f(want), rtol=0, atol=TOL)
    assert np.max(np.asarray(flow.h)) > 1e-3  # a flow that is not all zeros


def _data(seed=0, i=I):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, B, i)), rng.normal(size=(T, B, 1))


MODEL_CASES = [  # cell, num_layers, bidirectional, lengths, objective, dropout
    (cell, L, bi, ln, obj, 0.0)
    for cell in ("rnn", "lstm", "gru")
    for L, bi, ln, obj in ((2, True, [5, 3, 1], "many-to-many"), (1, False, None, "many-to-one"),
                           (2, True, [2, 5, 4], "many-to-one"))
] + [("lstm", 2, False, [4, 5, 2], "many-to-many", 0.4)]
JAX_CASES = {1, 4}  # jax.grad (eager, slow) on these; torch autograd on every case


def _loss_of_y(objective, lens, target):
    def loss_of_y(y, p):
        xp = compat.array_namespace(y)
        if objective == "many-to-many":
            h = y
        else:
            h = y[-1] if lens is None else y[xp.asarray(lens - 1), xp.arange(B)]
        pred = h @ xp.matrix_transpose(p["weight_hy"]) + p["bias_y"]
        mask = None
        if lens is not None and objective == "many-to-many":
            mask = xp.arange(T)[:, None] < xp.asarray(lens)[None, :]
        return losses.mse(pred, xp.asarray(target), xp=xp, mask=mask)[0]

    return loss_of_y


@pytest.mark.parametrize("case, reference", [pytest.param(c, "jax" if i in JAX_CASES else "torch", id=f"{i}-{c[0]}")
                                  for i, c in enumerate(MODEL_CASES)]
                         + [pytest.param(c, "torch", id=f"{i}-{c[0]}-torch")
                            for i, c in enumerate(MODEL_CASES) if i in JAX_CASES])
def test_model_flows_match_autodiff_of_perturbations(case, reference):
    cell, L, bi, lengths, objective, p_drop = case
    D = 2 if bi else 1
    model = rnnx.Model(cell, I, H, objective=objective, num_layers=L, bidirectional=bi, dropout=p_drop)
    params = model.init_params(np, seed=1, dtype=np.float64)
    x, target = _data()
    if objective == "many-to-one":
        target = target[0]
    seed = 7 if p_drop else None
    lens = None if lengths is None else np.asarray(lengths)
    drops = None
    if p_drop:
        drops = {layer: dropout_mask(seed, layer, (T, B, D * H), p_drop, xp=compat.array_namespace(x),
                                     dtype=np.float64, device="cpu") for layer in range(1, L)}
    flows = jax_flows if reference == "jax" else torch_flows
    ref = flows(cell, params, x, lengths, _loss_of_y(objective, lens, target), L=L, D=D, drops=drops)
    value, grads, _ = model.loss_and_grad(params, x, target, lengths=lens, seed=seed)
    for collect in ("norms", "units"):
        v2, g2, _, flow = model.loss_and_grad(params, x, target, lengths=lens, seed=seed, collect=collect)
        assert flow.collect == collect
        assert_flows(flow, ref, cell, units=collect == "units")
        assert np.array_equal(value, v2) and all(np.array_equal(grads[k], g2[k]) for k in grads)
    if lengths is not None:  # padded steps hold 0
        pad = np.arange(T)[:, None] >= lens[None, :]
        assert np.all(np.asarray(flow.h)[:, :, pad] == 0.0) and np.all(np.asarray(flow.x[0])[:, pad] == 0.0)


@pytest.mark.parametrize("checkpoint", [None, 2, "sqrt"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_layer_flows_with_checkpoint_and_dstate(cell, checkpoint):
    """Layer level, loss <y, G> + <final h, G_s>: dstate enters the last valid step."""
    L, D, lengths = 2, 2, [5, 2, 4]
    layer = rnnx.layer(cell, I, H, num_layers=L, bidirectional=True)
    params = layer.init_params(np, seed=3, dtype=np.float64)
    x, _ = _data(1)
    rng = np.random.default_rng(5)
    G = rng.normal(size=(T, B, D * H))
    mask = (np.arange(T)[:, None] < np.asarray(lengths)[None, :])[..., None]
    G = np.where(mask, G, 0.0)

    ref = (jax_flows if (cell, checkpoint) == ("gru", 2) else torch_flows)(
        cell, params, x, lengths, lambda y, p: (y * compat.array_namespace(y).asarray(G)).sum(), L=L, D=D)
    y, _, cache = layer.forward(params, x, lengths=lengths, checkpoint=checkpoint)
    base = layer.backward(params, cache, G)
    *got, flow = layer.backward(params, cache, G, collect="units")
    assert_flows(flow, ref, cell, units=True)
    for a, b in zip(jax.tree_util.tree_leaves(base), jax.tree_util.tree_leaves(got)):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_torch_autograd_with_retained_h_t():
    """torch.nn.LSTMCell/GRUCell/RNNCell loops with copied weights: ``h_t.retain_grad()``
    for dL/dh_t (0 where padded), a zero leaf added to c_t and to each direction's input."""
    lengths = [5, 3, 1]
    x, _ = _data(2)
    G = np.random.default_rng(9).normal(size=(T, B, 2 * H))
    for cell, module in (("lstm", torch.nn.LSTMCell), ("gru", torch.nn.GRUCell), ("rnn", torch.nn.RNNCell)):
        layer = rnnx.layer(cell, I, H, num_layers=2, bidirectional=True)
        params = layer.init_params(np, seed=4, dtype=np.float64)
        cells = {}
        for layer_i in range(2):
            for d in range(2):
                m = module(I if layer_i == 0 else 2 * H, H).double()
                with torch.no_grad():
                    for b, v in _dir_params(params, layer_i, d).items():
                        getattr(m, b).copy_(torch.from_numpy(v))
                cells[layer_i, d] = m
        hs, cs = {}, {}
        ex = [torch.zeros((2, T, B, n), dtype=torch.float64, requires_grad=True) for n in (I, 2 * H)]

        def step(layer_i, d, x_t, s, cells=cells, cell=cell):
            out = cells[layer_i, d](x_t, s if cell == "lstm" else s[0])
            return out if cell == "lstm" else (out,)

        def perturb(layer_i, d, t, new, m, cell=cell):
            h = new[0]
            h.retain_grad()
            hs[layer_i, d, t] = (h, m)
            if cell != "lstm":
                return (h,)
            cs[layer_i, d, t] = torch.zeros((B, H), dtype=torch.float64, requires_grad=True)
            return (h, new[1] + torch.where(m, cs[layer_i, d, t], 0.0))

        y = reference_y(cell, None, torch.from_numpy(x), lengths, L=2, D=2, step=step, perturb=perturb,
                        perturb_x=lambda layer_i, d, a: a + ex[layer_i][d])
        torch.sum(y * torch.from_numpy(G)).backward()
        _, _, cache = layer.forward(params, x, lengths=lengths)
        *_, flow = layer.backward(params, cache, G, collect="norms")
        want_h = np.zeros((2, 2, T, B))
        want_c = np.zeros((2, 2, T, B))
        for (layer_i, d, t), (h, m) in hs.items():
            want_h[layer_i, d, t] = _norms(torch.where(m, h.grad, 0.0).numpy())
            if cell == "lstm":
                grad = cs[layer_i, d, t].grad  # None: c_t read by no later step (the last one)
                want_c[layer_i, d, t] = 0.0 if grad is None else _norms(grad.numpy())
        np.testing.assert_allclose(flow.h, want_h, rtol=0, atol=TOL)
        if cell == "lstm":
            np.testing.assert_allclose(flow.c, want_c, rtol=0, atol=TOL)
        for layer_i in range(2):
            np.testing.assert_allclose(flow.x[layer_i], _norms(ex[layer_i].grad.numpy()), rtol=0, atol=TOL)


def test_flows_under_jit_and_off_is_bit_identical_on_jax():
    """The flows are extra outputs of the compiled loop (lax.scan) under jax.jit: equal to
    NumPy's eager ones; eager JAX with collection off gives the same bits as on."""
    model = rnnx.Model("lstm", I, H, bidirectional=True, objective="many-to-many")
    x, target = _data(3)
    params = model.init_params(np, seed=2, dtype=np.float64)
    lens = np.asarray([5, 2, 4])
    want = model.loss_and_grad(params, x, target, lengths=lens, collect="norms")[3]
    jp = {k: jnp.asarray(v) for k, v in params.items()}
    x, target, lens = jnp.asarray(x), jnp.asarray(target), jnp.asarray(lens)
    jitted = jax.jit(lambda p, x, t, n: model.loss_and_grad(p, x, t, lengths=n, collect="norms"))(jp, x, target, lens)
    for a, b in ((want.h, jitted[3].h), (want.c, jitted[3].c), (want.x, jitted[3].x)):
        np.testing.assert_allclose(np.asarray(b), a, rtol=0, atol=TOL)
    small = rnnx.Model("gru", I, H)
    sp = {k: jnp.asarray(v) for k, v in small.init_params(np, seed=2, dtype=np.float64).items()}
    off = small.loss_and_grad(sp, x, target[0], lengths=lens)
    on = small.loss_and_grad(sp, x, target[0], lengths=lens, collect="norms")
    assert np.array_equal(off[0], on[0]) and all(np.array_equal(off[1][k], on[1][k]) for k in off[1])


def test_off_is_bit_identical_on_torch():
    model = rnnx.Model("gru", I, H, num_layers=2, bidirectional=True)
    x, target = _data(4)
    params = {k: torch.from_numpy(v) for k, v in model.init_params(np, seed=2, dtype=np.float64).items()}
    x, target = torch.from_numpy(x), torch.from_numpy(target[0])
    off = model.loss_and_grad(params, x, target, lengths=[5, 2, 3])
    on = model.loss_and_grad(params, x, target, lengths=[5, 2, 3], collect="units")
    assert torch.equal(off[0], on[0]) and all(torch.equal(off[1][k], on[1][k]) for k in off[1])
    assert on[3].h.shape == (2, 2, T, B, H)


def test_collect_shapes_unbatched_and_bad_input():
    layer = rnnx.layer("rnn", I, H)
    params = layer.init_params(np, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(T, I))
    y, _, cache = layer.forward(params, x)
    *_, flow = layer.backward(params, cache, np.ones_like(y), collect="norms")
    assert flow.h.shape == (1, 1, T) and flow.x.shape == (1, 1, T) and flow.c is None
    for bad in ("norm", True, 1):
        with pytest.raises(ValueError, match="collect: expected None, 'norms' or 'units', got"):
            layer.backward(params, cache, np.ones_like(y), collect=bad)
    model = rnnx.Model("rnn", I, H)
    with pytest.raises(ValueError, match="collect:"):
        model.loss_and_grad(model.init_params(np, dtype=np.float64), x[:, None, :], np.zeros((1, 1)), collect="all")


# -- gate saturation ------------------------------------------------------------------------------
def _np_gates(cell, p, x_t, s, act):
    """Gate activations {name: (B, H)} and the new state, torch's equations in NumPy."""
    phi = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}[act]
    a_x, a_h = x_t @ p["weight_ih"].T + p["bias_ih"], s[0] @ p["weight_hh"].T + p["bias_hh"]
    if cell == "rnn":
        h = phi(a_x + a_h)
        return {"h": h}, (h,)
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    if cell == "lstm":
        a = a_x + a_h
        gates = {"i": sig(a[:, :H]), "f": sig(a[:, H : 2 * H]), "g": phi(a[:, 2 * H : 3 * H]), "o": sig(a[:, 3 * H :])}
        c = gates["f"] * s[1] + gates["i"] * gates["g"]
        return gates, (gates["o"] * phi(c), c)
    r, z = sig(a_x[:, :H] + a_h[:, :H]), sig(a_x[:, H : 2 * H] + a_h[:, H : 2 * H])
    n = phi(a_x[:, 2 * H :] + r * a_h[:, 2 * H :])
    return {"r": r, "z": z, "n": n}, ((1.0 - z) * n + z * s[0],)


def _direct_counts(cell, params, x, lengths, act):
    """Saturated fractions (L=2, D=2) and dead units counted on gates recomputed here."""
    valid = np.arange(T)[:, None] < np.asarray(lengths)[None, :]
    rules = {"sigmoid": lambda y: (y < 0.01) | (y > 0.99), "tanh": lambda y: np.abs(y) > 0.99,
             "relu": lambda y: y <= 0.0}
    sat, dead, inp = {}, {}, x
    for layer in range(2):
        outs = []
        for d in range(2):
            p = _dir_params(params, layer, d)
            s = tuple(np.zeros((B, H)) for _ in range(2 if cell == "lstm" else 1))
            hs = np.zeros((T, B, H))
            for t in reversed(range(T)) if d else range(T):
                gates, new = _np_gates(cell, p, inp[t], s, act)
                m = valid[t][:, None]
                s = tuple(np.where(m, n, o) for n, o in zip(new, s))
                hs[t] = np.where(m, s[0], 0.0)
                for g, y in gates.items():
                    kind = act if g in ("h", "g", "n") else "sigmoid"
                    sat.setdefault(g, np.zeros((2, 2, T)))[layer, d, t] = rules[kind](y)[valid[t]].mean()
                    if kind == "relu":
                        was = dead.setdefault(g, np.ones((2, 2, H), dtype=bool))
                        was[layer, d] &= ~np.any((y > 0.0)[valid[t]], axis=0)
            outs.append(hs)
        inp = np.concatenate(outs, axis=-1)
    return sat, dead


@pytest.mark.parametrize("cell, act", [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu"),
                                       ("lstm", "relu")])
def test_gate_saturation_equals_a_direct_count(cell, act):
    opts = {"nonlinearity": act} if cell == "rnn" else ({"activation": act} if act != "tanh" else {})
    model = rnnx.Model(cell, I, H, num_layers=2, bidirectional=True, **opts)
    params = {k: 4.0 * v for k, v in model.init_params(np, seed=6, dtype=np.float64).items()}  # large: saturates
    if act == "relu":  # unit 0 of the relu gate in layer 0's forward direction never activates
        params["bias_ih_l0"] = params["bias_ih_l0"].copy()
        params["bias_ih_l0"][0 if cell == "rnn" else 2 * H] -= 1e3
    x = 3.0 * np.random.default_rng(8).normal(size=(T, B, I))
    lengths = [5, 2, 4]
    stats = diagnostics.gate_saturation(model, params, x, lengths=lengths)
    sat, dead = _direct_counts(cell, params, x, lengths, act)
    assert set(stats.saturated) == set(sat) and set(stats.dead) == set(dead)
    for g in sat:
        np.testing.assert_allclose(stats.saturated[g], sat[g], rtol=0, atol=1e-12)
        assert 0.0 < np.mean(sat[g]) < 1.0 or g == "f"
    for g in dead:
        assert np.array_equal(stats.dead[g], dead[g]) and dead[g][0, 0, 0]  # unit 0 of layer 0: bias -1000
    assert stats.rule["i" if cell == "lstm" else next(iter(sat))]
    layer_stats = diagnostics.gate_saturation(model.layer, params, x, lengths=lengths)
    assert all(np.array_equal(layer_stats.saturated[g], stats.saturated[g]) for g in sat)


def test_gate_saturation_empty_steps_and_bad_input():
    layer = rnnx.layer("gru", I, H, activation="linear")
    params = layer.init_params(np, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(T, B, I))
    stats = diagnostics.gate_saturation(layer, params, x, lengths=[2, 3, 1])
    assert set(stats.saturated) == {"r", "z"} and stats.dead == {}  # a linear gate never saturates
    assert np.all(np.isnan(stats.saturated["r"][0, 0, 3:])) and not np.any(np.isnan(stats.saturated["r"][0, 0, :3]))
    with pytest.raises(TypeError, match="model_or_layer: expected an rnnx Model or recurrent layer, got str"):
        diagnostics.gate_saturation("gru", params, x)


# -- Jacobian profile -----------------------------------------------------------------------------
def _explicit_profile(cell, params, x, probes):
    """||v^T dh_T/dh_t||, ||v^T dh_T/dc_t|| from explicit products of the step Jacobians
    (torch.autograd.functional.jacobian of one step of the reference cell), L = 2, D = 2,
    no lengths."""
    nc = 2 if cell == "lstm" else 1
    tp = {k: torch.from_numpy(v) for k, v in params.items()}
    nb, K = x.shape[1], probes.shape[3]
    out_h, out_c, inp = np.zeros((2, 2, T, nb, K)), np.zeros((2, 2, T, nb, K)), x
    for layer in range(2):
        outs = []
        for d in range(2):
            p = _dir_params(tp, layer, d)
            order = list(reversed(range(T))) if d else list(range(T))
            hs = np.zeros((T, nb, H))
            for b in range(nb):
                s, prev, steps = torch.zeros(nc * H, dtype=torch.float64), {}, {}
                for t in order:
                    x_t = torch.from_numpy(inp[t, b])[None, :]

                    def step(flat, x_t=x_t, p=p):  # one sequence: state (nc*H,) -> state
                        return torch.cat(_jnp_cell(cell, p, x_t, tuple(flat[None, k * H : (k + 1) * H]
                                                                       for k in range(nc))), dim=-1)[0]

                    prev[t], steps[t], s = s, step, step(s).detach()
                    hs[t, b] = s[:H].numpy()
                M = np.eye(nc * H)[:H]  # dh_T / d(state at the final step)
                for t in reversed(order):  # from the final step back to the first
                    for k in range(K):
                        w = probes[layer, d, b, k] @ M
                        out_h[layer, d, t, b, k] = np.linalg.norm(w[:H])
                        out_c[layer, d, t, b, k] = np.linalg.norm(w[H:])
                    M = M @ torch.autograd.functional.jacobian(steps[t], prev[t]).numpy()
            outs.append(hs)
        inp = np.concatenate(outs, axis=-1)
    return out_h, out_c


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_jacobian_profile_equals_explicit_jacobian_products(cell):
    model = rnnx.Model(cell, I, H, num_layers=2, bidirectional=True)
    params = {k: 2.0 * v for k, v in model.init_params(np, seed=11, dtype=np.float64).items()}
    x = np.random.default_rng(12).normal(size=(T, 2, I))
    prof = diagnostics.jacobian_profile(model, params, x, probes=2, seed=3)
    probes = np.asarray(prof.probes)
    assert probes.shape == (2, 2, 2, 2, H) and np.allclose(np.linalg.norm(probes, axis=-1), 1.0)
    want_h, want_c = _explicit_profile(cell, params, x, probes)
    np.testing.assert_allclose(prof.h, want_h, rtol=0, atol=1e-6)
    if cell == "lstm":
        np.testing.assert_allclose(prof.c, want_c, rtol=0, atol=1e-6)
    else:
        assert prof.c is None and prof.forget is None
    far = np.stack([want_h[:, 0, 0], want_h[:, 1, T - 1]], axis=1)  # (L, D, B, K)
    np.testing.assert_allclose(prof.growth, np.exp(np.mean(np.log(far), axis=(2, 3)) / (T - 1)), rtol=1e-10)
    for layer in range(2):
        for d in range(2):
            w = _dir_params(params, layer, d)["weight_hh"]
            assert abs(prof.w_hh_norm[layer, d] - np.linalg.svd(w, compute_uv=False)[0]) < 1e-12


def test_jacobian_profile_lengths_forget_gate_and_bad_input():
    layer = rnnx.layer("lstm", I, H, bidirectional=True)
    params = layer.init_params(np, seed=2, dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(T, 2, I))
    prof = diagnostics.jacobian_profile(layer, params, x, lengths=[5, 3], probes=3)
    alone = diagnostics.jacobian_profile(layer, params, x[:3, 1:], probes=3)  # sequence 1 without padding
    h = np.asarray(prof.h)
    assert np.all(h[:, :, 3:, 1] == 0.0) and np.allclose(h[0, 0, 4, 0], 1.0) and np.allclose(h[0, 1, 0], 1.0)
    assert np.all(h[:, :, :3, 1] > 0.0) and alone.h.shape == (1, 2, 3, 1, 3)
    f0 = np.asarray(diagnostics.jacobian_profile(layer, params, x[:, :1], probes=1).forget)
    f1 = np.asarray(alone.forget)  # the padded sequence's gates are those of it alone
    np.testing.assert_allclose(prof.forget[..., :3], (f0[..., :3] + f1) / 2, rtol=1e-12)
    np.testing.assert_allclose(prof.forget[..., 3:], f0[..., 3:], rtol=1e-12)  # only sequence 0 reaches t >= 3
    assert np.all((prof.forget > 0.0) & (prof.forget < 1.0))
    for kw, msg in (({"probes": 0}, "probes: expected a positive int, got 0"),
                    ({"seed": 1.5}, "seed: expected an int, got 1.5")):
        with pytest.raises((ValueError, TypeError), match=msg):
            diagnostics.jacobian_profile(layer, params, x, **kw)
