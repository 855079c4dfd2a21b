"""Weight converters: load weights from the real library, run the same input through both,
outputs and gradients agree (float64 <= 1e-12, float32 <= 2e-6); round trips are exact;
bad weights and unsupported options raise errors naming the key or option."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from rnnx.interop import from_flax, from_keras, from_torch, to_flax, to_keras, to_torch
from rnnx.interop._common import ConversionError
from rnnx.testing.harness import rel_err

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
    with pytest.raises(ConversionError, match=r"from_torch: proj_size: expected 0 <= proj_size < hidden_size=3 "
                                              r"\(torch's rule\), got 3"):
        from_torch({**sd, "weight_hr_l0": torch.zeros(3, 3)})  # weight_hr_l0 (P, H): proj_size = P
    gru = torch.nn.GRU(I, H).state_dict()
    with pytest.raises(ConversionError, match=r"unexpected key\(s\) \['weight_hr_l0'\]"):
        from_torch({**gru, "weight_hr_l0": torch.zeros(2, 3)})  # a GRU has no projection
    with pytest.raises(ConversionError, match=r"nonlinearity='relu' does not apply to the LSTM this state dict holds"):
        from_torch(sd, nonlinearity="relu")
    with pytest.raises(ConversionError, match=r"nonlinearity='relu' does not apply to GRU \(its options: reset_after"):
        from_torch(torch.nn.GRU(I, H), nonlinearity="relu")
    with pytest.raises(ConversionError, match=r"nonlinearity='tanh' given, but the module has nonlinearity='relu'"):
        from_torch(torch.nn.RNN(I, H, nonlinearity="relu"), nonlinearity="tanh")
    with pytest.raises(ConversionError, match=r"weight_hh_l1 has shape \(12, 4\), expected \(12, 3\)"):
        from_torch({**sd, "weight_hh_l1": torch.zeros(12, 4)})
    with pytest.raises(ConversionError, match=r"2 gates \(no cell has that many\), expected 1 \(RNN\), 3 \(GRU\), 4 \(LSTM\)"):
        from_torch({"weight_ih_l0": torch.zeros(6, 4), "weight_hh_l0": torch.zeros(6, 3)})
    with pytest.raises(ConversionError, match="expected nn.RNN/LSTM/GRU, nn.Linear or a state dict"):
        from_torch(torch.nn.Conv1d(1, 1, 1))


def test_torch_lstm_proj_size_lengths_bidirectional_agree_and_round_trip():
    """nn.LSTM(proj_size=P), 2 layers, bidirectional, dropout (eval: inference), packed
    variable lengths, non-zero biases and initial states: outputs, final states and every
    gradient (weights incl. weight_hr, x, h0, c0) equal torch's in float64."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    T, B, I, H, P, L = 6, 4, 3, 5, 2, 2
    torch.manual_seed(1)
    mod = torch.nn.LSTM(I, H, num_layers=L, bidirectional=True, proj_size=P, dropout=0.3, dtype=torch.float64)
    mod.eval()  # torch computes no dropout in eval(), nor does rnnx's inference
    with torch.no_grad():
        for n, p in mod.named_parameters():
            if n.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    layer, params = from_torch(mod, xp=np)
    assert (layer.proj_size, layer.dropout, layer.num_layers, layer.bidirectional) == (P, 0.3, L, True)
    assert params["weight_hr_l1_reverse"].shape == (P, H) and params["weight_hh_l0"].shape == (4 * H, P)
    rng = np.random.default_rng(7)
    x, lengths = rng.standard_normal((T, B, I)), np.array([6, 2, 1, 5])
    h0, c0 = rng.standard_normal((2 * L, B, P)), rng.standard_normal((2 * L, B, H))
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    packed, (hn, cn) = mod(pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False), (h0t, c0t))
    yt, _ = pad_packed_sequence(packed, total_length=T)
    dy, dh, dc = (rng.standard_normal(tuple(a.shape)) for a in (yt, hn, cn))
    ((yt * torch.tensor(dy)).sum() + (hn * torch.tensor(dh)).sum() + (cn * torch.tensor(dc)).sum()).backward()
    y, (h, c), cache = layer.forward(params, x, (h0, c0), lengths=lengths)
    dp, dx, (dh0, dc0) = layer.backward(params, cache, dy, (dh, dc))
    for got, want in ((y, yt), (h, hn), (c, cn), (dx, xt.grad), (dh0, h0t.grad), (dc0, c0t.grad)):
        assert rel_err(got, want.detach().numpy()) <= 1e-12
    assert sorted(dp) == sorted(n for n, _ in mod.named_parameters())
    for n, p in mod.named_parameters():
        assert rel_err(dp[n], p.grad.numpy()) <= 1e-12, n
    back = to_torch(params, layer)
    assert (back.proj_size, back.dropout, back.num_layers, back.bidirectional) == (P, 0.3, L, True)
    assert list(back.state_dict()) == list(mod.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), mod.state_dict().values()))
    layer2, params2 = from_torch(mod.state_dict(), xp=np)  # proj_size from weight_hr_l0's shape
    assert layer2.proj_size == P and layer2.param_shapes() == layer.param_shapes()
    assert all(np.array_equal(params2[k], params[k]) for k in params)


