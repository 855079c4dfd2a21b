"""``rnnx parity`` as a library's CI step: a run in which no row ran is its own failure
(exit 4, unless ``--allow-empty``); the probe asks a namespace for exactly the functions the
selected rows call (the per-row lists are checked against a recording namespace, so they
cannot drift from the code) and names what each skipped row lacks; ``--namespace`` takes a
module, a module attribute or a factory call, parsed strictly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from rnnx.backends import Target

from rnnx.cli import main, parity
from rnnx.testing import harness as testing
from rnnx.testing import rows as parity_rows


class _Info:
    def __init__(self):
        self._dev = object()

    def devices(self):
        return [self._dev]

    def default_device(self):
        return self._dev

    def dtypes(self, *, device=None, kind=None):
        return {"float32": np.float32, "float64": np.float64}

    def default_dtypes(self, *, device=None):
        return {"real floating": "float64", "integral": "int64"}


def _bare_module(name: str) -> types.ModuleType:
    """An array-API module with an inspection API and ``asarray`` only: it lacks what
    every parity row calls, so none can run."""
    mod = types.ModuleType(name)

    class Arr:
        shape = ()

        def __array_namespace__(self, api_version=None):
            return mod

    mod.asarray = lambda *a, **k: Arr()
    info = _Info()
    mod.__array_namespace_info__ = lambda: info
    return mod


class _Lacking:
    """A namespace like another, less some names."""

    def __init__(self, xp, lacks):
        self._xp, self._lacks = xp, set(lacks)

    def __getattr__(self, name):
        if name in self._lacks:
            raise AttributeError(name)
        return getattr(self._xp, name)


# -- item 1: a run in which no row ran ------------------------------------------------------------------
def test_no_row_run_exits_4_unless_allow_empty(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "rnnx_bare_xp", _bare_module("rnnx_bare_xp"))
    path = tmp_path / "p.json"
    assert main(["parity", "--namespace", "rnnx_bare_xp", "--cells", "gru", "--json", str(path)]) == 4
    out = capsys.readouterr().out
    assert "parity rows: 0 within tolerance, 0 breached" in out
    assert "no parity row ran" in out and "--allow-empty" in out
    assert json.loads(path.read_text())["rows"] == []
    assert main(["parity", "--namespace", "rnnx_bare_xp", "--cells", "gru", "--allow-empty"]) == 0
    assert "no parity row ran" in capsys.readouterr().out


def test_no_row_run_exit_status_is_documented(capsys):
    with pytest.raises(SystemExit) as e:
        main(["parity", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "4 when no row ran" in text and "--allow-empty" in text
    import pathlib

    doc = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "parity.md").read_text()
    assert "exits 4" in doc and "--allow-empty" in doc


def test_report_returns_4_when_every_row_is_skipped(capsys):
    pytest.importorskip("array_api_strict")
    strict = parity_rows.generic_runners("array_api_strict@CPU_DEVICE")
    for r in strict:
        r.xp = _Lacking(r.xp, {"unstack"})  # every row calls it
    assert parity.report(strict, [], json_path=None, cells=("rnn_relu", "gru")) == 4
    out = capsys.readouterr().out
    assert ("skipped: array_api_strict-CPU_DEVICE rnn_relu, gru (float32, float64): needs xp.unstack "
            "(missing in array_api_strict)") in out and out.count("skipped:") == 1  # one line per set of needs
    assert "4 row(s) skipped for missing functions" in out
    assert parity.report(strict, [], json_path=None, cells=("gru",), allow_empty=True) == 0
    assert "accepted by --allow-empty" in capsys.readouterr().out


# -- item 2: the probe asks for what the rows call ----------------------------------------------------------
class _Recording:
    """A namespace that records every name taken from it."""

    def __init__(self, xp):
        self._xp, self.used = xp, set()

    def __getattr__(self, name):
        value = getattr(self._xp, name)
        self.used.add(name)
        return value


def test_row_uses_are_what_each_row_calls(monkeypatch):
    """Every row of every variant, run on array-api-strict seen through a recording
    namespace: the names it took are exactly :data:`parity_rows.ROW_USES` of its variant
    (``__name__``, read once per namespace to find its capability record, and
    ``__array_api_version__``, the standard it claims, checked for the whole namespace by
    :func:`rnnx.backends.standard_refusal` before any row, excepted)."""
    import array_api_compat

    xps = pytest.importorskip("array_api_strict")
    rec = _Recording(xps)
    real = array_api_compat.array_namespace

    def recording(*arrays, **kw):
        xp = real(*arrays, **kw)
        return rec if xp is xps else xp

    monkeypatch.setattr(array_api_compat, "array_namespace", recording)
    import rnnx._xp

    monkeypatch.setattr(rnnx._xp, "_NAMESPACES", {})  # namespace() asks array_namespace afresh (the recording)

    (runner,) = parity_rows.generic_runners("array_api_strict@CPU_DEVICE")
    assert set(parity_rows.ROW_USES) == set(testing.CELLS)
    wrong = {}
    for cell in testing.CELLS:
        for dtype in ("float32", "float64"):
            rec.used = set()
            # the sigmoid's exp bound is read with finfo once per dtype and cached for the process:
            # each row is recorded as the first of its process (what a namespace must have for it)
            monkeypatch.setattr(rnnx._xp, "_EXP_BOUND", {})
            for i, s in enumerate(testing.BATTERY):
                if testing.applies(cell, s.H):
                    d = testing.inputs(cell, s, seed=100 + i)
                    testing.run(d["layer"], d, runner.convert(dtype), runner.to_numpy)
            used = rec.used - {"__name__", "__array_api_version__"}
            if used != set(parity_rows.ROW_USES[cell]):
                wrong[f"{cell} {dtype}"] = sorted(used)
    assert not wrong, f"parity_rows.ROW_USES differs from what these rows called: {wrong}"
    assert set().union(*parity_rows.ROW_USES.values()) <= set(parity_rows.namespace_uses())


def test_skipped_rows_name_what_they_need(capsys, tmp_path):
    """A namespace without ``tanh``: the ReLU rows run, the GRU rows are skipped, each
    naming the function it needs and the namespace that lacks it."""
    pytest.importorskip("array_api_strict")
    strict = parity_rows.generic_runners("array_api_strict@CPU_DEVICE")
    for r in strict:
        r.xp = _Lacking(r.xp, {"tanh", "linalg", "nonzero"})
    path = tmp_path / "p.json"
    assert parity.report(strict, [], json_path=str(path), cells=("rnn_relu", "gru")) == 0
    out = capsys.readouterr().out
    assert ("skipped: array_api_strict-CPU_DEVICE gru (float32, float64): needs xp.tanh "
            "(missing in array_api_strict)") in out
    assert "rnn_relu" not in out.split("skipped:")[1] and out.count("skipped:") == 1
    assert "2 row(s) skipped for missing functions" in out
    doc = json.loads(path.read_text())
    assert {(r["cell"], r["pass"]) for r in doc["rows"]} == {("rnn_relu", True)} and len(doc["rows"]) == 2
    assert doc["skipped"] == [{"target": "array_api_strict-CPU_DEVICE", "dtype": dt, "cell": "gru", "needs": ["tanh"]}
                              for dt in ("float32", "float64")]
    assert doc["missing"] == [{"namespace": "array_api_strict", "lacks": ["tanh"],
                               "targets": ["array_api_strict-CPU_DEVICE"]}]


def test_strict_without_extensions_runs_every_row(tmp_path):
    """array-api-strict with no extension enabled (no ``linalg``, which only the
    diagnostics use): every row runs and passes.  In a subprocess, so this process's
    array-api-strict flags are never changed."""
    pytest.importorskip("array_api_strict")
    path = tmp_path / "p.json"
    env = {**os.environ, "ARRAY_API_STRICT_ENABLED_EXTENSIONS": ""}
    r = subprocess.run([sys.executable, "-m", "rnnx", "parity", "--namespace", "array_api_strict@CPU_DEVICE",
                        "--cells", "rnn_relu,gru", "--json", str(path)], capture_output=True, text=True, env=env,
                       timeout=600, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    doc = json.loads(path.read_text())
    assert len(doc["rows"]) == 4 and all(row["pass"] for row in doc["rows"]) and doc["skipped"] == []


# -- item 4: namespaces built at run time -----------------------------------------------------------------
def _factories(monkeypatch):
    """A module of namespace factories, as a user's own module would hold."""
    fac = types.ModuleType("rnnx_ns_factories")
    fac.calls = []

    def wrap(module, *args, **kw):
        fac.calls.append((module.__name__, args, kw))
        return module

    fac.wrap = wrap
    fac.inner = types.SimpleNamespace(wrap=wrap)
    fac.not_callable = 3

    def broken(module):
        raise RuntimeError("no backend for you")

    fac.broken = broken
    monkeypatch.setitem(sys.modules, "rnnx_ns_factories", fac)
    return fac


