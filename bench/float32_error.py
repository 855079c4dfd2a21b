"""float32 accuracy of rnnx's cells against torch.nn's on the same weights (issue 28, item 9).

    python bench/float32_error.py [--T 5000] [--H 256] [--B 4] [--I 16] [--seed 0]
                                  [--backends numpy,torch] [--cells rnn,lstm,gru] [--no-grad]

For each cell (RNN tanh, LSTM, GRU; one layer, unidirectional, non-zero biases from
``init_params`` and non-zero initial states): parameters, input, initial state and the output
cotangent are drawn in float64 and rounded to float32 once, so both precisions compute the
same function of the same numbers.  Each float32 run is compared with the float64 run of the
same library and the same kernel (rnnx's fused and ``fused=False`` kernels on each backend
given; ``torch.nn`` float32 against ``torch.nn`` float64): the norm-wise relative error
``||y32 - y64|| / ||y64||`` of the output y (T, B, H), and (unless ``--no-grad``) the largest
such error over the gradients of the loss ``<y, dy>`` (every parameter, x, and each initial
state).  "ratio" divides an rnnx row's error by torch.nn's for the same cell.

The table prints one row per (cell, implementation).  Seeds are fixed: the same command gives
the same figures.  T=5000, H=256, B=4 take about a minute on 2 shared cores.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _draw(cell: str, T: int, B: int, I: int, H: int, seed: int):
    """float64 arrays holding float32 values: params, x, state0, dy."""
    import rnnx

    layer = rnnx.layer(cell, I, H)
    p = layer.init_params(np, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    r32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)  # noqa: E731
    p = {k: r32(v) for k, v in p.items()}
    x = r32(rng.standard_normal((T, B, I)))
    n_state = 2 if cell == "lstm" else 1
    state0 = tuple(r32(0.5 * rng.standard_normal((1, B, H))) for _ in range(n_state))
    dy = r32(rng.standard_normal((T, B, H)))
    return p, x, state0, dy


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / nb) if nb > 0 else float(np.linalg.norm(a))


def run_rnnx(cell, d, *, backend="numpy", dtype="float32", fused=None, grad=True):
    """rnnx's y and gradients (numpy float64 arrays) on ``backend`` in ``dtype``."""
    import rnnx

    p, x, state0, dy = d
    opts = {} if fused is None else {"fused": fused}
    layer = rnnx.layer(cell, x.shape[-1], p["weight_hh_l0"].shape[-1], **opts)
    if backend == "numpy":
        dt = np.dtype(dtype)
        conv, back = (lambda a: a.astype(dt)), (lambda a: np.asarray(a, dtype=np.float64))
    elif backend == "torch":
        import torch

        dt = getattr(torch, dtype)
        conv = lambda a: torch.tensor(a, dtype=dt)  # noqa: E731
        back = lambda a: a.detach().numpy().astype(np.float64)  # noqa: E731
    elif backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        conv = lambda a: jnp.asarray(a, dtype=getattr(jnp, dtype))  # noqa: E731
        back = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    else:
        raise SystemExit(f"--backends: expected numpy, torch or jax, got {backend!r}")
    pc = {k: conv(v) for k, v in p.items()}
    s0 = tuple(conv(s) for s in state0)
    s0 = s0 if len(s0) == 2 else s0[0]
    y, _, cache = layer.forward(pc, conv(x), s0)
    out = {"y": back(y)}
    if grad:
        dp, dx, ds0 = layer.backward(pc, cache, conv(dy))
        out.update({f"d{k}": back(v) for k, v in dp.items()})
        out["dx"] = back(dx)
        ds0 = ds0 if isinstance(ds0, tuple) else (ds0,)
        out.update({f"ds0_{i}": back(v) for i, v in enumerate(ds0)})
    return out


