"""One test (or a few) per item of issue 15's "Also fix" list, each able to fail on the bug it
names:

1. ``lengths`` of a small integer dtype must not wrap the time mask;
2. NaN/Inf in the padding of x (steps past a sequence's length) must not reach any result;
3. ``jax.jit`` of a function closing over a concrete ``lengths`` array must trace;
4. float32 sigmoid keeps its tails, and a saturated float32 LSTM's gradients stay as close
   to float64 as torch's own;
5. loading a backend changes no process-wide setting (subprocess, clean environment);
6. the core imports no backend module by name (AST).
"""

from __future__ import annotations

import ast
import math
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rnnx
from rnnx.backends import Target
from rnnx.cells import CELLS

from conftest import target_params

ROOT = pathlib.Path(__file__).resolve().parents[1]

NUMPY = Target("numpy", "cpu")
TORCH = Target("torch", "cpu")
JAX = Target("jax", "cpu")
STRICT = Target("array_api_strict", "device1")


def _target(t: Target):
    why = t.unavailable()
    return pytest.param(t, id=t.id, marks=[pytest.mark.skip(reason=f"{t.id} unavailable: {why}")] if why else [])


def _tup(s):
    return s if isinstance(s, tuple) else (s,)


def _pack(layer, s):
    return s if len(layer.spec.state) > 1 else s[0]


def _variant_ids():
    return [(c, v) for c, s in CELLS.items() for v in s.variants]


# --------------------------------------------------------------------------------------------------------
# 1. lengths of a small integer dtype
# --------------------------------------------------------------------------------------------------------
SMALL_INTS = ("uint8", "int8", "int16", "uint16")


def _gru_300():
    layer = rnnx.GRU(1, 2)
    p = layer.init_params(np, seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 1, 1))
    h0 = rng.standard_normal((1, 1, 2))
    return layer, p, x, h0


def test_uint8_lengths_give_the_int64_final_state_numpy():
    """The issue's reproduction: lengths uint8 [100] on T = 300 (arange(300, uint8) wraps at
    256, so steps 256..299 would count as valid again)."""
    layer, p, x, h0 = _gru_300()
    _, h_ref = layer(p, x, h0, lengths=np.array([100]))
    _, h_u8 = layer(p, x, h0, lengths=np.array([100], np.uint8))
    _, h_cut = layer(p, x[:100], h0)  # the first 100 steps alone
    np.testing.assert_array_equal(h_u8, h_ref)
    np.testing.assert_array_equal(h_ref, h_cut)


@pytest.mark.parametrize("target", [_target(NUMPY), _target(TORCH)])
@pytest.mark.parametrize("dtype", SMALL_INTS)
def test_small_integer_lengths_equal_int64_lengths(target, dtype):
    """int8/int16/uint8/uint16 lengths: outputs, final state and every gradient equal those of
    int64 lengths, on a batch whose lengths straddle nothing special (100, 7, 1) with T = 300."""
    layer = rnnx.GRU(1, 2, bidirectional=True)
    rng = np.random.default_rng(1)
    p = layer.init_params(np, seed=1, dtype=np.float64)
    x, h0 = rng.standard_normal((300, 3, 1)), rng.standard_normal((2, 3, 2))
    dy, dh = rng.standard_normal((300, 3, 4)), rng.standard_normal((2, 3, 2))
    lens = np.array([100, 7, 1])
    conv = target.from_numpy

    def run(lengths):
        params = {k: conv(v) for k, v in p.items()}
        y, h, cache = layer.forward(params, conv(x), conv(h0), lengths=lengths)
        g, dx, dh0 = layer.backward(params, cache, conv(dy), conv(dh))
        return [target.to_numpy(a) for a in (y, h, dx, dh0, *g.values())]

    ref = run(conv(lens))
    small = conv(lens.astype(dtype))
    assert str(small.dtype).endswith(dtype), small.dtype
    got = run(small)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------------------
# 2. NaN / Inf in the padding
# --------------------------------------------------------------------------------------------------------
PAD_T, PAD_B, PAD_I, PAD_H = 5, 3, 2, 3
PAD_LENGTHS = np.array([5, 1, 3])