def test_torch_dropout_carried_over():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer, params = from_torch(torch.nn.GRU(I, H, num_layers=3, dropout=0.25), xp=np)
    assert layer.dropout == 0.25 and to_torch(params, layer).dropout == 0.25
    with pytest.warns(UserWarning, match="non-zero dropout"):  # torch's own warning
        one = torch.nn.LSTM(I, H, dropout=0.5)
    with pytest.warns(UserWarning, match=r"LSTM\(dropout=0.5, num_layers=1\): torch applies dropout between stacked "
                                         r"layers only.*dropout=0"):
        layer, _ = from_torch(one)
    assert layer.dropout == 0.0
    with pytest.raises(ConversionError, match=r"to_torch: LSTM\(4, 3, activation='sigmoid'\) has no torch.nn "
                                              r"equivalent \(torch.nn.LSTM cannot compute activation='sigmoid'\)"):
        import rnnx

        lay = rnnx.layer("lstm", I, H, activation="sigmoid")
        to_torch(lay.init_params(np), lay)


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
    keras = pytest.importorskip("keras", reason="keras is not installed: pip install -e '.[keras]'")
    if keras.backend.backend() != "jax":
        pytest.skip(f"keras runs on {keras.backend.backend()}; these tests use its JAX backend")
    from rnnx.backends import Target

    Target("jax", "cpu").namespace()  # float64 on
    return keras


KERAS = [("LSTM", {}), ("GRU", {}), ("GRU", dict(reset_after=False)), ("SimpleRNN", {}),
         ("SimpleRNN", dict(activation="relu")), ("LSTM", dict(use_bias=False)), ("GRU", dict(use_bias=False))]
#: Keras activation pairs, float64: every activation at least once for each of LSTM, GRU
#: (reset_after True and False) and SimpleRNN (tanh and relu run in KERAS).
KERAS_ACTIVATIONS = [
    ("LSTM", dict(activation="sigmoid", recurrent_activation="hard_sigmoid")),
    ("LSTM", dict(activation="relu", recurrent_activation="linear")),
    ("LSTM", dict(activation="hard_sigmoid", recurrent_activation="tanh")),
    ("LSTM", dict(activation="linear", recurrent_activation="relu")),
    ("GRU", dict(activation="relu", recurrent_activation="hard_sigmoid")),
    ("GRU", dict(activation="linear", recurrent_activation="tanh")),
    ("GRU", dict(activation="sigmoid", recurrent_activation="relu")),
    ("GRU", dict(reset_after=False, activation="hard_sigmoid", recurrent_activation="linear")),
    ("GRU", dict(reset_after=False, activation="sigmoid", recurrent_activation="relu")),
    ("GRU", dict(reset_after=False, activation="tanh", recurrent_activation="hard_sigmoid")),
    ("SimpleRNN", dict(activation="sigmoid")),
    ("SimpleRNN", dict(activation="hard_sigmoid")),
    ("SimpleRNN", dict(activation="linear")),
]


def _ids(cases):
    return [f"{k}-{'-'.join(f'{a}={b}' for a, b in kw.items())}" for k, kw in cases]


