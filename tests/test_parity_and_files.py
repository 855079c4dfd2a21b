"""``rnnx parity`` (it passes here, its JSON is complete, a broken tanh makes it fail and
name the rows, any array-API module runs through the generic path) and the ``.npz`` file
format of ``rnnx.save`` / ``rnnx.load``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import rnnx
from rnnx.cli import parity
from rnnx.testing import harness as testing
from rnnx.testing import rows as parity_rows
from rnnx.backends import Target
from rnnx.cli import main
from rnnx.io.files import FileFormatError

CPU = [t for t in ("numpy", "array_api_strict", "torch", "jax")
       if not Target(t, "device1" if t == "array_api_strict" else "cpu").unavailable()]


#: The parity command end to end, by default on three cells (one of each family) and the
#: backends whose eager calls compile nothing: JAX eager compiles each operation per shape
#: (~650 XLA compilations, ~30 s of a 2-core machine, for the first cell alone), and
#: test_backends.py already runs every variant on jax-cpu.  ``RNNX_PARITY=full python -m
#: pytest -m long tests/test_parity_and_files.py`` runs all 19 variants on every CPU backend
#: (about 2 minutes on 2 cores).
FULL = os.environ.get("RNNX_PARITY") == "full"
PARITY_CELLS = parity_rows.CELLS if FULL else ("rnn_relu", "lstm_proj", "gru")
PARITY_TARGETS = CPU if FULL else [t for t in CPU if t != "jax"]


@pytest.mark.long
def test_parity_passes_on_every_cpu_backend_and_writes_json(tmp_path):
    out = tmp_path / "parity.json"
    cells = PARITY_CELLS
    r = subprocess.run([sys.executable, "-m", "rnnx", "parity", "--backend", ",".join(PARITY_TARGETS), "--cells",
                        ",".join(cells), "--json", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    assert len(rows) == len(PARITY_TARGETS) * 2 * len(cells) and doc["failed"] == 0
    assert {row["cell"] for row in rows} == set(cells)
    for row in rows:
        assert row["pass"] and row["error"] is None
        assert row["ref_out_err"] <= row["tol_out"] and row["ref_grad_err"] <= row["tol_grad"]
        if row["dtype"] == "float64" and testing.torch_module(row["cell"], 1, 4) is not None and "torch" in PARITY_TARGETS:
            assert row["torch_out_err"] is not None and row["torch_grad_err"] <= 1e-12
        assert set(row) >= {"target", "device", "dtype", "cell", "tol_out", "tol_grad", "ms", "cases"}
    assert all(row["tol_out"] == (2e-6 if row["dtype"] == "float32" else 1e-12) for row in rows)
    assert "within tolerance" in r.stdout


def test_cells_are_the_registry_variants(capsys, tmp_path):
    """``--cells`` takes the registry's variant ids; the torch reference is the spec's torch
    class with its ``torch_kwargs``, and none where those are None."""
    from rnnx.cells import CELLS as SPECS

    assert parity_rows.CELLS == testing.CELLS == tuple(v for s in SPECS.values() for v in s.variants)
    assert set(testing.CLASSIC_CELLS) | {"lstm_proj"} <= set(parity_rows.CELLS)
    assert {c.cell for c in testing.hidden_state_cases()} == {v for v, (_, o) in testing.VARIANTS.items()
                                                              if not o.get("proj_size")}
    if "torch" in CPU:
        assert testing.torch_module("lstm_proj", 2, 3).proj_size == 2
        assert testing.torch_module("gru_reset_before", 2, 3) is None
    assert main(["parity", "--backend", "numpy", "--cells", "lstm_proj,gru_reset_before",
                 "--json", str(tmp_path / "v.json")]) == 0
    rows = json.loads((tmp_path / "v.json").read_text())["rows"]
    assert sorted((r["cell"], r["dtype"]) for r in rows) == [
        ("gru_reset_before", "float32"), ("gru_reset_before", "float64"), ("lstm_proj", "float32"),
        ("lstm_proj", "float64")]
    proj = [r for r in rows if r["cell"] == "lstm_proj"]
    assert all(r["cases"] == sum(testing.applies("lstm_proj", s.H) for s in testing.BATTERY) < len(testing.BATTERY)
               for r in proj)  # proj_size=2 needs hidden_size > 2: the H=1 entry is left out
    if "torch" in CPU:
        f64 = next(r for r in proj if r["dtype"] == "float64")
        assert f64["torch_out_err"] <= 1e-12 and f64["torch_grad_err"] <= 1e-12
    assert "lstm_proj" in capsys.readouterr().out


def test_parity_reports_absent_gpu_targets(capsys, tmp_path):
    code = main(["parity", "--backend", "numpy,torch-cuda,cupy", "--cells", "lstm", "--json", str(tmp_path / "p.json")])
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "p.json").read_text())
    absent = {a["target"]: a["reason"] for a in doc["absent"]}
    for tid in ("torch-cuda", "cupy-cuda"):
        if Target(*tid.split("-")).unavailable():
            assert tid in absent and len(absent[tid]) > 10 and f"absent: {tid}:" in out
    assert code == 0


def test_broken_tanh_fails_and_names_the_rows(monkeypatch, capsys):
    """A backend whose tanh is off by 1e-3 breaches the tolerance, and the report says where."""
    xps = pytest.importorskip("array_api_strict")
    real = xps.tanh
    monkeypatch.setattr(xps, "tanh", lambda x: real(x) + 1e-3)
    code = parity.main(backend="numpy,array-api-strict", namespaces=[], json_path=None, cells=("rnn_tanh", "lstm"))
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL: array-api-strict-device1 float64 rnn_tanh" in out
    assert "FAIL: array-api-strict-device1 float32 lstm" in out
    assert "FAIL: numpy" not in out


def test_a_nan_error_fails_its_row(monkeypatch, capsys):
    """A NaN in one result makes that row's error NaN and the row fail (a NaN that is not the
    first error used to vanish in max() and the row passed)."""
    xps = pytest.importorskip("array_api_strict")
    real = xps.tanh

    def tanh(x):  # NaN in the last hidden unit only: the first arrays compared stay finite
        y = real(x)
        return xps.where(xps.arange(y.shape[-1], device=y.device) == y.shape[-1] - 1, xps.nan, y)

    monkeypatch.setattr(xps, "tanh", tanh)
    ok, bad = np.ones(3), np.array([1.0, np.nan, 1.0])
    out, grad = parity_rows._errors({"y": ok, "h_n": bad, "dx": ok}, {"y": ok, "h_n": ok, "dx": ok})
    assert out != out and grad == 0.0  # the NaN after a finite error is kept
    code = parity.main(backend="array-api-strict", namespaces=[], json_path=None, cells=("rnn_tanh",))
    out = capsys.readouterr().out
    assert code == 1 and "FAIL: array-api-strict-device1 float64 rnn_tanh" in out


def test_generic_namespace_path(capsys, tmp_path):
    """A library not in backends/ (array-api-strict named by module) runs with what its
    inspection API reports: every device, only the dtypes each device has."""
    pytest.importorskip("array_api_strict")
    code = main(["parity", "--namespace", "array_api_strict", "--cells", "gru", "--json", str(tmp_path / "g.json")])
    assert code == 0
    doc = json.loads((tmp_path / "g.json").read_text())
    targets = {row["target"] for row in doc["rows"]}
    assert {"array_api_strict-CPU_DEVICE", "array_api_strict-device1", "array_api_strict-no_float64"} <= targets
    no64 = [row for row in doc["rows"] if row["target"] == "array_api_strict-no_float64"]
    assert [row["dtype"] for row in no64] == ["float32"]
    assert any(g["dtypes"] == ["float32"] for g in doc["generic"])
    assert "found: array_api_strict-device1" in capsys.readouterr().out


def test_parity_bad_arguments(capsys):
    assert main(["parity", "--namespace", "no_such_lib_xyz"]) == 2
    assert "cannot import 'no_such_lib_xyz'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # refused by the parser
        main(["parity", "--cells", "lstm,transformer"])
    assert e.value.code == 2
    assert "argument --cells: unknown ['transformer']; expected some of" in capsys.readouterr().err
    assert main(["parity", "--backend", "mxnet"]) == 2


def _numpy_runner():
    return parity_rows.registry_runner(Target("numpy", "cpu"))


def test_crashed_row_reports_null_errors_and_the_reason(tmp_path, capsys):
    """A row that cannot finish has no errors to report: null (never 0.0), pass false, the
    exception's text; the table prints '-' in those columns."""
    r = _numpy_runner()
    calls = {"n": 0}
    real = r.to_numpy

    def flaky(a):  # float32 reads back; float64 crashes in the second battery entry (20 arrays in the first)
        if a.dtype == np.float64:
            calls["n"] += 1
            if calls["n"] > 25:
                raise RuntimeError("device lost")
        return real(a)

    r.to_numpy = flaky
    path = tmp_path / "p.json"
    assert parity.report([r], [], json_path=str(path), cells=("rnn_tanh",)) == 1
    out = capsys.readouterr().out
    f32, row = json.loads(path.read_text())["rows"]
    assert f32["dtype"] == "float32" and f32["pass"] and 0 < f32["ref_out_err"] <= f32["tol_out"]
    assert row["pass"] is False and row["error"] == "RuntimeError: device lost"
    for k in ("ref_out_err", "ref_grad_err", "torch_out_err", "torch_grad_err"):
        assert row[k] is None, k
    line = next(ln for ln in out.splitlines() if ln.startswith("numpy-cpu") and "float64" in ln)
    assert line.split()[3:7] == ["-", "-", "-", "-"] and "FAIL" in line
    assert "FAIL: numpy-cpu float64 rnn_tanh: RuntimeError: device lost" in out


