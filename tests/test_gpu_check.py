"""bench/gpu_check.sh, the one-call GPU check (docs/gpu.md), tested here on CPU targets with
``--cpu``; its summariser bench/gpu_summary.py on files shaped like a GPU run's; and the TF32
scope of the cuDNN anchor in rnnx/cli/bench.py."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"
OUTPUTS = ("env.txt", "pytest.log", "pytest.xml", "parity.log", "parity.json", "bench.log", "bench.json",
           "summary.txt")
#: a few cases of the matrix per target and dtype (12 tests in all); the script honours it
FEW_CASES = "lstm and L1 and uni and nobias and not bf and not len"


def _summary_module():
    spec = importlib.util.spec_from_file_location("gpu_summary", ROOT / "bench" / "gpu_summary.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- the cuDNN anchor's TF32 scope -------------------------------------------------------------------
def _tf32_state(torch):
    from rnnx.cli.bench import _NoTF32

    out = {}
    for path in _NoTF32.FLAGS:
        try:
            obj, name = _NoTF32._where(path)
            out[path] = getattr(obj, name)
        except AttributeError:
            pass
    return out


def test_no_tf32_turns_both_switches_off_and_restores_every_flag():
    torch = pytest.importorskip("torch")
    from rnnx.cli.bench import _NoTF32

    b = torch.backends
    before = (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32)
    try:
        for cudnn, matmul in ((True, True), (True, False), (False, True)):
            b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32 = cudnn, matmul
            state = _tf32_state(torch)
            with _NoTF32():
                assert (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32) == (False, False)
            assert _tf32_state(torch) == state
            with pytest.raises(ZeroDivisionError), _NoTF32():  # restored when the timed call raises too
                raise ZeroDivisionError
            assert _tf32_state(torch) == state
            with _NoTF32(active=False):  # the CPU anchor: nothing changes
                assert _tf32_state(torch) == state
    finally:
        b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32 = before


def test_cpu_anchor_rows_carry_no_tf32_mark():
    pytest.importorskip("torch")
    from rnnx.cli.bench import torch_rows

    rows = torch_rows("lstm", (1, 3, 1, 2), "float32")
    assert [r.extra for r in rows] == [{}, {}]
    for r in rows:
        r.sync(r.fn())


# -- the summariser ----------------------------------------------------------------------------------
GPU_TARGETS = ["torch-cuda", "jax-gpu", "cupy-cuda"]


def _junit(cases: list[tuple[str, str]]) -> str:
    body = []
    for name, status in cases:
        kid = {"passed": "", "failed": '<failure message="AssertionError: grad 3e-5 &gt; 1e-5">tb</failure>',
               "skipped": '<skipped type="pytest.skip" message="cupy-cuda unavailable: no CUDA device visible"/>',
               "error": '<error message="RuntimeError: CUDA out of memory">tb</error>'}[status]
        body.append(f'<testcase classname="tests.test_backends" name="{name}" time="0.1">{kid}</testcase>')
    return ('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" '
            f'errors="0" failures="0" skipped="0" tests="{len(cases)}" time="12.5">{"".join(body)}'
            '<testcase time="0.000" /></testsuite></testsuites>')


def test_summary_of_gpu_shaped_outputs(tmp_path):
    s = _summary_module()
    ref = "test_matches_numpy_float64_reference"
    (tmp_path / "pytest.xml").write_text(_junit([
        (f"{ref}[torch-cuda-float32-lstm-L1-uni-h0]", "passed"),
        (f"{ref}[torch-cuda-float64-lstm-L1-uni-h0]", "failed"),
        (f"{ref}[jax-gpu-float32-gru-L2-bi-h0]", "passed"),
        (f"{ref}[jax-gpu-float64-gru-L2-bi-h0]", "error"),
        (f"{ref}[cupy-cuda-float32-rnn_tanh-L1-uni-h0]", "skipped"),
        ("test_default_dtype_is_the_namespace_default[cupy-cuda]", "skipped"),
        ("test_float32_only_device_runs", "passed"),
    ]))
    (tmp_path / "pytest.log").write_text("..F.Es\n2 failed ... 3 passed\n")
    row = dict(backend="torch", device="cuda", cell="lstm", cases=5, tol_out=2e-6, tol_grad=1e-5, ms=10.0)
    (tmp_path / "parity.json").write_text(json.dumps({"rows": [
        {**row, "target": "torch-cuda", "dtype": "float32", "ref_out_err": 1e-7, "ref_grad_err": 4e-7,
         "torch_out_err": None, "torch_grad_err": None, "pass": True, "error": None},
        {**row, "target": "torch-cuda", "dtype": "float32", "cell": "gru", "ref_out_err": 3e-7, "ref_grad_err": 2e-6,
         "torch_out_err": None, "torch_grad_err": None, "pass": True, "error": None},
        {**row, "target": "torch-cuda", "dtype": "float64", "tol_out": 1e-12, "tol_grad": 1e-12, "ref_out_err": 2e-16,
         "ref_grad_err": 5e-16, "torch_out_err": 3e-16, "torch_grad_err": 6e-16, "pass": True, "error": None},
        {**row, "target": "jax-gpu", "dtype": "float32", "ref_out_err": None, "ref_grad_err": None,
         "torch_out_err": None, "torch_grad_err": None, "pass": False, "error": "XlaRuntimeError: boom"},
    ], "absent": [{"target": "cupy-cuda", "reason": "no CUDA device visible"}],
        "missing": [{"namespace": "sparse", "lacks": ["arange"], "targets": ["sparse-cpu"]}]}))
    bench_row = dict(size=[256, 100, 256, 512], cell="lstm", min_ms=1.0, max_ms=2.0)
    rows = [{"row": "rnnx cupy-cuda", "kind": "rnnx", "median_ms": 12.5, "vs_torch": 2.5, "vs_jax_autodiff": None},
            {"row": "rnnx jax-gpu", "kind": "rnnx", "median_ms": 6.0, "vs_torch": 1.2, "vs_jax_autodiff": 0.9},
            {"row": "torch.nn.LSTM (cuDNN)", "kind": "anchor", "median_ms": 5.0, "vs_torch": 1.0,
             "vs_jax_autodiff": None, "tf32": False}]
    (tmp_path / "bench.json").write_text(json.dumps({"dtype": "float32", "repeat": 7, "matmul_peak_gflops": {"jax": 5e4},
                                                     "rows": [{**bench_row, **r, "pass": "forward+backward"}
                                                              for r in rows],
                                                     "skipped": ["anchor torch: something"]}))
    steps = tmp_path / "steps"
    steps.write_text("install 0 3\nenv 0 9\nparity 1 80\npytest 124 200\nbench 0 150\n")

    text = s.summarise(str(tmp_path), steps=str(steps), mode="gpu", targets=GPU_TARGETS, elapsed=440)
    assert "install ok 3s" in text and "parity FAIL exit 1 80s" in text and "pytest TIMEOUT 200s" in text
    assert "result: FAILED: parity, pytest" in text and "440s before the summary" in text
    assert "pytest: 7 tests: 3 passed, 1 failed, 1 errors, 2 skipped in 12s" in text
    assert "1 unnamed entries" in text
    lines = text.splitlines()
    assert any(ln.split() == ["torch-cuda", "1", "passed,", "1", "failed"] for ln in lines)
    assert any(ln.split() == ["jax-gpu", "1", "passed,", "1", "error"] for ln in lines)
    assert any(ln.split() == ["cupy-cuda", "2", "skipped"] for ln in lines)
    assert any(ln.split() == ["other", "1", "passed"] for ln in lines)
    assert "FAILED tests.test_backends::test_matches_numpy_float64_reference[torch-cuda-float64" in text
    assert "skipped x2: cupy-cuda unavailable" in text
    assert "parity: 4 rows, 3 within tolerance, 1 breached" in text
    assert "worst torch-cuda: float32 2.00e-06, float64 5.00e-16" in text  # the worst of out and grad, per dtype
    assert "worst jax-gpu: float32 -" in text  # a crashed row has no error to report, not 0.0
    assert "BREACHED jax-gpu float32 lstm: XlaRuntimeError: boom" in text
    assert "absent cupy-cuda: no CUDA device visible" in text and "skipped sparse-cpu: sparse lacks arange" in text
    assert "cuDNN anchor tf32=False" in text and "matmul peak GFLOP/s jax 50000" in text
    cupy_row = next(ln for ln in lines if "rnnx cupy-cuda" in ln)
    assert cupy_row.split()[-3:] == ["12.500", "2.50", "-"]
    assert "skipped: anchor torch: something" in text


def test_summary_reads_the_bench_log_of_a_stopped_run(tmp_path):
    from rnnx.cli.bench import _against_peak, format_rows

    s = _summary_module()
    rows = []
    for name, kind, bw, ms, vt, vj in (("rnnx jax-gpu", "rnnx", True, 6.25, 1.25, 0.5),
                                       ("rnnx torch-cuda", "rnnx", False, 3.0, 0.75, None),
                                       ("torch.nn.GRU (cuDNN)", "anchor", True, 5.0, 1.0, None)):
        rows.append({"size": [256, 100, 256, 512], "cell": "gru", "row": name, "kind": kind, "library": "jax",
                     "pass": "forward+backward" if bw else "forward", "median_ms": ms, "min_ms": ms, "max_ms": ms,
                     "vs_torch": vt, "vs_jax_autodiff": vj, "gflops": 100.0, "compile_s": None})
    (tmp_path / "bench.log").write_text(format_rows(_against_peak(rows, {"jax": 1000.0})) + "\nTraceback ...\n")
    got = s.bench_rows_from_log(str(tmp_path / "bench.log"))
    assert [(r["row"], r["pass"], r["median_ms"], r["vs_torch"], r["vs_jax_autodiff"]) for r in got] == [
        ("rnnx jax-gpu", "forward+backward", 6.25, 1.25, 0.5), ("rnnx torch-cuda", "forward", 3.0, 0.75, None),
        ("torch.nn.GRU (cuDNN)", "forward+backward", 5.0, 1.0, None)]
    assert all(r["size"] == [256, 100, 256, 512] and r["cell"] == "gru" for r in got)
    text = s.summarise(str(tmp_path), mode="gpu")
    assert "3 rows read from bench.log (a partial run)" in text and "no pytest.xml" in text
    assert "no parity.json" in text and "steps: (no record)" in text


# -- the script itself ---------------------------------------------------------------------------------
def _needs_the_script_tools():
    if shutil.which("bash") is None or shutil.which("timeout") is None:
        pytest.skip("bench/gpu_check.sh needs bash and coreutils' timeout")


def test_gpu_check_usage_errors(tmp_path):
    _needs_the_script_tools()
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "OUTDIR is required" in r.stderr
    r = subprocess.run(["bash", str(SCRIPT), "--gpu", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "unknown option --gpu" in r.stderr
    r = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and "bash bench/gpu_check.sh OUTDIR" in r.stdout


def test_gpu_check_cpu_runs_the_whole_pipeline(tmp_path):
    """``bash bench/gpu_check.sh --cpu OUTDIR`` at a tiny size: every step passes, the eight
    files are there, and summary.txt holds the counts the XML and JSON files hold."""
    _needs_the_script_tools()
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    out, wheels = tmp_path / "out", tmp_path / "no-wheels"
    wheels.mkdir()  # nothing can be installed: every package must import already
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RNNX_"))}
    env.update(PYTHON=sys.executable, RNNX_WHEELS=str(wheels), RNNX_GPU_CHECK_K=FEW_CASES,
               RNNX_GPU_CHECK_CELLS="lstm", RNNX_GPU_CHECK_WORKERS="1",
               RNNX_GPU_CHECK_PARITY_TARGETS="numpy-cpu,torch-cpu",  # jax-cpu's eager parity: ~36 s of compiles
               # a loaded CI machine: every step gets minutes (the device defaults fit an 8-minute GPU budget)
               RNNX_GPU_CHECK_T_INSTALL="300", RNNX_GPU_CHECK_T_ENV="300", RNNX_GPU_CHECK_T_PYTEST="900",
               RNNX_GPU_CHECK_T_PARITY="900", RNNX_GPU_CHECK_T_BENCH="900", RNNX_GPU_CHECK_T_SUMMARY="300")
    t0 = time.perf_counter()
    r = subprocess.run(["bash", str(SCRIPT), "--cpu", str(out)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=3600, check=False)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, f"exit {r.returncode} after {wall:.0f}s\n{r.stdout}\n{r.stderr}"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # eight files: what a device run returns

    env_txt = (out / "env.txt").read_text()
    assert "nothing to install: every package imports" in env_txt
    for t in ("numpy-cpu", "torch-cpu", "jax-cpu"):
        assert f"target {t}: available" in env_txt
    summary = (out / "summary.txt").read_text()
    assert "rnnx GPU check (cpu mode)" in summary and "result: every step passed" in summary
    for name in ("install ok", "env ok", "pytest ok", "parity ok", "bench ok"):
        assert name in summary

    import xml.etree.ElementTree as ET

    cases = [tc for tc in ET.parse(out / "pytest.xml").getroot().iter("testcase") if tc.get("name")]
    assert cases and all(len(tc) == 0 for tc in cases)  # all passed: no failure, error or skipped child
    assert f"pytest: {len(cases)} tests: {len(cases)} passed, 0 failed, 0 errors, 0 skipped" in summary
    for t in ("numpy-cpu", "torch-cpu", "jax-cpu"):
        assert any(ln.split()[:2] == [t, str(len(cases) // 3)] for ln in summary.splitlines()), summary

    parity = json.loads((out / "parity.json").read_text())
    n = len(parity["rows"])
    assert n == 4 and {r["cell"] for r in parity["rows"]} == {"lstm"}
    assert f"parity: {n} rows, {n} within tolerance, 0 breached" in summary
    for t in ("numpy-cpu", "torch-cpu"):
        assert f"worst {t}: float32 " in summary

    bench = json.loads((out / "bench.json").read_text())
    assert bench["repeat"] == 1 and {tuple(r["size"]) for r in bench["rows"]} == {(1, 5, 1, 8)}
    names = {r["row"] for r in bench["rows"]}
    assert {"rnnx numpy-cpu", "rnnx jax-cpu", "rnnx torch-cpu", "torch.nn.LSTM (CPU)"} <= names
    ratio_lines = [ln for ln in summary.splitlines() if ln.startswith("  1,5,1,8 ")]
    assert len(ratio_lines) == len(bench["rows"])
    assert "parity rows: 4 within tolerance" in (out / "parity.log").read_text()
    print(textwrap.indent(f"gpu_check --cpu: {wall:.1f}s wall", "  "))
