"""``rnnx bench`` as a smoke test on one tiny size (timings are never asserted), and its
bad input: one line, non-zero exit."""

from __future__ import annotations

import json

import pytest

from rnnx.cli.bench import flops
from rnnx.cli import main


def test_bench_smoke(tmp_path, capsys):
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    code = main(["bench", "--sizes", "2,4,3,5", "--cells", "lstm,gru", "--repeat", "1", "--warmup", "1",
                 "--checkpoint", "--json", str(out), "--plot", str(png)])
    assert code == 0
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    assert {r["cell"] for r in rows} == {"lstm", "gru"}
    assert any(r["row"] == "rnnx numpy-cpu" and r["pass"] == "forward+backward" for r in rows)
    ck = [r for r in rows if "checkpoint" in r["row"]]
    assert ck and all(r["cache_bytes"] < r["full_cache_bytes"] for r in ck)
    for r in rows:
        assert r["min_ms"] <= r["median_ms"] <= r["max_ms"] and r["gflops"] > 0
        peak = doc["matmul_peak_gflops"].get(r["library"])  # the run's best peak of the row's own library
        assert r["peak_gflops"] == peak and r["peak_fraction"] == pytest.approx(r["gflops"] / peak)
        if r["kind"] == "rnnx" and any(a["row"].startswith("torch.nn") for a in rows):
            assert r["vs_torch"] is not None
    assert png.stat().st_size > 0
    assert all(r["calls_per_round"] >= 1 for r in rows) and doc["settle_s"] == 0.2 and doc["malloc"]
    assert doc["rewarm_ms"] == 50.0
    assert doc["jax_projection"] in ("in_step", "hoisted", None)
    assert "measured float32 matmul peak" in capsys.readouterr().out
    report = _report_module()
    md = report.table(doc, "lstm")
    assert md.startswith("LSTM, forward + backward") and "| rnnx numpy-cpu |" in md and "[cache " in md
    lines = report.targets(doc)
    assert lines and all(x.startswith(("MET", "MISSED")) for x in lines)
    assert any("fastest rnnx CPU" in x for x in lines)