def _keras_layer(keras, kind, kw, dtype, bidirectional=False):
    lay = getattr(keras.layers, kind)(H, return_sequences=True, dtype=dtype,
                                      bias_initializer=keras.initializers.RandomUniform(-0.5, 0.5, seed=1),
                                      kernel_initializer=keras.initializers.GlorotUniform(seed=2),
                                      recurrent_initializer=keras.initializers.Orthogonal(seed=3), **kw)
    if bidirectional:
        lay = keras.layers.Bidirectional(lay, dtype=dtype)
    lay.build((B, T, I))
    return lay


def _keras_grads(keras, lay, x, loss):
    """Keras's output and the gradients of ``loss(y)`` with respect to its trainable
    variables (in their order) and x, through ``stateless_call`` and ``jax.grad``."""
    import jax
    import jax.numpy as jnp

    tv = [v.value for v in lay.trainable_variables]
    ntv = [v.value for v in lay.non_trainable_variables]

    def f(tv, x):
        y, _ = lay.stateless_call(tv, ntv, x)
        return loss(y), y

    (_, y), (gtv, gx) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(tv, jnp.asarray(x))
    return np.asarray(y), [np.asarray(g) for g in gtv], np.asarray(gx)


def _keras_in_rnnx_layout(keras, obj, grads):
    """Gradients of a Keras layer / Sequential's variables in rnnx's layout: written into a
    clone and read back by from_keras (the converter is linear in the weights)."""
    if type(obj).__name__ == "Sequential":
        clone = keras.models.clone_model(obj)
    else:
        clone = obj.__class__.from_config(obj.get_config())
        clone.build((B, T, obj.weights[0].shape[0]))
    clone.set_weights(grads)
    return from_keras(clone, xp=np)[1]


def _check_keras_layer(keras, lay, kind, kw, dtype, bidirectional):
    """Outputs and gradients of <y, dy> agree with Keras; to_keras writes the weights back."""
    layer, params = from_keras(lay, xp=np)
    assert layer.batch_first and layer.bidirectional == bidirectional
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    dy = rng.standard_normal((B, T, H * (2 if bidirectional else 1))).astype(dtype)
    ky, kgrads, kdx = _keras_grads(keras, lay, x, lambda y: (y * dy).sum())
    y, dp, dx = rnnx_run(layer, params, x, dy)
    tol, gtol = (1e-12, 1e-12) if dtype == "float64" else (2e-6, 1e-5)
    assert rel_err(y, ky) <= tol
    assert rel_err(dx, kdx) <= gtol
    gp = _keras_in_rnnx_layout(keras, lay, kgrads)
    for k, g in gp.items():
        if k.startswith("bias_hh") and not (kind == "GRU" and kw.get("reset_after", True)):
            g = gp[k.replace("bias_hh", "bias_ih")]  # Keras has one bias there: both rnnx biases' gradient
        assert rel_err(dp[k], g) <= gtol, k
    before = [np.array(v.value) for v in lay.weights]
    for v in lay.weights:  # to_keras must write every weight
        v.assign(np.zeros(v.shape, dtype=v.dtype))
    assert to_keras(params, lay) is lay
    assert all(np.array_equal(a, np.array(v.value)) for a, v in zip(before, lay.weights))
    return layer


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind,kw", KERAS, ids=_ids(KERAS))
def test_from_keras_agrees_and_round_trips(kind, kw, bidirectional, dtype, monkeypatch):
    keras = _keras64(monkeypatch) if dtype == "float64" else _keras()
    if kind == "GRU" and kw.get("use_bias") is False and dtype == "float32":
        pytest.skip("Keras 3.15's own GRU(use_bias=False) fails in float32 when JAX has float64 enabled "
                    "(its scan carry turns float64); the float64 case covers the conversion")
    _check_keras_layer(keras, _keras_layer(keras, kind, kw, dtype, bidirectional), kind, kw, dtype, bidirectional)