def _padding_inputs(layer):
    rng = np.random.default_rng(2)
    D = layer.num_directions
    lead = layer.num_layers * D
    p = layer.init_params(np, seed=2, dtype=np.float64)
    x = rng.standard_normal((PAD_T, PAD_B, PAD_I))
    s0 = tuple(rng.standard_normal((lead, PAD_B, n)) for n in layer.state_sizes)
    dy = rng.standard_normal((PAD_T, PAD_B, D * layer.output_size))
    ds = tuple(rng.standard_normal((lead, PAD_B, n)) for n in layer.state_sizes)
    pad = np.arange(PAD_T)[:, None] >= PAD_LENGTHS[None, :]  # (T, B): steps past each length
    bad = x.copy()
    fill = np.array([np.nan, np.inf, -np.inf])
    idx = np.argwhere(pad)
    for n, (t, b) in enumerate(idx):
        bad[t, b, :] = fill[(n + np.arange(PAD_I)) % 3]
    assert np.isnan(bad).any() and np.isinf(bad).any()
    zero = np.where(pad[..., None], 0.0, x)
    return p, zero, bad, s0, dy, ds, pad


PAD_VARIANTS = [pytest.param(c, v, id=v) for c, v in _variant_ids()]


def _pad_run(target, layer, p, x, s0, dy, ds):
    conv = target.from_numpy
    params = {k: conv(v) for k, v in p.items()}
    lengths = conv(PAD_LENGTHS)
    y, st, cache = layer.forward(params, conv(x), _pack(layer, tuple(conv(a) for a in s0)), lengths=lengths)
    g, dx, ds0 = layer.backward(params, cache, conv(dy), _pack(layer, tuple(conv(a) for a in ds)))
    out = {"y": y, "dx": dx}
    out.update({f"state{i}": a for i, a in enumerate(_tup(st))})
    out.update({f"dstate0_{i}": a for i, a in enumerate(_tup(ds0))})
    out.update({f"d{k}": v for k, v in g.items()})
    return {k: np.asarray(target.to_numpy(v)) for k, v in out.items()}


def _check_padding(target, cell, variant, num_layers=2):
    layer = rnnx.layer(cell, PAD_I, PAD_H, num_layers=num_layers, bidirectional=True, **CELLS[cell].variants[variant])
    p, zero, bad, s0, dy, ds, pad = _padding_inputs(layer)
    want = _pad_run(target, layer, p, zero, s0, dy, ds)
    got = _pad_run(target, layer, p, bad, s0, dy, ds)
    not_finite = [k for k, v in got.items() if not np.isfinite(v).all()]
    assert not not_finite, f"{variant} on {target.id}: NaN/Inf padding reached {not_finite}"
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=f"{variant} on {target.id}: {k}")
    assert np.all(got["dx"][pad] == 0.0), "dx must be zero on padded steps"


@pytest.mark.parametrize("cell,variant", PAD_VARIANTS)
@pytest.mark.parametrize("target", [_target(NUMPY), _target(TORCH)])
def test_nan_inf_padding_never_reaches_a_result(target, cell, variant):
    """Every cell variant, both directions, two layers: with NaN, +Inf and -Inf on every padded
    step of x the outputs, final states and every gradient are finite and bit-identical to
    those with zero padding (a packed sequence never reads padding)."""
    _check_padding(target, cell, variant)


@pytest.mark.parametrize("cell", list(CELLS))
def test_nan_inf_padding_never_reaches_a_result_jax(cell):
    if JAX.unavailable():
        pytest.skip(JAX.unavailable())
    _check_padding(JAX, cell, next(iter(CELLS[cell].variants)), num_layers=1)  # both directions; eager JAX is slow


