"""The test matrix as data: cell x options cases, their NumPy inputs, and the float64
NumPy reference every backend is compared with."""

from __future__ import annotations

import functools
import json
import os
import zlib
import itertools
from dataclasses import dataclass, fields

import numpy as np

import rnnx

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before")
T, B, I, H = 4, 3, 2, 3
LENGTHS = (4, 1, 3)  # the full length, the shortest possible, one in between


@dataclass(frozen=True)
class Case:
    cell: str
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    state0: bool = True  # given (non-zero) initial state, or None (zeros)
    lengths: bool = False  # variable-length batch

    @property
    def id(self) -> str:
        flags = [f"L{self.num_layers}", "bi" if self.bidirectional else "uni"]
        flags += ["bf"] if self.batch_first else []
        flags += [] if self.bias else ["nobias"]
        flags += ["h0"] if self.state0 else ["zeroh0"]
        flags += ["len"] if self.lengths else []
        return "-".join([self.cell] + flags)

    def layer(self):
        kw = {f.name: getattr(self, f.name) for f in fields(self)
              if f.name in ("num_layers", "bidirectional", "batch_first", "bias")}
        if self.cell.startswith("rnn"):
            return rnnx.RNN(I, H, nonlinearity=self.cell[4:], **kw)
        if self.cell == "gru_reset_before":
            return rnnx.GRU(I, H, reset_after=False, **kw)
        return {"lstm": rnnx.LSTM, "gru": rnnx.GRU}[self.cell](I, H, **kw)

    @property
    def state_size(self) -> int:
        return 2 if self.cell == "lstm" else 1


def all_cases() -> list[Case]:
    opts = list(itertools.product((1, 2), (False, True), (False, True), (False, True), (True, False), (False, True)))
    return [Case(c, *o) for c in CELLS for o in opts]


@dataclass
class Data:
    """NumPy inputs of one case, already rounded to the dtype under test."""

    params: dict
    x: np.ndarray
    state0: object  # array, (h, c) tuple, or None
    lengths: np.ndarray | None
    dy: np.ndarray
    dstate: object


def _state(arrs, size):
    return tuple(arrs) if size == 2 else arrs[0]


@functools.lru_cache(maxsize=None)
def data(case: Case, dtype: str = "float64") -> Data:
    """Seeded inputs; non-zero biases (PyTorch's init) and, when given, non-zero h0/c0."""
    layer = case.layer()
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    params = {k: v.astype(dtype) for k, v in layer.init_params(np, seed=7, dtype=np.float64).items()}
    D = 2 if case.bidirectional else 1
    x = rng.standard_normal((B, T, I) if case.batch_first else (T, B, I)).astype(dtype)
    sshape = (case.num_layers * D, B, H)
    s0 = [rng.standard_normal(sshape).astype(dtype) for _ in range(case.state_size)]
    lengths = np.asarray(LENGTHS, dtype=np.int64) if case.lengths else None
    yshape = (B, T, D * H) if case.batch_first else (T, B, D * H)
    dy = rng.standard_normal(yshape).astype(dtype)
    ds = [rng.standard_normal(sshape).astype(dtype) for _ in range(case.state_size)]
    return Data(params, x, _state(s0, case.state_size) if case.state0 else None, lengths, dy,
                _state(ds, case.state_size))


def flatten(case: Case, y, state, dparams, dx, dstate0, to_numpy=np.asarray) -> dict[str, np.ndarray]:
    """Every output and gradient of one run, as named NumPy arrays."""
    out = _named(case, y, state, dparams, dx, dstate0)
    return {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in out.items()}


def _named(case: Case, y, state, dparams, dx, dstate0) -> dict:
    out = {"y": y}
    names = ("h", "c")[: case.state_size]
    st = state if case.state_size == 2 else (state,)
    ds = dstate0 if case.state_size == 2 else (dstate0,)
    out.update({f"{n}_n": s for n, s in zip(names, st)})
    out.update({f"d{k}": v for k, v in dparams.items()})
    out["dx"] = dx
    out.update({f"d{n}0": s for n, s in zip(names, ds)})
    return out


def run_rnnx(case: Case, d: Data, convert=lambda a: a, to_numpy=np.asarray, check=None):
    """Forward + backward of rnnx on the arrays ``convert`` makes of ``d``; ``check(name,
    array)`` sees every result before it is turned into NumPy."""
    layer = case.layer()
    conv = lambda s: None if s is None else (tuple(convert(a) for a in s) if isinstance(s, tuple) else convert(s))  # noqa: E731
    params = {k: convert(v) for k, v in d.params.items()}
    y, state, cache = layer.forward(params, convert(d.x), conv(d.state0), lengths=conv(d.lengths))
    dparams, dx, dstate0 = layer.backward(params, cache, convert(d.dy), conv(d.dstate))
    if check is not None:
        for name, a in _named(case, y, state, dparams, dx, dstate0).items():
            check(name, a)
    return flatten(case, y, state, dparams, dx, dstate0, to_numpy)


@functools.lru_cache(maxsize=None)
def reference(case: Case, dtype: str = "float64") -> dict[str, np.ndarray]:
    """NumPy float64 results on the inputs rounded to ``dtype``."""
    d = data(case, dtype)
    up = lambda a: np.asarray(a, dtype=np.float64) if a.dtype.kind == "f" else a  # noqa: E731
    return run_rnnx(case, d, convert=up)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """Norm-wise relative error ||a - b|| / ||b|| (absolute when b is zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (nb if nb > 0 else 1.0))


def assert_close(got: dict, want: dict, *, out_tol: float, grad_tol: float, what: str = "") -> None:
    """Compare every named array; the message lists each breach with its error."""
    assert got.keys() == want.keys()
    bad = []
    log = os.environ.get("RNNX_ERR_LOG")  # a JSON line per comparison: README's "worst measured"
    for k in want:
        tol = grad_tol if k.startswith("d") else out_tol
        e = rel_err(got[k], want[k])
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"what": what, "array": k, "err": e, "tol": tol}) + "\n")
        if not e <= tol:
            bad.append(f"{k}: {e:.3e} > {tol:.0e}")
    assert not bad, f"{what}: " + "; ".join(bad)