@pytest.mark.parametrize("kind,kw", KERAS_ACTIVATIONS, ids=_ids(KERAS_ACTIVATIONS))
def test_from_keras_activations_agree(kind, kw, monkeypatch):
    """Keras's activation= / recurrent_activation= (SimpleRNN: activation= -> nonlinearity)
    become the cell's options; float64 outputs and gradients <= 1e-12."""
    keras = _keras64(monkeypatch)
    bidirectional = kind == "GRU" and kw["activation"] == "sigmoid"  # one bidirectional pair per GRU form
    layer = _check_keras_layer(keras, _keras_layer(keras, kind, kw, "float64", bidirectional), kind, kw, "float64",
                               bidirectional)
    want = {k: v for k, v in kw.items() if k != "reset_after"}
    if kind == "SimpleRNN":
        want = {"nonlinearity": want["activation"]}
    assert {k: layer.options[k] for k in want} == want


def test_keras_unknown_activations():
    keras = _keras()
    allowed = r"expected one of 'tanh', 'sigmoid', 'relu', 'hard_sigmoid', 'linear'"

    def custom(x):
        return x * 2.0

    cases = [("LSTM", dict(activation="softmax"), "activation='softmax'"),
             ("GRU", dict(recurrent_activation="elu"), "recurrent_activation='elu'"),
             ("SimpleRNN", dict(activation=custom), "activation='custom'")]
    for kind, kw, what in cases:
        lay = _keras_layer(keras, kind, kw, "float64")
        with pytest.raises(ConversionError, match=rf"from_keras: layer '{lay.name}' \({kind}\): {what} is not "
                                                  rf"computed by rnnx; {allowed}"):
            from_keras(lay)


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
    l3 = keras.layers.LSTM(H, return_sequences=True, activation="relu", dtype="float64")
    l3.build((B, T, H))
    with pytest.raises(ConversionError, match=rf"layer '{l3.name}' has options=\{{'activation': 'relu', "
                                              r"'recurrent_activation': 'sigmoid'\} but layer .* has \{'activation': "
                                              r"'tanh'.*one kind of layer throughout"):
        from_keras([l1, l3])


def test_keras_unsupported_options(monkeypatch):
    keras = _keras64(monkeypatch)
    lay = _keras_layer(keras, "LSTM", dict(stateful=True), "float64")
    with pytest.raises(ConversionError, match=rf"layer '{lay.name}' \(LSTM\): stateful=True is not computed by rnnx"):
        from_keras(lay)
    lay = _keras_layer(keras, "LSTM", dict(go_backwards=True), "float64")
    with pytest.raises(ConversionError, match=rf"layer '{lay.name}' \(LSTM\): go_backwards=True outside Bidirectional"):
        from_keras(lay)
    bi = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True), merge_mode="sum")
    bi.build((B, T, I))
    with pytest.raises(ConversionError, match=rf"layer '{bi.name}' \(Bidirectional\): merge_mode='sum' is not"):
        from_keras(bi)
    d = keras.layers.Dense(3)
    d.build((B, I))
    with pytest.raises(ConversionError, match=rf"layer '{d.name}' \(Dense\) comes before any recurrent layer"):
        from_keras(d)
    with pytest.warns(UserWarning, match=r"\(LSTM\): dropout=0.3 is a training-time option .* exact for inference"):
        from_keras(_keras_layer(keras, "LSTM", dict(dropout=0.3), "float64"))
    with pytest.warns(UserWarning, match=r"\(GRU\): recurrent_dropout=0.2 is a training-time option"):
        from_keras(_keras_layer(keras, "GRU", dict(recurrent_dropout=0.2), "float64"))
    # the same maths: unroll, use_cudnn and return_state are accepted
    x = np.random.default_rng(3).standard_normal((B, T, I))
    lay = _keras_layer(keras, "GRU", dict(unroll=True, use_cudnn=False, return_state=True), "float64")
    layer, params = from_keras(lay, xp=np)
    ky, kh = lay(x)
    y, h = layer(params, x)
    assert rel_err(y, np.asarray(ky)) <= 1e-12 and rel_err(h[0], np.asarray(kh)) <= 1e-12