def test_nan_padding_jax_vjp_is_finite():
    """Autodiff of rnnx's forward with NaN padding: finite and equal to zero padding."""
    if JAX.unavailable():
        pytest.skip(JAX.unavailable())
    import jax
    import jax.numpy as jnp

    layer = rnnx.LSTM(PAD_I, PAD_H, bidirectional=True)
    p, zero, bad, s0, dy, ds, _ = _padding_inputs(layer)
    lengths = jnp.asarray(PAD_LENGTHS)

    def grads(x):
        f = lambda params, x, s0: layer(params, x, s0, lengths=lengths)  # noqa: E731
        out, vjp = jax.vjp(f, {k: jnp.asarray(v) for k, v in p.items()}, jnp.asarray(x),
                           tuple(jnp.asarray(a) for a in s0))
        return jax.tree_util.tree_leaves((out, vjp((jnp.asarray(dy), tuple(jnp.asarray(a) for a in ds)))))

    for a, b in zip(grads(bad), grads(zero)):
        assert np.isfinite(np.asarray(a)).all()
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# --------------------------------------------------------------------------------------------------------
# 3. jax.jit closing over concrete lengths
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm"])  # the lengths check is the layer's, one for every cell
def test_jit_closing_over_concrete_lengths(cell):
    """``lengths`` a concrete jax array captured by the jitted function (not an argument):
    the lengths check must not ask for its values (no ConcretizationTypeError); inference,
    forward and backward equal eager."""
    if JAX.unavailable():
        pytest.skip(JAX.unavailable())
    import jax
    import jax.numpy as jnp

    layer = rnnx.layer(cell, 2, 3, bidirectional=True)
    rng = np.random.default_rng(3)
    p = {k: jnp.asarray(v) for k, v in layer.init_params(np, seed=3, dtype=np.float64).items()}
    x = jnp.asarray(rng.standard_normal((5, 3, 2)))
    s0 = _pack(layer, tuple(jnp.asarray(rng.standard_normal((2, 3, n))) for n in layer.state_sizes))
    dy = jnp.asarray(rng.standard_normal((5, 3, 6)))
    lengths = jnp.asarray([5, 2, 4])

    def f(p, x, s0):
        y, st, cache = layer.forward(p, x, s0, lengths=lengths)
        return layer(p, x, s0, lengths=lengths), y, st, layer.backward(p, cache, dy)

    jitted, eager = jax.jit(f)(p, x, s0), f(p, x, s0)
    leaves_j, leaves_e = jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager)
    assert len(leaves_j) == len(leaves_e) > 0
    for a, b in zip(leaves_j, leaves_e):
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-13
    # eagerly the values are still checked
    with pytest.raises(ValueError, match="lengths"):
        layer(p, x, s0, lengths=jnp.asarray([6, 2, 4]))


# --------------------------------------------------------------------------------------------------------
# 4. float32 sigmoid tails
# --------------------------------------------------------------------------------------------------------
TAIL_POINTS = (-17.0, -20.0, -30.0, -80.0, -87.0, -100.0, 17.0, 30.0)
F32_TINY = float(np.finfo(np.float32).tiny)  # smallest normal float32, 1.18e-38


def _exact_sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _ulps(got: float, exact: float) -> float:
    """|got - exact| in float32 ulps at the exact value (subnormal spacing below tiny)."""
    return abs(got - exact) / float(np.spacing(np.float32(exact)))


def _tail_verdict(got: float, exact: float) -> str | None:
    """None when ``got`` is a good float32 sigmoid value, else why not.

    Within 2 ulp of the float64 exact value; or, where the exact value lies below float32's
    smallest normal (an underflow: -100 -> 3.7e-44), 0 (flush to zero, as torch and XLA do
    on CPU) or the correctly rounded subnormal; where the exact value rounds to 1 in float32
    (+30), 1."""
    if _ulps(got, exact) <= 2.0:
        return None
    if exact < F32_TINY and got == 0.0:
        return None  # underflow, flushed to zero
    return f"got {got!r}, exact {exact!r} ({_ulps(got, exact):.4g} ulp)"


@pytest.mark.parametrize("target", [_target(NUMPY), _target(STRICT), _target(TORCH), _target(JAX)])
def test_float32_sigmoid_tails(target):
    """``rnnx._xp.sigmoid`` in float32 at the tail points, every point in one array: NumPy
    and array-api-strict (no native sigmoid: rnnx's exp form) and torch/JAX (native)."""
    from rnnx._xp import sigmoid

    xp = target.namespace()
    xs = target.from_numpy(np.asarray(TAIL_POINTS, dtype=np.float32))
    ys = sigmoid(xs, xp=xp)
    assert str(ys.dtype).endswith("float32")
    got = target.to_numpy(ys).astype(np.float64)
    bad = {}
    for v, g in zip(TAIL_POINTS, got):
        why = _tail_verdict(float(g), _exact_sigmoid(v))
        if why:
            bad[v] = why
    assert not bad, f"float32 sigmoid on {target.id}: {bad}"


