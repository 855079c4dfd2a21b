"""``rnnx parity``: does an array library compute recurrent networks right?

For every available backend x device x dtype (and any array-API module named with
``--namespace``), runs RNN (tanh, relu), LSTM, GRU (both forms) forward + explicit BPTT
over a fixed battery of shapes and options, and compares every output and gradient with
the float64 NumPy reference (inputs rounded to the row's dtype) and with PyTorch's own
``nn.RNN/LSTM/GRU`` (float64, where torch is installed).  Errors are norm-wise relative,
``||a - b|| / ||b||``; a row fails when any of them breaches its tolerance.
(A tool module: imports NumPy, and torch when it is there.)
"""

from __future__ import annotations

import contextlib
import importlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

from rnnx import backends
from rnnx.layers import GRU, LSTM, RNN

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before")


@dataclass(frozen=True)
class Shape:
    T: int
    B: int | None  # None: unbatched
    I: int
    H: int
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    lengths: bool = False


#: The fixed battery: every option at least once, non-zero biases and initial states.
BATTERY = (
    Shape(7, 4, 5, 6, num_layers=2, bidirectional=True, lengths=True),
    Shape(12, 2, 3, 8, batch_first=True, bias=False),
    Shape(5, None, 3, 4, num_layers=2),
    Shape(1, 1, 1, 1, bidirectional=True),
    Shape(30, 3, 2, 5, lengths=True),
)


def make_layer(cell: str, s: Shape):
    kw = dict(num_layers=s.num_layers, bidirectional=s.bidirectional, batch_first=s.batch_first, bias=s.bias)
    if cell.startswith("rnn"):
        return RNN(s.I, s.H, nonlinearity=cell[4:], **kw)
    if cell == "lstm":
        return LSTM(s.I, s.H, **kw)
    return GRU(s.I, s.H, reset_after=cell == "gru", **kw)


def inputs(cell: str, s: Shape, seed: int) -> dict:
    """NumPy float64 inputs of one battery entry."""
    import numpy as np

    layer = make_layer(cell, s)
    rng = np.random.default_rng(seed)
    D = 2 if s.bidirectional else 1
    params = layer.init_params(np, seed=seed, dtype=np.float64)
    xs = (s.T, s.I) if s.B is None else ((s.B, s.T, s.I) if s.batch_first else (s.T, s.B, s.I))
    ss = (s.num_layers * D, s.H) if s.B is None else (s.num_layers * D, s.B, s.H)
    ys = xs[:-1] + (D * s.H,)
    n = 2 if cell == "lstm" else 1
    st = lambda: tuple(0.5 * rng.standard_normal(ss) for _ in range(n))  # noqa: E731
    lengths = None
    if s.lengths and s.B:
        lengths = np.asarray([s.T] + [int(v) for v in rng.integers(1, s.T + 1, s.B - 1)], dtype=np.int64)
    return {"layer": layer, "params": params, "x": rng.standard_normal(xs), "state0": st(), "lengths": lengths,
            "dy": rng.standard_normal(ys), "dstate": st()}


def run(layer, d: dict, convert, to_numpy) -> dict:
    """Forward + backward on converted inputs; every result as NumPy float64."""
    import numpy as np

    pack = lambda s: s if len(s) == 2 else s[0]  # noqa: E731
    params = {k: convert(v) for k, v in d["params"].items()}
    s0 = pack(tuple(convert(a) for a in d["state0"]))
    lengths = None if d["lengths"] is None else convert(d["lengths"], integer=True)
    y, state, cache = layer.forward(params, convert(d["x"]), s0, lengths=lengths)
    dp, dx, ds0 = layer.backward(params, cache, convert(d["dy"]), pack(tuple(convert(a) for a in d["dstate"])))
    out = {"y": y}
    for name, a in zip("hc", state if isinstance(state, tuple) else (state,)):
        out[f"{name}_n"] = a
    out.update({f"d{k}": v for k, v in dp.items()})
    out["dx"] = dx
    for name, a in zip("hc", ds0 if isinstance(ds0, tuple) else (ds0,)):
        out[f"d{name}0"] = a
    return {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in out.items()}


def torch_run(cell: str, s: Shape, d: dict) -> dict | None:
    """The same through ``torch.nn`` in float64 (None where torch has no such cell)."""
    try:
        import torch
    except ImportError:
        return None
    if cell == "gru_reset_before":
        return None
    nn = torch.nn
    kw = dict(num_layers=s.num_layers, bidirectional=s.bidirectional, batch_first=s.batch_first, bias=s.bias,
              dtype=torch.float64)
    mod = (nn.RNN(s.I, s.H, nonlinearity=cell[4:], **kw) if cell.startswith("rnn")
           else (nn.LSTM if cell == "lstm" else nn.GRU)(s.I, s.H, **kw))
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in d["params"].items()})
    t = lambda a: torch.tensor(a, requires_grad=True)  # noqa: E731
    x, s0 = t(d["x"]), tuple(t(a) for a in d["state0"])
    inp = x
    if d["lengths"] is not None:
        inp = nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(d["lengths"]), batch_first=s.batch_first,
                                                enforce_sorted=False)
    y, st = mod(inp, s0 if cell == "lstm" else s0[0])
    if d["lengths"] is not None:
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=s.batch_first, total_length=s.T)
    st = st if cell == "lstm" else (st,)
    loss = (y * torch.from_numpy(d["dy"])).sum() + sum((a * torch.from_numpy(g)).sum() for a, g in zip(st, d["dstate"]))
    loss.backward()
    out = {"y": y}
    out.update({f"{n}_n": a for n, a in zip("hc", st)})
    out.update({f"d{k}": p.grad for k, p in mod.named_parameters()})
    out["dx"] = x.grad
    out.update({f"d{n}0": a.grad for n, a in zip("hc", s0)})
    return {k: v.detach().numpy() for k, v in out.items()}


