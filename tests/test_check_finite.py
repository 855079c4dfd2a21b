"""The NaN/Inf policy: ``check_finite=True`` names the first non-finite array (in a fixed
order) and its first bad element on every CPU target; ``check_finite=False`` (the default)
issues no array op of its own and gives bit-identical results; under ``jax.jit`` True is
refused rather than silently checking nothing."""

from __future__ import annotations

import collections
import inspect

import array_api_compat as compat
import numpy as np
import pytest

import rnnx
from rnnx import checks
from rnnx.checks import JIT_REFUSAL, NonFiniteError
from conftest import target_params

T, B, I, H, L = 5, 3, 3, 4, 2
CELLS = ("lstm", "gru", "rnn")
PARAM_A, PARAM_B = ("weight_ih_l0", (3, 1)), ("bias_hh_l1", (2,))  # two keys every cell has
VALUES = {"nan": np.nan, "inf": np.inf}


def expected(name: str, a: np.ndarray) -> str:
    """The message, computed here with NumPy from the planted host array."""
    bad = np.argwhere(~np.isfinite(a))
    first = tuple(int(i) for i in bad[0])
    v = a[first]
    kind = "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    n = len(bad)
    return f"{name}: {n} non-finite value{'' if n == 1 else 's'} (first {kind} at index {first}); " \
           "expected finite numbers"


def planted(a: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    """A copy of ``a`` with ``value`` at ``index`` and -inf at its last element (a second,
    later bad value: the count is 2 and the first one is ``index``)."""
    out = a.copy()
    out[index] = value
    out[tuple(n - 1 for n in a.shape)] = -np.inf
    return out


def _float64(target):
    if "float64" not in target.dtypes():
        pytest.skip(f"{target.id} has no float64")


def _setup(cell, **options):
    layer = rnnx.layer(cell, I, H, num_layers=L, **options)
    p = layer.init_params(np, seed=3, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I))
    s0 = tuple(0.1 * rng.standard_normal((L, B, n)) for n in layer.state_sizes)
    return layer, p, x, s0


def _on(target, p, x, s0):
    conv = target.from_numpy
    return {k: conv(v) for k, v in p.items()}, conv(x), tuple(conv(s) for s in s0)


def _pack(layer, s0):
    return s0 if len(layer.spec.state) > 1 else s0[0]


def _places(cell):
    state = ["state0[0]", "state0[1]"] if cell == "lstm" else ["state0"]
    return ["x", *state, PARAM_A[0], PARAM_B[0]]


FORWARD_CASES = [pytest.param(c, w, id=f"{c}-{w}") for c in CELLS for w in _places(c)]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("cell, where", FORWARD_CASES)
@pytest.mark.parametrize("target", target_params())
def test_planted_in_inputs_is_named(target, cell, where, value):
    """NaN or Inf planted in x, h0, c0 (LSTM) or one of two params: forward and __call__
    raise NonFiniteError naming that array, the count (2) and the first bad index."""
    _float64(target)
    layer, p, x, s0 = _setup(cell)
    s0 = list(s0)
    v = VALUES[value]
    if where == "x":
        x = planted(x, (2, 1, 0), v)
        bad, name = x, "x"
    elif where.startswith("state0"):
        j = int(where[-2]) if "[" in where else 0
        s0[j] = planted(s0[j], (1, 0, 2), v)
        bad, name = s0[j], where
    else:
        index = dict((PARAM_A, PARAM_B))[where]
        p = {**p, where: planted(p[where], index, v)}
        bad, name = p[where], f"params[{where!r}]"
    pt, xt, st = _on(target, p, x, s0)
    for call in (layer.forward, layer.__call__):
        with pytest.raises(NonFiniteError) as e:
            call(pt, xt, _pack(layer, st), check_finite=True)
        assert str(e.value) == expected(name, bad)
        assert isinstance(e.value, FloatingPointError) and isinstance(e.value, ValueError)
    with np.errstate(invalid="ignore", over="ignore"):  # NumPy warns computing with NaN
        layer(pt, xt, _pack(layer, st))  # the default inspects nothing: no error


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("target", target_params())
def test_planted_in_dy_is_named(target, cell, value):
    _float64(target)
    layer, p, x, s0 = _setup(cell)
    pt, xt, st = _on(target, p, x, s0)
    y, _, cache = layer.forward(pt, xt, _pack(layer, st), check_finite=True)
    dy = planted(np.ones((T, B, H)), (3, 0, 2), VALUES[value])
    with pytest.raises(NonFiniteError) as e:
        layer.backward(pt, cache, target.from_numpy(dy), check_finite=True)
    assert str(e.value) == expected("dy", dy)
    with np.errstate(invalid="ignore", over="ignore"):  # NumPy warns computing with NaN
        layer.backward(pt, cache, target.from_numpy(dy))  # the default inspects nothing