@pytest.mark.parametrize("target", [_target(NUMPY), _target(STRICT)])
def test_float32_sigmoid_of_negated_tails(target):
    """The fused LSTM's form ``sigmoid(-z) = 1 / (1 + exp(z))`` at z = -x, same criterion."""
    from rnnx._xp import sigmoid_of_negated

    xp = target.namespace()
    zs = target.from_numpy(-np.asarray(TAIL_POINTS, dtype=np.float32))
    got = target.to_numpy(sigmoid_of_negated(zs, xp=xp)).astype(np.float64)
    bad = {v: w for v, g in zip(TAIL_POINTS, got) if (w := _tail_verdict(float(g), _exact_sigmoid(v)))}
    assert not bad, f"float32 sigmoid_of_negated on {target.id}: {bad}"


@pytest.mark.parametrize("target", target_params())
def test_index_array_equals_asarray_of_the_list(target):
    """``rnnx._xp.index_array`` (one buffer) gives what ``asarray`` of the list gives: same
    values, the requested dtype (int32 and int64), the target's device."""
    from rnnx._xp import index_array

    xp, dev = target.namespace(), target.device_obj()
    values = [5, 0, 2**31 - 1, 3, 1]
    for dt in (xp.int32, xp.int64):
        a = index_array(values, xp=xp, dtype=dt, device=dev)
        want = xp.asarray(values, dtype=dt, device=dev)
        assert a.dtype == want.dtype and a.shape == (5,)
        assert target.to_numpy(a).tolist() == values


def _blockwise_rel(a: np.ndarray, b: np.ndarray, gates: int) -> float:
    """Worst norm-wise relative error over the gate row blocks of a gradient (the saturated
    gates' rows are tiny next to the others: one norm over all would hide them)."""
    n = a.shape[0] // gates
    errs = []
    for k in range(gates):
        bk = b[k * n:(k + 1) * n]
        nb = np.linalg.norm(bk)
        errs.append(np.linalg.norm(a[k * n:(k + 1) * n] - bk) / (nb if nb > 0 else 1.0))
    return float(max(errs))


@pytest.mark.parametrize("target", [_target(NUMPY), _target(STRICT)])
def test_saturated_float32_lstm_gradients_as_close_as_torchs(target):
    """A float32 LSTM whose i and o gates sit deep in sigmoid's negative tail (weights x2,
    their biases -20: sigmoid ~ 2e-9): each weight gradient's float32-vs-float64 relative
    difference (worst gate block) is within 10x of torch.nn.LSTM's own on the same float32
    weights.  (The tanh form ``0.5 tanh(x/2) + 0.5`` rounds those gates to 0: its error is
    1e4..1e7 times torch's.)"""
    torch = pytest.importorskip("torch")
    T, B, I, H = 5, 3, 3, 4
    layer = rnnx.LSTM(I, H)
    rng = np.random.default_rng(0)
    p = {k: 2.0 * v for k, v in layer.init_params(np, seed=0, dtype=np.float64).items()}
    p["bias_ih_l0"][:H] -= 20.0
    p["bias_ih_l0"][3 * H:] -= 20.0
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0, c0 = (rng.standard_normal((1, B, H)).astype(np.float32) for _ in range(2))
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    dh, dc = (rng.standard_normal((1, B, H)).astype(np.float32) for _ in range(2))

    def rnnx_grads(t, dtype):
        c = lambda a: t.from_numpy(a.astype(dtype))  # noqa: E731
        params = {k: c(v) for k, v in p32.items()}
        _, _, cache = layer.forward(params, c(x), (c(h0), c(c0)))
        g, _, _ = layer.backward(params, cache, c(dy), (c(dh), c(dc)))
        return {k: t.to_numpy(v).astype(np.float64) for k, v in g.items()}

    def torch_grads(dtype):
        m = torch.nn.LSTM(I, H, dtype=dtype)
        m.load_state_dict({k: torch.tensor(v, dtype=dtype) for k, v in p32.items()})
        t = lambda a: torch.tensor(a, dtype=dtype)  # noqa: E731
        y, (h, c) = m(t(x), (t(h0), t(c0)))
        ((y * t(dy)).sum() + (h * t(dh)).sum() + (c * t(dc)).sum()).backward()
        return {k: v.grad.double().numpy() for k, v in m.named_parameters()}

    ours32, ours64 = rnnx_grads(target, np.float32), rnnx_grads(NUMPY, np.float64)
    t32, t64 = torch_grads(torch.float32), torch_grads(torch.float64)
    for k in ours64:  # the float64 references agree: the comparison is of like with like
        assert _blockwise_rel(ours64[k], t64[k], 4) <= 1e-12
    report = {k: (_blockwise_rel(ours32[k], ours64[k], 4), _blockwise_rel(t32[k], t64[k], 4)) for k in ours64}
    bad = {k: f"rnnx {e:.3e} vs torch {te:.3e}" for k, (e, te) in report.items() if not e <= 10.0 * te}
    assert not bad, f"saturated float32 LSTM on {target.id}: {bad}"