class _FakeDevice:  # str() and repr() are the default '<...FakeDevice object at 0x7f...>'
    pass


class _NamedDevice:
    def __init__(self, name):
        self.name = name


def test_device_labels_carry_no_object_address():
    xps = pytest.importorskip("array_api_strict")
    devs = [_FakeDevice(), _FakeDevice(), _NamedDevice("npu0"), *xps.__array_namespace_info__().devices()[:2]]
    assert "0x" in str(devs[0])
    assert parity_rows.device_labels(devs) == ["dev0", "dev1", "npu0", "CPU_DEVICE", "device1"]
    assert parity_rows.device_labels([_NamedDevice("cpu"), _NamedDevice("cpu")]) == ["cpu", "cpu-1"]
    torch = pytest.importorskip("torch")
    assert parity_rows.device_labels([torch.device("cpu")]) == ["cpu"]


def test_generic_target_ids_from_a_library_with_address_devices(monkeypatch):
    """A library whose devices print as object addresses (ndonnx does) gets ids by index."""
    import types

    fake = types.ModuleType("fakexp")
    devices = [_FakeDevice(), _FakeDevice()]

    class Info:
        def devices(self):
            return devices

        def default_device(self):
            return devices[0]

        def dtypes(self, *, device=None, kind=None):
            return {"float32": np.float32, "float64": np.float64}

        def default_dtypes(self, *, device=None):
            return {"real floating": "float64", "integral": "int64"}

    class Arr:
        def __array_namespace__(self, api_version=None):
            return fake

    fake.asarray = lambda *a, **k: Arr()
    fake.__array_namespace_info__ = Info
    monkeypatch.setitem(sys.modules, "fakexp", fake)
    runners = parity_rows.generic_runners("fakexp")
    assert [r.id for r in runners] == ["fakexp-dev0", "fakexp-dev1"]
    assert runners[0].capabilities["devices"] == ["dev0", "dev1"] and runners[0].capabilities["default_device"] == "dev0"
    assert [r.id for r in parity_rows.generic_runners("fakexp@dev1")] == ["fakexp-dev1"]
    assert not any("0x" in json.dumps(r.capabilities) for r in runners)