@pytest.mark.parametrize("target", target_params())
def test_order_inputs_then_params_in_layout_order(target):
    """x before state0 before params; params in param_shapes() order, whatever dict order."""
    _float64(target)
    layer, p, x, s0 = _setup("lstm")
    bad_x = planted(x, (0, 0, 0), np.nan)
    bad_c = planted(s0[1], (0, 0, 0), np.inf)
    keys = list(layer.param_shapes())
    late, early = keys[-1], keys[1]
    bad_p = {k: p[k] for k in reversed(keys)}  # dict order reversed: the check follows the layout
    bad_p[late] = planted(p[late], (0,) * p[late].ndim, np.nan)
    bad_p[early] = planted(p[early], (0,) * p[early].ndim, np.inf)
    for xs, ss, ps, name, arr in [
        (bad_x, (s0[0], bad_c), bad_p, "x", bad_x),
        (x, (s0[0], bad_c), bad_p, "state0[1]", bad_c),
        (x, s0, bad_p, f"params[{early!r}]", bad_p[early]),
    ]:
        pt, xt, st = _on(target, ps, xs, ss)
        with pytest.raises(NonFiniteError, match=None) as e:
            layer.forward(pt, xt, st, check_finite=True)
        assert str(e.value) == expected(name, arr)


def _first_bad(named: dict[str, np.ndarray]) -> str:
    return next(expected(n, a) for n, a in named.items() if not np.isfinite(a).all())


@pytest.mark.parametrize("target", target_params())
def test_forward_overflow_names_y(target):
    """Finite inputs, relu RNN with weights 1e300: step 1 overflows to inf in y, named with
    its first index; the unchecked call returns that inf silently."""
    _float64(target)
    layer = rnnx.RNN(I, H, nonlinearity="relu")
    p = {k: np.full(s, 0.0 if k.startswith("bias") else 1e300) for k, s in layer.param_shapes().items()}
    x = np.ones((T, B, I))
    pt, xt = {k: target.from_numpy(v) for k, v in p.items()}, target.from_numpy(x)
    with np.errstate(over="ignore", invalid="ignore"):  # NumPy may warn while overflowing
        y, state = layer(pt, xt)
        with pytest.raises(NonFiniteError) as e:
            layer.forward(pt, xt, check_finite=True)
    y_host = target.to_numpy(y)
    assert str(e.value) == _first_bad({"y": y_host, "state": target.to_numpy(state)})
    assert str(e.value) == f"y: {(T - 1) * B * H} non-finite values (first inf at index (1, 0, 0)); " \
                           "expected finite numbers"


@pytest.mark.parametrize("target", target_params())
def test_backward_overflow_names_first_gradient(target):
    """Finite inputs and dy 1e308: the gradients overflow; the message names the first
    non-finite one in the order grads (param_shapes order), dx, dstate0."""
    _float64(target)
    layer = rnnx.RNN(I, H, nonlinearity="relu")
    p = layer.init_params(np, seed=1, dtype=np.float64)
    x = np.abs(np.random.default_rng(1).standard_normal((T, B, I))) + 1.0
    pt, xt = {k: target.from_numpy(v) for k, v in p.items()}, target.from_numpy(x)
    y, _, cache = layer.forward(pt, xt, check_finite=True)
    dy = target.from_numpy(np.full((T, B, H), 1e308))
    with np.errstate(over="ignore", invalid="ignore"):
        g, dx, ds0 = layer.backward(pt, cache, dy)
        with pytest.raises(NonFiniteError) as e:
            layer.backward(pt, cache, dy, check_finite=True)
    host = {**{f"grads[{k!r}]": target.to_numpy(g[k]) for k in layer.param_shapes()},
            "dx": target.to_numpy(dx), "dstate0": target.to_numpy(ds0)}
    assert str(e.value) == _first_bad(host)
    assert str(e.value).startswith("grads[")


def _same(a, b, target):
    return target.to_numpy(a).tobytes() == target.to_numpy(b).tobytes()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("target", target_params())
