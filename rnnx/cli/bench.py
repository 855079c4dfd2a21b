"""``rnnx bench``: forward + backward (and forward alone) of rnnx against the frameworks'
own RNNs, interleaved in one run.  (A tool module: imports NumPy, torch and JAX lazily.)

Rows per size (B, T, I, H) and cell: rnnx on each available backend (JAX compiled with
``jax.jit``, its first-call compile time reported), rnnx with ``checkpoint="sqrt"`` on
NumPy, and the anchors ``torch.nn.RNN/LSTM/GRU`` (``.backward()``) and ``jax.grad`` of a
``lax.scan`` recurrence written the plain way.  Each round times every row once (after
warm-up, with the backend's synchronisation); the report gives median / min / max, the
ratio to the anchor, and GFLOP/s as a fraction of the matmul peak of the row's own library,
measured in the same run (2048^3 float32).

Two things keep one library's timing free of another's: a pause (``settle``, 0.2 s) before
a row whose library differs from the previous row's, because idle worker threads keep
spinning on the cores for a while after their last call (OpenBLAS ~0.1 s; measured:
``rnnx torch-cpu`` LSTM at (175, 25, 1, 100) took 103 ms right after NumPy rows, 21 ms
alone); and, for calls shorter than ``min_round_ms``, several calls per round, timed together.
After the pause, untimed calls of the next row come first, for ``rewarm_ms`` (50) and at
least one call: a call right after 0.2 s of idle cores runs cold (measured at
(175, 25, 1, 100), LSTM forward + backward: ``nn.LSTM`` 10.8 ms back to back, 18.2 ms after a
0.2 s sleep; rnnx on JAX 15.4 and 22.5 ms, and still ~19 ms on the second call), so without it
rows timed once per round (>= ``min_round_ms``) would carry that penalty and shorter ones,
repeated within the round, mostly not.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from rnnx import backends
from rnnx.cells import CELLS as REGISTRY
from rnnx.nn.layers import layer as make_layer

DEFAULT_SIZES = ((1, 25, 1, 100), (175, 25, 1, 100), (64, 100, 32, 128), (64, 100, 128, 512), (16, 1000, 32, 128))
CELLS = ("lstm", "gru", "rnn")  # the default order of the report; any registry cell may be asked for
GATES = {name: len(spec.gates) for name, spec in REGISTRY.items()}


def flops(cell: str, B: int, T: int, I: int, H: int, *, backward: bool) -> float:
    """Matmul flops: forward 2*T*B*G*H*(I+H); the backward does twice that (inputs and weights)."""
    f = 2.0 * T * B * GATES[cell] * H * (I + H)
    return 3 * f if backward else f


@dataclass
class Row:
    name: str
    library: str  # whose matmul peak it is compared with
    kind: str  # "rnnx" | "anchor"
    fn: Callable[[], Any]
    sync: Callable[[Any], None]
    backward: bool
    times: list[float] = field(default_factory=list)
    compile_s: float | None = None
    extra: dict = field(default_factory=dict)


_no_block = backends.Capabilities("").block


def _pair(name: str, library: str, kind: str, sync, both, fwd=None, extra: dict | None = None) -> list[Row]:
    """The forward+backward row of one implementation and (``fwd`` given) its forward row."""
    return [Row(name, library, kind, f, sync, backward, extra=dict(extra or {}))
            for f, backward in ((both, True), (fwd, False)) if f is not None]


def _waiter(t: backends.Target) -> Callable[[Any], Any]:
    """How to wait for a result on target ``t``: its library's block, else (no way to wait on
    one result) the device's synchronisation."""
    block = t.capabilities.block
    return (lambda out: t.synchronize()) if block is _no_block else block


