"""Scaling of data-parallel training (issue 19, item 4): time per update of ``rnnx.fit``
against the number of JAX devices (forced host devices, or GPUs where present) and of Dask
workers (a LocalCluster of NumPy workers), with the communication share.

- JAX: each device count in a fresh process (``XLA_FLAGS=--xla_force_host_platform_device_count=N``
  is read when JAX starts); the epoch's time per update (median of the timed epochs), and the
  time of the update's one collective alone (a jitted ``shard_map`` psum of n_params + 2
  numbers): its share of the update is the communication share.
- Dask: per update the client's wall time against the longest part's compute time (the
  scheduler's task stream): the rest is scheduling and transfers.

On a machine with fewer cores than devices or workers the "devices" share cores: the
figures then show the overheads, not a speed-up.

    PYTHONPATH=. python bench/scaling.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SHAPE = dict(n=512, T=50, I=8, H=64, batch=128)  # a batch of 128 sequences of 50 steps, LSTM(8 -> 64)


def _data(np, n, T, I):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, T, I)).astype("float32"), rng.standard_normal((n, 1)).astype("float32")


def jax_child(devices: int, epochs: int) -> dict:
    """In a process started with `devices` forced host devices: time per update and of the psum alone."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import rnnx
    from rnnx.training.distributed import DataParallel

    s = SHAPE
    x, y = _data(np, s["n"], s["T"], s["I"])
    model = rnnx.Model("lstm", s["I"], s["H"], 1)
    times = []
    rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), epochs=1, batch_size=s["batch"],
             distribution=DataParallel(devices) if devices > 1 else None)  # compile
    r = rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), epochs=epochs, batch_size=s["batch"],
                 distribution=DataParallel(devices) if devices > 1 else None)
    times = [row["seconds"] / (s["n"] // s["batch"]) for row in r.history]
    n_params = sum(int(np.prod(v)) for v in model.param_shapes().values())
    comm = None
    if devices > 1:
        from jax.sharding import Mesh, NamedSharding
        from jax.sharding import PartitionSpec as P

        mesh = Mesh(np.array(jax.devices()[:devices]), ("b",))
        v = jax.device_put(jnp.ones((devices * (n_params + 2),), jnp.float32), NamedSharding(mesh, P("b")))
        f = jax.jit(jax.shard_map(lambda a: jax.lax.psum(a, "b"), mesh=mesh, in_specs=P("b"), out_specs=P()))
        f(v).block_until_ready()
        runs = []
        for _ in range(50):
            t0 = time.perf_counter()
            f(v).block_until_ready()
            runs.append(time.perf_counter() - t0)
        comm = statistics.median(runs)
    upd = statistics.median(times)
    return {"engine": "jax", "devices": devices, "update_ms": upd * 1e3, "all_reduce_ms": None if comm is None
            else comm * 1e3, "communication_share": None if comm is None else comm / upd, "n_params": n_params,
            "platform": jax.devices()[0].platform}


def dask_run(workers: int, epochs: int) -> dict:
    import numpy as np
    from distributed import Client, LocalCluster

    import rnnx
    from rnnx.training.dask_parallel import DaskParallel

    s = SHAPE
    x, y = _data(np, s["n"], s["T"], s["I"])
    x, y = x.astype("float64"), y.astype("float64")
    model = rnnx.Model("lstm", s["I"], s["H"], 1)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster, set_as_default=False)
    try:
        strategy = DaskParallel(cluster.scheduler_address)
        rnnx.fit(model, x, y, epochs=1, batch_size=s["batch"], distribution=strategy)  # warm the workers
        client.get_task_stream()  # clear
        t0 = time.time()
        r = rnnx.fit(model, x, y, epochs=epochs, batch_size=s["batch"], distribution=strategy)
        stream = client.get_task_stream(start=t0)
    finally:
        client.close()
        cluster.close()
    updates = epochs * (s["n"] // s["batch"])
    parts = [t for t in stream if str(t["key"]).startswith("_part")]
    compute = [sum(ss["stop"] - ss["start"] for ss in t["startstops"] if ss["action"] == "compute") for t in parts]
    upd = sum(row["seconds"] for row in r.history) / updates
    longest = max(compute) if compute else 0.0
    per_update_longest = statistics.median(compute) if compute else 0.0
    return {"engine": "dask", "workers": workers, "update_ms": upd * 1e3, "part_ms": per_update_longest * 1e3,
            "communication_share": max(0.0, 1 - per_update_longest / upd), "longest_part_ms": longest * 1e3}


def one_process(epochs: int) -> dict:
    import numpy as np

    import rnnx

    s = SHAPE
    x, y = _data(np, s["n"], s["T"], s["I"])
    model = rnnx.Model("lstm", s["I"], s["H"], 1)
    r = rnnx.fit(model, x.astype("float64"), y.astype("float64"), epochs=epochs, batch_size=s["batch"])
    return {"engine": "numpy", "workers": 0, "update_ms": statistics.median(row["seconds"] for row in r.history)
            / (s["n"] // s["batch"]) * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 timed epochs, devices 1,2 and workers 1,2")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    epochs = 2 if a.quick else 5
    if a.child is not None:
        print(json.dumps(jax_child(a.child, epochs)))
        return
    rows = []
    for n in ((1, 2) if a.quick else (1, 2, 4)):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
        r = subprocess.run([sys.executable, __file__, "--child", str(n), *(["--quick"] if a.quick else [])],
                           capture_output=True, text=True, env=env, check=True)
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    rows.append(one_process(epochs))
    for w in ((1, 2) if a.quick else (1, 2, 3)):
        rows.append(dask_run(w, epochs))
    print(f"LSTM({SHAPE['I']} -> {SHAPE['H']}), T = {SHAPE['T']}, batch {SHAPE['batch']}, {SHAPE['n']} sequences; "
          f"{os.cpu_count()} CPU cores")
    for r in rows:
        what = f"{r['engine']} {r.get('devices', r.get('workers'))}"
        share = r.get("communication_share")
        extra = f"  communication {share:.0%}" if share is not None else ""
        if r.get("all_reduce_ms") is not None:
            extra += f" (all-reduce {r['all_reduce_ms']:.3f} ms)"
        if r.get("part_ms") is not None:
            extra += f" (a part computes {r['part_ms']:.2f} ms)"
        print(f"  {what:10s} {r['update_ms']:8.2f} ms per update{extra}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"shape": SHAPE, "cores": os.cpu_count(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
