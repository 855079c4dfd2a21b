"""The test harness as a library, shared by the test suite and ``rnnx parity``.

Two sets of cases, one way of running them:

* the **matrix** (:class:`Case`, :func:`all_cases`): every cell x every option at a small
  fixed size (T, B, I, H), the cases the backend, finite-difference, jax and torch tests run;
* the **battery** (:class:`Shape`, :data:`BATTERY`): a few shapes of different sizes that
  ``rnnx parity`` runs on every target, and the property tests draw at random.

For both: seeded NumPy inputs with non-zero biases and initial states, forward + explicit
BPTT on arrays any ``convert`` makes (:func:`run_rnnx`, :func:`run`), every output and
gradient read back as named NumPy float64 arrays, the float64 NumPy reference, torch.nn's own
results (:func:`torch_run`), and the error measure (:func:`rel_err`, :func:`assert_close`).

A tool module like the CLI: it imports NumPy (torch lazily, where it is installed); the maths
modules never import it.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import zlib
from dataclasses import dataclass, fields
from typing import Callable

import rnnx
from rnnx.cells import CELLS as SPECS
from rnnx.cells import CellSpec


class _Lazy:
    """NumPy, imported on its first use: a tool module imports array libraries lazily, as
    tests/test_package.py requires (``import rnnx.testing.harness`` costs no NumPy import)."""

    def __getattr__(self, name: str):
        import numpy

        return getattr(numpy, name)


np = _Lazy()

__all__ = ["CELLS", "T", "B", "I", "H", "LENGTHS", "Case", "all_cases", "Data", "data", "flatten", "run_rnnx",
           "reference", "rel_err", "assert_close", "Shape", "BATTERY", "inputs", "run", "torch_run", "make_layer",
           "state_size", "torch_module", "finite_differences", "VARIANTS", "variant", "applies", "CLASSIC_CELLS", "FULL_CELLS", "REDUCED",
           "classic_cases",
           "hidden_state_cases"]

#: Every cell variant the harness runs, by id, as (cell spec, its options): the registry's
#: :attr:`~rnnx.cells.spec.CellSpec.variants`, in registry order.
VARIANTS: dict[str, tuple[CellSpec, dict]] = {
    vid: (spec, dict(opts)) for spec in SPECS.values() for vid, opts in spec.variants.items()}
#: The variant ids (``rnn_tanh``, ``lstm_proj``, ``gru_reset_before``, ...).
CELLS = tuple(VARIANTS)

#: Layer options every case sets (the rest of a layer's configuration is the cell's).
LAYER_OPTIONS = ("num_layers", "bidirectional", "batch_first", "bias")


# -- cells ----------------------------------------------------------------------------------------------
def variant(cell: str) -> tuple[CellSpec, dict]:
    """The spec and options of variant ``cell`` (one of :data:`CELLS`)."""
    try:
        spec, opts = VARIANTS[cell]
    except KeyError:
        raise ValueError(f"cell: unknown variant {cell!r}; expected one of {', '.join(CELLS)}") from None
    return spec, dict(opts)


def make_layer(cell: str, input_size: int, hidden_size: int, **layer_options):
    """The rnnx layer of variant ``cell``, through the one factory :func:`rnnx.layer`."""
    spec, opts = variant(cell)
    return rnnx.layer(spec.name, input_size, hidden_size, **layer_options, **opts)


def state_size(cell: str) -> int:
    """The number of state components: 2 for ``(h, c)``, 1 for ``h``."""
    return len(variant(cell)[0].state)


def applies(cell: str, hidden_size: int) -> bool:
    """Whether variant ``cell`` is valid at this hidden size (``proj_size`` must be below it)."""
    spec, opts = variant(cell)
    try:
        spec.resolve(hidden_size, opts)
    except (ValueError, TypeError):
        return False
    return True


def _sizes(layer) -> tuple[int, tuple[int, ...]]:
    """The size of h per direction (the output), and of each state component."""
    return layer.output_size, tuple(layer.spec.state_sizes(layer.options, layer.hidden_size))


def torch_module(cell: str, input_size: int, hidden_size: int, **layer_options):
    """The float64 ``torch.nn`` module computing ``cell``:
    ``getattr(torch.nn, spec.torch)(..., **spec.torch_kwargs(options))``, or None where
    torch has no such module, ``torch_kwargs`` says torch cannot compute these options, or
    torch is not installed."""
    spec, opts = variant(cell)
    kw = None if spec.torch is None else spec.torch_kwargs(spec.resolve(hidden_size, opts))
    if kw is None:
        return None
    try:
        import torch
    except ImportError:
        return None
    return getattr(torch.nn, spec.torch)(input_size, hidden_size, **layer_options, **kw, dtype=torch.float64)


# -- the error measure ----------------------------------------------------------------------------------
def finite_differences(f: Callable[[], float], a: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of the scalar ``f()`` with respect to every element of ``a``
    (perturbed in place and restored), and the mask of the elements where f has a kink
    (the one-sided differences disagree: ReLU at 0)."""
    g = np.empty_like(a)
    kink = np.zeros(a.shape, dtype=bool)
    f0 = f()
    for idx in np.ndindex(a.shape):
        orig = a[idx]
        a[idx] = orig + eps
        up = f()
        a[idx] = orig - eps
        down = f()
        a[idx] = orig
        g[idx] = (up - down) / (2 * eps)
        kink[idx] = abs((up - f0) - (f0 - down)) / eps > 1e-3 * (1.0 + abs(g[idx]))
    return g, kink


