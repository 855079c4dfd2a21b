"""Weight converters: load weights from the real library, run the same input through both,
outputs and gradients agree (float64 <= 1e-12, float32 <= 2e-6); round trips are exact;
bad weights and unsupported options raise errors naming the key or option."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rnnx.testing import rel_err
from rnnx.interop import from_flax, from_keras, from_torch, to_flax, to_keras, to_torch
from rnnx.interop._common import ConversionError

T, B, I, H = 5, 3, 4, 3


def rnnx_run(layer, params, x, dy, state0=None):
    """Outputs and gradients of <y, dy> from rnnx (NumPy)."""
    y, state, cache = layer.forward(params, x, state0)
    dp, dx, ds0 = layer.backward(params, cache, dy)
    return y, dp, dx


# -- PyTorch ------------------------------------------------------------------------------------
torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")

TORCH = [("RNN", dict(nonlinearity="relu")), ("RNN", {}), ("LSTM", {}), ("GRU", {}),
         ("LSTM", dict(num_layers=2, bidirectional=True)), ("GRU", dict(bias=False, batch_first=True)),
         ("RNN", dict(num_layers=3, bidirectional=True, batch_first=True))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind,kw", TORCH, ids=[f"{k}-{'-'.join(f'{a}={b}' for a, b in kw.items())}" for k, kw in TORCH])
def test_from_torch_agrees_and_round_trips(kind, kw, dtype):
    tdt = getattr(torch, dtype)
    torch.manual_seed(0)
    mod = getattr(torch.nn, kind)(I, H, dtype=tdt, **kw)
    with torch.no_grad():  # non-zero biases
        for n, p in mod.named_parameters():
            if n.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    layer, params = from_torch(mod, xp=np)
    assert layer.batch_first == mod.batch_first and layer.num_layers == mod.num_layers
    rng = np.random.default_rng(0)
    shape = (B, T, I) if mod.batch_first else (T, B, I)
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt, _ = mod(xt)
    dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    (yt * torch.tensor(dy)).sum().backward()
    y, dp, dx = rnnx_run(layer, params, x, dy)
    tol = 1e-12 if dtype == "float64" else 2e-6
    assert rel_err(y, yt.detach().numpy()) <= tol
    assert rel_err(dx, xt.grad.numpy()) <= (tol if dtype == "float64" else 1e-5)
    for n, p in mod.named_parameters():
        assert rel_err(dp[n], p.grad.numpy()) <= (tol if dtype == "float64" else 1e-5), n
    back = to_torch(params, layer)
    assert type(back) is type(mod)
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), mod.state_dict().values()))
    layer2, params2 = from_torch(mod.state_dict(), xp=np, nonlinearity=kw.get("nonlinearity", "tanh"))
    assert all(np.array_equal(params2[k], params[k]) for k in params)


def test_torch_linear_head_round_trip():
    lin = torch.nn.Linear(6, 2, dtype=torch.float64)
    _, head = from_torch(lin, xp=np)
    assert head["weight_hy"].shape == (2, 6) and head["bias_y"].shape == (2,)
    back = to_torch(head)
    assert torch.equal(back.weight, lin.weight) and torch.equal(back.bias, lin.bias)


def test_torch_bad_state_dicts():
    sd = {k: v.clone() for k, v in torch.nn.LSTM(I, H, num_layers=2).state_dict().items()}
    bad = dict(sd)
    del bad["bias_hh_l1"]
    with pytest.raises(ConversionError, match=r"missing key\(s\) \['bias_hh_l1'\]"):
        from_torch(bad)
    with pytest.raises(ConversionError, match=r"unexpected key\(s\) \['weight_hr_l0'\]"):
        from_torch({**sd, "weight_hr_l0": torch.zeros(3, 3)})
    with pytest.raises(ConversionError, match=r"weight_hh_l1 has shape \(12, 4\), expected \(12, 3\)"):
        from_torch({**sd, "weight_hh_l1": torch.zeros(12, 4)})
    with pytest.raises(ConversionError, match="2 gates, expected 1"):
        from_torch({"weight_ih_l0": torch.zeros(6, 4), "weight_hh_l0": torch.zeros(6, 3)})
    with pytest.raises(ConversionError, match="proj_size=2 is not supported"):
        from_torch(torch.nn.LSTM(I, H, proj_size=2))
    with pytest.raises(ConversionError, match="expected nn.RNN/LSTM/GRU, nn.Linear or a state dict"):
        from_torch(torch.nn.Conv1d(1, 1, 1))


# -- Keras 3 (JAX backend) ------------------------------------------------------------------------
def _keras64(monkeypatch):
    """Keras 3.15 computes float64 layers partly in float32: ``result_type`` maps every
    64-bit result to 32 bits (keras-team/keras#23223), so e.g. ``ops.tanh`` of a float64
    tensor is float32.  The float64 comparisons switch that demotion off, and nothing else."""
    keras = _keras()
    from keras.src.backend.common import dtypes

    monkeypatch.setattr(dtypes, "BIT64_TO_BIT32_DTYPE", {})
    return keras


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnx[keras]'")
    if keras.backend.backend() != "jax":
        pytest.skip(f"keras runs on {keras.backend.backend()}; these tests use its JAX backend")
    from rnnx.backends import Target

    Target("jax", "cpu").namespace()  # float64 on
    return keras


KERAS = [("LSTM", {}), ("GRU", {}), ("GRU", dict(reset_after=False)), ("SimpleRNN", {}),
         ("SimpleRNN", dict(activation="relu")), ("LSTM", dict(use_bias=False)), ("GRU", dict(use_bias=False))]


def _keras_layer(keras, kind, kw, dtype, bidirectional=False):
    lay = getattr(keras.layers, kind)(H, return_sequences=True, dtype=dtype,
                                      bias_initializer=keras.initializers.RandomUniform(-0.5, 0.5, seed=1),
                                      kernel_initializer=keras.initializers.GlorotUniform(seed=2),
                                      recurrent_initializer=keras.initializers.Orthogonal(seed=3), **kw)
    if bidirectional:
        lay = keras.layers.Bidirectional(lay, dtype=dtype)
    lay.build((B, T, I))
    return lay


def _keras_grads(keras, lay, x, dy):
    import jax
    import jax.numpy as jnp

    tv = [v.value for v in lay.trainable_variables]
    ntv = [v.value for v in lay.non_trainable_variables]

    def f(tv, x):
        y, _ = lay.stateless_call(tv, ntv, x)
        return jnp.sum(y * dy), y

    (_, y), (gtv, gx) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(tv, jnp.asarray(x))
    return np.asarray(y), [np.asarray(g) for g in gtv], np.asarray(gx)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind,kw", KERAS, ids=[f"{k}-{'-'.join(f'{a}={b}' for a, b in kw.items())}" for k, kw in KERAS])
def test_from_keras_agrees_and_round_trips(kind, kw, bidirectional, dtype, monkeypatch):
    keras = _keras64(monkeypatch) if dtype == "float64" else _keras()
    from rnnx.interop.keras import _to_torch_layout

    if kind == "GRU" and kw.get("use_bias") is False and dtype == "float32":
        pytest.skip("Keras 3.15's own GRU(use_bias=False) fails in float32 when JAX has float64 enabled "
                    "(its scan carry turns float64); the float64 case covers the conversion")
    lay = _keras_layer(keras, kind, kw, dtype, bidirectional)
    layer, params = from_keras(lay, xp=np)
    assert layer.batch_first and layer.bidirectional == bidirectional
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    dy = rng.standard_normal((B, T, H * (2 if bidirectional else 1))).astype(dtype)
    ky, kgrads, kdx = _keras_grads(keras, lay, x, dy)
    y, dp, dx = rnnx_run(layer, params, x, dy)
    tol, gtol = (1e-12, 1e-12) if dtype == "float64" else (2e-6, 1e-5)
    assert rel_err(y, ky) <= tol
    assert rel_err(dx, kdx) <= gtol
    per_dir = len(kgrads) // (2 if bidirectional else 1)
    for d in range(2 if bidirectional else 1):
        cell = (lay.forward_layer if d == 0 else lay.backward_layer).cell if bidirectional else lay.cell
        desc = {"kind": kind, "use_bias": cell.use_bias, "reset_after": getattr(cell, "reset_after", True),
                "weights": kgrads[d * per_dir : (d + 1) * per_dir]}
        for k, g in _to_torch_layout(desc, 0, d).items():
            if k.startswith("bias_hh") and not (kind == "GRU" and desc["reset_after"]):
                continue  # Keras has one bias there; rnnx's bias_hh gradient equals bias_ih's
            assert rel_err(dp[k], g) <= gtol, k
    weights = lambda: [np.array(v.value) for v in lay.weights]  # noqa: E731
    before = weights()
    to_keras(params, lay)
    assert all(np.array_equal(a, b) for a, b in zip(before, weights()))


def test_keras_stacked_layers(monkeypatch):
    keras = _keras64(monkeypatch)
    l1 = _keras_layer(keras, "LSTM", {}, "float64")
    l2 = keras.layers.LSTM(H, return_sequences=True, dtype="float64")
    l2.build((B, T, H))
    layer, params = from_keras([l1, l2], xp=np)
    assert layer.num_layers == 2
    x = np.random.default_rng(2).standard_normal((B, T, I))
    y, _ = layer(params, x)
    assert rel_err(y, np.asarray(l2(l1(x)))) <= 1e-12


def test_keras_unsupported_options():
    keras = _keras()
    with pytest.raises(ConversionError, match="recurrent_activation='hard_sigmoid' is not supported"):
        from_keras(_keras_layer(keras, "LSTM", dict(recurrent_activation="hard_sigmoid"), "float64"))
    with pytest.raises(ConversionError, match="GRU activation='relu' is not supported"):
        from_keras(_keras_layer(keras, "GRU", dict(activation="relu"), "float64"))
    with pytest.raises(ConversionError, match=r"go_backwards=True\) outside Bidirectional"):
        from_keras(_keras_layer(keras, "LSTM", dict(go_backwards=True), "float64"))
    bi = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True), merge_mode="sum")
    bi.build((B, T, I))
    with pytest.raises(ConversionError, match="merge_mode='sum'"):
        from_keras(bi)
    with pytest.raises(ConversionError, match="Dense is not supported"):
        d = keras.layers.Dense(3)
        d.build((B, I))
        from_keras(d)
    with pytest.warns(UserWarning, match=r"dropout=0.3\) is a training-time option"):
        from_keras(_keras_layer(keras, "LSTM", dict(dropout=0.3), "float64"))


# -- Flax ---------------------------------------------------------------------------------------------
def _flax():
    pytest.importorskip("flax", reason="flax is not installed: pip install 'rnnx[flax]'")
    from rnnx.backends import Target

    Target("jax", "cpu").namespace()
    import jax.numpy as jnp
    from flax import linen, nnx

    return nnx, linen, jnp


def _run_cell(call, carry, x):
    """Unroll a Flax cell over time (x batch-first); returns outputs (B, T, H)."""
    import jax.numpy as jnp

    ys = []
    for t in range(x.shape[1]):
        carry, y = call(carry, x[:, t])
        ys.append(y)
    return jnp.stack(ys, axis=1)


NNX = ["LSTMCell", "OptimizedLSTMCell", "GRUCell", "SimpleCell"]


@pytest.mark.parametrize("kind", NNX)
def test_from_flax_nnx_agrees_and_round_trips(kind):
    nnx, linen, jnp = _flax()
    import jax

    cell = getattr(nnx, kind)(I, H, rngs=nnx.Rngs(0), param_dtype=jnp.float64, dtype=jnp.float64)
    for path, var in nnx.iter_graph(cell):  # non-zero biases
        if path and path[-1] == "bias":
            var[...] = jnp.linspace(-0.4, 0.4, var[...].shape[0], dtype=jnp.float64)
    layer, params = from_flax(cell, xp=np)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, T, I))
    dy = rng.standard_normal((B, T, H))
    carry0 = cell.initialize_carry((B, I), nnx.Rngs(1))

    def loss(cell, x):
        return jnp.sum(_run_cell(cell, carry0, x) * dy)

    fy = _run_cell(cell, carry0, jnp.asarray(x))
    gcell, gx = nnx.grad(loss, argnums=(0, 1))(cell, jnp.asarray(x))
    y, dp, dx = rnnx_run(layer, params, x, dy)
    assert rel_err(y, fy) <= 1e-12 and rel_err(dx, gx) <= 1e-12
    gcell_as_module = nnx.merge(nnx.graphdef(cell), gcell)  # the gradients in the cell's own structure
    _, gp = from_flax(gcell_as_module, xp=np)
    for k in ("weight_ih_l0", "weight_hh_l0"):
        assert rel_err(dp[k], gp[k]) <= 1e-12, k
    bias_key = "bias_hh_l0" if kind in ("LSTMCell", "OptimizedLSTMCell") else "bias_ih_l0"
    assert rel_err(dp[bias_key], gp[bias_key]) <= 1e-12
    before = jax.tree_util.tree_map(np.asarray, nnx.state(cell, nnx.Param))
    to_flax(params, cell)
    after = jax.tree_util.tree_map(np.asarray, nnx.state(cell, nnx.Param))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)))


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "SimpleCell"])
def test_from_flax_linen_agrees_and_round_trips(kind):
    nnx, linen, jnp = _flax()
    import jax

    mod = getattr(linen, kind)(H, param_dtype=jnp.float64, dtype=jnp.float64)
    x = np.random.default_rng(4).standard_normal((B, T, I))
    carry0 = mod.initialize_carry(jax.random.PRNGKey(0), (B, I))
    variables = mod.init(jax.random.PRNGKey(1), carry0, jnp.asarray(x[:, 0]))
    variables = jax.tree_util.tree_map(lambda a: a + 0.1, variables)  # non-zero biases
    layer, params = from_flax(mod, variables, xp=np)
    fy = _run_cell(lambda c, xt: mod.apply(variables, c, xt), carry0, jnp.asarray(x))
    dy = np.random.default_rng(5).standard_normal(fy.shape)

    def loss(v, x):
        return jnp.sum(_run_cell(lambda c, xt: mod.apply(v, c, xt), carry0, x) * dy)

    gv, gx = jax.grad(loss, argnums=(0, 1))(variables, jnp.asarray(x))
    y, dp, dx = rnnx_run(layer, params, x, dy)
    assert rel_err(y, fy) <= 1e-12 and rel_err(dx, gx) <= 1e-12
    _, gp = from_flax(mod, gv, xp=np)  # the gradients in rnnx's layout
    bias = "bias_hh_l0" if kind == "LSTMCell" else "bias_ih_l0"  # where Flax has its bias
    for k in ("weight_ih_l0", "weight_hh_l0", bias):
        assert rel_err(dp[k], gp[k]) <= 1e-12, k
    if kind == "GRUCell":  # linen's hn bias: the n rows of bias_hh
        assert rel_err(dp["bias_hh_l0"][2 * H :], gp["bias_hh_l0"][2 * H :]) <= 1e-12
    back = to_flax(params, mod, variables)
    la, lb = jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(variables)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(variables)
    assert all(np.array_equal(a, b) for a, b in zip(la, lb))


def test_flax_other_cell_errors():
    nnx, linen, jnp = _flax()
    import jax

    gru = linen.GRUCell(H)
    v = gru.init(jax.random.PRNGKey(0), gru.initialize_carry(jax.random.PRNGKey(0), (B, I)), jnp.ones((B, I)))
    with pytest.raises(ConversionError, match=r"linen LSTMCell params: missing \['ii', 'if'.*another cell's params"):
        from_flax(linen.LSTMCell(H), v)
    _, lstm_params = from_flax(nnx.LSTMCell(I, H, rngs=nnx.Rngs(0)), xp=np)
    with pytest.raises(ConversionError, match=r"weight_ih_l0 has shape \(12, 4\), expected \(9, 4\).*GRUCell"):
        to_flax(lstm_params, nnx.GRUCell(I, H, rngs=nnx.Rngs(0)))
    with pytest.raises(ConversionError, match="residual=True"):
        from_flax(nnx.SimpleCell(I, H, residual=True, rngs=nnx.Rngs(0)))
    with pytest.raises(ConversionError, match="gate_fn='hard_sigmoid'"):
        import jax.nn

        from_flax(nnx.LSTMCell(I, H, gate_fn=jax.nn.hard_sigmoid, rngs=nnx.Rngs(0)))