class _NoDLPack:
    """An array that refuses DLPack, as ndonnx does, and cannot change device; it reads back
    only through its own ``unwrap_numpy``."""

    def __init__(self, a):
        self._a, self.shape = a, a.shape

    def __dlpack__(self, *, stream=None, **kw):
        raise BufferError("does not support the export of array data")

    def __dlpack_device__(self):
        return (1, 0)

    def to_device(self, device, /, *, stream=None):
        raise ValueError("no control over the used device")

    def unwrap_numpy(self):
        return self._a.copy()


class _ToCPU(_NoDLPack):
    def to_device(self, device, /, *, stream=None):
        assert device == "the-cpu"
        return self._a


def test_readback_without_dlpack():
    a = np.arange(6.0).reshape(2, 3)
    got, how = parity_rows.readback(_NoDLPack(a), cpu="the-cpu")
    assert how == "unwrap_numpy()" and np.array_equal(got, a)
    got, how = parity_rows.readback(_ToCPU(a), cpu="the-cpu")
    assert how == "to_device" and np.array_equal(got, a)
    assert parity_rows.readback(a)[1] == "dlpack"

    class Nothing(_NoDLPack):
        unwrap_numpy = None

    with pytest.raises(TypeError, match="tried dlpack: BufferError: does not support the export.*to_device: ValueError"):
        parity_rows.readback(Nothing(a), cpu="the-cpu")