def rel_err(a, b) -> float:
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


# -- running one case -----------------------------------------------------------------------------------
def _named(y, state, dparams: dict, dx, dstate0) -> dict:
    """Every result of one forward + backward by name: y, h_n[, c_n], d<param>..., dx, dh0[, dc0]."""
    st = state if isinstance(state, tuple) else (state,)
    ds = dstate0 if isinstance(dstate0, tuple) else (dstate0,)
    out = {"y": y}
    out.update({f"{n}_n": s for n, s in zip("hc", st)})
    out.update({f"d{k}": v for k, v in dparams.items()})
    out["dx"] = dx
    out.update({f"d{n}0": s for n, s in zip("hc", ds)})
    return out


def _as_numpy(named: dict, to_numpy: Callable | None) -> dict[str, np.ndarray]:
    """Every named array as NumPy float64 (``to_numpy``: the backend's read-back; None: asarray)."""
    to_numpy = np.asarray if to_numpy is None else to_numpy
    return {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in named.items()}


def _forward_backward(layer, params, x, state0, lengths, dy, dstate, check=None) -> dict:
    y, state, cache = layer.forward(params, x, state0, lengths=lengths)
    dparams, dx, dstate0 = layer.backward(params, cache, dy, dstate)
    named = _named(y, state, dparams, dx, dstate0)
    if check is not None:
        for name, a in named.items():
            check(name, a)
    return named


# -- the matrix: every cell x every option at one small size ---------------------------------------------
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

    def layer_options(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in LAYER_OPTIONS}

    def layer(self):
        return make_layer(self.cell, I, H, **self.layer_options())

    @property
    def state_size(self) -> int:
        return state_size(self.cell)


#: The five variant ids rnnx had before the cell registry: what test bodies that build
#: torch modules, zero states or kink rules from a cell's *name* know how to run.
CLASSIC_CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before")
#: The variants that run every option combination (64); the others run :data:`REDUCED`.
FULL_CELLS = CLASSIC_CELLS + ("lstm_proj",)
#: (num_layers, bidirectional, batch_first, bias, state0, lengths): 8 combinations in which
#: every option takes both values, several together (two layers, both directions, lengths).
REDUCED = ((2, True, False, True, True, True), (1, False, True, False, False, False),
           (2, False, False, True, True, False), (1, True, True, True, True, True),
           (2, True, True, False, False, True), (1, False, False, True, True, True),
           (2, False, True, True, False, True), (1, True, False, True, True, False))