def _keras_model_check(keras, model, x, target):
    """from_keras of a Sequential ending in Dense: pred (time-major in rnnx) equals Keras's
    model(x), and the MSE loss's gradients (every weight and x) agree; to_keras writes the
    params back exactly.  Returns (rnnx Model, worst errors)."""
    from rnnx.losses import LOSSES

    rmodel, params = from_keras(model, xp=np)
    ky_call = np.asarray(model(x))
    xt = x.transpose(1, 0, 2)  # rnnx's Model is time-major: (T, B, I); Keras takes (B, T, I)
    pred, _, cache = rmodel.forward(params, xt)
    pred_bt = pred.transpose(1, 0, 2) if rmodel.objective == "many-to-many" else pred
    loss, dpred = LOSSES["mse"](pred, target.transpose(1, 0, 2) if pred.ndim == 3 else target, xp=np)
    grads, dx, _ = rmodel.backward(params, cache, dpred)
    ky, kgrads, kdx = _keras_grads(keras, model, x, lambda y: ((y - target) ** 2).mean())
    gp = _keras_in_rnnx_layout(keras, model, kgrads)
    errs = {"y": rel_err(pred_bt, ky_call), "y (stateless)": rel_err(pred_bt, ky),
            "loss": rel_err(loss, ((ky - target) ** 2).mean()), "dx": rel_err(dx.transpose(1, 0, 2), kdx)}
    for k, g in gp.items():
        if k.startswith("bias_hh") and not (rmodel.cell == "gru" and rmodel.layer.reset_after):
            g = gp[k.replace("bias_hh", "bias_ih")]  # Keras's one bias: both rnnx biases' gradient
        errs[f"d{k}"] = rel_err(grads[k], g)
    assert max(errs.values()) <= 1e-12, errs
    before = [np.array(v.value) for v in model.weights]
    for v in model.weights:  # to_keras must write every weight, the Dense's included
        v.assign(np.zeros(v.shape, dtype=v.dtype))
    assert to_keras(params, model) is model
    assert all(np.array_equal(a, np.array(v.value)) for a, v in zip(before, model.weights))
    return rmodel, errs


def _floatx64(keras):
    """Keras's float64 default for the layers built inside (floatx and the dtype policy),
    restored after: the course's model is written without dtype= arguments."""
    class Scope:
        def __enter__(self):
            self.old = keras.config.floatx(), keras.config.dtype_policy()
            keras.config.set_floatx("float64")
            keras.config.set_dtype_policy("float64")

        def __exit__(self, *exc):
            keras.config.set_floatx(self.old[0])
            keras.config.set_dtype_policy(self.old[1])

    return Scope()


def _seeded_weights(model, rng):
    """Every weight drawn from ``rng`` (the run is reproducible): kernels U(-1/sqrt(n),
    1/sqrt(n)) with n their rows, biases U(-0.5, 0.5) (non-zero, the Dense's included)."""
    for v in model.weights:
        k = 0.5 if v.path.endswith("bias") else 1.0 / np.sqrt(v.shape[0])
        v.assign(rng.uniform(-k, k, v.shape))


def test_keras_course_lstm_dense_model(monkeypatch):
    """The course notes' model, as written there, loads through from_keras and agrees with
    Keras's model(x), loss and gradients to <= 1e-12 (float64)."""
    keras = _keras64(monkeypatch)
    from keras.layers import LSTM, Dense, Input
    from keras.models import Sequential

    n_steps, n_features, batch = 7, 2, 5
    with _floatx64(keras):
        model = Sequential([Input((n_steps, n_features)),
                            LSTM(50, activation='sigmoid', return_sequences=True),
                            Dense(1)])
    rng = np.random.default_rng(11)
    _seeded_weights(model, rng)
    x = rng.standard_normal((batch, n_steps, n_features))
    target = rng.standard_normal((batch, n_steps, 1))
    rmodel, errs = _keras_model_check(keras, model, x, target)
    assert (rmodel.cell, rmodel.layer.hidden_size, rmodel.objective, rmodel.output_activation) == (
        "lstm", 50, "many-to-many", "none")
    assert (rmodel.layer.options["activation"], rmodel.layer.options["recurrent_activation"]) == ("sigmoid", "sigmoid")
    print("course model worst errors:", {k: f"{v:.2e}" for k, v in errs.items()})


