"""rnnx.losses and rnnx.metrics: every loss x {no mask, many-to-many mask, many-to-one mask}
x every backend target equals torch.nn.functional + autograd (float64, <= 1e-12 relative),
NaN padding never reaches value or gradient, finite differences, jax.jit = eager, bad
inputs (one line naming the argument), metrics against NumPy formulas / torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnx import losses as L
from rnnx import metrics as M
from conftest import target_params

T, B, C = 5, 3, 4
MASKS = ("none", "m2m", "m2o")


def _mask(kind: str):
    """None, (T, B) with trailing steps masked (lengths 5, 2, 3), or (B2,) for many-to-one."""
    if kind == "none":
        return None
    if kind == "m2m":
        return np.arange(T)[:, None] < np.asarray([5, 2, 3])[None, :]
    return np.asarray([True, False, True, True, False, True])


def _shape(kind: str) -> tuple[int, ...]:
    return (6, C) if kind == "m2o" else (T, B, C)


def _float_case(kind: str, seed: int = 0, *, unit_target: bool = False):
    """pred, float target, mask; NaN/Inf at masked positions."""
    r = np.random.default_rng(seed)
    shape = _shape(kind)
    pred = 2.0 * r.normal(size=shape)
    target = r.random(size=shape) if unit_target else r.normal(size=shape)
    mask = _mask(kind)
    if mask is not None:
        pad = ~mask[..., None] & np.ones(shape, dtype=bool)
        pred, target = np.where(pad, np.nan, pred), np.where(pad, np.inf, target)
    return pred, target, mask


def _label_case(kind: str, seed: int = 0):
    """pred logits, int64 labels (two ignored -100 at valid positions, 99 at masked), mask."""
    r = np.random.default_rng(seed)
    shape = _shape(kind)
    pred = 3.0 * r.normal(size=shape)
    labels = r.integers(0, C, size=shape[:-1])
    mask = _mask(kind)
    flat = labels.reshape(-1)
    flat[[0, 2]] = -100
    labels = flat.reshape(shape[:-1])
    if mask is not None:
        pred = np.where(~mask[..., None] & np.ones(shape, dtype=bool), np.nan, pred)
        labels = np.where(mask, labels, 99)
    return pred, labels, mask


def _torch_half_sse(p, t):
    return 0.5 * ((p - t) ** 2).sum()


#: id -> (loss function, case maker, torch reference on the selected positions, extra)
LOSS_CASES = {
    "mse": (L.get("mse"), _float_case, lambda p, t: F.mse_loss(p, t)),
    "mae": (L.get("mae"), _float_case, lambda p, t: F.l1_loss(p, t)),
    "huber": (L.get("huber"), _float_case, lambda p, t: F.huber_loss(p, t)),
    "huber-0.5": (L.get("huber", delta=0.5), _float_case, lambda p, t: F.huber_loss(p, t, delta=0.5)),
    "half-sse": (L.get("half-sse"), _float_case, _torch_half_sse),
    "cross-entropy": (L.get("cross-entropy"), _label_case, lambda p, t: F.cross_entropy(p, t)),
    "cross-entropy-ignore-1": (L.get("cross-entropy", ignore_index=-1), _label_case,
                               lambda p, t: F.cross_entropy(p, t, ignore_index=-1)),
    "bce-logits": (L.get("bce-logits"), lambda k: _float_case(k, unit_target=True),
                   lambda p, t: F.binary_cross_entropy_with_logits(p, t)),
    "quantile": (L.get("quantile"), _float_case, lambda p, t: torch.maximum(0.5 * (t - p), -0.5 * (t - p)).mean()),
    "quantile-0.9": (L.Quantile(q=0.9), _float_case,
                     lambda p, t: torch.maximum(0.9 * (t - p), (0.9 - 1) * (t - p)).mean()),
    "quantile-levels": (L.Quantile(q=(0.1, 0.5, 0.8, 0.95)), _float_case,
                        lambda p, t: torch.maximum(torch.tensor([0.1, 0.5, 0.8, 0.95], dtype=p.dtype) * (t - p),
                                                   (torch.tensor([0.1, 0.5, 0.8, 0.95], dtype=p.dtype) - 1) * (t - p)
                                                   ).mean()),
}


def _torch_reference(name: str, pred, target, mask):
    """Value and gradient by torch autograd over the selected (boolean-indexed) positions."""
    fn, _, ref = LOSS_CASES[name]
    if name == "cross-entropy-ignore-1":
        target = np.where(target == -100, -1, target)
    tp = torch.tensor(pred, requires_grad=True)
    tt = torch.tensor(target)
    sp, st = (tp, tt) if mask is None else (tp[torch.tensor(mask)], tt[torch.tensor(mask)])
    if sp.ndim > 2 and name.startswith("cross-entropy"):
        sp, st = sp.reshape(-1, C), st.reshape(-1)
    value = ref(sp, st)
    if name == "half-sse":
        value = value / pred.shape[-2]
    value.backward()
    return value.item(), tp.grad.numpy()


def _inputs(name: str, kind: str):
    pred, target, mask = LOSS_CASES[name][1](kind)
    if name == "cross-entropy-ignore-1":
        target = np.where(target == -100, -1, target)
    return pred, target, mask


def _close(got, want, rel=1e-12):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert np.all(np.isfinite(got))
    scale = max(float(np.max(np.abs(want))), 1e-300)
    assert float(np.max(np.abs(got - want))) <= rel * scale, (got, want)


def _call(fn, target, pred, tgt, mask):
    xp = target.namespace()
    m = None if mask is None else target.from_numpy(mask)
    return fn(target.from_numpy(pred), target.from_numpy(tgt), xp=xp, mask=m)


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("name", list(LOSS_CASES))
@pytest.mark.parametrize("target", target_params())
def test_loss_equals_torch(target, name, kind):
    if "float64" not in target.dtypes():
        pytest.skip(f"{target.id} has no float64")
    pred, tgt, mask = _inputs(name, kind)
    value, grad = _call(LOSS_CASES[name][0], target, pred, tgt, mask)
    assert tuple(value.shape) == () and value.dtype == target.namespace().float64
    assert tuple(grad.shape) == pred.shape and grad.dtype == value.dtype
    want_v, want_g = _torch_reference(name, pred, tgt, mask)
    _close(target.to_numpy(value), want_v)
    _close(target.to_numpy(grad), want_g)
    if mask is not None:  # zero padding instead of NaN/Inf/out-of-range labels: the same bits
        clean_p = np.where(np.isfinite(pred), pred, 0.0)
        clean_t = np.where(mask, tgt, 0) if tgt.dtype.kind == "i" else np.where(np.isfinite(tgt), tgt, 0.0)
        v2, g2 = _call(LOSS_CASES[name][0], target, clean_p, clean_t, mask)
        assert target.to_numpy(v2).tobytes() == target.to_numpy(value).tobytes()
        assert target.to_numpy(g2).tobytes() == target.to_numpy(grad).tobytes()


@pytest.mark.parametrize("name", ["mse", "half-sse"])
def test_unmasked_regression_is_bit_identical_to_the_old_formulas(name):
    import array_api_compat.numpy as xp

    pred, tgt, _ = _float_case("none")
    value, grad = L.LOSSES[name](pred, tgt, xp=xp)
    d = pred - tgt
    if name == "mse":
        n = math.prod(pred.shape)
        old_v, old_g = np.sum(d * d) / n, (2.0 / n) * d
    else:
        old_v, old_g = 0.5 * np.sum(d * d) / pred.shape[-2], d / pred.shape[-2]
    assert np.asarray(value).tobytes() == np.asarray(old_v).tobytes()
    assert grad.tobytes() == old_g.tobytes()


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_gradient_equals_finite_differences(name):
    import array_api_compat.numpy as xp

    pred, tgt, mask = _inputs(name, "m2m")
    pred = np.where(np.isfinite(pred), pred, 0.0)
    fn = LOSS_CASES[name][0]
    _, grad = fn(pred, tgt, xp=xp, mask=mask)
    h, fd = 1e-6, np.zeros_like(pred)
    for i in np.ndindex(pred.shape):
        e = np.zeros_like(pred)
        e[i] = h
        fd[i] = (float(fn(pred + e, tgt, xp=xp, mask=mask)[0]) - float(fn(pred - e, tgt, xp=xp, mask=mask)[0])) / (2 * h)
    _close(grad, fd, rel=1e-7)
    assert np.all(grad[~mask] == 0.0)


def _jax_target():
    jax_targets = [p for p in target_params() if p.values[0].backend == "jax" and not p.marks]
    if not jax_targets:
        pytest.skip("no JAX target available")
    return jax_targets[0].values[0]


@pytest.mark.parametrize("kind", ("none", "m2m"))
@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_jit_equals_eager(name, kind):
    import jax

    target = _jax_target()
    xp = target.namespace()
    fn = LOSS_CASES[name][0]
    pred, tgt, mask = _inputs(name, kind)
    p, t = target.from_numpy(pred), target.from_numpy(tgt)
    m = None if mask is None else target.from_numpy(mask)
    eager = fn(p, t, xp=xp, mask=m)
    jitted = jax.jit(lambda p, t, m: fn(p, t, xp=xp, mask=m))(p, t, m)
    for a, b in zip(jitted, eager):
        _close(np.asarray(a), np.asarray(b), rel=1e-14)
    if name == "cross-entropy":  # out-of-range labels are not read under jit: no error, no crash
        jax.jit(lambda p, t: fn(p, t, xp=xp))(p, xp.full(t.shape, 7, dtype=t.dtype))


def _np():
    import array_api_compat.numpy as xp

    return xp


P = np.zeros((4, 3))
LAB = np.asarray([0, 1, 2, 1])
BAD = [
    (lambda: L.mse(P, np.zeros((4, 2)), xp=_np()), ValueError,
     "target: expected shape (4, 3) (the prediction's), got (4, 2)"),
    (lambda: L.mae(P.astype(np.int64), P, xp=_np()), TypeError, "pred: expected a real floating array, got dtype int64"),
    (lambda: L.huber(P, [0.0], xp=_np()), TypeError, "target: expected an array, got list"),
    (lambda: L.cross_entropy(P, LAB.astype(np.float64), xp=_np()), TypeError,
     "target: expected integer class labels for cross-entropy, got dtype float64"),
    (lambda: L.cross_entropy(P, np.asarray([-3, 7, 0, 1]), xp=_np()), ValueError,
     "target: expected class labels in [0, 3) (or ignore_index -100), got values in [-3, 7]"),
    (lambda: L.cross_entropy(P, np.asarray([-100, 3, 0, 1]), xp=_np()), ValueError,
     "target: expected class labels in [0, 3) (or ignore_index -100), got values in [0, 3]"),
    (lambda: L.cross_entropy(P, LAB[:3], xp=_np()), ValueError,
     "target: expected shape (4,) (pred's without its class axis), got (3,)"),
    (lambda: L.cross_entropy(np.zeros((4, 0)), LAB, xp=_np()), ValueError,
     "pred: expected at least 1 class on the last axis, got shape (4, 0)"),
    (lambda: L.cross_entropy(P, LAB, xp=_np(), ignore_index=1.5), TypeError, "ignore_index: expected an int, got 1.5"),
    (lambda: L.mse(P, P, xp=_np(), mask=np.ones(4, dtype=np.int64)), ValueError,
     "mask: expected a bool array of shape (4,) (pred's shape without its last axis), got dtype int64 shape (4,)"),
    (lambda: L.cross_entropy(P, LAB, xp=_np(), mask=np.ones((4, 1), dtype=bool)), ValueError,
     "mask: expected a bool array of shape (4,) (pred's shape without its last axis), got dtype bool shape (4, 1)"),
    (lambda: L.mse(P, P, xp=_np(), mask=[True] * 4), ValueError,
     "mask: expected a bool array of shape (4,) (pred's shape without its last axis), got list"),
    (lambda: L.bce_logits(P, np.full((4, 3), 0.5) + np.asarray([[-1.5], [0], [0], [1.5]]), xp=_np()), ValueError,
     "target: expected values in [0, 1], got values in [-1, 2]"),
    (lambda: L.half_sse(np.zeros(3), np.zeros(3), xp=_np()), ValueError,
     "pred: expected at least 2 axes (..., B, O) for half-sse, got shape (3,)"),
    (lambda: L.get("huber", delta=0), ValueError, "delta: expected a finite number > 0, got 0"),
    (lambda: L.get("mse", delta=1.0), TypeError, "loss 'mse': takes no option 'delta'"),
    (lambda: L.get("x"), ValueError,
     "loss: expected one of mse, mae, huber, half-sse, cross-entropy, bce-logits, quantile, got 'x'"),
    (lambda: L.target_kind(3), TypeError, "loss: expected a loss name (mse, mae"),
    (lambda: M.get("r2"), ValueError, "metrics: expected one of mse, rmse, mae, mape, smape, accuracy, bpc, perplexity, got 'r2'"),
    (lambda: M.default_metrics("hinge"), ValueError, "loss: expected one of"),
    (lambda: M.accuracy(P, LAB.astype(np.float32), xp=_np()), TypeError,
     "target: expected integer class labels for accuracy, got dtype float32"),
]


@pytest.mark.parametrize("call, error, message", BAD, ids=[m.split(":")[0] + str(i) for i, (_, _, m) in enumerate(BAD)])
def test_bad_input_is_one_clear_line(call, error, message):
    with pytest.raises(error) as info:
        call()
    text = str(info.value)
    assert "\n" not in text and text.startswith(message), text


def test_masked_labels_are_not_range_checked_and_nothing_counted_is_zero():
    xp = _np()
    pred = np.full((2, 3), np.nan)
    value, grad = L.cross_entropy(pred, np.asarray([9, -100]), xp=xp, mask=np.asarray([False, True]))
    assert float(value) == 0.0 and np.all(grad == 0.0)
    value, grad = L.mse(pred, pred, xp=xp, mask=np.zeros(2, dtype=bool))
    assert float(value) == 0.0 and np.all(grad == 0.0)


def test_check_values_false_skips_only_the_value_checks():
    """``check_values=False`` (what fit passes after checking its labels once) reads nothing
    to the host: the same value and gradient on valid labels, no error on a bad one; the
    shape and dtype checks stay."""
    xp = _np()
    rng = np.random.default_rng(3)
    pred, labels = rng.normal(size=(4, 3)), np.asarray([0, 2, 1, 2])
    for a, b in zip(L.cross_entropy(pred, labels, xp=xp), L.get("cross-entropy", check_values=False)(pred, labels, xp=xp)):
        assert np.array_equal(a, b)
    probs = rng.uniform(size=(4, 3))
    for a, b in zip(L.bce_logits(pred, probs, xp=xp), L.bce_logits(pred, probs, xp=xp, check_values=False)):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match=r"target: expected class labels in \[0, 3\)"):
        L.cross_entropy(pred, np.asarray([0, 3, 1, 2]), xp=xp)
    value, _ = L.cross_entropy(pred, np.asarray([0, 3, 1, 2]), xp=xp, check_values=False)
    assert np.isfinite(value)
    L.bce_logits(pred, probs + 2.0, xp=xp, check_values=False)
    with pytest.raises(TypeError, match="target: expected integer class labels"):
        L.cross_entropy(pred, probs[:, 0], xp=xp, check_values=False)
    with pytest.raises(TypeError, match="check_values: expected True or False, got 'no'"):
        L.get("bce-logits", check_values="no")
    with pytest.raises(TypeError, match="takes no option 'check_values'"):
        L.get("mse", check_values=False)


def test_registry():
    assert list(L.LOSSES) == ["mse", "mae", "huber", "half-sse", "cross-entropy", "bce-logits", "quantile"]
    assert L.get("mse") == L.MSE() and L.LOSSES["mse"] is L.mse and L.CLASSIFICATION == ("cross-entropy", "bce-logits")
    assert [L.target_kind(n) for n in L.LOSSES] == ["float"] * 4 + ["labels", "float", "float"]
    assert [M.default_metrics(n) for n in ("mse", "huber", "cross-entropy", "bce-logits")] == [
        ("rmse", "mae"), ("rmse", "mae"), ("accuracy",), ("accuracy",)]
    assert set(M.METRICS) == {"mse", "rmse", "mae", "mape", "smape", "accuracy", "bpc", "perplexity"}


@pytest.mark.parametrize("target", target_params())
def test_metrics_equal_numpy_and_torch(target):
    if "float64" not in target.dtypes():
        pytest.skip(f"{target.id} has no float64")
    xp, f = target.namespace(), target.from_numpy

    def run(name, p, t, mask=None, **kw):
        m = None if mask is None else f(mask)
        return float(target.to_numpy(M.get(name)(f(p), f(t), xp=xp, mask=m, **kw)))

    pred, tgt, mask = _float_case("m2m")
    d = (pred - tgt)[mask]
    assert math.isclose(run("mse", pred, tgt, mask), np.mean(d ** 2), rel_tol=1e-13)
    assert math.isclose(run("rmse", pred, tgt, mask), np.sqrt(np.mean(d ** 2)), rel_tol=1e-13)
    assert math.isclose(run("mae", pred, tgt, mask), np.mean(np.abs(d)), rel_tol=1e-13)

    logits, labels, mask = _label_case("m2m")
    sel = mask & (labels != -100)
    ce = F.cross_entropy(torch.tensor(logits[sel]), torch.tensor(labels[sel])).item()
    assert math.isclose(run("bpc", logits, labels, mask), ce / math.log(2), rel_tol=1e-12)
    assert math.isclose(run("perplexity", logits, labels, mask), math.exp(ce), rel_tol=1e-12)
    want = np.mean(np.argmax(logits[sel], axis=-1) == labels[sel])
    assert run("accuracy", logits, labels, mask) == want
    ignore7 = np.where(labels == -100, 7, labels)
    assert run("accuracy", logits, ignore7, mask, ignore_index=7) == want

    ties = np.asarray([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, 5.0, 1.0, 5.0]])
    assert run("accuracy", ties, np.asarray([1, 0, 3])) == pytest.approx(2 / 3, rel=1e-15)
    assert run("accuracy", ties, np.asarray([2, 1, 1])) == 1 / 3

    z = np.asarray([[0.3], [-1.0], [2.0], [np.nan]])
    y = np.asarray([[1.0], [0.6], [0.4], [np.inf]])
    assert run("accuracy", z, y, np.asarray([True, True, True, False])) == pytest.approx(1 / 3, rel=1e-15)
    assert run("accuracy", z[:3], y[:3]) == pytest.approx(1 / 3, rel=1e-15)


def test_metrics_under_jit():
    import jax

    target = _jax_target()
    xp = target.namespace()
    logits, labels, mask = _label_case("m2m")
    args = [target.from_numpy(a) for a in (logits, labels, mask)]
    for name in M.METRICS:
        fn = M.get(name)
        if name in ("mse", "rmse", "mae", "mape", "smape"):
            p, t, m = [target.from_numpy(a) for a in _float_case("m2m")]
        else:
            p, t, m = args
        eager = fn(p, t, xp=xp, mask=m)
        jitted = jax.jit(lambda p, t, m: fn(p, t, xp=xp, mask=m))(p, t, m)
        _close(np.asarray(jitted), np.asarray(eager), rel=1e-14)


# -- issue 31 item 4: MAPE and sMAPE on every backend, as rnnx.data.accuracy defines them ----------------

@pytest.mark.parametrize("target", target_params())
def test_mape_smape_equal_the_host_accuracy_functions(target):
    from rnnx.data import accuracy as A  # the function (the module's others are imported by name)
    from rnnx.data.accuracy import mape as host_mape
    from rnnx.data.accuracy import smape as host_smape

    if "float64" not in target.dtypes():
        pytest.skip(f"{target.id} has no float64")
    xp, f = target.namespace(), target.from_numpy

    def run(name, p, t, mask=None):
        m = None if mask is None else f(mask)
        return float(target.to_numpy(M.get(name)(f(p), f(t), xp=xp, mask=m)))

    for kind in MASKS:
        pred, tgt, mask = _float_case(kind, seed=3)
        sel = np.ones(tgt.shape, dtype=bool) if mask is None else mask[..., None] & np.ones(tgt.shape, dtype=bool)
        a, p = tgt[sel], pred[sel]  # the valid elements: NaN/Inf padding never reaches the value
        assert math.isclose(run("mape", pred, tgt, mask), host_mape(a, p), rel_tol=1e-13)
        assert math.isclose(run("smape", pred, tgt, mask), host_smape(a, p), rel_tol=1e-13)
    # sMAPE: a = f = 0 counts 0, a 0 against a non-zero 200; MAPE: undefined (NaN) at a counted target of 0
    a, p = np.asarray([[0.0], [0.0], [2.0]]), np.asarray([[0.0], [1.0], [1.0]])
    assert math.isclose(run("smape", p, a), host_smape(a[:, 0], p[:, 0]), rel_tol=1e-15)
    assert math.isclose(run("smape", p, a), 100 * (0 + 2 + 2 / 3) / 3, rel_tol=1e-15)
    assert math.isnan(run("mape", p, a)) and A(a[:, 0], p[:, 0], [1.0, 2.0])["mape"] is None
    assert math.isclose(run("mape", p, a, np.asarray([False, False, True])), 50.0, rel_tol=1e-15)  # 0s masked


def test_evaluate_and_fit_report_mape_and_smape():
    import rnnx
    from rnnx.data.accuracy import mae as host_mae
    from rnnx.data.accuracy import mape as host_mape
    from rnnx.data.accuracy import smape as host_smape

    r = np.random.default_rng(0)
    x, y = r.normal(size=(12, 5, 2)), 3.0 + r.random(size=(12, 1))
    model = rnnx.Model("gru", 2, 4, 1)
    params = model.init_params(np, seed=0, dtype=np.float64)
    ev = rnnx.evaluate(model, params, x, y, metrics=["mae", "rmse", "mape", "smape"])
    pred = rnnx.predict(model, params, x)
    assert math.isclose(ev["mape"], host_mape(y[:, 0], pred[:, 0]), rel_tol=1e-13)
    assert math.isclose(ev["smape"], host_smape(y[:, 0], pred[:, 0]), rel_tol=1e-13)
    assert math.isclose(ev["mae"], host_mae(y[:, 0], pred[:, 0]), rel_tol=1e-13)
    res = rnnx.fit(model, x, y, epochs=2, batch_size=4, metrics=["mape", "smape"], validation_data=(x, y), seed=0)
    row = res.history[-1]
    got = rnnx.evaluate(model, res.params, x, y, metrics=["mape", "smape"])
    assert math.isclose(row["val_mape"], got["mape"], rel_tol=1e-12)
    assert math.isclose(row["val_smape"], got["smape"], rel_tol=1e-12)


# -- loss specs, quantile, sample_weight (issue 29 item 2) ---------------------------------------------

def test_specs_equal_names_with_options():
    assert L.get("huber", delta=2) == L.get(L.Huber(delta=2)) == L.Huber(delta=2.0)
    assert L.get("huber") == L.Huber() != L.Huber(delta=0.5) and hash(L.get("huber")) == hash(L.Huber())
    assert repr(L.Huber(delta=2)) == "Huber(delta=2.0)" and eval("L." + repr(L.Quantile(q=(0.1, 0.9)))) == \
        L.Quantile(q=(0.1, 0.9))
    assert L.Huber(delta=2).label == "huber(delta=2.0)" and L.Huber().label == "huber"
    assert L.CrossEntropy(check_values=False).label == "cross-entropy"
    assert L.get(L.Huber(), delta=3.0) == L.Huber(delta=3.0)
    import pickle
    assert pickle.loads(pickle.dumps(L.Quantile(q=0.9))) == L.Quantile(q=0.9)
    with pytest.raises(ValueError, match=r"^q: expected a quantile in \(0, 1\)"):
        L.Quantile(q=1.0)
    with pytest.raises(TypeError, match="^loss 'quantile': takes no option 'delta'; expected q$"):
        L.get("quantile", delta=1.0)
    with pytest.raises(ValueError, match="^q: 2 quantile levels need pred with 2 outputs"):
        L.Quantile(q=(0.1, 0.9))(np.zeros((3, 4)), np.zeros((3, 4)), xp=np)


def test_quantile_gradient_at_a_tie_is_torch_autograds():
    """r = 0: the max's two arguments tie; torch splits the gradient evenly: -(q - 1/2)/N."""
    import array_api_compat.numpy as xp

    pred = np.asarray([[1.0, 2.0, 3.0]])
    tgt = np.asarray([[1.0, 2.5, 2.0]])
    v, g = L.Quantile(q=0.8)(pred, tgt, xp=xp)
    tp = torch.tensor(pred, requires_grad=True)
    r = torch.tensor(tgt) - tp
    torch.maximum(0.8 * r, (0.8 - 1) * r).mean().backward()
    _close(g, tp.grad.numpy(), rel=1e-15)
    assert g[0, 0] == pytest.approx(-(0.8 - 0.5) / 3)


