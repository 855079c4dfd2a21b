"""``freeze``: a frozen parameter is untouched by every optimizer (no weight decay, no
0/0 of Adam with eps=0), on the eager update (NumPy) and the compiled one (JAX)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx
from rnnx import optim
from rnnx.nn.model import Model

T, B, I, H = 6, 8, 2, 3
FROZEN = ("bias_hh_l0", "weight_hy")

OPTIMIZERS = {
    "sgd-wd": optim.SGD(lr=0.05, weight_decay=0.1),
    "sgd-momentum-wd": optim.SGD(lr=0.05, momentum=0.9, weight_decay=0.1),
    "sgd-nesterov-wd": optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
    "adam-wd": optim.Adam(lr=0.01, weight_decay=0.1),
    "amsgrad-wd": optim.Adam(lr=0.01, weight_decay=0.1, amsgrad=True),
    "adam-eps0": optim.Adam(lr=0.01, eps=0.0),
    "adagrad-wd": optim.Adagrad(lr=0.05, weight_decay=0.1),
    "rmsprop-wd": optim.RMSprop(lr=0.01, weight_decay=0.1),
    "rmsprop-centered-momentum-wd": optim.RMSprop(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1),
    "adamw-wd": optim.AdamW(lr=0.01, weight_decay=0.1),
    "adamw-amsgrad-eps0": optim.AdamW(lr=0.01, eps=0.0, amsgrad=True),
}


def _data(xp_name):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, I))
    y = rng.normal(size=(B, 1))
    if xp_name == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return jax.numpy.asarray(x), jax.numpy.asarray(y)
    return x, y


@pytest.mark.parametrize("xp_name", ["numpy", "jax"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_frozen_parameters_are_untouched_by_every_optimizer(name, xp_name):
    x, y = _data(xp_name)
    model = Model("lstm", I, H)
    p0 = {k: np.asarray(v) for k, v in model.init_params(np, seed=1, dtype=np.float64).items()}
    params = {k: (x.__array_namespace__().asarray(v) if xp_name == "jax" else v) for k, v in p0.items()}
    out = rnnx.fit(model, x, y, epochs=2, batch_size=4, optimizer=OPTIMIZERS[name], params=params,
                   freeze=FROZEN, shuffle=False, verbose=0)
    got = {k: np.asarray(v) for k, v in out.params.items()}
    for k in FROZEN:
        assert np.array_equal(got[k], p0[k]), f"{name}: frozen {k} moved by {np.max(np.abs(got[k] - p0[k]))}"
    for k in p0:
        if k not in FROZEN:
            assert np.all(np.isfinite(got[k])) and not np.array_equal(got[k], p0[k]), f"{name}: {k} did not train"


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_of_the_subset_leaves_frozen_slots_unchanged(name):
    """make_apply: the optimizer sees only the trainable parameters; a frozen parameter's
    slots (Adam's moments, Adagrad's sum) stay as they were."""
    from rnnx.training.strategies import make_apply

    opt = OPTIMIZERS[name]
    rng = np.random.default_rng(2)
    params = {"a": rng.normal(size=(3,)), "b": rng.normal(size=(2, 2))}
    grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
    state = opt.init(params)
    apply = make_apply(opt, clip_value=None, clip_norm=None, freeze=("b",), xp=np)
    for _ in range(2):
        new, state, _ = apply(params, state, grads)
        assert list(new) == list(params) and new["b"] is params["b"]
        assert not np.array_equal(new["a"], params["a"])
        params = new
    init = opt.init(params)
    for slot, d in state["slots"].items():
        if "b" in d:
            assert np.array_equal(d["b"], init["slots"][slot]["b"])


@pytest.mark.parametrize("xp_name", ["numpy", "jax"])
@pytest.mark.parametrize("name", ["sgd-momentum-wd", "adam-wd", "rmsprop-centered-momentum-wd", "adamw-wd"])
def test_frozen_run_resumes_bit_for_bit_from_its_checkpoint(name, xp_name, tmp_path):
    """A checkpoint of a run with frozen parameters (their slots absent or as they were)
    resumes to the bits of the uninterrupted run."""
    x, y = _data(xp_name)
    model = Model("gru", I, H)
    kw = dict(batch_size=4, optimizer=OPTIMIZERS[name], freeze=FROZEN, clip_norm=0.5, shuffle=True, seed=3, verbose=0)
    path = str(tmp_path / "run.rnnx")
    full = rnnx.fit(model, x, y, epochs=4, **kw)
    rnnx.fit(model, x, y, epochs=2, checkpoint=path, **kw)
    rest = rnnx.fit(model, x, y, epochs=4, resume=path, **kw)
    for k, v in full.params.items():
        assert np.array_equal(np.asarray(rest.params[k]), np.asarray(v)), k


def test_saved_model_keeps_its_frozen_names(tmp_path):
    """rnnx.save writes Model.frozen and rnnx.load restores it (a converted Keras model saved
    and fine-tuned later trains what Keras trains); a stored name that is not a parameter of
    the model is refused in one line naming the field."""
    from rnnx.io import checkpoint
    from rnnx.io.schema import FileFormatError

    model = rnnx.Model("gru", 2, 3)
    model.frozen = ("bias_hh_l0",)
    params = model.init_params(np, seed=0, dtype=np.float64)
    rnnx.save(str(tmp_path / "m.npz"), model, params)
    back, _ = rnnx.load(str(tmp_path / "m.npz"))
    assert back.frozen == ("bias_hh_l0",)
    plain = rnnx.Model("gru", 2, 3)
    rnnx.save(str(tmp_path / "p.npz"), plain, params)
    assert rnnx.load(str(tmp_path / "p.npz"))[0].frozen == ()
    meta, groups = checkpoint.load(str(tmp_path / "m.npz"))
    meta["frozen"] = ["bias_hh_l7"]
    checkpoint.save(str(tmp_path / "bad.npz"), {k: v for k, v in meta.items() if k not in ("format", "version")},
                    groups, to_numpy=lambda a: a)
    with pytest.raises(FileFormatError) as e:
        rnnx.load(str(tmp_path / "bad.npz"))
    assert "meta.frozen" in str(e.value) and "bias_hh_l7" in str(e.value) and "\n" not in str(e.value)
