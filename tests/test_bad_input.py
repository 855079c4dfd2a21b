"""Bad input: each raises ValueError/TypeError naming the argument, what it got and what
it expected."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rnnx

T, B, I, H = 5, 2, 3, 4


@pytest.fixture
def lstm():
    layer = rnnx.LSTM(I, H, num_layers=2)
    return layer, layer.init_params(np, seed=0, dtype=np.float64)


@pytest.fixture
def gru():
    layer = rnnx.GRU(I, H)
    return layer, layer.init_params(np, seed=0, dtype=np.float64)


def x_(*shape, dtype=np.float64):
    return np.ones(shape or (T, B, I), dtype=dtype)


def raises(exc, *fragments):
    """pytest.raises that requires every fragment (literal text) in the message."""
    return pytest.raises(exc, match="".join(f"(?=[\\s\\S]*{re.escape(f)})" for f in fragments))


def test_x_wrong_rank(lstm):
    layer, p = lstm
    with raises(ValueError, "x:", "4-D shape (5, 2, 3, 1)", "(T, B, input_size)"):
        layer(p, x_(T, B, I, 1))
    with raises(ValueError, "x:", "1-D shape (3,)"):
        layer(p, x_(I))


def test_x_feature_size(lstm):
    layer, p = lstm
    with raises(ValueError, "x:", "input_size=3", "(5, 2, 7)"):
        layer(p, x_(T, B, 7))


def test_zero_time_steps(lstm):
    layer, p = lstm
    with raises(ValueError, "x:", "T=0", "(0, 2, 3)", "at least one time step"):
        layer(p, x_(0, B, I))
    bf = rnnx.LSTM(I, H, num_layers=2, batch_first=True)
    with raises(ValueError, "x:", "T=0", "(2, 0, 3)"):
        bf(p, x_(B, 0, I))


def test_integer_x(lstm):
    layer, p = lstm
    with raises(TypeError, "x:", "floating", "int64"):
        layer(p, np.ones((T, B, I), dtype=np.int64))


def test_mixed_float_dtypes(lstm):
    layer, p = lstm
    with raises(TypeError, "params['weight_ih_l0']", "float64", "x has dtype float32"):
        layer(p, x_(dtype=np.float32))
    h0 = np.zeros((2, B, H), dtype=np.float32)
    with raises(TypeError, "state0[0]", "float32", "float64"):
        layer(p, x_(), (h0, h0.astype(np.float64)))


def test_lstm_state_needs_a_pair(lstm):
    layer, p = lstm
    h0 = np.zeros((2, B, H))
    with raises(TypeError, "state0:", "tuple (h, c)", "LSTM", "ndarray"):
        layer(p, x_(), h0)
    with raises(TypeError, "state0:", "a 1-tuple"):
        layer(p, x_(), (h0,))


def test_gru_state_is_one_array(gru):
    layer, p = gru
    h0 = np.zeros((1, B, H))
    with raises(TypeError, "state0:", "one array", "GRU", "tuple"):
        layer(p, x_(), (h0, h0))


def test_state0_wrong_shape(lstm, gru):
    layer, p = lstm
    with raises(ValueError, "state0[1]", "expected shape (2, 2, 4)", "got (2, 2, 5)"):
        layer(p, x_(), (np.zeros((2, B, H)), np.zeros((2, B, 5))))
    layer, p = gru
    with raises(ValueError, "state0:", "expected shape (1, 2, 4)", "got (2, 2, 4)"):
        layer(p, x_(), np.zeros((2, B, H)))
    with raises(ValueError, "state0:", "expected shape (1, 4)", "got (1, 2, 4)"):
        layer(p, x_(T, I), np.zeros((1, B, H)))  # unbatched x takes an unbatched state


def test_params_missing_extra_and_shape(lstm):
    layer, p = lstm
    q = dict(p)
    del q["bias_hh_l1"]
    with raises(ValueError, "params:", "missing key(s) ['bias_hh_l1']", "expected exactly the keys"):
        layer(q, x_())
    q = dict(p, weight_ih_l2=p["weight_ih_l1"])
    with raises(ValueError, "params:", "unexpected key(s) ['weight_ih_l2']"):
        layer(q, x_())
    q = dict(p, weight_hh_l1=np.zeros((16, 5)))
    with raises(ValueError, "params['weight_hh_l1']", "expected shape (16, 4)", "got (16, 5)"):
        layer(q, x_())
    with raises(TypeError, "params:", "dict", "list"):
        layer(list(p.values()), x_())


def test_bias_false_rejects_bias_keys():
    layer = rnnx.GRU(I, H, bias=False)
    p = rnnx.GRU(I, H).init_params(np, dtype=np.float64)
    with raises(ValueError, "unexpected key(s) ['bias_ih_l0', 'bias_hh_l0']"):
        layer(p, x_())


def test_libraries_mixed(lstm):
    torch = pytest.importorskip("torch")
    layer, p = lstm
    with raises(TypeError, "different libraries", "torch: x", "numpy: params['weight_ih_l0']"):
        layer(p, torch.ones(T, B, I, dtype=torch.float64))


def test_devices_mixed():
    xps = pytest.importorskip("array_api_strict")
    layer = rnnx.GRU(I, H)
    p = layer.init_params(xps, dtype=xps.float64, device=xps.Device("device1"))
    x = xps.ones((T, B, I), dtype=xps.float64)  # default device: a forgotten device=
    with raises(ValueError, "different devices", "CPU_DEVICE", ": x", "device1", "params['weight_ih_l0']"):
        layer(p, x)


def test_lengths_checks(gru):
    layer, p = gru
    with raises(ValueError, "lengths:", "expected shape (2,)", "got (3,)"):
        layer(p, x_(), lengths=np.array([5, 5, 5]))
    with raises(TypeError, "lengths:", "integer", "float64"):
        layer(p, x_(), lengths=np.array([5.0, 3.0]))
    with raises(ValueError, "lengths:", "[1, T=5]", "[0, 5]"):
        layer(p, x_(), lengths=np.array([5, 0]))
    with raises(ValueError, "lengths:", "[1, T=5]", "[3, 6]"):
        layer(p, x_(), lengths=np.array([6, 3]))
    with raises(ValueError, "lengths:", "unbatched"):
        layer(p, x_(T, I), lengths=np.array([5]))
    y, _ = layer(p, x_(), lengths=[5, 3])  # a plain list is taken as an array
    assert np.all(y[3:, 1] == 0)


def test_dy_and_dstate_shapes(lstm):
    layer, p = lstm
    y, _, cache = layer.forward(p, x_())
    with raises(ValueError, "dy:", "expected shape (5, 2, 4)", "got (5, 2, 3)"):
        layer.backward(p, cache, np.ones((T, B, 3)))
    with raises(ValueError, "dy:", "expected shape (5, 2, 4)", "got (2, 5, 4)"):
        layer.backward(p, cache, np.ones((B, T, H)))
    with raises(TypeError, "dy:", "float32", "float64"):
        layer.backward(p, cache, np.ones((T, B, H), dtype=np.float32))
    with raises(TypeError, "dstate:", "tuple (h, c)"):
        layer.backward(p, cache, np.ones((T, B, H)), np.ones((2, B, H)))
    with raises(TypeError, "cache:", "Cache", "dict"):
        layer.backward(p, {}, np.ones((T, B, H)))


def test_constructor_arguments():
    with raises(ValueError, "hidden_size:", "positive int", "0"):
        rnnx.LSTM(3, 0)
    with raises(ValueError, "num_layers:", "positive int", "1.5"):
        rnnx.GRU(3, 4, num_layers=1.5)
    with raises(ValueError, "nonlinearity:", "'tanh'", "'relu'", "'hard_sigmoid'", "got 'softmax'"):
        rnnx.RNN(3, 4, nonlinearity="softmax")  # sigmoid is one of Keras's activations now
    with raises(TypeError, "batch_first:", "bool", "1"):
        rnnx.RNN(3, 4, batch_first=1)
    with raises(TypeError, "dtype:", "real floating", "int32"):
        rnnx.RNN(3, 4).init_params(np, dtype=np.int32)


def test_data_errors_name_the_parameter(tmp_path):
    """rnnx.data / rnnx.data.dataset name their parameters (the CLI maps them to flags)."""
    from rnnx import data
    from rnnx.data.dataset import build

    with raises(data.DataError, "csv: file", "does not exist"):
        data.load_csv(str(tmp_path / "no.csv"), "v")
    (tmp_path / "a.csv").write_text("t,v\n0,1.0\n1,x\n")
    with raises(data.DataError, "column: 'w' is not a column", "['t', 'v']"):
        data.load_csv(str(tmp_path / "a.csv"), "w")
    with raises(data.DataError, "csv: ", "row 3, column 'v': 'x' is not a number"):
        data.load_csv(str(tmp_path / "a.csv"), "v")
    with raises(data.DataError, "window: expected a positive length, got 0"):
        data.windows([1.0, 2.0], 0)
    with raises(data.DataError, "horizon: expected a positive number of steps, got 0"):
        data.windows([1.0, 2.0], 1, 0)
    with raises(data.DataError, "split: expected three fractions"):
        data.split_counts(10, (0.5, 0.5))
    with raises(data.DataError, "window: a window of 5 steps with horizon 1 needs at least 6 values"):
        build([0.0] * 3, window=5, horizon=1, split=(0.8, 0.0, 0.2), every_step=False, xp=np, dtype=np.float64,
              device=None)
