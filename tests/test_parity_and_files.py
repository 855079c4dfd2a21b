"""``rnnx parity`` (it passes here, its JSON is complete, a broken tanh makes it fail and
name the rows, any array-API module runs through the generic path) and the ``.npz`` file
format of ``rnnx.save`` / ``rnnx.load``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import rnnx
from rnnx.cli import parity
from rnnx.backends import Target
from rnnx.cli import main
from rnnx.io.files import FileFormatError

CPU = [t for t in ("numpy", "array_api_strict", "torch", "jax")
       if not Target(t, "device1" if t == "array_api_strict" else "cpu").unavailable()]


def test_parity_passes_on_every_cpu_backend_and_writes_json(tmp_path):
    out = tmp_path / "parity.json"
    r = subprocess.run([sys.executable, "-m", "rnnx", "parity", "--backend", ",".join(CPU), "--json", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    assert len(rows) == len(CPU) * 2 * len(parity.CELLS) and doc["failed"] == 0
    assert {row["cell"] for row in rows} == set(parity.CELLS)
    for row in rows:
        assert row["pass"] and row["error"] is None
        assert row["ref_out_err"] <= row["tol_out"] and row["ref_grad_err"] <= row["tol_grad"]
        if row["dtype"] == "float64" and row["cell"] != "gru_reset_before" and "torch" in CPU:
            assert row["torch_out_err"] is not None and row["torch_grad_err"] <= 1e-12
        assert set(row) >= {"target", "device", "dtype", "cell", "tol_out", "tol_grad", "ms", "cases"}
    assert all(row["tol_out"] == (2e-6 if row["dtype"] == "float32" else 1e-12) for row in rows)
    assert "within tolerance" in r.stdout


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
    assert main(["parity", "--cells", "lstm,transformer"]) == 2
    assert "unknown ['transformer']" in capsys.readouterr().err
    assert main(["parity", "--backend", "mxnet"]) == 2


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
