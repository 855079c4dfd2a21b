"""The pytest plugin (rnnx.testing): ``python -m pytest --pyargs rnnx.testing --xp SPEC`` runs
the parity rows as tests, in a subprocess as an array library's CI would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from rnnx.testing.rows import ROW_USES
from rnnx.testing.harness import CELLS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: A namespace factory for the subprocess: array-api-strict less some functions, or with one
#: made wrong (the process is its own, so the module is changed for it only).
FAKE_XP = '''
import array_api_strict


def strict(lacks=(), off=None):
    for name in lacks:
        delattr(array_api_strict, name)
    if off:
        right = getattr(array_api_strict, off)
        setattr(array_api_strict, off, lambda x: right(x) * 1.01)
    return array_api_strict
'''


def _registered() -> bool:
    """Whether this install's metadata names the pytest11 entry point (an editable install made
    before it was added does not, until ``pip install -e .`` again)."""
    from importlib.metadata import entry_points

    return any(ep.value == "rnnx.testing.pytest_plugin" for ep in entry_points(group="pytest11"))


def _pytest(tmp_path, *args):
    """Run pytest on rnnx.testing from an empty folder (no rnnx ini), as a library's CI does
    (with ``-p rnnx.testing.pytest_plugin`` only where the entry point is not installed)."""
    (tmp_path / "fake_xp.py").write_text(FAKE_XP)
    if not _registered():
        args = ("-p", "rnnx.testing.pytest_plugin", *args)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("PYTEST_ADDOPTS", None)
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "rnnx.testing", "-rfEs",
                        *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout + p.stderr


def _cases(path):
    return {c.get("name"): c for c in ET.parse(path).getroot().iter("testcase")}


def test_rows_run_as_tests_with_junit(tmp_path):
    pytest.importorskip("array_api_strict")
    junit = tmp_path / "parity.xml"
    rc, out = _pytest(tmp_path, "--xp", "array_api_strict@CPU_DEVICE", "-k", "gru", "--junitxml", str(junit))
    gru = [c for c in CELLS if "gru" in c]
    want = {f"test_parity_row[{c}-{d}-CPU_DEVICE]" for c in gru for d in ("float32", "float64")}
    assert rc == 0, out
    assert f"{len(want)} passed" in out, out
    cases = _cases(junit)
    assert set(cases) == want, sorted(cases)
    assert not any(list(c) for c in cases.values())  # no <failure>/<skipped> child: every row passed


def test_missing_function_skips_the_rows_that_call_it(tmp_path):
    pytest.importorskip("array_api_strict")
    junit = tmp_path / "parity.xml"
    rc, out = _pytest(tmp_path, "--xp", "fake_xp:strict(('tanh',))@CPU_DEVICE", "-k", "gru", "--junitxml", str(junit))
    gru = [c for c in CELLS if "gru" in c]
    lacking = [c for c in gru if "tanh" in ROW_USES[c]]
    assert lacking and len(lacking) < len(gru)
    assert rc == 0, out
    assert f"{2 * (len(gru) - len(lacking))} passed, {2 * len(lacking)} skipped" in out, out
    assert "needs xp.tanh (missing in fake_xp:strict(('tanh',)))" in out, out
    cases = _cases(junit)
    skipped = {n for n, c in cases.items() if c.find("skipped") is not None}
    assert skipped == {f"test_parity_row[{c}-{d}-CPU_DEVICE]" for c in lacking for d in ("float32", "float64")}
    assert all("xp.tanh" in cases[n].find("skipped").get("message") for n in skipped)


def test_every_row_skipped_fails_the_session_unless_allowed(tmp_path):
    pytest.importorskip("array_api_strict")
    spec = "fake_xp:strict(('unstack',))@CPU_DEVICE"  # every row calls it
    rc, out = _pytest(tmp_path, "--xp", spec, "-k", "gru_keras")
    assert rc == 4, out
    assert "no row ran" in out and "--xp-allow-empty" in out, out
    assert "needs" in out and "xp.unstack" in out, out
    rc, out = _pytest(tmp_path, "--xp", spec, "-k", "gru_keras", "--xp-allow-empty")
    assert rc == 0, out
    assert "accepted by --xp-allow-empty" in out, out


def test_under_xdist_the_rows_count_across_workers(tmp_path):
    """With -n 2 a worker that got no row does not fail a session whose other worker ran one,
    and a session in which no worker ran a row still exits 4."""
    pytest.importorskip("array_api_strict")
    pytest.importorskip("xdist")
    rc, out = _pytest(tmp_path, "-n", "2", "--xp", "array_api_strict@CPU_DEVICE", "-k", "gru_keras-float64")
    assert rc == 0 and "1 passed" in out and "no row ran" not in out, out
    rc, out = _pytest(tmp_path, "-n", "2", "--xp", "fake_xp:strict(('unstack',))@CPU_DEVICE", "-k", "gru_keras")
    assert rc == 4 and "no row ran" in out, out


def test_breached_row_fails_with_its_numbers(tmp_path):
    pytest.importorskip("array_api_strict")
    rc, out = _pytest(tmp_path, "--xp", "fake_xp:strict(off='tanh')@CPU_DEVICE", "-k", "rnn_tanh-float64")
    assert rc == 1, out
    assert "1 failed" in out, out
    assert "FAILED test_parity.py::test_parity_row[rnn_tanh-float64-CPU_DEVICE]" in out, out
    assert re.search(r"float64 rnn_tanh: out \d\.\d\de-\d+ grad \d\.\d\de-\d+, torch out .* \(tolerance \de-\d+ / \de-\d+\)",
                     out), out


def test_without_xp_the_rows_skip_and_a_bad_spec_is_a_usage_error(tmp_path):
    rc, out = _pytest(tmp_path)
    assert rc == 0, out
    assert "1 skipped" in out and "no --xp given" in out, out
    rc, out = _pytest(tmp_path, "--xp", "os:getcwd()")
    assert rc == pytest.ExitCode.USAGE_ERROR, out
    assert "--xp: " in out and "not an array-API namespace" in out, out


def test_docs_show_the_two_lines():
    import pathlib

    doc = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "parity.md").read_text()
    assert "## In your library's CI" in doc
    assert "python -m pytest --pyargs rnnx.testing --xp array_api_strict --junitxml parity.xml" in doc
    assert "--xp-allow-empty" in doc and "-p rnnx.testing.pytest_plugin" in doc