# --------------------------------------------------------------------------------------------------------
# 5. loading a backend changes no process-wide setting
# --------------------------------------------------------------------------------------------------------
def _clean_env() -> dict:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LANG", "SYSTEMROOT") if k in os.environ}
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _run_clean(code: str) -> str:
    r = subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(code)], cwd=str(ROOT), env=_clean_env(),
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, f"subprocess failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_loading_jax_changes_no_jax_setting():
    pytest.importorskip("jax")
    out = _run_clean("""
        import jax
        assert jax.config.read("jax_enable_x64") is False, "the clean environment already has x64"
        import numpy as np
        import rnnx
        from rnnx import backends
        from rnnx.backends import Target

        t = Target("jax", "cpu")
        jnp = t.namespace()
        t.device_obj(); backends.get("jax"); backends.capabilities(jnp)
        assert jax.config.read("jax_enable_x64") is False, "namespace() turned jax_enable_x64 on"
        assert jax.config.jax_default_matmul_precision is None, jax.config.jax_default_matmul_precision
        # running rnnx on float32 JAX arrays sets nothing either
        # (no dropout here: its masks' uint32 path is tests/test_cell_features.py's)
        layer = rnnx.LSTM(2, 3, num_layers=2, bidirectional=True)
        p = layer.init_params(jnp, seed=0, dtype=jnp.float32)
        y, s, cache = layer.forward(p, jnp.ones((4, 2, 2), dtype=jnp.float32), lengths=jnp.asarray([4, 2]))
        layer.backward(p, cache, y)
        assert y.dtype == jnp.float32
        assert jax.config.read("jax_enable_x64") is False, "a forward turned jax_enable_x64 on"
        assert jax.config.jax_default_matmul_precision is None
        with t.scope():
            assert jax.config.read("jax_enable_x64") is True
            a = jnp.ones(3, dtype=jnp.float64)
            assert a.dtype == jnp.float64, a.dtype
            assert jax.config.jax_default_matmul_precision == "highest"
        assert jax.config.read("jax_enable_x64") is False, "scope() left x64 on"
        assert jax.config.jax_default_matmul_precision is None, "scope() left the matmul precision set"
        assert jnp.asarray(1.0).dtype == jnp.float32  # x64 off again: Python floats are float32
        print("ok")
    """)
    assert out.strip().endswith("ok")


def test_loading_torch_changes_no_torch_setting():
    pytest.importorskip("torch")
    out = _run_clean("""
        import torch
        # non-default values on purpose: a backend that sets either flag shows
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = False
        before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        import numpy as np
        import rnnx
        from rnnx.backends import Target

        t = Target("torch", "cpu")
        xp = t.namespace()
        t.device_obj()
        layer = rnnx.GRU(2, 3)
        p = layer.init_params(xp, seed=0, dtype=torch.float32)
        layer(p, torch.ones((4, 2, 2)))
        after = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        assert after == before, (before, after)
        with t.scope():
            assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
        print("ok")
    """)
    assert out.strip().endswith("ok")


# --------------------------------------------------------------------------------------------------------
# 6. the core imports no backend module by name
# --------------------------------------------------------------------------------------------------------
BACKEND_MODULES = ("numpy", "jax", "torch", "cupy", "array_api_strict", "malloc")
EXCLUDED = ("cli", "io", "interop")  # the application, I/O and converters; rnnx/testing is core


def _core_files() -> list[pathlib.Path]:
    pkg = ROOT / "rnnx"
    out = []
    for f in sorted(pkg.rglob("*.py")):
        rel = f.relative_to(pkg).parts
        if rel[0] in EXCLUDED:
            continue
        out.append(f)
    return out