def test_clean_results_bitwise_equal_on_and_off(target, cell):
    """On finite input, check_finite=True and the default give the same bits (layer and
    Model), and True raises nothing."""
    _float64(target)
    layer, p, x, s0 = _setup(cell)
    pt, xt, st = _on(target, p, x, s0)
    s = _pack(layer, st)
    dy = target.from_numpy(np.random.default_rng(2).standard_normal((T, B, H)))
    off, on = (layer.forward(pt, xt, s), layer.forward(pt, xt, s, check_finite=True))
    flat = lambda r: [r[0], *(r[1] if isinstance(r[1], tuple) else (r[1],))]  # noqa: E731
    assert all(_same(a, b, target) for a, b in zip(flat(off), flat(on)))
    assert all(_same(a, b, target) for a, b in zip(flat(layer(pt, xt, s)), flat(layer(pt, xt, s, check_finite=True))))
    g0, dx0, _ = layer.backward(pt, off[2], dy)
    g1, dx1, _ = layer.backward(pt, on[2], dy, check_finite=True)
    assert _same(dx0, dx1, target) and all(_same(g0[k], g1[k], target) for k in g0)
    model = rnnx.Model(cell, I, H, num_layers=L)
    mp = {k: target.from_numpy(v) for k, v in model.init_params(np, seed=4, dtype=np.float64).items()}
    tgt = target.from_numpy(np.zeros((B, 1)))
    l0, mg0, _ = model.loss_and_grad(mp, xt, tgt)
    l1, mg1, _ = model.loss_and_grad(mp, xt, tgt, check_finite=True)
    assert _same(l0, l1, target) and all(_same(mg0[k], mg1[k], target) for k in mg0)
    assert _same(model.predict(mp, xt)[0], model.predict(mp, xt, check_finite=True)[0], target)