WEIGHTED = [n for n in LOSS_CASES if n != "half-sse"]


def _weights_for(kind, pred):
    """Per-sample weights (B,), zero for one sample; (T, B) per position for m2m."""
    r = np.random.default_rng(7)
    w = r.uniform(0.2, 3.0, size=pred.shape[-2])
    w[1] = 0.0
    if kind == "m2m-positions":
        return r.uniform(0.0, 2.0, size=pred.shape[:-1])
    return w


def _torch_elements(name, p, t, library):
    """Per-element losses: the rnnx formula in torch ops, or torch.nn.functional's (reduction="none")."""
    fn = LOSS_CASES[name][0]
    o = fn.options
    if name.startswith("cross-entropy"):
        if library:
            return F.cross_entropy(p.reshape(-1, C), t.reshape(-1), reduction="none",
                                   ignore_index=o["ignore_index"]).reshape(t.shape)
        lab = torch.where(t == o["ignore_index"], 0, t)
        return -torch.gather(torch.log_softmax(p, dim=-1), -1, lab[..., None])[..., 0]
    if name == "mse":
        return F.mse_loss(p, t, reduction="none") if library else (p - t) ** 2
    if name == "mae":
        return F.l1_loss(p, t, reduction="none") if library else torch.abs(p - t)
    if name.startswith("huber"):
        dlt = o["delta"]
        if library:
            return F.huber_loss(p, t, reduction="none", delta=dlt)
        a = torch.abs(p - t)
        return torch.where(a < dlt, 0.5 * (p - t) ** 2, dlt * (a - 0.5 * dlt))
    if name == "bce-logits":
        if library:
            return F.binary_cross_entropy_with_logits(p, t, reduction="none")
        return torch.clamp(p, min=0) - p * t + torch.log1p(torch.exp(-torch.abs(p)))
    q = torch.tensor(o["q"], dtype=p.dtype)  # quantile: no torch.nn.functional loss: the formula only
    return torch.maximum(q * (t - p), (q - 1) * (t - p))