def rel_err(a, b) -> float:
    import numpy as np

    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / (nb if nb > 0 else 1.0))


def _errors(got: dict, want: dict) -> tuple[float, float]:
    out = max((rel_err(got[k], want[k]) for k in want if not k.startswith("d")), default=0.0)
    grad = max((rel_err(got[k], want[k]) for k in want if k.startswith("d")), default=0.0)
    return out, grad


# -- targets: the registry's, and any array-API module by name ---------------------------------------
@dataclass
class Runner:
    """How one row's arrays are made and read back."""

    id: str
    backend: str
    device: str
    dtypes: tuple[str, ...]
    tolerance: dict
    convert: Any
    to_numpy: Any
    sync: Any = None
    capabilities: dict = field(default_factory=dict)
    scope: Any = None  # float64 and full-precision matmuls while the row runs (backends' scope())


def registry_runner(t: backends.Target) -> Runner:
    xp, dev = t.namespace(), t.device_obj()

    def make(dtype):
        def convert(a, integer=False):
            return t.from_numpy(a if integer else a.astype(dtype))

        return convert

    return Runner(t.id, t.backend, t.device, t.dtypes(), {d: t.tolerance(d) for d in t.dtypes()}, make, t.to_numpy,
                  t.synchronize, scope=t.scope)


def generic_runners(spec: str) -> list[Runner]:
    """Any array-API module, ``module`` or ``module:device``: devices and dtypes come from its
    inspection API, arrays cross by DLPack (or ``asarray``)."""
    import numpy as np
    import array_api_compat as compat

    name, _, want_dev = spec.partition(":")
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        raise ValueError(f"--namespace: cannot import {name!r} ({e})") from None
    try:
        xp = compat.array_namespace(mod.asarray(0.0))
        info = xp.__array_namespace_info__()
    except Exception as e:
        raise ValueError(f"--namespace: {name!r} is not an array-API namespace ({type(e).__name__}: {e})") from None
    devices = list(info.devices())
    if want_dev:
        devices = [d for d in devices if str(d) == want_dev or repr(d) == want_dev or want_dev in str(d)]
        if not devices:
            raise ValueError(f"--namespace: {name!r} has no device {want_dev!r}; it has {list(info.devices())}")
    runners = []
    for dev in devices:
        floats = [k for k in ("float32", "float64") if k in info.dtypes(device=dev, kind="real floating")]
        caps = {"devices": [str(d) for d in info.devices()], "default_device": str(info.default_device()),
                "dtypes": floats, "default_float": str(info.default_dtypes(device=dev)["real floating"])}

        int_dtype = info.default_dtypes(device=dev)["integral"]

        def make(dtype, dev=dev, int_dtype=int_dtype):
            def convert(a, integer=False):
                if integer:
                    return xp.asarray(a, dtype=int_dtype, device=dev)
                return xp.asarray(a.astype(dtype), device=dev)

            return convert

        def to_numpy(a):
            try:
                return np.from_dlpack(a)
            except Exception:
                cpu = info.default_device()
                try:
                    return np.asarray(a.to_device(cpu))
                except Exception:
                    return np.asarray(a)

        from rnnx.backends._base import TOLERANCE

        label = re.sub(r"^.*Device\('(.*)'\)$", r"\1", str(dev)).replace(" ", "")
        runners.append(Runner(f"{name}-{label}", name, label, tuple(floats),
                              {d: TOLERANCE[d] for d in floats}, make, to_numpy, None, caps))
    return runners


