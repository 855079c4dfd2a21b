"""Data parallel on a JAX mesh (issue 19), each check in a fresh process with 4 forced host
devices (the device count is fixed when JAX starts; ``tests/distributed/data_parallel.py``):

- ``rnnx.training.distributed.loss_and_grad`` (the batch split over 4 devices, one shard_map
  program) equals one device to <= 1e-13 (float64), and the layer's own BPTT under
  shard_map with a non-zero initial state and memory checkpointing does too;
- plain ``jax.jit`` of ``Model.loss_and_grad`` on batch-sharded inputs is right and its
  program's only collectives are all-reduces of exactly the loss (and the valid count) and
  the parameter gradients: no all-gather, all-to-all, collective-permute, reduce-scatter;
- ``rnnx.fit(distribution=DataParallel(4))``: three epochs (Adam, clip-norm, lengths, a
  validation split, a padded short last batch) equal one device; the update program holds
  one all-reduce of exactly n_params + 2 numbers; resume is bit for bit;
- the refusals that need several devices (a batch size that does not split, more devices
  than present).

By default a few cases; ``RNNX_DISTRIBUTED=full python -m pytest -m distributed`` runs every
case of the 5 cells x layers, directions, lengths, objectives and checkpointing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

ROOT = Path(__file__).parent.parent
SCRIPT = Path(__file__).parent / "distributed" / "data_parallel.py"
FULL = os.environ.get("RNNX_DISTRIBUTED") == "full"
#: the default cases: every cell once, lengths, many-to-many, checkpointing, 2 layers, bidirectional
DEFAULT = {"grads": ["lstm-proj-L2-ckpt", "rnn-relu-bi-m2m-lengths-ckpt"],
           "jit": ["lstm-bi-m2m-lengths", "gru-L2-bi-lengths"],
           "fit": ["lstm-bi-m2m-lengths"],
           "errors": ["rnn-tanh"]}


def run(check: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cases = [] if FULL and check != "errors" else DEFAULT[check]  # the refusals need one case
    r = subprocess.run([sys.executable, str(SCRIPT), check, *cases], capture_output=True, text=True, env=env,
                       timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert rows and (not cases or len(rows) == len(cases)), r.stdout
    return rows


def only_all_reduces(c: dict) -> bool:
    return c["all-reduce"] >= 1 and all(c[k] == 0 for k in c if k != "all-reduce")


@pytest.mark.distributed
def test_data_parallel_gradients_equal_one_device_with_one_all_reduce():
    for row in run("grads"):
        assert row["loss"] <= 1e-13 and row["grads"] <= 1e-13 * max(1.0, row["scale"]), row
        assert row["layer_grads"] <= 1e-13 * max(1.0, row["layer_scale"]), row
        assert row["collectives"]["all-reduce"] == 1 and only_all_reduces(row["collectives"]), row
        assert row["all_reduce_sizes"] == [row["n_params"] + 2], row  # [n_k g_k..., n_k L_k, n_k]


@pytest.mark.distributed
def test_plain_jit_on_sharded_inputs_has_no_all_gather():
    for row in run("jit"):
        assert row["loss"] <= 1e-13 and row["grads"] <= 1e-13 * max(1.0, row["scale"]), row
        assert only_all_reduces(row["collectives"]), row
        # exactly the parameter gradients, the loss and (with a mask) its valid count
        assert sum(row["all_reduce_sizes"]) - row["n_params"] in (1, 2), row


@pytest.mark.distributed
def test_fit_on_four_devices_equals_one_and_resumes_bit_for_bit():
    for row in run("fit"):
        assert row["params"] <= 1e-13 * max(1.0, row["scale"]) and row["history"] <= 1e-13, row
        assert row["spe"] == 0.0, row  # one program per update or 32 in one scan: the same bits
        assert row["resume_bits"] is True, row
        assert row["collectives"]["all-reduce"] == 1 and only_all_reduces(row["collectives"]), row
        assert row["all_reduce_sizes"] == [row["n_params"] + 2], row


@pytest.mark.distributed
def test_refusals_that_need_several_devices():
    (row,) = run("errors")
    assert row["batch"] == "ValueError: batch_size: 6 does not split over 4 devices; expected a multiple of 4", row
    assert row["too-many"].startswith("Unavailable: devices: 9 requested, 4 cpu devices present"), row


def test_bad_distribution_arguments_are_one_clear_error():
    import jax.numpy as jnp
    import numpy as np

    import rnnx
    from rnnx.backends import Unavailable
    from rnnx.training.distributed import DataParallel

    x, y = np.zeros((8, 5, 2)), np.zeros((8, 1))
    model = rnnx.Model("lstm", 2, 3, 1)
    with pytest.raises(ValueError, match=r"^devices: expected a positive integer or None \(every device\), got 0$"):
        DataParallel(0)
    with pytest.raises(TypeError, match=r"^distribution: expected rnnx.training.distributed.DataParallel\(devices\) or "
                                        r"rnnx.training.dask_parallel.DaskParallel\(...\), got int$"):
        rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), distribution=4, epochs=1)
    with pytest.raises(ValueError, match=r"^distribution: data parallel needs a backend with SPMD programs \(jax\); "
                                         r"got numpy$"):
        rnnx.fit(model, x, y, distribution=DataParallel(1), epochs=1)
    with pytest.raises(ValueError, match=r"^distribution: not with tbptt"):
        rnnx.fit(rnnx.Model("lstm", 2, 3, 1, objective="many-to-many"), jnp.asarray(x), jnp.zeros((8, 5, 1)),
                 distribution=DataParallel(1), tbptt=(2, 2), epochs=1)
    with pytest.raises(ValueError, match=r"^distribution: not with dropout \(got 0.5\)"):
        rnnx.fit(rnnx.Model("lstm", 2, 3, 1, num_layers=2, dropout=0.5), jnp.asarray(x), jnp.asarray(y),
                 distribution=DataParallel(1), epochs=1)
    with pytest.raises(ValueError, match=r"^loss: half-sse divides by the batch size"):
        rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), distribution=DataParallel(1), loss="half-sse", epochs=1)
    with pytest.raises(Unavailable, match=r"^devices: 2 requested, 1 cpu device present; for 2 on one CPU start "
                                         r"Python with XLA_FLAGS=--xla_force_host_platform_device_count=2$"):
        rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), distribution=DataParallel(2), epochs=1)


def test_one_device_data_parallel_equals_plain_fit():
    """DataParallel(1): the same shard_map program on a mesh of one; equal to plain fit."""
    import jax
    import numpy as np

    import rnnx
    from rnnx.training.distributed import DataParallel

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        x, y = jax.numpy.asarray(rng.standard_normal((21, 6, 2))), jax.numpy.asarray(rng.standard_normal((21, 1)))
        model = rnnx.Model("gru", 2, 4, 1)
        kw = dict(epochs=2, batch_size=8, clip_norm=0.5, seed=1)
        a = rnnx.fit(model, x, y, **kw)
        b = rnnx.fit(model, x, y, distribution=DataParallel(1), **kw)
        for k in a.params:
            assert float(jax.numpy.max(jax.numpy.abs(a.params[k] - b.params[k]))) <= 1e-14, k
        assert [r["loss"] for r in a.history] == pytest.approx([r["loss"] for r in b.history], abs=1e-14)


def _rnnx(*argv, cwd, devices: int = 4) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "rnnx", *map(str, argv)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=cwd)


def _two_runs(tmp_path) -> dict[str, list[str]]:
    """A CSV regression run and an --npz classification run (45 cases), their files written in
    tmp_path: the flags of each (batch 8: short last batches)."""
    import math

    import numpy as np

    (tmp_path / "s.csv").write_text("v\n" + "\n".join(f"{math.sin(0.3 * t) + 0.01 * t:.6f}" for t in range(130)))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((45, 7, 2))
    np.savez(tmp_path / "p.npz", x=x, y=(x[:, :, 0].sum(axis=1) > 0).astype(np.int64))
    return {"csv": ["--csv", "s.csv", "--column", "v", "--window", "8", "--hidden", "6", "--epochs", "3",
                    "--batch-size", "8", "--clip-norm", "1"],
            "npz": ["--npz", "p.npz", "--hidden", "6", "--epochs", "3", "--batch-size", "8"]}


def _numbers(a, b, path=""):
    """Every number of two metrics.json equal to 1e-12 (relative), timings and settings.devices aside."""
    if isinstance(a, dict):
        for k in a:
            if not k.startswith("seconds") and k not in ("devices", "dask_workers", "versions", "command", "argv",
                                                         "written"):
                _numbers(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _numbers(u, v, f"{path}[{i}]")
    elif isinstance(a, float):
        assert abs(a - b) <= 1e-12 * max(1.0, abs(a)), (path, a, b)


@pytest.mark.distributed
def test_rnnx_train_devices_4_gives_the_metrics_of_devices_1(tmp_path):
    """A CSV regression run (rnnx.fit) and (RNNX_DISTRIBUTED=full) a classification run
    (rnnx.fit, also covered by test_fit_on_four_devices_equals_one...), each with a short
    last batch that does not split over 4 devices (padded and masked)."""
    runs = _two_runs(tmp_path)
    for name, argv in runs.items():
        if name == "npz" and not FULL:  # the classification run (rnnx.fit) only with RNNX_DISTRIBUTED=full
            continue
        got = {}
        for n in (1, 4):
            out = tmp_path / f"{name}{n}"
            r = _rnnx("train", *argv, "--backend", "jax", "--devices", n, "--out", out, "--quiet", cwd=tmp_path)
            assert r.returncode == 0, r.stderr[-2000:]
            got[n] = json.loads((out / "metrics.json").read_text())
        _numbers(got[1], got[4])


def test_rnnx_train_more_devices_than_present_is_one_line(tmp_path):
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(str(t % 7) for t in range(60)))
    r = _rnnx("train", "--csv", "s.csv", "--column", "v", "--backend", "jax", "--devices", "8", "--epochs", "1",
              "--out", tmp_path / "r", "--quiet", cwd=tmp_path, devices=2)
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("rnnx train: error: --devices: 8 requested, 2 cpu devices present; for 8 on one CPU start "
                        "Python with XLA_FLAGS=--xla_force_host_platform_device_count=8\n"), r.stderr
    assert not (tmp_path / "r").exists()


def test_torch_gloo_recipe_two_ranks_equal_one_process(tmp_path):
    """docs/distributed.md's train_rank in 2 processes (gloo, localhost) = rnnx.fit in one."""
    pytest.importorskip("torch")
    script = Path(__file__).parent / "distributed" / "torch_gloo.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rendezvous = str(tmp_path / "rendezvous")
    procs = [subprocess.Popen([sys.executable, str(script), str(r), "2", rendezvous], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for r in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    row = json.loads(outs[0][0].strip().splitlines()[-1])
    assert row["world"] == 2 and row["diff"] <= 1e-13 * max(1.0, row["scale"]), row


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.distributed
def test_two_processes_of_two_devices_equal_one_process(tmp_path):
    """jax.distributed on localhost (gloo CPU collectives): rnnx.fit(DataParallel()) over the
    4 devices of 2 processes = one process; only process 0 writes its checkpoint."""
    import numpy as np

    script = Path(__file__).parent / "distributed" / "multi_process.py"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    port = _free_port()
    (tmp_path / "multi").mkdir()
    (tmp_path / "single").mkdir()
    procs = [subprocess.Popen([sys.executable, str(script), str(i), "2", str(port), str(tmp_path / "multi")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    ref = subprocess.run([sys.executable, str(script), "single", str(tmp_path / "single")], capture_output=True,
                         text=True, env=env, timeout=300)
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert ref.returncode == 0, ref.stderr[-2000:]
    multi = json.loads(outs[0][0].strip().splitlines()[-1])
    one = json.loads(ref.stdout.strip().splitlines()[-1])
    assert (multi["devices"], multi["processes"]) == (4, 2), multi
    for k in one["params"]:
        assert np.max(np.abs(np.asarray(multi["params"][k]) - np.asarray(one["params"][k]))) <= 1e-13, k
    assert np.allclose(multi["losses"], one["losses"], rtol=0, atol=1e-13)
    assert np.allclose(multi["val"], one["val"], rtol=0, atol=1e-13)
    assert multi["written"] == ["state-0.npz"], multi["written"]  # process 1 wrote nothing


@pytest.mark.distributed
def test_rnnx_train_two_processes_equal_one_and_only_process_0_writes(tmp_path):
    """`rnnx train --coordinator localhost:PORT --num-processes 2 --process-id I --devices 4`
    (2 processes x 2 host devices) = `--devices 4` in one process; process 1 leaves no file."""
    import math

    (tmp_path / "s.csv").write_text("v\n" + "\n".join(f"{math.sin(0.3 * t) + 0.01 * t:.6f}" for t in range(130)))
    (tmp_path / "tmp").mkdir()
    argv = ["train", "--csv", "s.csv", "--column", "v", "--window", "8", "--hidden", "6", "--epochs", "3",
            "--batch-size", "8", "--backend", "jax", "--devices", "4", "--quiet"]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=2", TMPDIR=str(tmp_path / "tmp"),
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-m", "rnnx", *argv, "--out", "multi", "--coordinator",
                               f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for i in range(2)]
    one = _rnnx(*argv, "--out", "single", cwd=tmp_path)
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert one.returncode == 0, one.stderr[-2000:]
    assert "rnnx train: process 1 done; process 0 wrote the run" in outs[1][0]
    assert list((tmp_path / "tmp").iterdir()) == []  # process 1's private folder is gone
    multi = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    _numbers(json.loads((tmp_path / "single" / "metrics.json").read_text()), multi)


def test_unreachable_coordinator_is_one_line_within_the_timeout(tmp_path):
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(str(t % 7) for t in range(60)))
    port = _free_port()  # nobody serves it
    r = _rnnx("train", "--csv", "s.csv", "--column", "v", "--backend", "jax", "--devices", "2", "--coordinator",
              f"localhost:{port}", "--num-processes", "2", "--process-id", "1", "--coordinator-timeout", "2",
              "--out", "r", "--quiet", cwd=tmp_path, devices=1)
    assert r.returncode == 2, r.stderr
    assert r.stderr == f"rnnx train: error: --coordinator: localhost:{port} not reachable within 2 s (Connection " \
                       "refused)\n", r.stderr
    assert not (tmp_path / "r").exists()


def _dask(check: str) -> dict:
    pytest.importorskip("distributed")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, str(Path(__file__).parent / "distributed" / "dask_parallel.py"), check],
                       capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads([line for line in r.stdout.splitlines() if line.startswith("{")][-1])


@pytest.mark.distributed
def test_dask_one_two_three_shards_equal_one_process_and_only_gradients_cross():
    row = _dask("shards")
    assert all(d <= 1e-13 * max(1.0, row["scale"]) for d in row["diff"].values()), row
    results = [b for kind, b in row["transfers"] if kind == "result"]
    data = [b for kind, b in row["transfers"] if kind == "data"]
    # between workers per update: only the partial-sum vectors of the tree (n_params + 2 numbers)
    assert results and set(results) == {row["vector_bytes"]}, row
    # the data: scattered once per fit (3 fits x 3 arrays x at most 3 workers), never per update
    assert len(data) <= 27 and all(b <= row["data_bytes"] for b in data), row


@pytest.mark.distributed
def test_dask_worker_killed_mid_run_is_retried_with_the_same_result():
    row = _dask("kill")
    assert row["killed"] == 1 and row["epochs"] == 4 and row["diff"] <= 1e-13, row


@pytest.mark.distributed
def test_dask_data_reduced_to_one_copy_and_lost_is_sent_again_with_the_same_result():
    """Dask's active memory manager keeps one copy of the broadcast data; its worker killed:
    the update is repeated on the data sent again (the CI failure of stop 32, made certain)."""
    row = _dask("resend")
    assert 1 <= row["killed"] <= 2 and row["epochs"] == 3 and row["diff"] <= 1e-13, row


@pytest.mark.distributed
def test_dask_every_worker_lost_stops_with_its_last_checkpoint():
    row = _dask("lost")
    assert row["message"] == ("dask: the update was cancelled: its data were lost with the workers (0 workers "
                              "left); the run stops; its last checkpoint (epoch 1): CHECKPOINT"), row
    assert row["checkpoint_epoch"] == 1, row


def test_dask_unreachable_scheduler_is_one_line_within_the_timeout():
    row = _dask("unreachable")
    assert row["message"] == "dask-scheduler: tcp://127.0.0.1:PORT not reachable within 2 s (OSError)", row


def test_dask_refusals():
    import numpy as np

    import rnnx
    from rnnx.training.dask_parallel import DaskParallel

    with pytest.raises(ValueError, match=r"^distribution: DaskParallel takes a scheduler address or a number of "
                                         r"workers, exactly one; got scheduler=None, workers=None$"):
        DaskParallel()
    with pytest.raises(ValueError, match=r"^shards: expected a positive integer, got 0$"):
        DaskParallel(workers=2, shards=0)
    x, y = np.zeros((8, 5, 2)), np.zeros((8, 5, 1))
    m2m = rnnx.Model("lstm", 2, 3, 1, objective="many-to-many")
    with pytest.raises(ValueError, match=r"^distribution: not with tbptt"):
        rnnx.fit(m2m, x, y, distribution=DaskParallel(workers=1), tbptt=(2, 2), epochs=1)


@pytest.mark.distributed
def test_rnnx_train_dask_workers_gives_the_metrics_of_one_process(tmp_path):
    """`rnnx train --dask-workers 2` (a CSV run and a classification run, both
    through rnnx.fit) = the same run in one process."""
    pytest.importorskip("distributed")
    runs = _two_runs(tmp_path)
    for name, argv in runs.items():
        got = {}
        for extra in ((), ("--dask-workers", "2")):
            out = tmp_path / f"{name}{len(extra)}"
            r = _rnnx("train", *argv, *extra, "--out", out, "--quiet", cwd=tmp_path, devices=1)
            assert r.returncode == 0, r.stderr[-2000:]
            got[len(extra)] = json.loads((out / "metrics.json").read_text())
        _numbers(got[0], got[2])


@pytest.mark.distributed
@pytest.mark.skipif(not FULL, reason="the scaling bench (~40 s): RNNX_DISTRIBUTED=full python -m pytest -m distributed")
def test_scaling_bench_quick_writes_its_rows(tmp_path):
    pytest.importorskip("distributed")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "scaling.py"), "--quick", "--json", str(tmp_path / "s.json")],
                       capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((tmp_path / "s.json").read_text())["rows"]
    assert [(r["engine"], r.get("devices", r.get("workers"))) for r in rows] == [
        ("jax", 1), ("jax", 2), ("numpy", 0), ("dask", 1), ("dask", 2)]
    assert all(r["update_ms"] > 0 for r in rows)