def test_namespace_spec_forms(monkeypatch):
    xps = pytest.importorskip("array_api_strict")
    fac = _factories(monkeypatch)
    spec = parity_rows.namespace_spec
    assert spec("array_api_strict") == ("array_api_strict", xps, None)
    assert spec("array_api_strict@device1") == ("array_api_strict", xps, "device1")
    fac.strict = xps
    assert spec("rnnx_ns_factories:strict") == ("rnnx_ns_factories:strict", xps, None)
    name, ns, dev = spec("rnnx_ns_factories:wrap(array_api_strict, 2, -1.5, 'a@b', (1, 2), key=None)@CPU_DEVICE")
    assert ns is xps and dev == "CPU_DEVICE"
    assert name == "rnnx_ns_factories:wrap(array_api_strict,2,-1.5,'a@b',(1, 2),key=None)"
    assert fac.calls[-1] == ("array_api_strict", (2, -1.5, "a@b", (1, 2)), {"key": None})
    assert spec("rnnx_ns_factories:inner.wrap(array_api_strict)")[1] is xps
    import array_api_compat.numpy as compat_numpy

    assert spec("array_api_compat:numpy") == ("array_api_compat:numpy", compat_numpy, None)


@pytest.mark.parametrize("bad, says", [
    ("rnnx_ns_factories:wrap(__import__('os'))", "not a Python literal or a module name"),
    ("rnnx_ns_factories:wrap(array_api_strict); import os", "expected MODULE"),
    ("rnnx_ns_factories:wrap(lambda: 1)", "not a Python literal or a module name"),
    ("rnnx_ns_factories:wrap(*[1])", "not a Python literal or a module name"),
    ("rnnx_ns_factories:wrap(**{})", "not a Python literal or a module name"),
    ("rnnx_ns_factories:wrap(array_api_strict.asarray)", "cannot import"),
    ("rnnx_ns_factories:wrap(array_api_strict)(1)", "expected MODULE"),
    ("rnnx_ns_factories:not_callable(1)", "is not callable"),
    ("rnnx_ns_factories:broken(array_api_strict)", "raised RuntimeError: no backend for you"),
    ("rnnx_ns_factories:nothing", "has no attribute 'nothing'"),
    ("rnnx_ns_factories:_private", "expected MODULE"),
    ("rnnx_ns_factories:wrap(open('x'))", "not a Python literal or a module name"),
    ("rnnx_ns_factories:wrap(array_api_strict, x=y.z)", "cannot import the argument 'y.z'"),
    ("os:getcwd()", "is not an array-API namespace"),
    ("array_api_strict:device1", "has no attribute 'device1'"),
    ("rnnx_ns_factories:not_callable", "is not an array-API namespace"),
    ("", "expected MODULE"),
])
def test_namespace_spec_refusals(monkeypatch, capsys, bad, says):
    pytest.importorskip("array_api_strict")
    _factories(monkeypatch)
    assert main(["parity", "--namespace", bad, "--cells", "gru"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnx: error: --namespace") or "--namespace" in err.splitlines()[0], err
    assert err.count("\n") == 1 and says in err, err


def test_factory_namespace_runs_rows(monkeypatch, capsys):
    """A namespace a factory builds runs through the generic path like a module."""
    pytest.importorskip("array_api_strict")
    fac = _factories(monkeypatch)
    assert main(["parity", "--namespace", "rnnx_ns_factories:wrap(array_api_strict)@CPU_DEVICE", "--cells", "gru"]) == 0
    out = capsys.readouterr().out
    assert "rnnx_ns_factories:wrap(array_api_strict)-CPU_DEVICE" in out and "parity rows: 2 within tolerance" in out
    assert fac.calls == [("array_api_strict", (), {})]


def test_marray_masked_namespace_runs():
    """marray's namespace exists only once built around another library's."""
    pytest.importorskip("marray")
    runners = parity_rows.generic_runners("marray:masked_namespace(numpy)")
    assert [r.id for r in runners] == ["marray:masked_namespace(numpy)-cpu"]
    rows = parity_rows.run_parity(runners, cells=("gru",), with_torch=False)
    assert len(rows) == 2 and all(r["pass"] for r in rows), rows


def test_registry_targets_need_nothing_they_lack():
    assert parity_rows.probe([parity_rows.registry_runner(Target("numpy", "cpu"))], testing.CELLS)[1] == []


def test_a_device_without_values_is_absent_not_failed(tmp_path):
    """torch's ``meta`` device holds shapes only: ``--namespace array_api_compat:torch`` runs
    the cpu rows and names meta as absent (it failed every row with "Tensor.item() cannot be
    called on meta tensors"); ``@meta`` is refused in one line."""
    pytest.importorskip("torch")
    r = subprocess.run([sys.executable, "-m", "rnnx", "parity", "--namespace", "array_api_compat:torch",
                        "--cells", "rnn_relu"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "absent: array_api_compat:torch-meta: the device 'meta' holds shapes, no values" in r.stdout
    assert "FAIL" not in r.stdout and "array_api_compat:torch-cpu" in r.stdout
    r = subprocess.run([sys.executable, "-m", "rnnx", "parity", "--namespace", "array_api_compat:torch@meta",
                        "--cells", "rnn_relu"], capture_output=True, text=True, timeout=600)
    last = r.stderr.splitlines()[-1]  # (torch's own UserWarning about 'mkldnn' may come before)
    assert r.returncode == 2 and last.startswith("rnnx parity: error: --namespace: ") and \
        "holds shapes, no values" in last, r.stderr