@pytest.mark.parametrize("target", target_params())
def test_model_names_in_its_order(target):
    """Model: x, state0, target, then params in param_shapes() order (head last), pred
    and dpred by their argument names."""
    _float64(target)
    model = rnnx.Model("gru", I, H, num_layers=L)
    p = model.init_params(np, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((T, B, I))
    tgt = np.zeros((B, 1))
    conv = target.from_numpy
    bad_t = planted(tgt, (1, 0), np.nan)
    bad_w = planted(p["weight_hy"], (0, 2), np.inf)
    bad_hh = planted(p["weight_hh_l0"], (1, 1), np.nan)
    pw = {k: conv(v) for k, v in {**p, "weight_hy": bad_w}.items()}
    pboth = {k: conv(v) for k, v in {**p, "weight_hy": bad_w, "weight_hh_l0": bad_hh}.items()}
    pt = {k: conv(v) for k, v in p.items()}
    cases = [
        (lambda: model.loss_and_grad(pw, conv(x), conv(bad_t), check_finite=True), expected("target", bad_t)),
        (lambda: model.loss_and_grad(pw, conv(x), conv(tgt), check_finite=True),
         expected("params['weight_hy']", bad_w)),
        (lambda: model.loss_and_grad(pboth, conv(x), conv(tgt), check_finite=True),
         expected("params['weight_hh_l0']", bad_hh)),
        (lambda: model.forward(pw, conv(x), check_finite=True), expected("params['weight_hy']", bad_w)),
        (lambda: model.predict(pw, conv(x), check_finite=True), expected("params['weight_hy']", bad_w)),
    ]
    for call, message in cases:
        with pytest.raises(NonFiniteError) as e:
            call()
        assert str(e.value) == message
    pred, _, cache = model.forward(pt, conv(x), check_finite=True)
    dpred = planted(np.ones((B, 1)), (0, 0), np.inf)
    with pytest.raises(NonFiniteError) as e:
        model.backward(pt, cache, conv(dpred), check_finite=True)
    assert str(e.value) == expected("dpred", dpred)


def test_lengths_padding_is_not_checked_and_indices_follow_batch_first():
    """With lengths, NaN past a sequence's end (never read) passes; inside, the index is in
    the caller's (B, T, I) layout; dy past the end likewise."""
    layer = rnnx.LSTM(I, H, batch_first=True)
    p = layer.init_params(np, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((B, T, I))
    x[0, 3:, :] = np.nan  # padding: lengths[0] = 3
    y, _, cache = layer.forward(p, x, lengths=[3, 5, 5], check_finite=True)
    dy = np.ones((B, T, H))
    dy[0, 4, 1] = np.inf
    layer.backward(p, cache, dy, check_finite=True)
    dy[2, 4, 1] = np.nan
    with pytest.raises(NonFiniteError) as e:
        layer.backward(p, cache, dy, check_finite=True)
    assert str(e.value) == "dy: 1 non-finite value (first nan at index (2, 4, 1)); expected finite numbers"
    x[1, 2, 0] = np.inf
    with pytest.raises(NonFiniteError) as e:
        layer(p, x, lengths=[3, 5, 5], check_finite=True)
    assert str(e.value) == "x: 1 non-finite value (first inf at index (1, 2, 0)); expected finite numbers"


def _jax_target():
    return [t for t in target_params() if t.id == "jax-cpu"]


@pytest.mark.parametrize("target", _jax_target())
def test_jit_refuses_check_finite(target):
    """Under jax.jit the values are traced: check_finite=True is a ValueError (not a silent
    no-op), check_finite=False traces as before."""
    import jax

    layer, p, x, s0 = _setup("lstm")
    pt, xt, st = _on(target, p, x, s0)
    model = rnnx.Model("lstm", I, H)
    mp = {k: target.from_numpy(v) for k, v in model.init_params(np, seed=0, dtype=np.float64).items()}
    tgt = target.from_numpy(np.zeros((B, 1)))
    y, _, cache = layer.forward(pt, xt, st)
    calls = [
        lambda p_, x_: layer(p_, x_, check_finite=True),
        lambda p_, x_: layer.forward(p_, x_, check_finite=True)[0],
        lambda p_, x_: layer.backward(p_, cache, x_[..., :1] * y, check_finite=True)[1],
        lambda p_, x_: model.loss_and_grad(mp, x_, tgt, check_finite=True)[0],
        lambda p_, x_: model.predict(mp, x_, check_finite=True)[0],
    ]
    for fn in calls:
        with pytest.raises(ValueError) as e:
            jax.jit(fn)(pt, xt)
        assert type(e.value) is ValueError and str(e.value) == JIT_REFUSAL
    got = jax.jit(lambda p_, x_: layer(p_, x_)[0])(pt, xt)
    np.testing.assert_allclose(np.asarray(got), np.asarray(layer(pt, xt)[0]), rtol=1e-12, atol=0)
    flags = jax.jit(lambda p_: checks.finite_flags(p_, xp=compat.array_namespace(xt)))(pt)  # device-only: traces
    assert np.asarray(flags).tolist() == [True] * len(pt)


def _counting(xp, monkeypatch) -> collections.Counter:
    """Wrap every function of the namespace ``xp`` to count its calls."""
    counts: collections.Counter = collections.Counter()
    for name in dir(xp):
        fn = getattr(xp, name)
        if name.startswith("_") or inspect.isclass(fn) or not callable(fn) or inspect.ismodule(fn):
            continue

        def wrapped(*a, _fn=fn, _name=name, **k):
            counts[_name] += 1
            return _fn(*a, **k)

        monkeypatch.setattr(xp, name, wrapped)
    return counts


def _run_all(layer, model, p, mp, x, s0, tgt, dy, **kw):
    y, _, cache = layer.forward(p, x, s0, **kw)
    layer(p, x, s0, **kw)
    layer.backward(p, cache, dy, **kw)
    pred, _, mcache = model.forward(mp, x, **kw)
    model.predict(mp, x, **kw)
    model.backward(mp, mcache, pred, **kw)
    model.loss_and_grad(mp, x, tgt, **kw)


def test_off_issues_no_array_op(monkeypatch):
    """Counting every call into the array namespace: check_finite=False (and the default)
    call exactly what check_finite=True calls minus the check's own isfinite/all/stack, and
    never isfinite; True does call it (so the counter sees the check)."""
    layer, p, x, s0 = _setup("lstm")
    model = rnnx.Model("lstm", I, H, num_layers=L)
    mp = model.init_params(np, seed=0, dtype=np.float64)
    tgt, dy = np.zeros((B, 1)), np.ones((T, B, H))
    counts = _counting(compat.array_namespace(x), monkeypatch)
    args = (layer, model, p, mp, x, s0, tgt, dy)
    _run_all(*args)
    default = collections.Counter(counts)
    counts.clear()
    _run_all(*args, check_finite=False)
    off = collections.Counter(counts)
    counts.clear()
    _run_all(*args, check_finite=True)
    on = collections.Counter(counts)
    assert off == default and off["isfinite"] == 0 and off["all"] == 0
    assert on["isfinite"] > 0
    assert not off - on and set(on - off) == {"isfinite", "all", "stack"}


@pytest.mark.parametrize("target", target_params())
def test_flags_and_first_non_finite(target):
    """finite_flags: one device bool per array, in order; first_non_finite / finite."""
    _float64(target)
    conv = target.from_numpy
    xp = target.namespace()
    good, bad = conv(np.ones((2, 3))), conv(planted(np.ones((2, 3)), (0, 1), np.nan))
    named = {"grads['a']": good, "grads['b']": bad, "grads['c']": good}
    flags = checks.finite_flags(named, xp=xp)
    assert flags.shape == (3,) and xp.isdtype(flags.dtype, "bool")
    host = target.to_numpy(flags)
    assert host.tolist() == [True, False, True]
    assert checks.first_non_finite(named, xp=xp) == expected("grads['b']", target.to_numpy(bad))
    assert checks.first_non_finite(list(named.items())[::2], xp=xp) is None
    assert checks.first_non_finite({}, xp=xp) is None
    with pytest.raises(ValueError, match=r"^arrays: expected at least one array"):
        checks.finite_flags({}, xp=xp)
    checks.finite("x", good, xp=xp)
    with pytest.raises(NonFiniteError, match=r"^x: 2 non-finite values \(first nan at index \(0, 1\)\)"):
        checks.finite("x", bad, xp=xp)
    assert rnnx.NonFiniteError is NonFiniteError