_ALL = tuple(itertools.product((1, 2), (False, True), (False, True), (False, True), (True, False), (False, True)))


def all_cases(cells: tuple[str, ...] = CELLS) -> list[Case]:
    """The cases of the variants in ``cells`` (default: all of the registry's): every option
    combination (64) of the :data:`FULL_CELLS`, the 8 :data:`REDUCED` ones of the others
    (the suite stays within CI's minutes: 19 variants x 64 x 4 backends x 2 dtypes would be
    ~9,700 matrix rows)."""
    return [Case(c, *o) for c in cells for o in (_ALL if c in FULL_CELLS else REDUCED)]


def classic_cases() -> list[Case]:
    """:func:`all_cases` of :data:`CLASSIC_CELLS` (the test ids of before the registry)."""
    return all_cases(CLASSIC_CELLS)


def hidden_state_cases() -> list[Case]:
    """:func:`all_cases` of the variants whose every state component has ``hidden_size``
    (not ``lstm_proj``'s P-sized h): for test bodies that make zero states of size H."""
    return all_cases(tuple(c for c in CELLS if all(n == H for n in _sizes(make_layer(c, I, H))[1])))


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
    out_size, sizes = _sizes(layer)
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    params = {k: v.astype(dtype) for k, v in layer.init_params(np, seed=7, dtype=np.float64).items()}
    D = 2 if case.bidirectional else 1
    x = rng.standard_normal((B, T, I) if case.batch_first else (T, B, I)).astype(dtype)
    s0 = [rng.standard_normal((case.num_layers * D, B, n)).astype(dtype) for n in sizes]
    lengths = np.asarray(LENGTHS, dtype=np.int64) if case.lengths else None
    yshape = (B, T, D * out_size) if case.batch_first else (T, B, D * out_size)
    dy = rng.standard_normal(yshape).astype(dtype)
    ds = [rng.standard_normal((case.num_layers * D, B, n)).astype(dtype) for n in sizes]
    return Data(params, x, _state(s0, case.state_size) if case.state0 else None, lengths, dy,
                _state(ds, case.state_size))


def flatten(case: Case, y, state, dparams, dx, dstate0, to_numpy=None) -> dict[str, np.ndarray]:
    """Every output and gradient of one run, as named NumPy arrays."""
    return _as_numpy(_named(y, state, dparams, dx, dstate0), to_numpy)


def run_rnnx(case: Case, d: Data, convert=lambda a: a, to_numpy=None, check=None):
    """Forward + backward of rnnx on the arrays ``convert`` makes of ``d``; ``check(name,
    array)`` sees every result before it is turned into NumPy."""
    conv = lambda s: None if s is None else (tuple(convert(a) for a in s) if isinstance(s, tuple) else convert(s))  # noqa: E731
    params = {k: convert(v) for k, v in d.params.items()}
    named = _forward_backward(case.layer(), params, convert(d.x), conv(d.state0), conv(d.lengths), convert(d.dy),
                              conv(d.dstate), check)
    return _as_numpy(named, to_numpy)


@functools.lru_cache(maxsize=None)
def reference(case: Case, dtype: str = "float64") -> dict[str, np.ndarray]:
    """NumPy float64 results on the inputs rounded to ``dtype``."""
    d = data(case, dtype)
    up = lambda a: np.asarray(a, dtype=np.float64) if a.dtype.kind == "f" else a  # noqa: E731
    return run_rnnx(case, d, convert=up)


# -- the battery: a few shapes of different sizes -------------------------------------------------------
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

    def layer_options(self) -> dict:
        return {k: getattr(self, k) for k in LAYER_OPTIONS}


