"""Gradient flow on a long dependency: RNN vs LSTM vs GRU (issue 18, item 6; docs/diagnostics.md).

    python bench/long_dependency.py [--quick] [--seeds N] [--json FILE] [--plots DIR]
                                    [--cell-plots]

The task, "recall the first input after T steps": each sequence is T steps of one feature;
x[:, 0, 0] is the bit to recall, +1 or -1 (equally likely), steps 1..T-1 are Gaussian noise
(mean 0, std 1); the target is that first value, as a regression (mse, many-to-one, one
output).  The recalled sign is ``sign(prediction)``; always answering 0 (or guessing) gives
mse 1 and accuracy 0.5, so learning shows as the loss dropping well below 1.

For T in {50, 100, 200} and cell in {rnn, lstm, gru}: ``rnnx.Model(cell, 1, 32, 1)``, Adam
lr 1e-2, clip_norm 1.0, batch 32, 1024 training sequences (32 updates an epoch), 40 epochs
(1280 updates), NumPy float64, one BLAS thread (hidden 32: more threads only add overhead on
a small machine), a :class:`rnnx.diagnostics.recorder.Recorder` (every diagnostic, probe batch 32, 4
probes), then 512 fresh test sequences.  float64 rather than JAX float32: the quantities
measured here underflow in float32 (||dL/dh_0|| of an LSTM at T = 200 at initialisation is
~1e-53 of ||dL/dh_{T-1}||, below float32's smallest subnormal 1.4e-45; the Recorder's growth
factor then reads 0).  About 3 minutes on 2 shared cores.

Per (cell, T) (the median over seeds with ``--seeds N`` > 1; every seed's row is kept too):
test accuracy of the recalled sign and test mse; the per-step growth factor of the Jacobian
profile (layer 0) at epoch 0 and at the end; ||dL/dh_0|| / ||dL/dh_{T-1}|| (layer 0, mean
over the probe batch) at epoch 0 and at the end; max and median pre-clip gradient norm;
updates clipped (of all updates); the largest singular value of W_hh (layer 0) at epoch 0 and
at the end; the LSTM's mean forget gate at epoch 0 and at the end.  Every run's row also has
the fraction of saturated gates per gate type (layer 0, mean over steps) at epoch 0 and at the end.

``--quick``: T = 20 only, 128 sequences, 4 epochs, 64 test sequences (a smoke test, seconds).
``--json FILE``: the table, every seed's row (with the training loss per epoch) and the
mean ||dL/dh_t|| curves (layer 0) at epoch 0 and at the end.  ``--plots DIR``: DIR/long-dependency.png,
the three cells' mean ||dL/dh_t|| against t (log axis), one column per T, epoch 0 above and
the end below; ``--cell-plots`` also DIR/diagnostics-<cell>-T<T>.png, the 4-panel
:func:`rnnx.diagnostics.plots.diagnostics` figure of each run (first seed).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # before NumPy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

CELLS = ("rnn", "lstm", "gru")
HIDDEN, LR, CLIP_NORM, BATCH, NOISE_STD = 32, 1e-2, 1.0, 32, 1.0
FULL = {"steps": (50, 100, 200), "train": 1024, "test": 512, "epochs": 40}
QUICK = {"steps": (20,), "train": 128, "test": 64, "epochs": 4}
#: The per-(cell, T) numbers of the table, in column order.
METRICS = ("test_accuracy", "test_mse", "growth_epoch0", "growth_end", "flow_ratio_epoch0", "flow_ratio_end",
           "grad_norm_max", "grad_norm_median", "clipped", "updates", "w_hh_norm_epoch0", "w_hh_norm_end", "forget_epoch0", "forget_end", "seconds")


def task(n: int, steps: int, rng):
    """(x (n, T, 1), y (n, 1)) float64: x[:, 0, 0] = +-1, the rest N(0, NOISE_STD^2); y = x[:, 0]."""
    import numpy as np

    x = NOISE_STD * rng.standard_normal((n, steps, 1))
    bit = rng.choice(np.array([-1.0, 1.0]), size=n)
    x[:, 0, 0] = bit
    return x, bit[:, None].copy()


def _flow_ratio(epoch: dict) -> float | None:
    """||dL/dh_0|| / ||dL/dh_{T-1}||, layer 0, forward direction (None where undefined)."""
    row = epoch["flow_h"][0][0]
    return row[0] / row[-1] if row[0] is not None and row[-1] else None


def _mean(v) -> float | None:
    v = [u for u in v if u is not None]
    return sum(v) / len(v) if v else None


def one_run(cell: str, steps: int, seed: int, cfg: dict) -> tuple[dict, dict]:
    """Train one model; (its row, its Recorder's record)."""
    import numpy as np

    import rnnx
    from rnnx.diagnostics.recorder import Recorder, summary

    rng = np.random.default_rng([seed, steps])
    x, y = task(cfg["train"], steps, rng)
    xt, yt = task(cfg["test"], steps, rng)
    model = rnnx.Model(cell, 1, HIDDEN, 1)
    rec = Recorder(probe_size=32, probes=4, seed=seed)
    t0 = time.perf_counter()
    res = rnnx.fit(model, x, y, epochs=cfg["epochs"], batch_size=BATCH, optimizer="adam", lr=LR,
                   clip_norm=CLIP_NORM, loss="mse", seed=seed, diagnostics=rec)
    seconds = time.perf_counter() - t0
    pred = np.asarray(rnnx.predict(model, res.params, xt))[:, 0]
    d = rec.to_json()
    s = summary(d)
    first, last = d["epochs"][0], d["epochs"][-1]
    row = {"cell": cell, "T": steps, "seed": seed,
           "test_accuracy": float(np.mean(np.sign(pred) == yt[:, 0])),
           "test_mse": float(np.mean((pred - yt[:, 0]) ** 2)),
           "growth_epoch0": first["growth"][0][0], "growth_end": last["growth"][0][0],
           "flow_ratio_epoch0": _flow_ratio(first), "flow_ratio_end": _flow_ratio(last),
           "grad_norm_max": s["grad_norm_max"], "grad_norm_median": s["grad_norm_median"],
           "clipped": s["clipped"], "updates": s["updates"],
           "w_hh_norm_epoch0": first["w_hh_norm"][0][0], "w_hh_norm_end": last["w_hh_norm"][0][0],
           "forget_epoch0": _mean(first["forget"][0][0]) if "forget" in first else None,
           "forget_end": _mean(last["forget"][0][0]) if "forget" in last else None,
           "saturated_epoch0": {g: _mean(v[0][0]) for g, v in first["saturated"].items()},
           "saturated_end": {g: _mean(v[0][0]) for g, v in last["saturated"].items()},
           "seconds": seconds, "train_loss": [h["loss"] for h in res.history],
           "flow_h_epoch0": first["flow_h"][0][0], "flow_h_end": last["flow_h"][0][0],
           "epochs_recorded": [first["epoch"], last["epoch"]]}
    return row, d


def _median(v):
    v = [u for u in v if u is not None]
    return statistics.median(v) if v else None


def table(rows: list[dict]) -> list[dict]:
    """One entry per (cell, T): each metric's median over the seeds."""
    out = []
    for steps in sorted({r["T"] for r in rows}):
        for cell in CELLS:
            mine = [r for r in rows if r["cell"] == cell and r["T"] == steps]
            if mine:
                out.append({"cell": cell, "T": steps, "seeds": len(mine),
                            **{m: _median([r[m] for r in mine]) for m in METRICS}})
    return out


def _g(v, fmt: str = "{:.3g}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown(tab: list[dict]) -> str:
    """The table as Markdown (3 significant digits)."""
    head = ("| cell | T | test accuracy | test mse | growth, epoch 0 | growth, end | ‖dL/dh_0‖ / ‖dL/dh_T-1‖, epoch 0 "
            "| ‖dL/dh_0‖ / ‖dL/dh_T-1‖, end | max ‖g‖ | median ‖g‖ | clipped | σ_max(W_hh), epoch 0 → end "
            "| forget gate, epoch 0 → end |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in tab:
        forget = "-" if r["forget_epoch0"] is None else f"{r['forget_epoch0']:.3g} → {r['forget_end']:.3g}"
        lines.append(f"| {r['cell']} | {r['T']} | {_g(r['test_accuracy'])} | {_g(r['test_mse'])} "
                     f"| {_g(r['growth_epoch0'])} | {_g(r['growth_end'])} | {_g(r['flow_ratio_epoch0'])} "
                     f"| {_g(r['flow_ratio_end'])} | {_g(r['grad_norm_max'])} | {_g(r['grad_norm_median'])} "
                     f"| {r['clipped']:g}/{r['updates']:g} | {_g(r['w_hh_norm_epoch0'])} → {_g(r['w_hh_norm_end'])} "
                     f"| {forget} |")
    return "\n".join(lines)


def figure(rows: list[dict], path: str, title: str) -> None:
    """The three cells' mean ||dL/dh_t|| (layer 0) against t, log axis: one column per T,
    epoch 0 above, the end of training below (the first seed's run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnx.io import atomic

    seed = min(r["seed"] for r in rows)
    steps = sorted({r["T"] for r in rows})
    fig, axes = plt.subplots(2, len(steps), figsize=(max(4.2 * len(steps) + 0.6, 7.0), 6.4), layout="constrained",
                             squeeze=False)
    colors = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
    for j, T in enumerate(steps):
        for i, (key, when) in enumerate((("flow_h_epoch0", "epoch 0 (initialisation)"),
                                         ("flow_h_end", "after training"))):
            ax = axes[i][j]
            for cell in CELLS:
                r = next((r for r in rows if r["cell"] == cell and r["T"] == T and r["seed"] == seed), None)
                if r is None:
                    continue
                v = [u if u is not None and 0 < u < 1e100 else float("nan") for u in r[key]]
                acc = f", acc {r['test_accuracy']:.2f}" if i == 1 else ""
                ax.semilogy(range(len(v)), v, color=colors[cell], lw=1.3, label=f"{cell}{acc}")
            ax.set_title(f"T = {T}, {when}", fontsize="medium")
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize="small")
            if i == 1:
                ax.set_xlabel("step t")
            if j == 0:
                ax.set_ylabel("mean ||dL/dh_t|| (layer 0)")
    fig.suptitle(title)
    try:
        with atomic.replacing(path) as f:
            fig.savefig(f, dpi=90, format="png", pil_kwargs={"optimize": True})
    finally:
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="T = 20 only, tiny (a smoke test)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per (cell, T) (default 1)")
    ap.add_argument("--json", metavar="FILE", help="write the table and every run's row as JSON")
    ap.add_argument("--plots", metavar="DIR", help="write DIR/long-dependency.png")
    ap.add_argument("--cell-plots", action="store_true",
                    help="with --plots: also each run's 4-panel diagnostics figure (first seed)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds: expected at least 1, got {args.seeds}")
    if args.cell_plots and not args.plots:
        ap.error("--cell-plots: needs --plots DIR")
    cfg = QUICK if args.quick else FULL
    if args.plots:
        Path(args.plots).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = []
    for steps in cfg["steps"]:
        for cell in CELLS:
            for seed in range(args.seeds):
                row, d = one_run(cell, steps, seed, cfg)
                rows.append(row)
                print(f"{cell:4s} T={steps:3d} seed {seed}: acc {row['test_accuracy']:.3f} mse {row['test_mse']:.3g} "
                      f"growth {_g(row['growth_epoch0'])} -> {_g(row['growth_end'])}, "
                      f"dh_0/dh_T-1 {_g(row['flow_ratio_epoch0'])} -> {_g(row['flow_ratio_end'])}, "
                      f"clipped {row['clipped']}/{row['updates']} ({row['seconds']:.1f} s)", flush=True)
                if args.cell_plots and seed == 0:
                    from rnnx.diagnostics import plots

                    plots.diagnostics(d, str(Path(args.plots) / f"diagnostics-{cell}-T{steps}.png"),
                                      f"{cell.upper()}, recall the first input after T = {steps} steps")
    tab = table(rows)
    total = time.perf_counter() - t0
    print()
    print(markdown(tab))
    print(f"\n{len(rows)} runs in {total:.0f} s")
    doc = {"task": "recall the first input after T steps (regression, mse, many-to-one)",
           "settings": {**{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}, "quick": args.quick,
                        "seeds": args.seeds, "hidden": HIDDEN, "optimizer": "adam", "lr": LR,
                        "clip_norm": CLIP_NORM, "batch_size": BATCH, "noise_std": NOISE_STD,
                        "backend": "numpy float64", "recorder": {"probe_size": 32, "probes": 4}},
           "command": "python bench/long_dependency.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "seconds": total, "table": tab, "runs": rows}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if args.plots:
        figure(rows, str(Path(args.plots) / "long-dependency.png"),
               "Recall the first input after T steps: mean ||dL/dh_t|| over the probe batch")
    bad = [f"{r['cell']} T={r['T']}" for r in tab for m in METRICS
           if isinstance(r[m], float) and not math.isfinite(r[m])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
