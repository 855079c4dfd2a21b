"""The Python API's boundary checks (issue 27 item 11): ``rnnx.fit`` refuses non-finite
x/y/initial parameters naming the array and its first bad element, an empty x naming its
shape, and a model that is not an ``rnnx.Model``; ``rnnx.load`` refuses an ``xp`` that is not
an array namespace and a dtype that is not a real floating one; ``rnnx.save`` refuses NaN/Inf
parameters naming the parameter and element."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx
from rnnx.training.state import NonFiniteLoss


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rnnx.Model("gru", 1, 4), rng.normal(size=(8, 5, 1)), rng.normal(size=(8, 1))


@pytest.mark.parametrize("where, message", [
    ("x", r"^x: 1 non-finite value \(first nan at index \(2, 3, 0\)\); expected finite numbers$"),
    ("y", r"^y: 1 non-finite value \(first inf at index \(4, 0\)\); expected finite numbers$"),
    ("params", r"^params\['weight_hh_l0'\]: 1 non-finite value \(first nan at index \(1, 2\)\); "
               r"expected finite numbers$"),
])
def test_fit_names_the_non_finite_input(data, where, message):
    model, x, y = data
    params = model.init_params(np, seed=0)
    if where == "x":
        x = x.copy()
        x[2, 3, 0] = np.nan
    elif where == "y":
        y = y.copy()
        y[4, 0] = np.inf
    else:
        params = {**params, "weight_hh_l0": params["weight_hh_l0"].copy()}
        params["weight_hh_l0"][1, 2] = np.nan
    with pytest.raises(ValueError, match=message):
        rnnx.fit(model, x, y, epochs=1, params=params)


@pytest.mark.parametrize("part, index, value", [(0, (1, 4, 0), np.nan), (1, (2, 0), -np.inf)])
def test_fit_names_non_finite_validation_data(data, part, index, value):
    """validation_data is checked as x and y are: named ``validation_data[0]`` / ``[1]`` and
    its first bad element, before any training (the lengths' padding left alone)."""
    model, x, y = data
    vx, vy = x[:4].copy(), y[:4].copy()
    vx[0, 4:, :] = np.nan  # padding past lengths[0] = 4: not data
    (vx, vy)[part][index] = value
    shown = "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    with pytest.raises(ValueError, match=rf"^validation_data\[{part}\]: 1 non-finite value \(first {shown} at "
                                         rf"index \({', '.join(map(str, index))}\)\); expected finite numbers$"):
        rnnx.fit(model, x, y, validation_data=(vx, vy, np.array([4, 5, 5, 5])), epochs=1)


def test_fit_leaves_the_padding_past_lengths_alone(data):
    """NaN in the padded steps (past each sequence's length) is not data: it trains."""
    model, x, y = data
    lengths = np.array([5, 3, 4, 5, 2, 5, 5, 1])
    x = x.copy()
    x[np.arange(5)[None, :] >= lengths[:, None]] = np.nan
    r = rnnx.fit(model, x, y, lengths=lengths, epochs=2)
    assert np.isfinite(r.history[-1]["loss"])
    x[1, 2, 0] = np.nan  # a valid step (sequence 1 has 3)
    with pytest.raises(ValueError, match=r"^x: 1 non-finite value \(first nan at index \(1, 2, 0\)\)"):
        rnnx.fit(model, x, y, lengths=lengths, epochs=1)


def test_fit_keeps_its_advice_for_a_loss_that_diverges_from_finite_inputs(data):
    import warnings

    model, x, y = data
    with warnings.catch_warnings(), pytest.raises(NonFiniteLoss, match="lower lr, or clip the gradient"):
        warnings.simplefilter("ignore")  # the overflow on the way
        rnnx.fit(model, x, y * 1e200, epochs=3, optimizer="sgd", lr=1e10)


def test_fit_refuses_an_empty_x_naming_its_shape(data):
    model, x, y = data
    with pytest.raises(ValueError, match=r"^x: expected at least one sequence, got shape \(0, 5, 1\)$"):
        rnnx.fit(model, x[:0], y[:0], epochs=1)


def test_fit_refuses_a_model_that_is_not_one(data):
    _, x, y = data
    with pytest.raises(TypeError, match=r"^model: expected an rnnx.Model, got str 'gru'; build one with "
                                        r"rnnx.Model\(\"gru\", input_size, hidden_size\)$"):
        rnnx.fit("gru", x, y, epochs=1)


@pytest.fixture
def saved(tmp_path):
    model = rnnx.Model("gru", 1, 4)
    path = str(tmp_path / "m.npz")
    rnnx.save(path, model, model.init_params(np, seed=0))
    return path


def test_load_refuses_an_xp_that_is_a_name(saved):
    with pytest.raises(TypeError, match=r"^xp: expected an array namespace module \(numpy, torch, jax.numpy, "
                                        r"\.\.\.\), got str 'numpy'; pass the module itself: import numpy; "
                                        r"rnnx.load\(path, xp=numpy\)$"):
        rnnx.load(saved, xp="numpy")


def test_load_refuses_a_dtype_that_is_not_floating(saved):
    with pytest.raises(ValueError, match=r"^dtype: expected a real floating dtype \(float16, float32, float64\), "
                                         r"got .*int32"):
        rnnx.load(saved, dtype=np.int32)
    _, params = rnnx.load(saved, dtype=np.float32)  # a floating one still converts
    assert params["weight_hh_l0"].dtype == np.float32 and np.any(params["weight_hh_l0"] != 0)


def test_save_refuses_non_finite_parameters(tmp_path):
    model = rnnx.Model("gru", 1, 4)
    params = model.init_params(np, seed=0)
    params["bias_ih_l0"] = params["bias_ih_l0"].copy()
    params["bias_ih_l0"][5] = -np.inf
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match=r"^params\['bias_ih_l0'\]: 1 non-finite value \(first -inf at index "
                                         r"\(5,\)\); expected finite numbers$"):
        rnnx.save(str(path), model, params)
    assert not path.exists()


@pytest.mark.parametrize("coordinator", ["h:99999", "h:0", "h:", ":8476", "h:x", "h:８０", "8476", 8476])
@pytest.mark.parametrize("process_id", [0, 1])
def test_initialize_refuses_a_bad_coordinator_before_any_socket(monkeypatch, coordinator, process_id):
    """``rnnx.training.distributed.initialize``: a coordinator that is not HOST:PORT with a port from
    1 to 65535 is one ValueError naming it, before any socket is made (a port past 65535 was
    an OverflowError out of bind, leaking the socket)."""
    import socket

    jnp = pytest.importorskip("jax.numpy")
    from rnnx.training import distributed

    made = []
    monkeypatch.setattr(socket, "socket", lambda *a, **k: made.append(a) or pytest.fail("a socket was made"))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: made.append(a) or pytest.fail("a connection"))
    with pytest.raises(ValueError, match=r"^coordinator: expected HOST:PORT with a port from 1 to 65535, got "):
        distributed.initialize(jnp, coordinator=coordinator, num_processes=2, process_id=process_id, timeout=1)
    assert made == []