def run_torch(cell, d, *, dtype="float32", grad=True):
    """torch.nn's y and gradients (numpy float64 arrays) in ``dtype``."""
    import torch

    p, x, state0, dy = d
    dt = getattr(torch, dtype)
    I, H = x.shape[-1], p["weight_hh_l0"].shape[-1]
    mod = (torch.nn.RNN(I, H, nonlinearity="tanh", dtype=dt) if cell == "rnn"
           else {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, dtype=dt))
    mod.load_state_dict({k: torch.tensor(v, dtype=dt) for k, v in p.items()})
    xt = torch.tensor(x, dtype=dt, requires_grad=grad)
    s0 = tuple(torch.tensor(s, dtype=dt, requires_grad=grad) for s in state0)
    with torch.set_grad_enabled(grad):
        y, _ = mod(xt, s0 if len(s0) == 2 else s0[0])
    back = lambda a: a.detach().numpy().astype(np.float64)  # noqa: E731
    out = {"y": back(y)}
    if grad:
        (y * torch.tensor(dy, dtype=dt)).sum().backward()
        out.update({f"d{k}": back(v.grad) for k, v in mod.named_parameters()})
        out["dx"] = back(xt.grad)
        out.update({f"ds0_{i}": back(s.grad) for i, s in enumerate(s0)})
    return out


def errors(got, want) -> tuple[float, float, str]:
    """(output error, largest gradient error, the gradient it is in)."""
    g = {k: _rel(got[k], want[k]) for k in want if k != "y"}
    worst = max(g, key=g.get) if g else ""
    return _rel(got["y"], want["y"]), (g[worst] if g else float("nan")), worst


def measure(cells, *, T, B, I, H, seed, backends, grad=True, show=None):
    """Rows ``(cell, implementation, out_err, grad_err, worst_grad, out_ratio, grad_ratio)``;
    ``show(row)`` is called on each as it is measured."""
    show = show or (lambda row: None)
    rows = []
    for cell in cells:
        d = _draw(cell, T, B, I, H, seed)
        try:
            t_out, t_grad, t_worst = errors(run_torch(cell, d, grad=grad), run_torch(cell, d, dtype="float64",
                                                                                  grad=grad))
        except ImportError:
            t_out = t_grad = float("nan")
            t_worst = "(torch not installed)"
        for backend in backends:
            for fused in (True, False):
                want = run_rnnx(cell, d, backend=backend, dtype="float64", fused=fused, grad=grad)
                got = run_rnnx(cell, d, backend=backend, fused=fused, grad=grad)
                o, g, w = errors(got, want)
                rows.append((cell, f"rnnx-{backend} fused={fused}", o, g, w, o / t_out, g / t_grad))
                show(rows[-1])
        rows.append((cell, "torch.nn", t_out, t_grad, t_worst, 1.0, 1.0))
        show(rows[-1])
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--T", type=int, default=5000, help="sequence length (default 5000)")
    ap.add_argument("--H", type=int, default=256, help="hidden size (default 256)")
    ap.add_argument("--B", type=int, default=4, help="batch size (default 4)")
    ap.add_argument("--I", type=int, default=16, help="input size (default 16)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the weights and data (default 0)")
    ap.add_argument("--backends", default="numpy,torch", help="rnnx backends: numpy, torch, jax (default numpy,torch)")
    ap.add_argument("--cells", default="rnn,lstm,gru", help="cells (default rnn,lstm,gru)")
    ap.add_argument("--no-grad", action="store_true", help="outputs only")
    a = ap.parse_args(argv)
    for name in ("T", "H", "B", "I"):
        if getattr(a, name) < 1:
            ap.error(f"--{name}: expected a positive integer, got {getattr(a, name)}")
    cells = [c for c in a.cells.split(",") if c]
    bad = [c for c in cells if c not in ("rnn", "lstm", "gru")]
    if bad:
        ap.error(f"--cells: expected rnn, lstm, gru, got {bad[0]!r}")
    print(f"float32 vs float64 of the same implementation, norm-wise relative; T={a.T} B={a.B} I={a.I} H={a.H} "
          f"seed={a.seed}")
    print(f"{'cell':5} {'implementation':24} {'out err':>9} {'/torch':>7} {'grad err':>9} {'/torch':>7}  worst grad")

    def show(row):
        cell, impl, o, g, w, ro, rg = row
        print(f"{cell:5} {impl:24} {o:9.2e} {ro:7.2f} {g:9.2e} {rg:7.2f}  {w}", flush=True)

    measure(cells, T=a.T, B=a.B, I=a.I, H=a.H, seed=a.seed, backends=[b for b in a.backends.split(",") if b],
            grad=not a.no_grad, show=show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
