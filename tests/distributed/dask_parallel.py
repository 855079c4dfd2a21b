"""Run in a fresh process: rnnx.fit on a Dask LocalCluster (NumPy workers, float64) against
one process.  Prints one JSON line per check.

- ``shards``: 1, 2 and 3 parts per batch on 3 workers, three epochs (Adam, clip-norm,
  lengths, a validation split, a short last batch): the largest parameter difference from
  one process; the workers' transfer logs (worker-to-worker bytes: only the gradient
  vectors of the tree), the bytes of the data and of one gradient vector;
- ``kill``: a worker process killed (os._exit) during training: the parameters against an
  uninterrupted run;
- ``resend``: Dask's memory manager reduces the broadcast data to one copy (as it does every
  2 s by default), then that copy's worker is killed: the update is repeated on the data sent
  again, the parameters against an uninterrupted run;
- ``lost``: every worker gone mid-run: the error and the checkpoint it leaves;
- ``unreachable``: a scheduler address nobody serves.

``python dask_parallel.py CHECK``
"""

import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time

import numpy as np

import rnnx
from rnnx import optim
from rnnx.training.dask_parallel import DaskParallel, WorkersLost


def data(n=70):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 9, 3)), rng.standard_normal((n, 2)), rng.integers(2, 10, size=n)


MODEL = rnnx.Model("lstm", 3, 6, 2, num_layers=2)
KW = dict(epochs=3, batch_size=16, optimizer=optim.Adam(lr=0.01), clip_norm=0.5, validation_split=0.2, seed=1)


def worst(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in b)


def cluster(n):
    from distributed import Client, LocalCluster

    c = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    return c, Client(c, set_as_default=False)


def check_shards():
    x, y, ln = data()
    one = rnnx.fit(MODEL, x, y, lengths=ln, **KW)
    c, client = cluster(3)
    out = {"check": "shards", "diff": {}}
    try:
        for k in (1, 2, 3):
            r = rnnx.fit(MODEL, x, y, lengths=ln, distribution=DaskParallel(c.scheduler_address, shards=k), **KW)
            out["diff"][k] = worst(r.params, one.params)
        # what each worker received from another: (task results or scattered data, bytes)
        logs = client.run(lambda dask_worker: [
            ("result" if all(str(k).startswith(("_part-", "_add-")) for k in e.get("keys", ())) else "data",
             e.get("total", 0)) for e in dask_worker.transfer_incoming_log])
        out["transfers"] = sorted(t for v in logs.values() for t in v)
    finally:
        client.close()
        c.close()
    n_params = sum(int(np.prod(s)) for s in MODEL.param_shapes().values())
    out.update(vector_bytes=8 * (n_params + 2), data_bytes=int(x.nbytes), scale=max(float(np.max(np.abs(v)))
                                                                                    for v in one.params.values()))
    return out


def check_kill():
    x, y, ln = data(400)
    kw = {**KW, "epochs": 4}
    one = rnnx.fit(MODEL, x, y, lengths=ln, **kw)
    c, client = cluster(3)
    killed = []

    pids = client.run(os.getpid)

    def kill():  # a worker process dies (SIGKILL) while updates are in flight
        addr = sorted(pids)[0]
        os.kill(pids[addr], signal.SIGKILL)
        killed.append(addr)

    threads = []

    def on_epoch(row):  # after epoch 1 (the data is on every worker by then, not on a clock): kill one
        if row["epoch"] == 1:
            threads.append(threading.Thread(target=kill))
            threads[0].start()

    try:
        r = rnnx.fit(MODEL, x, y, lengths=ln, distribution=DaskParallel(c.scheduler_address, shards=3),
                     on_epoch=on_epoch, **kw)
        for t in threads:
            t.join()
    finally:
        client.close()
        c.close()
    return {"check": "kill", "killed": len(killed), "diff": worst(r.params, one.params),
            "epochs": len(r.history)}


def check_resend():
    x, y, ln = data(400)
    kw = {**KW, "epochs": 3}
    one = rnnx.fit(MODEL, x, y, lengths=ln, **kw)
    c, client = cluster(3)
    pids = client.run(os.getpid)
    killed = []

    def on_epoch(row):  # between two updates: the data down to one copy, and that copy's worker gone
        if row["epoch"] == 1:
            client.amm.run_once()  # ReduceReplicas: what the scheduler does on its own every 2 s
            holders = {w for k, ws in client.who_has().items() if str(k).startswith("ndarray-") for w in ws}
            for w in sorted(holders):
                os.kill(pids[w], signal.SIGKILL)
                killed.append(w)
            while set(killed) & set(client.scheduler_info(n_workers=-1)["workers"]):
                time.sleep(0.05)  # the scheduler has seen them go: the next update finds its data lost

    try:
        r = rnnx.fit(MODEL, x, y, lengths=ln, distribution=DaskParallel(c.scheduler_address, shards=3),
                     on_epoch=on_epoch, **kw)
    finally:
        client.close()
        c.close()
    return {"check": "resend", "killed": len(killed), "diff": worst(r.params, one.params), "epochs": len(r.history)}


def check_lost():
    x, y, ln = data(400)
    c, client = cluster(2)
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "state.npz")
        stopped = threading.Event()

        def on_epoch(row):  # after the first epoch every worker goes (and none comes back)
            if row["epoch"] == 1:
                c.scale(0)
                stopped.set()

        try:
            rnnx.fit(MODEL, x, y, lengths=ln, distribution=DaskParallel(c.scheduler_address, timeout=5),
                     checkpoint=ck, on_epoch=on_epoch, **{**KW, "epochs": 4})
            msg = None
        except WorkersLost as e:
            msg = str(e).replace(ck, "CHECKPOINT")
        epoch = rnnx.training.state.load_state(ck, MODEL, optim.Adam(lr=0.01), xp=np, device="cpu",
                                        dtype=np.float64)[0].epoch if os.path.exists(ck) else None
    client.close()
    c.close()
    return {"check": "lost", "message": msg, "checkpoint_epoch": epoch}


def check_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    x, y, ln = data()
    try:
        rnnx.fit(MODEL, x, y, distribution=DaskParallel(f"tcp://127.0.0.1:{port}", timeout=2), epochs=1)
        msg = None
    except WorkersLost as e:
        msg = str(e).replace(str(port), "PORT")
    return {"check": "unreachable", "message": msg}


CHECKS = {"shards": check_shards, "kill": check_kill, "resend": check_resend, "lost": check_lost, "unreachable": check_unreachable}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(CHECKS):
        print(json.dumps(CHECKS[name]()), flush=True)