def test_keras_stacked_gru_dropout_dense_many_to_one(monkeypatch):
    keras = _keras64(monkeypatch)
    L = keras.layers
    with _floatx64(keras):
        model = keras.Sequential([L.Input((T, I)), L.GRU(4, return_sequences=True, recurrent_activation="hard_sigmoid"),
                                  L.Dropout(0.2), L.GRU(4, recurrent_activation="hard_sigmoid"),
                                  L.Dense(2, activation="tanh")])
    rng = np.random.default_rng(12)
    _seeded_weights(model, rng)
    rmodel, _ = _keras_model_check(keras, model, rng.standard_normal((B, T, I)), rng.standard_normal((B, 2)))
    assert (rmodel.layer.num_layers, rmodel.layer.dropout, rmodel.objective, rmodel.output_activation,
            rmodel.output_size) == (2, 0.2, "many-to-one", "tanh", 2)


def test_keras_sequential_errors(monkeypatch):
    keras = _keras64(monkeypatch)
    L = keras.layers

    def seq(*layers):
        with _floatx64(keras):
            m = keras.Sequential([L.Input((T, I)), *layers])
        return m

    cases = [
        (seq(L.LSTM(3), L.Dense(1, activation="relu")), r"\(Dense\): activation='relu' is not computed by rnnx's head; "
                                                        r"expected one of None, 'linear', 'tanh', 'sigmoid'"),
        (seq(L.LSTM(3, return_sequences=True), L.Dense(3), L.LSTM(2)), r"\(Dense\) is not the last layer"),
        (seq(L.LSTM(3, return_sequences=True), L.Dropout(0.1), L.Dense(1)),
         r"\(Dropout\) follows the last recurrent layer; rnnx has dropout only between recurrent layers"),
        (seq(L.Dropout(0.1), L.LSTM(3), L.Dense(1)), r"\(Dropout\)\(rate=0.1\): rnnx has dropout only between"),
        (seq(L.GRU(3, return_sequences=True), L.Dropout(0.1), L.GRU(3, return_sequences=True), L.Dropout(0.3),
             L.GRU(3), L.Dense(1)), r"one p; expected a Dropout of the same rate in each of the 2 gaps, got rates "
                                    r"\[0.1, 0.3\]"),
        (seq(L.GRU(3, return_sequences=True), L.Dropout(0.1, noise_shape=(None, 1, None)), L.GRU(3), L.Dense(1)),
         r"noise_shape=\(None, 1, None\) shares masks across an axis"),
        (seq(L.LSTM(3, return_sequences=True), L.LayerNormalization(), L.Dense(1)),
         r"\(LayerNormalization\) is not supported; expected LSTM, GRU, SimpleRNN"),
        (seq(L.Bidirectional(L.LSTM(3)), L.Dense(1)), r"Bidirectional with return_sequences=False gives the backward "
                                                       r"layer's state"),
    ]
    for model, match in cases:
        with pytest.raises(ConversionError, match=match):
            from_keras(model)
    ok = seq(L.GRU(3, return_sequences=True), L.Dropout(0.0), L.GRU(3, return_sequences=True), L.Dense(2))
    rmodel, params = from_keras(ok, xp=np)  # Dropout(0) is the identity; a list of layers works like a Sequential
    rmodel2, params2 = from_keras(list(ok.layers), xp=np)
    assert rmodel.config() == rmodel2.config() and rmodel.layer.dropout == 0.0
    layer, _ = from_keras(list(ok.layers)[:3], xp=np)  # no Dense: a batch-first layer
    assert layer.batch_first and layer.num_layers == 2
    with _floatx64(keras):  # float64 layers
        nobias = seq(L.SimpleRNN(3, activation="hard_sigmoid"), L.Dense(2, use_bias=False, activation="sigmoid"))
    rmodel, params = from_keras(nobias, xp=np)
    assert not params["bias_y"].any() and rmodel.output_activation == "sigmoid"
    x = np.random.default_rng(4).standard_normal((B, T, I))
    assert rel_err(rmodel.predict(params, x.transpose(1, 0, 2))[0], np.asarray(nobias(x))) <= 1e-12
    with pytest.raises(ConversionError, match=r"to_keras: layer '.*' \(Dense\) has use_bias=False; expected bias_y = 0"):
        to_keras({**params, "bias_y": params["bias_y"] + 1.0}, nobias)


