"""Forward + explicit BPTT of rnnx against the anchors, interleaved in one run.

    python bench/core.py [--cell lstm] [--sizes 1,25,1,100 64,100,32,128] [--repeat 7]

For each size (B, T, I, H) and float32, times rnnx on every available CPU target and, in
the same loop, ``torch.nn.LSTM/GRU/RNN`` forward + ``.backward()`` and ``jax.grad`` of a
``lax.scan`` recurrence written the plain way.  Prints median / min in ms and rnnx/anchor.
(The full ``rnnx bench`` with JSON, plots and GFLOP/s is issue #5.)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import rnnx
from rnnx import backends


def _time(fn, sync, repeat):
    fn()
    sync()  # warm-up (and JAX's compile)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(1e3 * (time.perf_counter() - t0))
    return out


def rnnx_case(target, layer, B, T, I, H):
    xp, dev = target.namespace(), target.device_obj()
    p = layer.init_params(xp, seed=0, dtype=xp.float32, device=dev)
    rng = np.random.default_rng(0)
    x = target.from_numpy(rng.standard_normal((T, B, I)).astype(np.float32))
    dy = target.from_numpy(rng.standard_normal((T, B, H)).astype(np.float32))
    box = {}

    def fn():
        y, s, cache = layer.forward(p, x)
        box["r"] = layer.backward(p, cache, dy)

    def sync():
        if target.backend == "jax":
            backends.get("jax").block(box["r"])
        else:
            target.synchronize()

    return fn, sync


def torch_case(cell, B, T, I, H):
    import torch

    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn_tanh": torch.nn.RNN}[cell](I, H)
    x = torch.randn(T, B, I, requires_grad=True)
    dy = torch.randn(T, B, H)

    def fn():
        y, _ = mod(x)
        y.backward(dy)

    return fn, lambda: None


def jax_case(cell, B, T, I, H):
    """jax.grad of a plain lax.scan LSTM (the autodiff anchor); LSTM only."""
    import jax
    import jax.numpy as jnp

    k = jax.random.split(jax.random.PRNGKey(0), 4)
    G = 4 * H
    w_ih = jax.random.normal(k[0], (G, I), jnp.float32) * 0.1
    w_hh = jax.random.normal(k[1], (G, H), jnp.float32) * 0.1
    b = jnp.zeros((G,), jnp.float32)
    x = jax.random.normal(k[2], (T, B, I), jnp.float32)

    def loss(w_ih, w_hh, b, x):
        def step(carry, xt):
            h, c = carry
            a = xt @ w_ih.T + h @ w_hh.T + b
            i, f, g, o = jnp.split(a, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        z = jnp.zeros((B, H), jnp.float32)
        _, hs = jax.lax.scan(step, (z, z), x)
        return jnp.sum(hs)

    g = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))
    box = {}

    def fn():
        box["r"] = g(w_ih, w_hh, b, x)

    return fn, lambda: jax.block_until_ready(box["r"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn_tanh"])
    ap.add_argument("--sizes", nargs="*", default=["1,25,1,100", "175,25,1,100", "64,100,32,128"])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    cls = {"lstm": rnnx.LSTM, "gru": rnnx.GRU, "rnn_tanh": rnnx.RNN}[args.cell]
    targets = [t for t in backends.selected() if t.unavailable() is None and t.backend != "array_api_strict"]
    print(f"{args.cell}, float32, forward + backward, ms (median / min of {args.repeat})")
    for spec in args.sizes:
        B, T, I, H = (int(v) for v in spec.split(","))
        rows = {f"rnnx {t.id}": rnnx_case(t, cls(I, H), B, T, I, H) for t in targets}
        try:
            rows["torch.nn (anchor)"] = torch_case(args.cell, B, T, I, H)
        except ImportError:
            pass
        if args.cell == "lstm":
            try:
                rows["jax.grad scan (anchor)"] = jax_case(args.cell, B, T, I, H)
            except ImportError:
                pass
        times = {name: [] for name in rows}
        for _ in range(args.repeat):  # interleaved: one timing of each row per round
            for name, (fn, sync) in rows.items():
                times[name] += _time(fn, sync, 1)
        anchor = statistics.median(times.get("torch.nn (anchor)", [float("nan")]))
        print(f"\n(B, T, I, H) = ({B}, {T}, {I}, {H})")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"  {name:<28}{med:>10.2f}{min(ts):>10.2f}   x{med / anchor:5.2f} of torch.nn")


if __name__ == "__main__":
    main()