def _torch_weighted(name, pred, tgt, mask, w, library):
    """sum(w l) / sum(w valid) (x O for per-element losses) by torch autograd; grad wrt pred."""
    tp = torch.tensor(pred, requires_grad=True)
    tt = torch.tensor(tgt)
    valid = torch.ones(pred.shape[:-1], dtype=torch.bool) if mask is None else torch.tensor(mask)
    tw = torch.broadcast_to(torch.tensor(w), pred.shape[:-1])
    labels = name.startswith("cross-entropy")
    if labels:
        valid = valid & (tt != LOSS_CASES[name][0].options["ignore_index"])
    ps = torch.where(valid[..., None], tp, 0.0)
    ts = torch.where(valid if labels else valid[..., None], tt, 0 if labels else 0.0)
    each = _torch_elements(name, ps, ts, library)
    wv = torch.where(valid, tw, 0.0)
    if labels:
        value = (wv * torch.where(valid, each, 0.0)).sum() / wv.sum()
    else:
        value = (wv[..., None] * torch.where(valid[..., None], each, 0.0)).sum() / (wv.sum() * pred.shape[-1])
    value.backward()
    return value.item(), tp.grad.numpy()


@pytest.mark.parametrize("kind", ["none", "m2m", "m2o", "m2m-positions"])
@pytest.mark.parametrize("name", WEIGHTED)
def test_sample_weight_three_ways(name, kind):
    """The weighted mean (scikit-learn's weighted average) and its gradient = finite
    differences (float64), torch autograd of the same formula, and torch.nn.functional's
    per-element loss (reduction="none") then the weighted mean (where torch has the loss)."""
    import array_api_compat.numpy as xp

    pred, tgt, mask = _inputs(name, "m2m" if kind == "m2m-positions" else kind)
    w = _weights_for(kind, pred)
    fn = LOSS_CASES[name][0]
    value, grad = fn(pred, tgt, xp=xp, mask=mask, sample_weight=w)
    for library in (False, True):
        if library and name.startswith("quantile"):
            continue
        tv, tg = _torch_weighted(name, pred, tgt, mask, w, library)
        _close(value, tv)
        _close(grad, tg)
    clean = np.where(np.isfinite(pred), pred, 0.0)
    _, grad = fn(clean, tgt, xp=xp, mask=mask, sample_weight=w)
    h, fd = 1e-6, np.zeros_like(clean)
    for i in np.ndindex(clean.shape):
        e = np.zeros_like(clean)
        e[i] = h
        fd[i] = (float(fn(clean + e, tgt, xp=xp, mask=mask, sample_weight=w)[0])
                 - float(fn(clean - e, tgt, xp=xp, mask=mask, sample_weight=w)[0])) / (2 * h)
    _close(grad, fd, rel=1e-7)
    ones = fn(pred, tgt, xp=xp, mask=mask, sample_weight=np.ones(pred.shape[-2]))
    plain = fn(pred, tgt, xp=xp, mask=mask)
    _close(ones[0], plain[0], rel=1e-14)  # unit weights: the unweighted mean
    _close(ones[1], plain[1], rel=1e-14)