# -- the report -----------------------------------------------------------------------------------------------
def run_parity(runners: list[Runner], *, cells=CELLS, battery=BATTERY, with_torch: bool = True) -> list[dict]:
    """One row per runner x dtype x cell."""
    import numpy as np

    refs: dict = {}
    rows = []
    for r in runners:
        for dtype in r.dtypes:
            for cell in cells:
                t0 = time.perf_counter()
                e_out = e_grad = t_out = t_grad = 0.0
                torch_cmp, error = False, None
                try:
                    with r.scope() if r.scope else contextlib.nullcontext():
                        e_out, e_grad, t_out, t_grad, torch_cmp = _row(r, dtype, cell, battery, refs, with_torch)
                except Exception as e:  # a library that cannot run a case fails its row, with the reason
                    error = f"{type(e).__name__}: {e}"
                if r.sync:
                    r.sync()
                tol = r.tolerance[dtype]
                ok = error is None and e_out <= tol["out"] and e_grad <= tol["grad"] and (
                    not torch_cmp or (t_out <= tol["out"] and t_grad <= tol["grad"]))
                rows.append({"target": r.id, "backend": r.backend, "device": r.device, "dtype": dtype, "cell": cell,
                             "cases": len(battery), "ref_out_err": e_out, "ref_grad_err": e_grad,
                             "torch_out_err": t_out if torch_cmp else None,
                             "torch_grad_err": t_grad if torch_cmp else None,
                             "tol_out": tol["out"], "tol_grad": tol["grad"], "pass": ok, "error": error,
                             "ms": 1e3 * (time.perf_counter() - t0)})
    return rows


def _row(r: Runner, dtype: str, cell: str, battery, refs: dict, with_torch: bool):
    """Worst errors of one runner/dtype/cell over the battery."""
    import numpy as np

    e_out = e_grad = t_out = t_grad = 0.0
    torch_cmp = False
    for i, s in enumerate(battery):
        key = (cell, i)
        if key not in refs:
            d = inputs(cell, s, seed=100 + i)
            refs[key] = (d, {}, torch_run(cell, s, d) if with_torch else None)
        d, by_dtype, tref = refs[key]
        if dtype not in by_dtype:  # the reference on inputs rounded to this dtype
            up = lambda a, integer=False: a if integer else a.astype(dtype).astype(np.float64)  # noqa: E731
            by_dtype[dtype] = run(d["layer"], d, up, np.asarray)
        got = run(d["layer"], d, r.convert(dtype), r.to_numpy)
        o, g = _errors(got, by_dtype[dtype])
        e_out, e_grad = max(e_out, o), max(e_grad, g)
        if tref is not None and dtype == "float64":
            o, g = _errors(got, {k: tref[k] for k in got})
            t_out, t_grad, torch_cmp = max(t_out, o), max(t_grad, g), True
    return e_out, e_grad, t_out, t_grad, torch_cmp


def format_table(rows: list[dict]) -> str:
    f = lambda v: "-" if v is None else f"{v:.2e}"  # noqa: E731
    w = max([26] + [len(r["target"]) + 2 for r in rows])
    head = (f"{'target':<{w}}{'dtype':<9}{'cell':<18}{'out err':>10}{'grad err':>10}{'torch out':>11}"
            f"{'torch grad':>11}{'tol out/grad':>16}{'':>6}{'ms':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['target']:<{w}}{r['dtype']:<9}{r['cell']:<18}{f(r['ref_out_err']):>10}"
                     f"{f(r['ref_grad_err']):>10}{f(r['torch_out_err']):>11}{f(r['torch_grad_err']):>11}"
                     f"{r['tol_out']:>8.0e}/{r['tol_grad']:<7.0e}{'pass' if r['pass'] else 'FAIL':>6}{r['ms']:>9.1f}")
    return "\n".join(lines)


def main(*, backend: str | None, namespaces: list[str], json_path: str | None, cells=CELLS) -> int:
    import json
    import platform

    runners, absent = [], []
    targets = backends.selected(backend) if (backend or not namespaces) else []
    for t in targets:
        why = t.unavailable()
        if why:
            absent.append({"target": t.id, "reason": why})
        else:
            runners.append(registry_runner(t))
    for spec in namespaces:
        runners += generic_runners(spec)
    rows = run_parity(runners, cells=cells)
    print(format_table(rows))
    for a in absent:
        print(f"absent: {a['target']}: {a['reason']}")
    for r in runners:
        if r.capabilities:
            print(f"found: {r.id}: float dtypes {r.capabilities['dtypes']} (default {r.capabilities['default_float']}); "
                  f"the library's devices: {', '.join(r.capabilities['devices'])}")
    failed = [r for r in rows if not r["pass"]]
    print(f"\nparity rows: {len(rows) - len(failed)} within tolerance, {len(failed)} breached")
    for r in failed:
        why = r["error"] or (f"out {r['ref_out_err']:.2e} grad {r['ref_grad_err']:.2e}, torch out "
                             f"{r['torch_out_err']} grad {r['torch_grad_err']} (tolerance {r['tol_out']:.0e} / "
                             f"{r['tol_grad']:.0e})")
        print(f"FAIL: {r['target']} {r['dtype']} {r['cell']}: {why}")
    if json_path:
        import rnnx
        from rnnx.cli.app import _finite_or_null, _write_text

        doc = {"rnnx": rnnx.__version__, "python": platform.python_version(), "battery": [vars(s) for s in BATTERY],
               "rows": rows, "absent": absent,
               "generic": [{"target": r.id, **r.capabilities} for r in runners if r.capabilities],
               "passed": len(rows) - len(failed), "failed": len(failed)}
        _write_text(json_path, json.dumps(_finite_or_null(doc), indent=2) + "\n")
    return 1 if failed else 0
