"""The per-update fixed cost at batch 1 (issue 29 item 5), bounded by the work done, never
by time: which wrapper calls, device reads, reprs and array slicings one update makes on
NumPy, and that the bench's --before measures the older tree it is given."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil

import array_api_compat
import array_api_compat.numpy as xp
import numpy as np
import pytest

from rnnx import backends
from rnnx import losses as L
from rnnx._xp import namespace
from rnnx.nn.layers import Recurrent
from rnnx.nn.model import Model

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _seed001():
    """seed001-original's update: RNN(1 -> 16) many-to-many, one window of T = 10."""
    model = Model("rnn", 1, 16, 1, objective="many-to-many")
    params = model.init_params(xp, seed=0, dtype=xp.float64)
    rng = np.random.default_rng(0)
    return model, params, rng.normal(size=(10, 1, 1)), rng.normal(size=(10, 1, 1))


def _count(monkeypatch, owner, name):
    calls = []
    real = getattr(owner, name)

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_update_steps_through_arrays_without_unstack(monkeypatch):
    """The eager loop slices its 4 (T, B, .) arrays through NumPy's capability ``steps``
    (``list(a)``), not ``numpy.unstack`` (moveaxis and axis normalisation, 2.7 us more each)."""
    model, params, x, y = _seed001()
    calls = _count(monkeypatch, xp, "unstack")
    model.loss_and_grad(params, x, y, loss=L.get("half-sse"))
    assert calls == []


@pytest.mark.parametrize("shape", [(4,), (4, 3), (4, 2, 3), (1, 1, 1)])
def test_numpy_steps_are_unstacks_slices(shape):
    a = np.arange(float(np.prod(shape))).reshape(shape)
    got, want = backends.capabilities(xp).steps(a), xp.unstack(a, axis=0)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert type(g) is type(w) and np.shape(g) == np.shape(w) and np.array_equal(g, w)


def test_namespace_reads_no_device_on_numpy_and_asks_once_per_type(monkeypatch):
    import rnnx._xp

    monkeypatch.setattr(rnnx._xp, "_NAMESPACES", {})  # as on a first call: nothing remembered
    arrays = {f"a{i}": np.zeros(3) for i in range(8)}
    devices = _count(monkeypatch, array_api_compat, "device")
    seen = []
    real = array_api_compat.array_namespace
    monkeypatch.setattr(array_api_compat, "array_namespace", lambda *a, **k: (seen.append(len(a)), real(*a, **k))[1])
    assert namespace(**arrays) is xp
    assert devices == [] and seen == [1]


def test_namespace_still_names_a_non_array_and_mixed_libraries():
    with pytest.raises(TypeError, match=r"^b: expected an array, got float$"):
        namespace(a=np.zeros(2), b=1.0)
    with pytest.raises(TypeError, match=r"^b: expected an array, got list$"):
        namespace(a=np.zeros(2), b=[1.0])
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="from different libraries"):
        namespace(a=np.zeros(2), b=strict.zeros(2))


def test_update_builds_no_layer_repr(monkeypatch):
    """The parameter check forms its message (the layer's repr) only for a bad dict."""
    model, params, x, y = _seed001()
    calls = _count(monkeypatch, Recurrent, "__repr__")
    model.loss_and_grad(params, x, y, loss=L.get("half-sse"))
    model.forward(params, x)
    assert calls == []
    bad = {**params, "weight_hh_l0": np.zeros((16, 15))}
    with pytest.raises(ValueError, match=r"params\['weight_hh_l0'\]: expected shape \(16, 16\) for RNN\(1, 16\)"):
        model.forward(bad, x)
    assert len(calls) == 1


def test_update_calls_no_matrix_transpose_wrapper_on_2d(monkeypatch):
    """2-D transposes (W_hh^T, W_ih^T, W_hy^T, the gradient products') are the standard ``.T``,
    not array_api_compat's wrapper (~1 us each, 9 an update before)."""
    model, params, x, y = _seed001()
    calls = _count(monkeypatch, xp, "matrix_transpose")
    model.loss_and_grad(params, x, y, loss=L.get("half-sse"))
    assert calls == []


