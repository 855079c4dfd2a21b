"""Variable lengths and the per-update fixed cost (issue 29, item 5), CPU seconds per epoch.

    python bench/lengths_speed.py [--repeats 3] [--before DIR] [--skip-plaid] [--skip-batch1]
                                  [--n 100] [--json FILE]

1. PLAID-like panel: ``--n`` sequences (100), lengths uniform in [100, 1344], 3 features,
   GRU(3 -> 32) + Linear(32 -> 2), many-to-one, MSE, Adam(1e-3), batch 16, shuffled,
   float32, one epoch: ``rnnx.fit`` on NumPy, each batch cut to its longest sequence (this
   tree), and the same with the cut off (``Batches.cut`` made the identity: the loop before
   the cut), against a torch loop of ``pack_padded_sequence`` (the same model, data,
   optimizer and batch order).
2. Batch 1 (``rnnx train --preset seed001-original``: RNN(1 -> 16), T = 10, 792 windows,
   SGD, clip_value 1, one update per window, rnnx.fit under the CLI): one epoch's seconds from
   its history.csv, against a plain NumPy loop of the same maths written below.
   ``--before DIR`` (an older tree's packages, e.g. ``git archive main rnnx backends | tar -x
   -C /tmp/before``) adds the same CLI run from DIR: DIR's ``rnnx/`` and ``backends/`` copied
   into one package (``backends`` as ``rnnx/backends``) in a temporary folder, checked to
   import both from there (bench/fixed_cost.py's ``shadow_tree``, ``check_root``: DIR alone
   on ``PYTHONPATH`` would give DIR's ``rnnx`` this tree's ``rnnx.backends``).

Every contestant runs in its own process with one thread (OMP/MKL/OPENBLAS/torch), one epoch
a call; the repeats are interleaved round-robin so a shared machine's load falls on all
alike; the figures are medians of process CPU seconds (the child's user+sys), and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def _panel(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.integers(100, 1345, n)
    T = int(lengths.max())
    t = np.arange(T)[None, :, None]
    x = np.sin(t * rng.uniform(0.01, 0.1, (n, 1, 3)) + rng.uniform(0, 6, (n, 1, 3))).astype(np.float32)
    x = np.where(t < lengths[:, None, None], x, 0.0).astype(np.float32)
    y = rng.standard_normal((n, 2)).astype(np.float32)
    return x, y, lengths


def plaid_rnnx(n: int, cut: bool) -> None:
    import rnnx
    from rnnx.training import sources as F
    from rnnx import Model  # public in every tree --before may name

    if not cut:
        F.Batches.cut = lambda self, steps: self
    x, y, lengths = _panel(n)
    rnnx.fit(Model("gru", 3, 32, 2), x, y, lengths=lengths, epochs=1, batch_size=16, seed=0, verbose=0)


def plaid_torch(n: int) -> None:
    import random

    import torch

    torch.set_num_threads(1)
    x, y, lengths = _panel(n)
    torch.manual_seed(0)
    gru, lin = torch.nn.GRU(3, 32), torch.nn.Linear(32, 2)
    opt = torch.optim.Adam([*gru.parameters(), *lin.parameters()], lr=1e-3)
    X, Y, L = torch.tensor(x), torch.tensor(y), torch.tensor(lengths)
    order = list(range(n))
    random.Random("0:0").shuffle(order)
    for a in range(0, n, 16):
        idx = torch.tensor(order[a:a + 16])
        lb = L[idx]
        xb = X[idx, : int(lb.max())].transpose(0, 1)
        pack = torch.nn.utils.rnn.pack_padded_sequence(xb, lb, enforce_sorted=False)
        _, h = gru(pack)
        loss = torch.mean((lin(h[-1]) - Y[idx]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()


def batch1_numpy() -> None:
    """seed001-original's maths as a plain NumPy loop: sin at 1000 points over [0, 100],
    windows of 10 -> the next value (the window's final target at every step), the first 80%
    (792 windows) in a seeded order, RNN(1 -> 16, tanh) + Linear(16 -> 1) per step, loss
    0.5 * sum_t (y_t - target)^2, BPTT, every gradient clipped to [-1, 1], SGD lr 0.005,
    bias_hh frozen, float64."""
    import random

    import numpy as np

    s = np.sin(np.linspace(0.0, 100.0, 1000))
    n = int(0.8 * (1000 - 10))
    X = np.stack([s[i:i + 10] for i in range(n)])[:, :, None]
    tgt = s[10:10 + n]
    rng = np.random.default_rng(0)
    H = 16
    Wih, Whh, bih = rng.normal(0, 0.01, (H, 1)), rng.normal(0, 0.01, (H, H)), np.zeros(H)
    Why, by = rng.normal(0, 0.01, (1, H)), np.zeros(1)
    order = list(range(n))
    random.Random("0:0").shuffle(order)
    lr = 0.005
    for i in order:
        x, t = X[i], tgt[i]
        hs = [np.zeros(H)]
        for k in range(10):
            hs.append(np.tanh(Wih @ x[k] + bih + Whh @ hs[-1]))
        hs_a = np.stack(hs[1:])
        d = hs_a @ Why.T + by - t  # (10, 1)
        gWhy, gby = d.T @ hs_a, d.sum(0)
        dh_next = np.zeros(H)
        gWih, gWhh, gbih = np.zeros_like(Wih), np.zeros_like(Whh), np.zeros(H)
        for k in range(9, -1, -1):
            da = (d[k] @ Why + dh_next) * (1 - hs[k + 1] ** 2)
            gWih += np.outer(da, x[k])
            gWhh += np.outer(da, hs[k])
            gbih += da
            dh_next = Whh.T @ da
        for p, g in ((Wih, gWih), (Whh, gWhh), (bih, gbih), (Why, gWhy), (by, gby)):
            p -= lr * np.clip(g, -1.0, 1.0)


def batch1_cli(root: str | None) -> None:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, **ONE_THREAD)
        if root:
            env["PYTHONPATH"] = root
        subprocess.run([sys.executable, "-m", "rnnx", "train", "--preset", "seed001-original", "--epochs", "2",
                        "--out", f"{d}/run", "--backend", "numpy"], env=env, check=True, capture_output=True,
                       timeout=900, cwd=root or None)
        rows = Path(f"{d}/run/history.csv").read_text().splitlines()
        # epoch 2's wall seconds (epoch 1 includes first-call costs); printed for the parent
        print("EPOCH_SECONDS", rows[-1].split(",")[-1])


def _worker(args) -> None:
    what = args.worker
    if what == "batch1-cli" or what == "batch1-cli-before":
        batch1_cli(args.before if what.endswith("before") else None)
        return
    import numpy  # noqa: F401  (imports before the clock)
    if what.startswith("plaid-rnnx"):
        import rnnx  # noqa: F401
    elif what == "plaid-torch":
        import torch  # noqa: F401
    clock = time.perf_counter if what == "batch1-numpy" else time.process_time  # batch 1: wall, as history.csv
    t0 = clock()
    if what == "plaid-rnnx":
        plaid_rnnx(args.n, True)
    elif what == "plaid-rnnx-nocut":
        plaid_rnnx(args.n, False)
    elif what == "plaid-torch":
        plaid_torch(args.n)
    elif what == "batch1-numpy":
        batch1_numpy()
    print("CPU_SECONDS", clock() - t0)


def _run(name: str, args) -> float:
    cmd = [sys.executable, __file__, "--worker", name, "--n", str(args.n)]
    if args.before:
        cmd += ["--before", args.before]
    env = dict(os.environ, **ONE_THREAD)
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=1800).stdout
    for line in out.splitlines():
        if line.startswith(("CPU_SECONDS", "EPOCH_SECONDS")):
            return float(line.split()[1])
    raise RuntimeError(f"{name}: no figure in {out!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--before", default=None,
                    help="a folder holding an older tree's rnnx/ and backends/ (batch-1 before/after)")
    ap.add_argument("--skip-plaid", action="store_true")
    ap.add_argument("--skip-batch1", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return
    if args.before and not (Path(args.before) / "rnnx").is_dir():
        raise SystemExit(f"--before: expected a folder holding an rnnx/ package, got {args.before!r}")
    with tempfile.TemporaryDirectory(prefix="lengths-speed-before-") as tmp:
        if args.before:  # DIR's rnnx with DIR's backends as rnnx.backends, in one temporary package
            fc = _fixed_cost()  # (DIR alone on PYTHONPATH: DIR's rnnx with this tree's rnnx.backends)
            args.before = fc.shadow_tree(args.before, tmp)
            fc.check_root(args.before)
        _measure(args)


def _fixed_cost():
    """bench/fixed_cost.py (its ``shadow_tree`` and ``check_root``), loaded from beside this file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fixed_cost", Path(__file__).resolve().with_name("fixed_cost.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _measure(args: argparse.Namespace) -> None:
    names = []
    if not args.skip_plaid:
        names += ["plaid-rnnx", "plaid-rnnx-nocut", "plaid-torch"]
    if not args.skip_batch1:
        names += ["batch1-cli", "batch1-numpy"] + (["batch1-cli-before"] if args.before else [])
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(args.repeats):
        for k in names:
            times[k].append(_run(k, args))
            print(f"round {r + 1}: {k} {times[k][-1]:.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {}
    if not args.skip_plaid:
        ratios["plaid rnnx (cut) / torch packed"] = med["plaid-rnnx"] / med["plaid-torch"]
        ratios["plaid rnnx (no cut) / torch packed"] = med["plaid-rnnx-nocut"] / med["plaid-torch"]
    if not args.skip_batch1:
        ratios["batch-1 rnnx train / numpy loop"] = med["batch1-cli"] / med["batch1-numpy"]
        if args.before:
            ratios["batch-1 rnnx train (before) / numpy loop"] = med["batch1-cli-before"] / med["batch1-numpy"]
    print("\nmedian seconds per epoch (PLAID: process CPU s of fit/the loop; batch 1: wall s of epoch 2 / of the loop)")
    for k, v in med.items():
        print(f"  {k:22s} {v:8.2f}   (all: {', '.join(f'{t:.2f}' for t in times[k])})")
    for k, v in ratios.items():
        print(f"  {k}: {v:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"seconds": times, "median": med, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