def test_generic_rows_read_back_another_way_when_dlpack_is_refused(monkeypatch, capsys, tmp_path):
    """array-api-strict with its DLPack export refused: rows still pass, read back through
    to_device (its CPU device then hands NumPy the data by __array__), and say so."""
    xps = pytest.importorskip("array_api_strict")

    def refuse(self, **kw):
        raise BufferError("DLPack export refused")

    monkeypatch.setattr(type(xps.asarray(0.0)), "__dlpack__", refuse)
    runners = parity_rows.generic_runners("array_api_strict@device1")
    path = tmp_path / "p.json"
    assert parity.report(runners, [], json_path=str(path), cells=("gru",)) == 0
    rows = json.loads(path.read_text())["rows"]
    assert rows and all(r["pass"] and r["readback"] == "to_device" for r in rows)
    assert "read back by to_device" in capsys.readouterr().out
    assert {r["readback"] for r in parity_rows.run_parity([_numpy_runner()], cells=("gru",), with_torch=False)} == {"backend"}


class _Lacking:
    """A namespace like another, less some names (pydata sparse has no ``arange``)."""

    def __init__(self, xp, lacks):
        self._xp, self._lacks = xp, set(lacks)

    def __getattr__(self, name):
        if name in self._lacks:
            raise AttributeError(name)
        return getattr(self._xp, name)


def test_missing_standard_functions_are_named_once_and_rows_skipped(capsys, tmp_path):
    pytest.importorskip("array_api_strict")
    strict = parity_rows.generic_runners("array_api_strict@CPU_DEVICE")
    for r in strict:
        r.xp = _Lacking(r.xp, {"arange", "unstack"})
    path = tmp_path / "p.json"
    assert parity.report([_numpy_runner(), *strict], [], json_path=str(path), cells=("gru",)) == 0
    out = capsys.readouterr().out
    assert out.count("needs") == 1
    assert ("skipped: array_api_strict-CPU_DEVICE gru (float32, float64): needs xp.arange, xp.unstack "
            "(missing in array_api_strict)") in out
    assert "2 row(s) skipped for missing functions" in out
    doc = json.loads(path.read_text())
    assert doc["missing"] == [{"namespace": "array_api_strict", "lacks": ["arange", "unstack"],
                               "targets": ["array_api_strict-CPU_DEVICE"]}]
    assert {r["target"] for r in doc["rows"]} == {"numpy-cpu"} and doc["failed"] == 0