def test_coordinator_auto_without_a_cluster_job_is_one_line(tmp_path):
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(str(t % 7) for t in range(60)))
    env_cluster = ("SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri", "KUBERNETES_SERVICE_HOST")
    if any(k in os.environ for k in env_cluster):
        pytest.skip("running inside a cluster job")
    r = _rnnx("train", "--csv", "s.csv", "--column", "v", "--backend", "jax", "--devices", "1", "--coordinator",
              "auto", "--out", tmp_path / "r", "--quiet", cwd=tmp_path, devices=1)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("rnnx train: error: --coordinator: auto detected no cluster job (") and \
        r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "r").exists()


def test_rnnx_train_unreachable_dask_scheduler_is_one_line(tmp_path):
    pytest.importorskip("distributed")
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(str(t % 7) for t in range(60)))
    port = _free_port()
    r = _rnnx("train", "--csv", "s.csv", "--column", "v", "--dask-scheduler", f"tcp://127.0.0.1:{port}",
              "--dask-timeout", "2", "--out", tmp_path / "r", "--quiet", cwd=tmp_path, devices=1)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"rnnx train: error: --dask-scheduler: tcp://127.0.0.1:{port} not reachable within 2 s "
                        "(OSError)\n"), r.stderr


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_rnnx_train_silent_dask_scheduler_is_one_line(tmp_path, kind):
    """A peer that accepts the connection and never answers (Dask's own Client waited for it
    past any --dask-timeout): one line, as for an unreachable one; the run is bounded by the
    subprocess's timeout of minutes, never asserted in seconds."""
    import socket
    import threading

    pytest.importorskip("distributed")
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(str(t % 7) for t in range(60)))
    import numpy as np

    np.savez(tmp_path / "p.npz", x=np.random.default_rng(0).normal(size=(30, 10)), y=np.arange(30) % 2)
    data = ["--csv", "s.csv", "--column", "v"] if kind == "regression" else ["--npz", "p.npz"]
    held = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = server.getsockname()[1]

        def accept() -> None:  # accepts, reads nothing, writes nothing
            try:
                while True:
                    held.append(server.accept()[0])
            except OSError:  # the server closed: the test is over
                pass

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        try:
            r = _rnnx("train", *data, "--dask-scheduler", f"tcp://127.0.0.1:{port}", "--dask-timeout", "2",
                      "--epochs", "1", "--out", tmp_path / "r", "--quiet", cwd=tmp_path, devices=1)
        finally:
            server.shutdown(socket.SHUT_RDWR)
            for c in held:
                c.close()
    t.join(60)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"rnnx train: error: --dask-scheduler: tcp://127.0.0.1:{port} not reachable within 2 s "
                        "(connected, but no Dask handshake came)\n"), r.stderr
    assert held and not (tmp_path / "r").exists()


