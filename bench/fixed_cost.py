"""The per-update fixed cost at batch 1 (issue 29, item 5): one command, the ratio printed.

    python bench/fixed_cost.py [--repeats 5] [--before DIR] [--json FILE]

Contestants, each in its own process with one BLAS thread, interleaved round-robin (a
shared machine's load falls on all alike), medians of ``--repeats`` rounds:

- ``cli``: ``rnnx train --preset seed001-original --backend numpy`` (RNN(1 -> 16), T = 10,
  792 windows, SGD lr 0.005, clip_value 1, bias_hh frozen, one update per window): epoch 2's
  wall seconds from its history.csv (bench/lengths_speed.py's batch-1 contestant);
- ``numpy``: the same maths as a plain NumPy loop (``lengths_speed.batch1_numpy``), wall s;
- ``update``: the same update without the CLI around it (``Model.loss_and_grad`` then
  ``rnnx.training.strategies.make_apply``'s clip and SGD step, what the CLI's Trainer and ``rnnx.fit``
  run per window) over the 792 windows, the fastest of 5 epochs, as microseconds an update;
- with ``--before DIR`` (an older tree's packages: ``git archive <rev> rnnx backends | tar -x
  -C DIR``), ``cli`` and ``update`` again from DIR: before/after from the same run.  DIR's
  ``rnnx/`` and ``backends/`` are copied into one package (``backends`` as ``rnnx/backends``,
  what the installed tree maps it to) in a temporary folder, and each process is checked to
  import both from there: the editable install would otherwise give DIR's ``rnnx`` this
  tree's ``rnnx.backends``.

Printed: the medians, ``batch-1 rnnx train / numpy loop`` (the issue's figure, goal <= 1.5x)
and, with ``--before``, the before/after ratios.

``--clock cpu``: every contestant timed by its own process's CPU seconds instead
(``time.perf_counter`` replaced by ``time.process_time`` in it, so the CLI's history.csv
holds epoch 2's CPU seconds): on a shared machine the other sessions' load moves wall
seconds by +-50% between rounds, CPU seconds much less.  ``wall`` (the default) is the
issue's figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def update_us() -> float:
    """Microseconds per update of seed001-original's update, the fastest of 5 epochs (after
    one warm-up epoch), through the public pieces every tree has."""
    import random

    import array_api_compat.numpy as xp
    import numpy as np

    from rnnx import optim
    from rnnx.training.strategies import make_apply
    from rnnx import losses as L
    from rnnx import Model  # public in every tree --before may name (rnnx.nn.model since the layout)

    model = Model("rnn", 1, 16, 1, objective="many-to-many")
    params = model.init_params(xp, seed=0, dtype=xp.float64)
    sgd = optim.SGD(lr=0.005)
    apply = make_apply(sgd, clip_value=1.0, clip_norm=None, freeze=("bias_hh_l0",), xp=xp)
    loss = L.get("half-sse")
    s = np.sin(np.linspace(0.0, 100.0, 1000))
    n = int(0.8 * (1000 - 10))
    x = np.stack([s[i:i + 10] for i in range(n)], axis=1)[:, :, None]
    y = np.broadcast_to(s[10:10 + n][None, :, None], (10, n, 1)).copy()
    order = list(range(n))
    random.Random("0:0").shuffle(order)

    def epoch() -> None:
        p, st = params, sgd.init(params)
        for i in order:
            _, grads, _ = model.loss_and_grad(p, x[:, i:i + 1], y[:, i:i + 1], loss=loss)
            p, st, _ = apply(p, st, grads)

    epoch()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


#: ``--clock cpu``: the CLI run in a process whose ``time.perf_counter`` is ``time.process_time``,
#: so that history.csv's epoch seconds are the process's CPU seconds.
_CPU_CLI = ("import sys, time\ntime.perf_counter = time.process_time\nimport rnnx.cli\n"
            "sys.argv = ['rnnx', 'train', '--preset', 'seed001-original', '--epochs', '2', '--out', sys.argv[1],"
            " '--backend', 'numpy']\nrnnx.cli.main()\n")


def cli_cpu(root: str | None) -> float:
    """``lengths_speed.batch1_cli``'s run (epoch 2's seconds from history.csv) in CPU seconds."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, **ONE_THREAD)
        if root:
            env["PYTHONPATH"] = root
        subprocess.run([sys.executable, "-c", _CPU_CLI, f"{d}/run"], env=env, check=True, capture_output=True,
                       timeout=900, cwd=root or d)
        return float(Path(f"{d}/run/history.csv").read_text().splitlines()[-1].split(",")[-1])