# -- Flax ---------------------------------------------------------------------------------------------
def _flax():
    pytest.importorskip("flax", reason="flax is not installed: pip install -e '.[flax]'")
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
    with pytest.raises(ConversionError, match=r"SimpleCell\(residual=True\) is not computed by rnnx"):
        from_flax(nnx.SimpleCell(I, H, residual=True, rngs=nnx.Rngs(0)))
    with pytest.raises(ConversionError, match=r"from_flax: LSTMCell gate_fn='softplus' is not computed by rnnx; "
                                              r"expected one of jax.numpy.tanh, jax.nn.sigmoid, jax.nn.relu, "
                                              r"jax.nn.hard_sigmoid"):
        from_flax(nnx.LSTMCell(I, H, gate_fn=jax.nn.softplus, rngs=nnx.Rngs(0)))
    with pytest.raises(ConversionError, match=r"from_flax: GRUCell activation_fn='<lambda>' is not computed by rnnx"):
        from_flax(nnx.GRUCell(I, H, activation_fn=lambda v: v, rngs=nnx.Rngs(0)))
    with pytest.raises(ConversionError, match=r"nnx.RNN\(reverse=True\) is not computed by rnnx"):
        from_flax(nnx.RNN(nnx.GRUCell(I, H, rngs=nnx.Rngs(0)), reverse=True))


FLAX_ACTIVATIONS = [("LSTMCell", "relu", "hard_sigmoid"), ("GRUCell", "hard_sigmoid", "tanh"),
                    ("SimpleCell", "sigmoid", None)]


@pytest.mark.parametrize("kind,act,gate", FLAX_ACTIVATIONS, ids=[k for k, *_ in FLAX_ACTIVATIONS])
def test_from_flax_activations_agree(kind, act, gate):
    """Flax's activation_fn / gate_fn become the cell's activation / recurrent_activation
    (SimpleCell: nonlinearity); outputs and gradients agree in float64."""
    nnx, linen, jnp = _flax()
    import jax

    fns = {"relu": jax.nn.relu, "hard_sigmoid": jax.nn.hard_sigmoid, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}
    kw = {"activation_fn": fns[act], **({"gate_fn": fns[gate]} if gate else {})}
    cell = getattr(nnx, kind)(I, H, rngs=nnx.Rngs(0), param_dtype=jnp.float64, dtype=jnp.float64, **kw)
    for path, var in nnx.iter_graph(cell):  # non-zero biases
        if path and path[-1] == "bias":
            var[...] = jnp.linspace(-0.4, 0.4, var[...].shape[0], dtype=jnp.float64)
    layer, params = from_flax(nnx.RNN(cell, time_major=True), xp=np)
    assert not layer.batch_first
    want = {"nonlinearity": act} if kind == "SimpleCell" else {"activation": act, "recurrent_activation": gate}
    assert {k: layer.options[k] for k in want} == want
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))
    carry0 = cell.initialize_carry((B, I), nnx.Rngs(1))

    def loss(cell, x):
        return jnp.sum(_run_cell(cell, carry0, jnp.swapaxes(x, 0, 1)) * jnp.swapaxes(dy, 0, 1))

    gcell, gx = nnx.grad(loss, argnums=(0, 1))(cell, jnp.asarray(x))
    y, dp, dx = rnnx_run(layer, params, x, dy)
    assert rel_err(y, np.swapaxes(np.asarray(_run_cell(cell, carry0, jnp.asarray(x.swapaxes(0, 1)))), 0, 1)) <= 1e-12
    assert rel_err(dx, gx) <= 1e-12
    _, gp = from_flax(nnx.merge(nnx.graphdef(cell), gcell), xp=np)
    for k in ("weight_ih_l0", "weight_hh_l0"):
        assert rel_err(dp[k], gp[k]) <= 1e-12, k
    to_flax(params, cell)  # the same activations: accepted


# -- fine-tuning a converted Keras model: Keras's numbers (one bias per gate) -------------------
KERAS_FINE_TUNE = [("LSTM", {}, False), ("GRU", dict(reset_after=False), False), ("GRU", {}, False),
                   ("SimpleRNN", {}, False), ("LSTM", {}, True)]


@pytest.mark.parametrize("kind,kw,bidirectional", KERAS_FINE_TUNE,
                         ids=[f"{i}{'-bi' if b else ''}" for i, b in zip(_ids([c[:2] for c in KERAS_FINE_TUNE]),
                                                                        [c[2] for c in KERAS_FINE_TUNE])])
