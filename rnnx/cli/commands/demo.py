"""``rnnx demo``: the same LSTM forward + explicit BPTT on every available backend, and
how far each is from the float64 NumPy reference.  (A CLI module: imports NumPy.)"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Any

from rnnx import backends
from rnnx.nn.layers import LSTM


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default=None, help="comma-separated backends or targets (default: all)")


def run(args: argparse.Namespace) -> int:
    from rnnx.cli.commands import check_backends

    check_backends("--backends", args.backends)
    if args.backends is not None:
        os.environ["RNNX_BACKENDS"] = args.backends
    backends.selected()  # validate the selection before any work
    return main()


def sine_windows(batch: int, steps: int) -> Any:
    """``batch`` windows of ``steps`` consecutive samples of sin(t/4), shape (T, B, 1)."""
    import numpy as np

    t = np.arange(steps)[:, None] + 3 * np.arange(batch)[None, :]
    return np.sin(t / 4.0)[:, :, None]


def forward_backward(target: backends.Target, dtype: str, layer: LSTM, inputs: dict) -> dict:
    """Forward, loss 0.5*||y_T||^2 on the last step, backward; results as NumPy."""
    xp, dev = target.namespace(), target.device_obj()
    conv = lambda a: target.from_numpy(a.astype(dtype))  # noqa: E731
    params = {k: conv(v) for k, v in inputs["params"].items()}
    x, s0 = conv(inputs["x"]), (conv(inputs["h0"]), conv(inputs["c0"]))
    t0 = time.perf_counter()
    y, (h, c), cache = layer.forward(params, x, s0)
    # dL/dy: y itself at the last step, zero before it
    zeros = xp.zeros((y.shape[0] - 1, *y.shape[1:]), dtype=y.dtype, device=dev)
    dy = xp.concat([zeros, y[-1:, ...]], axis=0)
    dparams, dx, _ = layer.backward(params, cache, dy)
    target.synchronize()
    ms = 1e3 * (time.perf_counter() - t0)
    out = {"y": target.to_numpy(y), "dx": target.to_numpy(dx)}
    out.update({f"d{k}": target.to_numpy(v) for k, v in dparams.items()})
    out["ms"] = ms
    return out


def main(*, quiet: bool = False) -> int:
    import numpy as np

    layer = LSTM(1, 16, num_layers=2)
    T, B = 25, 4
    rng = np.random.default_rng(0)
    inputs = {
        "params": layer.init_params(np, seed=0, dtype=np.float64),
        "x": sine_windows(B, T),
        "h0": 0.1 * rng.standard_normal((2, B, 16)),
        "c0": 0.1 * rng.standard_normal((2, B, 16)),
    }
    print(f"rnnx demo: {layer!r}, x (T={T}, B={B}, 1) sine windows, non-zero h0/c0, "
          "loss = 0.5 * ||y[T-1]||^2, explicit BPTT")
    ref = forward_backward(backends.Target("numpy", "cpu"), "float64", layer, inputs)
    loss = 0.5 * float(np.sum(ref["y"][-1] ** 2))
    gnorm = math.sqrt(sum(float(np.sum(v**2)) for k, v in ref.items() if k.startswith("dw")))
    print(f"reference (numpy float64): loss {loss:.15f}, ||dL/dW|| {gnorm:.15f}")
    print(f"  y[T-1, 0, :4]          = {np.array2string(ref['y'][-1, 0, :4], precision=12)}")
    print(f"  dL/dweight_hh_l0[0,:4] = {np.array2string(ref['dweight_hh_l0'][0, :4], precision=12)}\n")
    head = f"{'target':<26}{'dtype':<9}{'loss':>20}{'max|dy| rel':>14}{'max grad rel':>14}{'ms (1st)':>10}"
    print(head)
    print("-" * len(head))
    worst = 0.0
    absent = []
    for t in backends.selected():
        reason = t.unavailable()
        if reason:
            absent.append((t.id, reason))
            continue
        for dtype in t.dtypes():
            r = forward_backward(t, dtype, layer, inputs)
            rel = lambda k: float(np.linalg.norm(r[k] - ref[k]) / np.linalg.norm(ref[k]))  # noqa: E731
            ey = rel("y")
            eg = max(rel(k) for k in ref if k.startswith("d"))
            worst = max(worst, eg if dtype == "float64" else 0.0)
            lo = 0.5 * float(np.sum(r["y"][-1].astype(np.float64) ** 2))
            print(f"{t.id:<26}{dtype:<9}{lo:>20.15f}{ey:>14.2e}{eg:>14.2e}{r['ms']:>10.1f}")
    print(f"\nmax relative difference of float64 gradients across backends: {worst:.2e}")
    for tid, reason in absent:
        print(f"not run: {tid}: {reason}")
    return 0