def test_update_stacks_no_single_final_state(monkeypatch):
    """One layer and direction: the final state and dstate0 are expand_dims, not stack."""
    model, params, x, y = _seed001()
    calls = _count(monkeypatch, xp, "stack")
    model.loss_and_grad(params, x, y, loss=L.get("half-sse"))
    assert calls == []


def _fixed_cost():
    spec = importlib.util.spec_from_file_location("fixed_cost", ROOT / "bench" / "fixed_cost.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fixed_cost_before_imports_the_older_backends(tmp_path):
    """``--before DIR``: DIR's rnnx alone on PYTHONPATH imports this tree's rnnx.backends (the
    editable install maps it); the shadow package imports both from DIR, and check_root says
    which is which."""
    fc = _fixed_cost()
    tree = tmp_path / "before"
    for name in ("rnnx", "backends"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.raises(SystemExit, match="do not shadow"):
        fc.check_root(str(tree))
    shadow = fc.shadow_tree(str(tree), str(tmp_path / "shadow"))
    fc.check_root(shadow)
    assert (pathlib.Path(shadow) / "rnnx" / "backends" / "numpy.py").is_file()


def test_namespace_takes_a_numpy_scalar():
    """A NumPy scalar (``np.float64`` subclasses float) is an array to array_api_compat."""
    assert namespace(a=np.zeros(2), b=np.float64(1.0)) is xp


def test_update_expands_no_dims_through_the_wrapper(monkeypatch):
    """The final state, dstate0 and the backward's shifted states take their new leading
    axis by indexing (``a[None, ...]``, a view), not NumPy's ``expand_dims`` (axis
    normalisation, ~2.5 us each, 3 an update before)."""
    model, params, x, y = _seed001()
    calls = _count(monkeypatch, xp, "expand_dims")
    model.loss_and_grad(params, x, y, loss=L.get("half-sse"))
    assert calls == []


def _grads(dtype=np.float64):
    rng = np.random.default_rng(3)
    shapes = {"weight_ih_l0": (16, 1), "weight_hh_l0": (16, 16), "bias_ih_l0": (16,), "bias_hh_l0": (16,),
              "weight_hy": (1, 16), "bias_y": (1,)}
    return {k: (2 * rng.normal(size=s)).astype(dtype) for k, s in shapes.items()}


def test_clip_by_value_takes_max_abs_in_one_reduction_and_reads_no_device_on_numpy(monkeypatch):
    """max |g| over every gradient is one ``max`` of the flattened gradients (5 ``max`` calls
    and 4 ``maximum`` before, ~3 us each), and on a one-device library (NumPy's capability
    record) no gradient's device is read (6 calls before); the same value as the per-array
    maxima folded."""
    from rnnx import optim

    g = _grads()
    maxes = _count(monkeypatch, xp, "max")
    devices = _count(monkeypatch, array_api_compat, "device")
    out, gmax = optim.clip_by_value(g, 1.0, xp=xp)
    assert len(maxes) == 1 and devices == []
    assert gmax.shape == () and gmax == max(np.max(np.abs(v)) for v in g.values())
    for k, v in g.items():
        assert np.array_equal(out[k], np.clip(v, -1.0, 1.0))


@pytest.mark.parametrize("values", [[np.nan, 0.5], [0.5, np.nan], [np.inf, -2.0], [-np.inf, 0.0], [0.25, -0.75]])
def test_clip_by_value_max_abs_keeps_nan_and_inf(values):
    """NaN anywhere makes max |g| NaN (the clipped flag then False), as the folded maxima did."""
    from rnnx import optim

    g = {"a": np.array([values[0], 0.1]), "b": np.array([[values[1]]]), "c": np.float64(0.2) * np.ones(())}
    _, gmax = optim.clip_by_value(g, 1.0, xp=xp)
    want = max(float(np.max(np.abs(v))) for v in g.values()) if not np.isnan(values).any() else np.nan
    assert np.array_equal(np.asarray(gmax), np.asarray(want), equal_nan=True)


def test_clip_by_value_refuses_no_gradients():
    from rnnx import optim

    with pytest.raises(ValueError, match=r"^grads: expected at least one gradient array, got none$"):
        optim.clip_by_value({}, 1.0, xp=xp)


def test_apply_with_clipping_makes_no_zeros_flag(monkeypatch):
    """The clipped flag is the comparison itself where a clip is set: no 0-d ``zeros`` (nor the
    device read it needs) per update; without clipping it is still a 0-d False."""
    from rnnx import optim
    from rnnx.training.strategies import make_apply

    g = _grads()
    params = {k: np.zeros_like(v) for k, v in g.items()}
    sgd = optim.SGD(lr=0.005)
    zeros = _count(monkeypatch, xp, "zeros")
    devices = _count(monkeypatch, array_api_compat, "device")
    for clip_value, clip_norm, want in ((1.0, None, True), (None, 1.0, True), (1.0, 1.0, True), (100.0, None, False)):
        apply = make_apply(sgd, clip_value=clip_value, clip_norm=clip_norm, freeze=("bias_hh_l0",), xp=xp)
        _, _, clipped = apply(params, sgd.init(params), g)
        assert clipped.dtype == xp.bool and clipped.shape == () and bool(clipped) is want
    assert zeros == [] and devices == []
    apply = make_apply(sgd, clip_value=None, clip_norm=None, xp=xp)
    _, _, clipped = apply(params, sgd.init(params), g)
    assert clipped.dtype == xp.bool and clipped.shape == () and not bool(clipped)


def test_namespace_asks_array_namespace_once_per_kind_of_call(monkeypatch):
    """The namespace of a call is remembered per set of (array type, dtype type): a second
    call with arrays of the same kinds (every update after the first) asks nothing."""
    import rnnx._xp

    monkeypatch.setattr(rnnx._xp, "_NAMESPACES", {})
    seen = []
    real = array_api_compat.array_namespace
    monkeypatch.setattr(array_api_compat, "array_namespace", lambda *a, **k: (seen.append(len(a)), real(*a, **k))[1])
    for _ in range(3):
        assert namespace(a=np.zeros(3, dtype=np.float32), b=np.ones((2, 2)), c=None) is xp
    assert seen == [2]


def test_update_asks_no_array_test_of_an_absent_seed(monkeypatch):
    """``seed=None`` (no dropout) is skipped by an ``is None`` test, not
    ``array_api_compat.is_array_api_obj`` (a chain of library tests, 2 an update before)."""
    model, params, x, y = _seed001()
    args = []
    real = array_api_compat.is_array_api_obj
    monkeypatch.setattr(array_api_compat, "is_array_api_obj", lambda a: (args.append(a), real(a))[1])
    model.loss_and_grad(params, x, y, loss=L.get("half-sse"))
    assert not [a for a in args if a is None]


def test_update_splits_the_parameters_once(monkeypatch):
    """``loss_and_grad`` splits the layer's parameters from the head's once and hands the
    parts to its forward and backward (3 dict rebuilds an update before)."""
    model, params, x, y = _seed001()
    calls = _count(monkeypatch, Model, "_split")
    model.loss_and_grad(params, x, y, loss=L.get("half-sse"))
    assert len(calls) == 1


def test_update_reshapes_through_numpys_capability(monkeypatch):
    """On NumPy the update's reshapes (the weight-gradient products' flattening, the loop's
    stacked outputs, W_hh^T's copy, the head's rows, clip's flattened gradients) are the
    capability record's ``reshape`` (``ndarray.reshape``, 0.12 us), never ``numpy.reshape``'s
    dispatch (1.0 us; 19 an update before); the same arrays."""
    from rnnx import optim
    from rnnx.training.strategies import make_apply

    model, params, x, y = _seed001()
    calls = _count(monkeypatch, xp, "reshape")
    sgd = optim.SGD(lr=0.005)
    apply = make_apply(sgd, clip_value=1.0, clip_norm=None, freeze=("bias_hh_l0",), xp=xp)
    _, grads, _ = model.loss_and_grad(params, x, y, loss=L.get("half-sse"))
    apply(params, sgd.init(params), grads)
    assert calls == []


@pytest.mark.parametrize("shape,to", [((4, 3), (-1,)), ((2, 3, 4), (6, 4)), ((3, 4), (3, 1, 4)), ((), (1,))])
def test_numpy_reshape_capability_is_numpys_reshape(shape, to):
    a = np.arange(float(np.prod(shape))).reshape(shape)
    for src in (a, a.T):  # a view that must be copied too
        got, want = backends.capabilities(xp).reshape(src, to), np.reshape(src, to)
        assert got.shape == want.shape and np.array_equal(got, want)
        assert np.shares_memory(got, src) == np.shares_memory(want, src)


def test_clip_by_value_forms_its_numpy_bounds_once(monkeypatch):
    """On a one-device library (NumPy: no program is staged) the 0-d bounds of a clip value
    and dtype are formed once for the process, not 2 ``asarray`` calls an update; still
    their own per dtype."""
    from rnnx import optim

    g64, g32 = _grads(), _grads(np.float32)
    optim.clip_by_value(g64, 0.75, xp=xp)
    calls = _count(monkeypatch, xp, "asarray")
    for _ in range(3):
        out, _ = optim.clip_by_value(g64, 0.75, xp=xp)
    assert calls == []
    out32, _ = optim.clip_by_value(g32, 0.75, xp=xp)
    for k in g64:
        assert out[k].dtype == np.float64 and np.array_equal(out[k], np.clip(g64[k], -0.75, 0.75))
        assert out32[k].dtype == np.float32 and np.array_equal(out32[k], np.clip(g32[k], np.float32(-0.75), np.float32(0.75)))


def _warm_update():
    """seed001-original's update after one call (what every update after the first does)."""
    model, params, x, y = _seed001()
    loss = L.get("half-sse")
    model.loss_and_grad(params, x, y, loss=loss)
    return lambda: model.loss_and_grad(params, x, y, loss=loss)


def test_update_asks_no_isdtype_nor_array_test_once_warm(monkeypatch):
    """The dtype checks (the loss's pred and target, the layer's x) are remembered per dtype
    and the array checks per type: no ``isdtype`` (~1 us on NumPy, 3 an update before) nor
    ``is_array_api_obj`` (3 an update before) once the update has run."""
    update = _warm_update()
    dtypes = _count(monkeypatch, xp, "isdtype")
    arrays = _count(monkeypatch, array_api_compat, "is_array_api_obj")
    update()
    assert dtypes == [] and arrays == []


def test_update_forms_no_zeros_nor_ones_through_the_wrapper(monkeypatch):
    """The zero initial state and final-state gradient are NumPy's own ``zeros`` (the
    capability record's; 2 wrapper calls an update before) and the 3 ones columns of the
    weight-gradient products are kept per shape (3 ``ones_like`` an update before)."""
    update = _warm_update()
    zeros = _count(monkeypatch, xp, "zeros")
    ones = _count(monkeypatch, xp, "ones_like")
    devices = _count(monkeypatch, array_api_compat, "device")
    update()
    assert zeros == [] and ones == [] and devices == []


def test_update_runs_the_eager_loop_without_scan(monkeypatch):
    """The forward and backward loops of the common step (no mask) are written out in
    :func:`rnnx.nn.loop.run` / ``run_back``: no call of the generic ``scan`` and its per-step
    function (2 an update before)."""
    import rnnx.nn.loop

    update = _warm_update()
    calls = _count(monkeypatch, rnnx.nn.loop, "scan")
    update()
    assert calls == []


def test_batches_take_is_numpys_method(monkeypatch):
    """A shuffled batch is taken by ``ndarray.take`` (the capability record's), not
    ``numpy.take``'s dispatch (2 an update before); the same arrays."""
    from rnnx.training.sources import Batches

    rng = np.random.default_rng(0)
    data = Batches(rng.normal(size=(10, 7, 2)), rng.normal(size=(10, 7, 1)), np.arange(7) + 3, 1, rng.random(7))
    idx = np.asarray([4, 0, 6])
    calls = _count(monkeypatch, xp, "take")
    got = data.take(idx, xp=xp)
    assert calls == []
    for g, w in ((got.x, data.x[:, idx]), (got.y, data.y[:, idx]), (got.lengths, data.lengths[idx]), (got.w, data.w[idx])):
        assert g.dtype == w.dtype and np.array_equal(g, w) and not np.shares_memory(g, w)


def test_has_dtype_and_is_array_answer_as_the_library():
    from rnnx._xp import has_dtype, is_array

    for dtype in (np.float32, np.float64, np.int8, np.int64, np.bool_, np.complex64):
        for kind in ("real floating", "integral", ("real floating", "integral"), "bool"):
            for _ in range(2):  # asked, then remembered
                assert has_dtype(np.dtype(dtype), kind, xp=xp) is bool(xp.isdtype(np.dtype(dtype), kind))
    for a in (np.zeros(2), np.float64(1.0), np.zeros((), dtype=np.int32)):
        assert is_array(a) and is_array(a)
    for a in (1.0, 1, [1.0], None, "x"):
        assert not is_array(a)
    strict = pytest.importorskip("array_api_strict")
    assert has_dtype(strict.float32, "real floating", xp=strict) and not has_dtype(strict.int8, "real floating", xp=strict)
    assert is_array(strict.zeros(2))


def test_ones_column_is_kept_small_and_never_shared_out():
    """The kept ones column goes only into ``concat`` (a copy): the gradients of two calls
    are arrays of their own; a large column is formed afresh."""
    from rnnx._xp import _ONES_MAX, outer_sum

    rng = np.random.default_rng(1)
    da, v = rng.normal(size=(10, 1, 4)), rng.normal(size=(10, 1, 3))
    dw1, db1 = outer_sum(da, v, xp=xp)
    dw2, db2 = outer_sum(da, v, xp=xp)
    want = np.concatenate([v.reshape(-1, 3), np.ones((10, 1))], axis=1).T @ da.reshape(-1, 4)
    assert np.array_equal(dw1, want[:3].T) and np.array_equal(db1, want[3])
    assert not np.shares_memory(dw1, dw2) and not np.shares_memory(db1, db2)
    big = rng.normal(size=(_ONES_MAX + 1, 2))
    dw, db = outer_sum(rng.normal(size=(_ONES_MAX + 1, 2)), big, xp=xp)
    assert dw.shape == (2, 2) and db.shape == (2,)


def _bench(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name,flag", [("lengths_speed", "--before"), ("train_speed", "--baseline-tree")])
def test_other_benches_run_the_older_tree_with_its_own_backends(tmp_path, monkeypatch, name, flag):
    """bench/lengths_speed.py --before and bench/train_speed.py --baseline-tree measure DIR's
    rnnx with DIR's backends (one temporary package, as bench/fixed_cost.py), not DIR's rnnx
    with this tree's rnnx.backends (the editable install's mapping)."""
    tree = tmp_path / "before"
    for pkg in ("rnnx", "backends"):
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    mod = _bench(name)
    seen = []
    monkeypatch.setattr(mod, "_measure", lambda args, *rest: seen.append(
        (rest[-1] if rest else args.before, (pathlib.Path(rest[-1] if rest else args.before) / "rnnx" / "backends"
                                             / "numpy.py").is_file())))
    monkeypatch.setattr("sys.argv", [name, flag, str(tree)] + (["--quick"] if name == "train_speed" else []))
    mod.main()
    (root, has_backends), = seen
    assert has_backends and pathlib.Path(root) != tree  # the shadow package, gone after the run
    assert not pathlib.Path(root).exists()


def test_fixed_cost_cpu_clock_times_the_cli_by_its_process_cpu(tmp_path, monkeypatch):
    """``--clock cpu``: the CLI contestant runs with ``time.perf_counter`` replaced by
    ``time.process_time`` (history.csv's epoch seconds are CPU seconds), from the tree it is
    given (PYTHONPATH, cwd), one BLAS thread; its epoch 2 figure is read back."""
    fc = _fixed_cost()
    seen = {}

    def run(cmd, *, env, cwd, **kw):
        seen.update(cmd=cmd, env=env, cwd=cwd)
        out = pathlib.Path(cmd[-1])
        out.mkdir(parents=True)
        (out / "history.csv").write_text("epoch,seconds\n1,0.5\n2,0.25\n")

    monkeypatch.setattr(fc.subprocess, "run", run)
    assert fc.cli_cpu(str(tmp_path)) == 0.25
    code = seen["cmd"][2]
    assert seen["cmd"][1] == "-c" and "time.perf_counter = time.process_time" in code
    assert code.index("time.perf_counter = time.process_time") < code.index("import rnnx")
    assert "seed001-original" in code and "'numpy'" in code
    assert seen["env"]["PYTHONPATH"] == str(tmp_path) and seen["cwd"] == str(tmp_path)
    assert seen["env"]["OPENBLAS_NUM_THREADS"] == "1"