def rnnx_rows(t: backends.Target, cell: str, size, dtype: str, *, checkpoint=None) -> list[Row]:
    import numpy as np

    B, T, I, H = size
    layer = make_layer(cell, I, H)
    xp, dev = t.namespace(), t.device_obj()
    p = layer.init_params(xp, seed=0, dtype=getattr(xp, dtype), device=dev)
    rng = np.random.default_rng(0)
    x = t.from_numpy(rng.standard_normal((T, B, I)).astype(dtype))
    dy = t.from_numpy(rng.standard_normal((T, B, H)).astype(dtype))

    def both(p, x, dy):
        y, _, cache = layer.forward(p, x, checkpoint=checkpoint)
        return layer.backward(p, cache, dy)

    def fwd(p, x):
        return layer(p, x)

    if t.capabilities.jit is not None:
        both, fwd = t.capabilities.jit(both), t.capabilities.jit(fwd)
    sync = _waiter(t)
    label = f"rnnx {t.id}" + (f" checkpoint={checkpoint}" if checkpoint else "")
    if not checkpoint:
        return _pair(label, t.backend, "rnnx", sync, lambda: both(p, x, dy), lambda: fwd(p, x))
    full = layer.forward(p, x)[2].nbytes
    seg = layer.forward(p, x, checkpoint=checkpoint)[2].nbytes
    return _pair(label, t.backend, "rnnx", sync, lambda: both(p, x, dy),
                 extra={"cache_bytes": seg, "full_cache_bytes": full})


class _NoTF32:
    """While entered: cuDNN and cuBLAS compute float32 in full float32 (TF32 off), so the cuDNN
    anchor is the fair float32 one (torch's default lets cuDNN's RNNs use TF32 on Ampere and
    later).  Every flag is read on entry and put back on exit, the precision strings of
    torch >= 2.9 too: a library must not leave another library's process-wide setting changed.
    The flags are found once; an entry and exit then cost about 7 us (measured on 2 CPU cores),
    paid by each anchor call.  Inactive (``active=False``: the CPU anchor), it does nothing."""

    #: the two switches it turns off, then (where the torch has them) the strings they also set
    FLAGS = ("cudnn.allow_tf32", "cuda.matmul.allow_tf32", "cuda.matmul.fp32_precision", "cudnn.fp32_precision",
             "cudnn.conv.fp32_precision", "cudnn.rnn.fp32_precision")
    _flags: list | None = None  # (object, name) of the FLAGS this torch has, found on the first entry

    def __init__(self, active: bool = True):
        self.active, self._saved = active, []

    @staticmethod
    def _where(path: str):
        """(the object holding the flag ``path`` under ``torch.backends``, or None; its name)."""
        import torch

        *up, name = path.split(".")
        return functools.reduce(lambda obj, part: getattr(obj, part, None), up, torch.backends), name

    def __enter__(self):
        if self.active:
            if _NoTF32._flags is None:  # an older torch has fewer of them
                _NoTF32._flags = [(o, n) for o, n in map(self._where, self.FLAGS) if hasattr(o, n)]
            self._saved = [(obj, name, getattr(obj, name)) for obj, name in _NoTF32._flags]
            for obj, name, _ in self._saved:
                if name == "allow_tf32":  # the switches (cuDNN, cuBLAS); torch sets the strings from them
                    setattr(obj, name, False)
        return self

    def __exit__(self, *exc):
        for obj, name, value in self._saved:  # in reading order: the switches, then the strings
            setattr(obj, name, value)
        self._saved = []
        return False


def torch_rows(cell: str, size, dtype: str, device: str = "cpu") -> list[Row]:
    """``torch.nn.RNN/LSTM/GRU`` on ``device`` (none on ``cuda`` without a CUDA device)."""
    import torch

    if device != "cpu" and not torch.cuda.is_available():
        return []
    B, T, I, H = size
    dt = getattr(torch, dtype)
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](I, H, dtype=dt, device=device)
    x = torch.randn(T, B, I, dtype=dt, device=device, requires_grad=True)
    dy = torch.randn(T, B, H, dtype=dt, device=device)
    exact = _NoTF32(active=device != "cpu")  # cuDNN in float32 without TF32 while a call runs, as rnnx computes

    def both():
        with exact:
            y, _ = mod(x)
            y.backward(dy)
            return y

    def fwd():
        with exact, torch.no_grad():
            return mod(x)[0]

    def sync(_):
        if device != "cpu":
            torch.cuda.synchronize()

    name = f"torch.nn.{mod.__class__.__name__} ({'cuDNN' if device != 'cpu' else 'CPU'})"
    return _pair(name, "torch", "anchor", sync, both, fwd, {"tf32": False} if device != "cpu" else {})