def _worker(what: str, root: str | None, clock: str = "wall") -> None:
    sys.path.insert(0, str(HERE))
    import lengths_speed

    if clock == "cpu":  # every contestant's clock: this process's CPU time (the load of others counts less)
        time.perf_counter = time.process_time
    if what == "cli" and clock == "cpu":
        print("EPOCH_SECONDS", cli_cpu(root))
    elif what == "cli":
        lengths_speed.batch1_cli(root)  # prints EPOCH_SECONDS
    elif what == "numpy":
        import numpy  # noqa: F401  (imported before the clock, as in lengths_speed)

        t0 = time.perf_counter()
        lengths_speed.batch1_numpy()
        print("SECONDS", time.perf_counter() - t0)
    elif what == "update":
        print("SECONDS", update_us())


_WHERE = "import rnnx, rnnx.backends; print(rnnx.__file__); print(rnnx.backends.__file__)"


def shadow_tree(before: str, into: str) -> str:
    """One importable copy of an older tree under ``into``: ``rnnx/`` with ``backends/`` as
    ``rnnx/backends`` (where the tree has no ``rnnx/backends`` of its own); returns ``into``."""
    src = Path(before)
    shutil.copytree(src / "rnnx", Path(into) / "rnnx", ignore=shutil.ignore_patterns("__pycache__"))
    if (src / "backends").is_dir() and not (Path(into) / "rnnx" / "backends").exists():
        shutil.copytree(src / "backends", Path(into) / "rnnx" / "backends", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def check_root(root: str) -> None:
    """Raise SystemExit unless a process run as the contestants are (PYTHONPATH and cwd
    ``root``) imports ``rnnx`` and ``rnnx.backends`` from ``root``."""
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", _WHERE], env=env, cwd=root, check=True, capture_output=True,
                         text=True, timeout=300).stdout.split()
    base = Path(root).resolve()
    stray = [f for f in out if base not in Path(f).resolve().parents]
    if stray:
        raise SystemExit(f"--before: the older tree's packages do not shadow this tree's: imported {stray}")


def _run(what: str, root: str | None, clock: str = "wall") -> float:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", what, "--clock", clock] + \
        (["--root", root] if root else [])
    env = dict(os.environ, **ONE_THREAD)
    if root and what == "update":
        env["PYTHONPATH"] = root  # the older packages shadow the installed tree (check_root)
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=900,
                         cwd=root).stdout
    for line in out.splitlines():
        if line.startswith(("SECONDS", "EPOCH_SECONDS")):
            return float(line.split()[1])
    raise RuntimeError(f"{what}: no figure in {out!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", default=None, help="a folder holding an older tree's rnnx/ and backends/")
    ap.add_argument("--json", default=None)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall seconds (the issue's figure) or each contestant's process CPU seconds")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--root", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.root, args.clock)
        return
    if args.before and not (Path(args.before) / "rnnx").is_dir():
        raise SystemExit(f"--before: expected a folder holding an rnnx/ package, got {args.before!r}")
    with tempfile.TemporaryDirectory(prefix="fixed-cost-before-") as tmp:
        before = None
        if args.before:
            before = shadow_tree(args.before, tmp)
            check_root(before)
        _measure(args, before)


def _measure(args: argparse.Namespace, before: str | None) -> None:
    runs = [("cli", None), ("numpy", None), ("update", None)]
    if before:
        runs += [("cli", before), ("update", before)]
    name = {r: r[0] + ("-before" if r[1] else "") for r in runs}
    times: dict[str, list[float]] = {name[r]: [] for r in runs}
    for k in range(args.repeats):
        for r in runs:
            times[name[r]].append(_run(*r, args.clock))
            print(f"round {k + 1}: {name[r]} {times[name[r]][-1]:.4g}", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {"batch-1 rnnx train / numpy loop": med["cli"] / med["numpy"]}
    if args.before:
        ratios["batch-1 rnnx train (before) / numpy loop"] = med["cli-before"] / med["numpy"]
        ratios["update after / before"] = med["update"] / med["update-before"]
    print(f"\nmedians (cli, numpy: {args.clock} s per epoch; update: {args.clock} us per update)")
    for k, v in med.items():
        print(f"  {k:14s} {v:10.4g}   (all: {', '.join(f'{t:.4g}' for t in times[k])})")
    for k, v in ratios.items():
        print(f"  {k}: {v:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"clock": args.clock, "values": times, "median": med, "ratios": ratios},
                                              indent=1))


if __name__ == "__main__":
    main()