def _report_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "report.py"
    spec = importlib.util.spec_from_file_location("bench_report", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("argv,msg", [
    (["bench", "--sizes", "2,4,3"], "--sizes: expected B,T,I,H: four positive integers, got '2,4,3'"),
    (["bench", "--sizes", "2,4,x,5"], "expected B,T,I,H: four positive integers, got '2,4,x,5'"),
    (["bench", "--sizes", "2,4,0,5"], "expected B,T,I,H: four positive integers, got '2,4,0,5'"),
    (["bench", "--cells", "lstm,transformer"], "--cells: unknown ['transformer']"),
    (["bench", "--backend", "tensorflow"], "unknown backend or target 'tensorflow'"),
    (["bench", "--repeat", "0", "--sizes", "1,2,1,2"], "--repeat: expected at least 1, got '0'"),
    (["bench", "--settle", "-1", "--sizes", "1,2,1,2"], "--settle: expected seconds >= 0, got '-1'"),
    (["bench", "--min-round-ms", "nan", "--sizes", "1,2,1,2"], "--min-round-ms: expected milliseconds >= 0, got 'nan'"),
    (["bench", "--rewarm-ms", "-1", "--sizes", "1,2,1,2"], "--rewarm-ms: expected milliseconds >= 0, got '-1'"),
    (["bench", "--rewarm-ms", "inf", "--sizes", "1,2,1,2"], "--rewarm-ms: expected milliseconds >= 0, got 'inf'"),
])
def test_bench_bad_input(argv, msg, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # refused by the parser
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


def test_flop_count():
    assert flops("lstm", 1, 1, 1, 1, backward=False) == 2 * 4 * 2
    assert flops("gru", 2, 3, 4, 5, backward=True) == 3 * 2 * 3 * 2 * 3 * 5 * 9
    from rnnx.cli import _parser

    args = _parser("bench")[0].parse_args(["bench", "--sizes", "1,25,1,100", "2,3,4,5"])
    assert args.sizes == [(1, 25, 1, 100), (2, 3, 4, 5)]


def test_peak_is_the_best_of_the_run(monkeypatch):
    """A slow moment on a shared machine (a low matmul peak after one size) must not inflate
    the fraction of peak: every row is measured against its library's best over the run."""
    import rnnx.cli.bench as bench
    from rnnx import backends

    seen = iter([50.0, 200.0, 100.0])
    monkeypatch.setattr(bench, "matmul_peak", lambda lib: next(seen) if lib == "numpy" else None)
    target = next(t for t in backends.targets() if t.id == "numpy-cpu")
    doc = bench.run(cells=["rnn"], sizes=[(1, 2, 1, 2), (1, 3, 1, 2), (1, 4, 1, 2)], targets=[target], repeat=1,
                    warmup=1, dtype="float32", anchors=False, checkpoint=False, settle=0.0, log=lambda s: None)
    assert doc["matmul_peak_gflops"] == {"numpy": 200.0}
    assert all(r["peak_gflops"] == 200.0 for r in doc["rows"])


def test_missing_anchor_is_skipped_with_its_reason(monkeypatch, capsys):
    """An anchor library that is not installed is skipped and named, not a crash."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    monkeypatch.setitem(sys.modules, "jax", None)
    code = main(["bench", "--sizes", "1,3,1,2", "--cells", "rnn", "--backend", "numpy", "--repeat", "1",
                 "--warmup", "1", "--settle", "0", "--rewarm-ms", "0"])
    assert code == 0
    out = capsys.readouterr().out
    assert "skipped: anchor torch: not installed" in out
    assert "skipped: anchor jax: unavailable (jax is not installed" in out
    assert "rnnx numpy-cpu" in out and "torch.nn.RNN" not in out


def test_calls_per_round():
    from rnnx.cli.bench import _calls_per_round

    assert _calls_per_round(50.0, 20.0) == 1 and _calls_per_round(0.3, 20.0) == 67
    assert _calls_per_round(0.0, 20.0) == 100 and _calls_per_round(5.0, 0.0) == 1


def test_malloc_tune(monkeypatch):
    """Once per process, says what it did; RNNX_MALLOC=default leaves malloc alone."""
    import importlib

    from rnnx.backends import malloc

    monkeypatch.setenv("RNNX_MALLOC", "default")
    m = importlib.reload(malloc)
    assert m.tune() == "malloc left at its defaults (RNNX_MALLOC=default)"
    monkeypatch.delenv("RNNX_MALLOC")
    m = importlib.reload(malloc)
    said = m.tune()
    assert said.startswith("glibc mallopt M_MMAP_THRESHOLD=32 MiB") or "left at its defaults" in said
    assert "left at its defaults" in said or said.endswith("M_MMAP_MAX=0, M_ARENA_MAX=1")
    assert m.tune() is said


def test_long_dependency_quick(tmp_path):
    """bench/long_dependency.py --quick (T = 20, tiny) runs and writes a table of finite numbers."""
    import math
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "ld.json"
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, str(root / "bench" / "long_dependency.py"), "--quick", "--json", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert {"task", "settings", "command", "seconds", "table", "runs"} <= set(doc)
    assert doc["settings"]["quick"] is True and doc["settings"]["steps"] == [20]
    tab = doc["table"]
    assert sorted((r["cell"], r["T"]) for r in tab) == [("gru", 20), ("lstm", 20), ("rnn", 20)]
    numbers = ("test_accuracy", "test_mse", "growth_epoch0", "growth_end", "flow_ratio_epoch0", "flow_ratio_end",
               "grad_norm_max", "grad_norm_median", "clipped", "updates", "seconds")
    for r in tab:
        for k in numbers:
            assert isinstance(r[k], (int, float)) and math.isfinite(r[k]), (r["cell"], k, r[k])
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0 <= r["clipped"] <= r["updates"] == 16
        assert (r["forget_epoch0"] is not None) == (r["cell"] == "lstm")
    for run in doc["runs"]:
        curves = run["flow_h_epoch0"] + run["flow_h_end"] + run["train_loss"]
        assert len(run["flow_h_epoch0"]) == 20 and all(math.isfinite(v) for v in curves)
    assert "| lstm | 20 |" in proc.stdout


def _train_speed_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "train_speed.py"
    spec = importlib.util.spec_from_file_location("_bench_train_speed", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_speed_ratios_report_the_command_beside_the_engine():
    """bench/train_speed.py's ratios: the fastest ``cli-*`` against torch and Keras beside the
    fastest ``rnnx-*``, and each ``cli-X`` against the engine on the same backend."""
    ts = _train_speed_module()
    res = {k: {"epoch_ms_median": v} for k, v in {"rnnx-numpy-f32": 60.0, "rnnx-jax-f32": 25.0, "torch-loop-1thread": 40.0,
                                                   "keras-jax": 50.0, "cli-numpy": 45.0, "cli-jax": 30.0}.items()}
    r = ts.ratios(res)
    assert r["rnnx_fastest"] == "rnnx-jax-f32" and r["rnnx-jax-f32 / torch-loop-1thread"] == 0.625
    assert r["cli_fastest"] == "cli-jax" and r["cli-jax / torch-loop-1thread"] == 0.75 and r["cli-jax / keras-jax"] == 0.6
    assert r["cli-jax / rnnx-jax-f32"] == 1.2 and r["cli-numpy / rnnx-numpy-f32"] == 0.75
    assert "cli-jax / torch-loop-val-1thread" not in r
    res["torch-loop-val-1thread"] = {"epoch_ms_median": 48.0}  # the torch loop with the command's validation forward
    r = ts.ratios(res)
    assert r["cli-jax / torch-loop-val-1thread"] == 0.625 and "rnnx-jax-f32 / torch-loop-val-1thread" not in r
    del res["cli-numpy"], res["cli-jax"], res["torch-loop-val-1thread"]
    assert not any(k.startswith("cli") for k in ts.ratios(res))


def test_train_speed_summary_reports_each_epochs_cpu_time():
    """Every contestant's summary has the median and fastest CPU milliseconds of its timed
    epochs (the warm-up left out, as for wall time), and ``ratios`` compares those medians
    (``ratios_cpu``: what an epoch costs its process, whatever else the machine runs)."""
    ts = _train_speed_module()
    out = ts.summary({"updates": 16}, [900.0, 30.0, 20.0, 40.0], {}, [800.0, 25.0, 35.0, 15.0])
    assert out["epoch_cpu_ms_median"] == 25.0 and out["epoch_cpu_ms_min"] == 15.0
    assert out["epoch_ms_median"] == 30.0
    res = {"rnnx-jax-f32": {"epoch_cpu_ms_median": 20.0}, "torch-loop-1thread": {"epoch_cpu_ms_median": 40.0},
           "cli-jax": {"epoch_cpu_ms_median": 30.0}}
    r = ts.ratios(res, "epoch_cpu_ms_median")
    assert r["rnnx-jax-f32 / torch-loop-1thread"] == 0.5 and r["cli-jax / torch-loop-1thread"] == 0.75


def test_train_speed_cli_worker_answers_each_epoch_with_history_seconds():
    """The ``cli-numpy`` worker trains through ``rnnx train --csv`` in its process and answers
    every "go" with one epoch's milliseconds (history.csv's seconds, checked by the worker
    against the file), then its SeriesMetrics / fit / wall / checkpoint medians."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("vega_datasets")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OPENBLAS_NUM_THREADS": "1", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(root / "bench" / "train_speed.py"), "--worker", "cli:numpy:float32:1"],
                          check=False, input="go\ngo\ngo\nstop\n", env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines()]  # nothing but the protocol on stdout
    assert lines[0]["ready"] is True and lines[0]["updates"] == 16
    epochs, extra = lines[1:-1], lines[-1]
    assert len(epochs) == 3 and all(e["ms"] > 0 for e in epochs)
    assert all(e["cpu_ms"] > 0 for e in epochs)  # the CPU the worker spent on the epoch
    assert set(extra) == {"metrics_ms", "fit_part_ms", "wall_ms", "checkpoint_ms"}
    assert 0 < extra["metrics_ms"] and 0 < extra["fit_part_ms"] and extra["checkpoint_ms"] > 0
    assert "rnnx train: 3 epochs" in proc.stderr
