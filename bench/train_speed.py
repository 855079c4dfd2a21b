"""Training speed of one epoch: rnnx.fit against a plain torch loop and Keras 3 (issue 17, item 8).

    python bench/train_speed.py [--quick] [--repeats 7] [--json docs/train-speed.json]
                                [--baseline-fitting OLD_FITTING.py]

The workload of the issue: LSTM(4 -> 50) + Linear(50 -> 1), many-to-one, T = 14, batch 64,
Adam(lr=1e-3), shuffled every epoch, on the Seattle weather windows (inputs precipitation,
temp_max, temp_min, wind, scaled on the training rows -> the next day's temp_max; the first
70 % of the 1447 windows: 1013 samples, 16 updates an epoch, the last one of 53), or random
windows of that shape without vega_datasets.  float32 everywhere (rnnx in float64 too).

Every contestant is a worker process (its own thread settings: rnnx on NumPy and torch with
one BLAS/OpenMP/torch thread, and at the default count in the full run, Keras on the JAX backend
without touching this process) that runs one epoch each time it is told to; the epochs are
interleaved round-robin (warm-up epoch, then ``--repeats`` rounds), so the load of a shared
machine falls on every contestant alike: compare the ratios (``ratios``: of the median epochs;
``ratios_min``: of the fastest, the epochs the load disturbed least; ``ratios_cpu``: of the median
CPU time an epoch costs its worker process, ``time.process_time`` from the "go" to the answer,
every thread of it, XLA's and BLAS's included: what the load changes least, though a contestant
that spreads an epoch over several threads pays for all of them).  Per contestant: the median and
min epoch (ms) and CPU ms (``epoch_cpu_ms_*``), the median per update (epoch / 16), and the warm-up epoch minus the median
(compile / first-call cost).  The rnnx workers also time a second whole ``rnnx.fit(epochs=1)``
call (setup and, on JAX, the compile of fresh jitted updates) and split one update into its
parts (``--quick`` skips that): forward, backward (loss_and_grad minus forward), optimizer
(update minus loss_and_grad), the batch gather (``Batches.take``) and the rest of an epoch
(fit's Python loop), each timed alone on a full batch (jitted on JAX).

``cli-numpy`` and ``cli-jax`` train the same windows through the command (issue 29, item 5):
``rnnx train --csv <vega_datasets' seattle-weather.csv> --time-column date --inputs
precipitation,temp_max,temp_min,wind --targets temp_max --window 14 --split 0.7,0.15,0.15
--cell lstm --hidden 50 --batch-size 64 --lr 1e-3 --optimizer adam --dtype float32 --backend
numpy|jax`` (no early stopping, no clipping, ``--quiet``, a temporary ``--out``), run in the
worker's process through ``rnnx.cli.main``: the same training windows, split, scaling (each
column on the training rows), model and batch.  ``rnnx.cli.tasks.regression.fit`` is wrapped to append one
callback that answers the coordinator after each epoch, so the epochs interleave with the other
contestants'.  The time is the epoch's ``seconds`` (history.csv's column, checked against the
file the run writes), measured by the engine as it measures the ``rnnx-*`` contestants'.  What
differs, all of it part of what a CLI epoch is: the command's callbacks run in it
(``SeriesMetrics``: a forward over the 217 validation windows and their MSE on the series' scale
every epoch, and over the 1013 training windows at epochs 1, 10, 20, ..., inside ``seconds``; the
progress/epoch callback and the checkpoint write every 10 epochs, after it), its parameters start from its ``--seed 0`` and its arrays are
time-major (the engine's own layout), and a NumPy run of the command tunes glibc's malloc
(``rnnx.cli.tune_memory``: ``rnnx.backends.malloc.tune``; a JAX run does not), which the
``rnnx-*`` workers do not: on NumPy that alone runs ``rnnx.fit`` about 1.45x faster here
(docs/performance.md), so compare ``cli-numpy`` with ``rnnx-numpy-f32`` knowing it.
``torch-loop-val-1thread`` (with the CLI contestants) is the torch loop plus what the command adds
every epoch: a no-grad forward over the same 217 validation windows and their MSE, read back once;
``cli-X / torch-loop-val-1thread`` compares the same work.

What each contestant computes in: the torch loop float32 on one torch thread; ``rnnx-*-f32``
float32 (NumPy and torch on one BLAS/OpenMP/torch thread; JAX at XLA's own thread count, x64
off, so int32 batch indices); ``cli-*`` float32 (``--dtype float32``) with the same thread
settings, JAX inside the command's precision scope (``jax_enable_x64`` on, so int64 batch
indices, and ``highest`` matmul precision, which XLA's CPU float32 matmuls ignore): the
parameters, gradients, optimizer state and losses are float32 in every contestant (measured:
the scope costs ``rnnx.fit`` nothing, docs/performance.md).  Every contestant shuffles every
epoch and reads the loss back once an epoch; the rnnx ones run the same compiled update
(``steps_per_execution``: 15 full batches as one ``lax.scan`` program on JAX, then the short
last batch) with no recompilation after the first epochs (tests/test_cli_epoch_work.py).  The worker reports the median ``SeriesMetrics`` time
(``metrics_ms``: its two hooks, ``on_epoch_queued``, which on JAX queues the forwards behind the
epoch's updates, and ``on_epoch_metrics``, which reads and scores them: the part of the forward
the host still waits for after the loss read, plus the host work), the epoch without it (``fit_part_ms``), the wall time from one epoch's answer
to the next (``wall_ms``: the callbacks after ``seconds`` and any checkpoint included) and a
checkpoint write (``checkpoint_ms``).  The ratios give the fastest CLI contestant against torch
and Keras beside the fastest ``rnnx-*``, and each ``cli-X / rnnx-X-f32``.  Without vega_datasets
the CLI contestants are left out.

``--baseline-fitting FILE`` adds rnnx-numpy/jax workers running ``fit`` from FILE (an older
rnnx/fitting.py, e.g. ``git show af7e84f:rnnx/fitting.py > /tmp/fitting_before.py``) to show
a change's before/after in the same interleaved run.  ``--baseline-tree DIR`` adds
``cli-numpy-before`` and ``cli-jax-before``: the command of the rnnx in DIR (a source tree,
e.g. ``mkdir /tmp/before && git archive HEAD~3 | tar -x -C /tmp/before``), beside this tree's:
DIR's ``rnnx/`` and ``backends/`` are copied into one package (``backends`` as ``rnnx/backends``)
in a temporary folder, checked to import both from there (bench/fixed_cost.py's
``shadow_tree``, ``check_root``: DIR alone on ``PYTHONPATH`` would give DIR's ``rnnx`` this
tree's ``rnnx.backends``), and the worker runs with ``PYTHONPATH`` that folder; its files
are reported as ``rnnx_file`` and ``backends_file``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_STEPS, BATCH, HIDDEN, LR = 14, 64, 50, 1e-3
WEATHER = ["precipitation", "temp_max", "temp_min", "wind"]


# -- the data ---------------------------------------------------------------------------------------
def data(dtype: str, part: int = 0):
    """(x (1013, 14, 4), y (1013, 1), source): the training windows as NumPy arrays (``part=1``:
    the 217 validation windows the command scores every epoch)."""
    import numpy as np

    try:
        import vega_datasets
    except ImportError:
        rng = np.random.default_rng(0)
        n = (1013, 217)[part]
        return (rng.standard_normal((n, T_STEPS, 4)).astype(dtype),
                rng.standard_normal((n, 1)).astype(dtype), "random windows (vega_datasets not installed)")
    from rnnx.data import tables

    t = tables.read_table(vega_datasets.local_data.seattle_weather.filepath, inputs=WEATHER,
                          targets=["temp_max"], time_column="date")
    n_all = t.values.shape[0] - T_STEPS
    n_train, n_val = tables.chronological_split(n_all, (0.7, 0.15, 0.15))[:2]
    v = tables.ColumnScaler.fit(t.values[: n_train + T_STEPS]).transform(t.values)
    x, y, _ = tables.windows(v, input_cols=t.input_index(), target_cols=t.target_index(), window=T_STEPS)
    a, b = (0, n_train) if part == 0 else (n_train, n_train + n_val)
    return x[a:b].astype(dtype), y[a:b].astype(dtype), "vega_datasets seattle-weather"


# -- workers: each answers "go" with one epoch's milliseconds ------------------------------------------
#: The worker's CPU time (process_time: every thread of the process, XLA's included) when it
#: last read a command: an epoch's ``cpu_ms`` is counted from there to its answer.
_CPU_AT_COMMAND = [0.0]


def _commands():
    for line in sys.stdin:
        _CPU_AT_COMMAND[0] = time.process_time()
        yield line.strip()


def _epoch(ms: float) -> dict:
    """An epoch's answer: its milliseconds as the contestant measures them, and the CPU
    milliseconds the worker process spent since it was told to go."""
    return {"ms": ms, "cpu_ms": (time.process_time() - _CPU_AT_COMMAND[0]) * 1e3}


def _say(obj) -> None:
    print(json.dumps(obj), file=sys.__stdout__, flush=True)  # the protocol's stream, whatever prints elsewhere


def _rnnx_worker(backend: str, dtype: str, threads: int, fitting_file: str | None, profile: bool) -> None:
    import rnnx
    from types import SimpleNamespace

    from rnnx.training import engine, sources, strategies

    # this tree's engine, under the names an older rnnx/fitting.py (--baseline-fitting) has
    fit_mod = SimpleNamespace(fit=engine.fit, prepare=sources.prepare, make_update=strategies.make_update,
                              make_apply=strategies.make_apply)

    if fitting_file:
        import importlib.util

        spec = importlib.util.spec_from_file_location("rnnx._fitting_baseline", fitting_file)
        fit_mod = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fit_mod)
    x, y, source = data(dtype)
    if backend == "jax":
        import jax

        jax.config.update("jax_platforms", "cpu")
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        x, y = jnp.asarray(x), jnp.asarray(y)
    elif backend == "torch":
        import torch

        if threads:
            torch.set_num_threads(threads)
        x, y = torch.asarray(x), torch.asarray(y)
    model = rnnx.Model("lstm", 4, HIDDEN, 1)
    cmds = _commands()
    _say({"ready": True, "source": source, "updates": -(-x.shape[0] // BATCH)})
    if next(cmds) != "go":
        return

    def on_epoch(row):
        _say(_epoch(row["seconds"] * 1e3))
        return next(cmds) != "go"

    result = fit_mod.fit(model, x, y, epochs=10**6, batch_size=BATCH, shuffle=True, optimizer="adam", lr=LR,
                         on_epoch=on_epoch)
    t0 = time.perf_counter()
    fit_mod.fit(model, x, y, epochs=1, batch_size=BATCH, params=result.params, optimizer="adam", lr=LR)
    extra = {"fit_call_ms": (time.perf_counter() - t0) * 1e3}
    if profile:
        extra["parts_ms"] = _parts(fit_mod, model, result.params, x, y)
    _say(extra)


def _cli_args(backend: str, out: str) -> list[str]:
    """``rnnx train`` on the weather windows of :func:`data`, as near as its flags allow."""
    import vega_datasets

    return ["train", "--csv", vega_datasets.local_data.seattle_weather.filepath, "--time-column", "date",
            "--inputs", ",".join(WEATHER), "--targets", "temp_max", "--window", str(T_STEPS), "--split",
            "0.7,0.15,0.15", "--cell", "lstm", "--hidden", str(HIDDEN), "--batch-size", str(BATCH), "--lr", str(LR),
            "--optimizer", "adam", "--dtype", "float32", "--backend", backend, "--epochs", str(10**6),
            "--no-early-stopping", "--no-clip", "--quiet", "--out", out]


def _cli_worker(backend: str) -> None:
    """``rnnx train --csv`` run in this process (``rnnx.cli.main``); ``rnnx.cli.tasks.regression.fit`` is
    wrapped to add one callback (answer the coordinator) to the CLI's own, and to time the
    CLI's ``SeriesMetrics`` and checkpoint writes, which the command runs as it always does."""
    import shutil
    import tempfile

    import rnnx.cli
    from rnnx.cli.tasks import regression as app
    from rnnx.training import LambdaCallback
    from rnnx.training.windows import SeriesMetrics

    out = tempfile.mkdtemp(prefix="rnnx-bench-cli-")
    cmds = _commands()
    import rnnx.backends

    _say({"ready": True, "source": "vega_datasets seattle-weather", "updates": -(-1013 // BATCH),
          "rnnx_file": rnnx.__file__, "backends_file": rnnx.backends.__file__})
    if next(cmds) != "go":
        shutil.rmtree(out, ignore_errors=True)
        return
    real_fit = app.fit
    spent = {"queued": [], "metrics": [], "checkpoint": [], "wall": [], "history_s": []}
    last = [time.perf_counter()]

    def timed(fn, key):
        def call(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[key].append((time.perf_counter() - t0) * 1e3)
        return call

    def on_epoch_end(run, row):
        now = time.perf_counter()
        spent["wall"].append((now - last[0]) * 1e3)  # from the last answer: the checkpoint write included
        spent["history_s"].append(row["seconds"])
        _say(_epoch(row["seconds"] * 1e3))
        if next(cmds) != "go":
            run.stop("callback")
        last[0] = time.perf_counter()

    def fit(*a, callbacks, checkpoint, **kw):
        for cb in callbacks:
            if isinstance(cb, SeriesMetrics):
                if hasattr(cb, "on_epoch_queued"):  # its forwards queued (JAX; a --baseline-tree's may lack it)
                    cb.on_epoch_queued = timed(cb.on_epoch_queued, "queued")
                cb.on_epoch_metrics = timed(cb.on_epoch_metrics, "metrics")  # read and scored
        return real_fit(*a, callbacks=[*callbacks, LambdaCallback(on_epoch_end=on_epoch_end)],
                        checkpoint=timed(checkpoint, "checkpoint"), **kw)

    app.fit = fit
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the command's summary line: not the protocol's
            code = rnnx.cli.main(_cli_args(backend, out))
        if code != 0:
            raise SystemExit(f"rnnx train --backend {backend} ended with exit status {code}")
        with open(os.path.join(out, "history.csv")) as f:  # the epochs' seconds as the run wrote them
            written = [float(r.split(",")[5]) for r in f.read().splitlines()[1:]]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if written != spent["history_s"]:
        raise SystemExit(f"cli worker: history.csv's seconds {written} are not the epochs' {spent['history_s']}")
    med = statistics.median
    queued = spent["queued"] or [0.0] * len(spent["metrics"])
    metrics = [q + m for q, m in zip(queued, spent["metrics"])]  # both hooks, epoch by epoch
    _say({"metrics_ms": med(metrics[1:]), "fit_part_ms": med(
        [s * 1e3 - m for s, m in zip(spent["history_s"][1:], metrics[1:])]),
        "wall_ms": med(spent["wall"][1:]), "checkpoint_ms": med(spent["checkpoint"]) if spent["checkpoint"] else 0.0})


def _best(fn, n: int = 15) -> float:
    """Milliseconds of ``fn()`` (which blocks until done): the median of n calls after one."""
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _parts(fit_mod, model, params, x, y) -> dict:
    """One full-batch update split into its parts (ms), each timed alone."""
    import array_api_compat as compat
    from rnnx.backends import capabilities

    from rnnx import losses, optim
    from rnnx._xp import index_dtype, namespace

    data = fit_mod.prepare(model, x, y, loss="mse")
    xp, dev = namespace(x=data.x), compat.device(data.x)
    jit = capabilities(xp).jit or (lambda f: f)
    block = (lambda a: a.block_until_ready()) if compat.is_jax_array(data.x) else (lambda a: a)
    b = data.part(0, BATCH)
    opt = optim.Adam(lr=LR)
    st = opt.init(params)
    if capabilities(xp).jit:
        st = optim.as_arrays(st, xp=xp, device=dev, params=params)
    loss_fn = losses.get("mse")
    fwd = jit(lambda p, x_: model.predict(p, x_)[0])
    lg = jit(lambda p, x_, y_: model.loss_and_grad(p, x_, y_, loss=loss_fn)[:2])
    upd = jit(fit_mod.make_update(model, fit_mod.make_apply(opt, clip_value=None, clip_norm=None, xp=xp), loss_fn))
    order = list(range(data.n))
    it = index_dtype(xp, dev)
    t_fwd = _best(lambda: block(fwd(params, b.x)))
    t_lg = _best(lambda: block(lg(params, b.x, b.y)[0]))
    t_upd = _best(lambda: block(upd(params, st, b.x, b.y, None, None)[2]))
    t_take = _best(lambda: block(data.take(xp.asarray(order[:BATCH], dtype=it, device=dev), xp=xp).x))
    return {"forward": t_fwd, "backward": t_lg - t_fwd, "optimizer": t_upd - t_lg, "take": t_take}


def _torch_worker(threads: int | None, dtype: str, validate: bool = False) -> None:
    """The plain torch loop; ``validate``: each epoch also scores the validation windows (a
    no-grad forward and their MSE, read back once), the work a CLI epoch adds to ``rnnx.fit``'s."""
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    x, y, source = data(dtype)
    x, y = torch.asarray(x), torch.asarray(y)
    xv, yv = (torch.asarray(a) for a in data(dtype, 1)[:2])
    torch.manual_seed(0)
    lstm = nn.LSTM(4, HIDDEN, batch_first=True).to(getattr(torch, dtype))
    head = nn.Linear(HIDDEN, 1).to(getattr(torch, dtype))
    opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=LR)
    n = x.shape[0]
    _say({"ready": True, "source": source, "updates": -(-n // BATCH), "threads": torch.get_num_threads()})
    for cmd in _commands():
        if cmd != "go":
            break
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for a in range(0, n, BATCH):
            idx = perm[a:a + BATCH]
            opt.zero_grad()
            out, _ = lstm(x[idx])
            loss = nn.functional.mse_loss(head(out[:, -1]), y[idx])
            loss.backward()
            opt.step()
        float(loss)
        if validate:
            with torch.no_grad():
                out, _ = lstm(xv)
                float(nn.functional.mse_loss(head(out[:, -1]), yv))
        _say(_epoch((time.perf_counter() - t0) * 1e3))
    _say({})


def _keras_worker(dtype: str) -> None:
    import keras

    x, y, source = data(dtype)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((T_STEPS, 4)), keras.layers.LSTM(HIDDEN), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="mse")
    _say({"ready": True, "source": source, "updates": -(-x.shape[0] // BATCH), "backend": keras.backend.backend(),
          "keras": keras.__version__})
    for cmd in _commands():
        if cmd != "go":
            break
        t0 = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0)
        _say(_epoch((time.perf_counter() - t0) * 1e3))
    _say({})


def worker(spec: str, profile: bool) -> None:
    kind, *rest = spec.split(":")
    if kind == "rnnx":
        backend, dtype, threads, *fitting_file = rest
        _rnnx_worker(backend, dtype, int(threads), fitting_file[0] if fitting_file else None, profile)
    elif kind == "cli":
        _cli_worker(rest[0])
    elif kind == "torch-loop":
        _torch_worker(int(rest[0]) or None, "float32", rest[1:] == ["val"])
    else:
        _keras_worker("float32")


# -- the coordinator ----------------------------------------------------------------------------------
def contestants(quick: bool, baseline: str | None, tree: str | None = None) -> dict[str, str]:
    """name -> worker spec."""
    c = {"rnnx-numpy-f32": "rnnx:numpy:float32:1", "rnnx-torch-f32": "rnnx:torch:float32:1",
         "rnnx-jax-f32": "rnnx:jax:float32:0", "torch-loop-1thread": "torch-loop:1",
         "keras-jax": "keras"}
    import importlib.util

    if importlib.util.find_spec("vega_datasets") is not None:  # the command reads the CSV itself
        c.update({"cli-numpy": "cli:numpy:float32:1", "cli-jax": "cli:jax:float32:0",
                  "torch-loop-val-1thread": "torch-loop:1:val"})
        if tree:
            c.update({"cli-numpy-before": f"cli:numpy:float32:1:{tree}", "cli-jax-before": f"cli:jax:float32:0:{tree}"})
    if not quick:
        c.update({"torch-loop-default-threads": "torch-loop:0", "rnnx-numpy-f32-default-threads": "rnnx:numpy:float32:0",
                  "rnnx-torch-f32-default-threads": "rnnx:torch:float32:0", "rnnx-numpy-f64": "rnnx:numpy:float64:1",
                  "rnnx-torch-f64": "rnnx:torch:float64:1", "rnnx-jax-f64": "rnnx:jax:float64:0"})
    if baseline:
        c.update({"rnnx-numpy-f32-before": f"rnnx:numpy:float32:1:{baseline}",
                  "rnnx-jax-f32-before": f"rnnx:jax:float32:0:{baseline}"})
    return c


def _start(spec: str, profile: bool) -> subprocess.Popen:
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    if spec.startswith(("rnnx:", "cli:")) and spec.split(":")[3] == "1":  # BLAS / OpenMP pools of one thread
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if spec.startswith("cli:") and len(spec.split(":")) > 4:  # --baseline-tree: that tree's rnnx first
        env["PYTHONPATH"] = os.pathsep.join([spec.split(":", 4)[4], *filter(None, [env.get("PYTHONPATH")])])
    cmd = [sys.executable, __file__, "--worker", spec] + (["--profile"] if profile else [])
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def _ask(p: subprocess.Popen, cmd: str | None) -> dict:
    if cmd is not None:
        p.stdin.write(cmd + "\n")
        p.stdin.flush()
    line = p.stdout.readline()
    if not line:
        raise RuntimeError(f"worker {p.args[-1]} ended without an answer")
    return json.loads(line)


def loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def summary(info: dict, times: list[float], extra: dict, cpu: list[float]) -> dict:
    warm, rest = times[0], times[1:]
    med = statistics.median(rest)
    out = {"epoch_ms_median": round(med, 2), "epoch_ms_min": round(min(rest), 2),
           "epoch_cpu_ms_median": round(statistics.median(cpu[1:]), 2), "epoch_cpu_ms_min": round(min(cpu[1:]), 2),
           "update_ms_median": round(med / info["updates"], 3), "first_epoch_ms": round(warm, 1),
           "compile_ms": round(max(warm - med, 0.0), 1), "epochs_ms": [round(t, 2) for t in rest]}
    out.update({k: v for k, v in info.items() if k not in ("ready", "source")})
    for k, v in extra.items():
        out[k] = {kk: round(vv, 3) for kk, vv in v.items()} if isinstance(v, dict) else round(v, 1)
    return out


def ratios(res: dict, key: str = "epoch_ms_median") -> dict:
    """The ratios of ``key`` (the median epoch; ``"epoch_ms_min"``: the least disturbed one;
    ``"epoch_cpu_ms_median"``: the median CPU time an epoch costs its process)."""
    rnnx_f32 = {k: v[key] for k, v in res.items() if k.startswith("rnnx-") and "f32" in k
                and not k.endswith("before")}
    best = min(rnnx_f32, key=rnnx_f32.get)
    out = {"rnnx_fastest": best}
    for other in ("torch-loop-1thread", "torch-loop-default-threads", "keras-jax"):
        if other in res:
            out[f"{best} / {other}"] = round(rnnx_f32[best] / res[other][key], 3)
    cli = {k: v[key] for k, v in res.items() if k.startswith("cli-") and not k.endswith("-before")}
    if cli:
        fastest = min(cli, key=cli.get)
        out["cli_fastest"] = fastest
        for other in ("torch-loop-1thread", "torch-loop-val-1thread", "torch-loop-default-threads", "keras-jax"):
            if other in res:
                out[f"{fastest} / {other}"] = round(cli[fastest] / res[other][key], 3)
        for name, ms in cli.items():  # the command against the engine it trains with, backend by backend
            engine = f"rnnx-{name[len('cli-'):]}-f32"
            if engine in res:
                out[f"{name} / {engine}"] = round(ms / res[engine][key], 3)
    for name in ("cli-numpy", "cli-jax"):
        if f"{name}-before" in res and name in res:
            before = res[f"{name}-before"][key]
            out[f"{name} / {name}-before"] = round(res[name][key] / before, 3)
            if "torch-loop-1thread" in res:
                out[f"{name}-before / torch-loop-1thread"] = round(before / res["torch-loop-1thread"][key], 3)
    if "rnnx-jax-f32-before" in res:
        out["rnnx-jax-f32 / rnnx-jax-f32-before"] = round(
            res["rnnx-jax-f32"][key] / res["rnnx-jax-f32-before"][key], 3)
    if "rnnx-numpy-f32-before" in res:
        out["rnnx-numpy-f32 / rnnx-numpy-f32-before"] = round(
            res["rnnx-numpy-f32"][key] / res["rnnx-numpy-f32-before"][key], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 contestants, 5 rounds, no part timings (<= 30 s)")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds after the warm-up (default 9; 5 quick)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--baseline-fitting", default=None, help="an older rnnx/fitting.py to compare against")
    ap.add_argument("--baseline-tree", default=None,
                    help="an older rnnx source tree whose `rnnx train --csv` runs beside this one's (cli-*-before)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.profile)
    repeats = a.repeats or (5 if a.quick else 9)
    if repeats < 5:
        ap.error(f"--repeats: expected at least 5 rounds, got {repeats}")
    if a.baseline_fitting and not Path(a.baseline_fitting).is_file():
        ap.error(f"--baseline-fitting: {a.baseline_fitting!r} is not a file")
    if a.baseline_tree and not Path(a.baseline_tree, "rnnx", "cli", "__init__.py").is_file():
        ap.error(f"--baseline-tree: {a.baseline_tree!r} is not an rnnx source tree (no rnnx/cli/__init__.py in it)")
    if a.baseline_tree and ":" in a.baseline_tree:
        ap.error(f"--baseline-tree: {a.baseline_tree!r}: expected a folder without ':' in its path")
    if a.baseline_tree:
        a.baseline_tree = str(Path(a.baseline_tree).resolve())
    with contextlib.ExitStack() as stack:
        tree = None
        if a.baseline_tree:  # DIR's rnnx with DIR's backends as rnnx.backends, in one temporary package:
            fc = _fixed_cost()  # DIR alone on PYTHONPATH would run DIR's rnnx with this tree's backends
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="train-speed-before-"))
            tree = fc.shadow_tree(a.baseline_tree, tmp)
            fc.check_root(tree)
        _measure(a, repeats, tree)


def _fixed_cost():
    """bench/fixed_cost.py (its ``shadow_tree`` and ``check_root``), loaded from beside this file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fixed_cost", Path(__file__).resolve().with_name("fixed_cost.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _measure(a: argparse.Namespace, repeats: int, tree: str | None) -> None:
    t_start, load_before = time.perf_counter(), loadavg()
    names = contestants(a.quick, a.baseline_fitting, tree)
    procs = {n: _start(spec, not a.quick) for n, spec in names.items()}
    try:
        info = {n: _ask(p, None) for n, p in procs.items()}
        times: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(repeats + 1):  # round 0 is the warm-up
            for n, p in procs.items():
                got = _ask(p, "go")
                times[n].append(got["ms"])
                cpu[n].append(got["cpu_ms"])
                print(f"{n:28s} {times[n][-1]:9.1f} ms {cpu[n][-1]:9.1f} cpu ms", file=sys.stderr)
        extra = {n: _ask(p, "stop") for n, p in procs.items()}
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait(timeout=60)
    res = {n: summary(info[n], times[n], extra[n], cpu[n]) for n in names}
    sources = sorted({i["source"] for i in info.values()})
    import torch

    out = {"workload": f"LSTM(4 -> {HIDDEN}) + Linear({HIDDEN} -> 1), many-to-one, T={T_STEPS}, batch {BATCH}, "
                       f"Adam lr={LR}, shuffled; {', '.join(sources)}; {repeats} interleaved rounds after a warm-up",
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                       "loadavg_before": load_before, "loadavg_after": loadavg()},
           "goal": "rnnx fastest / torch loop <= 1.0 and / Keras <= 0.8 per epoch",
           "ratios": ratios(res), "ratios_min": ratios(res, "epoch_ms_min"),
           "ratios_cpu": ratios(res, "epoch_cpu_ms_median"), "contestants": res, "seconds": round(time.perf_counter() - t_start, 1)}
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        tmp = a.json.with_name(a.json.name + ".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(a.json)


if __name__ == "__main__":
    main()