def jax_rows(cell: str, size, dtype: str) -> list[Row]:
    """``jax.grad`` of the recurrence written the plain way with ``lax.scan``."""
    backends.Target("jax", "cpu").namespace()  # raises Unavailable without JAX
    import jax
    import jax.numpy as jnp

    B, T, I, H = size
    G = GATES[cell]
    dt = getattr(jnp, dtype)
    k = jax.random.split(jax.random.PRNGKey(0), 5)
    w_ih = (jax.random.normal(k[0], (G * H, I)) * 0.1).astype(dt)
    w_hh = (jax.random.normal(k[1], (G * H, H)) * 0.1).astype(dt)
    b = jnp.zeros((G * H,), dt)
    x = jax.random.normal(k[2], (T, B, I)).astype(dt)
    dy = jax.random.normal(k[3], (T, B, H)).astype(dt)

    def out(w_ih, w_hh, b, x):
        def step(carry, xt):
            h, c = carry
            if cell == "lstm":
                i, f, g, o = jnp.split(xt @ w_ih.T + h @ w_hh.T + b, 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
            elif cell == "gru":
                xr, xz, xn = jnp.split(xt @ w_ih.T + b, 3, axis=-1)
                hr, hz, hn = jnp.split(h @ w_hh.T, 3, axis=-1)
                r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
                n = jnp.tanh(xn + r * hn)
                h = (1 - z) * n + z * h
            else:
                h = jnp.tanh(xt @ w_ih.T + h @ w_hh.T + b)
            return (h, c), h

        z = jnp.zeros((B, H), dt)
        return jax.lax.scan(step, (z, z), x)[1]

    both = jax.jit(jax.grad(lambda *a: jnp.sum(out(*a) * dy), argnums=(0, 1, 2, 3)))
    fwd = jax.jit(out)
    return _pair("jax.grad(lax.scan)", "jax", "anchor", jax.block_until_ready, lambda: both(w_ih, w_hh, b, x),
                 lambda: fwd(w_ih, w_hh, b, x))


def jax_projection() -> str | None:
    """Where rnnx's compiled JAX step takes its input projection here: "in_step" (XLA CPU)
    or "hoisted"; None without JAX."""
    try:
        from rnnx.backends import jax as jax_backend

        jax_backend.load()
    except backends.Unavailable:
        return None
    return "in_step" if jax_backend.in_step_projection() else "hoisted"


def matmul_peak(library: str, n: int = 2048, repeat: int = 3) -> float | None:
    """Measured float32 GFLOP/s of an n^3 matmul in ``library`` on the CPU, through its backend
    (array_api_strict: NumPy's; None if not installed)."""
    import numpy as np

    name = {"numpy": "numpy", "array_api_strict": "numpy", "torch": "torch", "jax": "jax"}.get(library)
    t = backends.Target(name, "cpu") if name else None
    if t is None or t.unavailable():
        return None
    a = t.from_numpy(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32))
    mm = (t.capabilities.jit or (lambda fn: fn))(lambda a: a @ a)
    f, sync = (lambda: mm(a)), _waiter(t)
    sync(f())
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        sync(f())
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def _time_once(row: Row, calls: int = 1) -> float:
    """ms per call over ``calls`` back-to-back calls (synchronised after each)."""
    t0 = time.perf_counter()
    for _ in range(calls):
        row.sync(row.fn())
    return 1e3 * (time.perf_counter() - t0) / calls


def _calls_per_round(ms: float, min_round_ms: float) -> int:
    return max(1, min(100, math.ceil(min_round_ms / max(ms, 1e-3))))


def _against_peak(rows: list[dict], peaks: dict) -> list[dict]:
    """Set each row's ``peak_gflops`` and ``peak_fraction`` (GFLOP/s over its library's peak)."""
    for x in rows:
        peak = peaks.get(x["library"])
        x["peak_gflops"], x["peak_fraction"] = peak, (x["gflops"] / peak if peak else None)
    return rows