def backend_module_uses(source: str) -> list[str]:
    """What in ``source`` reaches a backend module by name: ``import rnnx.backends.<name>``,
    ``from rnnx.backends import <name>``, ``from rnnx.backends.<name> import ...``, an
    ``import_module("rnnx.backends.<name>")`` string, ``backends.get(...)`` / ``Target(...).module``
    handed to ``getattr``, or ``getattr`` on a name bound to a backend module."""
    tree = ast.parse(source)
    found: list[str] = []
    bound: set[str] = set()  # local names bound to a backend module (or to rnnx.backends.get)
    mods = {f"rnnx.backends.{n}" for n in BACKEND_MODULES} | {f"backends.{n}" for n in BACKEND_MODULES}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in mods or any(a.name.startswith(m + ".") for m in mods):
                    found.append(f"line {node.lineno}: import {a.name}")
                    bound.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            m = ("." * node.level) + (node.module or "")
            if m in mods or m.lstrip(".") in mods:
                found.append(f"line {node.lineno}: from {m} import ...")
            if m in ("rnnx.backends", "backends", ".backends") or m.endswith(".backends"):
                for a in node.names:
                    if a.name in BACKEND_MODULES:
                        found.append(f"line {node.lineno}: from {m} import {a.name}")
                        bound.add(a.asname or a.name)
                    if a.name == "get":
                        bound.add(a.asname or a.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in mods:
            found.append(f"line {node.lineno}: the string {node.value!r}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and node.args:
            target = node.args[0]
            names = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
            attrs = {n.attr for n in ast.walk(target) if isinstance(n, ast.Attribute)}
            calls_get = any(isinstance(n, ast.Call) and (
                (isinstance(n.func, ast.Attribute) and n.func.attr == "get"
                 and isinstance(n.func.value, ast.Name) and n.func.value.id == "backends")
                or (isinstance(n.func, ast.Name) and n.func.id in bound)) for n in ast.walk(target))
            if names & bound or calls_get or "module" in attrs or attrs & set(BACKEND_MODULES):
                found.append(f"line {node.lineno}: getattr on a backend module ({ast.unparse(target)})")
    return found


def test_the_import_check_catches_what_it_forbids():
    """The checker itself: each forbidden form is caught, the capability record is not."""
    bad = [
        "import rnnx.backends.jax",
        "import rnnx.backends.torch as bt",
        "from rnnx.backends import jax",
        "from rnnx.backends import cupy as cp",
        "from rnnx.backends.numpy import CAPABILITIES",
        "from rnnx.backends.malloc import trim",
        "import importlib\nm = importlib.import_module('rnnx.backends.jax')",
        "from rnnx import backends\nj = getattr(backends.get('jax'), 'jit', None)",
        "from rnnx.backends import get\nj = getattr(get('jax'), 'jit', None)",
        "from rnnx.backends import Target\nj = getattr(Target('jax', 'cpu').module, 'jit')",
    ]
    for src in bad:
        assert backend_module_uses(src), f"not caught: {src!r}"
    good = [
        "from rnnx.backends import capabilities\nc = capabilities(xp).jit",
        "import array_api_compat as compat\nx = getattr(a.dtype, 'itemsize', None)",
        "import jax",
    ]
    for src in good:
        assert not backend_module_uses(src), f"false alarm: {src!r}: {backend_module_uses(src)}"


def test_core_imports_no_backend_module_by_name():
    files = _core_files()
    names = {str(f.relative_to(ROOT)) for f in files}
    assert {"rnnx/nn/layers.py", "rnnx/nn/loop.py", "rnnx/_xp.py", "rnnx/random.py", "rnnx/nn/stack.py",
            "rnnx/cells/lstm.py"} <= names, names
    assert not any(n.startswith(("rnnx/cli/", "rnnx/io/", "rnnx/interop/")) for n in names)
    assert "rnnx/testing/harness.py" in names and "rnnx/diagnostics/plots.py" in names
    bad = {}
    for f in files:
        uses = backend_module_uses(f.read_text())
        if uses:
            bad[str(f.relative_to(ROOT))] = uses
    assert not bad, f"the core reaches backend modules by name: {bad}"