def test_a_dask_client_that_never_connects_is_given_up_and_closed_when_late(monkeypatch):
    """Whatever else the peer does, rnnx waits for Dask's Client at most timeout + the grace;
    one that connects after that is closed, never left open."""
    import threading

    from rnnx.training import dask_parallel

    release, made = threading.Event(), []

    class Slow:
        def __init__(self, address, **kwargs):
            release.wait(300)
            made.append(self)
            self.closed = False

        def close(self):
            self.closed = True

    monkeypatch.setattr(dask_parallel, "CONNECT_GRACE", 0.0)
    with pytest.raises(TimeoutError, match="^no Dask client connected$"):
        dask_parallel._client(Slow, "tcp://127.0.0.1:1", 0.05)
    release.set()
    for t in threading.enumerate():
        if t.name == "rnnx-dask-connect":
            t.join(300)
    assert len(made) == 1 and made[0].closed


def test_process_0_whose_peers_never_come_is_one_line_within_the_timeout(tmp_path):
    """JAX's service would abort process 0 (SIGABRT) after its own deadline: rnnx's rendezvous
    says how many came, in one line, after --coordinator-timeout."""
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(str(t % 7) for t in range(60)))
    port = _free_port()
    r = _rnnx("train", "--csv", "s.csv", "--column", "v", "--backend", "jax", "--devices", "2", "--coordinator",
              f"localhost:{port}", "--num-processes", "2", "--process-id", "0", "--coordinator-timeout", "2",
              "--out", "r", "--quiet", cwd=tmp_path, devices=1)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"rnnx train: error: --coordinator: 0 of the 1 other process reached localhost:{port} "
                        "within 2 s\n"), r.stderr
    assert not (tmp_path / "r").exists()


def test_malformed_dask_scheduler_address_is_one_line(tmp_path):
    pytest.importorskip("distributed")
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(str(t % 7) for t in range(60)))
    r = _rnnx("train", "--csv", "s.csv", "--column", "v", "--dask-scheduler", "garbage", "--dask-timeout", "2",
              "--out", tmp_path / "r", "--quiet", cwd=tmp_path, devices=1)
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("rnnx train: error: --dask-scheduler: expected an address such as tcp://HOST:PORT, got "
                        "'garbage' (missing port number in address 'garbage')\n"), r.stderr