def run(*, cells, sizes, targets, repeat: int, warmup: int, dtype: str, anchors: bool, checkpoint: bool,
        settle: float = 0.2, min_round_ms: float = 20.0, rewarm_ms: float = 50.0, log=print) -> dict:
    skipped = []
    peaks = {}
    results = []
    for size in sizes:
        for cell in cells:
            rows: list[Row] = []
            for t in targets:
                rows += rnnx_rows(t, cell, size, dtype)
                if checkpoint and t.backend == "numpy":
                    rows += rnnx_rows(t, cell, size, dtype, checkpoint="sqrt")
            if anchors:
                for name, make, *device in (("torch", torch_rows), ("torch-cuda", torch_rows, "cuda"),
                                            ("jax", jax_rows)):
                    try:
                        rows += make(cell, size, dtype, *device)
                    except ImportError as e:
                        skipped.append(f"anchor {name}: not installed ({e})")
                    except backends.Unavailable as e:  # installed but not usable here, or missing
                        skipped.append(f"anchor {name}: unavailable ({e})")
            calls = {}
            for r in rows:  # warm-up (compiles JAX), first call timed as compile time
                t0 = time.perf_counter()
                r.sync(r.fn())
                if r.library == "jax":
                    r.compile_s = time.perf_counter() - t0
                for _ in range(max(0, warmup - 1)):
                    r.sync(r.fn())
                calls[id(r)] = _calls_per_round(_time_once(r), min_round_ms)
            last = None
            for _ in range(repeat):  # interleaved: one timing of every row per round
                for r in rows:
                    if r.library != last:
                        if settle > 0:  # let the last library's threads go idle
                            time.sleep(settle)
                        t0 = time.perf_counter()  # and wake this one's (cores idle 0.2 s run cold)
                        while True:
                            r.sync(r.fn())
                            if time.perf_counter() - t0 >= rewarm_ms / 1e3:
                                break
                    last = r.library
                    r.times.append(_time_once(r, calls[id(r)]))
            for lib in dict.fromkeys(r.library for r in rows):  # the best over the run: one slow moment
                time.sleep(settle)                             # on a shared machine must not lower it
                p = matmul_peak(lib)
                if p is not None:
                    peaks[lib] = max(peaks.get(lib, 0.0), p)
            def anchor_for(r: Row) -> Row | None:  # torch.nn on the same kind of device (CPU or cuDNN)
                gpu = any(g in r.name for g in ("cuda", "gpu", "cuDNN"))
                return next((a for a in rows if a.name.startswith("torch.nn") and a.backward == r.backward
                             and ("cuDNN" in a.name) == gpu), None)

            jax_anchor = {bw: next((r for r in rows if r.name.startswith("jax.grad") and r.backward == bw), None)
                          for bw in (True, False)}
            for r in rows:
                med = statistics.median(r.times)
                gf = flops(cell, *size, backward=r.backward) / (med / 1e3) / 1e9
                a = anchor_for(r)
                ja = jax_anchor[r.backward] if r.library == "jax" and r.kind == "rnnx" else None
                results.append({
                    "size": list(size), "cell": cell, "row": r.name, "kind": r.kind, "library": r.library,
                    "pass": "forward+backward" if r.backward else "forward",
                    "median_ms": med, "min_ms": min(r.times), "max_ms": max(r.times), "n": len(r.times),
                    "calls_per_round": calls[id(r)],
                    "vs_torch": med / statistics.median(a.times) if a else None,
                    "vs_jax_autodiff": med / statistics.median(ja.times) if ja else None,
                    "gflops": gf,
                    "compile_s": r.compile_s, **r.extra})
            block = [x for x in results if x["size"] == list(size) and x["cell"] == cell]
            log(format_rows(_against_peak(block, peaks)))  # the terminal: the best peak so far
    _against_peak(results, peaks)  # the JSON: against the best peak of the whole run
    from rnnx.backends import malloc

    return {"dtype": dtype, "repeat": repeat, "malloc": malloc.tune(), "settle_s": settle, "rewarm_ms": rewarm_ms,
            "min_round_ms": min_round_ms,
            "jax_projection": jax_projection(),
            "matmul_peak_gflops": peaks, "rows": results,
            "skipped": sorted(set(skipped))}