def test_namespace_uses_is_read_from_the_core_source():
    """What the probe asks for: every ``xp.<name>`` of the core's code (not its docstrings),
    the optional native sigmoid excepted; all of it standard, so strict and NumPy lack none."""
    import pathlib
    import re

    uses = parity_rows.namespace_uses()
    root = pathlib.Path(rnnx.__file__).parent
    grep = {m for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in ("cli", "io", "interop", "testing")
            for m in re.findall(r"\bxp\.(\w+)", p.read_text())}
    assert set(uses) <= grep and {"arange", "unstack", "take", "tanh", "matrix_transpose", "isdtype"} <= set(uses)
    assert not parity_rows.NAMESPACE_OPTIONAL & set(uses)  # the native sigmoid, where a backend has one
    assert parity_rows.missing_functions(_Lacking(Target("numpy", "cpu").namespace(), {"arange"})) == ["arange"]
    assert parity_rows.missing_functions(Target("numpy", "cpu").namespace()) == []
    xps = pytest.importorskip("array_api_strict")
    assert parity_rows.missing_functions(xps) == []
    assert parity_rows.missing_functions(_Lacking(xps, {"linalg"}), parity_rows.row_uses("lstm")) == []  # diagnostics only


# -- the file format --------------------------------------------------------------------------------
def test_save_load_round_trip_on_every_backend(tmp_path):
    layer = rnnx.GRU(3, 5, num_layers=2, bidirectional=True, reset_after=False)
    params = layer.init_params(np, seed=2, dtype=np.float64)
    path = tmp_path / "gru.npz"
    rnnx.save(str(path), layer, params)
    for b in CPU:
        t = Target(b, "device1" if b == "array_api_strict" else "cpu")
        xp = t.namespace()
        got_layer, got = rnnx.load(str(path), xp=xp, device=t.device_obj(), expect=layer)
        assert got_layer == layer
        assert all(np.array_equal(t.to_numpy(got[k]), params[k]) for k in params)
    model = rnnx.Model("lstm", 1, 4)
    mp = model.init_params(np, dtype=np.float32)
    rnnx.save(str(tmp_path / "m.npz"), model, mp)
    m2, p2 = rnnx.load(str(tmp_path / "m.npz"))
    assert m2.config() == model.config() and p2["weight_hy"].dtype == np.float32


def test_load_errors(tmp_path):
    layer = rnnx.LSTM(2, 3)
    path = tmp_path / "l.npz"
    rnnx.save(str(path), layer, layer.init_params(np))
    with pytest.raises(FileFormatError, match=r"holds LSTM\(2, 3\), expected GRU\(2, 3\); differs in .*cell='lstm'"):
        rnnx.load(str(path), expect=rnnx.GRU(2, 3))
    with pytest.raises(FileFormatError, match=r"hidden_size=3 \(expected 4\)"):
        rnnx.load(str(path), expect=rnnx.LSTM(2, 4))
    good = path.read_bytes()
    path.write_bytes(good[:100])
    with pytest.raises(FileFormatError, match="corrupt or truncated"):
        rnnx.load(str(path))
    np.savez(path, a=np.zeros(2))
    with pytest.raises(FileFormatError, match="not an rnnx checkpoint"):
        rnnx.load(str(path))
    with pytest.raises(FileFormatError, match="does not exist"):
        rnnx.load(str(tmp_path / "none.npz"))


def test_save_checks_before_writing(tmp_path):
    layer = rnnx.LSTM(2, 3)
    path = tmp_path / "l.npz"
    rnnx.save(str(path), layer, layer.init_params(np))
    before = path.read_bytes()
    with pytest.raises(FileFormatError, match=r"weight_hh_l0 has shape \(12, 4\), expected \(12, 3\)"):
        rnnx.save(str(path), layer, rnnx.LSTM(2, 4).init_params(np) | {"weight_ih_l0": np.zeros((12, 2)),
                                                                      "weight_hh_l0": np.zeros((12, 4))})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["l.npz"]  # no temporary file left behind


def test_cli_save_from_torch_and_load(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    mod = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    torch.save(mod.state_dict(), tmp_path / "gru.pt")
    assert main(["save", "--from-torch", str(tmp_path / "gru.pt"), "--out", str(tmp_path / "gru.npz")]) == 0
    assert main(["load", str(tmp_path / "gru.npz")]) == 0
    out = capsys.readouterr().out
    assert "GRU(3, 4, num_layers=2, bidirectional=True)" in out and "weight_hh_l1_reverse" in out
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    assert main(["load", str(tmp_path / "bad.npz")]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err