def test_from_keras_fine_tunes_like_keras(kind, kw, bidirectional, monkeypatch):
    """rnnx.fit of a converted Keras model (30 Adam updates, no extra flags) gives the
    weights Keras's own fit gives, float64: Keras has one bias per gate where rnnx has
    bias_ih and bias_hh (GRU reset_after=True: two), so the converted Model freezes the
    bias_hh it lacks (model.frozen); training both moved the effective bias twice as fast
    (LSTM: 1e-2 off after 30 updates)."""
    import rnnx
    from rnnx import optim

    keras = _keras64(monkeypatch)
    old = keras.config.floatx()
    keras.config.set_floatx("float64")  # Keras's loss and optimizer variables in float64 too
    try:
        L = keras.layers
        rng = np.random.default_rng(5)
        n, bs, epochs = 6, 2, 10  # 3 batches a epoch: 30 updates
        # Bidirectional: many-to-many (from_keras refuses its return_sequences=False)
        x, y = rng.normal(size=(n, T, I)), rng.normal(size=(n, T, 1) if bidirectional else (n, 1))
        rec = getattr(L, kind)(H, return_sequences=bidirectional, bias_initializer=keras.initializers.RandomUniform(-0.5, 0.5, seed=1),
                               kernel_initializer=keras.initializers.GlorotUniform(seed=2),
                               recurrent_initializer=keras.initializers.Orthogonal(seed=3), dtype="float64", **kw)
        if bidirectional:
            rec = L.Bidirectional(rec, dtype="float64")
        km = keras.Sequential([L.Input((T, I), dtype="float64"), rec, L.Dense(1, dtype="float64")])
        model, params = from_keras(km, xp=np)
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01, epsilon=0.0), loss="mse")
        km.fit(x, y, batch_size=bs, epochs=epochs, shuffle=False, verbose=0)
        _, want = from_keras(km, xp=np)
    finally:
        keras.config.set_floatx(old)
    out = rnnx.fit(model, x, y, epochs=epochs, batch_size=bs, optimizer=optim.Adam(lr=0.01, eps=0.0),
                   params=params, shuffle=False, verbose=0)
    assert not np.array_equal(want["weight_ih_l0"], params["weight_ih_l0"])  # Keras trained
    for k, v in want.items():
        err = np.max(np.abs(np.asarray(out.params[k]) - v))
        assert err <= 1e-12, (k, err)


def test_from_keras_frozen_names_the_bias_keras_lacks(monkeypatch):
    """model.frozen: bias_hh of every layer and direction with one Keras bias; none for a
    reset_after=True GRU or use_bias=False; fit(freeze=()) trains it all the same."""
    import rnnx

    keras = _keras()
    L = keras.layers

    def seq(*rec):
        return keras.Sequential([L.Input((T, I)), *rec, L.Dense(1)])

    lstm = seq(L.Bidirectional(L.LSTM(H, return_sequences=True)), L.Bidirectional(L.LSTM(H, return_sequences=True)))
    assert from_keras(lstm, xp=np)[0].frozen == ("bias_hh_l0", "bias_hh_l0_reverse", "bias_hh_l1",
                                                 "bias_hh_l1_reverse")
    assert from_keras(seq(L.GRU(H, reset_after=False)), xp=np)[0].frozen == ("bias_hh_l0",)
    assert from_keras(seq(L.SimpleRNN(H)), xp=np)[0].frozen == ("bias_hh_l0",)
    assert from_keras(seq(L.GRU(H)), xp=np)[0].frozen == ()
    assert from_keras(seq(L.LSTM(H, use_bias=False)), xp=np)[0].frozen == ()
    model, params = from_keras(seq(L.LSTM(H)), xp=np)
    x, y = np.random.default_rng(0).normal(size=(4, T, I)).astype(np.float32), np.zeros((4, 1), np.float32)
    kept = rnnx.fit(model, x, y, epochs=1, batch_size=2, params=params, shuffle=False, lr=0.1)
    both = rnnx.fit(model, x, y, epochs=1, batch_size=2, params=params, shuffle=False, lr=0.1, freeze=())
    assert np.array_equal(kept.params["bias_hh_l0"], params["bias_hh_l0"])
    assert not np.array_equal(both.params["bias_hh_l0"], params["bias_hh_l0"])