@pytest.mark.parametrize("name", ["mse", "cross-entropy", "quantile-levels"])
def test_sample_weight_under_jit_equals_eager(name):
    import jax

    target = _jax_target()
    xp = target.namespace()
    fn = LOSS_CASES[name][0]
    pred, tgt, mask = _inputs(name, "m2m")
    w = _weights_for("m2m", pred)
    p, t, m, tw = (target.from_numpy(a) for a in (pred, tgt, mask, w))
    eager = fn(p, t, xp=xp, mask=m, sample_weight=tw)
    jitted = jax.jit(lambda p, t, m, w: fn(p, t, xp=xp, mask=m, sample_weight=w))(p, t, m, tw)
    for a, b in zip(jitted, eager):
        _close(np.asarray(a), np.asarray(b), rel=1e-14)


@pytest.mark.parametrize("w,error,message", [
    (np.asarray([1.0, -0.5, 1.0]), ValueError, "sample_weight: expected finite weights >= 0, got a minimum of -0.5"),
    (np.asarray([1.0, np.nan, 1.0]), ValueError, "sample_weight: expected finite weights >= 0, got non-finite"),
    (np.ones(4), ValueError, r"sample_weight: expected a shape that broadcasts to \(5, 3\)"),
    ([1.0, 1.0, 1.0], TypeError, "sample_weight: expected an array, got list"),
    (np.asarray([True, False, True]), TypeError, "sample_weight: expected real numbers, got dtype bool"),
])
def test_bad_sample_weight_is_one_line(w, error, message):
    import array_api_compat.numpy as xp

    pred, tgt, _ = _float_case("none")
    with pytest.raises(error, match="^" + message) as e:
        L.get("mse")(pred, tgt, xp=xp, sample_weight=w)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="^sample_weight: half-sse divides by the batch size"):
        L.get("half-sse")(pred, tgt, xp=xp, sample_weight=np.ones(3))
