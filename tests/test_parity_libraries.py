"""The libraries of docs/parity.md's "Libraries tried": ``rnnx parity`` runs rows on dask.array
and passes, and refuses sparse naming ``arange`` (each skips where the library is absent); and
``bench/parity_libraries.py``, which makes that table, reports every library it is asked for
(an absent one as a row saying how to install it), with the table's columns."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "parity_libraries.py"


def _parity(spec: str, cells: str, tmp_path, env=None):
    path = tmp_path / "p.json"
    r = subprocess.run([sys.executable, "-m", "rnnx", "parity", "--namespace", spec, "--cells", cells,
                        "--json", str(path)], capture_output=True, text=True, timeout=900, check=False,
                       env={**os.environ, **(env or {})}, cwd=tmp_path)
    return r, (json.loads(path.read_text()) if path.exists() else None)


def test_dask_array_runs_rows_and_passes(tmp_path):
    pytest.importorskip("dask.array")
    r, doc = _parity("dask.array@cpu", "rnn_relu", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert len(doc["rows"]) == 2 and all(row["pass"] for row in doc["rows"]) and doc["skipped"] == []


def test_ndonnx_runs_rows_and_passes(tmp_path):
    """ndonnx (eager, minutes per row without onnxruntime): not in the test extra."""
    pytest.importorskip("ndonnx")
    r, doc = _parity("ndonnx", "rnn_relu", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert len(doc["rows"]) == 2 and all(row["pass"] for row in doc["rows"]) and doc["skipped"] == []


def test_sparse_exits_non_zero_naming_arange(tmp_path):
    pytest.importorskip("sparse")
    r, doc = _parity("sparse", "gru", tmp_path)
    assert r.returncode == 4, r.stdout[-3000:] + r.stderr
    assert "needs xp.arange (missing in sparse)" in r.stdout
    assert doc["rows"] == [] and doc["missing"][0]["lacks"] == ["arange"]


def _script():
    spec = importlib.util.spec_from_file_location("parity_libraries", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["parity_libraries"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_script_table_rows_and_columns(tmp_path, capsys):
    pytest.importorskip("array_api_strict")
    mod = _script()
    md, js = tmp_path / "t.md", tmp_path / "t.json"
    assert mod.main(["--only", "numpy,strict-2023.12-noext", "--cells", "gru", "--out", str(md),
                     "--json", str(js)]) == 0
    doc = json.loads(js.read_text())
    rows = {r["library"]: r for r in doc["libraries"]}
    assert list(rows) == ["numpy", "strict-2023.12-noext"]
    for r in rows.values():
        assert (r["status"], r["exit"], r["rows"], r["passed"], r["breached"], r["skipped"]) == ("pass", 0, 2, 2, 0, 0)
        assert r["version"] and r["causes"] == []
    assert rows["strict-2023.12-noext"]["claims"] == "2023.12"
    assert rows["strict-2023.12-noext"]["env"] == {"ARRAY_API_STRICT_API_VERSION": "2023.12",
                                                   "ARRAY_API_STRICT_ENABLED_EXTENSIONS": ""}
    table = md.read_text().splitlines()
    assert table[0].startswith("| library | `--namespace` |") and len(table) == 4
    assert {line.count(" | ") for line in table} == {table[0].count(" | ")}  # every row has every column
    assert md.read_text() in capsys.readouterr().out


def test_script_reports_an_absent_library(monkeypatch, capsys):
    mod = _script()
    ghost = mod.Library("ghost", "rnnx_no_such_xp", ("rnnx_no_such_xp",), "rnnx-no-such-xp", "pip install ghost-xp")
    monkeypatch.setattr(mod, "LIBRARIES", (*mod.LIBRARIES, ghost))
    monkeypatch.setattr(mod.subprocess, "run", None)  # nothing runs for an absent library
    assert mod.main(["--only", "ghost"]) == 0
    out = capsys.readouterr().out
    assert "| ghost | `rnnx_no_such_xp` |" in out and "not installed (rnnx_no_such_xp): `pip install ghost-xp`" in out


@pytest.mark.parametrize("argv, says", [
    (["--only", "numpy,tensorflow"], "--only: unknown ['tensorflow']"),
    (["--only", ","], "--only: unknown"),
    (["--jobs", "0"], "--jobs: expected a positive integer, got 0"),
    (["--cells", "gru;rm"], "--cells: 'gru;rm' is not a comma-separated list"),
])
def test_script_refusals(argv, says, capsys, monkeypatch):
    mod = _script()
    monkeypatch.setattr(mod.subprocess, "run", None)
    with pytest.raises(SystemExit) as e:
        mod.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and says in err and err.count("\n") == 1, err


def test_script_never_overwrites_unless_asked(tmp_path, capsys, monkeypatch):
    mod = _script()
    monkeypatch.setattr(mod.subprocess, "run", None)
    out = tmp_path / "t.md"
    out.write_text("mine\n")
    with pytest.raises(SystemExit) as e:
        mod.main(["--only", "numpy", "--out", str(out)])
    assert e.value.code == 2 and "--out" in capsys.readouterr().err and out.read_text() == "mine\n"


def test_script_attributes_known_gaps():
    mod = _script()
    assert "cubed's `concat` with `axis=-1`" in mod.attribute(
        "ValueError: all the input array dimensions except for the concatenation axis must match exactly: "
        "[(7, 4, 12), (7, 4, 1)]")
    assert "regular chunks" in mod.attribute("ValueError: Array must have regular chunks, but found chunks=((1, 2),)")
    assert mod.attribute("RuntimeError: something new\nmore") == "`RuntimeError: something new`"


def test_script_names_the_rows_a_cause_hit():
    mod = _script()
    every = ["gru float32", "gru float64", "lstm float32", "lstm float64"]
    assert mod.which(every, every) == "every row (4)"
    assert mod.which(["gru float32", "gru float64", "lstm float64"], every) == "gru, lstm float64"