#: The fixed battery of ``rnnx parity``: every option at least once, non-zero biases and
#: initial states (a variant runs on the entries it :func:`applies` to).
BATTERY = (
    Shape(7, 4, 5, 6, num_layers=2, bidirectional=True, lengths=True),
    Shape(12, 2, 3, 8, batch_first=True, bias=False),
    Shape(5, None, 3, 4, num_layers=2),
    Shape(1, 1, 1, 1, bidirectional=True),
    Shape(30, 3, 2, 5, lengths=True),
)


def inputs(cell: str, s: Shape, seed: int) -> dict:
    """NumPy float64 inputs of one battery entry (the layer included): ``state0`` and
    ``dstate`` are tuples of one or two arrays.  ``ValueError`` where the variant does not
    apply at this size (:func:`applies`)."""
    layer = make_layer(cell, s.I, s.H, **s.layer_options())
    out_size, sizes = _sizes(layer)
    rng = np.random.default_rng(seed)
    D = 2 if s.bidirectional else 1
    params = layer.init_params(np, seed=seed, dtype=np.float64)
    xs = (s.T, s.I) if s.B is None else ((s.B, s.T, s.I) if s.batch_first else (s.T, s.B, s.I))
    ss = lambda n: (s.num_layers * D, n) if s.B is None else (s.num_layers * D, s.B, n)  # noqa: E731
    ys = xs[:-1] + (D * out_size,)
    st = lambda: tuple(0.5 * rng.standard_normal(ss(n)) for n in sizes)  # noqa: E731
    lengths = None
    if s.lengths and s.B:
        lengths = np.asarray([s.T] + [int(v) for v in rng.integers(1, s.T + 1, s.B - 1)], dtype=np.int64)
    return {"layer": layer, "params": params, "x": rng.standard_normal(xs), "state0": st(), "lengths": lengths,
            "dy": rng.standard_normal(ys), "dstate": st()}


def run(layer, d: dict, convert, to_numpy) -> dict:
    """Forward + backward of ``layer`` on the arrays ``convert(a, integer=False)`` makes of
    the :func:`inputs` ``d``; every result as NumPy float64 through ``to_numpy``."""
    pack = lambda s: s if len(s) == 2 else s[0]  # noqa: E731
    params = {k: convert(v) for k, v in d["params"].items()}
    lengths = None if d["lengths"] is None else convert(d["lengths"], integer=True)
    named = _forward_backward(layer, params, convert(d["x"]), pack(tuple(convert(a) for a in d["state0"])), lengths,
                              convert(d["dy"]), pack(tuple(convert(a) for a in d["dstate"])))
    return _as_numpy(named, to_numpy)


def torch_run(cell: str, s: Shape, d: dict) -> dict | None:
    """The same through ``torch.nn`` in float64 (:func:`torch_module`), gradients by autograd
    of <y, dy> + <state, dstate>; None where torch cannot compute the variant."""
    mod = torch_module(cell, s.I, s.H, **s.layer_options())
    if mod is None:
        return None
    import torch

    nn = torch.nn
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in d["params"].items()})
    t = lambda a: torch.tensor(a, requires_grad=True)  # noqa: E731
    x, s0 = t(d["x"]), tuple(t(a) for a in d["state0"])
    inp = x
    if d["lengths"] is not None:
        inp = nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(d["lengths"]), batch_first=s.batch_first,
                                                enforce_sorted=False)
    y, st = mod(inp, s0 if len(s0) == 2 else s0[0])
    if d["lengths"] is not None:
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=s.batch_first, total_length=s.T)
    st = st if isinstance(st, tuple) else (st,)
    loss = (y * torch.from_numpy(d["dy"])).sum() + sum((a * torch.from_numpy(g)).sum() for a, g in zip(st, d["dstate"]))
    loss.backward()
    named = _named(y, st, {k: p.grad for k, p in mod.named_parameters()}, x.grad, tuple(a.grad for a in s0))
    return {k: v.detach().numpy() for k, v in named.items()}