def format_rows(rows: list[dict]) -> str:
    if not rows:
        return ""
    B, T, I, H = rows[0]["size"]
    f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    lines = [f"\n{rows[0]['cell'].upper()}  (B, T, I, H) = ({B}, {T}, {I}, {H})",
             f"  {'row':<38}{'pass':<18}{'median ms':>10}{'min':>9}{'max':>9}{'x torch':>9}{'x jax-ad':>9}"
             f"{'GFLOP/s':>9}{'of peak':>8}{'compile s':>10}"]
    for r in rows:
        lines.append(f"  {r['row']:<38}{r['pass']:<18}{r['median_ms']:>10.2f}{r['min_ms']:>9.2f}{r['max_ms']:>9.2f}"
                     f"{f(r['vs_torch'], '.2f'):>9}{f(r['vs_jax_autodiff'], '.2f'):>9}{r['gflops']:>9.1f}"
                     f"{f(r['peak_fraction'], '.0%'):>8}{f(r['compile_s'], '.2f'):>10}")
        if "cache_bytes" in r:
            lines.append(f"  {'':<38}cache {r['cache_bytes'] / 1e6:.2f} MB vs {r['full_cache_bytes'] / 1e6:.2f} MB "
                         f"full ({r['cache_bytes'] / r['full_cache_bytes']:.1%})")
    return "\n".join(lines)


def plot(doc: dict, path: str) -> None:
    """Bar chart of rnnx/anchor ratios (forward+backward), one group per size and cell."""
    from rnnx.diagnostics import plots

    plt = plots.pyplot()

    rows = [r for r in doc["rows"] if r["kind"] == "rnnx" and r["pass"] == "forward+backward"]
    groups = sorted({(tuple(r["size"]), r["cell"]) for r in rows}, key=lambda g: (g[1], g[0]))
    names = sorted({r["row"] for r in rows})
    fig, ax = plt.subplots(figsize=(min(16, max(6, 0.9 * len(groups))), 5), layout="constrained")
    w = 0.8 / max(1, len(names))
    for j, n in enumerate(names):
        vals = []
        for g in groups:
            r = next((r for r in rows if (tuple(r["size"]), r["cell"]) == g and r["row"] == n), None)
            v = None if r is None else (r["vs_jax_autodiff"] if r["vs_jax_autodiff"] is not None else r["vs_torch"])
            vals.append(float("nan") if v is None else v)
        ax.bar([i + j * w for i in range(len(groups))], vals, width=w, label=n)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(groups))],
                  [f"{c}\n{s[0]},{s[1]},{s[2]},{s[3]}" for s, c in groups], fontsize=8)
    ax.set_ylabel("time / anchor (JAX: / jax.grad; others: / torch.nn)")
    ax.set_title(f"rnnx forward+backward vs the frameworks ({doc['dtype']}); below 1 is faster")
    ax.legend(fontsize=8)
    plots.save(plt, fig, path)


def main(*, cells: list[str], sizes: list[tuple[int, int, int, int]], backend: str | None, repeat: int, warmup: int,
         dtype: str, json_path: str | None, plot_path: str | None, anchors: bool, checkpoint: bool, settle: float = 0.2,
         min_round_ms: float = 20.0, rewarm_ms: float = 50.0) -> int:
    """Time ``cells`` at ``sizes`` (B, T, I, H), print the report, write ``json_path`` and
    ``plot_path``; the arguments are checked by ``rnnx bench`` (its parser, the outputs)."""
    targets = backends.selected(backend or "numpy,torch,jax,cupy")
    usable = []
    for t in targets:
        why = t.unavailable()
        if why:
            print(f"skipped: {t.id}: {why}")
        elif dtype in t.dtypes():
            usable.append(t)
    with contextlib.ExitStack() as scopes:  # each backend's precision scope (JAX float64, no TF32)
        anchors_too = [backends.Target(b, "cpu") for b in ("jax", "torch") if anchors]
        for t in dict.fromkeys(usable + [a for a in anchors_too if not a.unavailable()]):
            scopes.enter_context(t.scope())
        doc = run(cells=cells, sizes=sizes, targets=usable, repeat=repeat, warmup=warmup, dtype=dtype,
                  anchors=anchors, checkpoint=checkpoint, settle=settle, min_round_ms=min_round_ms,
                  rewarm_ms=rewarm_ms)
    peaks = ", ".join(f"{k} {v:.0f}" for k, v in doc["matmul_peak_gflops"].items() if v)
    print(f"\nmeasured float32 matmul peak (2048^3), GFLOP/s: {peaks}; {doc['malloc']}")
    for s in doc["skipped"]:
        print(f"skipped: {s}")
    if json_path:
        from rnnx.io.jsonfile import finite_or_null
        from rnnx.io.atomic import write_text

        write_text(json_path, json.dumps(finite_or_null(doc), indent=2) + "\n")
    if plot_path:
        plot(doc, plot_path)
    return 0

